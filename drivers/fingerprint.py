"""Fingerprint sensor adapter (ZhianTec ZFM-20 / R30x / AS608 on a UART).

:class:`PyFingerprintSensor` wraps pyfingerprint 1.5 (unchanged, pinned) so the
rest of Kunci never sees its quirks (docs/reference hardware.md §1.5):

* **One owner thread** (:mod:`drivers.fingerprint_owner`). Every library call
  runs on a single worker thread fed by a command queue; public methods submit
  a job and wait for it, so concurrent callers are serialised (the library is
  not thread-safe).
* **Robust reader** (:mod:`drivers.fingerprint_library`): a per-packet deadline
  of ``command_timeout_seconds`` (a dead sensor raises
  :class:`~drivers.errors.SensorUnavailable` after ~3 s instead of 24 s),
  resynchronisation on ``EF 01``, input flushed before each command.
* **Typed errors.** The library's bare ``Exception`` strings and its
  ``False``/``-1`` results become the :mod:`drivers.errors` tree; the serial
  input is flushed after any error; a :class:`~drivers.errors.SensorProtocolError`
  (garbled reply) is retried once.
* The port is opened with ``exclusive=True`` (flock), so a second process
  cannot talk to the sensor at the same time.

The daemon's identify loop is :class:`drivers.sensor_watcher.SensorWatcher`.
pyfingerprint and pyserial are imported only when a sensor is opened, so this
module imports anywhere.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from drivers.errors import (
    DuplicateFinger,
    EnrollMismatch,
    EnrollTimeout,
    FlashError,
    LibraryFull,
    PoorImage,
    SensorAuthError,
    SensorError,
    SensorProtocolError,
    SensorUnavailable,
    SlotInvalid,
)
from drivers.fingerprint_library import map_error, robust_class
from drivers.fingerprint_owner import Cancelled, Job, OwnerThread
from drivers.fingerprint_protocol import PACKET_SIZES

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Progress steps :meth:`PyFingerprintSensor.enroll` reports, in order.
ENROLL_STEPS = ("place_finger", "lift_finger", "place_again", "storing")
#: GenImg poll period while an enrolment waits for a finger to be placed or lifted.
_ENROLL_POLL_SECONDS = 0.05
#: Slots per template index page (ReadIndexTable); pyfingerprint 1.5 reads pages 0..3.
_SLOTS_PER_PAGE = 256


@dataclass(frozen=True, slots=True)
class SensorInfo:
    """What the sensor reports about itself: slots, stored templates, security level 1..5,
    and data packet size in bytes (32/64/128/256)."""

    capacity: int
    template_count: int
    security_level: int
    packet_size: int


@dataclass(frozen=True, slots=True)
class Match:
    """A search hit: the template ``slot`` and the sensor's match ``score`` (higher is surer)."""

    slot: int
    score: int


