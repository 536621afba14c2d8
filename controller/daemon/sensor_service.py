"""The fingerprint sensor's service: one worker thread owns every sensor job, so the door loop never waits.

The door loop must never block on the UART (a mute sensor takes ``command_timeout_seconds`` per
call, and the keypad would stall). So the loop only *asks*: :meth:`SensorService.connect`,
:meth:`~SensorService.read_slots` and :meth:`~SensorService.delete_slots` put a job on this
service's queue and return at once; the worker runs the job against the sensor and hands the result
back to the loop as a frozen event on the daemon's queue (:class:`SensorConnected`, :class:`SlotsRead`,
:class:`SlotsDeleted`, or the driver's :class:`~drivers.events.SensorLost` when the first connection
fails). The loop then does the database side (only the loop writes the door database).

Threads other than the loop (a control connection enrolling a finger or deleting one, ``reload``)
may wait for a job with :meth:`SensorService.run`; the loop thread never calls it.

Wiring (:func:`controller.daemon.hardware.build_hardware`): the service wraps the
:class:`~drivers.fingerprint.PyFingerprintSensor` (whose own owner thread serialises library calls)
and the :class:`~drivers.fingerprint.SensorWatcher` identify loop. An enrolment runs with the watcher
paused (``exclusive``); shorter jobs interleave with identify polls call by call. The watcher is
started by the service after the first connection attempt, so its first poll never races the start-up connection.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from controller.i18n import T
from drivers import events as ev
from drivers.errors import SensorError, SensorUnavailable

log = logging.getLogger(__name__)

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class SensorConnected:
    """The start-up connection worked: the sensor's ``capacity`` and its occupied ``slots``."""

    capacity: int
    slots: frozenset[int]
    t: float


@dataclass(frozen=True, slots=True)
class SlotsRead:
    """Answer to :meth:`SensorService.read_slots`: the occupied template ``slots`` and the ``capacity``."""

    capacity: int
    slots: frozenset[int]
    t: float


@dataclass(frozen=True, slots=True)
class SlotsDeleted:
    """Answer to :meth:`SensorService.delete_slots`: slots erased, slots that failed, and the
    ``missing`` count the loop passed along (active rows whose template is not on the sensor)."""

    deleted: tuple[int, ...]
    failed: tuple[int, ...]
    missing: int
    t: float


@dataclass(frozen=True, slots=True)
class SensorJobFailed:
    """A job the loop asked for could not be done (``job``: its name; ``error``: one line)."""

    job: str
    error: str
    t: float


#: The result events the loop receives from this service (beside the drivers' events).
SensorResult = SensorConnected | SlotsRead | SlotsDeleted | SensorJobFailed
RESULT_TYPES = (SensorConnected, SlotsRead, SlotsDeleted, SensorJobFailed)


class _Job:
    """One unit of work for the worker: ``fn(sensor)``; its outcome goes to ``done`` when someone waits."""

    def __init__(self, fn: Callable[[Any], Any], waited: bool, exclusive: bool = False) -> None:
        self.fn = fn
        self.exclusive = exclusive
        # Waited on with a timeout, so a queue.Queue (controller/daemon/loop.py says why not a SimpleQueue).
        self.done: queue.Queue[tuple[bool, Any]] | None = queue.Queue() if waited else None


