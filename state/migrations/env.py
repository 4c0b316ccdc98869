"""Alembic environment for the healthsync state store.

At runtime `state.migrate.upgrade` passes an open connection (inside its transaction) in
`config.attributes["connection"]`. For developers, `alembic -c state/alembic.ini -x url=sqlite:///x.db upgrade head`
also works.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=None, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from healthsync.state.engine import create_engine, parse_url

    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("pass the state URL: alembic -c state/alembic.ini -x url=sqlite:///state.db upgrade head")
    engine = create_engine(parse_url(url))
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) mode is not supported for the healthsync state store")
_main()
