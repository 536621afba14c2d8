"""Helpers for the admin web tests: a fake door daemon, staff credentials, HTTPS-style requests with CSRF.

The fake daemon is a real Unix-socket server speaking the control protocol of
docs/internals.md (one JSON request line; progress lines; one final line), so the
web's client code is exercised over the actual protocol boundary. Its ``admin``
command is not faked: :class:`AdminBackend` runs the door daemon's own code path
(the peer's credentials from ``SO_PEERCRED``, :func:`controller.control.actors.resolve` with the
web's live-session check, :func:`controller.store.admin_ops.run`, sealing, one transaction),
so every change a page makes really goes through the daemon's rules. The tests in
``test_web_real_daemon.py`` run the web against a real :class:`controller.daemon.loop.Daemon`.

Imported by ``conftest.py`` and the tests as ``web_support`` (pytest puts this
directory on ``sys.path``), so there is one copy of each class.
"""

from __future__ import annotations

import json
import re
import secrets
import socket
import threading
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from argon2 import profiles
from sqlalchemy import select

from controller.control import actors

from controller.store import admin_ops, audit, staff
from controller.config import Config
from controller.control.server import Peer
from controller.store.db import session_factory
from controller.errors import KunciError
from controller.store.models import Event
from controller.paths import DataDir
from controller.timefmt import utcnow

PASSWORD = "correct horse battery staple 42"
ADMIN, AUDITOR = "alice", "bob"
HASHER = staff.make_hasher(profiles.CHEAPEST)

_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


class AdminBackend:
    """The door daemon's ``admin`` command in process, on the test's database.

    :param datadir: the data directory (its ``web/web.db`` holds the web's sessions).
    :param engine: a read-write engine on the door database (the daemon's side).
    :param config: the configuration the daemon would run with.
    """

    def __init__(self, datadir: DataDir, engine: Any, config: Config) -> None:
        self.datadir = datadir
        self.engine = engine
        self.config = config
        self.key = secrets.token_bytes(32)
        self.pepper = secrets.token_bytes(32)
        self._lock = threading.Lock()  # one writer, like the daemon's loop thread

    def __call__(self, request: dict[str, Any], peer: Peer) -> dict[str, Any]:
        now = utcnow()
        actor = actors.resolve(peer, request, self.datadir, now)
        ctx = admin_ops.OpContext(actor=actor, config=self.config, pepper=self.pepper, today=date.today(), now=now)
        with self._lock, session_factory(self.engine)() as session:
            with session.begin():
                result = admin_ops.run(session, request.get("op"), request.get("params"), ctx)
                audit.seal_pending(session, self.key)
        return result


class FakeDaemon:
    """A control-socket server whose answers are set per command by the test.

    ``handlers[cmd]`` is a callable ``(request, progress) -> result dict``; an exception
    it raises (e.g. ``FakeRefusal``) answers ``{"ok": false, "error": str(exc)}``.
    ``admin`` requests without a handler go to ``admin_backend`` (:class:`AdminBackend`).
    ``requests`` records every request.
    """

    def __init__(self, path: Path, admin_backend: AdminBackend | None = None) -> None:
        self.path = path
        self.admin_backend = admin_backend
        self.requests: list[dict[str, Any]] = []
        self.handlers: dict[str, Callable[[dict[str, Any], Callable[[str], None]], dict[str, Any]]] = {}
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(str(path))
        self._sock.listen(8)
        self._stop = False
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            peer = Peer.of(conn)
            reader = conn.makefile("rb")
            request = json.loads(reader.readline())
            self.requests.append(request)

            def progress(step: str) -> None:
                conn.sendall(json.dumps({"progress": step, "message": step}).encode() + b"\n")

            handler = self.handlers.get(request["cmd"])
            if handler is None and request["cmd"] == "admin" and self.admin_backend is not None:
                backend = self.admin_backend

                def handler(req: dict[str, Any], _progress: Any) -> dict[str, Any]:
                    return backend(req, peer)

            try:
                if handler is None:
                    raise FakeRefusal(f"unknown command {request['cmd']}")
                reply = {"ok": True, "result": handler(request, progress)}
            except (KunciError, FakeRefusal) as exc:
                reply = {"ok": False, "error": str(exc)}
            except Exception as exc:  # noqa: BLE001 - any other failure is the daemon refusing too
                reply = {"ok": False, "error": f"internal error: {exc}"}
            try:
                conn.sendall(json.dumps(reply).encode() + b"\n")
            except OSError:
                pass

    def commands(self) -> list[str]:
        return [r["cmd"] for r in self.requests]

    def admin_ops(self) -> list[str]:
        """The ``op`` of every ``admin`` request, in order (``event.record`` included)."""
        return [r.get("op") for r in self.requests if r["cmd"] == "admin"]

    def sent(self, cmd: str, **fields: Any) -> bool:
        """True when a ``cmd`` request carrying ``fields`` (and a web session when it names an actor) was sent."""
        for r in self.requests:
            if r["cmd"] == cmd and all(r.get(k) == v for k, v in fields.items()):
                if "actor" in fields and not re.fullmatch(r"[0-9a-f]{64}", str(r.get("web_session"))):
                    continue
                return True
        return False

    def close(self) -> None:
        """Stop answering: the socket goes away, as when the daemon is not running (idempotent)."""
        self._stop = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() of the serving thread
        except OSError:
            pass
        self._sock.close()
        self.path.unlink(missing_ok=True)


