"""Fingerprint sensor adapter (ZhianTec ZFM-20 / R30x / AS608 on a UART) and its identify loop.

:class:`PyFingerprintSensor` wraps pyfingerprint 1.5 (unchanged, pinned) so the
rest of Kunci never sees its quirks (docs/reference hardware.md §1.5):

* **One owner thread.** Every library call runs on a single worker thread fed
  by a command queue; public methods submit a job and wait for it, so
  concurrent callers are serialised (the library is not thread-safe).
* **Robust reader.** ``RobustPyFingerprint`` overrides the name-mangled
  ``_PyFingerprint__readPacket``: leftover bytes stay on the instance (ack and
  data packets arrive back to back), it resynchronises on ``EF 01`` (stray
  bytes such as a 0x55 "ready" byte are skipped) and enforces a per-packet
  deadline of ``command_timeout_seconds``, so a dead sensor raises
  :class:`~drivers.errors.SensorUnavailable` after ~3 s instead of 24 s.
  ``_PyFingerprint__writePacket`` flushes the input before each command packet
  and writes the packet in one ``write()``.
* **Typed errors.** The library's bare ``Exception`` strings and its
  ``False``/``-1`` results become the :mod:`drivers.errors` tree; the serial
  input is flushed after any error; a :class:`~drivers.errors.SensorProtocolError`
  (garbled reply) is retried once.
* The port is opened with ``exclusive=True`` (flock), so a second process
  cannot talk to the sensor at the same time.

:class:`SensorWatcher` is the daemon's identify loop on its own thread: it
polls for a finger, identifies it, emits driver events, and reconnects after
the sensor is lost. pyfingerprint and pyserial are imported only when a
sensor is opened, so this module imports anywhere.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import queue
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

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
from drivers.events import EventSink, FingerMatched, FingerUnknown, SensorLost, SensorRestored
from drivers.fingerprint_protocol import PACKET_SIZES, PID_COMMAND, FrameError, Packet, PacketParser, build_packet

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Progress steps :meth:`PyFingerprintSensor.enroll` reports, in order.
ENROLL_STEPS = ("place_finger", "lift_finger", "place_again", "storing")
#: Serial read slice: how long one ``read()`` may block while the packet deadline runs.
_READ_SLICE_SECONDS = 0.05
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


# --------------------------------------------------------------------------- library errors

# Exact messages of pyfingerprint 1.5's bare exceptions (hardware.md §1.2) -> our error and text.
_MESSAGES: tuple[tuple[str, type[SensorError], str], ...] = (
    ("checksum is wrong", SensorProtocolError, "garbled reply from the sensor (bad checksum)"),
    ("valid header", SensorProtocolError, "garbled reply from the sensor (bad header)"),
    ("no ack packet", SensorProtocolError, "unexpected packet type from the sensor"),
    ("no data packet", SensorProtocolError, "unexpected packet type during a transfer"),
    ("Communication error", SensorProtocolError, "the sensor reported a communication error"),
    ("Could not download characteristics", SensorProtocolError, "the sensor could not send the template"),
    ("Could not upload characteristics", SensorProtocolError, "the sensor could not receive the template"),
    ("Could not read image", PoorImage, "the finger image could not be read"),
    ("too messy", PoorImage, "the finger image is too messy"),
    ("too few feature points", PoorImage, "the finger image has too few feature points"),
    ("The image is invalid", PoorImage, "the finger image is invalid"),
    ("Could not store template in that position", SlotInvalid, "the sensor refused that slot"),
    ("Could not load template from that position", SlotInvalid, "the sensor refused that slot"),
    ("Invalid position", SlotInvalid, "the sensor refused that slot"),
    ("The template could not be read", SlotInvalid, "no readable template in that slot"),
    ("Error writing to flash", FlashError, "the sensor could not write its flash"),
    ("The address is wrong", SensorAuthError, "the sensor refused the configured address"),
)

# Confirmation codes that 1.5 only reports as 'Unknown error 0x..'.
_UNKNOWN_CODES: dict[int, tuple[type[SensorError], str]] = {
    0x04: (PoorImage, "the finger is too dry or faint"),
    0x05: (PoorImage, "the finger is too wet or blurred"),
    0x18: (FlashError, "the sensor could not write its flash"),
    0x1F: (LibraryFull, "the sensor's template library is full"),
    0x21: (SensorAuthError, "the sensor requires the password to be verified"),
}

_UNKNOWN_RE = re.compile(r"Unknown error (0x[0-9a-fA-F]+)")


def _map_error(exc: BaseException) -> BaseException:
    """Translate an exception raised inside a library call into a :class:`SensorError`.

    Programming errors (``TypeError``, ``AttributeError``...) are returned unchanged.
    """
    if isinstance(exc, SensorError):
        return exc
    if isinstance(exc, OSError):  # includes serial.SerialException and its timeout
        return SensorUnavailable(f"the sensor port failed: {exc}")
    if isinstance(exc, ValueError):  # the library's own argument checks
        if "position" in str(exc) or "count" in str(exc):
            return SlotInvalid("slot outside the sensor's range")
        return SensorError(f"invalid argument for the sensor: {exc}")
    if isinstance(exc, IndexError):  # a short reply indexed past its end (or getMaxPacketSize's bug)
        return SensorProtocolError("reply from the sensor is too short")
    if type(exc) is Exception:
        text = str(exc)
        for needle, cls, message in _MESSAGES:
            if needle in text:
                return cls(message)
        found = _UNKNOWN_RE.search(text)
        if found:
            code = int(found.group(1), 16)
            cls, message = _UNKNOWN_CODES.get(code, (SensorError, f"the sensor answered error code 0x{code:02x}"))
            return cls(message)
        return SensorError(f"sensor error: {text[:80]}")
    if exc.__class__.__module__.startswith("termios"):
        return SensorUnavailable(f"the sensor port failed: {exc}")
    return exc


@functools.cache
def _robust_class() -> type:
    """Build ``RobustPyFingerprint`` on first use, so pyfingerprint (and PIL) load only when needed."""
    import serial
    from pyfingerprint.pyfingerprint import PyFingerprint

    class RobustPyFingerprint(PyFingerprint):  # type: ignore[misc]
        """pyfingerprint 1.5 with a deadline-bound, resynchronising reader (hardware.md §2.4).

        The base constructor is not called: it opens the port twice with a fixed 2 s
        timeout. This one validates the same arguments, sets the base class's private
        state and opens the port once, exclusively, through ``serial_factory``.
        """

        def __init__(
            self,
            port: str,
            baud_rate: int,
            address: int,
            password: int,
            *,
            deadline_seconds: float,
            serial_factory: Callable[..., Any] | None,
        ) -> None:
            if baud_rate < 9600 or baud_rate > 115200 or baud_rate % 9600:
                raise ValueError("baud rate must be a multiple of 9600 in 9600..115200")
            if not 0 <= address <= 0xFFFFFFFF or not 0 <= password <= 0xFFFFFFFF:
                raise ValueError("address and password are 32-bit unsigned numbers")
            self._PyFingerprint__serial = None
            self._PyFingerprint__address = address
            self._PyFingerprint__password = password
            self._address = address
            self._deadline = deadline_seconds
            self._parser = PacketParser()
            self._ready: deque[Packet | FrameError] = deque()
            factory = serial_factory or serial.Serial
            self._PyFingerprint__serial = factory(
                port=port,
                baudrate=baud_rate,
                bytesize=8,
                timeout=_READ_SLICE_SECONDS,
                write_timeout=deadline_seconds,
                exclusive=True,
            )

        def flush_input(self) -> None:
            """Drop buffered input, in the OS and in the parser (never raises)."""
            self._parser.clear()
            self._ready.clear()
            try:
                self._PyFingerprint__serial.reset_input_buffer()
            except Exception as exc:  # a dead port cannot be flushed; the next call reports it
                log.debug("flush failed: %s", exc)

        def close_port(self) -> None:
            """Close the serial port (never raises)."""
            ser = self._PyFingerprint__serial
            try:
                if ser is not None and ser.is_open:
                    ser.close()
            except Exception as exc:
                log.debug("closing the sensor port failed: %s", exc)

        def _PyFingerprint__writePacket(self, packetType: int, packetPayload: Any) -> None:  # noqa: N802, N803
            if packetType == PID_COMMAND:
                self.flush_input()  # whatever is still in flight belongs to an earlier command
            data = build_packet(packetType, bytes(packetPayload), self._address)
            try:
                self._PyFingerprint__serial.write(data)
            except Exception as exc:  # SerialException, SerialTimeoutException, OSError, termios.error
                raise SensorUnavailable(f"cannot write to the sensor port: {exc}") from exc

        def _PyFingerprint__readPacket(self) -> tuple[int, list[int]]:  # noqa: N802
            ser = self._PyFingerprint__serial
            deadline = time.monotonic() + self._deadline
            while True:
                while self._ready:
                    item = self._ready.popleft()
                    if isinstance(item, FrameError):
                        raise SensorProtocolError(f"garbled reply from the sensor (bad {item.reason})")
                    if item.address != self._address:
                        log.debug("ignoring a packet from address 0x%08x", item.address)
                        continue
                    return item.pid, list(item.payload)
                if time.monotonic() >= deadline:
                    raise SensorUnavailable(f"the sensor did not answer within {self._deadline:.1f} s")
                try:
                    chunk = ser.read(ser.in_waiting or 1)
                except Exception as exc:
                    raise SensorUnavailable(f"cannot read from the sensor port: {exc}") from exc
                if chunk:
                    self._ready.extend(self._parser.feed(chunk))

    return RobustPyFingerprint


# --------------------------------------------------------------------------- owner thread


class _Cancelled(SensorError):
    """The job's caller went away (its ``on_step`` raised) or the sensor is closing."""


