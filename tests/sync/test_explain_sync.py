"""The explanation reaches the CRM ("Health: why" in HubSpot, `healthsync_why` in Intercom), expansion tasks escalate
above the MRR threshold, and every run lands in the score history (`healthsync history`, `score --previous`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from healthsync.connector.engine import Engine
from healthsync.connector.settings import load_settings
from healthsync.sandbox.base import SandboxServer
from healthsync.sandbox.seed import SeedPlan, seed_hubspot, seed_intercom
from healthsync.sandbox.slack import SlackSandbox
from tests.scoring.test_explain import AS_OF, crafted_book
from tests.world import TOKENS, control, healthsync

REASONS = "45% calls (10 x 5), 31% meetings (5 x 7), 24% leads (3 x 9)"


def _book(root: Path, hubspot: SandboxServer, intercom: SandboxServer) -> Path:
    destinations = {
        name: {"enabled": True, "base_url": server.base_url, "requests_per_10s": 100_000, "max_retry_seconds": 30}
        for name, server in (("hubspot", hubspot), ("intercom", intercom))
    }
    config = crafted_book(root, {"destinations": destinations})
    for server in (hubspot, intercom):
        control(server, "PUT", "limits", {"requests_per_window": 100_000, "window_seconds": 10})
    control(hubspot, "PUT", "limits", {"search_index_lag_seconds": 0, "search_requests_per_second": 1000})
    accounts, users = pd.read_csv(root / "accounts.csv"), pd.read_csv(root / "users.csv")
    plan = SeedPlan(missing_every=0, other_domain_every=0, ambiguous=0, contacts_every=0, intercom_missing_every=0)
    seed_intercom(intercom.base_url, accounts, plan, seed_hubspot(hubspot.base_url, accounts, users, plan))
    return config


def _run(config: Path) -> Any:
    return Engine(load_settings(config), secrets=TOKENS, sleep=lambda _s: None, now=AS_OF).run()


def test_the_explanation_reaches_hubspot_and_intercom_and_expansion_escalates(
    tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer
) -> None:
    summary = _run(_book(tmp_path, hubspot, intercom))
    assert summary.exit_code == 0
    companies = {c["properties"]["healthsync_account_id"]: c for c in control(hubspot, "GET", "state")["companies"]}
    why = companies["seed"]["properties"]["healthsync_health_why"]
    assert why == f"100: {REASONS}"
    props = {p["name"]: p for p in control(hubspot, "GET", "state")["properties"]["companies"]}
    assert (props["healthsync_health_why"]["label"], props["healthsync_health_why"]["fieldType"]) == (
        "Health: why",
        "textarea",
    )
    ic = {c["company_id"]: c for c in control(intercom, "GET", "state")["companies"]}
    assert ic["seed"]["custom_attributes"]["healthsync_why"] == f"100: {REASONS}"
    tasks = control(hubspot, "GET", "state")["tasks"]
    expansion = {t["properties"]["hs_task_subject"]: t["properties"]["hs_task_priority"] for t in tasks}
    assert expansion["Expansion: Seed is near its seat limit"] == "HIGH"  # MRR 9000 >= 5000
    assert expansion["Expansion: Roles is near its seat limit"] == "MEDIUM"  # MRR 100


def test_history_shows_three_runs_with_scores_and_tiers(tmp_path: Path) -> None:
    config = crafted_book(tmp_path)
    data = yaml.safe_load(config.read_text())
    data["destinations"] = {"slack": {"enabled": True}}
    config.write_text(yaml.safe_dump(data))
    slack = SandboxServer(SlackSandbox()).start()
    env = {"SLACK_WEBHOOK_URL": slack.base_url + slack.sandbox.default_webhook.url_path}  # type: ignore[attr-defined]
    events = (tmp_path / "events.csv").read_text().splitlines()
    for run in range(3):
        if run == 2:  # the seed account keeps one lead of its events
            lead = next(line for line in events if line.startswith("seed,") and "lead_created" in line)
            kept = [line for line in events if not line.startswith("seed,")] + [lead]
            (tmp_path / "events.csv").write_text("\n".join(kept) + "\n")
        done = healthsync("run", "--config", str(config), env=env)
        assert done.returncode == 0, done.stderr
    slack.stop()
    shown = healthsync("--log-format", "text", "history", "seed", "--config", str(config))
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert len(lines) == 3
    assert [line.split()[1] for line in lines] == ["3", "2", "1"]  # run ids, newest first
    assert "score 100 " in lines[1]
    assert "tier healthy" in lines[1]
    assert "score 100 " in lines[2]
    assert "tier healthy" not in lines[0]
    previous = healthsync("score", "--config", str(config), "--format", "json", "--previous")
    assert previous.returncode == 0, previous.stderr
    rows = {row["account_id"]: row for row in json.loads(previous.stdout)}
    assert rows["seed"]["last_run_score"] == int(lines[0].split()[5])
    missing = healthsync("history", "nobody", "--config", str(config))
    assert missing.returncode == 2
    assert "no score history" in missing.stderr
