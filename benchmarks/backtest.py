"""`healthsync backtest` against one `healthsync score` on the same data (issue 20, item 8).

    python benchmarks/backtest.py --size 10M --repeat 3

12 snapshots over the benchmark data set (`generate.py`: 91 days ending 2025-08-13, `churned_at` on churned accounts):
`--from 2025-06-13 --every 4d --horizon 14d` (the first snapshot one 30-day window after the first event, the last
one 14 days before the end of the data). The grouped event pass (`connector/sources/snapshot_pass.py`) reads the
events within reach of the snapshots once, as rows per account, user and day (here every event before the last
snapshot, as for 12 monthly snapshots over a year), and sums each snapshot's windows over them: this stands for 12
monthly snapshots over a year of the same 10M events. The two commands run in turn (score, backtest, score, ...),
each a subprocess timed end to end (wall, peak RSS from os.wait4); the ratio is taken pair by pair.
Target: backtest <= 3x score. Writes the `backtest <size>` section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from a checkout

from benchmarks.run import GIB, HERE, PYTHON, ensure_data, machine, measure, warm_cache, write_results

TARGET = 3.0
SNAPSHOTS = ["--from", "2025-06-13", "--every", "4d", "--horizon", "14d", "--outcome", "churn"]


def commands(config: Path, out: Path) -> dict[str, list[str]]:
    base = [PYTHON, "-m", "healthsync", "--log-format", "json"]
    return {
        "score": [*base, "score", "--config", str(config), "--format", "parquet", "--output", str(out / "s.parquet")],
        "backtest": [*base, "backtest", "--config", str(config), *SNAPSHOTS, "--format", "json", "-o",
                     str(out / "b.json")],
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="10M")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=HERE / "data")
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    folder = args.data_dir / args.size
    ensure_data(args.size, folder)
    warm_cache(folder)
    runs: dict[str, list] = {"score": [], "backtest": []}
    with tempfile.TemporaryDirectory() as tmp:
        argv = commands(folder / "healthsync.yaml", Path(tmp))
        for _ in range(args.repeat):
            for tool in ("score", "backtest"):
                result = measure("other", argv[tool])
                if result.returncode:
                    sys.exit(f"{tool} failed: {result.error}")
                runs[tool].append(result)
    ratios = [b.wall / s.wall for s, b in zip(runs["score"], runs["backtest"], strict=True)]
    key = f"backtest {args.size}"
    lines = [f"<!-- begin {key} -->", f"## Backtest {args.size}: 12 snapshots vs one score", ""]
    lines += [f"- {name}: {value}" for name, value in machine()]
    lines += [
        f"- method: {args.repeat} pairs, score then backtest, each a subprocess end to end; `{' '.join(SNAPSHOTS)}`",
        "",
    ]
    lines += ["| command | wall runs (s) | median | peak RSS | load at starts |", "|---|---|---:|---:|---|"]
    for tool, found in runs.items():
        walls = ", ".join(f"{m.wall:.2f}" for m in found)
        loads = ", ".join(f"{m.load:.1f}" for m in found)
        peak = max(m.peak_rss for m in found) / GIB
        lines.append(
            f"| {tool} | {walls} | {statistics.median(m.wall for m in found):.2f} s | {peak:.2f} GiB | {loads} |"
        )
    median = statistics.median(ratios)
    verdict = "ok" if median <= TARGET else "missed"
    pairs = ", ".join(f"{ratio:.2f}x" for ratio in ratios)
    summary = (
        f"Ratio backtest / score, pair by pair: {pairs}; median {median:.2f}x (target <= {TARGET:.0f}x: {verdict})."
    )
    lines += ["", summary, f"<!-- end {key} -->"]
    write_results(args.results, "\n".join(lines) + "\n", key)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
