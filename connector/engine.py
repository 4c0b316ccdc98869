"""The sync engine: validate, lock, score, then plan and apply every enabled destination."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import resource
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pandas as pd

from healthsync.connector.hubspot.client import HubSpotClient
from healthsync.connector.hubspot.destination import HubSpotDestination
from healthsync.connector.intercom.client import IntercomClient
from healthsync.connector.intercom.destination import IntercomDestination
from healthsync.connector.logs import Redactor
from healthsync.connector.pipeline import compute_scores
from healthsync.connector.scores import ScoreResult
from healthsync.connector.settings import Secrets, Settings
from healthsync.connector.slack.client import SlackClient
from healthsync.connector.slack.destination import SlackDestination
from healthsync.connector.sync import check as checks
from healthsync.connector.sync.check import Finding
from healthsync.connector.sync.destination import Destination, SyncContext, give_back_memory
from healthsync.connector.sync.fence import Fence
from healthsync.connector.sync.plan import DestinationPlan, SyncCounts
from healthsync.connector.sync.ratelimit import ARRIVAL_MARGIN, RateLimiter
from healthsync.connector.sync.rescore import ConfigChange, Rescorer, Scoring
from healthsync.connector.sync.retry import RetryPolicy
from healthsync.errors import AuthError, ConfigError, HealthsyncError, Interrupted
from healthsync.mappings.loader import load_mappings
from healthsync.mappings.models import HubSpotMapping, IntercomMapping, SlackMapping
from healthsync.scoring.config import ScoringConfig
from healthsync.state import ScorePoint, StateStore, default_holder

log = logging.getLogger("healthsync")
INTERCOM_API_VERSION = "2.14"


@dataclass
class RunSummary:
    """The outcome of one `run` or `plan`."""

    run_id: int | None
    plans: dict[str, DestinationPlan] = field(default_factory=dict)
    counts: dict[str, SyncCounts] = field(default_factory=dict)
    scores: ScoreResult | None = None
    config_change: ConfigChange | None = None  # the scoring configuration changed since the previous run

    @property
    def rejected(self) -> int:
        return sum(c.rejected for c in self.counts.values())

    @property
    def exit_code(self) -> int:
        return 4 if self.rejected else 0


def resources(memory_mib: int) -> dict[str, float]:
    """This process's peak resident memory (MiB), the memory it aimed to stay within (`destinations.memory_mib`)
    and its CPU seconds so far, for the run summary (issue 25, item 3)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    seconds = round(usage.ru_utime + usage.ru_stime, 1)
    return {"peak_rss_mib": peak_rss_mib(usage), "memory_mib": memory_mib, "cpu_seconds": seconds}


