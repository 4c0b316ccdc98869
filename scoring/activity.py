"""The activity frames scoring reads, and how entities without activity are filled in.

`account_activity` has one row per account with any accepted event (absent accounts had none); `user_activity`
the same per (account_id, user_id), without the active-user counts. Columns:

- `events`, `events_prev`: event counts in the window W = [as_of - window_days, as_of) and the previous window
  P = [as_of - 2 window_days, as_of - window_days);
- `raw`, `raw_prev`: sums of event weights in W and P;
- `active_users`, `active_users_prev` (accounts only): distinct users in W and P;
- `active_days`, `active_days_7d`: distinct day buckets floor((as_of - ts) / 1 day) in W and in the last 7 days;
- `last_active_at`: the latest event before as_of within `lookback_days` (UTC; none when older);
- `feature__<name>`: 1 when any event of that configured feature happened in W;
- `step__<i>`: count, within `lookback_days` before as_of, of the event of activation step i (index in
  `activation_steps`);
- `trial_events` (accounts): events in the account's first `plays.multi_user_activation.trial_days` days;
- `share_num__<name>`, `share_den__<name>` (accounts): events of the share and events it is a share of, in W;
- `active_weeks` (users, with personas): distinct full weeks (floor(day bucket / 7), only the window_days // 7
  full weeks before as_of) with an event;
- `workflow__<i>` (users, with personas): count of workflow i's event (i over every persona's workflows in config
  order) in its last `within_days` days.

Missing columns (for example in an empty frame) are read as zero / no timestamp.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
from pandas.api.extensions import take

from healthsync.scoring.config import ScoringConfig
from healthsync.scoring.metrics import utc_series

ACCOUNT_KEY = ("account_id",)
USER_KEY = ("account_id", "user_id")
USER_COUNTS = ("events", "events_prev", "active_days", "active_days_7d")
ACCOUNT_COUNTS = (*USER_COUNTS, "active_users", "active_users_prev")
RAW_COLUMNS = ("raw", "raw_prev")
LAST_ACTIVE = "last_active_at"


def feature_column(name: str) -> str:
    """The activity column flagging use of feature `name` in the window."""
    return f"feature__{name}"


def step_column(index: int) -> str:
    """The activity column counting activation step number `index` (0-based)."""
    return f"step__{index}"


def share_column(part: str, name: str) -> str:
    """The activity column counting share `name`'s events (`part` "num") or what it is a share of ("den")."""
    return f"share_{part}__{name}"


def workflow_column(index: int) -> str:
    """The user activity column counting workflow number `index` (over every persona's workflows)."""
    return f"workflow__{index}"


def _flag_columns(config: ScoringConfig) -> list[str]:
    features = [feature_column(name) for name in config.features]
    steps = [step_column(index) for index in range(len(config.activation_steps))]
    shares = [share_column(part, name) for name in config.shares for part in ("num", "den")]
    flows = [workflow_column(index) for index in range(len(config.workflows()))]
    return [*features, *steps, "trial_events", *shares, "active_weeks", *flows]


def key_order(frame: pd.DataFrame, key: Sequence[str]) -> tuple[bool, bool]:
    """(sorted, unique): whether the rows are in (lexicographic) order of `key`, and whether no key repeats.

    One comparison of neighbours per column (values of one type, e.g. text); mixed or missing values count as not
    sorted.
    """
    if len(frame) < 2:
        return True, True
    ascending = np.zeros(len(frame) - 1, dtype=bool)
    equal = np.ones(len(frame) - 1, dtype=bool)
    try:
        for name in key:
            values = frame[name]
            if values.isna().any():
                return False, False
            before = values.iloc[:-1].reset_index(drop=True)
            after = values.iloc[1:].reset_index(drop=True)  # compared in the column's own type (Arrow for text)
            ascending |= equal & (after > before).to_numpy(dtype=bool)
            equal &= (after == before).to_numpy(dtype=bool)
    except TypeError:
        return False, False
    in_order = bool(np.all(ascending | equal))
    return in_order, in_order and not bool(equal.any())


def positions_in(values: pd.Series, among: pd.Series) -> npt.NDArray[np.intp]:
    """The position of each value in `among` (unique values), -1 where it is not there; Arrow's hash lookup for
    text columns held by Arrow, pandas' otherwise."""
    if isinstance(values.array, pd.arrays.ArrowStringArray) and isinstance(among.array, pd.arrays.ArrowStringArray):
        import pyarrow as pa
        import pyarrow.compute as pc

        found = pc.index_in(pa.array(values.array), value_set=pa.array(among.array))
        return np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.intp)
    return np.asarray(pd.Index(among.to_numpy()).get_indexer(values.to_numpy()), dtype=np.intp)


