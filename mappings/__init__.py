"""Declarative YAML mappings (the defaults ship in this package) and their loader."""

from __future__ import annotations
