"""Pure keypad and input logic: matrix scan debouncing, level debouncing, Wiegand frame decoding.

Nothing here reads a clock, touches a pin or imports gpiozero: every method takes the time it should
reason about (seconds, ``time.monotonic()`` scale), so tests drive it with plain numbers. The drivers
in ``keypad_matrix.py``, ``keypad_wiegand.py`` and ``door_io.py`` own the pins and the threads and call
into these classes (debounce, framing and timeouts belong in pure logic).
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from drivers.keys import WIEGAND_VALUE_KEYS

log = logging.getLogger(__name__)


class MatrixDebouncer:
    """Turns raw matrix scans into debounced single key presses, rejecting ghost combinations.

    A key is accepted once it has been the *only* key down for ``debounce_scans`` consecutive scans.
    After a key is accepted, or after any scan that shows more than one key (ghosting: pressing
    1, 2 and 4 also reads 5 on a diode-less matrix), nothing more is accepted until
    the matrix has been seen completely released for ``debounce_scans`` consecutive scans. So contact
    chatter on press or release collapses to one key, a held key never repeats, and a multi-key
    combination never yields any key, not even the one left down last.

    :param debounce_scans: consecutive identical scans needed to accept a press and to accept a
        release (count, default 3; with a 10 ms scan that is 30 ms, above membrane bounce of 5-20 ms).
    """

    def __init__(self, debounce_scans: int = 3) -> None:
        if debounce_scans < 1:
            raise ValueError(f"debounce_scans must be >= 1, not {debounce_scans}")
        self.debounce_scans = debounce_scans
        self._candidate: str | None = None
        self._count = 0
        self._released_scans = debounce_scans  # start "released": the first clean press counts
        self._armed = True
        self._candidate_since: float | None = None

    @property
    def armed(self) -> bool:
        """True when the next key pressed alone can be accepted (the matrix was seen released long enough)."""
        return self._armed

    @property
    def candidate_since(self) -> float | None:
        """Scan time (seconds) at which the key now being debounced was first seen alone, else None."""
        return self._candidate_since

    def feed(self, pressed: frozenset[str], t: float) -> str | None:
        """Feed one complete scan; return the key accepted by this scan, or None.

        :param pressed: every key that read as down in this scan (empty when none).
        :param t: the time of the scan in seconds (monotonic scale); remembered as
            :attr:`candidate_since` when a new key starts being debounced.
        """
        if not pressed:
            self._reset_candidate()
            self._released_scans += 1
            if self._released_scans >= self.debounce_scans:
                self._armed = True
            return None
        self._released_scans = 0
        if len(pressed) > 1:
            # Ghosting or a real multi-key press: never guess. Require a full release first.
            if self._armed:
                # Count only: which keys were down is part of a PIN and never logged.
                log.debug("multi-key scan ignored (%d keys down)", len(pressed))
            self._armed = False
            self._reset_candidate()
            return None
        if not self._armed:
            return None
        (key,) = pressed
        if key != self._candidate:
            self._candidate, self._count, self._candidate_since = key, 0, t
        self._count += 1
        if self._count < self.debounce_scans:
            return None
        self._armed = False
        self._reset_candidate()
        return key

    def _reset_candidate(self) -> None:
        self._candidate, self._count, self._candidate_since = None, 0, None


class LevelDebouncer:
    """Reports a binary level only after it has held steady for ``debounce_s`` seconds.

    Feed every raw level you see with :meth:`update` (an edge callback, a poll, or both) and call
    :meth:`poll` periodically so a level that stopped changing is reported even without another edge.
    A glitch shorter than ``debounce_s`` is never reported.

    :param initial: the stable level to start from (normally the level read at start-up).
    :param debounce_s: how long a new level must persist before it counts (seconds, >= 0).
    :param now: the time of the initial reading (seconds, monotonic scale).
    """

    def __init__(self, initial: bool, debounce_s: float, now: float) -> None:
        if debounce_s < 0:
            raise ValueError(f"debounce_s must be >= 0, not {debounce_s}")
        self.debounce_s = debounce_s
        self._stable = bool(initial)
        self._raw = bool(initial)
        self._raw_since = now

    @property
    def level(self) -> bool:
        """The debounced level."""
        return self._stable

    def update(self, raw: bool, now: float) -> bool | None:
        """Record the raw level seen at ``now``; return the new debounced level if it just changed."""
        raw = bool(raw)
        if raw != self._raw:
            self._raw, self._raw_since = raw, now
        return self.poll(now)

    def poll(self, now: float) -> bool | None:
        """Return the new debounced level if the last raw level has now persisted long enough."""
        if self._raw != self._stable and now - self._raw_since >= self.debounce_s:
            self._stable = self._raw
            return self._stable
        return None


@dataclass(frozen=True, slots=True)
class WiegandCard:
    """A card-format Wiegand frame (26-bit: 8-bit facility + 16-bit number; 34-bit: 16 + 16), parity checked."""

    facility: int
    number: int
    bits: int


class WiegandFrameError(ValueError):
    """A Wiegand frame that must be rejected; ``reason`` is a short counter name (e.g. ``bad_parity``)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def _to_int(bits: Sequence[int]) -> int:
    value = 0
    for b in bits:
        value = (value << 1) | (1 if b else 0)
    return value


