"""Harness for the door daemon's integration tests: a real :class:`~controller.daemon.loop.Daemon` in-process.

The daemon runs on a background thread with ``simulated = true``: real gpiozero drivers on the
MockFactory that :func:`controller.daemon.hardware.build_hardware` creates, the real pyfingerprint adapter
talking to the pty sensor simulator, the real control socket. Tests drive it from outside (control
socket, ``daemon.hw.sim``) and assert what a person would notice: the relay pin's recorded history,
event rows read through a separate read-only connection, ``status`` fields.

Timings are short (see :func:`fast_config`) and every wait is a poll with a generous timeout: the
test machine is a loaded 2-core box.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from controller.control import changes

from controller.store import db
from controller.ops.initialise import initialise
from controller.control.client import ControlClient
from controller.config import Config, DoorConfig, KeypadConfig, PinConfig, SensorConfig, SiteConfig
from controller.daemon.loop import Daemon
from controller.daemon.hardware import Hardware, build_hardware
from controller.paths import DataDir
from drivers import events as ev
from tests import polling

#: Default polling timeout (seconds) for conditions that normally hold within a fraction of a second: a
#: deadline, not a duration (a passing test never waits for it); long because a loaded 2-core machine
#: running the suite on four workers can starve the daemon's threads for seconds (seen: 10 s too short).
WAIT_SECONDS = 30.0


def wait_for(condition: Callable[[], Any], timeout: float = WAIT_SECONDS, what: str = "condition",
             interval: float = 0.02) -> Any:
    """Poll ``condition`` until it returns something truthy (returned); AssertionError after ``timeout`` s."""
    return polling.wait_for(condition, timeout, what, interval)


# ------------------------------------------------------------------------------------------ config


def fast_config(
    *,
    door: dict[str, Any] | None = None,
    pin: dict[str, Any] | None = None,
    sensor: dict[str, Any] | None = None,
    keypad: dict[str, Any] | None = None,
    simulated: bool = True,
) -> Config:
    """A simulated configuration with test-sized timings; ``door``/``pin``/... override fields.

    Built directly (not through ``parse_config``), so a test may use values below the documented
    minimums (``held_open_seconds`` 3) to stay fast; the daemon must behave the same at any scale.
    """
    door_values = dict(unlock_seconds=1.0, extended_unlock_seconds=2.0, max_unlock_seconds=3.0,
                       held_open_seconds=3.0, held_open_prealarm_seconds=1.0, forced_open_grace_seconds=0.3,
                       door_contact_debounce_ms=20, second_factor_timeout_seconds=4.0)
    door_values.update(door or {})
    pin_values = dict(lockout_after_failures=3, lockout_base_seconds=2.0, lockout_max_seconds=4.0,
                      inter_digit_timeout_seconds=5.0)
    pin_values.update(pin or {})
    sensor_values = dict(poll_interval_ms=30, command_timeout_seconds=1.0, reconnect_max_seconds=1.0)
    sensor_values.update(sensor or {})
    keypad_values = dict(scan_interval_ms=5, debounce_scans=2)
    keypad_values.update(keypad or {})
    return Config(
        simulated=simulated,
        site=SiteConfig(clock_trust="always"),
        door=dataclasses.replace(DoorConfig(), **door_values),
        pin=dataclasses.replace(PinConfig(), **pin_values),
        sensor=dataclasses.replace(SensorConfig(), **sensor_values),
        keypad=dataclasses.replace(KeypadConfig(), **keypad_values),
    )


# ------------------------------------------------------------------------------------------ data


@dataclass(frozen=True)
class Person:
    """Someone enrolled for a test: their code and the PIN they were given."""

    code: str
    pin: str


def prepare_datadir(root: Path) -> DataDir:
    """A data directory made by ``kunci init`` (secrets, database, run/)."""
    datadir = DataDir(root)
    initialise(datadir)
    return datadir


def open_session(datadir: DataDir) -> Any:
    """A read-write session on the data directory's database in this thread (another "process" than the
    daemon's loop, like the admin web or a CLI command). Close it (``with``) and dispose ``.bind``."""
    engine = db.open_database(datadir)
    return db.session_factory(engine)()


