"""A sync at scale against the sandboxes at the documented limits (issue 25, item 4).

    python benchmarks/scale.py --accounts 10000 --users 100000 [--scenarios first rerun changed lost]
    python benchmarks/scale.py --accounts 100000 --users 1000000 --scenarios first rerun --keep --no-write
    python benchmarks/scale.py --accounts 100000 --users 1000000 --scenarios steady lost --resume

`--keep` saves the sandboxes in `--out` after the last scenario, `--resume` starts from them (and the product and
state store left there) instead of generating and seeding: the steady state of 100k/1M is measured again without
another half-hour first sync.

Generates a product of `--accounts` accounts and `--users` users (DuckDB; 10 users an account at 10k/100k, a few
events each in the scoring window), seeds the HubSpot sandbox with one company per account and one contact per
user, and the Intercom sandbox with one company per account and one contact per user (so every record matches),
then runs `healthsync run` as its own process, scenario after scenario on the same state store:

- first: the first sync (every company and contact written, Intercom contacts tagged);
- rerun: the same data again (nothing to write; HubSpot finds the first sync's writes as changes, and reads every
  record, the quicker way at these rates);
- steady: the same data once more (the steady state: HubSpot searches for changes, none, and re-verifies a
  seventh of the remembered records);
- changed: 1% of the accounts get a `report_viewed` event an hour before as_of (no weight: their last-active
  date and usage change, no one's score or percentile does);
- lost: the state store deleted (reads, never writes).

The sandboxes run in this process (threads, real HTTP) at the documented limits: HubSpot 190 requests per 10 s and
5 searches per second, Intercom 10,000 calls a minute in 10-second windows (1,666 a window); healthsync is set to
the same limits (`requests_per_10s`, `searches_per_second`), so the floor is what the limits impose, not a share.
Per scenario: wall, healthsync CPU (user + system of its process, from `os.wait4`), its peak RSS (as the run records
it: the high-water mark of its own memory, `VmHWM`; `ru_maxrss` would report this process's size), the
sandboxes' CPU (this process's CPU over the run), the requests per destination and endpoint, the writes, and the
floor: max over HubSpot (requests / 19 per second, searches / 5 per second) and Intercom (requests / 166.6 per
second); the two run at the same time (`destinations.concurrent`).
The runs follow each other at once and stand for daily runs: `changed_overlap_minutes` is 0 (with the default 60,
the search for changes would also return the writes of the run before the last, which a daily schedule's would
not). Writes the `scale <accounts>/<users>` section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from a checkout

import duckdb
import httpx
import yaml

from benchmarks.run import HERE, PYTHON, ROOT, machine, write_results
from healthsync.sandbox.base import SandboxServer
from healthsync.sandbox.hubspot import HubSpotSandbox
from healthsync.sandbox.intercom import IntercomSandbox
from tests.scale import AS_OF, product, seed, write_config

HUBSPOT_LIMIT = (190, 10.0)  # requests per window, window seconds
HUBSPOT_SEARCHES = 5  # per second
INTERCOM_LIMIT = (1666, 10.0)
SCENARIOS = ("first", "rerun", "steady", "changed", "lost")


def change_one_percent(path: Path, accounts: int) -> int:
    """A `report_viewed` event (no weight) an hour before as_of for every user of every 100th account; returns how
    many accounts."""
    with duckdb.connect(str(path)) as con:
        con.execute(f"""
            INSERT INTO events SELECT user_id, account_id, 'report_viewed',
                TIMESTAMPTZ '{AS_OF.isoformat()}' - INTERVAL 1 HOUR
            FROM users WHERE CAST(substr(account_id, 5) AS INTEGER) % 100 = 7""")
    return len(range(7, accounts, 100))


def limits(server: SandboxServer, limit: tuple[int, float], **extra: Any) -> None:
    body = {"requests_per_window": limit[0], "window_seconds": limit[1], "log_bodies": 0, **extra}
    httpx.put(f"{server.base_url}/_sandbox/limits", json=body, timeout=30).raise_for_status()


def config(root: Path, db: Path, hubspot: SandboxServer, intercom: SandboxServer) -> Path:
    mapping = yaml.safe_load((ROOT / "mappings" / "intercom.yaml").read_text())
    mapping["contacts"]["tier_tags"] = True
    (root / "intercom.yaml").write_text(yaml.safe_dump(mapping, sort_keys=False))
    destinations = {
        "hubspot": {
            "enabled": True,
            "base_url": hubspot.base_url,
            "requests_per_10s": HUBSPOT_LIMIT[0],
            "searches_per_second": HUBSPOT_SEARCHES,
            "create_companies": False,
            "changed_overlap_minutes": 0,  # back-to-back runs stand for daily ones (see the docstring)
        },
        "intercom": {
            "enabled": True,
            "base_url": intercom.base_url,
            "mapping": str(root / "intercom.yaml"),
            "requests_per_10s": INTERCOM_LIMIT[0],
        },
    }
    return write_config(root, db, destinations)


def endpoint(entry: dict[str, Any]) -> str:
    """`POST /crm/objects/{type}/batch/read`-like names: ids and versions replaced by placeholders."""
    parts = []
    for part in str(entry["path"]).split("?")[0].strip("/").split("/"):
        if part.isdigit() or (len(part) == 24 and all(c in "0123456789abcdef" for c in part)):
            parts.append("{id}")
        elif part[:4].isdigit() and "-" in part:
            parts.append("{version}")
        else:
            parts.append(part)
    return f"{entry['method']} /{'/'.join(parts)}"


def run(config_path: Path, servers: dict[str, SandboxServer], profile: bool = False) -> dict[str, Any]:
    """`healthsync run` in its own process: wall, CPU, peak RSS, the sandboxes' CPU and requests."""
    marks = {name: len(server.sandbox.log) for name, server in servers.items()}
    env = {**os.environ, "HUBSPOT_ACCESS_TOKEN": "bench", "INTERCOM_ACCESS_TOKEN": "bench", "PYTHONPATH": str(ROOT)}
    ours = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    command = [PYTHON, "-m", "healthsync", "--debug", "run", "--config", str(config_path)]
    if profile:  # py-spy's raw stacks of each run, for flame graphs (`--profile`); the CPU figures then include it
        out = config_path.parent / f"profile-{len(list(config_path.parent.glob('profile-*')))}.txt"
        spy = [str(Path(PYTHON).parent / "py-spy"), "record", "-r", "100", "-f", "raw", "-o", str(out), "--"]
        command = [*spy, *command]
    with open(config_path.parent / "run.log", "a") as log:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log)
        _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    result: dict[str, Any] = {
        "exit": os.waitstatus_to_exitcode(status),
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_gib": own_peak(config_path.parent / "run.log", usage.ru_maxrss / 1024**2),
        "sandbox_cpu": (after.ru_utime + after.ru_stime) - (ours.ru_utime + ours.ru_stime),
    }
    for name, server in servers.items():
        entries = server.sandbox.log[marks[name] :]
        result[name] = {
            "requests": len(entries),
            "writes": sum(1 for e in entries if e.get("write")),
            "throttled": sum(1 for e in entries if e.get("status") == 429),
            "searches": sum(1 for e in entries if str(e["path"]).split("?")[0].endswith("/search")),
            "endpoints": dict(Counter(endpoint(e) for e in entries).most_common()),
        }
    hub, ic = result["hubspot"], result["intercom"]
    result["floor"] = max(
        hub["requests"] / (HUBSPOT_LIMIT[0] / HUBSPOT_LIMIT[1]),
        hub["searches"] / HUBSPOT_SEARCHES,
        ic["requests"] / (INTERCOM_LIMIT[0] / INTERCOM_LIMIT[1]),
    )
    return result


