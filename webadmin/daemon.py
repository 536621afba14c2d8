"""The web's side of the control socket: calls to the door daemon with page-ready errors.

Everything that needs hardware or a secret (issue a PIN, enrol or delete a finger,
remote unlock, acknowledge an alarm, live status, simulated inputs) goes through
:func:`call`. When the daemon is not running the pages say so and carry on.
"""

from __future__ import annotations

import logging
from typing import Any

from controller.errors import DaemonUnavailable, KunciError
from webadmin.state import state

logger = logging.getLogger(__name__)

#: What pages show when the socket is absent or silent.
UNREACHABLE = "The door daemon is not reachable, so live status and door actions are unavailable. Is 'kunci run' running?"


class DaemonProblem(Exception):
    """A daemon call failed; ``message`` is one line for a person; ``unreachable`` tells which way."""

    def __init__(self, message: str, *, unreachable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.unreachable = unreachable


#: Seconds a page waits for the daemon's live status before showing "not reachable".
STATUS_TIMEOUT_SECONDS = 2.0


def call(cmd: str, *, timeout: float | None = None, **params: Any) -> dict[str, Any]:
    """Send ``cmd`` to the daemon and return its result; raises :class:`DaemonProblem`.

    ``timeout`` (seconds per reply line) defaults to the client's 5 s.
    """
    web = state()
    try:
        client = web.client() if timeout is None else web.client(timeout)
        return client.call(cmd, **params)
    except DaemonUnavailable as exc:
        logger.info("daemon unreachable for %s: %s", cmd, exc)
        raise DaemonProblem(UNREACHABLE, unreachable=True) from exc
    except KunciError as exc:
        logger.info("daemon refused %s", cmd)
        raise DaemonProblem(f"The door daemon refused: {exc}", unreachable=False) from exc


def status() -> tuple[dict[str, Any] | None, str | None]:
    """``(status, None)`` from the daemon, or ``(None, message)`` when it cannot be had."""
    try:
        return call("status", timeout=STATUS_TIMEOUT_SECONDS), None
    except DaemonProblem as exc:
        return None, exc.message