def in_key_order(frame: pd.DataFrame, key: Sequence[str]) -> pd.DataFrame:
    """`frame` stably sorted by `key`, without sorting when it already is (e.g. the database sent it so); Arrow
    text keys without missing values are sorted by Arrow (the same stable order, without pandas' categoricals)."""
    if key_order(frame, key)[0]:
        return frame
    columns = [frame[name].array for name in key]
    if all(isinstance(column, pd.arrays.ArrowStringArray) for column in columns) and not any(
        frame[name].isna().any() for name in key
    ):
        import pyarrow as pa
        import pyarrow.compute as pc

        table = pa.table({f"k{index}": pa.array(column) for index, column in enumerate(columns)})
        order = pc.sort_indices(table, sort_keys=[(f"k{index}", "ascending") for index in range(len(columns))])
        return frame.take(np.asarray(order.to_numpy(zero_copy_only=False), dtype=np.intp))
    return frame.sort_values(list(key), kind="stable")


def keyed(frame: pd.DataFrame, key: Sequence[str], fields: Sequence[str]) -> pd.DataFrame:
    """`frame` reduced to `key` + `fields` (missing fields are NA), ids as strings, one row per key, sorted."""
    out = frame.reindex(columns=[*key, *fields])
    out = out.dropna(subset=list(key))
    out = out.astype(dict.fromkeys(key, "str"))
    if key_order(out, key)[1]:  # sorted and unique already: nothing to drop or move
        return out.reset_index(drop=True)
    out = out.drop_duplicates(subset=list(key), keep="first")
    return out.sort_values(list(key), kind="stable").reset_index(drop=True)


def with_activity(
    base: pd.DataFrame,
    activity: pd.DataFrame | None,
    key: Sequence[str],
    counts: Sequence[str],
    config: ScoringConfig,
) -> pd.DataFrame:
    """`base` (one row per key) left-joined with its activity; entities without activity get zeros and NaT."""
    flags = _flag_columns(config)
    source = activity if activity is not None else pd.DataFrame()
    fields = [*counts, *RAW_COLUMNS, LAST_ACTIVE, *flags]
    wanted = keyed(source, key, fields)
    if set(base.columns) & set(fields) or _ROW in key:
        return _filled(base.merge(wanted, on=list(key), how="left"), counts, flags)
    rows = wanted[list(key)].assign(**{_ROW: np.arange(len(wanted), dtype=np.int64)})
    found = base[list(key)].merge(rows, on=list(key), how="left")[_ROW].to_numpy(dtype=np.float64, na_value=np.nan)
    missing = np.isnan(found)
    positions = np.where(missing, 0, found).astype(np.int64)
    indexer = np.where(missing, -1, positions)
    merged = base.reset_index(drop=True)
    taken: dict[str, pd.Series] = {}
    for name in fields:
        values = wanted[name]
        if name in (*counts, *flags) and values.dtype == np.int64 and _exact(values.to_numpy()):
            # what the left join and _whole_numbers give, without the float64 in between
            whole = np.where(missing, 0, values.to_numpy()[positions]) if len(wanted) else np.zeros(len(merged))
            taken[name] = pd.Series(whole.astype(np.int64), index=merged.index)
        else:  # the join's take: NA where there is no row, in the promoted dtype
            taken[name] = pd.Series(take(values.array, indexer, allow_fill=True), index=merged.index)
    return _filled(pd.concat([merged, pd.DataFrame(taken, index=merged.index)], axis=1), counts, flags)


_ROW = "__row__"
_EXACT = 2**53  # int64 counts below this survive a float64 unchanged


def _exact(values: npt.NDArray[np.int64]) -> bool:
    return not len(values) or bool(values.max() < _EXACT and values.min() > -_EXACT)


def _filled(merged: pd.DataFrame, counts: Sequence[str], flags: Sequence[str]) -> pd.DataFrame:
    """The joined activity typed: counts and flags int64, raw scores float64, zero where missing; NaT instants."""
    for column in [*counts, *flags]:
        if merged[column].dtype != np.int64 or not _exact(merged[column].to_numpy()):
            merged[column] = _whole_numbers(merged[column])
    for column in RAW_COLUMNS:
        merged[column] = _zero_if_missing(merged[column])
    merged[LAST_ACTIVE] = utc_series(merged[LAST_ACTIVE])
    return merged


def _whole_numbers(values: pd.Series) -> pd.Series:
    """Counts as int64; missing or non-numeric values are 0."""
    numeric = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    cleaned = np.nan_to_num(numeric, nan=0.0, posinf=0.0, neginf=0.0)
    return pd.Series(cleaned.astype(np.int64), index=values.index)


def _zero_if_missing(values: pd.Series) -> pd.Series:
    """Floats (float64) with missing or non-numeric values as 0."""
    numeric = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.Series(np.where(np.isnan(numeric), 0.0, numeric), index=values.index, dtype="float64")


def features_used(frame: pd.DataFrame, config: ScoringConfig) -> pd.Series:
    """How many configured features each row used in the window."""
    used = pd.Series(0, index=frame.index, dtype="int64")
    for name in config.features:
        used = used + (frame[feature_column(name)] > 0).astype("int64")
    return used


def activation_steps_done(frame: pd.DataFrame, config: ScoringConfig) -> pd.Series:
    """How many activation steps each row completed (step count >= its min_count)."""
    done = pd.Series(0, index=frame.index, dtype="int64")
    for index, step in enumerate(config.activation_steps):
        done = done + (frame[step_column(index)] >= step.min_count).astype("int64")
    return done
