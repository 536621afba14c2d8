"""The door daemon (``kunci run``): one queue, one loop thread that owns state, session and relay.
One cohesive thing: the loop, its start-up and shutdown, and the stepping that runs its turns in tests.

Data flow (DESIGN §3)::

    drivers (threads) --frozen event--> queue --> loop: PinEntry / AccessController / DoorStateMachine
    control socket (threads) --command--> queue --> loop --> reply

Start-up order is fail-secure: the relay is built first (off), then the database is opened and
checked (a damaged file keeps the door locked and the daemon refuses to start, saying why), the
secrets are loaded, the sealer lock is taken, pending admin events are sealed, lockout state is
restored, and only then are inputs started and ``READY=1`` sent. The fingerprint sensor is
connected and reconciled off the loop, just after (controller/daemon/sensor_service.py).

The loop survives any failing handler: it logs the exception, forces the relay off, raises an
alarm and carries on. SIGTERM/SIGINT stop it cleanly (relay off, ``daemon.stopped`` logged); an
independent timer also drops the relay when the unlock cap passes, even if the loop were stuck.
"""

from __future__ import annotations

import gc
import logging
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from controller.alerts.worker import Progress
from controller.config import Config
from controller.core.pin_entry import Invalid, PinEntry, Submitted, TimedOut
from controller.core.vocabulary import AlarmKind, EventType
from controller.daemon import startup
from controller.daemon.access import AccessController, Outcome
from controller.daemon.alerts import Alerts
from controller.daemon.checkpointer import Checkpointer, no_autocheckpoint
from controller.daemon.effects import CappedRelay, apply_effects
from controller.daemon.hardware import Hardware, build_hardware
from controller.daemon.journal import Journal
from controller.daemon.sensor_service import RESULT_TYPES as SENSOR_RESULTS
from controller.daemon.status import daemon_status
from controller.daemon.systemd import Notifier
from controller.daemon.watch import ClockWatch, LogWatch
from controller.errors import KunciError, StoreError
from controller.i18n import T
from controller.paths import DataDir
from controller.store import audit, db, keys
from controller.store.anchor import AnchorWriter
from controller.timefmt import utcnow
from drivers import events as ev

log = logging.getLogger(__name__)

#: Longest the loop sleeps waiting for input (seconds); bounds timer resolution.
LOOP_WAIT_SECONDS = 0.05
#: How often pending admin events from other processes are sealed (seconds).
SEAL_INTERVAL_SECONDS = 0.5  # how often the loop retries buffered events and checks for foreign rows
#: The interpreter's thread switch interval while the daemon runs (seconds; Python's default is 0.005).
SWITCH_INTERVAL_SECONDS = 0.001

#: Inputs that end in a door decision (timed for the metrics' decision histogram).
DECISION_INPUTS = (ev.KeyPressed, ev.FingerMatched, ev.FingerUnknown)

#: Indicator pattern for each :attr:`Outcome.feedback` ("none": nothing).
FEEDBACK = {"granted": "granted", "wait": "wait", "second_factor": "key_ack", "denied": "denied"}


@dataclass
class Command:
    """A control-socket command to run on the loop thread; the result goes to ``reply``."""

    name: str
    params: dict[str, Any]
    reply: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)


