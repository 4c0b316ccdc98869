"""The engine suites (tests/sources/engines/: ClickHouse on chDB, Databricks SQL on Spark) run in their own
virtualenv, .venv-engines, with the pins of constraints-engines.txt: chdb-core (555 MB) and pyspark (450 MB) are too
heavy for the main venv. `make engines-venv`
builds it (`make test` does when it is missing or its pins changed). This test runs that suite from the main one,
so `make check` covers it; without the venv it skips (in CI it fails)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.paths import ROOT

PYTHON = Path(os.environ.get("HEALTHSYNC_ENGINES_PYTHON", ROOT / ".venv-engines" / "bin" / "python"))


@pytest.mark.slow
def test_the_engine_suites_pass_in_their_pinned_venv() -> None:
    if not PYTHON.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{PYTHON} is missing: .ci/run builds it (make engines-venv)")
        pytest.skip(f"no engines venv at {PYTHON}: build it with `make engines-venv`")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [str(PYTHON), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/sources/engines"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-2000:]
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    passed = re.search(r"(\d+) passed", summary)
    assert passed is not None, summary
    assert int(passed.group(1)) >= 8, summary
    assert "skipped" not in summary, summary
    assert "failed" not in summary, summary
