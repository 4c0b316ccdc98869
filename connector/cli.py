"""The `healthsync` command line (SPEC section 6)."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from healthsync import __version__
from healthsync.connector.errors import ConfigError, HealthsyncError
from healthsync.connector.logs import is_terminal, setup_logging
from healthsync.connector.output import FORMATS, write_frame
from healthsync.connector.settings import load_settings

if TYPE_CHECKING:
    from healthsync.connector.engine import RunSummary

log = logging.getLogger("healthsync")

CONFIG_OPTION = click.option(
    "--config",
    "-c",
    "config",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="YAML configuration file (default: $HEALTHSYNC_CONFIG).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="healthsync")
@click.option("--debug", is_flag=True, help="Verbose logs and full tracebacks.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """healthsync: product usage -> customer-health scores, plays and tasks in HubSpot and Intercom, alerts in Slack."""
    ctx.obj = {"debug": debug}
    setup_logging(debug)


@cli.command()
@CONFIG_OPTION
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--users", is_flag=True, help="Print the per-user table instead of the per-account table.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE.")
@click.option(
    "--previous",
    is_flag=True,
    help="Add the last recorded run's values (last_run_score, last_run_tier, last_run_plays) from the state store.",
)
def score(config: Path | None, fmt: str, users: bool, output: Path | None, previous: bool) -> None:
    """Compute the health score table (one row per account, or per user with --users)."""
    from healthsync.connector.pipeline import compute_scores

    settings = load_settings(config)
    result = compute_scores(settings, with_users=users)
    for report in result.reports.values():
        report.log(log)
    frame = result.users if users else result.accounts
    assert frame is not None
    if previous and not users:
        frame = _with_last_run(frame, settings)
    write_frame(frame, fmt, output)


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


@cli.command()
@CONFIG_OPTION
def validate(config: Path | None) -> None:
    """Check the configuration (and the mappings it names) without reading data or calling any API."""
    from healthsync.connector.engine import load_mappings

    settings = load_settings(config)
    mappings = load_mappings(settings, every=True)
    click.echo(f"configuration OK (source: {settings.source.kind}, state: {settings.state.url.split(':', 1)[0]})")
    configs = settings.destinations.by_name()
    for name in mappings:
        enabled = "enabled" if configs[name].enabled else "disabled"
        click.echo(f"mapping OK: {name} ({enabled}, {configs[name].mapping})")


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."))
@click.option("--force", is_flag=True, help="Overwrite files that exist.")
def init(directory: Path, force: bool) -> None:
    """Write a starter configuration (healthsync.yaml) and the default mappings into DIRECTORY."""
    files = {
        directory / "healthsync.yaml": (
            resources.files("healthsync.connector") / "templates" / "healthsync.yaml"
        ).read_bytes()
    }
    for entry in sorted(resources.files("healthsync.mappings").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            files[directory / "mappings" / entry.name] = entry.read_bytes()
    existing = [str(path) for path in files if path.exists()]
    if existing and not force:
        raise ConfigError(f"{', '.join(existing)}: already exists (use --force to overwrite)")
    for path, content in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        click.echo(f"wrote {path}")


def _progress() -> tuple[Any, Any]:
    """A rich progress display on a terminal; nothing otherwise (JSON logs carry the story)."""
    if not is_terminal():
        return contextlib.nullcontext(), None
    from rich.progress import Progress

    progress = Progress(console=Console(stderr=True), transient=True)
    tasks: dict[str, Any] = {}

    def advance(label: str, total: int, step: int) -> None:
        if label not in tasks:
            tasks[label] = progress.add_task(label, total=total)
        progress.update(tasks[label], advance=step)

    return progress, advance


def _print_summary(summary: RunSummary) -> None:
    for name, counts in summary.counts.items():
        shown = ", ".join(f"{key} {value}" for key, value in counts.as_dict().items() if value)
        click.echo(f"{name}: {shown or 'nothing to do'}")
    for name, plan in summary.plans.items():
        for record in plan.records:
            if record.action in ("unmatched", "ambiguous") and record.object_type == "companies":
                click.echo(f"{name}: {record.action} account {record.key}: {record.note}")
    if summary.run_id is not None:
        click.echo(f"run {summary.run_id} finished with exit code {summary.exit_code}")


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
    """Score, then sync every enabled destination (idempotent; only changed fields are sent)."""
    from healthsync.connector.engine import Engine

    settings = load_settings(config)
    display, advance = _progress()
    with display:
        summary = Engine(settings, progress=advance).run(full=full, wait=wait, alert_baseline=alert_baseline)
    _print_summary(summary)
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

    settings = load_settings(config)
    summary = Engine(settings).plan()
    for destination_plan in summary.plans.values():
        for line in destination_plan.render():
            click.echo(line)


@cli.command()
@CONFIG_OPTION
@click.option("--runs", "limit", type=int, default=10, show_default=True, help="How many recent runs to show.")
@click.option("--reset", is_flag=True, help="Forget what destinations acknowledged (the next run resends all).")
@click.option("--destination", type=click.Choice(["hubspot", "intercom", "slack"]), help="With --reset: only this one.")
@click.option("--yes", is_flag=True, help="With --reset: do not ask for confirmation.")
def state(config: Path | None, limit: int, reset: bool, destination: str | None, yes: bool) -> None:
    """Show recent runs and open rejected records, or reset the acknowledged state."""
    from healthsync.state import StateStore

    settings = load_settings(config)
    with StateStore.open(settings.resolved_state_url()) as store:
        if reset:
            if not yes:
                click.confirm(f"forget acknowledged state of {destination or 'every destination'}?", abort=True)
            click.echo(f"removed {store.forget(destination)} acknowledged records")
            return
        for record in store.runs(limit):
            counts = "; ".join(
                f"{name}: " + ", ".join(f"{k} {v}" for k, v in c.items() if v) for name, c in record.counts.items()
            )
            error = (record.summary or {}).get("error")
            click.echo(
                f"run {record.id} {record.command} started {record.started_at:%Y-%m-%d %H:%M:%S} "
                f"status {record.status} exit {record.exit_code} {counts}".rstrip()
                + (f" ({error})" if error else "")
            )
        for rejection in store.rejections():
            click.echo(f"rejected {rejection.destination} {rejection.object_type} {rejection.key}: {rejection.reason}")


@cli.command()
@CONFIG_OPTION
@click.argument("account")
@click.option("--runs", "limit", type=int, default=20, show_default=True, help="How many recent runs to show.")
def history(config: Path | None, account: str, limit: int) -> None:
    """Show the score, tier and plays of ACCOUNT in earlier runs (newest first), from the state store."""
    from healthsync.state import StateStore

    settings = load_settings(config)
    with StateStore.open(settings.resolved_state_url()) as store:
        points = store.score_history(account, limit)
    if not points:
        raise ConfigError(f"account {account!r}: no score history in the state store (run `healthsync run` first)")
    for point in points:
        when = f"{point.recorded_at:%Y-%m-%d %H:%M:%S}" if point.recorded_at else ""
        plays = ", ".join(point.plays) or "none"
        change = point.values.get("score_change")
        moved = "" if change is None else f" ({change:+d})" if isinstance(change, int) else f" ({change})"
        click.echo(
            f"run {point.run_id} {when} score {point.health_score}{moved} tier {point.health_tier} plays {plays}"
        )


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--hubspot-port", default=8081, show_default=True, type=int)
@click.option("--intercom-port", default=8082, show_default=True, type=int)
@click.option("--slack-port", default=8083, show_default=True, type=int)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of ids and faults.")
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the stored objects in this folder: loaded at start when present, saved when stopped.",
)
def sandbox(
    host: str, hubspot_port: int, intercom_port: int, slack_port: int, seed: int, state_dir: Path | None
) -> None:
    """Serve the HubSpot, Intercom and Slack (incoming webhook) emulators until interrupted."""
    from healthsync.sandbox.base import SandboxServer
    from healthsync.sandbox.hubspot import HubSpotSandbox
    from healthsync.sandbox.intercom import IntercomSandbox
    from healthsync.sandbox.slack import SlackSandbox

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
        click.echo(f"hubspot sandbox: {hub.base_url}")
        click.echo(f"intercom sandbox: {intercom.base_url}")
        click.echo(f"slack sandbox: {slack.base_url} (webhook: {slack.base_url}{slack_box.default_webhook.url_path})")
        click.echo(
            "control API: GET /_sandbox/requests, GET /_sandbox/state, POST /_sandbox/reset, PUT /_sandbox/faults"
        )
        sys.stdout.flush()
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    for box, file in files.items():
        box.save(file)


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
    """Entry point: one line per error on stderr and the exit code of its branch (SPEC section 6)."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        code = cli.main(args=argv, prog_name="healthsync", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except HealthsyncError as exc:
        if debug:
            log.exception("failed")
        click.echo(f"healthsync: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except Exception as exc:
        if debug:
            raise
        click.echo(f"healthsync: unexpected error: {type(exc).__name__}: {exc} (rerun with --debug)", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
