"""Opt-in GPIO simulators: electrical models that drive the REAL drivers on gpiozero's MockFactory.

These load only when asked for (config ``simulated = true``, ``kunci sim ...``, or a test); nothing in
Kunci falls back to them when real GPIO is missing (fakes load only on request). They do not fake the drivers:
:class:`~drivers.keypad_matrix.MatrixKeypad`, :class:`~drivers.keypad_wiegand.WiegandKeypad` and
:class:`~drivers.door_io.DoorInputs` run unchanged on the same ``MockFactory`` and see only pin levels.

* :class:`MatrixKeypadModel` - the key matrix as wires and switches. Row pins are a ``MockPin``
  subclass that tells the model whenever their function or level changes (docs/install-pi.md "2. Wiring"); the model
  joins row and column nets through the keys held down and drives each column pin low when its net
  contains a row driven low, else lets it return to its pull. Ghosting happens exactly as on a real
  diode-less matrix.
* :class:`WiegandSender` - low-going pulses on D0/D1 ``MockPin`` inputs, one per bit (the pulse is as
  short as two Python calls, i.e. µs; the edge ticks are the MockPin's monotonic timestamps).
* :class:`DoorPanelModel` - door contact, exit button and tamper switch as contacts to ground with the
  driver's pull resistor on the other side; an open contact or a cut wire lets the pull win.

Create a model **before** the driver on the same pins: the model must own the pin objects (its own pin
class) and the driver then picks up the same pins from the factory. Example::

    factory = MockFactory()
    model = MatrixKeypadModel(factory, [5, 6, 13, 19], [12, 16, 20], KEYS)
    keypad = MatrixKeypad([5, 6, 13, 19], [12, 16, 20], KEYS, queue.put, pin_factory=factory)
    keypad.start()
    model.type_keys("123456#")   # blocking, human timing
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

from gpiozero.pins.mock import MockFactory, MockPin

from drivers.keys import WIEGAND_KEY_VALUES

log = logging.getLogger(__name__)


def _release_to_pull(pin: MockPin) -> None:
    """Let an input line go: it settles at its pull level (a floating line keeps its last level)."""
    if pin.pull == "up":
        pin.drive_high()
    elif pin.pull == "down":
        pin.drive_low()


# ------------------------------------------------------------------------------------- matrix


#: State changes one simulated pin remembers. gpiozero's MockPin keeps every change for its test
#: assertions; the keypad scan alone makes hundreds a second, so a demo left running would grow
#: without bound. Past this many, the oldest half is dropped.
PIN_HISTORY_MAX = 4096


class BoundedStates(list):
    """``MockPin.states`` that keeps only the newest changes (a list, so indexing and slicing work)."""

    def append(self, item: Any) -> None:
        super().append(item)
        if len(self) > PIN_HISTORY_MAX:
            del self[: len(self) - PIN_HISTORY_MAX // 2]


class _BoundedHistory:
    """MockPin mixin: :class:`BoundedStates` instead of an ever-growing list."""

    def clear_states(self) -> None:
        super().clear_states()  # type: ignore[misc]
        self.states = BoundedStates(self.states)


class SimPin(_BoundedHistory, MockPin):
    """The pin class of the daemon's simulated hardware (``MockFactory(pin_class=SimPin)``)."""


class _MatrixRowPin(_BoundedHistory, MockPin):
    """A MockPin that reports every change of function or level to the matrix model it belongs to."""

    model: MatrixKeypadModel | None = None

    def _set_function(self, value: str) -> None:
        super()._set_function(value)
        self._notify()

    def _change_state(self, value: bool) -> bool:
        changed = super()._change_state(value)
        if changed:
            self._notify()
        return changed

    def _notify(self) -> None:
        if self.model is not None:
            self.model._settle()

    @property
    def drives_low(self) -> bool:
        return self._function == "output" and not self._state


