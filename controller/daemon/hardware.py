"""Build the door's drivers from the configuration: real hardware, or the opt-in simulation.

Order matters for safety: the strike relay is constructed first (``initial_value=False``: the
door is locked before anything else can happen) and released last. With ``simulated`` every
GPIO device runs on one gpiozero ``MockFactory`` and the fingerprint sensor is a
:class:`drivers.sim_sensor.PtySensorSimulator` on a pseudo-terminal, spoken to by the *real*
pyfingerprint adapter; the simulators' electrical models are kept in :class:`Simulation` for
``kunci sim`` and the web's virtual door panel. Simulation is never a fallback: on real
hardware a missing GPIO library or serial port is an error.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from controller.config import Config, door_view
from controller.i18n import T
from controller.paths import DataDir
from drivers.events import EventSink

log = logging.getLogger(__name__)

#: How long ``kunci sim press`` holds each key and waits between keys at least (milliseconds), as a
#: person does (100-200 ms). On a matrix keypad each key is then held until the real scanner has read it
#: and released until the scanner is ready for the next one, however late a loaded machine runs the
#: scanner thread: a simulated key is never lost to load (a person's finger would not be either).
SIM_KEY_HOLD_MS = 150
SIM_KEY_GAP_MS = 100
#: The longest a simulated key is held waiting for the scanner before ``sim press`` gives up (seconds).
SIM_KEY_TIMEOUT_S = 30.0


def _hold(done: Callable[[], bool], at_least_ms: float, what: str) -> None:
    """Wait at least ``at_least_ms`` and until ``done()``; RuntimeError after :data:`SIM_KEY_TIMEOUT_S`."""
    began = time.monotonic()
    time.sleep(at_least_ms / 1000.0)
    while not done():
        if time.monotonic() - began > SIM_KEY_TIMEOUT_S:
            raise RuntimeError(f"simulated keypad: gave up waiting for {what}")
        time.sleep(0.002)


@dataclass
class Simulation:
    """Handles on the simulated hardware (present only when ``simulated``)."""

    factory: Any
    keypad: Any | None  # MatrixKeypadModel or WiegandSender
    panel: Any  # DoorPanelModel
    sensor: Any | None  # PtySensorSimulator
    scanner: Any | None = None  # the real MatrixKeypad driver reading ``keypad`` (matrix keypads only)
    _lift_timer: threading.Timer | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _typing: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def type_keys(self, keys: str) -> None:
        """Press ``keys`` one by one with human timing (blocking).

        Callers are serialised: a person clicking the web panel's keys faster than they are
        typed must not have two key sequences overlap on the matrix (that reads as a ghost
        combination and the keys would be dropped).
        """
        if self.keypad is None:
            raise RuntimeError("no keypad is configured")
        with self._typing:
            if isinstance(self.keypad, _WiegandTyping):
                self.keypad.type_keys(keys)
            elif self.scanner is None:
                self.keypad.type_keys(keys, key_ms=SIM_KEY_HOLD_MS, gap_ms=SIM_KEY_GAP_MS)
            else:
                for key in keys:
                    self._type_read(key)

    def _type_read(self, key: str) -> None:
        """One key on the matrix: down until the scanner read it, up until it is ready for the next."""
        scanner, before = self.scanner, self.scanner.accepted
        self.keypad.press(key)
        try:
            _hold(lambda: scanner.accepted > before, SIM_KEY_HOLD_MS, f"the keypad scanner to read {key!r}")
        finally:
            self.keypad.release(key)
        _hold(lambda: scanner.ready, SIM_KEY_GAP_MS, "the keypad scanner to see the key released")

    def touch(self, label: str, hold_seconds: float) -> None:
        """Put finger ``label`` on the glass and lift it after ``hold_seconds``."""
        if self.sensor is None:
            raise RuntimeError("the fingerprint sensor is disabled in the configuration")
        with self._lock:
            if self._lift_timer is not None:
                self._lift_timer.cancel()
            self.sensor.place_finger(label)
            self._lift_timer = threading.Timer(hold_seconds, self.sensor.remove_finger)
            self._lift_timer.daemon = True
            self._lift_timer.start()

    def lift(self) -> None:
        if self.sensor is None:
            return
        with self._lock:
            if self._lift_timer is not None:
                self._lift_timer.cancel()
                self._lift_timer = None
            self.sensor.remove_finger()

    def close(self) -> None:
        with self._lock:
            if self._lift_timer is not None:
                self._lift_timer.cancel()
        if self.sensor is not None:
            self.sensor.stop()


@dataclass
class Hardware:
    """Every driver of one door. :meth:`close` locks first and releases the relay last."""

    relay: Any
    indicators: Any
    inputs: Any | None = None
    keypad: Any | None = None
    sensor: Any | None = None
    watcher: Any | None = None
    #: Owns the sensor for the daemon (:class:`controller.daemon.sensor_service.SensorService`); it
    #: starts the watcher after its first connection attempt.
    sensor_service: Any | None = None
    sim: Simulation | None = None
    #: The other doors' hardware (built with this, the first door's, by :func:`build_hardware`).
    others: list[Hardware] = field(default_factory=list)

    def start(self) -> None:
        """Start input threads (keypad scanner, door-input poll, sensor service and its watcher)."""
        if self.inputs is not None:
            self.inputs.start()
        if self.keypad is not None:
            self.keypad.start()
        if self.sensor_service is not None:
            self.sensor_service.start()
        elif self.watcher is not None:
            self.watcher.start()

    def close(self) -> None:
        """Every door's relay off, then stop everything (the other doors first); safe to call twice and after a
        partial build."""
        for hw in (self, *self.others):
            with suppress(Exception):
                hw.relay.lock()
        for hw in reversed(self.others):
            hw.close()
        if self.sensor_service is not None:
            self.sensor_service.close()  # no new sensor job; the one in progress ends when the sensor closes
        for part in (self.watcher, self.keypad, self.inputs, self.indicators):
            if part is None:
                continue
            try:
                (part.stop if hasattr(part, "stop") and not hasattr(part, "close") else part.close)()
            except Exception:  # noqa: BLE001 - keep closing the rest
                log.exception("closing %s failed", type(part).__name__)
        if self.sensor is not None:
            with suppress(Exception):
                self.sensor.close()
        if self.sensor_service is not None:
            self.sensor_service.join(timeout=5.0)
            if self.watcher is not None:
                with suppress(Exception):
                    self.watcher.stop()  # in case the service's last job started it while closing
        if self.sim is not None:
            with suppress(Exception):
                self.sim.close()
        self.relay.close()


def build_hardware(config: Config, datadir: DataDir, sink: EventSink) -> Hardware:
    """Construct the drivers of every configured door (simulated when ``config.simulated``); returns the first
    door's :class:`Hardware`, the others in its ``others`` (one door: none).

    Every door's strike relay is built first (locked), before any other driver of any door. With simulation
    one ``MockFactory`` carries every door's GPIO; each enabled sensor gets its own pty simulator, with its
    flash under ``DATA/sim/sensor`` for the first door and ``DATA/sim/<door>/sensor`` for the others. Door
    number ``i``'s drivers hand their events to ``sink`` tagged with it (:func:`drivers.events.door_sink`).
    """
    from drivers.door_io import StrikeRelay
    from drivers.events import door_sink

    factory = None
    if config.simulated:
        from gpiozero.pins.mock import MockFactory

        from drivers.sim_gpio import SimPin

        factory = MockFactory(pin_class=SimPin)
    else:
        factory = real_pin_factory()
    setups = config.door_setups
    doors: list[Hardware] = []
    try:
        for setup in setups:  # every relay first: every door is locked before anything else happens
            relay = StrikeRelay(setup.gpio.relay_pin, active_high=setup.gpio.relay_active_high, pin_factory=factory)
            doors.append(Hardware(relay=relay, indicators=None))
        for i, (setup, hw) in enumerate(zip(setups, doors)):
            flash = datadir.sim_dir / "sensor" if i == 0 else datadir.sim_dir / setup.name / "sensor"
            _build_door(door_view(config, setup), hw, flash, door_sink(sink, i), factory)
    except BaseException:
        for hw in doors:
            with suppress(Exception):
                hw.relay.lock()
        for hw in reversed(doors):
            hw.close()
        raise
    first = doors[0]
    first.others = doors[1:]
    return first


def _build_door(config: Config, hw: Hardware, flash_dir: Any, sink: EventSink, factory: Any) -> None:
    """Every driver of one door but its relay (already in ``hw``); ``config`` is the door's view."""
    from drivers.door_io import DoorInputs
    from drivers.indicators import Indicators

    gpio = config.gpio
    hw.indicators = Indicators(gpio.buzzer_pin, gpio.green_led_pin, gpio.red_led_pin, pin_factory=factory)
    sim_keypad = panel = None
    if config.simulated:
        from drivers.sim_gpio import DoorPanelModel, MatrixKeypadModel, WiegandSender

        # Models first: they install their pin classes before the drivers claim the pins.
        panel = DoorPanelModel(factory, gpio.door_contact_pin, gpio.exit_pin, gpio.tamper_pin)
        if config.keypad.type == "matrix":
            sim_keypad = MatrixKeypadModel(factory, config.keypad.row_pins, config.keypad.column_pins,
                                           config.keypad.keys)
        elif config.keypad.type == "wiegand":
            sender = WiegandSender(factory, config.keypad.wiegand_d0_pin, config.keypad.wiegand_d1_pin)
            sim_keypad = _WiegandTyping(sender, config.keypad.wiegand_bits)
    hw.inputs = DoorInputs(sink, gpio.door_contact_pin, gpio.exit_pin, gpio.tamper_pin,
                           debounce_ms=config.door.door_contact_debounce_ms, pin_factory=factory)
    hw.keypad = _build_keypad(config, sink, factory)
    sensor_sim = None
    if config.sensor.enabled:
        from drivers.fingerprint import PyFingerprintSensor
        from drivers.sensor_watcher import SensorWatcher

        port = config.sensor.port
        if config.simulated:
            from drivers.sim_sensor import PtySensorSimulator

            sensor_sim = PtySensorSimulator(flash_dir=flash_dir, password=config.sensor.password,
                                            address=config.sensor.address).start()
            port = sensor_sim.port
        hw.sensor = PyFingerprintSensor(port, config.sensor.baud_rate, config.sensor.address,
                                        config.sensor.password,
                                        command_timeout_seconds=config.sensor.command_timeout_seconds)
        hw.watcher = SensorWatcher(hw.sensor, sink, poll_interval_ms=config.sensor.poll_interval_ms,
                                   reconnect_max_seconds=config.sensor.reconnect_max_seconds)
        from controller.daemon.sensor_service import SensorService

        hw.sensor_service = SensorService(hw.sensor, hw.watcher, sink)
    if config.simulated:
        scanner = hw.keypad if config.keypad.type == "matrix" else None
        hw.sim = Simulation(factory=factory, keypad=sim_keypad, panel=panel, sensor=sensor_sim, scanner=scanner)


