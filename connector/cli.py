"""The `healthsync` command line (SPEC section 6).

Importing this module loads neither pandas, DuckDB nor an SDK: every command imports what it needs when it runs,
so `healthsync --help`, `validate` and `init` start fast. Every line a command prints goes through the process's
:class:`~healthsync.connector.logs.LogContext` (text on a terminal, one JSON object per line otherwise; secrets
redacted).
"""

from __future__ import annotations

import contextlib
import gc
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from healthsync import __version__
from healthsync.connector.logs import LOG_FORMATS, LogContext, Redactor, detect_format, is_terminal, setup_logging
from healthsync.connector.output import FORMATS, default_format
from healthsync.errors import ConfigError, HealthsyncError, Interrupted

if TYPE_CHECKING:
    from healthsync.connector.engine import RunSummary, StopRequest
    from healthsync.connector.settings import Settings
    from healthsync.state import ScorePoint

CONFIG_OPTION = click.option(
    "--config",
    "-c",
    "config",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="YAML configuration file (default: $HEALTHSYNC_CONFIG, else ./healthsync.yaml).",
)


def load_settings(config: Path | None) -> Settings:
    """The validated configuration (pydantic and SQLAlchemy load here, not when `--help` runs)."""
    from healthsync.connector.settings import load_settings as load

    return load(config)


def _secret_values() -> list[str]:
    from healthsync.connector.settings import Secrets

    return Secrets.load().values()


def _context() -> LogContext:
    obj = click.get_current_context().find_root().obj
    return obj if isinstance(obj, LogContext) else LogContext()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="healthsync")
@click.option("--debug", is_flag=True, help="Verbose logs and full (redacted) tracebacks.")
@click.option(
    "--log-format",
    type=click.Choice(LOG_FORMATS),
    envvar="HEALTHSYNC_LOG_FORMAT",
    help="text (for people) or json (one object per line); default: text on a terminal, json otherwise.",
)
@click.pass_context
def cli(ctx: click.Context, debug: bool, log_format: str | None) -> None:
    """healthsync: product usage -> customer-health scores, plays and tasks in HubSpot and Intercom, alerts in Slack.

    The configuration is `--config FILE`, else $HEALTHSYNC_CONFIG, else ./healthsync.yaml.
    Shell completion: eval "$(_HEALTHSYNC_COMPLETE=bash_source healthsync)" (zsh_source, fish_source).
    """
    context = ctx.obj if isinstance(ctx.obj, LogContext) else LogContext()
    context.fmt, context.debug = detect_format(log_format), debug
    context.redactor = Redactor.deferred(_secret_values)
    ctx.obj = context
    setup_logging(context)


@cli.command()
@CONFIG_OPTION
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="Default: table on a terminal, csv when piped.")
@click.option("--users", is_flag=True, help="Print the per-user table instead of the per-account table.")
@click.option("--columns", help="Comma-separated score columns to show (default table: account, score, tier, ...).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE.")
@click.option(
    "--previous",
    is_flag=True,
    help="Add the last recorded run's values (last_run_score, last_run_tier, last_run_plays) from the state store.",
)
@click.option(
    "--explain",
    is_flag=True,
    help="After the read, print its plan to stderr: from when the events are read (scoring.lookback_days), each "
    "statement, whether it scans the events, its rows and seconds (and the statements that opened the source).",
)
def score(
    config: Path | None,
    fmt: str | None,
    users: bool,
    columns: str | None,
    output: Path | None,
    previous: bool,
    explain: bool,
) -> None:
    """Compute the health score table (one row per account, or per user with --users)."""
    import logging

    from healthsync.connector.output import write_frame
    from healthsync.connector.pipeline import compute_scores

    settings = load_settings(config)
    result = compute_scores(settings, with_users=users)
    for report in result.reports.values():
        report.log(logging.getLogger("healthsync"))
    if explain and result.plan is not None:
        click.echo("\n".join(result.plan.lines()), err=True)
    frame = result.users if users else result.accounts
    assert frame is not None
    if previous and not users:
        frame = _with_last_run(frame, settings)
    chosen = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    fmt = fmt or default_format(output, sys.stdout.isatty())
    write_frame(frame, fmt, output, kind="users" if users else "accounts", columns=chosen)


