"""The fingerprint sensor's owner thread: every library call runs on it, one job at a time.

pyfingerprint is not thread-safe (hardware.md §1.5: two threads sharing one instance fail every
call), so :class:`drivers.fingerprint.PyFingerprintSensor` never calls it from its callers' threads.
It submits a job (:meth:`OwnerThread.submit`) and waits; a job may report progress steps
(:meth:`Job.step`, for enrolment), which :meth:`~OwnerThread.submit` hands to the caller's
``on_step`` in the caller's thread.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from drivers.errors import SensorError, SensorUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")


class Cancelled(SensorError):
    """The job's caller went away (its ``on_step`` raised) or the sensor is closing."""


class Job:
    """One unit of work for the owner thread, with a channel for progress steps."""

    def __init__(self, fn: Callable[[Job], Any]) -> None:
        self.fn = fn
        self.result: Any = None
        self.error: BaseException | None = None
        # Read with a timeout: a queue.Queue, as CPython 3.11's SimpleQueue.get(timeout) can block for good.
        self.events: queue.Queue[tuple[str, str]] = queue.Queue()
        self.cancelled = threading.Event()

    def step(self, name: str) -> None:
        """Report progress step ``name`` to the waiting caller (raises :class:`Cancelled` if it left)."""
        if self.cancelled.is_set():
            raise Cancelled("enrolment cancelled")
        self.events.put(("step", name))


class OwnerThread:
    """A worker thread that runs submitted jobs in order; callers wait for their own job.

    :param name: the thread's name (shown in ``ps -L`` and tracebacks).
    :param on_exit: called on the worker thread when it stops (the sensor closes its port there).
    """

    def __init__(self, name: str, on_exit: Callable[[], None]) -> None:
        self._name = name
        self._on_exit = on_exit
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        #: Set while stopping: jobs still queued fail, waits for a finger end.
        self.closing = threading.Event()
        self._lifecycle = threading.Lock()

    def start(self) -> None:
        """Start the worker unless it runs (again after :meth:`stop`)."""
        with self._lifecycle:
            if self._worker is None or not self._worker.is_alive():
                self.closing.clear()
                self._jobs = queue.SimpleQueue()
                self._worker = threading.Thread(target=self._serve, name=self._name, daemon=True)
                self._worker.start()

    def stop(self, timeout: float) -> None:
        """Stop the worker after its current job and wait up to ``timeout`` seconds (idempotent)."""
        with self._lifecycle:
            worker, self._worker = self._worker, None
            if worker is None:
                return
            self.closing.set()
            self._jobs.put(None)
        worker.join(timeout=timeout)
        if worker.is_alive():
            log.warning("fingerprint owner thread did not stop in time")

    def _serve(self) -> None:
        jobs = self._jobs
        while True:
            job = jobs.get()
            if job is None:
                break
            try:
                if self.closing.is_set():
                    raise SensorUnavailable("the fingerprint sensor is closed")
                job.result = job.fn(job)
            except BaseException as exc:  # handed to the caller; the owner thread lives on
                job.error = exc
            finally:
                job.events.put(("done", ""))
        # drain anything submitted while closing
        while True:
            try:
                job = jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job.error = SensorUnavailable("the fingerprint sensor is closed")
                job.events.put(("done", ""))
        self._on_exit()

    def submit(self, fn: Callable[[Job], T], on_step: Callable[[str], None] | None = None) -> T:
        """Run ``fn(job)`` on the worker and return its result or raise its error (blocks the caller).

        :param on_step: called in the caller's thread with each step the job reports; if it
            raises, the job is cancelled (its next :meth:`Job.step` or wait raises) and the
            exception re-raised once the job has ended.
        """
        worker = self._worker
        if worker is threading.current_thread():
            raise RuntimeError("sensor methods must not be called from the sensor's own thread")
        if worker is None or self.closing.is_set():
            raise SensorUnavailable("the fingerprint sensor is closed")
        job = Job(fn)
        self._jobs.put(job)
        while True:
            try:
                kind, value = job.events.get(timeout=0.5)
            except queue.Empty:
                if worker.is_alive():
                    continue
                try:  # the owner thread stopped (closed) before it saw this job
                    kind, value = job.events.get_nowait()
                except queue.Empty:
                    raise SensorUnavailable("the fingerprint sensor is closed") from None
            if kind == "done":
                break
            if on_step is not None:
                try:
                    on_step(value)
                except BaseException:
                    job.cancelled.set()
                    while job.events.get()[0] != "done":
                        pass
                    raise
        if job.error is not None:
            error, job.error = job.error, None
            raise error
        return job.result
