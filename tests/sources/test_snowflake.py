"""The Snowflake suite (tests/sources/snowflake/, fakesnow) runs in its own virtualenv with the one pinned set that
works today (SQLAlchemy 2.0, snowflake-sqlalchemy 1.11, snowflake-connector-python 4.8, fakesnow 0.12; see
constraints-snowflake.txt): `make snowflake-venv` builds it in .venv-snowflake, `.ci/run` does so in CI. This test
runs that suite from the main one, so `make check` covers it; without the venv it skips (in CI it fails)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.paths import ROOT

PYTHON = Path(os.environ.get("HEALTHSYNC_SNOWFLAKE_PYTHON", ROOT / ".venv-snowflake" / "bin" / "python"))


@pytest.mark.slow
def test_the_snowflake_suite_passes_in_its_pinned_venv() -> None:
    if not PYTHON.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{PYTHON} is missing: .ci/run builds it (make snowflake-venv)")
        pytest.skip(f"no Snowflake venv at {PYTHON}: build it with `make snowflake-venv`")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [str(PYTHON), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/sources/snowflake"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-2000:]
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    passed = re.search(r"(\d+) passed", summary)
    assert passed is not None, summary
    assert int(passed.group(1)) >= 5, summary
    assert "skipped" not in summary, summary
    assert "failed" not in summary, summary
