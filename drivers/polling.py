"""A periodic worker thread shared by the input drivers (matrix scan, Wiegand frame close, door inputs).

One daemon thread calls ``step()`` every ``interval_s`` seconds until :meth:`stop`. A failing
step is logged and the thread backs off for a second instead of spinning on a persistent
fault; a later step may recover (e.g. a transient GPIO error).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

#: Pause after a failed step, in seconds.
BACKOFF_SECONDS = 1.0


class PollingThread:
    """Calls ``step`` every ``interval_s`` seconds on a daemon thread named ``name``."""

    def __init__(self, name: str, interval_s: float, step: Callable[[], object]) -> None:
        self.name = name
        self.interval_s = interval_s
        self._step = step
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the thread; does nothing if it already runs."""
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self._step()
            except Exception:  # noqa: BLE001 - an input thread must never die
                if self._stop.is_set():
                    break
                log.exception("%s failed", self.name)
                self._stop.wait(BACKOFF_SECONDS)

    def stop(self) -> None:
        """Stop and join the thread (at most 2 s); safe to call twice and from the thread itself."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2.0)