class _Job:
    """One unit of work for the owner thread, with a channel for progress steps."""

    def __init__(self, fn: Callable[[_Job], Any]) -> None:
        self.fn = fn
        self.result: Any = None
        self.error: BaseException | None = None
        self.events: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()
        self.cancelled = threading.Event()

    def step(self, name: str) -> None:
        if self.cancelled.is_set():
            raise _Cancelled("enrolment cancelled")
        self.events.put(("step", name))


class PyFingerprintSensor:
    """The fingerprint sensor on a serial port, through pyfingerprint 1.5.

    Wiring: build it from the ``[sensor]`` config, call :meth:`open` (or use it as a
    context manager), hand it to a :class:`SensorWatcher` for the identify loop and
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
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        self._closing = threading.Event()
        self._lifecycle = threading.Lock()

    def __repr__(self) -> str:
        return f"PyFingerprintSensor(port={self.port!r}, baud_rate={self.baud_rate})"

    # ------------------------------------------------------------------ lifecycle

    def open(self) -> None:
        """Connect (or reconnect, dropping the previous port), verify the password, read the capacity.

        Raises :class:`SensorUnavailable` (no port, no answer), :class:`SensorAuthError`
        (wrong password or address).
        """
        with self._lifecycle:
            if self._worker is None or not self._worker.is_alive():
                self._closing.clear()
                self._jobs = queue.SimpleQueue()
                self._worker = threading.Thread(target=self._serve, name="kunci-fingerprint", daemon=True)
                self._worker.start()
        self._submit(self._open_job)

    def close(self) -> None:
        """Stop the owner thread and close the port. Idempotent; pending calls fail with SensorUnavailable."""
        with self._lifecycle:
            worker, self._worker = self._worker, None
            if worker is None:
                return
            self._closing.set()
            self._jobs.put(None)
        worker.join(timeout=self.command_timeout_seconds * 3 + 1)
        if worker.is_alive():
            log.warning("fingerprint owner thread did not stop in time")

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

        def job(_: _Job) -> SensorInfo:
            params = self._call(lambda lib: lib.getSystemParameters())
            count = self._call(lambda lib: lib.getTemplateCount())
            code = params[5]
            packet_size = PACKET_SIZES[code] if 0 <= code < len(PACKET_SIZES) else 0
            self._capacity = params[2]
            return SensorInfo(params[2], count, params[3], packet_size)

        return self._submit(job)

    def finger_present(self) -> bool:
        """Capture one image (GenImg): True if a finger is on the glass. The image is kept for
        :meth:`identify`. Raises :class:`PoorImage` when a finger is there but unreadable."""
        return self._submit(lambda _: bool(self._call(lambda lib: lib.readImage())))

    def identify(self) -> Match | None:
        """Search the image captured by the last :meth:`finger_present` (Img2Tz(1) + Search).

        Returns the :class:`Match` or None when no stored template matches. Raises
        :class:`PoorImage` when the image cannot be used (0x06, 0x07, 0x15).
        """
        return self._submit(lambda _: self._identify_job())

    def enroll(self, on_step: Callable[[str], None], timeout_seconds: float = 20.0, slot: int | None = None) -> int:
        """Enrol a finger with two captures and store it; return its slot.

        Flow: ``place_finger`` → capture 1 (a stored duplicate raises
        :class:`DuplicateFinger` with its slot) → ``lift_finger`` → ``place_again`` →
        capture 2 (not the same finger: :class:`EnrollMismatch`) → ``storing`` → store.
        The whole enrolment is one job: no other call reaches the sensor meanwhile.

        :param on_step: called with each step name of :data:`ENROLL_STEPS`, in the caller's
            thread; if it raises, the enrolment is cancelled and the exception re-raised.
        :param timeout_seconds: longest wait for each finger placement or lift, default
            20.0 s; exceeded → :class:`EnrollTimeout`.
        :param slot: where to store (an existing template there is overwritten); default
            None = the first free slot (:class:`LibraryFull` if none). Outside
            ``0..capacity-1`` → :class:`SlotInvalid`.
        """
        return self._submit(lambda job: self._enroll_job(job, timeout_seconds, slot), on_step)

    def delete(self, slot: int) -> None:
        """Erase the template in ``slot`` (erasing an empty slot is not an error)."""

        def job(_: _Job) -> None:
            self._check_slot(slot)
            if not self._call(lambda lib: lib.deleteTemplate(slot, 1)):
                raise FlashError(f"the sensor could not delete slot {slot}")

        self._submit(job)

    def clear(self) -> None:
        """Erase every stored template."""

        def job(_: _Job) -> None:
            if not self._call(lambda lib: lib.clearDatabase()):
                raise FlashError("the sensor could not clear its template library")

        self._submit(job)

    def slots(self) -> set[int]:
        """The occupied template slots (reads as many index pages as the capacity needs)."""
        return self._submit(lambda _: self._slots_job())

    def export_template(self, slot: int) -> bytes:
        """Read the template stored in ``slot`` (vendor-specific bytes, 512 on R307/ZFM-20)."""

        def job(_: _Job) -> bytes:
            self._check_slot(slot)
            self._call(lambda lib: lib.loadTemplate(slot, 1))
            return bytes(self._call(lambda lib: lib.downloadCharacteristics(1)))

        return self._submit(job)

    def import_template(self, slot: int, data: bytes) -> None:
        """Store template ``data`` (from :meth:`export_template` on the same sensor family) in ``slot``."""
        payload = list(bytes(data))
        if not payload:
            raise ValueError("template data is empty")

        def upload(lib: Any) -> None:
            if not lib.uploadCharacteristics(1, payload):
                raise SensorProtocolError("the template read back from the sensor differs")

        def job(_: _Job) -> None:
            self._check_slot(slot)
            self._call(upload)
            self._call(lambda lib: lib.storeTemplate(slot, 1))

        self._submit(job)

    # ------------------------------------------------------------------ jobs (owner thread)

    def _open_job(self, _: _Job) -> None:
        self._drop_lib()
        cls = _robust_class()
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

    def _enroll_job(self, job: _Job, timeout_seconds: float, slot: int | None) -> int:
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

    def _wait_finger(self, job: _Job, present: bool, timeout_seconds: float) -> None:
        deadline = time.monotonic() + timeout_seconds
        while True:
            if job.cancelled.is_set() or self._closing.is_set():
                raise _Cancelled("enrolment cancelled")
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
                error = _map_error(exc)
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

    # ------------------------------------------------------------------ owner thread plumbing

    def _serve(self) -> None:
        jobs = self._jobs
        while True:
            job = jobs.get()
            if job is None:
                break
            try:
                if self._closing.is_set():
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
        self._drop_lib()

    def _submit(self, fn: Callable[[_Job], T], on_step: Callable[[str], None] | None = None) -> T:
        worker = self._worker
        if worker is threading.current_thread():
            raise RuntimeError("sensor methods must not be called from the sensor's own thread")
        if worker is None or self._closing.is_set():
            raise SensorUnavailable("the fingerprint sensor is closed")
        job = _Job(fn)
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


# --------------------------------------------------------------------------- identify loop


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
