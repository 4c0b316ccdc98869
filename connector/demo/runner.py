"""`healthsync demo`: the whole loop on a laptop, offline, with no account anywhere.

Generates the demo product into an embedded DuckDB file, starts the sandboxes (HubSpot, Intercom, a Slack
webhook), seeds them as a real CRM would look (some domains differ, one is ambiguous, a few companies are
missing), syncs, prints the score table, what was written and the Slack alerts it posted (the first run alerts on
the book as it is, `--alert-baseline`), then syncs again to show that nothing is re-sent.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import yaml
from pydantic import SecretStr
from rich.console import Console

from healthsync.connector.demo.data import PERSONAS as DEMO_PERSONAS
from healthsync.connector.demo.data import SHARES as DEMO_SHARES
from healthsync.connector.demo.data import DemoData, write_duckdb
from healthsync.connector.demo.history import generate_history
from healthsync.connector.engine import Engine, RunSummary
from healthsync.connector.output import write_frame
from healthsync.connector.settings import Secrets, load_settings

if TYPE_CHECKING:  # the emulators load when the demo runs, not when the CLI starts (docs/architecture.md)
    from healthsync.sandbox.base import SandboxServer

DEMO_TOKEN = "demo-token"
SHOWN_COLUMNS = [
    "account_id",
    "name",
    "health_score",
    "health_tier",
    "trend",
    "active_users",
    "total_users",
    "usage_frequency_pct",
    "activation_pct",
    "days_since_active",
]
DEMO_SCORING: dict[str, Any] = {
    "window_days": 30,
    "weights": {"lead_created": 9, "meeting_scheduled": 7, "call_logged": 5, "sequence_created": 3, "lead_enrolled": 1},
    "features": {
        "sequences": ["sequence_created", "lead_enrolled"],
        "prospecting": ["lead_created"],
        "meetings": ["meeting_scheduled"],
        "calling": ["call_logged"],
        "reporting": ["report_viewed"],
    },
    "activation_steps": [
        {"event": "sequence_created"},
        {"event": "lead_enrolled", "min_count": 20},
        {"event": "meeting_scheduled"},
        {"event": "report_viewed"},
    ],
    "personas": DEMO_PERSONAS,
    "shares": DEMO_SHARES,
}


@dataclass
class DemoOptions:
    directory: Path
    accounts: int = 200
    seed: int = 7
    host: str = "127.0.0.1"
    hubspot_port: int = 0
    intercom_port: int = 0
    keep_running: bool = False


def _source() -> dict[str, Any]:
    """The demo's source: its DuckDB file; the accounts' churn dates are in the default column `churned_at`."""
    source = {
        "kind": "sql",
        "url": "duckdb:///product.duckdb",
        "events": "events",
        "accounts": "accounts",
        "users": "users",
    }
    source["outcomes"] = "outcomes"  # the expansions, for `healthsync backtest`
    return source


def _write_config(options: DemoOptions, hub: SandboxServer, intercom: SandboxServer, as_of: datetime) -> Path:
    config = {
        "source": _source(),
        "scoring": {"as_of": as_of.isoformat(), **DEMO_SCORING},
        "state": {"url": "sqlite:///state.db"},
        "destinations": {
            "hubspot": {"enabled": True, "mapping": "hubspot", "base_url": hub.base_url},
            "intercom": {"enabled": True, "mapping": "intercom", "base_url": intercom.base_url},
            "slack": {"enabled": True, "mapping": "slack", "messages_per_minute": 600},
        },
    }
    path = options.directory / "healthsync.yaml"
    path.write_text("# written by `healthsync demo`\n" + yaml.safe_dump(config, sort_keys=False))
    return path


def _history_line(data: DemoData) -> str:
    churned = int(data.accounts["churned_at"].notna().sum())
    expansions = 0 if data.outcomes is None else len(data.outcomes)
    first, last = data.events["timestamp"].min(), data.events["timestamp"].max()
    return f"history: {first:%Y-%m-%d} to {last:%Y-%m-%d}, {churned} accounts churned, {expansions} expansions"


def _writes(server: SandboxServer, since: int) -> list[dict[str, Any]]:
    log = httpx.get(f"{server.base_url}/_sandbox/requests", timeout=10).json()
    return [entry for entry in log[since:] if entry["write"]]


def _log_size(server: SandboxServer) -> int:
    return len(httpx.get(f"{server.base_url}/_sandbox/requests", timeout=10).json())


def _report(console: Console, summary: RunSummary) -> None:
    for name, plan in summary.plans.items():
        counts = summary.counts[name].as_dict()
        done = ", ".join(f"{key} {value}" for key, value in counts.items() if value)
        console.print(f"[bold]{name}[/bold]: {done}")
        for item in plan.provisioning:
            console.print(f"  provisioned {item}")
        kinds = plan.kinds()
        console.print("  " + ", ".join(f"{obj} {action}: {n}" for (obj, action), n in sorted(kinds.items())))
        if plan.tags:
            console.print("  tags: " + ", ".join(f"{t.tag} +{len(t.add)} -{len(t.remove)}" for t in plan.tags))
        for record in plan.records:
            if record.object_type == "companies" and record.action in ("ambiguous", "unmatched"):
                console.print(f"  {record.action}: {record.key} ({record.note})")


def _alerts(console: Console, slack: SandboxServer) -> None:
    """The Slack messages the run posted, as the channel shows them."""
    messages = httpx.get(f"{slack.base_url}/_sandbox/state", timeout=10).json()["messages"]
    for message in messages:
        for block in message.get("blocks") or []:
            if block["type"] in ("header", "section"):
                console.print(f"  slack: {block['text']['text']}", markup=False, highlight=False)


def _start_sandboxes(options: DemoOptions) -> tuple[SandboxServer, SandboxServer, SandboxServer, str]:
    """The three emulators, serving, and the Slack webhook URL; imported here, so that loading the CLI never
    loads them."""
    from healthsync.sandbox.base import SandboxServer
    from healthsync.sandbox.hubspot import HubSpotSandbox
    from healthsync.sandbox.intercom import IntercomSandbox
    from healthsync.sandbox.slack import SlackSandbox

    hub = SandboxServer(HubSpotSandbox(seed=options.seed), options.host, options.hubspot_port).start()
    intercom = SandboxServer(IntercomSandbox(seed=options.seed), options.host, options.intercom_port).start()
    slack_box = SlackSandbox(seed=options.seed)
    slack = SandboxServer(slack_box, options.host, 0).start()
    return hub, intercom, slack, slack.base_url + slack_box.default_webhook.url_path


def run_demo(options: DemoOptions, console: Console | None = None) -> int:
    """Run the demo; returns the exit code of the second (idempotent) run."""
    console = console or Console(width=None if sys.stdout.isatty() else 160)
    options.directory.mkdir(parents=True, exist_ok=True)
    (options.directory / "state.db").unlink(missing_ok=True)
    as_of = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    data = generate_history(options.accounts, as_of=as_of, seed=options.seed)
    write_duckdb(data, options.directory / "product.duckdb")
    console.print(f"demo product: {len(data.accounts)} accounts, {len(data.users)} users, {len(data.events)} events")
    console.print(_history_line(data))
    hub, intercom, slack, webhook = _start_sandboxes(options)
    try:
        console.print(f"sandboxes: HubSpot {hub.base_url}, Intercom {intercom.base_url}, Slack {slack.base_url}")
        _seed(hub, intercom, data)
        config = _write_config(options, hub, intercom, as_of)
        settings = load_settings(config)
        settings.state.url = (
            f"sqlite:///{(options.directory / 'state.db').resolve()}"  # the demo's own, whatever the env says
        )
        secrets = Secrets(
            hubspot_access_token=SecretStr(DEMO_TOKEN),
            intercom_access_token=SecretStr(DEMO_TOKEN),
            slack_webhook_url=SecretStr(webhook),
        )
        console.rule("first run")
        first = _engine_run(settings, secrets, console, alert_baseline=True)
        assert first.scores is not None
        table = first.scores.accounts.sort_values("health_score", ascending=False)[SHOWN_COLUMNS]
        write_frame(table.head(15), "table", None, console)
        tiers = first.scores.accounts["health_tier"].value_counts().to_dict()
        console.print(f"{len(table)} accounts scored: " + ", ".join(f"{k} {v}" for k, v in sorted(tiers.items())))
        _report(console, first)
        _alerts(console, slack)
        console.rule("second run (unchanged input)")
        before = (_log_size(hub), _log_size(intercom), _log_size(slack))
        second = _engine_run(settings, secrets, console)
        resent = len(_writes(hub, before[0])) + len(_writes(intercom, before[1])) + len(_writes(slack, before[2]))
        console.print(
            f"write calls in the second run: {resent} (nothing re-sent)" if not resent else f"write calls: {resent}"
        )
        _backtest(console, settings, options.directory)
        console.print(f"config, product data, state and the backtest report are in {options.directory}")
        if options.keep_running:
            console.print("sandboxes keep running; inspect GET /_sandbox/state; Ctrl-C to stop")
            console.file.flush()
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            with contextlib.suppress(KeyboardInterrupt):
                stop.wait()
        return second.exit_code
    finally:
        hub.stop()
        intercom.stop()
        slack.stop()


def _backtest(console: Console, settings: Any, directory: Path) -> None:
    """Would the score have warned? A short backtest of the demo's history, its JSON and (extra) HTML report."""
    import importlib.util
    import json

    from healthsync.connector.backtest import BacktestRequest, run_backtest

    console.rule("backtest: the score replayed on 12 monthly snapshots against what followed (90 days)")
    result, _ = run_backtest(settings, BacktestRequest())
    (directory / "backtest.json").write_text(json.dumps(result, indent=2, allow_nan=False) + "\n")
    for outcome, metrics in result["outcomes"].items():
        interval = metrics["auc_ci"] or [float("nan"), float("nan")]
        auc = "-" if metrics["auc"] is None else f"{metrics['auc']:.2f} (95% CI {interval[0]:.2f}-{interval[1]:.2f})"
        rates = ", ".join(
            f"{tier} {row['rate']:.0%}" for tier, row in metrics["by_tier"].items() if row["rate"] is not None
        )
        console.print(
            f"{outcome}: {metrics['pairs']} pairs, base rate {metrics['base_rate']:.0%}, AUC {auc}; rate by tier: "
            f"{rates}"
        )
        suggested = metrics["suggested"]
        if suggested is not None:
            console.print(
                f"  suggested weights: held-out AUC {suggested['holdout_auc']:.2f} vs "
                f"{suggested['configured_holdout_auc']:.2f} configured (healthsync backtest prints them)"
            )
        else:
            console.print(f"  no suggestion: {metrics['suggestion_note']}")
    if importlib.util.find_spec("matplotlib") is None:
        console.print("the HTML report and suggested weights need: pip install 'healthsync[backtest]'")
        return
    from healthsync.connector.backtest.report import render_html

    (directory / "backtest.html").write_text(render_html(result), encoding="utf-8")
    console.print(f"backtest report: {directory / 'backtest.html'}")