def real_pin_factory() -> Any:
    """gpiozero's pin factory for this machine (``$GPIOZERO_PIN_FACTORY``, else the first that loads).

    :raises drivers.errors.GpioUnavailable: when none loads (no pin library, no GPIO chip, not a Pi),
        naming each library's reason, instead of gpiozero's ``BadPinFactory`` traceback.
    """
    from gpiozero import Device
    from gpiozero.exc import PinFactoryFallback

    from drivers.errors import GpioUnavailable

    with warnings.catch_warnings(record=True) as fallbacks:
        warnings.simplefilter("always", PinFactoryFallback)
        try:
            Device.ensure_pin_factory()
        # Any failure to load a pin library means the same here (gpiozero itself treats every
        # exception of a candidate library as "try the next one"): ImportError, lgpio.error, OSError...
        except Exception as exc:  # noqa: BLE001 - wrapped at the vendor boundary
            reasons = [str(w.message) for w in fallbacks if issubclass(w.category, PinFactoryFallback)]
            detail = "; ".join([*reasons, f"{type(exc).__name__}: {exc}"])
            raise GpioUnavailable(T(
                "the GPIO pins cannot be used on this machine, so the door cannot be driven "
                "(simulated = false in the configuration): {detail}", detail=detail
            )) from exc
    return Device.pin_factory


def _build_keypad(config: Config, sink: EventSink, factory: Any) -> Any | None:
    kp = config.keypad
    if kp.type == "matrix":
        from drivers.keypad_matrix import MatrixKeypad

        return MatrixKeypad(kp.row_pins, kp.column_pins, kp.keys, sink, scan_interval_ms=kp.scan_interval_ms,
                            debounce_scans=kp.debounce_scans, pin_factory=factory)
    if kp.type == "wiegand":
        from drivers.keypad_wiegand import WiegandKeypad

        return WiegandKeypad(kp.wiegand_d0_pin, kp.wiegand_d1_pin, sink, bits=kp.wiegand_bits, gap_ms=kp.wiegand_gap_ms,
                             pin_factory=factory)
    return None


@dataclass
class _WiegandTyping:
    """Gives a :class:`WiegandSender` the same ``type_keys`` as the matrix model."""

    sender: Any
    bits: int

    def type_keys(self, keys: str) -> None:
        self.sender.type_keys(keys, bits=self.bits)
