"""Golden outputs: what the product wrote when the frozen row-by-row code it replaced (`tests/*/before/`, deleted
by issue 22) still ran beside it in the tests. Each golden is kept in `tests/data/golden/<group>.json` as the SHA-256
of a canonical text of the output and the text's first characters (to read a difference by): the outputs
themselves (the benchmark-sized tables are 100 MB) would not belong in the repository.

The canonical text of bytes is the bytes; of a frame or series, the dtypes, the index and every value by `repr`
(exact: floats round-trip, NA and NaN differ); of a Parquet file, its Arrow schema without metadata and its rows
in Arrow's stream format (so a pyarrow release that writes other Parquet bytes for the same table does not fail the
test).

A change meant to alter an output rewrites the goldens with `HEALTHSYNC_UPDATE_GOLDEN=1 pytest <tests>`; the
diff then shows which outputs moved, and the reviewer decides.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from tests.paths import DATA

GOLDEN = DATA / "golden"
EXCERPT = 300
UPDATE = os.environ.get("HEALTHSYNC_UPDATE_GOLDEN") == "1"


def canonical(value: Any) -> bytes:
    """The canonical text of an output (see the module docstring)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, pd.Series):
        return canonical(value.to_frame(name=str(value.name)))
    if isinstance(value, pd.DataFrame):
        parts = [
            repr([(str(name), str(dtype)) for name, dtype in value.dtypes.items()]),
            repr(value.index.tolist()),
            *(repr(row) for row in value.astype(object).itertuples(index=False, name=None)),
        ]
        return "\n".join(parts).encode()
    if isinstance(value, Path) and value.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pq.read_table(value).replace_schema_metadata(None).combine_chunks()
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as stream:  # Arrow's own format: the same rows, the same bytes
            stream.write_table(table)
        return (table.schema.to_string() + "\n").encode() + sink.getvalue().to_pybytes()
    raise TypeError(f"no canonical text for {type(value).__name__}")


def _file(group: str) -> Path:
    return GOLDEN / f"{group}.json"


def _load(group: str) -> dict[str, dict[str, str]]:
    path = _file(group)
    return json.loads(path.read_text()) if path.exists() else {}


def check(group: str, name: str, value: Any) -> None:
    """Assert that output `name` of `group` equals its golden (or record it, with HEALTHSYNC_UPDATE_GOLDEN=1)."""
    text = canonical(value)
    found = {"sha256": hashlib.sha256(text).hexdigest(), "excerpt": text[:EXCERPT].decode(errors="replace")}
    goldens = _load(group)
    if UPDATE:
        goldens[name] = found
        GOLDEN.mkdir(parents=True, exist_ok=True)
        _file(group).write_text(json.dumps(dict(sorted(goldens.items())), indent=1, ensure_ascii=False) + "\n")
        return
    assert name in goldens, f"no golden {group}/{name}: record it with HEALTHSYNC_UPDATE_GOLDEN=1"
    expected = goldens[name]
    assert found["sha256"] == expected["sha256"], (
        f"{group}/{name} differs from its golden\n  golden starts: {expected['excerpt']!r}\n"
        f"  now starts:    {found['excerpt']!r}"
    )
