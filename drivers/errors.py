"""Typed errors of the drivers: the fingerprint sensor's ``SensorError`` tree, and :class:`GpioUnavailable`.

Every one derives from :class:`DriverError`, the drivers' own root: the drivers never import the
controller (an import-linter contract in pyproject.toml keeps it so); the controller catches
``DriverError`` where a driver error reaches a person (the CLI's one-line errors).

The adapter in :mod:`drivers.fingerprint` turns pyfingerprint's bare ``Exception``
strings, its ``False``/``-1`` return values and pyserial's exceptions into these,
always with ``raise ... from exc`` when there is a vendor exception to chain.
Leaves also inherit the builtin they mean, so a caller can catch either.
Messages are one line for a person and never contain the sensor password.
"""

from __future__ import annotations


class DriverError(Exception):
    """Root of every error a driver raises."""


class SensorError(DriverError):
    """Root of every fingerprint sensor error."""


class SensorUnavailable(SensorError, OSError):
    """The sensor does not answer in time, or its serial port is gone or cannot be opened."""


class SensorProtocolError(SensorError):
    """A reply was garbled (bad header, length or checksum, wrong packet type); input was flushed."""


class SensorAuthError(SensorError, PermissionError):
    """The sensor refused the configured password (or address)."""


class PoorImage(SensorError):
    """The finger image could not be used (unreadable, too messy, too few features, invalid)."""


class EnrollMismatch(SensorError):
    """The two captures of an enrolment are not the same finger."""


class DuplicateFinger(SensorError):
    """The finger being enrolled is already stored; ``slot`` is where."""

    def __init__(self, slot: int, message: str | None = None) -> None:
        self.slot = slot
        super().__init__(message or f"this finger is already enrolled in slot {slot}")


class SlotInvalid(SensorError, IndexError):
    """A template slot is outside ``0..capacity-1`` or holds no readable template."""


class FlashError(SensorError):
    """The sensor could not write (or erase) its template flash."""


class LibraryFull(SensorError):
    """Every template slot of the sensor is in use."""


class EnrollTimeout(SensorError, TimeoutError):
    """No finger was placed (or lifted) within the enrolment step's time limit."""


class GpioUnavailable(DriverError, OSError):
    """Real hardware is configured (``simulated = false``) but this machine's GPIO pins cannot be used.

    No pin library loads (gpiozero's ``BadPinFactory``: lgpio missing, no ``/dev/gpiochip*``, not a
    Raspberry Pi). Restarting cannot fix it: ``kunci run`` exits with its own status
    (:data:`controller.cli.daemon_cmd.EXIT_GPIO_UNAVAILABLE`) so systemd does not restart it in a loop.
    """
