"""The column-wise explanations give the same texts as the row-by-row code they replaced: goldens recorded while that
code still ran beside them (`tests/golden.py`).

Crafted frames with many ties (small counts), weights that are fractions, zero and negative, contributors with no
count column, accounts missing from the activity or repeated in it, no previous window and zero raw scores.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from healthsync.scoring.config import ScoringConfig
from healthsync.scoring.explain import explain_columns
from tests.golden import check

CONFIGS = [
    ScoringConfig(
        weights={"lead_created": 9, "meeting_scheduled": 7, "meeting_completed": 3, "call_logged": 5, "email_sent": 1},
        features={"meetings": ["meeting_scheduled", "meeting_completed"], "calls": ["call_logged", "call_recorded"]},
    ),
    ScoringConfig(
        weights={"b": 2.5, "a": 2.5, "c": 0.1, "d": 0, "e": -1, "zz": 1, "z": 1},
        features={"zeta": ["a"], "alpha": ["b", "c"], "none": ["x"]},
    ),
    ScoringConfig(weights={"only": 1}),
]


def _frames(config: ScoringConfig, seed: int, rows: int = 400) -> tuple[pd.Series, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ids = pd.Series([f"a{i:04d}" for i in range(rows)])
    events = sorted(config.weights)
    activity: dict[str, object] = {"account_id": [f"a{i:04d}" for i in rng.choice(rows, rows, replace=True)]}
    for position, event in enumerate(events):
        if position == 1 and seed % 2:
            continue  # a weighted event without a count column
        for prefix in ("count__", "count_prev__"):
            counts = rng.integers(0, 4, rows) * rng.integers(0, 2, rows)
            activity[f"{prefix}{event}"] = counts if prefix == "count__" or seed % 3 else counts * 0
    frame = pd.DataFrame(activity)
    weights = np.zeros(rows)
    for event in events:
        column = frame.set_index("account_id").get(f"count__{event}")
        if column is not None:
            weights += column.groupby(level=0).first().reindex(ids).fillna(0).to_numpy() * config.weights[event]
    raw = np.where(rng.random(rows) < 0.1, 0.0, weights + rng.choice([0.0, 0.5, 3.0], rows))
    change = pd.array(rng.integers(-30, 30, rows), dtype="Int64")
    change[rng.random(rows) < 0.3] = pd.NA
    score = rng.integers(1, 101, rows)
    table = pd.DataFrame({"raw_score": raw, "health_score": score, "score_change": change}, index=ids.index + 7)
    return ids, frame, table


@pytest.mark.parametrize("config_index", range(len(CONFIGS)))
@pytest.mark.parametrize("seed", range(6))
def test_same_explanations_as_row_by_row(config_index: int, seed: int) -> None:
    config = CONFIGS[config_index]
    ids, activity, table = _frames(config, seed)
    actual = explain_columns(ids, activity, table, config)
    assert list(actual) == ["score_reasons", "score_movers", "score_why"]
    for name, values in actual.items():
        check("explain", f"config{config_index}-seed{seed}-{name}", values)
    assert any(actual["score_movers"]) or seed % 3 == 0 or config_index == 2


def test_same_explanations_without_activity_or_accounts() -> None:
    config = CONFIGS[0]
    ids, activity, table = _frames(config, 1, rows=5)
    for empty, frame in ((True, activity.iloc[0:0]), (False, activity)):
        for count in (0, 5):
            actual = explain_columns(ids.iloc[:count], frame, table.iloc[:count], config)
            for name, values in actual.items():
                check("explain", f"small-{'empty' if empty else 'activity'}-{count}-{name}", values)
