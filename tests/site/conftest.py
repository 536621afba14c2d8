"""Fixtures of the site tests: a migrated site database on the real PostgreSQL server (tests/pg_fixture.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from controller.site.migrate import upgrade_site
from controller.site.siteconf import DatabaseSettings, make_engine
from tests.pg_server import PgServer


@dataclass
class SiteDb:
    """A migrated site database: the server, the owner login and an engine logged in as it."""

    server: PgServer
    dbname: str
    owner: str
    password: str
    engine: Engine

    def settings(self, **changes: object) -> DatabaseSettings:
        values: dict[str, object] = {"host": self.server.host, "port": self.server.port, "dbname": self.dbname,
                                     "user": self.owner, "sslmode": "verify-full",
                                     "ca_file": Path(self.server.ca_file)}
        values.update(changes)
        return DatabaseSettings(**values)  # type: ignore[arg-type]

    def engine_as(self, role: str, password: str) -> Engine:
        return make_engine(self.settings(user=role), password)


@pytest.fixture
def site_db(pg_clean: PgServer) -> Iterator[SiteDb]:
    """A fresh site database, migrated to head by its owner login (a CREATEROLE role owning the database)."""
    owner, password = pg_clean.create_site_database("kunci")
    db = SiteDb(pg_clean, "kunci", owner, password, make_engine(
        DatabaseSettings(host=pg_clean.host, port=pg_clean.port, dbname="kunci", user=owner,
                         ca_file=Path(pg_clean.ca_file)), password))
    upgrade_site(db.engine)
    try:
        yield db
    finally:
        db.engine.dispose()
