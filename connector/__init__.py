"""healthsync connector: CLI, settings, sources, sync engine and destinations."""

from __future__ import annotations

__version__ = "0.1.0"
