"""Score tables out: the column-wise conversion gives what the per-value rule gives, for every kind of column."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from healthsync.connector.output import write_frame
from healthsync.connector.records import json_text, plain, to_records

STAMPS = ["2025-01-01T00:00:00Z", "2025-01-01T00:00:00.5Z", None, "1969-12-31T23:59:59.000001Z"]
UTC = pd.Series(pd.to_datetime(STAMPS, utc=True, format="ISO8601"))
NANOS = pd.Series(pd.to_datetime(["2025-01-01T00:00:00.000000001Z", "2025-01-01T00:00:00.001Z"], format="ISO8601"))
COLUMNS: dict[str, pd.Series] = {
    "utc_us": UTC,
    "utc_ns": UTC.astype("datetime64[ns, UTC]"),
    "utc_s": UTC.astype("datetime64[s, UTC]"),
    "utc_ms": UTC.astype("datetime64[ms, UTC]"),
    "naive": UTC.dt.tz_localize(None),
    "paris": UTC.dt.tz_convert("Europe/Paris"),
    "nanos": pd.concat([NANOS, NANOS]).reset_index(drop=True).astype("datetime64[ns, UTC]"),
    "int": pd.Series([1, 2, 3, 4]),
    "nullable_int": pd.Series([1, None, 3, None], dtype="Int64"),
    "float": pd.Series([1.5, np.nan, np.inf, -0.0]),
    "nullable_float": pd.Series([1.5, None, 2.0, 3.0], dtype="Float64"),
    "text": pd.Series(["a", None, "é", ""], dtype="str"),
    "mixed": pd.Series(["a", None, 3, np.float64(2.5)], dtype=object),
    "bool": pd.Series([True, False, True, False]),
    "nullable_bool": pd.Series([True, None, False, None], dtype="boolean"),
    "nested": pd.Series([["x"], {"p": ["a", "b"]}, [], {}], dtype=object),
    "empty_objects": pd.Series([np.nan, None, pd.NA, pd.NaT], dtype=object),
}


def _by_value(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {str(column): plain(value) for column, value in zip(frame.columns, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]


@pytest.mark.parametrize("name", list(COLUMNS))
def test_column_wise_records_equal_the_per_value_rule(name: str) -> None:
    frame = pd.DataFrame({name: COLUMNS[name]})
    records = to_records(frame)
    assert records == _by_value(frame)
    assert json.dumps(records) == json.dumps(_by_value(frame))


def test_json_is_an_array_of_one_object_per_line(tmp_path: Path) -> None:
    frame = pd.DataFrame(COLUMNS)
    write_frame(frame, "json", tmp_path / "out.json")
    text = (tmp_path / "out.json").read_text()
    assert json.loads(text) == _by_value(frame)
    assert len(text.splitlines()) == len(frame) + 2
    assert json_text(frame.iloc[:0]) == "[]\n"