def peak_rss_mib(usage: resource.struct_rusage | None = None) -> float:
    """The high-water mark of this program's resident memory, in MiB: Linux's `VmHWM` (/proc/self/status) where
    there is one. Not `ru_maxrss` there: Linux carries it over fork and exec, so a run started by a large process
    reported that process's size (the scale benchmark, whose sandboxes held 6.2 GiB, saw 6.2 GiB for every run).
    Elsewhere `ru_maxrss` (KiB on Linux, bytes on macOS)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    usage = usage or resource.getrusage(resource.RUSAGE_SELF)
    scale = 1024**2 if sys.platform == "darwin" else 1024
    return round(usage.ru_maxrss / scale, 1)


def _webhook_url(secrets: Secrets) -> str:
    if secrets.slack_webhook_url is None:
        raise AuthError("slack: no webhook URL; set SLACK_WEBHOOK_URL or mount /run/secrets/slack_webhook_url")
    return secrets.slack_webhook_url.get_secret_value()


class _Halted(Exception):
    """A destination stopped at a batch boundary because another one of its stage failed (never reported)."""


CRMS = ("hubspot", "intercom")  # each its own API, client and limits: synced at the same time


def stages(names: list[str], *, concurrent: bool) -> list[list[str]]:
    """The destinations in the order they are synced: with `concurrent`, HubSpot and Intercom together, then
    Slack (its alerts come after the CRMs were written, as when every destination ran in turn); else one by one."""
    if not concurrent:
        return [[name] for name in names]
    together = [name for name in names if name in CRMS]
    after = [[name] for name in names if name not in CRMS]
    return ([together] if together else []) + after


def history_points(scores: ScoreResult) -> list[ScorePoint]:
    """One score-history point per account of the score table (from the rows the destinations read too)."""
    points = []
    for row in scores.account_rows().values():
        values = {name: row.get(name) for name in ("raw_score", "trend", "score_change", "score_reasons")}
        plays = tuple(str(play) for play in row.get("plays") or [])
        points.append(
            ScorePoint(str(row["account_id"]), int(row["health_score"]), str(row["health_tier"]), plays, values)
        )
    return points


def build_destination(
    name: str,
    settings: Settings,
    mapping: Any,
    secrets: Secrets,
    sleep: Callable[[float], None] | None = None,
    fence: Fence | None = None,
    clock: Callable[[], float] | None = None,
) -> Destination:
    """A destination with its SDK client, one retry policy, one rate limiter and the lease fence on every write.
    `sleep` and `clock` (tests inject both) drive the retry waits and the rate limiters."""
    config = settings.destinations.by_name()[name]
    policy = RetryPolicy(max_attempts=config.max_attempts, max_seconds=config.max_retry_seconds)
    pause = sleep or time.sleep
    policy.sleep = pause
    now = clock or time.monotonic
    if name == "hubspot":
        hub = settings.destinations.hubspot
        client = HubSpotClient(
            secrets.token(name),
            base_url=hub.base_url,
            api_version=hub.api_version,
            timeout=hub.timeout_seconds,
            policy=policy,
            limiter=RateLimiter(hub.requests_per_10s, 10.0 + ARRIVAL_MARGIN, sleep=pause, clock=now),
            search_limiter=RateLimiter(hub.searches_per_second, 1.0 + ARRIVAL_MARGIN, sleep=pause, clock=now),
            fence=fence.check if fence else None,
        )
        return HubSpotDestination(client, cast(HubSpotMapping, mapping), hub, settings.delivery_bound())
    if name == "slack":
        slack = settings.destinations.slack
        webhook = SlackClient(
            _webhook_url(secrets),
            timeout=slack.timeout_seconds,
            policy=policy,
            limiter=RateLimiter(1, 60.0 / slack.messages_per_minute, sleep=pause, clock=now),  # evenly spaced
        )
        return SlackDestination(webhook, cast(SlackMapping, mapping))
    icfg = settings.destinations.intercom
    intercom = IntercomClient(
        secrets.token(name),
        base_url=icfg.base_url,
        api_version=icfg.api_version,
        timeout=icfg.timeout_seconds,
        policy=policy,
        limiter=RateLimiter(icfg.requests_per_10s, 10.0 + ARRIVAL_MARGIN, sleep=pause, clock=now),
        region=icfg.region,
        fence=fence.check if fence else None,
    )
    mapped = cast(IntercomMapping, mapping)
    return IntercomDestination(
        intercom, mapped, icfg.mapping, icfg.region, icfg.concurrent_requests, icfg.verify_every_runs
    )


class StopRequest:
    """A stop asked for by a signal (SIGTERM, SIGINT).

    Outside the lease nothing needs finishing: the request raises Interrupted at once. While the run holds the
    lease (`guarding`), it is only recorded, and :meth:`check` raises at the next batch boundary, after the
    current batch was acknowledged and checkpointed.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self.signum = 0
        self._guarding = False

    def request(self, signum: int) -> None:
        self.signum = signum
        self._event.set()
        if not self._guarding:
            self.check()

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            name = signal.Signals(self.signum).name
            raise Interrupted(f"stopped by {name} after checkpointing the last batch", signum=self.signum)

    @contextlib.contextmanager
    def guarding(self) -> Iterator[None]:
        self._guarding = True
        try:
            yield
        finally:
            self._guarding = False