class Daemon:
    """One door's controller. Build it, then call :meth:`run` (blocks until :meth:`stop`).

    :param datadir: the data directory.
    :param config: the validated configuration (``config.simulated`` selects simulated hardware).
    :param hardware_factory: builds the drivers (default :func:`controller.daemon.hardware.build_hardware`).
    :param clock: monotonic clock in seconds (default ``time.monotonic``).
    :param wall: aware UTC wall clock (default :func:`controller.timefmt.utcnow`).
    """

    def __init__(
        self,
        datadir: DataDir,
        config: Config,
        *,
        hardware_factory: Callable[[Config, DataDir, ev.EventSink], Hardware] = build_hardware,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = utcnow,
        notifier: Notifier | None = None,
        accept_truncated_log: bool = False,
    ) -> None:
        self.datadir = datadir
        #: Start although the database no longer holds the head of the anchor file (``kunci run
        #: --accept-truncated-log``): the loss is logged as ``log.truncated`` and raised as an alarm.
        self.accept_truncated_log = accept_truncated_log
        self._anchor: AnchorWriter | None = None
        self.config = config
        self._hardware_factory = hardware_factory
        self.clock = clock
        self.wall = wall
        self.notifier = notifier or Notifier()
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._signalled = False
        #: True after the reader enclosure was opened, until it is shut and the alarm acknowledged.
        self.tamper_hold = False
        self.ready = threading.Event()
        self.hw: Hardware | None = None
        self.journal: Journal | None = None
        self.alerts: Alerts | None = None
        self.access: AccessController | None = None
        self.door = startup.door_machine(config)
        self.pin_entry = PinEntry(config.pin.max_entry_digits, config.pin.inter_digit_timeout_seconds)
        self.sensor_state = "disabled" if not config.sensor.enabled else "starting"
        self._engine = None
        self._checkpointer: Checkpointer | None = None
        self._switch_interval: float | None = None
        self._lock: audit.SealerLock | None = None
        self._control = None
        self._relay: CappedRelay | None = None
        self.clock_watch = ClockWatch("always")  # replaced at start-up by the configured policy
        self._log_watch = LogWatch()
        self._next_seal = 0.0
        from controller.daemon.commands import CommandHandlers

        self.commands = CommandHandlers(self)

    # -- public ----------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the loop to finish (from any thread; signal handlers use :meth:`_on_signal`)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._signalled or self._stop.is_set()

    def _on_signal(self, _signum: int, _frame: object) -> None:
        # Runs in the main thread between two bytecodes, possibly while that thread is inside a
        # lock-taking call. It must take no lock: Event.set() would deadlock the thread on itself
        # when a second signal lands while the first handler holds the Event's lock (seen: a demo
        # that got SIGTERM twice never stopped). A plain flag; the loop looks at it every turn.
        self._signalled = True

    def submit(self, name: str, params: dict[str, Any] | None = None, timeout: float = 10.0) -> dict[str, Any]:
        """Run command ``name`` on the loop thread and return its result (from any other thread)."""
        if not self.ready.is_set():
            raise KunciError(T("the door daemon is still starting"))
        command = Command(name, dict(params or {}))
        self.queue.put(command)
        try:
            ok, value = command.reply.get(timeout=timeout)
        except queue.Empty as exc:
            raise KunciError(T("the door daemon is busy; try again")) from exc
        if ok:
            return value
        raise value

    def run(self) -> int:
        """Start, loop until stopped, shut down. Returns the process exit code."""
        self._install_signal_handlers()
        try:
            self._start()
            self._loop()
        finally:
            self._shutdown()
        return 0

    # -- start-up and shutdown -------------------------------------------------------------------

    def _start(self) -> None:
        self.hw = self._hardware_factory(self.config, self.datadir, self.queue.put)  # relay is off from here
        self._relay = CappedRelay(self.hw.relay, self.config.door.max_unlock_seconds)
        self._lock = audit.SealerLock(self.datadir)
        self.datadir.run_dir.mkdir(parents=True, exist_ok=True)
        if not self._lock.try_acquire():
            raise StoreError(T("another kunci daemon is running on {path}", path=self.datadir.root))
        self._engine = startup.open_checked_database(self.datadir, self.config)
        no_autocheckpoint(self._engine)  # WAL checkpoints on their own thread, never inside a decision's commit
        if self._engine.dialect.name == "sqlite":
            self._checkpointer = Checkpointer(self.datadir.db_file if not self.config.store.url
                                              else Path(self._engine.url.database),
                                              stored=lambda: self.journal.sealed_count if self.journal else 0)
            self._checkpointer.start()
        pepper = keys.load_pepper(self.datadir)
        audit_key = keys.load_audit_key(self.datadir)
        session = db.session_factory(self._engine)()
        # before anything is written: refuses a log that lost events
        truncated = startup.check_anchor(self.datadir, session, self.accept_truncated_log)
        self._anchor = AnchorWriter(self.datadir)
        self.journal = Journal(session, audit_key, self.config.door.name, anchor=self._anchor, direct=True)
        self.journal.restore_spilled(self.datadir.unstored_events_file)  # events an earlier stop kept
        self._log_watch.foreign_rows(self.journal)
        self.clock_watch = ClockWatch(self.config.site.clock_trust, simulated=self.config.simulated)
        self.access = AccessController(self.journal, pepper, self.config)
        session.commit()
        self.alerts = Alerts(self)
        self.journal.on_stored = self.alerts.on_stored
        startup.log_unclean_stop(self.journal)
        startup.record_start(self.journal, truncated, self.config.simulated, self.clock_watch.trusted)
        if self.hw.inputs is not None and self.hw.inputs.door_open:
            self._apply(self.door.door_opened(self.clock()))
        if self.hw.inputs is not None and self.hw.inputs.tamper_active:
            self._apply(self.door.tamper(True, self.clock()))
            self._hold_for_tamper()
        if self.hw.sensor is not None:
            self.commands.connect_sensor()
        self.hw.start()
        from controller.control.server import ControlServer

        self._control = ControlServer(self.datadir.socket_path, self.commands.handle)
        self._control.start()
        self.alerts.start()  # the delivery workers and the metrics endpoint (off the loop thread)
        gc.collect()
        gc.freeze()  # start-up objects never move to a collected generation: no full-collection pause at the door
        # A thread that wants the GIL waits at most this long for another (a scanner, a sensor poll, an alert
        # worker) to hand it over: 5 ms by default. 1 ms cut the W1 decision's p95 from 3.4-5.7 to 2.6-3.0 ms
        # and its p99 from 5.9-8.8 to 3.6-5.8 ms in 4 alternated rounds (docs/performance.md), medians unchanged.
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
        self.ready.set()
        self.notifier.ready("door locked; ready")
        log.info("kunci daemon ready (%s hardware)", "simulated" if self.config.simulated else "real")

    def _shutdown(self) -> None:
        self._relay_off("shutdown")
        if self._relay is not None:
            self._relay.close()
        gc.unfreeze()  # a process that starts another daemon (tests, benchmarks) may collect this one's objects
        if self._switch_interval is not None:
            sys.setswitchinterval(self._switch_interval)
        self.notifier.stopping()
        if self._control is not None:
            self._control.close()
        if self.journal is not None and self.ready.is_set():
            self.journal.write(EventType.DAEMON_STOPPED, actor="daemon")
        if self.alerts is not None:
            self.alerts.close()
        if self.journal is not None and self.journal.buffered:
            startup.spill_unstored(self.journal, self.datadir.unstored_events_file)
        if self.hw is not None:
            self.hw.close()
        if self._checkpointer is not None:
            self._checkpointer.close()
        startup.release(self.journal, self._engine, self._anchor, self._lock)
        log.info("kunci daemon stopped; relay off")

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)

    # -- the loop ----------------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self.stopping:
            try:
                item = self.queue.get(timeout=self._wait_seconds())
            except queue.Empty:
                item = None
            self._turn(item)

    def _turn(self, item: Any) -> None:
        """One turn of the loop: handle ``item`` (an input event or a command; ``None`` for none), then
        the timers (:meth:`_tick`). A handler's failure turns the relay off and raises an alarm."""
        try:
            if item is not None:
                self._dispatch(item)
            self._tick()
        except Exception as exc:  # noqa: BLE001 - the loop must survive any handler
            self._handler_failed(exc)
        self.notifier.watchdog()

    # -- stepping: the same turns without the loop thread (tests with an injected clock) -----------

    def start(self) -> None:
        """Start up as :meth:`run` does (hardware, database, control socket), without looping: then call
        :meth:`step` after each input and each move of the injected ``clock``, and :meth:`shutdown`.

        With ``clock`` and ``wall`` injected, every timer of the door (unlock, held-open, lockout,
        inter-digit timeout) runs on them, so a test drives time instead of waiting for it. Control
        commands sent while stepping wait in the queue until the next :meth:`step`.
        """
        try:
            self._start()
        except BaseException:
            self._shutdown()
            raise

    def step(self) -> int:
        """Handle everything queued now, each in one loop turn, then one turn for the timers; never
        blocks. Returns how many items were handled."""
        handled = 0
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                break
            self._turn(item)
            handled += 1
        self._turn(None)
        return handled

    def shutdown(self) -> None:
        """Stop a daemon started with :meth:`start`: relay off, ``daemon.stopped`` logged, all released."""
        self._shutdown()

    def _wait_seconds(self) -> float:
        deadline = self.door.next_deadline()
        if deadline is None:
            return LOOP_WAIT_SECONDS
        return max(0.0, min(LOOP_WAIT_SECONDS, deadline - self.clock()))

    def _handler_failed(self, exc: BaseException) -> None:
        log.exception("handler failed; relay forced off")
        self._relay_off("handler error")
        t = self.clock()
        self.door.lockdown(True, t)
        self.door.lockdown(False, t)
        if self.journal is not None:
            self.journal.rollback()
            self.journal.raise_alarm(AlarmKind.DAEMON_ERROR, type(exc).__name__)

    def _dispatch(self, item: Any) -> None:
        if isinstance(item, Command):
            self._run_command(item)
            return
        if isinstance(item, Progress):  # an alert worker's report (controller/daemon/alerts.py)
            self.alerts.progress(item)
            self._end_transaction()
            return
        decided = self.journal.sealed_count
        t = item.t
        now = self.wall()
        if isinstance(item, ev.KeyPressed):
            self._key(item.key, t, now)
        elif isinstance(item, ev.FingerMatched):
            self._outcome(self.access.finger(item.slot, item.score, now, t, **self._facts()))
        elif isinstance(item, ev.FingerUnknown):
            if item.reason == "no_match":
                self._outcome(self.access.unknown_finger(now, t, **self._facts()))
            else:
                self.hw.indicators.denied()
        elif isinstance(item, ev.DoorContact):
            self._apply(self.door.door_opened(t) if item.open else self.door.door_closed(t))
        elif isinstance(item, ev.ExitPressed):
            self.journal.write(EventType.EXIT_REQUEST, time=now)
            self._sync_lockdown(t)  # an exit request must not energise the strike during lockdown
            self._apply(self.door.exit_request(t))
        elif isinstance(item, ev.TamperChanged):
            self._apply(self.door.tamper(item.active, t))
            if item.active:
                self._hold_for_tamper()
        elif isinstance(item, ev.SensorLost):
            if self.sensor_state != "lost":  # already logged when the first open at start-up failed
                self.sensor_state = "lost"
                self.journal.write(EventType.SENSOR_LOST, time=now, detail={"error": item.reason[:120]})
                self.journal.raise_alarm(AlarmKind.SENSOR_LOST, item.reason[:200])
        elif isinstance(item, ev.SensorRestored):
            self.sensor_state = "ok"
            self.journal.write(EventType.SENSOR_RESTORED, time=now, detail={"capacity": item.capacity})
            self.journal.clear_alarm(AlarmKind.SENSOR_LOST)
            self.commands.reconcile_fingers()
        elif isinstance(item, SENSOR_RESULTS):  # answers of the sensor service (controller/daemon/sensor_service.py)
            self.commands.sensor_result(item)
        self._end_transaction()  # the decision's journal line and anchor line follow its relay here
        if isinstance(item, DECISION_INPUTS) and self.journal.sealed_count != decided:
            self.alerts.decided(self.clock() - t)

    def _run_command(self, command: Command) -> None:
        try:
            result = self.commands.run_on_loop(command.name, command.params)
        except Exception as exc:  # noqa: BLE001 - the error goes back to the client
            if isinstance(exc, KunciError):  # a refusal: nothing was done
                self._end_transaction(rollback=True)
            else:  # a failure, maybe after the relay went on (remote unlock): fail secure like any handler
                log.error("command %s failed", command.name)
                self._handler_failed(exc)
                exc = KunciError(T("internal error in the door daemon (see its log)"))
            command.reply.put((False, exc))
            return
        self._end_transaction()
        command.reply.put((True, result))

    def _end_transaction(self, rollback: bool = False) -> None:
        """End the session's transaction so the next read sees other processes' commits (no stale cache)."""
        if self.journal is None:
            return
        self.journal.settle()  # the anchor line of a decision, after its relay and feedback
        if self.alerts is not None:
            self.alerts.after_turn()  # wakes the delivery workers if events were stored
        if rollback:
            self.journal.rollback()
            return
        try:
            if self.journal.session.in_transaction():  # a decision on the direct connection left none open
                self.journal.session.commit()
        except SQLAlchemyError as exc:
            log.warning("ending the transaction failed: %s", str(exc).splitlines()[0])
            self.journal.rollback()

    def _key(self, key: str, t: float, now: datetime) -> None:
        result = self.pin_entry.feed(key, t)
        if isinstance(result, Submitted):
            # Decide first: the granted/denied pattern is the feedback for the submit key, and no
            # beep thread is started in front of the decision.
            self._outcome(self.access.pin(result.pin, now, t, **self._facts()))
        elif isinstance(result, (Invalid, TimedOut)):
            self.hw.indicators.denied()
        else:
            self.hw.indicators.key_ack()

    def _hold_for_tamper(self) -> None:
        """T4.12: the reader's enclosure was opened; refuse credentials until an admin has looked."""
        if self.config.door.tamper_blocks_entry and not self.tamper_hold:
            self.tamper_hold = True
            log.warning("tamper: PINs and fingers refused until the enclosure is shut and the alarm acknowledged")

    def release_tamper_hold(self) -> bool:
        """Called when an admin acknowledges the tamper alarm; refused while the enclosure is still open."""
        if self.door.tamper_active:
            return False
        if self.tamper_hold:
            self.tamper_hold = False
            log.warning("tamper acknowledged: credentials accepted again")
        return True

    def _facts(self) -> dict[str, bool]:
        """The daemon's own facts of a decision (policy.decide refuses during a tamper hold)."""
        return {"tamper_hold": self.tamper_hold, "clock_trusted": self.clock_watch.trusted}

    def _outcome(self, outcome: Outcome) -> None:
        if outcome.grant is not None:
            self._apply(self.door.grant(self.clock(), outcome.grant.seconds,  # the relay: DESIGN §3
                                        override_lockdown=outcome.grant.override_lockdown))
        if outcome.feedback in FEEDBACK:
            getattr(self.hw.indicators, FEEDBACK[outcome.feedback])()

    def _tick(self) -> None:
        t = self.clock()
        now = self.wall()
        self._apply(self.door.tick(t))
        if self.pin_entry.poll(t) is not None:
            self.hw.indicators.denied()
        self.access.poll(now, t)
        self.clock_watch.check(self.journal, now, t)
        if t >= self._next_seal:
            self._next_seal = t + SEAL_INTERVAL_SECONDS
            self._sync_lockdown(t)
            if self.journal.buffered:
                self.journal.flush()
            self._log_watch.foreign_rows(self.journal)
            self._log_watch.availability(self.journal, self.hw.indicators, self.door)
        if self.alerts is not None:
            self.alerts.tick(t)
        self._end_transaction()

    def follow_lockdown(self) -> None:
        """Apply the door row's lockdown flag now (after an admin change on the loop thread)."""
        self._sync_lockdown(self.clock())

    def _sync_lockdown(self, t: float) -> None:
        """Follow the door row's ``lockdown`` flag (set by an admin in another process): while it is on
        the door state machine energises the strike for nothing, and entering it cancels any unlock."""
        wanted = self.access.refresh_door().lockdown
        if wanted != self.door.lockdown_active:
            log.warning("door lockdown %s", "on: every unlock refused" if wanted else "off")
            self._apply(self.door.lockdown(wanted, t))

    def _apply(self, effects: list) -> None:
        apply_effects(effects, self._relay, self.journal, self.hw.indicators, self.wall())

    def _relay_off(self, why: str) -> None:
        if self._relay is not None:
            self._relay.lock(why)

    def status(self) -> dict[str, Any]:
        """The ``status`` command's result (:func:`controller.daemon.status.daemon_status`); loop thread only."""
        return daemon_status(self)