class FakeRefusal(Exception):
    """Raised by a fake handler to answer ``{"ok": false, "error": ...}``."""


STATUS = {
    "door": "locked",
    "relay": False,
    "door_open": False,
    "sensor": {"state": "ok", "capacity": 200, "templates": 3},
    "lockout": {"active": False, "until": None, "failures": 0},
    "alarms": [],
    "simulated": True,
    "indicators": {"green": False, "red": True, "buzzer": False},
    "clock_trusted": True,
    "pending_events": 0,
}


def new_client(app: Any) -> Any:
    return app.test_client()


def csrf_token(client: Any, path: str = "/login") -> str:
    """The CSRF token of ``client``'s session, read from a page's meta tag."""
    page = client.get(path, base_url="https://localhost")
    found = _CSRF_META.search(page.get_data(as_text=True))
    assert found, f"no CSRF token on {path} (status {page.status_code})"
    return found.group(1)


def login(client: Any, username: str = ADMIN, password: str = PASSWORD) -> Any:
    """Log ``client`` in; returns the POST response."""
    token = csrf_token(client, "/login")
    return post(client, "/login", {"username": username, "password": password}, token=token)


def post(client: Any, path: str, data: dict[str, Any] | None = None, *, token: str | None = None, **kw: Any) -> Any:
    """POST a form over "HTTPS" with the session's CSRF token (fetched from the dashboard if not given)."""
    form = dict(data or {})
    if token is None:
        token = csrf_token(client, "/")
    if token:
        form["csrf_token"] = token
    return client.post(path, data=form, base_url="https://localhost", **kw)


def get(client: Any, path: str, **kw: Any) -> Any:
    return client.get(path, base_url="https://localhost", **kw)


def events(engine: Any, type_prefix: str = "") -> list[Event]:
    """Every event (optionally of types starting with ``type_prefix``), oldest first."""
    with session_factory(engine)() as db:
        stmt = select(Event).order_by(Event.id)
        rows = list(db.scalars(stmt))
    return [e for e in rows if e.type.startswith(type_prefix)]


def real_daemon_web(config: Config, accounts: tuple[tuple[str, str], ...] = ((ADMIN, "admin"),)) -> Any:
    """A ``kunci init`` data directory with staff ``accounts`` ((username, role), password :data:`PASSWORD`),
    the real door daemon on it (:class:`tests.controller.daemon_harness.DaemonRunner`) and the web app.

    A generator for a pytest fixture: yields ``(app, runner)``, stops the daemon and removes everything
    after. The directory is short (``/tmp/kw...``): Unix socket paths are limited to 107 bytes.
    """
    import shutil
    import tempfile

    from controller.store.db import open_database
    from tests.controller.daemon_harness import DaemonRunner, prepare_datadir
    from webadmin import create_app

    base = Path(tempfile.mkdtemp(prefix="kw", dir="/tmp"))
    datadir = prepare_datadir(base / "data")
    engine = open_database(datadir)
    with session_factory(engine)() as db:
        for username, role in accounts:
            staff.add_account(db, username, PASSWORD, role, "cli", hasher=HASHER)
        db.commit()
    engine.dispose()
    app = create_app(datadir.root, test_config={"TESTING": True, "KUNCI_CONFIG": config, "KUNCI_HASHER": HASHER})
    runner = DaemonRunner(datadir, config).start()
    try:
        yield app, runner
    finally:
        runner.stop()
        shutil.rmtree(base, ignore_errors=True)