def _seed(hub: SandboxServer, intercom: SandboxServer, data: DemoData) -> None:
    """Seed the CRM as it would have been for a while: visible to search at once, then the real index lag."""
    limits = f"{hub.base_url}/_sandbox/limits"
    busy = {"requests_per_window": 100_000, "window_seconds": 10}
    httpx.put(limits, json={**busy, "search_index_lag_seconds": 0}, timeout=10).raise_for_status()
    httpx.put(f"{intercom.base_url}/_sandbox/limits", json=busy, timeout=10).raise_for_status()
    from healthsync.sandbox.seed import SeedPlan, seed_hubspot, seed_intercom

    plan = SeedPlan()
    seed_intercom(intercom.base_url, data.accounts, plan, seed_hubspot(hub.base_url, data.accounts, data.users, plan))
    real = {"requests_per_window": 100, "window_seconds": 10, "search_index_lag_seconds": 2}
    httpx.put(limits, json=real, timeout=10).raise_for_status()
    httpx.put(
        f"{intercom.base_url}/_sandbox/limits", json={"requests_per_window": 166, "window_seconds": 10}, timeout=10
    )


def _engine_run(settings: Any, secrets: Secrets, console: Console, *, alert_baseline: bool = False) -> RunSummary:
    from rich.progress import Progress

    with Progress(console=console, transient=True) as progress:
        tasks: dict[str, Any] = {}

        def advance(label: str, total: int, step: int) -> None:
            if label not in tasks:
                tasks[label] = progress.add_task(label, total=total)
            progress.update(tasks[label], advance=step)

        return Engine(settings, secrets=secrets, progress=advance).run(alert_baseline=alert_baseline)
