"""The web's side of the control socket: calls to the door daemon with page-ready errors.

The door daemon is the only writer of the door database (docs/internals.md "One writer, one sealer"). Every change the
pages make (people, groups, schedules, holidays, staff accounts) is one :func:`admin`
call: the daemon checks it, applies it and seals its ``admin.*`` event in one
transaction. The web's own events (logins, logouts, exports, refusals) go through
:func:`record_event`. Everything that needs hardware or a secret (issue a PIN, enrol or
delete a finger, remote unlock, acknowledge an alarm, live status, simulated inputs)
goes through :func:`call`.

A staff request names the staff login as ``actor`` and proves it with ``web_session``,
the hex SHA-256 of the session token (the daemon looks it up in ``DATA/web/web.db``
with :func:`controller.store.web_store.session_is_live`); only the web's account may do so.
When the daemon is not running the pages say so and change nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import g
from flask_babel import gettext as _

from controller.control.client import DaemonError
from controller.errors import DaemonUnavailable, KunciError
from webadmin.forms import sentence
from webadmin.labels import N_
from webadmin.state import end_read, state

logger = logging.getLogger(__name__)

#: What pages show when the socket is absent or silent (English here; shown through ``gettext``).
UNREACHABLE = N_("The door daemon is not reachable, so live status and door actions are unavailable. "
                 "Is 'kunci run' running?")


class DaemonProblem(Exception):
    """A daemon call failed; ``message`` is one line for a person; ``unreachable`` tells which way."""

    def __init__(self, message: str, *, unreachable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.unreachable = unreachable


#: What a page says when a change could not be sent (English here; shown through ``gettext``).
NOT_RUNNING = N_("The door daemon is not running; no change was made.")


class ChangeRefused(Exception):
    """An :func:`admin` change was not made. ``message`` is for the form; ``status`` the HTTP status
    (400: the daemon refused it, e.g. a duplicate name; 503: the daemon is not running)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def staff_identity() -> dict[str, str]:
    """``actor`` and ``web_session`` for the logged-in staff member of this request."""
    account = g.account
    return {"actor": account.username, "web_session": account.token_hash.hex()}


def admin(op: str, *, timeout: float | None = None, **params: Any) -> dict[str, Any]:
    """Ask the daemon to make one change ``op`` (e.g. ``user.add``) for the logged-in staff member.

    Returns the daemon's result; raises :class:`ChangeRefused`. The request's read
    transaction is ended first, so the page rendered next sees the change.
    """
    end_read()
    try:
        client = state().client() if timeout is None else state().client(timeout)  # longer: a bulk import
        return client.call("admin", op=op, params=params, **staff_identity())
    except DaemonError as exc:
        logger.info("daemon refused %s", op)
        raise ChangeRefused(sentence(str(exc)) or _("The door daemon refused the change."), 400) from exc
    except DaemonUnavailable as exc:
        logger.warning("daemon unreachable for %s: %s", op, exc)
        raise ChangeRefused(_(NOT_RUNNING), 503) from exc


def record_event(type_: str, detail: dict[str, Any] | None = None, *, login_name: str | None = None) -> bool:
    """Have the daemon log one of the web's own events; True when it was logged.

    Events of a logged-in request name its staff member and session. Login events pass
    ``login_name`` (the username tried, when well formed; ``""`` for none) and no session.
    A failure is logged here and reported as False: the caller decides whether to go on.
    """
    params: dict[str, Any] = {"op": "event.record", "params": {"type": type_, "detail": detail}}
    if login_name is None:
        params.update(staff_identity())
    elif login_name:
        params["actor"] = login_name
    try:
        state().client().call("admin", **params)
        return True
    except KunciError as exc:
        logger.warning("the door daemon did not log %s: %s", type_, exc)
        return False


#: Seconds a page waits for the daemon's live status before showing "not reachable".
STATUS_TIMEOUT_SECONDS = 2.0


def call(cmd: str, *, timeout: float | None = None, **params: Any) -> dict[str, Any]:
    """Send ``cmd`` to the daemon and return its result; raises :class:`DaemonProblem`.

    ``timeout`` (seconds per reply line) defaults to the client's 5 s. A call naming an
    ``actor`` also sends this request's ``web_session``.
    """
    web = state()
    if "actor" in params:
        params.update(staff_identity())
    try:
        client = web.client() if timeout is None else web.client(timeout)
        return client.call(cmd, **params)
    except DaemonUnavailable as exc:
        logger.info("daemon unreachable for %s: %s", cmd, exc)
        raise DaemonProblem(_(UNREACHABLE), unreachable=True) from exc
    except KunciError as exc:
        logger.info("daemon refused %s", cmd)
        raise DaemonProblem(_("The door daemon refused: %(error)s", error=str(exc)), unreachable=False) from exc


def status() -> tuple[dict[str, Any] | None, str | None]:
    """``(status, None)`` from the daemon, or ``(None, message)`` when it cannot be had."""
    try:
        return call("status", timeout=STATUS_TIMEOUT_SECONDS), None
    except DaemonProblem as exc:
        return None, exc.message