#: The agreement date of people the harness adds: in the past whatever wall clock a test injects.
AGREEMENT_SIGNED_ON = "2020-01-02"


def add_person(datadir: DataDir, config: Config, name: str = "Test Person", **fields: Any) -> Person:
    """Add an active person with a fresh PIN, as ``kunci user add`` does: through the running daemon, or
    in process under the writer lock when none runs (``config`` is then the configuration used)."""
    params = {"name": name, "agreement_signed_on": AGREEMENT_SIGNED_ON,
              **{k: v.isoformat() if isinstance(v, date) else v for k, v in fields.items()}}
    result = changes.apply(datadir, "user.add", params, actor="test", config=config)
    return Person(result["code"], result["pin"])


def execute(datadir: DataDir, sql: str, params: tuple[Any, ...] = ()) -> None:
    """Run one write statement through a separate connection (a raw admin edit)."""
    conn = sqlite3.connect(datadir.db_file, timeout=10)
    try:
        conn.execute(sql, params)
        conn.commit()
    finally:
        conn.close()


def events(datadir: DataDir, after_id: int = 0) -> list[dict[str, Any]]:
    """Event rows (oldest first) read through a separate read-only connection."""
    conn = sqlite3.connect(f"file:{datadir.db_file}?mode=ro", uri=True, timeout=10)
    try:
        rows = conn.execute(
            "SELECT id, seq, type, reason, method, user_code, actor, score, detail, door FROM events WHERE id > ? "
            "ORDER BY id", (after_id,)).fetchall()
    finally:
        conn.close()
    keys_ = ("id", "seq", "type", "reason", "method", "user", "actor", "score", "detail", "door")
    out = []
    for row in rows:
        item = dict(zip(keys_, row))
        item["detail"] = json.loads(item["detail"]) if item["detail"] else None
        out.append(item)
    return out


def last_event_id(datadir: DataDir) -> int:
    """Id of the newest event row (0 when none): a mark to look only at what happens next."""
    rows = events(datadir)
    return rows[-1]["id"] if rows else 0


def matching(rows: list[dict[str, Any]], type: str, **fields: Any) -> list[dict[str, Any]]:
    """Rows of ``type`` whose fields equal ``fields``."""
    return [r for r in rows if r["type"] == type and all(r.get(k) == v for k, v in fields.items())]


def wait_event(datadir: DataDir, type: str, after_id: int = 0, timeout: float = WAIT_SECONDS,
               **fields: Any) -> dict[str, Any]:
    """Wait for the first event of ``type`` (with ``fields``) written after ``after_id``; return it."""
    found = wait_for(lambda: matching(events(datadir, after_id), type, **fields), timeout,
                     f"event {type} {fields or ''}")
    return found[0]


# ------------------------------------------------------------------------------------------ relay


def relay_periods(pin: Any) -> list[tuple[float, float | None]]:
    """The relay pin's energised periods from its MockPin history: ``(start, duration or None if still on)``.

    Times are seconds from the pin's creation (``MockPin.states`` stores the time since the previous
    change). The relay is active-high in the test configuration: energised = high.
    """
    periods: list[tuple[float, float | None]] = []
    t = 0.0
    on_at: float | None = None
    for state in pin.states:
        t += state.timestamp
        if state.state and on_at is None:
            on_at = t
        elif not state.state and on_at is not None:
            periods.append((on_at, t - on_at))
            on_at = None
    if on_at is not None:
        periods.append((on_at, None))
    return periods


def ever_energised_since(pin: Any, mark: int) -> bool:
    """True when the relay pin was high in any state recorded from index ``mark`` on."""
    return any(s.state for s in pin.states[mark:])


# ------------------------------------------------------------------------------------------ daemon