class PyFingerprintSensor:
    """The fingerprint sensor on a serial port, through pyfingerprint 1.5.

    Wiring: build it from the ``[sensor]`` config, call :meth:`open` (or use it as a
    context manager), hand it to a :class:`~drivers.sensor_watcher.SensorWatcher` for the identify loop and
    call :meth:`enroll`/:meth:`delete` from the daemon inside ``watcher.paused()``.
    Every method may be called from any thread; calls are serialised on the
    sensor's owner thread. Errors are :mod:`drivers.errors` types.

    :param port: serial device, e.g. ``/dev/serial0`` (or a simulator's :attr:`port`).
    :param baud_rate: bits per second, a multiple of 9600 in 9600..115200; default 57600.
    :param address: 32-bit module address; default ``0xFFFFFFFF``.
    :param password: 32-bit module password; default 0.
    :param command_timeout_seconds: deadline for each reply packet; no answer within it
        raises :class:`SensorUnavailable`. Default 3.0 s (the slowest real reply, a
        1:1000 search, is about 1 s).
    :param serial_factory: builds the port, called like ``serial.Serial(port=, baudrate=,
        bytesize=8, timeout=, write_timeout=, exclusive=True)``; default ``serial.Serial``.
    """

    def __init__(
        self,
        port: str,
        baud_rate: int = 57600,
        address: int = 0xFFFFFFFF,
        password: int = 0,
        *,
        command_timeout_seconds: float = 3.0,
        serial_factory: Callable[..., Any] | None = None,
    ) -> None:
        self.port = port
        self.baud_rate = baud_rate
        self.address = address
        self._password = password
        self.command_timeout_seconds = command_timeout_seconds
        self._serial_factory = serial_factory
        self._lib: Any = None
        self._capacity: int | None = None
        self._owner = OwnerThread("kunci-fingerprint", on_exit=self._drop_lib)

    def __repr__(self) -> str:
        return f"PyFingerprintSensor(port={self.port!r}, baud_rate={self.baud_rate})"

    # ------------------------------------------------------------------ lifecycle

    def open(self) -> None:
        """Connect (or reconnect, dropping the previous port), verify the password, read the capacity.

        Raises :class:`SensorUnavailable` (no port, no answer), :class:`SensorAuthError`
        (wrong password or address).
        """
        self._owner.start()
        self._owner.submit(self._open_job)

    def close(self) -> None:
        """Stop the owner thread and close the port. Idempotent; pending calls fail with SensorUnavailable."""
        self._owner.stop(timeout=self.command_timeout_seconds * 3 + 1)

    def __enter__(self) -> PyFingerprintSensor:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def capacity(self) -> int:
        """Number of template slots, read at :meth:`open`. Raises SensorUnavailable before that."""
        if self._capacity is None:
            raise SensorUnavailable("the fingerprint sensor has not been opened")
        return self._capacity

    # ------------------------------------------------------------------ operations

    def info(self) -> SensorInfo:
        """Read capacity, number of stored templates, security level and packet size."""

        def job(_: Job) -> SensorInfo:
            params = self._call(lambda lib: lib.getSystemParameters())
            count = self._call(lambda lib: lib.getTemplateCount())
            code = params[5]
            packet_size = PACKET_SIZES[code] if 0 <= code < len(PACKET_SIZES) else 0
            self._capacity = params[2]
            return SensorInfo(params[2], count, params[3], packet_size)

        return self._owner.submit(job)

    def finger_present(self) -> bool:
        """Capture one image (GenImg): True if a finger is on the glass. The image is kept for
        :meth:`identify`. Raises :class:`PoorImage` when a finger is there but unreadable."""
        return self._owner.submit(lambda _: bool(self._call(lambda lib: lib.readImage())))

    def identify(self) -> Match | None:
        """Search the image captured by the last :meth:`finger_present` (Img2Tz(1) + Search).

        Returns the :class:`Match` or None when no stored template matches. Raises
        :class:`PoorImage` when the image cannot be used (0x06, 0x07, 0x15).
        """
        return self._owner.submit(lambda _: self._identify_job())

    def enroll(self, on_step: Callable[[str], None], *, timeout_seconds: float, slot: int | None = None) -> int:
        """Enrol a finger with two captures and store it; return its slot.

        Flow: ``place_finger`` → capture 1 (a stored duplicate raises
        :class:`DuplicateFinger` with its slot) → ``lift_finger`` → ``place_again`` →
        capture 2 (not the same finger: :class:`EnrollMismatch`) → ``storing`` → store.
        The whole enrolment is one job: no other call reaches the sensor meanwhile.

        :param on_step: called with each step name of :data:`ENROLL_STEPS`, in the caller's
            thread; if it raises, the enrolment is cancelled and the exception re-raised.
        :param timeout_seconds: longest wait for each finger placement or lift (the daemon
            passes ``sensor.enroll_step_timeout_seconds``); exceeded → :class:`EnrollTimeout`.
        :param slot: where to store (an existing template there is overwritten); default
            None = the first free slot (:class:`LibraryFull` if none). Outside
            ``0..capacity-1`` → :class:`SlotInvalid`.
        """
        return self._owner.submit(lambda job: self._enroll_job(job, timeout_seconds, slot), on_step)

    def delete(self, slot: int) -> None:
        """Erase the template in ``slot`` (erasing an empty slot is not an error)."""

        def job(_: Job) -> None:
            self._check_slot(slot)
            if not self._call(lambda lib: lib.deleteTemplate(slot, 1)):
                raise FlashError(f"the sensor could not delete slot {slot}")

        self._owner.submit(job)

    def clear(self) -> None:
        """Erase every stored template."""

        def job(_: Job) -> None:
            if not self._call(lambda lib: lib.clearDatabase()):
                raise FlashError("the sensor could not clear its template library")

        self._owner.submit(job)

    def slots(self) -> set[int]:
        """The occupied template slots (reads as many index pages as the capacity needs)."""
        return self._owner.submit(lambda _: self._slots_job())

    def export_template(self, slot: int) -> bytes:
        """Read the template stored in ``slot`` (vendor-specific bytes, 512 on R307/ZFM-20)."""

        def job(_: Job) -> bytes:
            self._check_slot(slot)
            self._call(lambda lib: lib.loadTemplate(slot, 1))
            return bytes(self._call(lambda lib: lib.downloadCharacteristics(1)))

        return self._owner.submit(job)

    def import_template(self, slot: int, data: bytes) -> None:
        """Store template ``data`` (from :meth:`export_template` on the same sensor family) in ``slot``."""
        payload = list(bytes(data))
        if not payload:
            raise ValueError("template data is empty")

        def upload(lib: Any) -> None:
            if not lib.uploadCharacteristics(1, payload):
                raise SensorProtocolError("the template read back from the sensor differs")

        def job(_: Job) -> None:
            self._check_slot(slot)
            self._call(upload)
            self._call(lambda lib: lib.storeTemplate(slot, 1))

        self._owner.submit(job)

    # ------------------------------------------------------------------ jobs (owner thread)

    def _open_job(self, _: Job) -> None:
        self._drop_lib()
        cls = robust_class()
        try:
            lib = cls(
                self.port,
                self.baud_rate,
                self.address,
                self._password,
                deadline_seconds=self.command_timeout_seconds,
                serial_factory=self._serial_factory,
            )
        except ValueError as exc:
            raise SensorError(f"invalid sensor settings: {exc}") from exc
        except Exception as exc:  # serial.SerialException (missing port, locked by another process)
            raise SensorUnavailable(f"cannot open the sensor port {self.port}: {exc}") from exc
        self._lib = lib
        try:
            if not self._call(lambda lib: lib.verifyPassword()):
                raise SensorAuthError("the sensor refused the configured password")
            self._capacity = self._call(lambda lib: lib.getSystemParameters())[2]
        except BaseException:
            self._drop_lib()
            raise
        log.info("fingerprint sensor on %s ready, capacity %d", self.port, self._capacity)

    def _identify_job(self) -> Match | None:
        self._call(lambda lib: lib.convertImage(1))
        position, score = self._call(lambda lib: lib.searchTemplate())
        if position < 0:
            return None
        return Match(position, score)

    def _enroll_job(self, job: Job, timeout_seconds: float, slot: int | None) -> int:
        if slot is not None:
            self._check_slot(slot)
        job.step("place_finger")
        self._wait_finger(job, True, timeout_seconds)
        self._call(lambda lib: lib.convertImage(1))
        duplicate, _ = self._call(lambda lib: lib.searchTemplate())
        if duplicate >= 0:
            raise DuplicateFinger(duplicate)
        job.step("lift_finger")
        self._wait_finger(job, False, timeout_seconds)
        job.step("place_again")
        self._wait_finger(job, True, timeout_seconds)
        self._call(lambda lib: lib.convertImage(2))
        if not self._call(lambda lib: lib.createTemplate()):
            raise EnrollMismatch("the two captures are not the same finger")
        job.step("storing")
        target = slot if slot is not None else self._first_free_slot()
        self._call(lambda lib: lib.storeTemplate(target, 1))
        log.info("fingerprint enrolled in slot %d", target)
        return target

    def _wait_finger(self, job: Job, present: bool, timeout_seconds: float) -> None:
        deadline = time.monotonic() + timeout_seconds
        while True:
            if job.cancelled.is_set() or self._owner.closing.is_set():
                raise Cancelled("enrolment cancelled")
            try:
                if self._call(lambda lib: lib.readImage()) == present:
                    return
            except PoorImage:
                if present:
                    raise
                # an unreadable finger is still a finger: keep waiting for the lift
            if time.monotonic() >= deadline:
                what = "placed" if present else "lifted"
                raise EnrollTimeout(f"no finger {what} within {timeout_seconds:g} s")
            job.cancelled.wait(_ENROLL_POLL_SECONDS)

    def _slots_job(self) -> set[int]:
        capacity = self._require_capacity()
        pages = min(4, -(-capacity // _SLOTS_PER_PAGE))
        used: set[int] = set()
        for page in range(pages):
            index = self._call(lambda lib, page=page: lib.getTemplateIndex(page))
            used.update(page * _SLOTS_PER_PAGE + i for i, bit in enumerate(index) if bit)
        return {s for s in used if s < capacity}

    def _first_free_slot(self) -> int:
        used = self._slots_job()
        for candidate in range(self._require_capacity()):
            if candidate not in used:
                return candidate
        raise LibraryFull(f"all {self._require_capacity()} template slots are in use")

    def _require_capacity(self) -> int:
        if self._capacity is None:
            raise SensorUnavailable("the fingerprint sensor is not connected")
        return self._capacity

    def _check_slot(self, slot: int) -> None:
        capacity = self._require_capacity()
        if not 0 <= slot < capacity:
            raise SlotInvalid(f"slot {slot} is outside 0..{capacity - 1}")

    def _call(self, fn: Callable[[Any], T]) -> T:
        """Run one library call: typed errors, input flushed after any error, protocol errors retried once."""
        for attempt in (1, 2):
            lib = self._lib
            if lib is None:
                raise SensorUnavailable("the fingerprint sensor is not connected")
            try:
                return fn(lib)
            except Exception as exc:
                error = map_error(exc)
                lib.flush_input()
                if isinstance(error, SensorProtocolError) and attempt == 1:
                    log.warning("sensor reply garbled (%s); retrying once", error)
                    continue
                if error is exc:
                    raise
                raise error from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _drop_lib(self) -> None:
        lib, self._lib = self._lib, None
        if lib is not None:
            lib.close_port()
