"""`healthsync demo` as the README runs it: product, sandboxes, two syncs under the real rate limits."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx
import pytest

from healthsync.connector.hubspot.models import check_exchange
from tests.world import healthsync


def test_demo_scores_writes_then_resends_nothing(tmp_path: Path) -> None:
    result = healthsync("demo", "--dir", str(tmp_path / "demo"), "--accounts", "60", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert re.search(r"demo product: 60 accounts, \d+ users, \d+ events", out)
    assert "health_score" in out
    assert "health_tier" in out
    hubspot = re.search(r"^hubspot: (.*)$", out, flags=re.M)
    intercom = re.search(r"^intercom: (.*)$", out, flags=re.M)
    assert hubspot is not None
    assert intercom is not None
    assert re.search(r"updated \d+", hubspot.group(1))
    assert re.search(r"tasks_created \d+", hubspot.group(1))
    assert re.search(r"tagged \d+", intercom.group(1))
    # the client-side limiters kept both under the sandboxes' real limits: nothing had to be retried
    assert "retried" not in hubspot.group(1) + intercom.group(1)
    assert "ambiguous: acc_0001" in out
    assert "write calls in the second run: 0 (nothing re-sent)" in out
    slack = re.search(r"^slack: (.*)$", out, flags=re.M)  # the demo shows the alerts it posted, once
    assert slack is not None
    assert re.search(r"alerts_sent \d+", slack.group(1))
    assert re.search(r"^  slack: Customer health alerts \(\d+\)$", out, flags=re.M)
    assert (tmp_path / "demo" / "product.duckdb").is_file()
    history = re.search(r"^history: (\S+) to (\S+), (\d+) accounts churned, (\d+) expansions$", out, flags=re.M)
    assert history is not None
    assert int(history.group(3)) > 0  # the product's churn dates are in its accounts table
    with duckdb.connect(str(tmp_path / "demo" / "product.duckdb"), read_only=True) as con:
        churned = con.execute("SELECT count(*) FROM accounts WHERE churned_at IS NOT NULL").fetchone()
        expansions = con.execute("SELECT count(*) FROM outcomes").fetchone()
    assert churned == (int(history.group(3)),)
    assert expansions == (int(history.group(4)),)
    backtest = re.search(r"^churn: (\d+) pairs, base rate \d+%, AUC (0\.\d+) \(95% CI", out, flags=re.M)
    assert backtest is not None, out[-2000:]
    assert int(backtest.group(1)) > 0
    assert re.search(r"rate by tier: healthy \d+%, neutral \d+%, at_risk \d+%", out)
    result = json.loads((tmp_path / "demo" / "backtest.json").read_text())
    assert result["outcomes"]["churn"]["auc"] == pytest.approx(float(backtest.group(2)), abs=0.005)
    report = (tmp_path / "demo" / "backtest.html").read_text()
    assert "<svg" in report
    assert "ROC" in report


def test_keep_running_leaves_the_sandboxes_up_to_inspect(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "healthsync",
        "demo",
        "--dir",
        str(tmp_path),
        "--accounts",
        "30",
        "--keep-running",
    ]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=tmp_path) as demo:
        try:
            assert demo.stdout is not None
            hubspot = None
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                line = demo.stdout.readline()
                found = re.search(r"HubSpot (http://\S+),", line)
                hubspot = found.group(1) if found else hubspot
                if "sandboxes keep running" in line or not line:
                    break
            assert hubspot is not None
            state = httpx.get(f"{hubspot}/_sandbox/state", timeout=10).json()
            assert any("healthsync_health_score" in c["properties"] for c in state["companies"])
            assert state["legacy_requests"] == 0, "the demo (seed and both runs) sent a /crm/v3 or /crm/v4 request"
            for entry in httpx.get(f"{hubspot}/_sandbox/requests", timeout=10).json():
                check_exchange(entry["method"], entry["path"], entry["status"], entry["body"], entry["response"])
        finally:
            demo.send_signal(signal.SIGTERM)
            demo.wait(timeout=20)
    assert demo.returncode == 0
