"""The PostgreSQL test fixture itself: TLS on, password logins, stop and start on the same port, reset."""

from __future__ import annotations

import psycopg
import pytest

from tests.pg_server import PgServer


def test_superuser_connects_over_verified_tls(pg_server: PgServer) -> None:
    with psycopg.connect(pg_server.superuser_dsn()) as conn:
        assert conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone() == (True,)


def test_wrong_password_is_refused(pg_server: PgServer) -> None:
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(pg_server.dsn("postgres", "wrong"))


def test_stop_then_start_keeps_the_data_and_port(pg_clean: PgServer) -> None:
    owner, password = pg_clean.create_site_database("keepme")
    port = pg_clean.port
    pg_clean.stop()
    assert not pg_clean.running
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(pg_clean.dsn(owner, password, "keepme"))
    pg_clean.start()
    assert pg_clean.port == port
    with psycopg.connect(pg_clean.dsn(owner, password, "keepme")) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (owner,)


def test_reset_drops_databases_and_roles(pg_clean: PgServer) -> None:
    pg_clean.create_site_database("dropme", owner="someone")
    pg_clean.reset()
    with pg_clean.connect() as conn:
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname = 'dropme'").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM pg_roles WHERE rolname = 'someone'").fetchone() == (0,)
