"""The activity join gives the same frames as the code before it matched keys once: goldens recorded while that code
still ran beside it (`tests/golden.py`).

Crafted frames: accounts and users with and without activity, activity for entities not in the base, repeated and
missing keys, rows out of order, counts as floats, text, nullable integers and beyond float64's exact integers,
an empty activity and none at all.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from healthsync.scoring.activity import ACCOUNT_COUNTS, ACCOUNT_KEY, USER_COUNTS, USER_KEY, keyed, with_activity
from healthsync.scoring.config import ScoringConfig
from tests.golden import check

CONFIG = ScoringConfig(
    weights={"a": 1},
    features={"f": ["a"]},
    activation_steps=[{"event": "a"}, {"event": "a", "min_count": 3}],
    shares={"s": {"events": ["a"], "among": ["a"], "label": "a"}},
)


def _activity(rng: np.random.Generator, key: tuple[str, ...], counts: tuple[str, ...], rows: int) -> pd.DataFrame:
    frame: dict[str, object] = {"account_id": [f"a{i}" for i in rng.integers(0, 40, rows)]}
    if "user_id" in key:
        frame["user_id"] = [f"u{i}" for i in rng.integers(0, 30, rows)]
    for name in [*counts, "feature__f", "step__0", "step__1", "trial_events", "share_num__s", "share_den__s"]:
        frame[name] = rng.integers(0, 9, rows)
    frame["raw"] = rng.random(rows) * 10
    frame["raw_prev"] = rng.random(rows) * 10
    moments = pd.Timestamp("2025-08-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 10**6, rows), unit="s")
    frame["last_active_at"] = pd.Series(moments).astype("datetime64[us, UTC]")
    return pd.DataFrame(frame)


def _base(rng: np.random.Generator, key: tuple[str, ...], rows: int) -> pd.DataFrame:
    frame: dict[str, object] = {"account_id": [f"a{i}" for i in rng.integers(0, 50, rows)], "name": "x"}
    if "user_id" in key:
        frame["user_id"] = [f"u{i}" for i in rng.integers(0, 40, rows)]
    return keyed(pd.DataFrame(frame), key, ("name",))


def _variants(activity: pd.DataFrame, counts: tuple[str, ...]) -> list[pd.DataFrame | None]:
    floats = activity.astype({counts[0]: "float64"})
    floats.loc[floats.index[::3], counts[0]] = np.nan
    texts = activity.astype({counts[1]: "object"})
    texts.loc[texts.index[::4], counts[1]] = "many"
    nullable = activity.astype({counts[2]: "Int64"})
    nullable.loc[nullable.index[::5], counts[2]] = pd.NA
    huge = activity.assign(**{counts[3]: activity[counts[3]] + 2**60})
    unsorted = activity.iloc[::-1]
    missing_key = activity.assign(account_id=activity["account_id"].where(activity.index % 7 != 0))
    return [activity, floats, texts, nullable, huge, unsorted, missing_key, activity.iloc[0:0], None]


@pytest.mark.parametrize(("key", "counts"), [(ACCOUNT_KEY, ACCOUNT_COUNTS), (USER_KEY, USER_COUNTS)])
@pytest.mark.parametrize("seed", range(3))
def test_same_join_as_before(key: tuple[str, ...], counts: tuple[str, ...], seed: int) -> None:
    rng = np.random.default_rng(seed)
    base = _base(rng, key, 300)
    for index, activity in enumerate(_variants(_activity(rng, key, counts, 500), counts)):
        actual = with_activity(base, activity, key, counts, CONFIG)
        check("activity", f"{'-'.join(key)}-seed{seed}-variant{index}", actual)


def test_same_join_without_base_rows_and_the_same_error_for_a_base_with_an_activity_column() -> None:
    rng = np.random.default_rng(7)
    activity = _activity(rng, ACCOUNT_KEY, ACCOUNT_COUNTS, 50)
    base = _base(rng, ACCOUNT_KEY, 30)
    for name, frame in (("activity", activity), ("none", None)):
        actual = with_activity(base.iloc[0:0], frame, ACCOUNT_KEY, ACCOUNT_COUNTS, CONFIG)
        check("activity", f"no-base-rows-{name}", actual)
    with pytest.raises(KeyError, match="step__0"):  # the join suffixes the column (step__0_x, step__0_y)
        with_activity(base.assign(step__0=1), activity, ACCOUNT_KEY, ACCOUNT_COUNTS, CONFIG)
