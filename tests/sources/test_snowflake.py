"""The Snowflake suite (tests/sources/snowflake/, fakesnow) runs in its own virtualenv with the one pinned set that
works today (SQLAlchemy 2.0, snowflake-sqlalchemy 1.11, snowflake-connector-python 4.8, fakesnow 0.12; see
constraints-snowflake.txt): `make snowflake-venv` builds it in .venv-snowflake, `.ci/run` does so in CI. This test
runs that suite from the main one, so `make check` covers it; without the venv it skips (in CI it fails)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.paths import ROOT
from tests.pinned import run_pinned_suite

PYTHON = Path(os.environ.get("HEALTHSYNC_SNOWFLAKE_PYTHON", ROOT / ".venv-snowflake" / "bin" / "python"))


@pytest.mark.slow
def test_the_snowflake_suite_passes_in_its_pinned_venv() -> None:
    run_pinned_suite(PYTHON, "tests/sources/snowflake", "snowflake-venv", at_least=5, timeout=600)