def decode_key_frame(bits: Sequence[int], frame_bits: int) -> str:
    """Decode one keypad frame (MSB first) to a key; raise :class:`WiegandFrameError` if invalid.

    :param bits: the frame's bits in transmission order (0 or 1).
    :param frame_bits: 4 (one nibble per key) or 8 (high nibble = complement of low nibble).
    """
    if frame_bits not in (4, 8):
        raise ValueError(f"keypad frames are 4 or 8 bits, not {frame_bits}")
    if len(bits) != frame_bits:
        raise WiegandFrameError("bad_length", f"{len(bits)} bits, expected {frame_bits}")
    value = _to_int(bits)
    if frame_bits == 8:
        high, low = value >> 4, value & 0xF
        if high != (~low & 0xF):
            # No value in the message: a rejected frame may still carry a PIN digit.
            raise WiegandFrameError("bad_complement", "high nibble is not the complement of the low")
        value = low
    try:
        return WIEGAND_VALUE_KEYS[value]
    except KeyError:
        raise WiegandFrameError("bad_value", "nibble is not a key (0xC-0xF)") from None


def decode_card_frame(bits: Sequence[int]) -> WiegandCard:
    """Decode a 26-bit (E + 8 facility + 16 number + O) or 34-bit (E + 16 + 16 + O) card frame.

    The leading bit is even parity over the first half of the frame, the trailing bit odd parity over
    the second half (13/13 bits for 26-bit, 17/17 for 34-bit). Raises :class:`WiegandFrameError`.
    """
    n = len(bits)
    if n not in (26, 34):
        raise WiegandFrameError("bad_length", f"{n} bits, expected 26 or 34")
    half = n // 2
    if sum(bits[:half]) % 2 != 0 or sum(bits[half:]) % 2 != 1:
        raise WiegandFrameError("bad_parity", f"{n}-bit frame")
    payload = bits[1:-1]
    facility_bits = 8 if n == 26 else 16
    return WiegandCard(
        facility=_to_int(payload[:facility_bits]), number=_to_int(payload[facility_bits:]), bits=n
    )


class WiegandDecoder:
    """Collects Wiegand bits and decodes a frame once the line has been silent for ``gap_ms``.

    Bits arrive as ``(bit, tick)`` pairs from two edge callbacks (D0 = 0, D1 = 1). Delivery order
    across the two lines is not guaranteed, so pending bits are sorted by tick before decoding, and
    split into separate frames wherever consecutive ticks are at least ``gap_ms`` apart (two keys
    queued before a poll still decode separately). A frame is closed by :meth:`poll` when the last
    bit was received at least ``gap_ms`` before ``now``.

    Keypad frames of ``bits`` length decode to keys. 26- and 34-bit card frames (some keypads send a
    buffered PIN that way) decode to :class:`WiegandCard` values collected in :attr:`cards` (the last 32); they are
    not keys. Anything else is rejected and counted in :attr:`rejected` by reason
    (``bad_length``, ``bad_complement``, ``bad_parity``, ``bad_value``, ``overflow``).

    :param bits: keypad frame length, 4 (nibble per key) or 8 (nibble + complement); default 4.
    :param gap_ms: silence that ends a frame (milliseconds, default 25; SIA bit interval is <= 20 ms).
    :param max_pending_bits: bits buffered before further bits are dropped as line noise (default 64).
    """

    def __init__(self, bits: int = 4, gap_ms: float = 25, *, max_pending_bits: int = 64) -> None:
        if bits not in (4, 8):
            raise ValueError(f"Wiegand keypad bits must be 4 or 8, not {bits}")
        if gap_ms <= 0:
            raise ValueError(f"gap_ms must be > 0, not {gap_ms}")
        self.bits = bits
        self.gap_s = gap_ms / 1000.0
        self.max_pending_bits = max_pending_bits
        self._pending: list[tuple[float, int]] = []
        self._last_received: float | None = None
        self.cards: deque[WiegandCard] = deque(maxlen=32)
        self.rejected: Counter[str] = Counter()

    @property
    def pending(self) -> int:
        """Number of bits received but not yet decoded."""
        return len(self._pending)

    def add_bit(self, bit: int, tick_seconds: float, received_at: float | None = None) -> None:
        """Record one bit.

        :param bit: 0 (a pulse on D0) or 1 (a pulse on D1).
        :param tick_seconds: the edge timestamp (seconds; the GPIO backend's ticks), used for ordering
            and for splitting frames.
        :param received_at: when the callback ran, on the same clock as :meth:`poll`'s ``now``
            (seconds); defaults to ``tick_seconds`` when both come from one clock.
        """
        if len(self._pending) >= self.max_pending_bits:
            self.rejected["overflow"] += 1
            return
        self._pending.append((tick_seconds, 1 if bit else 0))
        self._last_received = tick_seconds if received_at is None else received_at

    def poll(self, now: float) -> list[str]:
        """Close and decode the pending frame(s) if the line has been quiet for the gap; return the keys.

        :param now: current time (seconds), same clock as ``received_at`` in :meth:`add_bit`.
        """
        if not self._pending or self._last_received is None or now - self._last_received < self.gap_s:
            return []
        pending = sorted(self._pending, key=lambda tb: tb[0])
        self._pending.clear()
        self._last_received = None
        keys: list[str] = []
        for frame in self._split(pending):
            key = self._decode(frame)
            if key is not None:
                keys.append(key)
        return keys

    def _split(self, ticked: list[tuple[float, int]]) -> Iterable[list[int]]:
        frame: list[int] = []
        previous: float | None = None
        for tick, bit in ticked:
            if previous is not None and tick - previous >= self.gap_s:
                yield frame
                frame = []
            frame.append(bit)
            previous = tick
        if frame:
            yield frame

    def _decode(self, frame: list[int]) -> str | None:
        try:
            if len(frame) in (26, 34):
                card = decode_card_frame(frame)
                self.cards.append(card)
                log.info("Wiegand %d-bit card frame decoded (not a key)", card.bits)
                return None
            return decode_key_frame(frame, self.bits)
        except WiegandFrameError as exc:
            self.rejected[exc.reason] += 1
            log.warning("Wiegand frame rejected: %s", exc)
            return None
