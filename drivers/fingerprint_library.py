"""The boundary with pyfingerprint 1.5: its errors mapped to ours, and a reader that survives a bad line.

* :func:`map_error` turns the library's bare ``Exception`` strings (and serial/termios errors) into the
  :mod:`drivers.errors` tree (hardware.md §1.2).
* :func:`robust_class` builds ``RobustPyFingerprint`` on first use: a subclass that overrides the
  name-mangled ``_PyFingerprint__readPacket`` (leftover bytes kept, resynchronises on ``EF 01``, a
  per-packet deadline instead of the library's 24 s stall) and ``_PyFingerprint__writePacket`` (input
  flushed before each command, one ``write()``), hardware.md §2.4. pyfingerprint and pyserial are
  imported only then, so this module imports anywhere.

Used by :class:`drivers.fingerprint.PyFingerprintSensor` only.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from drivers.errors import (
    FlashError,
    LibraryFull,
    PoorImage,
    SensorAuthError,
    SensorError,
    SensorProtocolError,
    SensorUnavailable,
    SlotInvalid,
)
from drivers.fingerprint_protocol import (
    PID_COMMAND,
    FrameError,
    Packet,
    PacketParser,
    build_packet,
)

log = logging.getLogger(__name__)

#: Serial read slice: how long one ``read()`` may block while the packet deadline runs.
READ_SLICE_SECONDS = 0.05

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


def map_error(exc: BaseException) -> BaseException:
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
def robust_class() -> type:
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
                timeout=READ_SLICE_SECONDS,
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
