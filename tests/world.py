"""A product, a CRM and a config for end-to-end sync tests: demo data in DuckDB, sandboxes seeded over HTTP."""

from __future__ import annotations

import contextlib
import copy
import gc
import hashlib
import json
import logging
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import httpx
import yaml
from click.testing import CliRunner

from healthsync.connector.cli import main
from healthsync.connector.demo.data import DemoData, generate, write_duckdb
from healthsync.connector.engine import Engine, RunSummary
from healthsync.connector.settings import Secrets, Settings, load_settings
from healthsync.sandbox.base import Sandbox, SandboxServer
from healthsync.sandbox.seed import SeedPlan, SeedResult, seed_hubspot, seed_intercom
from tests.scale import AS_OF, write_config

NOW = datetime(2025, 8, 13, 6, tzinfo=UTC)
TOKENS = Secrets(hubspot_access_token="pat-na1-test-secret-0001", intercom_access_token="ic-test-secret-0002")


def healthsync(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, inherit_env: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run the CLI's entry point (`main`) in this process, with `env` on top of (or instead of) this one's.

    What a user sees of a separate process: its exit code, stdout and stderr (off a terminal), its working folder and
    environment. What `main` sets for its process (logging, signal handlers, the thread hook, gc.freeze) is put back
    afterwards. Where the process itself is the point (start-up, signals, crashes), use `healthsync_process`.
    """
    overrides: dict[str, str | None] = {**({} if inherit_env else dict.fromkeys(os.environ)), **(env or {})}
    with (
        _process_settings_kept(),
        contextlib.chdir(cwd or Path.cwd()),
        _runner().isolation(env=overrides) as streams,
    ):
        stdout, stderr = streams[0], streams[1]
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        sys.stdout.flush()
        sys.stderr.flush()
        out, err = stdout.getvalue().decode(), stderr.getvalue().decode()
    return subprocess.CompletedProcess(["healthsync", *args], code, out, err)


def _runner() -> CliRunner:
    """A CliRunner whose isolation keeps stderr apart: the default from click 8.2 (then its streams are stdout,
    stderr and both mixed), `mix_stderr=False` before it (the declared minimum, click 8.1: stdout and stderr)."""
    try:
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg]
    except TypeError:
        return CliRunner()


@contextmanager
def _process_settings_kept() -> Iterator[None]:
    """Restore what `healthsync.connector.cli.main` configures for the whole process."""
    loggers = [logging.getLogger(), logging.getLogger("healthsync")]
    kept = [(logger, list(logger.handlers), logger.level, logger.propagate) for logger in loggers]
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    excepthook, showwarning = threading.excepthook, warnings.showwarning
    try:
        yield
    finally:
        gc.unfreeze()
        for logger, handlers_before, level, propagate in kept:
            logger.handlers[:] = handlers_before
            logger.setLevel(level)
            logger.propagate = propagate
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        logging.captureWarnings(False)
        threading.excepthook, warnings.showwarning = excepthook, showwarning


def healthsync_process(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, inherit_env: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user would (a separate process), with `env` on top of (or instead of) this one's."""
    return subprocess.run(
        [sys.executable, "-m", "healthsync", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**(os.environ if inherit_env else {}), **(env or {})},
        timeout=300,
        check=False,
    )


def control(server: SandboxServer, method: str, action: str, body: Any = None) -> Any:
    response = httpx.request(method, f"{server.base_url}/_sandbox/{action}", json=body, timeout=10)
    response.raise_for_status()
    return response.json()


def writes(server: SandboxServer, since: int = 0) -> list[dict[str, Any]]:
    return [entry for entry in control(server, "GET", "requests")[since:] if entry["write"]]


def log_size(server: SandboxServer) -> int:
    return len(control(server, "GET", "requests"))


@dataclass
class World:
    root: Path
    data: DemoData
    db: Path
    config: Path
    hubspot: SandboxServer
    intercom: SandboxServer
    seeded: SeedResult

    def settings(self) -> Settings:
        return load_settings(self.config)

    def engine(self, **kwargs: Any) -> Engine:
        return Engine(self.settings(), secrets=TOKENS, sleep=lambda _s: None, now=NOW, **kwargs)

    def run(self, **kwargs: Any) -> RunSummary:
        return self.engine().run(**kwargs)

    def sql(self, statement: str) -> None:
        with duckdb.connect(str(self.db)) as con:
            con.execute(statement)


def build_world(
    root: Path,
    hubspot: SandboxServer,
    intercom: SandboxServer,
    state_url: str,
    *,
    accounts: int = 500,
    mapping: dict[str, Any] | None = None,
    seed_plan: SeedPlan | None = None,
    destinations: tuple[str, ...] = ("hubspot", "intercom"),
) -> World:
    """The demo product in DuckDB, each of `destinations` seeded over HTTP (rate limits lifted), a config file.

    The product is generated once per process and copied; a seeding is made over HTTP once per starting state of
    the sandboxes and restored from a copy of their stores after that (`_seeded`).
    """
    data, db = _product(accounts, root)
    plan = seed_plan or SeedPlan()
    enabled: dict[str, Any] = {}
    for name, server in (("hubspot", hubspot), ("intercom", intercom)):
        if name in destinations:
            control(server, "PUT", "limits", {"requests_per_window": 100_000, "window_seconds": 10})
            enabled[name] = {"enabled": True, "base_url": server.base_url, "requests_per_10s": 100_000}
            enabled[name]["max_retry_seconds"] = 30
    if "hubspot" in enabled:
        control(hubspot, "PUT", "limits", {"search_index_lag_seconds": 0, "search_requests_per_second": 1000})
        enabled["hubspot"]["searches_per_second"] = 1000
    servers = {name: server for name, server in (("hubspot", hubspot), ("intercom", intercom)) if name in enabled}
    seeded = _seeded(servers, data, plan)
    for name, path in (mapping or {}).items():
        enabled[name]["mapping"] = path
    path = write_config(root, db, enabled, state_url)
    return World(root, data, db, path, hubspot, intercom, seeded)


# This process's generated products and seeded sandbox stores, each made once (the sandboxes are session-scoped).
_CACHE = tempfile.TemporaryDirectory(prefix="healthsync-test-worlds-")
_PRODUCTS: dict[int, DemoData] = {}
_SEEDINGS: dict[tuple[Any, ...], tuple[dict[str, bytes], SeedResult]] = {}


def _product(accounts: int, root: Path) -> tuple[DemoData, Path]:
    """The demo product of `accounts` accounts (generated once) and a copy of its DuckDB file in `root`."""
    cached = Path(_CACHE.name) / f"product-{accounts}.duckdb"
    if accounts not in _PRODUCTS:
        _PRODUCTS[accounts] = generate(accounts, as_of=AS_OF, seed=11)
        write_duckdb(_PRODUCTS[accounts], cached)
    root.mkdir(parents=True, exist_ok=True)
    db = root / "product.duckdb"
    shutil.copyfile(cached, db)
    return copy.deepcopy(_PRODUCTS[accounts]), db


def _seeded(servers: dict[str, SandboxServer], data: DemoData, plan: SeedPlan) -> SeedResult:
    """Seed `servers` over HTTP, or restore the stores such a seeding left when it started from the same state.

    The key holds everything the seeding depends on: the data, the plan and each sandbox's stored objects, request
    log, random state and faults just before it (a test that prepared a sandbox differently gets its own seeding).
    """
    key = (len(data.accounts), repr(plan), *((name, _fingerprint(server.sandbox)) for name, server in servers.items()))
    if key in _SEEDINGS:
        saved, result = _SEEDINGS[key]
        for name, server in servers.items():
            _restore(server.sandbox, saved[name])
        return copy.deepcopy(result)
    result = SeedResult()
    if "hubspot" in servers:
        result = seed_hubspot(servers["hubspot"].base_url, data.accounts, data.users, plan)
    if "intercom" in servers:
        result = seed_intercom(servers["intercom"].base_url, data.accounts, plan, result)
    saved = {name: _saved(server.sandbox) for name, server in servers.items()}
    _SEEDINGS[key] = (saved, copy.deepcopy(result))
    for name, server in servers.items():  # as a restore leaves them: their pickles, and fingerprints, are the same
        _restore(server.sandbox, saved[name])
    return result


# First runs (`first_run`) made in this process: each sandbox and the state store's files as the run left them.
_RUNS: dict[tuple[Any, ...], tuple[dict[str, bytes], dict[str, bytes], RunSummary]] = {}
_SQLITE_FILES = ("", "-wal", "-shm", "-journal")


def first_run(world: World) -> RunSummary:
    """`world.run()` on an empty SQLite state store, run once per process for each starting point and restored after
    that: both sandboxes' stored objects, log and random state, the state store's files and a copy of the summary.

    The key holds what the run depends on: the config (its files' places aside), the product's bytes and each
    sandbox just before the run (a test that changed any of them gets its own run)."""
    state = Path(world.settings().resolved_state_url().removeprefix("sqlite:///"))
    assert state.is_absolute(), "first_run needs a SQLite state store"
    assert not state.exists(), "first_run starts from an empty state store"
    config = yaml.safe_load(world.config.read_text())
    config["source"].pop("url")
    config["state"].pop("url")
    servers = {"hubspot": world.hubspot, "intercom": world.intercom}
    key = (
        yaml.safe_dump(config).replace(str(world.root), "<root>"),
        hashlib.sha256(world.db.read_bytes()).hexdigest(),
        *((name, _fingerprint(server.sandbox)) for name, server in servers.items()),
    )
    if key in _RUNS:
        sandboxes, files, summary = _RUNS[key]
        for name, server in servers.items():
            _restore(server.sandbox, sandboxes[name])
        state.parent.mkdir(parents=True, exist_ok=True)
        for suffix, content in files.items():
            state.with_name(state.name + suffix).write_bytes(content)
        return copy.deepcopy(summary)
    summary = world.run()
    files = {s: f.read_bytes() for s in _SQLITE_FILES if (f := state.with_name(state.name + s)).exists()}
    _RUNS[key] = ({name: _saved(server.sandbox) for name, server in servers.items()}, files, copy.deepcopy(summary))
    return summary


def _saved(sandbox: Sandbox) -> bytes:
    """What a seeding changes in `sandbox`: its stored objects (as `Sandbox.save` keeps them), log and random state."""
    with sandbox.lock:
        stored = {name: getattr(sandbox, name) for name in sandbox.persisted}
        return pickle.dumps((stored, sandbox.log, sandbox.rng.getstate(), vars(sandbox.faults)))


def _fingerprint(sandbox: Sandbox) -> str:
    return hashlib.sha256(_saved(sandbox)).hexdigest()


def _restore(sandbox: Sandbox, saved: bytes) -> None:
    stored, log, rng, _faults = pickle.loads(saved)  # fresh objects on every restore
    with sandbox.lock:
        for name, value in stored.items():
            setattr(sandbox, name, value)
        sandbox.log = log
        sandbox.rng.setstate(rng)


@contextmanager
def sandbox_process(*extra: str, cwd: Path | None = None) -> Iterator[dict[str, str]]:
    """`healthsync sandbox` in its own process; yields the base URLs it printed, stops it with SIGTERM.

    Off a terminal it prints one JSON object per line; the `serving` events carry the URLs.
    """
    ports = ("--hubspot-port", "0", "--intercom-port", "0", "--slack-port", "0")  # free ports: tests run side by side
    command = [sys.executable, "-m", "healthsync", "sandbox", *ports]
    with (
        tempfile.TemporaryFile("w+") as errors,
        subprocess.Popen([*command, *extra], stdout=subprocess.PIPE, stderr=errors, text=True, cwd=cwd) as process,
    ):
        try:
            assert process.stdout is not None
            urls: dict[str, str] = {}
            deadline = time.monotonic() + 60
            while len(urls) < 2 and time.monotonic() < deadline:
                line = process.stdout.readline()
                if not line:
                    break
                event = json.loads(line)
                if event["event"] == "serving":
                    urls[event["destination"]] = event["url"]
            if set(urls) != {"hubspot", "intercom"}:
                errors.seek(0)
                raise AssertionError(
                    f"the sandbox served {sorted(urls)}; exit {process.poll()}: {errors.read()[-2000:]}"
                )
            yield urls
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=10)
    assert process.returncode == 0
