"""PostgreSQL: `healthsync score` on a `sql` source vs one hand-written PostgreSQL statement, on the same database.

    python benchmarks/postgres.py load --events 5M [--url postgresql://postgres@127.0.0.1:5432/hs_bench_5m]
    python benchmarks/postgres.py handwritten benchmarks/data/5M/healthsync-postgres.yaml out.parquet [--print-sql]
    healthsync score --config benchmarks/data/5M/healthsync-postgres.yaml --format parquet --output out.parquet

`load` generates the Parquet files (`generate.py`) when missing, creates the database (dropped first when it exists),
copies the three tables in with COPY (events.timestamp as timestamptz) and writes `healthsync-postgres.yaml` next
to the data (source kind sql on that database, the same scoring as `healthsync.yaml`). `handwritten` runs the
metrics of `workload.py` as one statement (one GROUP BY account, FILTER and COUNT(DISTINCT), the day of each event
from `date_part('epoch', ...)` in a subquery: what one writes first) and writes the rows to Parquet. Both run in a
UTC session.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb
import pandas as pd
import psycopg
import yaml
from workload import Workload, load_workload

HERE = Path(__file__).parent
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/hs_bench_{size}"
SCHEMA = {
    "events": "account_id text, user_id text, event text, timestamp timestamptz",
    "accounts": "account_id text, name text, domain text, plan text, status text, created_at timestamptz, "
    "seats_limit double precision, mrr double precision",
    "users": "user_id text, account_id text, email text, role text, created_at timestamptz",
}


def literal(value: object) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def case_of(mapping: dict[str, str], default: str) -> str:
    if not mapping:
        return default
    whens = " ".join(f"WHEN {literal(event)} THEN {value}" for event, value in mapping.items())
    return f"CASE event {whens} ELSE {default} END"


def build_sql(w: Workload) -> str:
    """One statement: the metrics of workload.py per account (all accounts, zeros where no activity)."""
    n, as_of = w.window_days, w.as_of.timestamp()
    weight = case_of({e: f"{v!r}::float8" for e, v in w.weights.items()}, f"{w.default_weight!r}::float8")
    feature = case_of({e: literal(f) for f, events in w.features.items() for e in events}, "NULL")
    steps = " + ".join(f"(count(*) FILTER (WHERE event = {literal(e)}) >= {k})::int" for e, k in w.steps) or "0"
    window, previous = f"d < {n}", f"d >= {n} AND d < {2 * n}"
    return f"""
WITH events AS (
  SELECT account_id, user_id, event, ts, floor(({as_of!r} - epoch) / 86400) AS d
  FROM (SELECT account_id, user_id, event, "timestamp" AS ts, date_part('epoch', "timestamp") AS epoch
        FROM events) AS e
  WHERE epoch < {as_of!r}
),
activity AS (
  SELECT
    account_id,
    sum({weight}) FILTER (WHERE {window}) AS raw_score,
    sum({weight}) FILTER (WHERE {previous}) AS raw_score_prev,
    count(*) FILTER (WHERE {window}) AS events_in_window,
    count(*) FILTER (WHERE {previous}) AS events_prev_window,
    count(DISTINCT user_id) FILTER (WHERE {window}) AS active_users,
    count(DISTINCT user_id) FILTER (WHERE {previous}) AS active_users_prev,
    count(DISTINCT d) FILTER (WHERE {window}) AS active_days,
    count(DISTINCT d) FILTER (WHERE d < 7) AS active_days_7d,
    max(ts) AS last_active_at,
    count(DISTINCT {feature}) FILTER (WHERE {window}) AS features_used,
    {steps} AS activation_steps_done
  FROM events
  GROUP BY account_id
),
seats AS (SELECT account_id, count(*) AS total_users FROM users GROUP BY account_id)
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
FROM accounts AS a
LEFT JOIN seats AS s USING (account_id)
LEFT JOIN activity AS x USING (account_id)
ORDER BY a.account_id
"""


def _url_of(config: Path) -> str:
    url = str(yaml.safe_load(config.read_text())["source"]["url"])
    return url.replace("postgresql+psycopg://", "postgresql://")


def handwritten(config: Path, output: Path, print_sql: bool) -> None:
    sql = build_sql(load_workload(config))
    if print_sql:
        print(sql)
    with psycopg.connect(_url_of(config)) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        with conn.cursor() as cursor:
            cursor.execute(sql)
            columns = [column.name for column in cursor.description or ()]
            frame = pd.DataFrame.from_records(cursor.fetchall(), columns=columns)
    frame.to_parquet(output)


def load(size: str, url: str | None) -> None:
    data = HERE / "data" / size
    if not (data / "events.parquet").exists():
        subprocess.run([sys.executable, str(HERE / "generate.py"), "--events", size], check=True)
    target = url or DEFAULT_URL.format(size=size.lower())
    base, name = target.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(target) as conn, tempfile.TemporaryDirectory() as tmp:
        conn.execute("SET TIME ZONE 'UTC'")
        for table, columns in SCHEMA.items():
            conn.execute(f"CREATE TABLE {table} ({columns})")
            csv = Path(tmp) / f"{table}.csv"
            names = ", ".join(f'"{part.split()[0]}"' for part in columns.split(", "))
            parquet = literal(data / f"{table}.parquet")
            duckdb.sql(
                f"SET TimeZone = 'UTC'; COPY (SELECT {names} FROM read_parquet({parquet})) "
                f"TO {literal(csv)} (HEADER false)"
            )
            with conn.cursor().copy(f"COPY {table} FROM STDIN WITH (FORMAT csv)") as copy, csv.open("rb") as file:
                while chunk := file.read(1 << 20):
                    copy.write(chunk)
            print(f"loaded {table}", file=sys.stderr)
        conn.commit()
    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    config = yaml.safe_load((data / "healthsync.yaml").read_text())
    config["source"] = {"kind": "sql", "url": target.replace("postgresql://", "postgresql+psycopg://")} | {
        table: table for table in SCHEMA
    }
    (data / "healthsync-postgres.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    print(f"wrote {data / 'healthsync-postgres.yaml'}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    loading = commands.add_parser("load", help="generate (if needed) and load a size into PostgreSQL")
    loading.add_argument("--events", required=True, help="size, e.g. 5M")
    loading.add_argument("--url", help="target database URL (default: " + DEFAULT_URL + ")")
    running = commands.add_parser("handwritten", help="run the hand-written statement, write Parquet")
    running.add_argument("config", type=Path)
    running.add_argument("output", type=Path)
    running.add_argument("--print-sql", action="store_true")
    args = parser.parse_args()
    if args.command == "load":
        load(args.events, args.url)
    else:
        handwritten(args.config, args.output, args.print_sql)


if __name__ == "__main__":
    main()
