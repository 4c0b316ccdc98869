"""Score tables as plain Python values, converted column by column (JSON, CSV, the destinations' records).

A value becomes what :func:`plain` makes of it: missing values (None, NaN, NA, NaT, infinities) None, instants ISO
8601 text as `Timestamp.isoformat()` writes it with UTC as `Z`, numpy scalars Python numbers. :func:`plain_column`
gives the same for a whole column at once by its type; only columns of other objects (lists, dicts) go value by
value.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd


def plain(value: Any) -> Any:
    """A JSON-ready Python value: NaN/NA -> None, timestamps -> ISO 8601 UTC with Z, dates -> ISO 8601, numpy and
    decimals -> int/float (the score tables' values and the rejected rows' samples alike)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp | datetime):
        text = value.isoformat()
        return text.replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


def to_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain dictionaries, in column order (values as :func:`_plain` makes them, converted per column)."""
    columns = [str(name) for name in frame.columns]
    values = [plain_column(frame.iloc[:, position]) for position in range(frame.shape[1])]
    return [dict(zip(columns, row, strict=True)) for row in zip(*values, strict=True)] if columns else []


def rows_by_key(frame: pd.DataFrame, key: str, columns: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
    """Score table rows as plain dictionaries keyed by `key`; with `columns`, only those (and `key`) that the frame
    has: a plan that reads three of a user's columns does not hold all of them for a million users."""
    if columns is not None:
        wanted = {key, *columns}
        frame = frame[[name for name in frame.columns if name in wanted]]
    return {str(row[key]): row for row in to_records(frame)}


def plain_column(column: pd.Series) -> list[Any]:
    """:func:`_plain` of every value of `column`, computed for the whole column where its type allows."""
    dtype = column.dtype
    missing = column.isna().to_numpy()
    if dtype.kind == "M" and str(getattr(dtype, "tz", "UTC")) == "UTC":
        return _instants(column, missing)
    if dtype.kind in "iub" and not missing.any():
        values: list[Any] = column.to_numpy().tolist()
        return values
    if dtype.kind in "iu":
        return _with_gaps(column.to_numpy(dtype="int64", na_value=0).astype(object), missing)
    if dtype.kind == "f":
        floats = column.to_numpy(dtype="float64", na_value=np.nan)
        return _with_gaps(floats.astype(object), ~np.isfinite(floats))
    cells = column.to_numpy(dtype=object)
    if pd.api.types.is_string_dtype(dtype) and pd.api.types.infer_dtype(cells[~missing]) in ("string", "empty"):
        return _with_gaps(cells, missing)
    return [plain(cell) for cell in cells]


def _with_gaps(cells: npt.NDArray[np.object_], gaps: npt.NDArray[np.bool_]) -> list[Any]:
    if gaps.any():
        cells = cells.copy()
        cells[gaps] = None
    values: list[Any] = cells.tolist()
    return values


def _instants(column: pd.Series, missing: npt.NDArray[np.bool_]) -> list[Any]:
    """ISO 8601 as Timestamp.isoformat() writes it (a fraction only when not zero), UTC as Z, naive without offset."""
    aware = getattr(column.dtype, "tz", None) is not None
    stamps = (column.dt.tz_localize(None) if aware else column).to_numpy()
    unit = np.datetime_data(stamps.dtype)[0]
    ticks = stamps.view(np.int64)
    whole = np.datetime_as_string(stamps, unit="s")
    per_second = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}.get(unit, 1)
    if per_second > 1:
        fraction = np.mod(ticks, per_second) != 0
        whole = np.where(fraction, np.datetime_as_string(stamps, unit="us"), whole)
        if unit == "ns":
            whole = np.where(np.mod(ticks, 1000) != 0, np.datetime_as_string(stamps, unit="ns"), whole)
    texts = np.char.add(whole, "Z") if aware else whole
    return _with_gaps(texts.astype(object), missing)


def json_text(frame: pd.DataFrame) -> str:
    """A JSON array with one object per line (each written by the C encoder: no per-value Python step)."""
    if frame.empty:
        return "[]\n"
    encode = json.JSONEncoder(ensure_ascii=True).encode
    return "[\n" + ",\n".join(map(encode, to_records(frame))) + "\n]\n"


def flat(value: Any) -> Any:
    """A list as "a;b", a dict of lists as "key: a, b; other: c" (plays and their reasons); others unchanged."""
    if isinstance(value, list):
        return ";".join(map(str, value))
    if isinstance(value, dict):
        return "; ".join(
            f"{key}: {', '.join(map(str, item)) if isinstance(item, list) else item}" for key, item in value.items()
        )
    return value


def csv_text(frame: pd.DataFrame) -> str:
    """CSV with lists as \"a;b\" and dicts of lists as \"key: a, b; other: c\" (:func:`flat`)."""
    columns = {str(name): plain_column(frame.iloc[:, i]) for i, name in enumerate(frame.columns)}
    for name, position in zip(columns, range(frame.shape[1]), strict=True):
        if frame.iloc[:, position].dtype == object:  # lists and dicts (plays, reasons) as text
            columns[name] = [flat(value) for value in columns[name]]
    buffer = io.StringIO()
    pd.DataFrame(columns, columns=list(columns), index=pd.RangeIndex(len(frame))).to_csv(buffer, index=False)
    return buffer.getvalue()