class SensorService:
    """Owns the fingerprint sensor for the daemon: a queue of jobs and the one thread that runs them.

    :param sensor: the opened-on-demand sensor (:class:`~drivers.fingerprint.PyFingerprintSensor`).
    :param watcher: its identify loop (:class:`~drivers.fingerprint.SensorWatcher`), or ``None``;
        paused during an exclusive job (enrolment), started after the first connection attempt.
    :param sink: the daemon's event sink (``queue.put``): where results go. Cheap and thread-safe.
    :param clock: monotonic clock for event times, default ``time.monotonic``.
    """

    def __init__(self, sensor: Any, watcher: Any | None, sink: ev.EventSink,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.sensor = sensor
        self.watcher = watcher
        self._sink = sink
        self._clock = clock
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()
        self._watcher_started = False

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker thread (once); jobs asked for before this wait in the queue."""
        if self._thread is None and not self._closed.is_set():
            self._thread = threading.Thread(target=self._serve, name="kunci-sensor-service", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop the worker after the job in progress (idempotent); waiting callers get SensorUnavailable.

        The sensor and the watcher are closed by their owner (:class:`~controller.daemon.hardware.Hardware`):
        closing the sensor first ends a job that is waiting for a finger.
        """
        self._closed.set()
        self._jobs.put(None)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the worker thread to end (after :meth:`close`)."""
        if self._thread is not None:
            self._thread.join(timeout)

    # -- what the loop asks for (never blocks) ----------------------------------------------------

    def connect(self) -> None:
        """Open the sensor and read its slots: :class:`SensorConnected`, or :class:`~drivers.events.SensorLost`
        when it does not answer (the watcher then keeps trying and reports ``SensorRestored``)."""

        def job(sensor: Any) -> None:
            try:
                sensor.open()
                slots = frozenset(sensor.slots())
                capacity = sensor.capacity
            except SensorError as exc:
                self._emit(ev.SensorLost(reason=str(exc)[:200], t=self._clock()))
            else:
                self._emit(SensorConnected(capacity=capacity, slots=slots, t=self._clock()))
            finally:
                self._start_watcher()

        self._put(_Job(job, waited=False))

    def read_slots(self) -> None:
        """Read the occupied slots: :class:`SlotsRead` or :class:`SensorJobFailed`."""

        def job(sensor: Any) -> None:
            try:
                slots = frozenset(sensor.slots())
                capacity = sensor.capacity
            except SensorError as exc:
                self._emit(SensorJobFailed(job="read_slots", error=str(exc)[:200], t=self._clock()))
            else:
                self._emit(SlotsRead(capacity=capacity, slots=slots, t=self._clock()))

        self._put(_Job(job, waited=False))

    def delete_slots(self, slots: list[int], missing: int = 0) -> None:
        """Erase templates ``slots``: :class:`SlotsDeleted` (``missing`` is passed through unchanged)."""
        wanted = tuple(sorted(slots))

        def job(sensor: Any) -> None:
            deleted, failed = delete_each(sensor, wanted)
            self._emit(SlotsDeleted(deleted=deleted, failed=failed, missing=missing, t=self._clock()))

        self._put(_Job(job, waited=False))

    # -- what other threads may wait for -------------------------------------------------------

    def run(self, fn: Callable[[Any], R], *, exclusive: bool = False) -> R:
        """Run ``fn(sensor)`` on the worker and return its result or raise its error (blocks the caller).

        For control-connection threads (enrolment, deletion, ``reload``); never the door loop.
        Raises :class:`~drivers.errors.SensorUnavailable` when the service is closed.

        :param exclusive: pause the identify watcher for the job (enrolment: it uses the sensor's image
            buffers across many calls). Other jobs interleave with identify polls call by call (the
            driver serialises each call), so a touch during a short job is still read.
        """
        if threading.current_thread() is self._thread:
            raise RuntimeError("SensorService.run must not be called from its own worker")
        job = _Job(fn, waited=True, exclusive=exclusive)
        self._put(job)
        while True:
            try:
                ok, value = job.done.get(timeout=0.5)
                break
            except queue.Empty:
                if self._closed.is_set() and (self._thread is None or not self._thread.is_alive()):
                    try:
                        ok, value = job.done.get_nowait()
                        break
                    except queue.Empty:
                        raise SensorUnavailable(T("the fingerprint sensor service is closed")) from None
        if ok:
            return value
        raise value

    # -- the worker -------------------------------------------------------------------------------

    def _put(self, job: _Job) -> None:
        if self._closed.is_set():
            self._fail(job, SensorUnavailable(T("the fingerprint sensor service is closed")))
            return
        self._jobs.put(job)

    def _serve(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None or self._closed.is_set():
                if job is not None:
                    self._fail(job, SensorUnavailable(T("the fingerprint sensor service is closed")))
                break
            self._run_job(job)
        while True:  # whatever was asked for while closing
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                self._fail(job, SensorUnavailable(T("the fingerprint sensor service is closed")))

    def _run_job(self, job: _Job) -> None:
        try:
            if job.exclusive and self.watcher is not None and self._watcher_started:
                with self.watcher.paused():
                    value = job.fn(self.sensor)
            else:
                value = job.fn(self.sensor)
        except BaseException as exc:  # handed to the waiting caller; the worker lives on
            if job.done is None:
                log.exception("fingerprint sensor job failed")
            self._fail(job, exc)
            return
        if job.done is not None:
            job.done.put((True, value))

    @staticmethod
    def _fail(job: _Job, exc: BaseException) -> None:
        if job.done is not None:
            job.done.put((False, exc))

    def _start_watcher(self) -> None:
        if self.watcher is not None and not self._watcher_started and not self._closed.is_set():
            self._watcher_started = True
            self.watcher.start()

    def _emit(self, event: Any) -> None:
        try:
            self._sink(event)
        except Exception:  # a failing sink must not kill the worker
            log.exception("fingerprint result could not be queued")


def delete_each(sensor: Any, slots: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Erase each of ``slots`` on ``sensor``; returns (deleted, failed). A failure is logged, not raised."""
    deleted: list[int] = []
    failed: list[int] = []
    for slot in slots:
        try:
            sensor.delete(slot)
            deleted.append(slot)
        except SensorError as exc:
            log.warning("could not delete the template in sensor slot %d: %s", slot, exc)
            failed.append(slot)
    return tuple(deleted), tuple(failed)
