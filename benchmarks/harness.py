"""An in-process production :class:`~controller.daemon.loop.Daemon` on simulated hardware, with timed outputs.

What is real: the daemon, its loop thread, the access decision, the journal (sealed event committed
with ``synchronous=FULL``), the door state machine, the :class:`~drivers.keypad_matrix.MatrixKeypad`
scanner thread reading the :class:`~drivers.sim_gpio.MatrixKeypadModel`'s pins, the strike relay on
gpiozero's ``MockFactory``, and the fingerprint adapter talking to the pty sensor simulator.

What the harness adds (docs/performance.md "Method"):

* :class:`TimedPinMixin`: after :func:`controller.daemon.hardware.build_hardware` returns, the relay pin and
  the keypad column pins get a MockPin subclass that records ``(time.monotonic(), value)`` in
  ``abs_states`` on every change (gpiozero's own ``_change_state`` hook).
* :class:`RecordingSink`: wraps the daemon's event sink (``queue.put``) through the ``hardware_factory``
  parameter the daemon offers, and records when each driver event (``KeyPressed``, ``FingerMatched``)
  was enqueued.
* a wrapper around the daemon's ``Journal.write`` instance method that records when each event's
  commit returned (the journal commits inside ``write``).

Inputs: key digits may be injected as ``KeyPressed`` straight into the daemon queue (skips human
typing time); the ``#`` key is pressed on the keypad model so the measured path starts at a GPIO edge.
After a grant, the door is opened and closed by injecting ``DoorContact`` events (relock on close),
so the next attempt starts with the relay off.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gpiozero.pins.mock import MockPin

from controller.config import Config, load_config
from controller.daemon.loop import Daemon
from controller.daemon.hardware import Hardware, build_hardware
from controller.paths import DataDir
from drivers import events as ev

log = logging.getLogger(__name__)


class TimedPinMixin:
    """MockPin mixin: ``abs_states`` gets ``(monotonic seconds, value)`` for every state change."""

    abs_states: list[tuple[float, Any]]
    changed: threading.Condition

    def _change_state(self, value: Any) -> bool:
        changed = super()._change_state(value)  # type: ignore[misc]
        if changed:
            stamp = (time.monotonic(), value)
            with self.changed:
                self.abs_states.append(stamp)
                self.changed.notify_all()
        return changed


def make_timed(pin: MockPin) -> MockPin:
    """Give ``pin`` (a MockPin or subclass) a timed subclass of its own class, in place."""
    if isinstance(pin, TimedPinMixin):
        return pin
    cls = type(pin)
    pin.__class__ = type(f"Timed{cls.__name__}", (TimedPinMixin, cls), {})
    pin.abs_states = [(time.monotonic(), pin.state)]  # type: ignore[attr-defined]
    pin.changed = threading.Condition()  # type: ignore[attr-defined]
    return pin


def wait_for_state(pin: Any, value: Any, after: float, timeout: float) -> float | None:
    """The first time ``pin`` changed to ``value`` at or after ``after`` (monotonic), waiting up to ``timeout``."""
    deadline = time.monotonic() + timeout
    with pin.changed:
        while True:
            for t, v in pin.abs_states:
                if t >= after and bool(v) == bool(value):
                    return t
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            pin.changed.wait(left)


@dataclass
class RecordingSink:
    """Passes driver events to the daemon's sink and remembers ``(monotonic enqueue time, event)``."""

    sink: Callable[[Any], None]
    seen: list[tuple[float, Any]] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def __call__(self, event: Any) -> None:
        stamp = time.monotonic()
        self.sink(event)
        with self.cond:
            self.seen.append((stamp, event))
            self.cond.notify_all()

    def wait(self, predicate: Callable[[Any], bool], after: float, timeout: float) -> tuple[float, Any] | None:
        """The first recorded ``(stamp, event)`` with ``stamp >= after`` matching ``predicate``."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for stamp, event in self.seen:
                    if stamp >= after and predicate(event):
                        return stamp, event
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)


@dataclass
class Commit:
    """One ``Journal.write`` that returned: its event type, reason, and when it returned."""

    t: float
    type: str
    reason: str | None
    ok: bool


class BenchDaemon:
    """Starts the production daemon on a seeded data directory in a background thread.

    :param root: the data directory.
    :param config_changes: ``{section: {key: value}}`` applied to the loaded configuration
        (``dataclasses.replace``), e.g. short lockouts for W8.
    """

    def __init__(self, root: Path, config_changes: dict[str, dict[str, Any]] | None = None) -> None:
        self.datadir = DataDir(Path(root))
        config = load_config(self.datadir.config_file)
        for section, values in (config_changes or {}).items():
            config = replace(config, **{section: replace(getattr(config, section), **values)})
        self.config: Config = config
        self.sink: RecordingSink | None = None
        self.commits: list[Commit] = []
        self._commit_cond = threading.Condition()
        self.daemon = Daemon(self.datadir, config, hardware_factory=self._hardware)
        self._thread: threading.Thread | None = None
        self.relay_pin: Any = None
        self.column_pins: dict[str, Any] = {}

    def _hardware(self, config: Config, datadir: DataDir, sink: ev.EventSink) -> Hardware:
        self.sink = RecordingSink(sink)
        hw = build_hardware(config, datadir, self.sink)
        factory = hw.sim.factory
        self.relay_pin = make_timed(factory.pin(config.gpio.relay_pin))
        keys = config.keypad.keys
        for c, number in enumerate(config.keypad.column_pins):
            pin = make_timed(factory.pin(number))
            for row in keys:
                self.column_pins[row[c]] = pin
        return hw

    # -- life cycle ----------------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> float:
        """Run the daemon's loop in a thread; returns seconds until it was ready."""
        t0 = time.perf_counter()
        self._thread = threading.Thread(target=self.daemon.run, name="bench-daemon", daemon=True)
        self._thread.start()
        if not self.daemon.ready.wait(timeout):
            raise RuntimeError("daemon did not become ready")
        ready = time.perf_counter() - t0
        journal = self.daemon.journal
        original = journal.write

        def timed_write(type: str, **fields: Any) -> bool:  # noqa: A002 - Journal.write's own name
            ok = original(type, **fields)
            stamp = time.monotonic()
            with self._commit_cond:
                self.commits.append(Commit(stamp, type, fields.get("reason"), ok))
                self._commit_cond.notify_all()
            return ok

        journal.write = timed_write  # type: ignore[method-assign]
        return ready

    def stop(self) -> None:
        """Stop the loop (relay off, ``daemon.stopped`` logged) and wait for the thread."""
        self.daemon.stop()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def __enter__(self) -> BenchDaemon:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- inputs ----------------------------------------------------------------------------------

    @property
    def keypad(self) -> Any:
        """The :class:`~drivers.sim_gpio.MatrixKeypadModel`."""
        return self.daemon.hw.sim.keypad

    def inject_keys(self, keys: str) -> None:
        """Put ``KeyPressed`` events straight into the daemon queue (no typing time)."""
        for key in keys:
            self.daemon.queue.put(ev.KeyPressed(key=key, t=time.monotonic()))

    def inject(self, event: Any) -> None:
        """Put any driver event into the daemon queue."""
        self.daemon.queue.put(event)

    def wait_commit(self, types: tuple[str, ...], after: float, timeout: float = 10.0) -> Commit | None:
        """The first journal write of one of ``types`` that returned at or after ``after``."""
        deadline = time.monotonic() + timeout
        with self._commit_cond:
            while True:
                for c in self.commits:
                    if c.t >= after and c.type in types:
                        return c
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._commit_cond.wait(left)

    def relock(self, timeout: float = 5.0) -> bool:
        """Open and close the door (injected contact events); True once the relay is off again."""
        if not self.relay_pin.state:
            return True
        t = time.monotonic()
        self.inject(ev.DoorContact(open=True, t=t))
        self.inject(ev.DoorContact(open=False, t=time.monotonic()))
        return wait_for_state(self.relay_pin, False, t, timeout) is not None

    def idle(self, timeout: float = 5.0) -> None:
        """Wait until the daemon queue is drained (the loop has picked up everything injected)."""
        deadline = time.monotonic() + timeout
        while not self.daemon.queue.empty() and time.monotonic() < deadline:
            time.sleep(0.002)