def _with_last_run(frame: Any, settings: Any) -> Any:
    """The account table with the newest recorded run's score, tier and plays per account (empty when none)."""
    from healthsync.state import StateStore

    with StateStore.open(settings.resolved_state_url()) as store:
        last = store.last_scores()
    ids = [str(key) for key in frame["account_id"]]
    return frame.assign(
        last_run_score=[last[key].health_score if key in last else None for key in ids],
        last_run_tier=[last[key].health_tier if key in last else None for key in ids],
        last_run_plays=[list(last[key].plays) if key in last else None for key in ids],
    )


def _days(value: str) -> int:
    text = value.strip().lower()
    unit = {"d": 1, "w": 7}.get(text[-1:], 0)
    if not unit or not text[:-1].isdigit() or int(text[:-1]) <= 0:
        raise click.BadParameter(f"{value!r}: expected a number of days or weeks such as 30d or 4w")
    return int(text[:-1]) * unit


def _instant(value: str | None, option: str) -> Any:
    from datetime import datetime

    from healthsync.scoring.config import as_utc

    if value is None:
        return None
    try:
        return as_utc(datetime.fromisoformat(value))  # Python 3.11 reads a trailing Z too
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: expected a date (2025-01-31) or an ISO timestamp", param_hint=option
        ) from None


@cli.command()
@CONFIG_OPTION
@click.option("--from", "start", help="First snapshot date (default: 12 monthly snapshots back from --to).")
@click.option("--to", "end", help="Last snapshot date bound (default and cap: the end of the data minus the horizon).")
@click.option("--every", default="30d", show_default=True, help="Days (or weeks, 4w) between snapshots.")
@click.option("--horizon", default="90d", show_default=True, help="How long after a snapshot an outcome counts.")
@click.option(
    "--outcome",
    "outcomes",
    multiple=True,
    type=click.Choice(["churn", "expansion"]),
    help="Outcome to test (repeatable; default: every one the source maps).",
)
@click.option("--format", "fmt", type=click.Choice(["table", "json", "html"]), default="table", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE.")
@click.option(
    "--pairs",
    "pairs_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write every (snapshot, account) pair, its score and outcomes, as CSV to FILE (to check the numbers).",
)
def backtest(
    config: Path | None,
    start: str | None,
    end: str | None,
    every: str,
    horizon: str,
    outcomes: tuple[str, ...],
    fmt: str,
    output: Path | None,
    pairs_file: Path | None,
) -> None:
    """Replay the score on history: how well did it warn of churn (or foresee expansion)?

    \b
    The score table is computed as of each snapshot (--from + k x --every, up to --to) from the events before it
    only, and joined to what followed within --horizon:
    - a pair (account, snapshot) counts when the account existed then (created_at <= snapshot, or none), had not
      churned (no churned_at, or one after the snapshot) and snapshot + horizon <= the end of the data (the
      latest event, or scoring.as_of when set);
    - churn: churned_at (source.columns.accounts.churned_at) within (snapshot, snapshot + horizon];
      expansion: an `expansion` row of source.outcomes within it;
    - at a snapshot, an account that churned later is live (status churned read as paying).
    Reports pairs, base rate, ROC AUC (95% bootstrap interval), rates and lift by tier and decile, coverage, plays,
    the AUC of total_users alone, and suggested weights and tiers (extra `backtest`), never applied.
    The snapshots are scored in forked processes, one per core up to 4 (HEALTHSYNC_BACKTEST_PROCESSES=N; Linux).
    Exit 2 when the outcome's data is not mapped.
    """
    import json

    from healthsync.connector.backtest import BacktestRequest, pairs_table, run_backtest

    settings = load_settings(config)
    request = BacktestRequest(
        start=_instant(start, "--from"),
        end=_instant(end, "--to"),
        every_days=_days(every),
        horizon_days=_days(horizon),
        outcomes=tuple(outcomes),  # type: ignore[arg-type]
    )
    result, replayed = run_backtest(settings, request)
    if pairs_file is not None:
        pairs_table(replayed).to_csv(pairs_file, index=False)
    if fmt == "json":
        text = json.dumps(result, indent=2, allow_nan=False) + "\n"
    elif fmt == "html":
        from healthsync.connector.backtest.report import render_html

        text = render_html(result)
    else:
        from healthsync.connector.backtest.text import render_text

        text = render_text(result)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"backtest report written to {output}", err=True)


