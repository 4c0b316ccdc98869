"""The Parquet preparation of connector/output.py as it was on main (77e4f98): a Python call per cell of every
column to find the dict columns."""

from __future__ import annotations

import json

import pandas as pd


def _parquet_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Dict columns (play reasons) as JSON text: their keys vary by row."""
    dicts = [column for column in frame.columns if frame[column].map(lambda v: isinstance(v, dict)).any()]
    return frame.assign(**{column: frame[column].map(json.dumps) for column in dicts})
