"""Start-up and small runs: `healthsync --help`, `validate`, `score` on 10,000 events, against the import floor.

    python benchmarks/startup.py [--repeat 7] [--no-write]

Every command is a subprocess run end to end (the checkout's code, as in `run.py`); the commands run in turn,
round after round, so that each round meets the same machine. The table gives the best and the median wall time of
each. Two reference rows say what no code of healthsync's can go below: `python -c pass` (the interpreter) and
`import pandas, sqlalchemy, pydantic_settings, duckdb, duckdb_engine` (the libraries SPEC.md names for scoring,
the pushdown, the settings and the files source: the import floor of any `score`). Targets (issue 14):
`--help` under 0.25 s, `score` on 10,000 events over 10,000 accounts under 1.0 s. The section is written to
RESULTS.md between `<!-- begin startup -->` and `<!-- end startup -->`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from run import HERE, PYTHON, command, ensure_data, machine, measure, write_results

TARGETS = {"healthsync --help": 0.25, "healthsync score (10k events)": 1.0}
FLOOR = "import pandas, sqlalchemy, pydantic_settings, duckdb, duckdb_engine"


def commands(config: Path, output: Path) -> dict[str, list[str]]:
    healthsync = [PYTHON, "-m", "healthsync"]
    return {
        "python -c pass": [PYTHON, "-c", "pass"],
        "healthsync --help": [*healthsync, "--help"],
        "healthsync validate": [*healthsync, "validate", "--config", str(config)],
        f"python -c '{FLOOR}'": [PYTHON, "-c", FLOOR],
        "healthsync score (10k events)": command("healthsync", config, output),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--data-dir", type=Path, default=HERE / "data")
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    folder = args.data_dir / "10k"
    ensure_data("10k", folder)
    argvs = commands(folder / "healthsync.yaml", folder / "startup-out.parquet")
    walls: dict[str, list[float]] = {name: [] for name in argvs}
    loads: list[float] = []
    for _ in range(args.repeat):
        for name, argv in argvs.items():
            done = measure("startup", argv)
            if done.returncode:
                raise SystemExit(f"{name}: exit {done.returncode}: {done.error}")
            walls[name].append(done.wall)
            loads.append(done.load)
    lines = ["<!-- begin startup -->", "## Start-up and small runs", ""]
    lines += [f"- {name}: {value}" for name, value in machine()]
    lines += [
        f"- method: each command a subprocess running this checkout's code, end to end; {args.repeat} "
        f"rounds of all commands in turn; 1-minute load average at the starts {min(loads):.1f} to {max(loads):.1f}",
        "",
        "| command | wall (best) | median | target |",
        "|---|---:|---:|---|",
    ]
    for name, values in walls.items():
        target = TARGETS.get(name)
        verdict = "" if target is None else f"< {target} s: {'met' if min(values) < target else 'missed'}"
        lines.append(f"| `{name}` | {min(values):.3f} s | {statistics.median(values):.3f} s | {verdict} |")
    text = "\n".join([*lines, "<!-- end startup -->"]) + "\n"
    if args.no_write:
        print(text)
    else:
        write_results(args.results, text, "startup")
        print(f"wrote {args.results}", file=sys.stderr)


if __name__ == "__main__":
    main()
