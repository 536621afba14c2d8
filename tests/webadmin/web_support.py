"""Helpers for the admin web tests: a fake door daemon, staff credentials, HTTPS-style requests with CSRF.

The fake daemon is a real Unix-socket server speaking the control protocol of
docs/internals.md (one JSON request line; progress lines; one final line), so the
web's client code is exercised over the actual protocol boundary.

Imported by ``conftest.py`` and the tests as ``web_support`` (pytest puts this
directory on ``sys.path``), so there is one copy of each class.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from argon2 import profiles
from sqlalchemy import select

from controller import staff
from controller.db import session_factory
from controller.models import Event

PASSWORD = "correct horse battery staple 42"
ADMIN, AUDITOR = "alice", "bob"
HASHER = staff.make_hasher(profiles.CHEAPEST)

_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


class FakeDaemon:
    """A control-socket server whose answers are set per command by the test.

    ``handlers[cmd]`` is a callable ``(request, progress) -> result dict``; an exception
    it raises (e.g. ``FakeRefusal``) answers ``{"ok": false, "error": str(exc)}``.
    ``requests`` records every request.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
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
            reader = conn.makefile("rb")
            request = json.loads(reader.readline())
            self.requests.append(request)

            def progress(step: str) -> None:
                conn.sendall(json.dumps({"progress": step, "message": step}).encode() + b"\n")

            handler = self.handlers.get(request["cmd"])
            try:
                if handler is None:
                    raise FakeRefusal(f"unknown command {request['cmd']}")
                reply = {"ok": True, "result": handler(request, progress)}
            except Exception as exc:  # noqa: BLE001 - any handler failure is the daemon refusing
                reply = {"ok": False, "error": str(exc)}
            try:
                conn.sendall(json.dumps(reply).encode() + b"\n")
            except OSError:
                pass

    def commands(self) -> list[str]:
        return [r["cmd"] for r in self.requests]

    def close(self) -> None:
        self._stop = True
        self._sock.close()


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