class Engine:
    """One sync: `plan` reads only; `run` also writes, under the lease lock, with checkpoints."""

    def __init__(
        self,
        settings: Settings,
        *,
        secrets: Secrets | None = None,
        progress: Callable[[str, int, int], None] | None = None,
        sleep: Callable[[float], None] | None = None,
        now: datetime | None = None,
        stop: StopRequest | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.settings = settings
        self.secrets = secrets or Secrets.load()
        self.progress = progress
        self.sleep = sleep
        self.clock = clock  # the rate limiters' clock (time.monotonic unless a test injects one with `sleep`)
        self.now = now
        self.stop = stop or StopRequest()
        self.redact = Redactor(self.secrets.values())
        self.fence = Fence(settings.fence_margin())

    def _scores(self, mappings: dict[str, Any]) -> ScoreResult:
        hub, ic = mappings.get("hubspot"), mappings.get("intercom")
        with_users = isinstance(hub, HubSpotMapping) and hub.contacts.enabled and bool(hub.contacts.fields)
        with_users = with_users or (isinstance(ic, IntercomMapping) and ic.contacts.tier_tags)
        return compute_scores(self.settings, with_users=with_users, now=self.now)

    def plan(self) -> RunSummary:
        """The dry run: what every enabled destination would get; no write call is made."""
        mappings = load_mappings(self.settings)
        destinations = self._destinations(mappings)
        scores = self._scores(mappings)
        summary = RunSummary(run_id=None, scores=scores)
        try:
            with StateStore.open(self.settings.resolved_state_url()) as store:
                ctx = SyncContext(store=store, full=False, slice_users=self.settings.destinations.slice_users())
                summary.config_change = self._config_change(store, scores, ctx, None)
                for name, destination in destinations.items():
                    summary.plans[name] = destination.plan(scores, ctx)
        finally:
            for destination in destinations.values():
                destination.close()
        return summary

    def _destinations(self, mappings: dict[str, Any]) -> dict[str, Destination]:
        if not mappings:
            raise ConfigError(
                "no destination is enabled (set destinations.hubspot.enabled, .intercom.enabled or .slack.enabled)"
            )
        return {
            name: build_destination(name, self.settings, mapping, self.secrets, self.sleep, self.fence, self.clock)
            for name, mapping in mappings.items()
        }

    def check(self) -> list[Finding]:
        """The read-only preflight: the source, then every enabled destination's own findings."""
        from healthsync.connector.sources.load import probe_source

        mappings = load_mappings(self.settings)
        findings = [checks.ok("config", f"configuration and mappings valid ({', '.join(mappings) or 'none'})")]
        try:
            probe_source(self.settings)
            findings.append(checks.ok("source", f"{self.settings.source.kind} source readable"))
        except HealthsyncError as exc:
            findings.append(checks.error("source", str(exc), "config"))
        for name, mapping in mappings.items():
            try:
                destination = build_destination(
                    name, self.settings, mapping, self.secrets, self.sleep, clock=self.clock
                )
            except AuthError as exc:
                findings.append(checks.error(name, str(exc), "auth"))
                continue
            try:
                if isinstance(destination, IntercomDestination):
                    findings += destination.check(self._account_ids(findings))
                else:
                    findings += destination.check()
            finally:
                destination.close()
        return findings

    def _account_ids(self, findings: list[Finding]) -> list[str] | None:
        """The source's account ids for the check (None when the source could not be read): its accounts table,
        not the whole read and scoring."""
        if any(f.source == "source" and f.severity == "error" for f in findings):
            return None
        from healthsync.connector.sources.load import account_ids

        return account_ids(self.settings, self.now or datetime.now(UTC))

    def run(self, *, full: bool = False, wait: bool = False, alert_baseline: bool = False) -> RunSummary:
        """Score, then sync every enabled destination; state is written per acknowledged batch.

        The run's scores are kept in the score history first; `alert_baseline` lets Slack alert on a first run.
        """
        mappings = load_mappings(self.settings)
        destinations = self._destinations(mappings)
        try:
            return self._run(destinations, mappings, full=full, wait=wait, alert_baseline=alert_baseline)
        finally:
            for destination in destinations.values():
                destination.close()

    def _run(
        self,
        destinations: dict[str, Destination],
        mappings: dict[str, Any],
        *,
        full: bool,
        wait: bool,
        alert_baseline: bool = False,
    ) -> RunSummary:
        with StateStore.open(self.settings.resolved_state_url()) as store:
            ttl = self.settings.state.lock_ttl_seconds
            with (
                store.acquire_lock(default_holder(), ttl, wait=wait) as lease,
                self.fence.holding(lease, ttl),
                self.stop.guarding(),
            ):
                if lease.took_over:
                    log.warning("took over the lock", extra={"previous_holder": lease.took_over})
                for crashed in store.mark_crashed():
                    log.warning(f"run {crashed} did not finish (killed?): marked crashed", extra={"crashed": crashed})
                run_id = store.start_run("run --full" if full else "run")
                log.info(f"run {run_id} started", extra={"run_id": run_id, "holder": lease.holder})
                summary = RunSummary(run_id=run_id)
                try:
                    self._sync(store, destinations, mappings, summary, full=full, alert_baseline=alert_baseline)
                except Exception as exc:
                    self._failed(store, summary, exc)
                    raise
                counts = {name: c.as_dict() for name, c in summary.counts.items()}
                status = "rejected records" if summary.rejected else "ok"
                used = {"resources": resources(self.settings.destinations.memory_mib)}
                if used["resources"]["peak_rss_mib"] > used["resources"]["memory_mib"]:
                    log.warning(
                        "the run's peak memory went past destinations.memory_mib",
                        extra={"run_id": run_id, **used["resources"]},
                    )
                store.finish_run(run_id, status=status, exit_code=summary.exit_code, counts=counts, summary=used)
        at = datetime.now(UTC).isoformat()
        log.info("run finished", extra={"run_id": run_id, "at": at, "counts": counts, **used})
        return summary

    def _sync(
        self,
        store: StateStore,
        destinations: dict[str, Destination],
        mappings: dict[str, Any],
        summary: RunSummary,
        *,
        full: bool,
        alert_baseline: bool,
    ) -> None:
        assert summary.run_id is not None

        def beat() -> None:  # between batches: stop when asked to (after the checkpoint); prove the lease
            self.stop.check()
            self.fence.check()

        if self.progress is not None:
            self.progress("score accounts", 1, 0)
        summary.scores = self._scores(mappings)
        give_back_memory()  # what reading and scoring freed, before the plans allocate theirs
        store.record_scores(summary.run_id, history_points(summary.scores), self.settings.state.history_runs)
        ctx = SyncContext(
            store=store,
            run_id=summary.run_id,
            full=full,
            heartbeat=beat,
            alert_baseline=alert_baseline,
            slice_users=self.settings.destinations.slice_users(),
        )
        summary.config_change = self._config_change(store, summary.scores, ctx, summary.run_id)
        if self.progress is not None:
            self.progress("score accounts", 1, 1)
        self.stop.check()
        if self.progress is not None:
            ctx.progress = self.progress
        concurrent = self.settings.destinations.concurrent
        for stage in stages(list(destinations), concurrent=concurrent):
            self._stage({name: destinations[name] for name in stage}, summary, ctx)

    def _stage(self, destinations: dict[str, Destination], summary: RunSummary, ctx: SyncContext) -> None:
        """Plan and apply each destination of a stage: alone in this thread, or each in its own thread. When one
        fails, the others stop at their next batch boundary (their heartbeat), what they acknowledged kept, and the
        first failure (in destination order) is raised."""
        assert summary.scores is not None
        scores = summary.scores

        def sync(name: str, destination: Destination, here: SyncContext) -> None:
            plan = destination.plan(scores, here)
            summary.plans[name] = plan
            self.stop.check()
            summary.counts[name] = destination.apply(plan, here)
            self.fence.check()  # a run that lost its lease while writing says so, and stops

        if len(destinations) == 1:
            for name, destination in destinations.items():
                sync(name, destination, ctx)
            return
        halt = threading.Event()

        def guarded() -> None:
            if halt.is_set():
                raise _Halted
            ctx.heartbeat()

        failures: dict[str, BaseException] = {}

        def one(name: str, destination: Destination) -> None:
            try:
                sync(name, destination, dataclasses.replace(ctx, heartbeat=guarded))
            except BaseException as exc:
                failures[name] = exc
                halt.set()

        threads = [
            threading.Thread(target=one, args=(name, destination), name=f"healthsync-{name}", daemon=True)
            for name, destination in destinations.items()
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for name in destinations:  # in destination order, whichever thread finished first
            if name in summary.plans:
                summary.plans[name] = summary.plans.pop(name)
            if name in summary.counts:
                summary.counts[name] = summary.counts.pop(name)
        for name in destinations:  # the first real failure; a halted destination only followed it
            if name in failures and not isinstance(failures[name], _Halted):
                raise failures[name]

    def _config_change(
        self, store: StateStore, scores: ScoreResult, ctx: SyncContext, run_id: int | None
    ) -> ConfigChange | None:
        """Record this run's scoring configuration (a run, not a plan) and compare it with the previous run's."""
        ctx.scoring = Scoring.of(self.settings.scoring)
        ctx.rescore = rescore = Rescorer(self._accounts_under, scores.as_of)
        previous = store.last_scoring(before_run=run_id)
        if run_id is not None:
            store.record_scoring(run_id, ctx.scoring.fingerprint, ctx.scoring.config)
        change = rescore.change(ctx.scoring, scores.accounts, previous)
        if change is not None:
            log.info(change.describe(), extra={"config_change": change.as_dict()})
        return change

    def _accounts_under(self, config: ScoringConfig) -> pd.DataFrame:
        """This run's data scored again with another scoring configuration: its account table."""
        return compute_scores(self.settings.model_copy(update={"scoring": config}), now=self.now).accounts

    def _failed(self, store: StateStore, summary: RunSummary, exc: Exception) -> None:
        """Record the failed (or interrupted) run with its error, redacted: no token reaches the state store."""
        assert summary.run_id is not None
        counts = {name: c.as_dict() for name, c in summary.counts.items()}
        code = exc.exit_code if isinstance(exc, HealthsyncError) else 1
        status = "interrupted" if isinstance(exc, Interrupted) else "failed"
        error = str(exc) if isinstance(exc, HealthsyncError) else self.redact.exception(exc)
        store.finish_run(
            summary.run_id, status=status, exit_code=code, counts=counts, summary={"error": self.redact(error)}
        )
