"""`healthsync demo` as the README runs it: product, sandboxes, two syncs under the real rate limits."""

from __future__ import annotations

import re
from pathlib import Path

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
    assert (tmp_path / "demo" / "product.duckdb").is_file()
