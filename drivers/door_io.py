"""Door hardware on gpiozero: the strike relay and the door/exit/tamper inputs (the buzzer and LEDs are
:mod:`drivers.indicators`).

* :class:`StrikeRelay` - the lock output. Relay **off = locked** for both a fail-secure strike (wired
  through NO) and a maglock (wired through NC), so the output is driven off at construction and again
  on close (docs/install-pi.md "2. Wiring"; docs/security.md "Fail-secure behaviour"). It obeys
  :meth:`~StrikeRelay.unlock` / :meth:`~StrikeRelay.lock` only; timing and the unlock cap are the controller's job.
* :class:`DoorInputs` - door position switch, request-to-exit button and enclosure tamper switch, all
  contacts to ground with the internal pull-up, software-debounced on an injected clock (MockPin and
  several backends ignore ``bounce_time``). Changes become frozen driver events.

A pin number of ``-1`` means "not fitted" for every input (never for the relay).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from gpiozero import InputDevice, OutputDevice

from drivers.events import DoorContact, DriverEvent, EventSink, ExitPressed, TamperChanged
from drivers.keypad_logic import LevelDebouncer
from drivers.polling import PollingThread

log = logging.getLogger(__name__)

NOT_FITTED = -1


class StrikeRelay:
    """The lock relay (or MOSFET) driver output; de-energised = locked.

    Wiring: GPIO -> relay driver input, with an external pull resistor that holds the driver OFF while
    the GPIO is an input (boot, after close, after a crash with ``dtparam=strict_gpiod``). Never drive
    a relay coil from the GPIO directly.

    :param pin: GPIO number (BCM) of the driver input (``[gpio] relay_pin``, default 17).
    :param active_high: True when a high level energises the relay (NPN/MOSFET, most HATs); False for
        active-low opto boards (``[gpio] relay_active_high``, default True).
    :param pin_factory: gpiozero pin factory (default None = gpiozero's default, i.e. the real GPIO).
    """

    def __init__(self, pin: int, active_high: bool = True, pin_factory: Any = None) -> None:
        if pin == NOT_FITTED:
            raise ValueError("the strike relay pin is required (-1 is not allowed)")
        # initial_value=False drives the pin to OFF at once; never None (output with undefined level).
        self._device: OutputDevice | None = OutputDevice(
            pin, active_high=active_high, initial_value=False, pin_factory=pin_factory
        )
        self._lock = threading.Lock()
        log.info("strike relay on GPIO%d (active %s), locked", pin, "high" if active_high else "low")

    def unlock(self) -> None:
        """Energise the relay: the door can be opened."""
        with self._lock:
            if self._device is None:
                raise RuntimeError("StrikeRelay is closed")
            self._device.on()
        log.debug("relay on (unlocked)")

    def lock(self) -> None:
        """De-energise the relay: the door is locked. Does nothing if already closed (still locked)."""
        with self._lock:
            if self._device is not None:
                self._device.off()
        log.debug("relay off (locked)")

    @property
    def is_unlocked(self) -> bool:
        """True while the relay is energised."""
        with self._lock:
            return self._device is not None and bool(self._device.is_active)

    def close(self) -> None:
        """Drive the relay OFF, then release the pin (the external pull keeps it off). Idempotent."""
        with self._lock:
            device, self._device = self._device, None
            if device is None:
                return
            try:
                device.off()
            finally:
                device.close()
        log.info("strike relay closed (locked)")

    def __enter__(self) -> StrikeRelay:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class _Input:
    """One debounced contact: its device, its debouncer and how a raw level maps to "asserted"."""

    def __init__(
        self,
        owner: DoorInputs,
        name: str,
        device: InputDevice,
        asserted_when_high: bool,
        debounce_s: float,
        now: float,
    ) -> None:
        self.owner = owner
        self.name = name
        self.device = device
        self.asserted_when_high = asserted_when_high
        self.debouncer = LevelDebouncer(self.read(), debounce_s, now)

    def read(self) -> bool:
        return bool(self.device.pin.state) == self.asserted_when_high

    def on_edge(self, ticks: float, state: bool) -> None:
        # Runs in the GPIO backend's thread (MockPin: the thread that drove the pin).
        self.owner._update(self, bool(state) == self.asserted_when_high)


class DoorInputs:
    """Door position, request-to-exit and tamper inputs, debounced in software, reported as events.

    Wiring (docs/install-pi.md "2. Wiring"), every contact between its GPIO and GND, internal pull-up on:

    * door contact (reed/DPS, closed while the door is shut): low = shut; high = open **or cut wire**
      -> :class:`DoorContact` ``open=True``.
    * exit button (normally open): low = pressed -> :class:`ExitPressed` (releases are not reported).
    * tamper (normally closed microswitch, closed while the box is shut): low = box shut; high = box
      open **or cut wire** -> :class:`TamperChanged` ``active=True``.

    A new level must persist ``debounce_ms`` before it is believed. Edges are taken from pin callbacks
    and confirmed by a poll (a thread started by :meth:`start`, or :meth:`poll` called directly with a
    fake clock in tests). The level found at construction is the starting state and is not reported;
    read :attr:`door_open` and :attr:`tamper_active` at start-up.

    :param on_event: called with each event, from the GPIO callback or the poll thread; must be cheap
        and thread-safe (e.g. ``queue.Queue.put``).
    :param door_contact_pin: GPIO of the door contact (``[gpio] door_contact_pin``, default 22; -1 =
        not fitted: the door then always reads shut).
    :param exit_pin: GPIO of the exit button (``[gpio] exit_pin``, default 27; -1 = not fitted).
    :param tamper_pin: GPIO of the tamper switch (``[gpio] tamper_pin``, default 26; -1 = not fitted).
    :param debounce_ms: how long a level must hold before it counts (milliseconds, default 100;
        ``[door] door_contact_debounce_ms``).
    :param poll_interval_ms: period of the confirming poll thread (milliseconds, default 10).
    :param pin_factory: gpiozero pin factory (default None = gpiozero's default, i.e. the real GPIO).
    :param clock: monotonic time source in seconds (default ``time.monotonic``).
    """

    def __init__(
        self,
        on_event: EventSink,
        door_contact_pin: int,
        exit_pin: int,
        tamper_pin: int,
        *,
        debounce_ms: float = 100,
        poll_interval_ms: float = 10,
        pin_factory: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if debounce_ms < 0 or poll_interval_ms <= 0:
            raise ValueError("debounce_ms must be >= 0 and poll_interval_ms > 0")
        fitted = [p for p in (door_contact_pin, exit_pin, tamper_pin) if p != NOT_FITTED]
        if len(set(fitted)) != len(fitted):
            raise ValueError(f"door input pins must be distinct: {fitted}")
        self._on_event = on_event
        self._clock = clock
        self._interval_s = poll_interval_ms / 1000.0
        self._lock = threading.RLock()
        self._poller = PollingThread("kunci-door-inputs", self._interval_s, self.poll)
        self._closed = False
        self._inputs: dict[str, _Input] = {}
        try:
            for name, number, asserted_when_high in (
                ("door", door_contact_pin, True),
                ("exit", exit_pin, False),
                ("tamper", tamper_pin, True),
            ):
                if number == NOT_FITTED:
                    continue
                device = InputDevice(number, pull_up=True, pin_factory=pin_factory)
                line = _Input(self, name, device, asserted_when_high, debounce_ms / 1000.0, clock())
                self._inputs[name] = line
                device.pin.edges = "both"
                # Weak reference on the pin: the bound method lives as long as the _Input we keep.
                device.pin.when_changed = line.on_edge
        except BaseException:
            self.close()
            raise
        log.info(
            "door inputs: contact=%s exit=%s tamper=%s, debounce %s ms",
            door_contact_pin, exit_pin, tamper_pin, debounce_ms,
        )

    def _level(self, name: str) -> bool:
        with self._lock:
            line = self._inputs.get(name)
            return line is not None and line.debouncer.level

    @property
    def door_open(self) -> bool:
        """Debounced: True while the door is open (or its contact wire is cut). False if not fitted."""
        return self._level("door")

    @property
    def exit_pressed(self) -> bool:
        """Debounced: True while the exit button is held. False if not fitted."""
        return self._level("exit")

    @property
    def tamper_active(self) -> bool:
        """Debounced: True while the enclosure is open (or the tamper wire is cut). False if not fitted."""
        return self._level("tamper")

    @property
    def fitted(self) -> frozenset[str]:
        """Which inputs exist: a subset of ``{"door", "exit", "tamper"}``."""
        return frozenset(self._inputs)

    def _update(self, line: _Input, asserted: bool) -> None:
        with self._lock:
            if self._closed:
                return
            now = self._clock()
            changed = line.debouncer.update(asserted, now)
            if changed is not None:
                self._report(line.name, changed, now)

    def poll(self) -> None:
        """Sample every input once and report any level that has now held for the debounce time."""
        with self._lock:
            if self._closed:
                return
            now = self._clock()
            for line in self._inputs.values():
                changed = line.debouncer.update(line.read(), now)
                if changed is not None:
                    self._report(line.name, changed, now)

    def _report(self, name: str, level: bool, t: float) -> None:
        event: DriverEvent | None
        if name == "door":
            event = DoorContact(open=level, t=t)
        elif name == "tamper":
            event = TamperChanged(active=level, t=t)
        else:
            event = ExitPressed(t=t) if level else None
        log.debug("%s input now %s", name, level)
        if event is not None:
            # Inside the lock on purpose: events reach the sink in the order the levels changed.
            self._on_event(event)

    def start(self) -> None:
        """Start the poll thread (a daemon thread); does nothing if it already runs."""
        if self._closed:
            raise RuntimeError("DoorInputs is closed")
        self._poller.start()

    def close(self) -> None:
        """Stop the poll thread, drop the callbacks and release the pins. Idempotent."""
        self._poller.stop()
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for line in self._inputs.values():
                if line.device.pin is not None:
                    line.device.pin.when_changed = None
                line.device.close()

    def __enter__(self) -> DoorInputs:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