def own_peak(log: Path, fallback: float) -> float:
    """The run's peak RSS in GiB as it recorded it (`resources` of its `run finished` line: the kernel's high-water
    mark of its own memory). Not `ru_maxrss` from `wait4`: Linux carries that over fork and exec, so every run
    started by this process, whose sandboxes hold 6 GiB at 100k/1M, measured 6.2 GiB whatever it used."""
    for line in reversed(log.read_text().splitlines()):
        if '"run finished"' in line:
            peak = (json.loads(line).get("resources") or {}).get("peak_rss_mib")
            return float(peak) / 1024 if peak is not None else fallback
    return fallback


def section(accounts: int, users: int, results: dict[str, dict[str, Any]], load: tuple[str, str], changed: int) -> str:
    rows = [
        f"<!-- begin scale {accounts}/{users} -->",
        f"## Scale: {accounts:,} accounts, {users:,} users (issue 25)",
        "",
        "Written by `benchmarks/scale.py`. Sandboxes in the benchmark's process at the documented limits; healthsync "
        "set to the same limits; contacts and Intercom contact tags on.",
        "",
        *(f"- {name}: {value}" for name, value in machine()),
        f"- load average (1 min) before / after: {load[0]} / {load[1]}",
        f"- changed scenario: {changed} accounts (1%) get new events",
        "",
        "| run | exit | wall | floor | wall / floor | healthsync CPU | peak RSS | sandbox CPU "
        "| HubSpot requests (writes, searches, 429) | Intercom requests (writes, 429) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        hub, ic = r["hubspot"], r["intercom"]
        rows.append(
            f"| {name} | {r['exit']} | {r['wall']:.0f} s | {r['floor']:.0f} s "
            f"| {r['wall'] / max(r['floor'], 1e-9):.2f} "
            f"| {r['cpu']:.1f} s | {r['rss_gib']:.2f} GiB | {r['sandbox_cpu']:.1f} s "
            f"| {hub['requests']:,} ({hub['writes']:,}, {hub['searches']:,}, {hub['throttled']}) "
            f"| {ic['requests']:,} ({ic['writes']:,}, {ic['throttled']}) |"
        )
    rows += ["", "Requests per endpoint:", ""]
    for name, r in results.items():
        for dest in ("hubspot", "intercom"):
            listed = ", ".join(f"`{k}` {v:,}" for k, v in r[dest]["endpoints"].items())
            rows.append(f"- {name}, {dest}: {listed or 'none'}")
    rows.append(f"<!-- end scale {accounts}/{users} -->")
    return "\n".join(rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--out", type=Path, default=Path("/tmp/healthsync-scale"))
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--no-write", action="store_true", help="print the section instead of writing RESULTS.md")
    parser.add_argument("--profile", action="store_true", help="each run under py-spy, raw stacks in --out")
    parser.add_argument("--keep", action="store_true", help="save the sandboxes in --out after the last scenario")
    parser.add_argument(
        "--resume", action="store_true", help="start from what --keep saved in --out (product, state, sandboxes)"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    db = args.out / "product.duckdb"
    saved = {name: args.out / f"{name}.sandbox" for name in ("hubspot", "intercom")}
    if not args.resume:
        (args.out / "state.db").unlink(missing_ok=True)
        product(db, args.accounts, args.users)
    load_before = Path("/proc/loadavg").read_text().split()[0]
    with (
        SandboxServer(HubSpotSandbox(seed=1, index_lag_seconds=0.0)) as hubspot,
        SandboxServer(IntercomSandbox(seed=1)) as intercom,
    ):
        servers = {"hubspot": hubspot, "intercom": intercom}
        for server in servers.values():
            limits(server, (1_000_000, 10.0))
        started = time.perf_counter()
        if args.resume:
            for name, server in servers.items():
                server.sandbox.load(saved[name])
        else:
            seed(hubspot, intercom, db)
        print(f"seeded in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        limits(hubspot, HUBSPOT_LIMIT, search_requests_per_second=HUBSPOT_SEARCHES)
        limits(intercom, INTERCOM_LIMIT)
        path = config(args.out, db, hubspot, intercom)
        results: dict[str, dict[str, Any]] = {}
        changed = 0
        for scenario in args.scenarios:
            if scenario == "changed":
                changed = change_one_percent(db, args.accounts)
            if scenario == "lost":
                (args.out / "state.db").unlink(missing_ok=True)
            results[scenario] = run(path, servers, args.profile)
            print(
                json.dumps({scenario: {k: v for k, v in results[scenario].items() if k not in servers}}),
                file=sys.stderr,
            )
        if args.keep:
            for name, server in servers.items():
                server.sandbox.save(saved[name])
    load_after = Path("/proc/loadavg").read_text().split()[0]
    text = section(args.accounts, args.users, results, (load_before, load_after), changed)
    if args.no_write:
        print(text)
    else:
        write_results(args.results, text, f"scale {args.accounts}/{args.users}")


if __name__ == "__main__":
    main()