class MatrixKeypadModel:
    """Electrical model of a diode-less key matrix on a MockFactory, for the real :class:`MatrixKeypad`.

    :param factory: the MockFactory the keypad driver will use.
    :param row_pins: row GPIO numbers, top first (same as the driver's).
    :param column_pins: column GPIO numbers, left first (same as the driver's).
    :param keys: key legends, one sequence of single characters per row (same as the driver's).

    ``press``/``release``/``hold`` change which switches are closed, immediately and without sleeping
    (tests then call ``keypad.step()``); :meth:`type_keys` presses keys with human timing for a running
    scanner (``kunci sim press``).
    """

    def __init__(
        self,
        factory: MockFactory,
        row_pins: Sequence[int],
        column_pins: Sequence[int],
        keys: Sequence[Sequence[str]],
    ) -> None:
        if len(keys) != len(row_pins) or any(len(row) != len(column_pins) for row in keys):
            raise ValueError("keys must have one row per row pin and one legend per column pin")
        self._lock = threading.RLock()
        self._position: dict[str, tuple[int, int]] = {
            legend: (r, c) for r, row in enumerate(keys) for c, legend in enumerate(row)
        }
        self._held: set[tuple[int, int]] = set()
        self._rows: list[_MatrixRowPin] = []
        for number in row_pins:
            pin = factory.pin(number, pin_class=_MatrixRowPin)
            if not isinstance(pin, _MatrixRowPin):
                raise RuntimeError(
                    f"GPIO{number} already exists as a plain MockPin: create MatrixKeypadModel before the keypad"
                )
            self._rows.append(pin)
        self._columns: list[MockPin] = [factory.pin(number) for number in column_pins]
        for pin in self._rows:
            pin.model = self
        self._settle()

    @property
    def held(self) -> frozenset[str]:
        """The keys currently held down."""
        legends = {pos: key for key, pos in self._position.items()}
        with self._lock:
            return frozenset(legends[pos] for pos in self._held)

    def press(self, key: str) -> None:
        """Close the switch under ``key`` (it stays down until released)."""
        with self._lock:
            self._held.add(self._where(key))
            self._settle()

    def release(self, key: str) -> None:
        """Open the switch under ``key``."""
        with self._lock:
            self._held.discard(self._where(key))
            self._settle()

    def hold(self, keys: Iterable[str]) -> None:
        """Hold exactly ``keys`` down at once (ghosting tests); ``hold(())`` releases everything."""
        with self._lock:
            self._held = {self._where(k) for k in keys}
            self._settle()

    def type_keys(self, keys: str, key_ms: float = 80, gap_ms: float = 120) -> None:
        """Type ``keys`` one at a time with human timing; blocks for ``len(keys) * (key_ms + gap_ms)``.

        :param keys: the keys to type, e.g. ``"123456#"``.
        :param key_ms: how long each key is held down (milliseconds, default 80).
        :param gap_ms: pause with no key down after each key (milliseconds, default 120).
        """
        for key in keys:
            self._where(key)  # fail before pressing anything
        for key in keys:
            self.press(key)
            time.sleep(key_ms / 1000.0)
            self.release(key)
            time.sleep(gap_ms / 1000.0)

    def _where(self, key: str) -> tuple[int, int]:
        try:
            return self._position[key]
        except KeyError:
            raise ValueError(f"no key {key!r} on this keypad") from None

    def _settle(self) -> None:
        """Recompute every column level from the rows driven low and the closed switches."""
        with self._lock:
            parent: dict[tuple[str, int], tuple[str, int]] = {}

            def find(node: tuple[str, int]) -> tuple[str, int]:
                while parent.get(node, node) != node:
                    node = parent[node]
                return node

            for r, c in self._held:
                parent[find(("r", r))] = find(("c", c))
            low_nets = {find(("r", r)) for r, pin in enumerate(self._rows) if pin.drives_low}
            for c, pin in enumerate(self._columns):
                if pin.function != "input":
                    continue
                if find(("c", c)) in low_nets:
                    pin.drive_low()
                else:
                    _release_to_pull(pin)


# ------------------------------------------------------------------------------------- Wiegand


def encode_key_frame(key: str, bits: int = 4) -> list[int]:
    """The Wiegand keypad frame for ``key`` (MSB first): 4-bit nibble, or 8-bit complement + nibble."""
    if key not in WIEGAND_KEY_VALUES:
        raise ValueError(f"no Wiegand code for key {key!r}")
    value = WIEGAND_KEY_VALUES[key]
    if bits == 8:
        value |= (~value & 0xF) << 4
    elif bits != 4:
        raise ValueError(f"keypad frames are 4 or 8 bits, not {bits}")
    return [(value >> (bits - 1 - i)) & 1 for i in range(bits)]


def encode_card_frame(facility: int, number: int, bits: int = 26) -> list[int]:
    """A 26-bit (8-bit facility) or 34-bit (16-bit facility) card frame with correct parity bits."""
    facility_bits = {26: 8, 34: 16}.get(bits)
    if facility_bits is None:
        raise ValueError(f"card frames are 26 or 34 bits, not {bits}")
    if not (0 <= facility < 1 << facility_bits and 0 <= number < 1 << 16):
        raise ValueError("facility or card number out of range")
    payload = [(facility >> (facility_bits - 1 - i)) & 1 for i in range(facility_bits)]
    payload += [(number >> (15 - i)) & 1 for i in range(16)]
    half = len(payload) // 2
    even = sum(payload[:half]) % 2
    odd = 1 - sum(payload[half:]) % 2
    return [even, *payload, odd]


