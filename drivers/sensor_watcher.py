"""The daemon's identify loop: :class:`SensorWatcher` polls the fingerprint sensor on its own thread.

It reports what it reads as driver events (:mod:`drivers.events`) and reconnects a lost sensor; the
sensor is a :class:`drivers.fingerprint.PyFingerprintSensor` or any :class:`WatchedSensor`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from drivers.errors import (
    PoorImage,
    SensorAuthError,
    SensorError,
    SensorProtocolError,
    SensorUnavailable,
)
from drivers.events import (
    EventSink,
    FingerMatched,
    FingerUnknown,
    SensorLost,
    SensorRestored,
)

if TYPE_CHECKING:
    from drivers.fingerprint import Match

log = logging.getLogger(__name__)


class WatchedSensor(Protocol):
    """What :class:`SensorWatcher` needs from a sensor (PyFingerprintSensor or a domain fake)."""

    def open(self) -> None: ...

    def finger_present(self) -> bool: ...

    def identify(self) -> Match | None: ...

    @property
    def capacity(self) -> int: ...


class SensorWatcher:
    """The daemon's identify loop, on its own thread; never lets an exception escape.

    Every ``poll_interval_ms`` it asks the sensor whether a finger is present; on a
    finger it identifies it and emits :class:`FingerMatched` (slot, score) or
    :class:`FingerUnknown` (``reason`` ``no_match`` or ``poor_image``), then waits for
    the finger to be lifted before reading again. The score threshold is the
    daemon's decision.

    Losing the sensor: one :class:`SensorUnavailable` (3 s of silence or a dead port), a
    :class:`SensorAuthError` (power-cycled module wants its password) or
    ``protocol_errors_before_lost`` consecutive :class:`SensorProtocolError` emit
    :class:`SensorLost` once; the watcher then calls ``sensor.open()`` (reconnect,
    verify password, read capacity) with exponential backoff from
    ``reconnect_initial_seconds`` up to ``reconnect_max_seconds`` and emits
    :class:`SensorRestored` when it succeeds.

    ``with watcher.paused(): sensor.enroll(...)`` stops polling (after the current
    poll finishes) so the daemon can use the same sensor.

    :param sensor: the sensor; open it first (if it is not, the first poll reports it lost
        and the watcher connects it).
    :param on_event: the daemon's :data:`EventSink` (cheap, thread-safe).
    :param poll_interval_ms: pause between finger polls, default 100 ms.
    :param reconnect_max_seconds: cap of the reconnect backoff, default 30.0 s.
    :param reconnect_initial_seconds: first reconnect delay, doubled per failure; default 0.5 s.
    :param protocol_errors_before_lost: consecutive garbled replies (each already retried
        once) that count as a lost sensor; default 3.
    :param clock: monotonic clock for event times, default ``time.monotonic``.
    """

    def __init__(
        self,
        sensor: WatchedSensor,
        on_event: EventSink,
        *,
        poll_interval_ms: int = 100,
        reconnect_max_seconds: float = 30.0,
        reconnect_initial_seconds: float = 0.5,
        protocol_errors_before_lost: int = 3,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sensor = sensor
        self._on_event = on_event
        self._poll_seconds = poll_interval_ms / 1000.0
        self._backoff_max = reconnect_max_seconds
        self._backoff_initial = min(reconnect_initial_seconds, reconnect_max_seconds)
        self._protocol_limit = max(1, protocol_errors_before_lost)
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._iteration = threading.Lock()
        self._pause_lock = threading.Lock()
        self._pauses = 0
        self._lost = False
        self._awaiting_lift = False
        self._protocol_errors = 0
        self._backoff = self._backoff_initial
        self._next_attempt = 0.0

    @property
    def lost(self) -> bool:
        """True between a :class:`SensorLost` and the following :class:`SensorRestored`."""
        return self._lost

    def start(self) -> None:
        """Start the watcher thread (once)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="kunci-sensor-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and wait for it (idempotent). Does not close the sensor."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        thread.join()

    def __enter__(self) -> SensorWatcher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Suspend polling and reconnecting for the ``with`` block (waits for the current poll to end)."""
        with self._pause_lock:
            self._pauses += 1
        with self._iteration:  # the poll in progress, if any, is over once we get this
            pass
        try:
            yield
        finally:
            with self._pause_lock:
                self._pauses -= 1
            self._awaiting_lift = True  # the enrolled finger may still be on the glass

    # ------------------------------------------------------------------ thread

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with self._iteration:
                    if self._pauses:
                        pass
                    elif self._lost:
                        self._try_reconnect()
                    else:
                        self._poll()
            except BaseException:  # nothing may kill the loop
                log.exception("fingerprint watcher iteration failed")
            self._stop.wait(self._poll_seconds)

    def _poll(self) -> None:
        try:
            self._poll_once()
            self._protocol_errors = 0
        except SensorProtocolError as exc:
            self._protocol_errors += 1
            log.warning("fingerprint sensor reply garbled (%d in a row): %s", self._protocol_errors, exc)
            if self._protocol_errors >= self._protocol_limit:
                self._declare_lost(f"garbled replies: {exc}")
        except (SensorUnavailable, SensorAuthError) as exc:
            self._declare_lost(str(exc))
        except SensorError as exc:
            log.warning("fingerprint sensor error: %s", exc)

    def _poll_once(self) -> None:
        try:
            present = self._sensor.finger_present()
        except PoorImage:
            if not self._awaiting_lift:
                self._emit(FingerUnknown(t=self._clock(), reason="poor_image"))
                self._awaiting_lift = True
            return
        if self._awaiting_lift:
            self._awaiting_lift = present
            return
        if not present:
            return
        self._awaiting_lift = True
        try:
            match = self._sensor.identify()
        except PoorImage:
            self._emit(FingerUnknown(t=self._clock(), reason="poor_image"))
            return
        if match is None:
            self._emit(FingerUnknown(t=self._clock()))
        else:
            self._emit(FingerMatched(slot=match.slot, score=match.score, t=self._clock()))

    def _declare_lost(self, reason: str) -> None:
        self._lost = True
        self._awaiting_lift = False
        self._protocol_errors = 0
        self._backoff = self._backoff_initial
        self._next_attempt = time.monotonic() + self._backoff
        log.warning("fingerprint sensor lost: %s", reason)
        self._emit(SensorLost(reason=reason[:200], t=self._clock()))

    def _try_reconnect(self) -> None:
        if time.monotonic() < self._next_attempt:
            return
        try:
            self._sensor.open()
            capacity = self._sensor.capacity
        except Exception as exc:
            self._backoff = min(self._backoff * 2, self._backoff_max)
            self._next_attempt = time.monotonic() + self._backoff
            log.info("fingerprint sensor still unavailable (%s); next try in %.1f s", exc, self._backoff)
            return
        self._lost = False
        log.info("fingerprint sensor restored, capacity %d", capacity)
        self._emit(SensorRestored(capacity=capacity, t=self._clock()))

    def _emit(self, event: Any) -> None:
        try:
            self._on_event(event)
        except Exception:
            log.exception("fingerprint event sink failed")
