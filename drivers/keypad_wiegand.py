"""Wiegand keypad (4-bit or 8-bit burst per key) on two gpiozero input pins.

Wiring (docs/install-pi.md "2. Wiring"): D0 (green) and D1 (white) idle high at 5 V on the reader's pull-ups; they
MUST reach the Pi through a level shifter or opto-isolators (3.3 V GPIO). Each bit is a 20-100 µs
low pulse on D0 (bit 0) or D1 (bit 1); a frame ends with silence. Inputs use the internal pull-up as
well, so an unplugged keypad idles high and sends nothing.

Falling-edge callbacks are registered on the *pins* (not a gpiozero Button: no bounce handling, no
device-level event machinery) and only append ``(tick, bit)`` to a
:class:`~drivers.keypad_logic.WiegandDecoder`; a poll thread closes frames after ``gap_ms`` of silence
and emits :class:`~drivers.events.KeyPressed`. With the lgpio backend the kernel timestamps edges, so
late delivery does not reorder or lose bits; the decoder sorts by tick anyway.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from gpiozero import InputDevice

from drivers.events import EventSink, KeyPressed
from drivers.keypad_logic import WiegandDecoder
from drivers.polling import PollingThread

log = logging.getLogger(__name__)


class WiegandKeypad:
    """A Wiegand keypad: edge callbacks collect bits, a poll thread decodes frames into key presses.

    :param d0_pin: GPIO number (BCM) of the D0 line (``[keypad] wiegand_d0_pin``, default 23).
    :param d1_pin: GPIO number (BCM) of the D1 line (``[keypad] wiegand_d1_pin``, default 24).
    :param on_event: called with :class:`KeyPressed` from the poll thread (or from :meth:`poll`'s
        caller); must be cheap and thread-safe.
    :param bits: keypad frame format, 4 (nibble per key) or 8 (nibble with complement)
        (``[keypad] wiegand_bits``, default 4).
    :param gap_ms: silence that ends a frame (milliseconds, ``[keypad] wiegand_gap_ms``, default 25).
    :param pin_factory: gpiozero pin factory (default None = gpiozero's default, i.e. the real GPIO).
    :param clock: monotonic time source in seconds for frame closing and ``KeyPressed.t``
        (default ``time.monotonic``).

    :meth:`start` runs the poll thread; :meth:`poll` does one poll on the caller's thread (tests use it
    with a fake clock). 26/34-bit card frames are decoded into :attr:`decoder` ``.cards`` but never
    reported as keys. :meth:`close` is idempotent and runs on leaving a ``with`` block.
    """

    def __init__(
        self,
        d0_pin: int,
        d1_pin: int,
        on_event: EventSink,
        *,
        bits: int = 4,
        gap_ms: float = 25,
        pin_factory: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if d0_pin == d1_pin:
            raise ValueError(f"D0 and D1 must be different pins, both are {d0_pin}")
        self.decoder = WiegandDecoder(bits=bits, gap_ms=gap_ms)
        self._on_event = on_event
        self._clock = clock
        # Poll well inside the gap so a frame is reported within ~1.2 x gap_ms of its last bit.
        self._poll_interval_s = max(gap_ms / 5000.0, 0.001)
        self._lock = threading.Lock()
        self._poller = PollingThread("kunci-keypad-wiegand", self._poll_interval_s, self.poll)
        self._closed = False
        self._lines: list[InputDevice] = []
        try:
            for number, callback in ((d0_pin, self._on_d0), (d1_pin, self._on_d1)):
                line = InputDevice(number, pull_up=True, pin_factory=pin_factory)
                self._lines.append(line)
                line.pin.edges = "falling"
                # Pin.when_changed keeps only a weak reference (WeakMethod): a bound method of this
                # object stays valid for as long as the keypad itself is referenced; a lambda would not.
                line.pin.when_changed = callback
        except BaseException:
            self.close()
            raise
        log.info("Wiegand keypad on D0=GPIO%d D1=GPIO%d, %d-bit frames", d0_pin, d1_pin, bits)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has run."""
        return self._closed

    def _on_d0(self, ticks: float, state: bool) -> None:
        self._add(0, ticks)

    def _on_d1(self, ticks: float, state: bool) -> None:
        self._add(1, ticks)

    def _add(self, bit: int, ticks: float) -> None:
        with self._lock:
            self.decoder.add_bit(bit, ticks, received_at=self._clock())

    def poll(self) -> list[str]:
        """Close any frame that has been silent for the gap, emit its key(s) and return them."""
        with self._lock:
            now = self._clock()
            keys = self.decoder.poll(now)
        for key in keys:
            self._on_event(KeyPressed(key=key, t=now))
        return keys

    def start(self) -> None:
        """Start the poll thread (a daemon thread); does nothing if it already runs."""
        if self._closed:
            raise RuntimeError("WiegandKeypad is closed")
        self._poller.start()

    def close(self) -> None:
        """Stop the poll thread, drop the edge callbacks and release both pins. Safe to call twice."""
        self._poller.stop()
        if self._closed:
            return
        self._closed = True
        for line in self._lines:
            if line.pin is not None:
                line.pin.when_changed = None
            line.close()
        self._lines.clear()

    def __enter__(self) -> WiegandKeypad:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