class KeyTap:
    """Wraps the daemon's event sink to count the debounced keys the real keypad driver reports."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self._lock = threading.Lock()

    def wrap(self, sink: ev.EventSink) -> ev.EventSink:
        def tapped(event: ev.DriverEvent) -> None:
            if isinstance(event, ev.KeyPressed):
                with self._lock:
                    self.keys.append(event.key)
            sink(event)

        return tapped

    def count(self) -> int:
        with self._lock:
            return len(self.keys)


class DaemonRunner:
    """Runs one :class:`Daemon` on a background thread until :meth:`stop`.

    :param datadir: prepared data directory.
    :param config: configuration (normally :func:`fast_config`).
    :param hardware_factory: default: the real :func:`build_hardware` with a :class:`KeyTap` on the sink.
    :param daemon_kwargs: passed to :class:`Daemon`, e.g. ``wall=`` (an injected wall clock: the date and
        time that schedules, validity dates and holidays are judged by).
    """

    def __init__(self, datadir: DataDir, config: Config,
                 hardware_factory: Callable[[Config, DataDir, ev.EventSink], Hardware] | None = None,
                 **daemon_kwargs: Any) -> None:
        self.datadir = datadir
        self.config = config
        self.tap = KeyTap()
        factory = hardware_factory or (lambda c, d, sink: build_hardware(c, d, self.tap.wrap(sink)))
        self.daemon = Daemon(datadir, config, hardware_factory=factory, **daemon_kwargs)
        self.error: BaseException | None = None
        self.exit_code: int | None = None
        self._thread = threading.Thread(target=self._run, name="test-daemon", daemon=True)

    def _run(self) -> None:
        try:
            self.exit_code = self.daemon.run()
        except BaseException as exc:  # noqa: BLE001 - reported by start()/stop()
            self.error = exc

    def start(self, timeout: float = 30.0) -> DaemonRunner:
        self._thread.start()
        wait_for(lambda: self.daemon.ready.is_set() or not self._thread.is_alive(), timeout, "daemon ready")
        if self.error is not None:
            raise AssertionError(f"daemon failed to start: {self.error!r}") from self.error
        return self

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the loop and wait for the shutdown to finish (idempotent)."""
        self.daemon.stop()
        if self._thread.is_alive() or self._thread.ident is not None:
            self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError("daemon thread did not stop")

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # -- handles -----------------------------------------------------------------------------

    @property
    def hw(self) -> Hardware:
        assert self.daemon.hw is not None
        return self.daemon.hw

    @property
    def relay_pin(self) -> Any:
        """The strike relay's MockPin (high = energised in the test configuration)."""
        return self.hw.sim.factory.pin(self.config.gpio.relay_pin)

    def client(self, timeout: float = 30.0) -> ControlClient:
        return ControlClient(self.datadir.socket_path, timeout=timeout)

    def call(self, cmd: str, **params: Any) -> dict[str, Any]:
        return self.client().call(cmd, **params)

    def status(self) -> dict[str, Any]:
        return self.call("status")

    def press(self, keys_: str) -> None:
        """Type ``keys_`` on the simulated keypad with human timing (``kunci sim press``)."""
        self.call("sim.press", keys=keys_)

    def drain(self) -> None:
        """Return once the loop has handled everything queued before this call (commands are FIFO)."""
        self.daemon.submit("status", {})

    def type_key(self, key: str, timeout: float = WAIT_SECONDS) -> None:
        """One key down until the real scanner reports it, then up until the scanner is re-armed."""
        model = self.hw.sim.keypad
        before = self.tap.count()
        model.press(key)
        try:
            wait_for(lambda: self.tap.count() > before, timeout, f"key {key!r} reported by the scanner",
                     interval=0.002)
        finally:
            model.release(key)
        # The debouncer accepts the next key only after the matrix was seen empty for debounce_scans scans.
        debouncer = self.hw.keypad._debouncer  # noqa: SLF001 - no public "ready for the next key" signal
        wait_for(lambda: debouncer._armed, timeout, "keypad released", interval=0.002)  # noqa: SLF001


def door_row_mode(datadir: DataDir, mode: str) -> None:
    """Set the door's mode as ``kunci door mode`` does: through the running daemon (in effect when this
    returns), or in process under the writer lock when none runs."""
    changes.apply(datadir, "door.set_mode", {"mode": mode}, actor="test")

