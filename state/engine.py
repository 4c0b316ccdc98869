"""Turning a state URL into one configured SQLAlchemy Engine; every failure becomes a ConfigError without password.

SQLite: relative paths are relative to the working directory, `~` is expanded, the parent folder is created;
WAL journal, a busy timeout, and `BEGIN IMMEDIATE` for every transaction so that concurrent processes queue up
instead of failing with "database is locked". PostgreSQL: `postgresql://` means `postgresql+psycopg://`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from healthsync.errors import ConfigError

SQLITE_BUSY_TIMEOUT_SECONDS = 30.0
CONNECT_TIMEOUT_SECONDS = 10
_PASSWORD_IN_URL = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")


def redact(url: str | URL) -> str:
    """The URL as text with any password replaced by ***, also when it does not parse."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return _PASSWORD_IN_URL.sub(r"\1***@", url)


def parse_url(url: str) -> URL:
    """Parse and normalize a state URL; ConfigError when it is not a usable SQLAlchemy URL."""
    try:
        parsed = sa.make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(
            f"state.url {redact(url)!r} is not a valid database URL (expected e.g. sqlite:///path/state.db)"
        ) from exc
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite" and not _is_memory(parsed):
        parsed = parsed.set(database=str(Path(parsed.database or "").expanduser()))
    return parsed


def _is_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"


def create_engine(url: URL) -> Engine:
    """One Engine for the store; ConfigError if the dialect or driver is unknown or the folder can't be made."""
    with translate_errors(url, "open"):
        if url.get_backend_name() == "sqlite":
            return _sqlite_engine(url)
        return sa.create_engine(url, pool_pre_ping=True, connect_args=_connect_args(url))


def _connect_args(url: URL) -> dict[str, Any]:
    if url.get_backend_name() == "postgresql" and "connect_timeout" not in url.query:
        return {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
    return {}


def _sqlite_engine(url: URL) -> Engine:
    options: dict[str, Any] = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}}
    if _is_memory(url):
        options = {"connect_args": {"check_same_thread": False}, "poolclass": StaticPool}
    else:
        Path(url.database or "").parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, **options)
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (see _sqlite_on_begin)
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_SECONDS * 1000)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    # IMMEDIATE takes the write lock up front (waiting up to busy_timeout), so a transaction that reads and
    # then writes never fails half-way with SQLITE_BUSY when another process committed in between.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def translate_errors(url: URL, action: str) -> Iterator[None]:
    """Turn driver and SQLAlchemy failures while opening the store into a ConfigError naming the redacted URL."""
    try:
        yield
    except NoSuchModuleError as exc:
        raise ConfigError(f"cannot {action} the state store {redact(url)}: unknown database dialect or driver") from exc
    except ImportError as exc:
        raise ConfigError(
            f"cannot {action} the state store {redact(url)}: its database driver is not installed ({exc})"
        ) from exc
    except (SQLAlchemyError, OSError) as exc:
        raise ConfigError(f"cannot {action} the state store {redact(url)}: {_reason(exc, url)}") from exc


def _reason(exc: BaseException, url: URL) -> str:
    origin = getattr(exc, "orig", None) or exc
    lines = str(origin).strip().splitlines()
    text = lines[0] if lines else type(origin).__name__
    if url.password:
        text = text.replace(str(url.password), "***")
    return f"{type(origin).__name__}: {text}"
