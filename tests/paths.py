"""Where the tests find the repository's own files, from any test folder."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
EXAMPLES = ROOT / "examples"
MAPPINGS = ROOT / "mappings"
