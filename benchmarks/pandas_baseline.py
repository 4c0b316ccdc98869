"""Baseline: plain pandas. Read the three Parquet files whole, then groupby for the metrics of `workload.py`.

python benchmarks/pandas_baseline.py benchmarks/data/10M/healthsync.yaml out.parquet
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from workload import COLUMNS, Workload, load_workload

ONE_DAY = pd.Timedelta(days=1)


def activation_steps(events: pd.DataFrame, steps: list[tuple[str, int]]) -> pd.Series:
    done = [events[events["event"] == e].groupby("account_id").size().ge(n).astype("int64") for e, n in steps]
    if not done:
        return pd.Series(dtype="int64")
    return pd.concat(done, axis=1).fillna(0).sum(axis=1)


def metrics(w: Workload) -> pd.DataFrame:
    events = pd.read_parquet(w.events)
    accounts = pd.read_parquet(w.accounts)
    users = pd.read_parquet(w.users)

    as_of = pd.Timestamp(w.as_of)
    events = events[events["timestamp"] < as_of]
    events["d"] = (as_of - events["timestamp"]) // ONE_DAY
    events["weight"] = events["event"].map(w.weights).fillna(w.default_weight).astype("float64")
    feature_of = {event: feature for feature, names in w.features.items() for event in names}
    n = w.window_days
    window = events[events["d"] < n]
    previous = events[(events["d"] >= n) & (events["d"] < 2 * n)]
    in_window, in_previous = window.groupby("account_id"), previous.groupby("account_id")

    out = pd.DataFrame(
        {
            "total_users": users.groupby("account_id").size(),
            "raw_score": in_window["weight"].sum(),
            "raw_score_prev": in_previous["weight"].sum(),
            "events_in_window": in_window.size(),
            "events_prev_window": in_previous.size(),
            "active_users": in_window["user_id"].nunique(),
            "active_users_prev": in_previous["user_id"].nunique(),
            "active_days": in_window["d"].nunique(),
            "active_days_7d": window[window["d"] < 7].groupby("account_id")["d"].nunique(),
            "features_used": window["event"].map(feature_of).groupby(window["account_id"]).nunique(),
            "activation_steps_done": activation_steps(events, w.steps),
        }
    )
    out = (
        out.fillna(0)
        .astype("int64")
        .assign(raw_score=out["raw_score"].fillna(0.0), raw_score_prev=out["raw_score_prev"].fillna(0.0))
    )
    out["last_active_at"] = events.groupby("account_id")["timestamp"].max()
    table = accounts[["account_id", "name", "domain", "plan", "status"]].join(out, on="account_id")
    counts = [c for c in COLUMNS[5:] if c not in ("raw_score", "raw_score_prev", "last_active_at")]
    table[counts] = table[counts].fillna(0).astype("int64")
    table[["raw_score", "raw_score_prev"]] = table[["raw_score", "raw_score_prev"]].fillna(0.0)
    return table[COLUMNS].sort_values("account_id", ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("output", type=Path)
    args = parser.parse_args()
    metrics(load_workload(args.config)).to_parquet(args.output, index=False)


if __name__ == "__main__":
    main()
