"""Time `healthsync score` against a hand-written DuckDB query and plain pandas, on the same files, in one run.

    python benchmarks/run.py --sizes 1M 10M 50M --repeat 3

For each size (data in benchmarks/data/<size>/, generated first when missing) each tool runs as its own subprocess,
end to end (Python start-up included), writing Parquet into a temporary folder:

- healthsync: `healthsync score --config <data>/healthsync.yaml --format parquet --output <tmp>`
- handwritten: `benchmarks/handwritten.py`, one DuckDB statement, one GROUP BY with COUNT(DISTINCT) (the reference)
- handwritten_tuned: the same with `--variant tuned`: two GROUP BYs, no DISTINCT (how fast it can go)
- pandas: `benchmarks/pandas_baseline.py`, read everything, then groupby

Measurement: wall time from spawn to exit (time.perf_counter) and the peak resident set size reported by the kernel
for that subprocess (`ru_maxrss` of `os.wait4`, the high-water mark of the largest process of its tree; no polling).
The order of the tools rotates between repeats; the table shows the median over the successful repeats. Then the
outputs are cross-checked per account (healthsync vs hand-written on raw score and active users; the tuned variant
and pandas vs hand-written on every metric), and a section of benchmarks/RESULTS.md is written (replaced when one
for the same sizes exists).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from pathlib import Path

import pandas as pd
from workload import COLUMNS

IDENTITY = ("account_id", "name", "domain", "plan", "status")

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
ROOT = HERE.parent  # the checkout: `python -m healthsync` runs its code (its healthsync/ links), not an installed copy
TOOLS = ("healthsync", "handwritten", "handwritten_tuned", "pandas")
GIB = 1024**3
TARGET_RATIOS = {"1M": 2.0, "10M": 1.3, "50M": 1.15}  # healthsync / hand-written, best runs side by side
TARGET_RSS = 1 * GIB
PHASES = ("imports", "read", "score", "write")


@dataclass
class Measurement:
    tool: str
    wall: float
    peak_rss: int  # bytes
    returncode: int
    error: str
    load: float  # 1-minute load average when it started
    phases: dict[str, float]  # healthsync only: start-up and imports, read, score, write (seconds)


def command(tool: str, config: Path, output: Path) -> list[str]:
    if tool == "healthsync":
        return [
            PYTHON,
            "-m",
            "healthsync",
            "score",
            "--config",
            str(config),
            "--format",
            "parquet",
            "--output",
            str(output),
        ]
    if tool == "pandas":
        return [PYTHON, str(HERE / "pandas_baseline.py"), str(config), str(output)]
    variant = "tuned" if tool == "handwritten_tuned" else "simple"
    return [PYTHON, str(HERE / "handwritten.py"), str(config), str(output), "--variant", variant]


def measure(tool: str, argv: list[str]) -> Measurement:
    load = os.getloadavg()[0]
    with tempfile.TemporaryFile() as stderr:
        spawned = time.time()
        started = time.perf_counter()
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=stderr, env=_environment())
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        exited = time.time()
        process.returncode = os.waitstatus_to_exitcode(status)
        stderr.seek(0)
        lines = stderr.read().decode(errors="replace").strip().splitlines()
    error = lines[-1] if process.returncode and lines else ""
    phases = phase_split(lines, spawned, exited) if tool == "healthsync" else {}
    return Measurement(tool, wall, usage.ru_maxrss * 1024, process.returncode, error, load, phases)


def _environment() -> dict[str, str]:
    paths = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def phase_split(lines: list[str], spawned: float, exited: float) -> dict[str, float]:
    """Seconds per phase from healthsync's JSON log lines `source read in ...` and `scored ... in ...` (fields
    `phase`, `seconds`, `ts`): imports = spawn to the start of reading (interpreter start-up included), read, score,
    write = the end of scoring to exit (the reports, the output file, interpreter exit)."""
    ends: dict[str, tuple[float, float]] = {}
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("phase") in ("reading", "scoring"):
            stamp = datetime.fromisoformat(str(record["ts"]).replace("Z", "+00:00")).timestamp()
            ends[str(record["phase"])] = (stamp, float(record["seconds"]))
    if set(ends) != {"reading", "scoring"}:
        return {}
    (read_end, read), (score_end, score) = ends["reading"], ends["scoring"]
    return {"imports": read_end - read - spawned, "read": read, "score": score, "write": exited - score_end}


def warm_cache(folder: Path) -> None:
    for path in folder.glob("*.parquet"):
        with path.open("rb") as handle:
            while handle.read(1 << 24):
                pass


def ensure_data(size: str, folder: Path) -> None:
    if not (folder / "events.parquet").exists() or not (folder / "healthsync.yaml").exists():
        print(f"generating {size} into {folder}", file=sys.stderr)
        subprocess.run([PYTHON, str(HERE / "generate.py"), "--events", size, "--out", str(folder)], check=True)


def event_count(folder: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(folder / "events.parquet").metadata.num_rows)


def compare(left: Path, right: Path, columns: list[str]) -> int:
    """Accounts whose `columns` differ between two outputs (missing on one side counts as a mismatch)."""
    a = pd.read_parquet(left, columns=["account_id", *columns]).set_index("account_id")
    b = pd.read_parquet(right, columns=["account_id", *columns]).set_index("account_id")
    a, b = a.align(b, join="outer")
    bad = pd.Series(False, index=a.index)
    for column in columns:
        x, y = a[column], b[column]
        if pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y):
            differs = (x.astype("float64") - y.astype("float64")).abs() > 1e-6
        else:
            differs = x.astype("string") != y.astype("string")
        bad |= differs.fillna(True).astype(bool) & ~(x.isna() & y.isna())
    return int(bad.sum())


@dataclass
class SizeResult:
    size: str
    events: int
    runs: dict[str, list[Measurement]]
    checks: dict[str, int | str]


def run_size(size: str, data_dir: Path, repeat: int, tools: tuple[str, ...]) -> SizeResult:
    folder = data_dir / size
    ensure_data(size, folder)
    config = folder / "healthsync.yaml"
    warm_cache(folder)
    runs: dict[str, list[Measurement]] = {tool: [] for tool in tools}
    with tempfile.TemporaryDirectory(prefix="healthsync-bench-") as tmp:
        outputs = {tool: Path(tmp) / f"{tool}.parquet" for tool in tools}
        for i in range(repeat):
            order = tools[i % len(tools) :] + tools[: i % len(tools)]
            for tool in order:
                m = measure(tool, command(tool, config, outputs[tool]))
                runs[tool].append(m)
                status = f"exit {m.returncode}: {m.error}" if m.returncode else "ok"
                split = f" [{fmt_phases(m.phases)}]" if m.phases else ""
                print(
                    f"{size:>4} #{i + 1} {tool:<17} {m.wall:7.2f} s {m.peak_rss / GIB:6.2f} GiB "
                    f"(load {m.load:.1f}) {status}{split}",
                    file=sys.stderr,
                    flush=True,
                )
        checks = cross_check(outputs, runs)
    print(f"{size:>4} checks: {checks}", file=sys.stderr, flush=True)
    return SizeResult(size, event_count(folder), runs, checks)


def cross_check(outputs: dict[str, Path], runs: dict[str, list[Measurement]]) -> dict[str, int | str]:
    checks: dict[str, int | str] = {}
    if "handwritten" not in outputs:
        return checks
    reference = outputs["handwritten"]
    every = [column for column in COLUMNS if column not in IDENTITY]  # every metric the baselines compute
    others = {"healthsync": ["raw_score", "active_users"], "handwritten_tuned": every, "pandas": every}
    for tool, columns in others.items():
        if tool not in outputs:
            continue
        if not outputs[tool].exists() or runs[tool][-1].returncode:
            checks[tool] = "no output"
            continue
        try:
            checks[tool] = compare(outputs[tool], reference, columns)
        except (KeyError, ValueError) as exc:
            checks[tool] = f"not comparable: {exc}"
    return checks


def machine() -> list[tuple[str, str]]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if "model name" in line), "?")
    mem_kib = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if "MemTotal" in line
    )
    os_name = next(
        (
            line.split("=", 1)[1].strip('"')
            for line in Path("/etc/os-release").read_text().splitlines()
            if "PRETTY" in line
        ),
        platform.system(),
    )
    versions = ", ".join(f"{name} {metadata.version(name)}" for name in ("healthsync", "duckdb", "pandas", "pyarrow"))
    return [
        ("date", subprocess.run(["date", "-u"], capture_output=True, text=True, check=False).stdout.strip()),
        ("CPU", f"{model}, {os.cpu_count()} cores"),
        ("RAM", f"{mem_kib / 1024**2:.1f} GiB"),
        ("OS", f"{os_name}, kernel {platform.release()}"),
        ("Python", platform.python_version()),
        ("packages", versions),
        ("commit", git_commit()),
    ]


def git_commit() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=HERE, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    dirty = " (with uncommitted changes)" if git("status", "--porcelain", "--untracked-files=no") else ""
    return (git("rev-parse", "--short", "HEAD") or "unknown") + dirty


def fmt_rate(events: int, seconds: float) -> str:
    return f"{events / seconds / 1e6:.2f} M/s"


def fmt_phases(phases: dict[str, float]) -> str:
    return ", ".join(f"{name} {phases[name]:.2f}" for name in PHASES if name in phases)


def size_table(result: SizeResult) -> list[str]:
    ref, tuned = best_wall(result, "handwritten"), best_wall(result, "handwritten_tuned")
    lines = [
        f"### {result.size} events ({result.events:,})",
        "",
        "| tool | wall (best) | median | runs (s) | events/s | vs hand-written | vs tuned | peak RSS |",
        "|---|---:|---:|---|---:|---:|---:|---:|",
    ]
    for tool, runs in result.runs.items():
        ok = [m for m in runs if not m.returncode]
        if not ok:
            lines.append(f"| {tool} | failed | | exit {runs[0].returncode}: {runs[0].error[:120]} | | | | |")
            continue
        best, median = min(m.wall for m in ok), statistics.median(m.wall for m in ok)
        each = ", ".join(f"{m.wall:.2f}" if not m.returncode else f"failed (exit {m.returncode})" for m in runs)
        ratio = f"{best / ref:.2f}x" if ref else "-"
        ratio_tuned = f"{best / tuned:.2f}x" if tuned else "-"
        rss = max(m.peak_rss for m in ok) / GIB
        rate = fmt_rate(result.events, best)
        lines.append(
            f"| {tool} | {best:.2f} s | {median:.2f} s | {each} | {rate} | {ratio} | {ratio_tuned} | {rss:.2f} GiB |"
        )
    loads = [m.load for runs in result.runs.values() for m in runs]
    checks = "; ".join(
        f"{tool} vs hand-written: " + (f"{value} mismatching accounts" if isinstance(value, int) else str(value))
        for tool, value in result.checks.items()
    )
    lines += ["", f"1-minute load average at the starts: {min(loads):.1f} to {max(loads):.1f}. Checks: {checks}."]
    split = phase_medians(result)
    if split:
        lines += ["", f"healthsync per phase (median seconds): {fmt_phases(split)}."]
    return [*lines, ""]


def phase_medians(result: SizeResult) -> dict[str, float]:
    splits = [m.phases for m in result.runs.get("healthsync", []) if m.phases and not m.returncode]
    return {name: statistics.median(split[name] for split in splits) for name in PHASES} if splits else {}


def best_wall(result: SizeResult, tool: str) -> float | None:
    """Best (minimum) wall time over the successful runs of `tool` (None when none succeeded): on a shared machine
    the least disturbed run; the tools' runs interleave, so the best of each saw the same machine."""
    ok = [m.wall for m in result.runs.get(tool, []) if not m.returncode]
    return min(ok) if ok else None