@cli.command()
@CONFIG_OPTION
def validate(config: Path | None) -> None:
    """Check the configuration (and the mappings it names) without reading data or calling any API."""
    from healthsync.mappings.loader import load_mappings

    settings = load_settings(config)
    mappings = load_mappings(settings, every=True)
    say = _context().say
    scheme = settings.state.url.split(":", 1)[0]
    say(f"configuration OK: {settings.config_file} (source: {settings.source.kind}, state: {scheme})", event="valid")
    configs = settings.destinations.by_name()
    for name in mappings:
        enabled = "enabled" if configs[name].enabled else "disabled"
        say(f"mapping OK: {name} ({enabled}, {configs[name].mapping})", event="valid", destination=name)


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."))
@click.option("--force", is_flag=True, help="Overwrite files that exist.")
def init(directory: Path, force: bool) -> None:
    """Write a starter healthsync.yaml, its mappings and example data into DIRECTORY (default: here)."""
    from healthsync.connector.settings import config_json_schema
    from healthsync.connector.templates import starter_files

    files = starter_files(directory)
    files[directory / "healthsync.schema.json"] = (config_json_schema() + "\n").encode("utf-8")
    existing = [str(path) for path in files if path.exists()]
    if existing and not force:
        raise ConfigError(f"{', '.join(existing)}: already exists (use --force to overwrite)")
    say = _context().say
    for path, content in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        say(f"wrote {path}", event="wrote", path=str(path))
    config = directory / "healthsync.yaml"
    flag = "" if directory == Path(".") else f" -c {config}"
    for step in (
        "next: try it against the bundled sandboxes (fake HubSpot and Intercom on 127.0.0.1):",
        f"  healthsync sandbox --seed-from {config}      # in a second terminal; seeds the example companies",
        "  export HUBSPOT_ACCESS_TOKEN=sandbox INTERCOM_ACCESS_TOKEN=sandbox   # the sandboxes take any token",
        f"  healthsync validate{flag} && healthsync plan{flag} && healthsync run{flag}",
        "or see it all at once: healthsync demo --keep-running",
    ):
        say(step, event="next_step")


def _progress(context: LogContext) -> tuple[Any, Any]:
    """Progress bars (one per phase, kept when done) on a terminal; nothing otherwise (JSON logs tell the story)."""
    if context.json or not is_terminal():
        return contextlib.nullcontext(), None
    from rich.progress import Progress

    progress = Progress(console=context.console(), transient=False)
    tasks: dict[str, Any] = {}

    def advance(label: str, total: int, step: int) -> None:
        if label not in tasks:
            tasks[label] = progress.add_task(label, total=max(total, 1))
        progress.update(tasks[label], advance=step if total else 1)

    return progress, advance


def _print_summary(summary: RunSummary, context: LogContext) -> None:
    lines: list[str] = []
    destinations: dict[str, dict[str, Any]] = {}
    for name, counts in summary.counts.items():
        shown = counts.as_dict()
        lines.append(f"{name}: " + (", ".join(f"{key} {value}" for key, value in shown.items() if value) or "nothing"))
        destinations[name] = {"counts": shown}
    for name, plan in summary.plans.items():
        for record in plan.records:
            if record.action in ("unmatched", "ambiguous") and record.object_type == "companies":
                lines.append(f"{name}: {record.action} account {record.key}: {record.note}")
                destinations.setdefault(name, {}).setdefault(record.action, []).append(record.key)
    change = summary.config_change
    if change is not None:
        lines.append(change.describe())
    message = f"run {summary.run_id} finished with exit code {summary.exit_code}"
    lines.append(message)
    context.event(
        "run_summary",
        message,
        lines,
        run_id=summary.run_id,
        exit_code=summary.exit_code,
        destinations=destinations,
        config_change=change.as_dict() if change is not None else None,
    )


