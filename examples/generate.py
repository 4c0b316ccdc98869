"""Rewrite examples/data/{accounts,users,events}.csv (the same bytes `healthsync init` writes into data/)."""

from __future__ import annotations

from pathlib import Path

from healthsync.connector.templates.example import example_data

OUT = Path(__file__).resolve().parent / "data"

if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    for name, content in example_data().items():
        (OUT / name).write_bytes(content)
        print(f"wrote {OUT / name}")
