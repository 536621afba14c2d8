"""Pure PIN entry buffer: turns key presses into one submitted PIN at a time.

Wiring: the daemon feeds every debounced :class:`drivers.events.KeyPressed` as
``feed(event.key, event.t)`` and calls ``poll(t)`` on every loop tick. ``t`` is a
``time.monotonic()`` reading in seconds; this module never reads a clock.

Keys (the alphabet of :mod:`drivers.keys`): ``0``-``9`` append a digit, ``*`` clears,
``#`` submits, anything else (``A``-``D``) is rejected and clears the entry. The PIN is kept as a string, so
``000123`` and ``123`` stay distinct. The digits are never put in a ``repr`` or a
log line: :class:`Submitted` hides its ``pin`` from ``repr``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from drivers.keys import CLEAR_KEY, DIGIT_KEYS, SUBMIT_KEY

__all__ = ["PinEntry", "PinResult", "Submitted", "Cleared", "Invalid", "InvalidReason", "TimedOut"]

_DIGITS = frozenset(DIGIT_KEYS)


class InvalidReason(StrEnum):
    """Why an entry was rejected without being checked (never counted as a guess)."""

    EMPTY = "empty"  # '#' with no digits
    BAD_KEY = "bad_key"  # A-D or any key that is not a digit, '*' or '#'
    TOO_LONG = "too_long"  # more than max_digits digits


@dataclass(frozen=True, slots=True)
class Submitted:
    """``#`` ended an entry of 1..max_digits digits: check ``pin`` (a digit string)."""

    pin: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Cleared:
    """``*`` cleared the entry."""


@dataclass(frozen=True, slots=True)
class Invalid:
    """The entry was rejected (``reason``: ``empty``, ``bad_key`` or ``too_long``); nothing to check."""

    reason: str


@dataclass(frozen=True, slots=True)
class TimedOut:
    """A partial entry expired after the inter-digit timeout and was discarded."""


PinResult = Submitted | Cleared | Invalid | TimedOut


class PinEntry:
    """Accumulates keypad digits into a PIN.

    ``max_digits``: longest accepted entry (default 12, ``pin.max_entry_digits``); the
    next digit gives ``Invalid("too_long")``, clears the buffer, and further digits are
    ignored until ``*``, ``#`` or the timeout. ``inter_digit_timeout_seconds``: a gap
    longer than this (default 5.0 s) between two keys discards the partial entry
    before the new key is taken, so a PIN split by a pause never matches (T1.4).
    """

    __slots__ = ("_max_digits", "_timeout", "_digits", "_overflow", "_last_t")

    def __init__(self, max_digits: int = 12, inter_digit_timeout_seconds: float = 5.0) -> None:
        if max_digits < 1:
            raise ValueError("max_digits must be at least 1")
        if not inter_digit_timeout_seconds > 0:
            raise ValueError("inter_digit_timeout_seconds must be positive")
        self._max_digits = max_digits
        self._timeout = float(inter_digit_timeout_seconds)
        self._digits: list[str] = []
        self._overflow = False
        self._last_t: float | None = None

    def __repr__(self) -> str:  # never show the digits
        return f"PinEntry(digits={len(self._digits)}, overflow={self._overflow})"

    @property
    def pending(self) -> bool:
        """True while a partial entry (digits, or an over-long entry being ignored) is open."""
        return bool(self._digits) or self._overflow

    @property
    def digit_count(self) -> int:
        """Number of digits entered so far (for a masked display; never the digits)."""
        return len(self._digits)

    def reset(self) -> None:
        """Discard any partial entry silently (e.g. when the keypad is locked out)."""
        self._digits.clear()
        self._overflow = False

    def _expired(self, t: float) -> bool:
        return self.pending and self._last_t is not None and t - self._last_t > self._timeout

    def poll(self, t: float) -> TimedOut | None:
        """Expire a partial entry whose last key is older than the timeout: returns ``TimedOut`` once."""
        if self._expired(t):
            self.reset()
            return TimedOut()
        return None

    def feed(self, key: str, t: float) -> PinResult | None:
        """Take one key pressed at monotonic time ``t`` (seconds); return a result or None.

        An expired partial entry is discarded silently first (``poll`` normally reports
        it on the tick before); the returned result is about this key.
        """
        if self._expired(t):
            self.reset()
        self._last_t = t
        if key in _DIGITS:
            if self._overflow:
                return None
            if len(self._digits) >= self._max_digits:
                self._digits.clear()
                self._overflow = True
                return Invalid(InvalidReason.TOO_LONG)
            self._digits.append(key)
            return None
        if key == CLEAR_KEY:
            self.reset()
            return Cleared()
        if key == SUBMIT_KEY:
            if self._overflow:
                self.reset()
                return Invalid(InvalidReason.TOO_LONG)
            if not self._digits:
                return Invalid(InvalidReason.EMPTY)
            pin = "".join(self._digits)
            self.reset()
            return Submitted(pin)
        self.reset()
        return Invalid(InvalidReason.BAD_KEY)