def _stop_on_signals(stop: StopRequest) -> None:
    """SIGTERM / SIGINT: finish the current batch, checkpoint, release the lease, exit 143 / 130 (a second one: now)."""

    def handler(signum: int, _frame: Any) -> None:
        signal.signal(signum, signal.SIG_DFL if signum == signal.SIGTERM else signal.default_int_handler)
        stop.request(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, handler)


@cli.command()
@CONFIG_OPTION
@click.option("--full", is_flag=True, help="Resend every field, not only the changed ones.")
@click.option("--wait", is_flag=True, help="Wait for another run to finish instead of exiting with code 3.")
@click.option(
    "--alert-baseline",
    is_flag=True,
    help="Slack: alert on the first run too (by default a first run records a baseline and posts nothing).",
)
def run(config: Path | None, full: bool, wait: bool, alert_baseline: bool) -> None:
    """Score, then sync every enabled destination (idempotent; only changed fields are sent).

    SIGTERM or Ctrl-C: the current batch is finished and checkpointed, the lock released; exit 143 / 130.
    """
    from healthsync.connector.engine import Engine, StopRequest

    context = _context()
    settings = load_settings(config)
    stop = StopRequest()
    _stop_on_signals(stop)
    display, advance = _progress(context)
    with display:
        summary = Engine(settings, progress=advance, stop=stop).run(full=full, wait=wait, alert_baseline=alert_baseline)
    _print_summary(summary, context)
    if summary.exit_code:
        raise click.exceptions.Exit(summary.exit_code)


@cli.command()
@CONFIG_OPTION
def check(config: Path | None) -> None:
    """Read-only preflight: source readable; per destination token, scopes, property clashes, owners.

    One line per finding; exit 0, 2 (configuration) or 5 (authentication or scope). No write call.
    """
    from healthsync.connector.engine import Engine
    from healthsync.connector.sync.check import exit_code

    settings = load_settings(config)
    findings = Engine(settings).check()
    for finding in findings:
        click.echo(str(finding))
    code = exit_code(findings)
    if code:
        raise click.exceptions.Exit(code)


@cli.command()
@CONFIG_OPTION
def plan(config: Path | None) -> None:
    """Dry run: per destination the creates, updates and no-ops, field by field; tags. No writes."""
    from healthsync.connector.engine import Engine

    context = _context()
    summary = Engine(load_settings(config)).plan()
    if summary.config_change is not None:
        change = summary.config_change
        context.event("config_change", change.describe(), [change.describe()], **change.as_dict())
    for name, destination_plan in summary.plans.items():
        lines = destination_plan.render()
        context.event("plan", lines[0] if lines else name, lines, destination=name, lines=lines[1:])


@cli.command()
@CONFIG_OPTION
@click.option("--runs", "limit", type=int, default=10, show_default=True, help="How many recent runs to show.")
@click.option("--reset", is_flag=True, help="Forget what destinations acknowledged (the next run resends all).")
@click.option("--destination", type=click.Choice(["hubspot", "intercom", "slack"]), help="With --reset: only this one.")
@click.option("--yes", is_flag=True, help="With --reset: do not ask for confirmation.")
def state(config: Path | None, limit: int, reset: bool, destination: str | None, yes: bool) -> None:
    """Show recent runs and open rejected records, or reset the acknowledged state."""
    from healthsync.state import StateStore

    say = _context().say
    settings = load_settings(config)
    with StateStore.open(settings.resolved_state_url()) as store:
        if reset:
            if not yes:
                click.confirm(f"forget acknowledged state of {destination or 'every destination'}?", abort=True)
            say(f"removed {store.forget(destination)} acknowledged records", event="reset")
            return
        for record in store.runs(limit):
            counts = "; ".join(
                f"{name}: " + ", ".join(f"{k} {v}" for k, v in c.items() if v) for name, c in record.counts.items()
            )
            error = (record.summary or {}).get("error")
            say(
                f"run {record.id} started {record.started_at:%Y-%m-%d %H:%M:%S} ({record.command}): "
                f"status {record.status}, exit {record.exit_code}; {counts}".rstrip("; ")
                + (f" ({error})" if error else ""),
                event="run",
                run=record.id,
                status=record.status,
                exit_code=record.exit_code,
                counts=record.counts,
            )
        for rejection in store.rejections():
            say(
                f"rejected {rejection.destination} {rejection.object_type} {rejection.key}: {rejection.reason}",
                event="rejected",
            )


