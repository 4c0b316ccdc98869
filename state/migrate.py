"""The schema, versioned with Alembic: upgrade in place, programmatically, from the packaged migrations.

The migrations are found next to this module (not via the working directory), so a non-editable install works.
Upgrades run in one transaction; concurrent first runs queue up (SQLite: BEGIN IMMEDIATE; PostgreSQL: an
advisory transaction lock), so two processes opening a fresh database never both create the tables.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import Connection, Engine

from healthsync.errors import ConfigError
from healthsync.state.engine import redact

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_PG_MIGRATION_LOCK = 0x6865616C74687379  # "healthsy": the advisory lock key for schema upgrades


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic Config pointing at the packaged migrations (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest schema revision this version of healthsync knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise RuntimeError(f"no Alembic migrations found in {MIGRATIONS}")
    return head


def current_revision(connection: Connection) -> str | None:
    """The schema revision the database is at, None when it has no schema yet."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Create or upgrade the schema in place to `revision`, in one transaction; ConfigError if it can't."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        _refuse_unknown_revision(connection, engine)
        command.upgrade(alembic_config(connection), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Downgrade the schema to `revision` (for developers and tests; the CLI never downgrades)."""
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), revision)


def _refuse_unknown_revision(connection: Connection, engine: Engine) -> None:
    current = current_revision(connection)
    if current is None:
        return
    try:
        ScriptDirectory.from_config(alembic_config()).get_revision(current)
    except CommandError as exc:
        raise ConfigError(
            f"the state store {redact(engine.url)} has schema revision {current!r}, which this version of "
            f"healthsync does not know (newest known: {head_revision()!r}); upgrade healthsync or use another state.url"
        ) from exc