class WiegandSender:
    """Sends Wiegand frames as low-going pulses on two MockPin inputs (D0 = bit 0, D1 = bit 1).

    :param factory: the MockFactory the Wiegand driver uses.
    :param d0_pin: GPIO number of the D0 (green) line.
    :param d1_pin: GPIO number of the D1 (white) line.

    Lines idle high, like a reader's pull-ups. Each bit is ``drive_low()`` then ``drive_high()``; the
    driver's falling-edge callbacks run synchronously in the sending thread, stamped with the
    MockPin's monotonic ticks.
    """

    def __init__(self, factory: MockFactory, d0_pin: int, d1_pin: int) -> None:
        self._d0 = factory.pin(d0_pin)
        self._d1 = factory.pin(d1_pin)
        self._lock = threading.Lock()
        for pin in (self._d0, self._d1):
            if pin.function == "input":
                pin.drive_high()

    def send_bits(self, bits: Sequence[int], *, bit_interval_ms: float = 0.0) -> None:
        """Pulse one line per bit, in order.

        :param bits: the frame, MSB first (0 or 1 each).
        :param bit_interval_ms: pause between bits (milliseconds, default 0 = back to back; SIA
            allows 0.2-20 ms).
        """
        with self._lock:
            for i, bit in enumerate(bits):
                if i and bit_interval_ms > 0:
                    time.sleep(bit_interval_ms / 1000.0)
                pin = self._d1 if bit else self._d0
                pin.drive_low()
                pin.drive_high()

    def send_key(self, key: str, bits: int = 4) -> None:
        """Send one keypad frame (4- or 8-bit) for ``key``."""
        self.send_bits(encode_key_frame(key, bits))

    def send_card(self, facility: int, number: int, bits: int = 26) -> None:
        """Send one card frame (26- or 34-bit) with correct parity."""
        self.send_bits(encode_card_frame(facility, number, bits))

    def type_keys(self, keys: str, bits: int = 4, gap_ms: float = 60) -> None:
        """Send ``keys`` one frame each, pausing ``gap_ms`` after each (blocking; default 60 ms, so
        every frame is closed by a 25 ms decoder gap)."""
        for key in keys:
            encode_key_frame(key, bits)  # fail before sending anything
        for key in keys:
            self.send_key(key, bits)
            time.sleep(gap_ms / 1000.0)


# ------------------------------------------------------------------------------------- door panel


class _ContactPin(_BoundedHistory, MockPin):
    """A MockPin with a switch to ground: while ``grounded`` the line stays low whatever its pull."""

    grounded = False

    def _set_pull(self, value: str) -> None:
        super()._set_pull(value)
        if self.grounded:
            # A closed contact to GND beats the weak pull the driver just enabled.
            self.drive_low()


class DoorPanelModel:
    """Door contact, exit button and tamper switch as contacts to ground on a MockFactory.

    :param factory: the MockFactory :class:`~drivers.door_io.DoorInputs` uses.
    :param door_contact_pin: GPIO of the door position switch (closed = door shut), or -1 if absent.
    :param exit_pin: GPIO of the request-to-exit button (closed = pressed), or -1 if absent.
    :param tamper_pin: GPIO of the NC enclosure switch (closed = box shut), or -1 if absent.

    Starts with the door shut, the exit button released and the box shut. Every method acts at once on
    the pins (the driver's edge callbacks run in the caller's thread); the driver's software debounce
    still applies, so advance its clock or wait ``debounce_ms`` before expecting an event.
    """

    def __init__(self, factory: MockFactory, door_contact_pin: int, exit_pin: int, tamper_pin: int) -> None:
        self._pins: dict[str, _ContactPin | MockPin | None] = {}
        for name, number in (("door", door_contact_pin), ("exit", exit_pin), ("tamper", tamper_pin)):
            # If the driver came first the pin is a plain MockPin whose pull is already set: still usable.
            self._pins[name] = None if number == -1 else factory.pin(number, pin_class=_ContactPin)
        self.door(open=False)
        self.exit_button(pressed=False)
        self.tamper(active=False)

    def _contact(self, name: str, closed: bool) -> None:
        pin = self._pins[name]
        if pin is None:
            raise ValueError(f"no {name} input fitted")
        if isinstance(pin, _ContactPin):
            pin.grounded = closed
        if closed:
            pin.drive_low()
        else:
            _release_to_pull(pin)

    def door(self, open: bool) -> None:  # noqa: A002 - the domain word
        """Open (switch opens, line pulled high) or shut (switch to GND closes) the door."""
        if self._pins["door"] is not None:
            self._contact("door", closed=not open)

    def exit_button(self, pressed: bool) -> None:
        """Press (contact to GND) or release the request-to-exit button, without waiting."""
        if self._pins["exit"] is not None:
            self._contact("exit", closed=pressed)

    def exit_press(self, hold_ms: float = 300) -> None:
        """Press the exit button for ``hold_ms`` milliseconds (blocking; default 300, above debounce)."""
        self.exit_button(pressed=True)
        time.sleep(hold_ms / 1000.0)
        self.exit_button(pressed=False)

    def tamper(self, active: bool) -> None:
        """Open (active) or close the enclosure; the NC switch opens the line to its pull-up."""
        if self._pins["tamper"] is not None:
            self._contact("tamper", closed=not active)

    def cut_wire(self, line: str) -> None:
        """Cut the wire of ``line`` (``"door"``, ``"exit"`` or ``"tamper"``): the GPIO is left to its pull."""
        if line not in self._pins:
            raise ValueError(f"unknown line {line!r}; use door, exit or tamper")
        self._contact(line, closed=False)

