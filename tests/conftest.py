"""Shared fixtures: sandboxes on free ports (started once per session), real PostgreSQL, temp folders."""

from __future__ import annotations

import importlib.util
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from healthsync.sandbox.base import SandboxServer
from healthsync.state import StateStore
from tests.paths import ROOT

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=test"
PG_URL_PREFIX = "postgresql+psycopg://postgres@127.0.0.1:5432/"


def pytest_configure(config: pytest.Config) -> None:
    """CLI subprocesses import `healthsync` from this checkout (its links), not from whatever is installed."""
    paths = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files with a slow test first, then the others by their number of tests, most first (each file's tests in
    their order). `make test` hands whole files to two workers in this order (`--dist loadfile
    --no-loadscope-reorder`): a long file started last would keep one worker busy while the other idles."""
    files: dict[str, list[pytest.Item]] = {}
    for item in items:
        files.setdefault(item.nodeid.split("::")[0], []).append(item)

    def cost(tests: list[pytest.Item]) -> tuple[bool, int]:
        return (not any(test.get_closest_marker("slow") for test in tests), -len(tests))

    items[:] = [item for tests in sorted(files.values(), key=cost) for item in tests]


def _pg_reachable() -> str | None:
    """None when the PostgreSQL server answers, else the reason it does not."""
    try:
        import psycopg

        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", connect_timeout=3):
            return None
    except Exception as exc:  # any failure means: skip, and say why
        return f"PostgreSQL on 127.0.0.1:5432 is not reachable ({type(exc).__name__})"


@pytest.fixture(scope="session")
def pg_server() -> str:
    reason = _pg_reachable()
    if reason is not None:
        pytest.skip(reason)
    return PG_ADMIN_URL


def _create_pg_database(template: str | None = None) -> str:
    """A new PostgreSQL database (a copy of `template` when given); its name."""
    import psycopg

    name = f"hs_test_{uuid.uuid4().hex[:12]}"
    copied = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{copied}')
    return name


def _drop_pg_database(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    name = _create_pg_database()
    try:
        yield f"{PG_URL_PREFIX}{name}"
    finally:
        _drop_pg_database(name)


@pytest.fixture(scope="session")
def pg_migrated_template(pg_server: str) -> Iterator[str]:
    """A PostgreSQL database migrated to the head revision once per session (per xdist worker), to copy per test."""
    name = _create_pg_database()
    try:
        StateStore.open(f"{PG_URL_PREFIX}{name}").close()  # closed: a template database must have no connection
        yield name
    finally:
        _drop_pg_database(name)


@pytest.fixture
def pg_migrated_url(pg_migrated_template: str) -> Iterator[str]:
    """A PostgreSQL state store at the head revision for one test: `CREATE DATABASE ... TEMPLATE`, no migration."""
    name = _create_pg_database(template=pg_migrated_template)
    try:
        yield f"{PG_URL_PREFIX}{name}"
    finally:
        _drop_pg_database(name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A state-store URL: a SQLite file, or a fresh PostgreSQL database (skipped when unreachable)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'nested' / 'state.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """The state store of end-to-end tests not about the backend (tests/state/ runs the store on both)."""
    return f"sqlite:///{tmp_path / 'state.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    """An open state store on each backend; on PostgreSQL a copy of the migrated template (migrations have their
    own tests in tests/state/test_schema.py and test_configs.py, on empty databases from `state_url`)."""
    url = f"sqlite:///{tmp_path / 'nested' / 'state.db'}"
    if request.param == "postgresql":
        url = str(request.getfixturevalue("pg_migrated_url"))
    with StateStore.open(url) as opened:
        yield opened


def _serving(kind: str) -> Iterator[SandboxServer]:
    from healthsync.sandbox.hubspot import HubSpotSandbox
    from healthsync.sandbox.intercom import IntercomSandbox

    sandbox = HubSpotSandbox(seed=0) if kind == "hubspot" else IntercomSandbox(seed=0)
    with SandboxServer(sandbox) as server:
        yield server


@pytest.fixture(scope="session")
def hubspot_server() -> Iterator[SandboxServer]:
    yield from _serving("hubspot")


@pytest.fixture
def hubspot(hubspot_server: SandboxServer) -> SandboxServer:
    """The HubSpot sandbox, reset to empty for this test."""
    hubspot_server.sandbox.reset()
    return hubspot_server


@pytest.fixture(scope="session")
def intercom_server() -> Iterator[SandboxServer]:
    yield from _serving("intercom")


@pytest.fixture
def intercom(intercom_server: SandboxServer) -> SandboxServer:
    """The Intercom sandbox, reset to empty for this test."""
    intercom_server.sandbox.reset()
    return intercom_server


@pytest.fixture(scope="session")
def benchmark_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The benchmark data set (10,000 accounts, 200,000 users) with 300k events, written by benchmarks/generate.py."""
    spec = importlib.util.spec_from_file_location("hs_benchmark_generate", ROOT / "benchmarks" / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    folder = tmp_path_factory.mktemp("benchmark")
    generate.main(["--events", "300k", "--out", str(folder)])
    return folder / "healthsync.yaml"
