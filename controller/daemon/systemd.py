"""Minimal ``sd_notify`` for ``Type=notify`` units with ``WatchdogSec`` (no dependency).

The daemon calls :meth:`Notifier.ready` once its inputs are live and
:meth:`Notifier.watchdog` from its main loop on every turn; pings are rate-limited
to half the watchdog interval. Outside systemd (no ``NOTIFY_SOCKET``) every call is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
import time

log = logging.getLogger(__name__)


class Notifier:
    """Sends state lines to systemd's notification socket."""

    def __init__(self, environ: dict[str, str] | None = None, clock=time.monotonic) -> None:
        env = os.environ if environ is None else environ
        self._address = env.get("NOTIFY_SOCKET") or None
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        watchdog_seconds = int(usec) / 1e6 if usec.isdigit() else 0.0
        if pid and pid.isdigit() and int(pid) != os.getpid():
            watchdog_seconds = 0.0
        self.watchdog_interval_seconds = watchdog_seconds / 2 if watchdog_seconds else 0.0
        self._clock = clock
        self._last_ping = float("-inf")

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def _send(self, message: str) -> None:
        if not self._address:
            return
        address = self._address
        if address.startswith("@"):
            address = "\0" + address[1:]
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.connect(address)
                sock.sendall(message.encode())
        except OSError as exc:
            log.warning("sd_notify failed: %s", exc)

    def ready(self, status: str = "") -> None:
        """Tell systemd start-up is complete."""
        self._send("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def status(self, status: str) -> None:
        self._send(f"STATUS={status}")

    def stopping(self) -> None:
        self._send("STOPPING=1")

    def watchdog(self) -> None:
        """Ping the watchdog if at least half the interval has passed since the last ping."""
        if not self.watchdog_interval_seconds:
            return
        now = self._clock()
        if now - self._last_ping >= self.watchdog_interval_seconds:
            self._last_ping = now
            self._send("WATCHDOG=1")
