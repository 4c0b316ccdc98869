"""Column-wise reading of a frame of account signals, cell by cell as :mod:`scoring.words` reads one value.

A missing column reads like a missing value in every row. Numbers follow :func:`words.optional_number` (missing,
NaN, infinite, text and booleans are no number), integers are those numbers rounded half up, labels
:func:`words.text` (only text is a label). Texts are built with :func:`texts`: one cheap pass over the rows that
need one, with the same phrasing helpers as a single value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from healthsync.scoring.normalize import FloatArray, IntArray
from healthsync.scoring.words import optional_number

BoolArray = npt.NDArray[np.bool_]
TextArray = npt.NDArray[np.object_]


class Columns:
    """Typed, cached views of the columns of one frame (same row order)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.size = len(frame)
        self._numbers: dict[str, FloatArray] = {}
        self._labels: dict[str, TextArray] = {}

    def numbers(self, key: str) -> FloatArray:
        """Floats, NaN where the cell is no number."""
        if key not in self._numbers:
            self._numbers[key] = _numbers(self.frame[key]) if key in self.frame else np.full(self.size, np.nan)
        return self._numbers[key]

    def present(self, key: str) -> BoolArray:
        """Where the cell is a number."""
        return ~np.isnan(self.numbers(key))

    def ints(self, key: str) -> IntArray:
        """Integers rounded half up; 0 where the cell is no number (the plays' "missing counts as 0")."""
        values = self.numbers(key)
        with np.errstate(invalid="ignore"):
            return np.where(np.isnan(values), 0, np.floor(values + 0.5)).astype(np.int64)

    def labels(self, key: str) -> TextArray:
        """Texts, "" where the cell is not text."""
        if key not in self._labels:
            if key in self.frame:
                values = self.frame[key].to_numpy(dtype=object)
                self._labels[key] = np.array([v if isinstance(v, str) else "" for v in values], dtype=object)
            else:
                self._labels[key] = np.full(self.size, "", dtype=object)
        return self._labels[key]

    def label_in(self, key: str, allowed: list[str] | tuple[str, ...] | set[str]) -> BoolArray:
        return np.isin(self.labels(key), list(allowed))


def _numbers(values: pd.Series) -> FloatArray:
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return np.full(len(values), np.nan)
    if pd.api.types.is_numeric_dtype(dtype):
        out = values.to_numpy(dtype=np.float64, na_value=np.nan)
        return np.where(np.isfinite(out), out, np.nan)
    cells = [optional_number(value) for value in values.to_numpy(dtype=object)]
    return np.array([np.nan if cell is None else cell for cell in cells], dtype=np.float64)


def texts(mask: BoolArray, make: Callable[..., str], *columns: npt.NDArray[Any]) -> TextArray:
    """`make(*cells)` in the rows of `mask` (cells as Python values), None elsewhere.

    `make` is a function of its cells: with numeric columns it runs once per distinct row of cells (the same
    bits), its text copied to the rows that repeat them."""
    out: TextArray = np.full(len(mask), None, dtype=object)
    rows = np.flatnonzero(mask)
    if not rows.size:
        return out
    picked = [column[rows] for column in columns]
    if picked and all(cells.dtype in (np.int64, np.float64) for cells in picked):
        bits = np.stack([cells.view(np.int64) for cells in picked], axis=1)  # floats by their bits: -0.0 is not 0.0
        _, first, inverse = np.unique(bits, axis=0, return_index=True, return_inverse=True)
        distinct = [cells[first].tolist() for cells in picked]
        made: TextArray = np.empty(len(first), dtype=object)
        made[:] = [make(*values) for values in zip(*distinct, strict=True)]
        out[rows] = made[inverse.reshape(-1)]
        return out
    cells = [part.tolist() for part in picked]
    out[rows] = [make(*values) for values in zip(*cells, strict=True)] if cells else [make()] * rows.size
    return out


def constant(mask: BoolArray, value: str) -> TextArray:
    """`value` in the rows of `mask`, None elsewhere."""
    out: TextArray = np.full(len(mask), None, dtype=object)
    out[mask] = value
    return out


def somewhere(parts: list[TextArray], size: int) -> BoolArray:
    """Rows where any of `parts` has a text."""
    found = np.zeros(size, dtype=bool)
    for part in parts:
        found |= part != None  # noqa: E711 (element-wise comparison with None)
    return found
