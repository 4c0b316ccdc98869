"""Baseline: one hand-written DuckDB SQL statement computing the per-account metrics, written to Parquet.

    python benchmarks/handwritten.py benchmarks/data/10M/healthsync.yaml out.parquet [--variant tuned] [--print-sql]

The metrics are those of `workload.py`. Two variants of the same single statement:

- `simple` (default): what one writes first: one GROUP BY account with filtered aggregates and COUNT(DISTINCT) for
  active users, active days and features.
- `tuned`: two GROUP BYs (per user, then per account) and no DISTINCT: a user is active when its window count is
  non-zero; active days and features are bit masks OR-ed together and counted with bit_count.

DuckDB runs with its defaults (threads = cores, memory limit 80% of RAM).
"""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

import duckdb
from workload import Workload, load_workload

DAY_US = 86_400_000_000
VARIANTS = ("simple", "tuned")


def literal(value: str | Path) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def stamp(moment: datetime) -> str:
    return f"TIMESTAMPTZ {literal(moment.isoformat())}"


def case_of(mapping: dict[str, str], default: str) -> str:
    if not mapping:
        return default
    whens = " ".join(f"WHEN {literal(event)} THEN {value}" for event, value in mapping.items())
    return f"CASE event {whens} ELSE {default} END"


def weight_of(w: Workload) -> str:
    return case_of({e: f"{v!r}::DOUBLE" for e, v in w.weights.items()}, f"{w.default_weight!r}::DOUBLE")


def simple_activity(w: Workload) -> str:
    """One GROUP BY account_id; DISTINCT counts for users, days and features."""
    weight, n = weight_of(w), w.window_days
    feature = case_of({e: literal(f) for f, events in w.features.items() for e in events}, "NULL")
    steps = " + ".join(f"(count(*) FILTER (event = {literal(e)}) >= {k})::INT" for e, k in w.steps) or "0"
    window, previous = f"d < {n}", f"d >= {n} AND d < {2 * n}"
    return f"""
  activity AS (
    SELECT
      account_id,
      sum({weight}) FILTER ({window}) AS raw_score,
      sum({weight}) FILTER ({previous}) AS raw_score_prev,
      count(*) FILTER ({window}) AS events_in_window,
      count(*) FILTER ({previous}) AS events_prev_window,
      count(DISTINCT user_id) FILTER ({window}) AS active_users,
      count(DISTINCT user_id) FILTER ({previous}) AS active_users_prev,
      count(DISTINCT d) FILTER ({window}) AS active_days,
      count(DISTINCT d) FILTER (d < 7) AS active_days_7d,
      max(ts) AS last_active_at,
      count(DISTINCT {feature}) FILTER ({window}) AS features_used,
      {steps} AS activation_steps_done
    FROM events
    GROUP BY account_id
  )"""


def tuned_activity(w: Workload) -> str:
    """Per user, then per account, without DISTINCT: active days and features as bit masks."""
    if w.window_days > 62:
        raise SystemExit("the tuned variant keeps active days in a 64-bit mask: window_days must be <= 62")
    weight, n = weight_of(w), w.window_days
    bits = {e: f"{1 << i}::BIGINT" for i, events in enumerate(w.features.values()) for e in events}
    feature_bit = case_of(bits, "0::BIGINT")
    step_counts = "".join(
        f",\n      count(*) FILTER (event = {literal(e)}) AS step_{i}" for i, (e, _) in enumerate(w.steps)
    )
    steps = " + ".join(f"(sum(step_{i}) >= {k})::INT" for i, (_, k) in enumerate(w.steps)) or "0"
    window, previous = f"d < {n}", f"d >= {n} AND d < {2 * n}"
    return f"""
  per_user AS (
    SELECT
      account_id,
      user_id,
      sum({weight}) FILTER ({window}) AS raw_score,
      sum({weight}) FILTER ({previous}) AS raw_score_prev,
      count(*) FILTER ({window}) AS events_in_window,
      count(*) FILTER ({previous}) AS events_prev_window,
      bit_or(CASE WHEN {window} THEN 1::BIGINT << d ELSE 0 END) AS day_mask,
      bit_or(CASE WHEN {window} THEN {feature_bit} ELSE 0 END) AS feature_mask,
      max(ts) AS last_active_at{step_counts}
    FROM events
    GROUP BY account_id, user_id
  ),
  activity AS (
    SELECT
      account_id,
      sum(raw_score) AS raw_score,
      sum(raw_score_prev) AS raw_score_prev,
      sum(events_in_window) AS events_in_window,
      sum(events_prev_window) AS events_prev_window,
      count(*) FILTER (events_in_window > 0) AS active_users,
      count(*) FILTER (events_prev_window > 0) AS active_users_prev,
      bit_count(bit_or(day_mask)) AS active_days,
      bit_count(bit_or(day_mask) & 127) AS active_days_7d,
      max(last_active_at) AS last_active_at,
      bit_count(bit_or(feature_mask)) AS features_used,
      {steps} AS activation_steps_done
    FROM per_user
    GROUP BY account_id
  )"""


def build_sql(w: Workload, output: Path, variant: str = "simple") -> str:
    activity = tuned_activity(w) if variant == "tuned" else simple_activity(w)
    # d: whole days before as_of (0 = the last 24 hours); the windows are ranges of it.
    day = f'(epoch_us({stamp(w.as_of)}) - epoch_us("timestamp")) // {DAY_US}'
    return f"""
COPY (
  WITH events AS (
    SELECT account_id, user_id, event, "timestamp" AS ts, {day} AS d
    FROM read_parquet({literal(w.events)})
    WHERE "timestamp" < {stamp(w.as_of)}
  ),{activity},
  seats AS (
    SELECT account_id, count(*) AS total_users FROM read_parquet({literal(w.users)}) GROUP BY account_id
  )
  SELECT
    a.account_id, a.name, a.domain, a.plan, a.status,
    coalesce(s.total_users, 0) AS total_users,
    coalesce(x.raw_score, 0) AS raw_score,
    coalesce(x.raw_score_prev, 0) AS raw_score_prev,
    coalesce(x.events_in_window, 0) AS events_in_window,
    coalesce(x.events_prev_window, 0) AS events_prev_window,
    coalesce(x.active_users, 0) AS active_users,
    coalesce(x.active_users_prev, 0) AS active_users_prev,
    coalesce(x.active_days, 0) AS active_days,
    coalesce(x.active_days_7d, 0) AS active_days_7d,
    x.last_active_at,
    coalesce(x.features_used, 0) AS features_used,
    coalesce(x.activation_steps_done, 0) AS activation_steps_done
  FROM read_parquet({literal(w.accounts)}) AS a
  LEFT JOIN seats AS s USING (account_id)
  LEFT JOIN activity AS x USING (account_id)
  ORDER BY a.account_id
) TO {literal(output)} (FORMAT parquet)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--variant", choices=VARIANTS, default="simple")
    parser.add_argument("--print-sql", action="store_true")
    args = parser.parse_args()
    sql = build_sql(load_workload(args.config), args.output, args.variant)
    if args.print_sql:
        print(sql)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(sql)


if __name__ == "__main__":
    main()
