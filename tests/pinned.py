"""A suite that runs in its own pinned virtualenv (Snowflake's fakesnow, the ClickHouse and Spark engines), run from
the main suite so that `make check` covers it: skipped without the venv, failed in CI (which builds every venv)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.paths import ROOT


def run_pinned_suite(python: Path, suite: str, make_target: str, *, at_least: int, timeout: int) -> None:
    """Run `suite` (a tests/ folder) with `python`; every test passes, none is skipped, at least `at_least` ran."""
    if not python.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{python} is missing: .ci/run builds it (make {make_target})")
        pytest.skip(f"no venv at {python}: build it with `make {make_target}`")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", suite]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-2000:]
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    passed = re.search(r"(\d+) passed", summary)
    assert passed is not None, summary
    assert int(passed.group(1)) >= at_least, summary
    assert "skipped" not in summary, summary
    assert "failed" not in summary, summary