@cli.group("config")
def config_group() -> None:
    """About the configuration file itself."""


@config_group.command("schema")
def config_schema() -> None:
    """Print the JSON Schema of healthsync.yaml (for editors: yaml-language-server)."""
    from healthsync.connector.settings import config_json_schema

    click.echo(config_json_schema())


@cli.command()
@CONFIG_OPTION
@click.argument("account")
@click.option("--runs", "limit", type=int, default=20, show_default=True, help="How many recent runs to show.")
def history(config: Path | None, account: str, limit: int) -> None:
    """Show the score, tier and plays of ACCOUNT in earlier runs (newest first), from the state store."""
    from healthsync.state import StateStore

    settings = load_settings(config)
    with StateStore.open(settings.resolved_state_url()) as store:
        points = store.score_history(account, limit + 1)  # one more: did the oldest shown run change the config?
    if not points:
        raise ConfigError(f"account {account!r}: no score history in the state store (run `healthsync run` first)")
    say = _context().say
    for point, older in zip(points[:limit], [*points[1:], None], strict=False):
        text, fields = _history_line(point, older)
        say(text, event="history", **fields)


def _history_line(point: ScorePoint, older: ScorePoint | None) -> tuple[str, dict[str, Any]]:
    """One run of the account: the text line and its JSON fields; `config_changed` against the run before it."""
    when = f"{point.recorded_at:%Y-%m-%d %H:%M:%S}" if point.recorded_at else ""
    plays = ", ".join(point.plays) or "none"
    change = point.values.get("score_change")
    moved = "" if change is None else f" ({change:+d})" if isinstance(change, int) else f" ({change})"
    fingerprint, before = point.scoring_fingerprint, older.scoring_fingerprint if older else None
    changed = bool(before and fingerprint and before != fingerprint)
    text = f"run {point.run_id} {when} score {point.health_score}{moved} tier {point.health_tier} plays {plays}"
    text += f" config {fingerprint or '-'}" + (f" (changed from {before})" if changed else "")
    fields = {
        "run": point.run_id,
        "recorded_at": point.recorded_at.isoformat() if point.recorded_at else None,
        "health_score": point.health_score,
        "score_change": change,
        "health_tier": point.health_tier,
        "plays": list(point.plays),
        "scoring_fingerprint": fingerprint,
        "config_changed": changed,
        "previous_fingerprint": before if changed else None,
    }
    return text, fields


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--hubspot-port", default=8081, show_default=True, type=int)
@click.option("--intercom-port", default=8082, show_default=True, type=int)
@click.option("--slack-port", default=8083, show_default=True, type=int)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of ids and faults.")
@click.option(
    "--seed-from",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Create a company (HubSpot and Intercom) and a contact per account and user of this config's source.",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the stored objects in this folder: loaded at start when present, saved when stopped.",
)
def sandbox(
    host: str,
    hubspot_port: int,
    intercom_port: int,
    slack_port: int,
    seed: int,
    seed_from: Path | None,
    state_dir: Path | None,
) -> None:
    """Serve the HubSpot, Intercom and Slack (incoming webhook) emulators until interrupted (any token is accepted)."""
    from healthsync.sandbox.base import SandboxServer
    from healthsync.sandbox.hubspot import HubSpotSandbox
    from healthsync.sandbox.intercom import IntercomSandbox
    from healthsync.sandbox.slack import SlackSandbox

    say = _context().say
    slack_box = SlackSandbox(seed=seed)
    sandboxes = (HubSpotSandbox(seed=seed), IntercomSandbox(seed=seed), slack_box)
    files = {box: state_dir / f"{box.name}.pickle" for box in sandboxes} if state_dir else {}
    for box, file in files.items():
        if file.exists():
            box.load(file)
    with (
        SandboxServer(sandboxes[0], host, hubspot_port) as hub,
        SandboxServer(sandboxes[1], host, intercom_port) as intercom,
        SandboxServer(slack_box, host, slack_port) as slack,
    ):
        if seed_from is not None:
            say(_seed_from(seed_from, hub.base_url, intercom.base_url), event="seeded")
        say(f"hubspot sandbox: {hub.base_url}", event="serving", destination="hubspot", url=hub.base_url)
        say(f"intercom sandbox: {intercom.base_url}", event="serving", destination="intercom", url=intercom.base_url)
        webhook = f"{slack.base_url}{slack_box.default_webhook.url_path}"
        say(
            f"slack sandbox: {slack.base_url} (webhook: {webhook})",
            event="serving",
            destination="slack",
            url=slack.base_url,
            webhook=webhook,
        )
        say("control API: GET /_sandbox/requests, GET /_sandbox/state, POST /_sandbox/reset, PUT /_sandbox/faults")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    for box, file in files.items():
        box.save(file)


