"""Alembic environment for Kunci, driven from code by ``controller.store.db.upgrade_database``.

The caller passes an open connection in ``config.attributes["connection"]``; when
run from the ``alembic`` command line instead, an engine is made from
``sqlalchemy.url`` with Kunci's SQLite settings. Batch mode is on so later
migrations can alter SQLite tables.
"""

from __future__ import annotations

import logging

from alembic import context
from sqlalchemy.engine import Connection

from controller.store.models import Base

logger = logging.getLogger(__name__)

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it (``alembic upgrade --sql``)."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run against the caller's connection, or a fresh engine from ``sqlalchemy.url``."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from controller.store.db import make_engine

    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
