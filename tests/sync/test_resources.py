"""A run's recorded peak memory is its own (issue 25, item 3): not the size of the process that started it."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="Linux /proc only")
REPORT = "import json; from healthsync.connector.engine import resources; print(json.dumps(resources(2048)))"


def test_the_peak_of_a_run_started_by_a_large_process_is_the_runs_own() -> None:
    ballast = b"\x01" * (600 * 1024**2)  # resident in this process when the run starts
    parent = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = subprocess.run([sys.executable, "-c", REPORT], capture_output=True, text=True, check=True, timeout=120)
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the kernel's figure, carried over
    peak = json.loads(out.stdout)["peak_rss_mib"]
    assert len(ballast) == 600 * 1024**2  # held until the run has ended
    assert parent >= 600
    assert child >= 600  # what ru_maxrss says of the child: the parent's size, not the child's
    assert 20 < peak < 400  # an interpreter with pandas and the SDKs imported, far from the parent's 600 MiB