def _seed_from(config: Path, hubspot_url: str, intercom_url: str) -> str:
    from healthsync.connector.pipeline import compute_scores
    from healthsync.sandbox.seed import SeedPlan, seed_hubspot, seed_intercom

    scores = compute_scores(load_settings(config), with_users=True)
    users = scores.users
    assert users is not None
    clean = SeedPlan(missing_every=0, other_domain_every=0, ambiguous=0, contacts_every=1, intercom_missing_every=0)
    seeded = seed_intercom(
        intercom_url, scores.accounts, clean, seed_hubspot(hubspot_url, scores.accounts, users, clean)
    )
    return f"seeded {len(scores.accounts)} companies and {seeded.contacts} contacts from {config}"


@cli.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("healthsync-demo"),
    show_default=True,
    help="Where the demo writes its product data, config and state.",
)
@click.option("--accounts", default=200, show_default=True, type=click.IntRange(20, 5000))
@click.option("--seed", default=7, show_default=True, type=int)
@click.option("--keep-running", is_flag=True, help="Leave the sandboxes up afterwards to inspect them.")
@click.option("--hubspot-port", default=0, type=int, help="Port of the HubSpot sandbox (default: a free one).")
@click.option("--intercom-port", default=0, type=int, help="Port of the Intercom sandbox (default: a free one).")
def demo(directory: Path, accounts: int, seed: int, keep_running: bool, hubspot_port: int, intercom_port: int) -> None:
    """Generate a demo product, start the sandboxes, sync twice (the second run re-sends nothing)."""
    from healthsync.connector.demo.runner import DemoOptions, run_demo

    options = DemoOptions(
        directory=directory,
        accounts=accounts,
        seed=seed,
        keep_running=keep_running,
        hubspot_port=hubspot_port,
        intercom_port=intercom_port,
    )
    code = run_demo(options)
    if code:
        raise click.exceptions.Exit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point: one (redacted) line per error on stderr and the exit code of its branch (SPEC section 6)."""
    try:
        _main(argv)
    finally:
        # The command is over (its output files closed, its log lines written; logging flushes at exit as before):
        # the interpreter's shutdown then need not trace the scored frames' objects through its last garbage
        # collections, which cost 0.3-0.4 s of every `score` (benchmarks/RESULTS.md, start-up).
        gc.freeze()


def _main(argv: list[str] | None) -> None:
    context = LogContext(fmt=detect_format(None))
    try:
        code = cli.main(args=argv, prog_name="healthsync", standalone_mode=False, obj=context)
    except (KeyboardInterrupt, click.exceptions.Abort) as exc:
        if isinstance(exc, click.exceptions.Abort) and not isinstance(exc.__cause__, KeyboardInterrupt):
            context.fail("aborted", exit_code=1)
            sys.exit(1)
        context.fail("healthsync: interrupted", exit_code=130)
        sys.exit(130)
    except click.ClickException as exc:
        if context.json:
            context.fail(exc.format_message(), exit_code=exc.exit_code)
        else:
            exc.show()
        sys.exit(exc.exit_code)
    except Interrupted as exc:
        context.fail(f"healthsync: {exc}", exit_code=exc.exit_code, exc=exc)
        sys.exit(exc.exit_code)
    except HealthsyncError as exc:
        context.fail(f"healthsync: error: {exc}", exit_code=exc.exit_code, exc=exc)
        sys.exit(exc.exit_code)
    except Exception as exc:
        message = f"healthsync: unexpected error: {context.redactor.exception(exc)}"
        context.fail(message + ("" if context.debug else " (rerun with --debug)"), exit_code=1, exc=exc)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
