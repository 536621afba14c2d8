"""Fixtures for the admin web tests: a migrated database, two staff accounts, the app, a daemon.

The app opens the door database read-only, as in production (no ``KUNCI_ENGINE``); the test's
own read-write ``engine`` stands for the daemon's side and for setup done before the web runs.
Logged-in clients (``admin``, ``auditor``) come with the ``daemon`` fixture, whose ``admin``
command runs the daemon's real operations (:class:`web_support.AdminBackend`).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.store import staff
from controller.config import Config, SiteConfig
from controller.store.db import make_engine, session_factory, upgrade_database
from controller.paths import DataDir
from webadmin import create_app

from web_support import ADMIN, AUDITOR, HASHER, PASSWORD, STATUS, AdminBackend, FakeDaemon, login, new_client


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    """A short directory for Unix sockets (pytest's tmp paths can exceed the 108-byte limit)."""
    d = Path(tempfile.mkdtemp(prefix="kw", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def engine(data_dir: Path) -> Iterator[Any]:
    url = f"sqlite:///{data_dir / 'kunci.db'}"
    upgrade_database(url)
    eng = make_engine(url)
    with session_factory(eng)() as db:
        staff.add_account(db, ADMIN, PASSWORD, "admin", "cli", hasher=HASHER)
        staff.add_account(db, AUDITOR, PASSWORD, "auditor", "cli", hasher=HASHER)
        db.commit()
    yield eng
    eng.dispose()


@pytest.fixture
def config() -> Config:
    """The configuration the app runs with (simulated, so the panel exists)."""
    return Config(simulated=True, site=SiteConfig(name="Records room 2"))


@pytest.fixture
def app(data_dir: Path, engine: Any, sock_dir: Path, config: Config) -> Any:
    application = create_app(
        data_dir,
        test_config={
            "TESTING": True,
            "KUNCI_CONFIG": config,
            "KUNCI_SOCKET_PATH": sock_dir / "control.sock",
            "KUNCI_HASHER": HASHER,
        },
    )
    return application


@pytest.fixture
def daemon(app: Any, sock_dir: Path, data_dir: Path, engine: Any, config: Config) -> Iterator[FakeDaemon]:
    """A door daemon on the app's socket: ``status`` faked (tests may set other handlers), ``admin`` real."""
    fake = FakeDaemon(sock_dir / "control.sock", AdminBackend(DataDir(data_dir), engine, config))
    fake.handlers["status"] = lambda req, progress: dict(STATUS)
    yield fake
    fake.close()


@pytest.fixture
def client(app: Any, daemon: FakeDaemon) -> Any:
    return new_client(app)


@pytest.fixture
def admin(app: Any, daemon: FakeDaemon) -> Any:
    c = new_client(app)
    assert login(c).status_code == 303
    return c


@pytest.fixture
def auditor(app: Any, daemon: FakeDaemon) -> Any:
    c = new_client(app)
    assert login(c, AUDITOR).status_code == 303
    return c