def verdict(results: list[SizeResult]) -> str:
    parts = []
    for result in results:
        hs, ref = best_wall(result, "healthsync"), best_wall(result, "handwritten")
        if hs is None or ref is None:
            parts.append(f"{result.size}: not measured")
            continue
        target = TARGET_RATIOS.get(result.size)
        ratio = hs / ref
        text = f"{result.size}: {ratio:.2f}x" + (
            f" (target <= {target}x: {'ok' if ratio <= target else 'missed'})" if target else ""
        )
        if result.size == "50M":
            rss = max(m.peak_rss for m in result.runs["healthsync"] if not m.returncode)
            text += f", peak {rss / GIB:.2f} GiB (target <= 1 GiB: {'ok' if rss <= TARGET_RSS else 'missed'})"
        parts.append(text)
    return "Verdict, healthsync vs the hand-written query (best runs): " + "; ".join(parts) + "."


def section(results: list[SizeResult], repeat: int) -> str:
    key = " ".join(r.size for r in results)
    lines = [f"<!-- begin {key} -->", f"## Sizes {key}", ""]
    lines += [f"- {name}: {value}" for name, value in machine()]
    lines += [
        f"- method: each tool a subprocess, end to end; wall = spawn to exit; peak RSS = ru_maxrss of os.wait4; "
        f"best and median of {repeat} run(s), tool order rotated; warm page cache",
        "",
        verdict(results),
        "",
    ]
    for result in results:
        lines += size_table(result)
    lines.append(f"<!-- end {key} -->")
    return "\n".join(lines) + "\n"


def write_results(path: Path, text: str, key: str) -> None:
    header = "# Benchmark results\n\nWritten by `benchmarks/run.py` (see README.md). Newest sections last.\n\n"
    current = path.read_text() if path.exists() else header
    begin, end = f"<!-- begin {key} -->", f"<!-- end {key} -->"
    if begin in current and end in current:
        before, rest = current.split(begin, 1)
        current = before + text.rstrip("\n") + rest.split(end, 1)[1]
    else:
        current = current.rstrip("\n") + "\n\n" + text
    path.write_text(current)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["1M", "10M", "50M"])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--tools", nargs="+", choices=TOOLS, default=list(TOOLS))
    parser.add_argument("--data-dir", type=Path, default=HERE / "data")
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--no-write", action="store_true", help="print the section instead of writing RESULTS.md")
    args = parser.parse_args()
    tools = tuple(tool for tool in TOOLS if tool in args.tools)
    results = [run_size(size, args.data_dir, args.repeat, tools) for size in args.sizes]
    text = section(results, args.repeat)
    if args.no_write:
        print(text)
    else:
        write_results(args.results, text, " ".join(args.sizes))
        print(f"wrote {args.results}", file=sys.stderr)


if __name__ == "__main__":
    main()
