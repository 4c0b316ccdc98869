"""Start-up stays light: `--help`, `validate` and `init` load neither pandas, DuckDB nor an SDK (issue 14).

Each command runs in a fresh interpreter through the real entry point (`python -m healthsync`); the modules it
loaded are read from `sys.modules` when the interpreter exits. Timing lives in `benchmarks/` (`benchmarks/startup.py`),
not here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import EXAMPLES

HEAVY = {"pandas", "numpy", "duckdb", "pyarrow", "hubspot", "intercom", "slack_sdk", "httpx"}
# What `--help` must not load either: the settings machinery is only needed once a command runs.
SETTINGS = {"pydantic", "pydantic_settings", "sqlalchemy", "yaml"}


def _loaded(tmp_path: Path, *args: str) -> set[str]:
    record = tmp_path / "modules.json"
    probe = (
        "import atexit, json, runpy, sys\n"
        f"record = {str(record)!r}\n"
        "def dump():\n"
        "    with open(record, 'w') as out:\n"
        "        json.dump(sorted({name.split('.')[0] for name in sys.modules}), out)\n"
        "atexit.register(dump)\n"
        f"sys.argv = ['healthsync', *{list(args)!r}]\n"
        "runpy.run_module('healthsync', run_name='__main__')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "HEALTHSYNC_LOG_FORMAT": "json"},
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return set(json.loads(record.read_text()))


@pytest.mark.parametrize("args", [["--help"], ["score", "--help"], ["--version"]])
def test_help_loads_no_settings_machinery_and_no_data_library(tmp_path: Path, args: list[str]) -> None:
    loaded = _loaded(tmp_path, *args)
    assert not loaded & (HEAVY | SETTINGS), sorted(loaded & (HEAVY | SETTINGS))


def test_validate_loads_no_data_library_and_no_sdk(tmp_path: Path) -> None:
    loaded = _loaded(tmp_path, "validate", "--config", str(EXAMPLES / "healthsync.yaml"))
    assert "pydantic" in loaded  # it did validate
    assert not loaded & HEAVY, sorted(loaded & HEAVY)


def test_init_loads_no_data_library_and_no_sdk(tmp_path: Path) -> None:
    loaded = _loaded(tmp_path, "init")
    assert (tmp_path / "healthsync.yaml").is_file()
    assert not loaded & HEAVY, sorted(loaded & HEAVY)
