"""The engine suites (tests/sources/engines/: ClickHouse on chDB, Databricks SQL on Spark) run in their own
virtualenv, .venv-engines, with the pins of constraints-engines.txt: chdb-core (555 MB) and pyspark (450 MB) are too
heavy for the main venv. `make engines-venv`
builds it (`make test` does when it is missing or its pins changed). This test runs that suite from the main one,
so `make check` covers it; without the venv it skips (in CI it fails)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.paths import ROOT
from tests.pinned import run_pinned_suite

PYTHON = Path(os.environ.get("HEALTHSYNC_ENGINES_PYTHON", ROOT / ".venv-engines" / "bin" / "python"))


@pytest.mark.slow
def test_the_engine_suites_pass_in_their_pinned_venv() -> None:
    run_pinned_suite(PYTHON, "tests/sources/engines", "engines-venv", at_least=8, timeout=900)
