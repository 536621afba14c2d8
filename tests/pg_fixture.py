"""pytest fixtures for a real PostgreSQL server (``tests/pg_server.py``), registered by ``tests/conftest.py``.

- ``pg_server`` (session): one cluster per test process (each pytest-xdist worker has its own), started once,
  destroyed at the end. It skips the test with a clear message when no PostgreSQL binaries are installed, or
  fails it when ``KUNCI_REQUIRE_POSTGRES`` is set (CI installs Debian's postgresql and sets it).
- ``pg_clean`` (function): the same server, running, with every database and role of earlier tests dropped
  (roles are cluster-wide, so two tests would otherwise meet each other's ``kunci_ctl_*`` roles).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.pg_server import PgServer, postgres_bin_dir

REQUIRE_VAR = "KUNCI_REQUIRE_POSTGRES"


def postgres_or_skip():
    """The PostgreSQL bin directory; skip (or fail, with ``KUNCI_REQUIRE_POSTGRES`` set) when it is absent."""
    found = postgres_bin_dir()
    if found is not None:
        return found
    reason = ("PostgreSQL not installed (no initdb on PATH or in /usr/lib/postgresql/*/bin): the site tests need a "
              "real server (apt install postgresql)")
    if os.environ.get(REQUIRE_VAR):
        pytest.fail(reason + f"; {REQUIRE_VAR} is set, so this is a failure")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A running PostgreSQL cluster on a loopback port with TLS, for the whole test session."""
    server = PgServer(postgres_or_skip())
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.fixture
def pg_clean(pg_server: PgServer) -> PgServer:
    """The session's server, running, without any database or role a previous test made."""
    pg_server.reset()
    return pg_server
