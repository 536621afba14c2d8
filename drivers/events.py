"""Frozen events that drivers hand to the daemon.

Drivers never decide anything: a driver callback builds one of these and passes
it to the ``on_event`` callable it was given (the daemon puts it on its queue).
``t`` is always a ``time.monotonic()`` reading (seconds) taken by the driver or
by the injected clock; wall-clock time is added by the daemon when it logs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class KeyPressed:
    """One debounced key: ``key`` is one of ``0-9 * # A B C D``."""

    key: str
    t: float


@dataclass(frozen=True, slots=True)
class FingerMatched:
    """The sensor found the finger on the glass in ``slot`` with match ``score``."""

    slot: int
    score: int
    t: float


@dataclass(frozen=True, slots=True)
class FingerUnknown:
    """A finger was read but matched no stored template (or the image was unusable: ``reason``)."""

    t: float
    reason: str = "no_match"


@dataclass(frozen=True, slots=True)
class DoorContact:
    """Door position switch changed: ``open`` True when the door is open (or the wire is cut)."""

    open: bool
    t: float


@dataclass(frozen=True, slots=True)
class ExitPressed:
    """Request-to-exit button (or PIR) went active."""

    t: float


@dataclass(frozen=True, slots=True)
class TamperChanged:
    """Enclosure tamper switch: ``active`` True when the box is open (or the wire is cut)."""

    active: bool
    t: float


@dataclass(frozen=True, slots=True)
class SensorLost:
    """The fingerprint sensor stopped answering (``reason``: one line, no secrets)."""

    reason: str
    t: float


@dataclass(frozen=True, slots=True)
class SensorRestored:
    """The fingerprint sensor answers again (password verified, ``capacity`` read)."""

    capacity: int
    t: float


DriverEvent = KeyPressed | FingerMatched | FingerUnknown | DoorContact | ExitPressed | TamperChanged | SensorLost | SensorRestored

#: What drivers call with each event. Must be cheap and thread-safe (e.g. ``queue.Queue.put``).
EventSink = Callable[[DriverEvent], None]


@dataclass(frozen=True, slots=True)
class AtDoor:
    """A driver event of door number ``door`` (1-3: the doors after the first; the first door's drivers hand
    their events over unwrapped, as with one door)."""

    door: int
    event: DriverEvent

    @property
    def t(self) -> float:
        return self.event.t


def door_sink(sink: EventSink, door: int) -> EventSink:
    """The sink for door number ``door``'s drivers: its events reach ``sink`` tagged with the door (the first
    door, number 0, hands them over as they are)."""
    if door == 0:
        return sink

    def put(event: DriverEvent) -> None:
        sink(AtDoor(door, event))

    return put
