"""The door's feedback outputs on gpiozero: buzzer and green/red LEDs with a few named patterns
(docs/install-pi.md "2. Wiring") that never depend on which key was pressed (a per-key sound would leak the PIN to a
bystander). A pin number of ``-1`` means "not fitted".
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any

from gpiozero import LED, Buzzer

from drivers.door_io import NOT_FITTED

#: A part's pattern: None = leave as is, bool = steady, (on_s, off_s, n) = blink n times (None = until replaced).
Spec = tuple[float, float, "int | None"] | bool | None


class _Blink:
    """One part's blinking schedule: gpiozero's ``blink`` semantics (on for ``on_s``, off for ``off_s``, ``n``
    times or forever, off at the end), stepped by the player, not slept.

    Each on and each off is a step the player plays in turn; a player that wakes late starts the next step
    late rather than skipping it, so a finite pattern always shows all its flashes (three red flashes mean
    "denied" even on a loaded controller; only their timing stretches)."""

    __slots__ = ("n", "off_s", "on_s", "step", "step_start")

    def __init__(self, start: float, on_s: float, off_s: float, n: int | None) -> None:
        self.step, self.step_start, self.on_s, self.off_s, self.n = 0, start, on_s, off_s, n

    @property
    def over(self) -> bool:
        return self.n is not None and self.step >= 2 * self.n

    def level(self) -> bool:
        """The level of the current step (off once the pattern is over)."""
        return not self.over and self.step % 2 == 0

    def next_change(self) -> float | None:
        """When the current step ends (``None``: the pattern is over, the part off)."""
        if self.over:
            return None
        return self.step_start + max(self.on_s if self.step % 2 == 0 else self.off_s, 0.0)

    def advance(self, now: float) -> None:
        """Move to the next step; it starts when the current one ended, or ``now`` if the player is late."""
        change = self.next_change()
        if change is not None:
            self.step += 1
            self.step_start = change if now - change < 1e-3 else now


class Indicators:
    """Buzzer and two LEDs with named feedback patterns (docs/install-pi.md "2. Wiring").

    Wiring: each output drives its part through a transistor or a series resistor, active high. A pattern
    replaces whatever the same part was playing. Calling one costs a few pin writes and nothing more: the
    first level is set at once and one long-lived player thread (started with the object) switches the
    rest on time, so the door's loop never starts a thread for feedback (docs/performance.md, W2).
    Patterns take no key or user argument on purpose: feedback must not reveal what was typed.

    :param buzzer_pin: GPIO of the buzzer (``[gpio] buzzer_pin``, default 18; -1 = not fitted).
    :param green_pin: GPIO of the green LED (``[gpio] green_led_pin``, default 21; -1 = not fitted).
    :param red_pin: GPIO of the red LED (``[gpio] red_led_pin``, default 25; -1 = not fitted).
    :param pin_factory: gpiozero pin factory (default None = gpiozero's default, i.e. the real GPIO).
    """

    #: Key acknowledgement beep (seconds): the same for every key.
    KEY_ACK_S = 0.04
    #: Granted: one beep of this length (seconds); green stays on until :meth:`off` or another pattern.
    GRANTED_BEEP_S = 0.3
    #: Denied: this many short red flashes with beeps, each on and off for DENIED_BEEP_S seconds.
    DENIED_BEEPS = 3
    DENIED_BEEP_S = 0.1
    #: Lockout wait: red blinks slowly, on and off for WAIT_BLINK_S seconds, until :meth:`off`.
    WAIT_BLINK_S = 0.5
    #: Alarm: red blinks fast (ALARM_BLINK_S on/off) and the buzzer sounds continuously.
    ALARM_BLINK_S = 0.2
    #: Pre-alarm (door held open): a PREALARM_BEEP_S beep every PREALARM_PERIOD_S seconds.
    PREALARM_BEEP_S = 0.1
    PREALARM_PERIOD_S = 1.0

    def __init__(self, buzzer_pin: int, green_pin: int, red_pin: int, pin_factory: Any = None) -> None:
        self._buzzer: Buzzer | None = None
        self._green: LED | None = None
        self._red: LED | None = None
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._blinks: dict[LED | Buzzer, _Blink] = {}
        self._closed = False
        self.pattern = "off"
        try:
            if buzzer_pin != NOT_FITTED:
                self._buzzer = Buzzer(buzzer_pin, initial_value=False, pin_factory=pin_factory)
            if green_pin != NOT_FITTED:
                self._green = LED(green_pin, initial_value=False, pin_factory=pin_factory)
            if red_pin != NOT_FITTED:
                self._red = LED(red_pin, initial_value=False, pin_factory=pin_factory)
        except BaseException:
            self.close()
            raise
        self._player = threading.Thread(target=self._run, name="kunci-indicators", daemon=True)
        self._player.start()

    @property
    def state(self) -> dict[str, bool]:
        """Current output levels, for ``status``: ``{"green": bool, "red": bool, "buzzer": bool}``."""
        with self._lock:
            return {
                "green": self._is_on(self._green),
                "red": self._is_on(self._red),
                "buzzer": self._is_on(self._buzzer),
            }

    @staticmethod
    def _is_on(device: LED | Buzzer | None) -> bool:
        return device is not None and not device.closed and bool(device.is_active)

    @staticmethod
    def _set(device: LED | Buzzer, level: bool) -> None:
        if bool(device.is_active) != level:
            device.on() if level else device.off()

    def _play(self, name: str, *, green: Spec = None, red: Spec = None, buzzer: Spec = None) -> None:
        """Apply a pattern: per part None = leave as is, bool = steady, (on_s, off_s, n) = blink."""
        with self._changed:
            if self._closed:
                return
            self.pattern = name
            now = time.monotonic()
            for device, spec in ((self._green, green), (self._red, red), (self._buzzer, buzzer)):
                if device is None or spec is None:
                    continue
                if isinstance(spec, bool):
                    self._blinks.pop(device, None)
                    self._set(device, spec)
                else:
                    blink = _Blink(now, *spec)
                    self._blinks[device] = blink
                    self._set(device, blink.level())
            self._changed.notify()

    def _run(self) -> None:
        """The player: moves every blinking part one step on at its next change (never skipping one), sleeping
        until the earliest change."""
        with self._changed:
            while not self._closed:
                now = time.monotonic()
                wake: float | None = None
                for device, blink in list(self._blinks.items()):
                    change = blink.next_change()
                    if change is not None and change <= now:  # one step at a time: none is skipped
                        blink.advance(now)
                        self._set(device, blink.level())
                        change = blink.next_change()
                    if change is None:
                        del self._blinks[device]
                    else:
                        wake = change if wake is None else min(wake, change)
                self._changed.wait(None if wake is None else max(0.0, wake - now))

    def key_ack(self) -> None:
        """One short beep, identical for every key; LEDs unchanged."""
        self._play("key_ack", buzzer=(self.KEY_ACK_S, 0.0, 1))

    def granted(self) -> None:
        """Green on (until :meth:`off` or another pattern), red off, one longer beep."""
        self._play("granted", green=True, red=False, buzzer=(self.GRANTED_BEEP_S, 0.0, 1))

    def denied(self) -> None:
        """Green off; three short red flashes, each with a beep; all off afterwards."""
        flash = (self.DENIED_BEEP_S, self.DENIED_BEEP_S, self.DENIED_BEEPS)
        self._play("denied", green=False, red=flash, buzzer=flash)

    def wait(self) -> None:
        """Lockout: red blinks slowly until :meth:`off`; green and buzzer off."""
        self._play("wait", green=False, red=(self.WAIT_BLINK_S, self.WAIT_BLINK_S, None), buzzer=False)

    def alarm(self, on: bool) -> None:
        """Alarm on: red blinks fast and the buzzer sounds continuously. Alarm off: everything off."""
        if on:
            self._play("alarm", green=False, red=(self.ALARM_BLINK_S, self.ALARM_BLINK_S, None), buzzer=True)
        else:
            self.off()

    def prealarm(self) -> None:
        """Door held open warning: a short beep every second until :meth:`off`; LEDs unchanged."""
        self._play(
            "prealarm",
            buzzer=(self.PREALARM_BEEP_S, self.PREALARM_PERIOD_S - self.PREALARM_BEEP_S, None),
        )

    def off(self) -> None:
        """Everything off, any pattern stopped."""
        self._play("off", green=False, red=False, buzzer=False)

    def close(self) -> None:
        """Stop the patterns, switch everything off and release the pins. Idempotent."""
        with self._changed:
            if self._closed:
                return
            self._closed = True
            self.pattern = "off"
            self._blinks.clear()
            self._changed.notify()
            for device in (self._buzzer, self._green, self._red):
                if device is not None:
                    try:
                        device.off()
                    finally:
                        device.close()

    def __enter__(self) -> Indicators:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
