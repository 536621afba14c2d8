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
from controller.daemon.doors import DoorJournal, DoorUnit, make_units
from controller.daemon.doors import pick as pick_unit
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
from controller.slow_stop import reporting_slow_stop
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
    reply: queue.Queue = field(default_factory=queue.Queue)  # waited on with a timeout: never a SimpleQueue


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
        # A queue.Queue, not a SimpleQueue: on CPython 3.11 SimpleQueue.get(timeout=t) can block for good once t has
        # passed before it first waits (measured: a thread of tiny-timeout gets hung after 2,750 of them; the loop's
        # wait shrinks to microseconds before a timer). The loop then froze until the next input, its timers with it.
        self.queue: queue.Queue[Any] = queue.Queue()
        self._stop = threading.Event()
        self._signalled = False
        #: One unit per configured door (controller/daemon/doors.py); the first is the daemon's own
        #: ``door``, ``hw``, ``access``, ``pin_entry``, ``sensor_state`` and ``tamper_hold``.
        self.units: list[DoorUnit] = make_units(config)
        self.ready = threading.Event()
        self.journal: Journal | None = None
        self.alerts: Alerts | None = None
        self.site_link: Any = None  # controller.site.link.SiteLink when [site_link] is enabled
        self._engine = None
        self._checkpointer: Checkpointer | None = None
        self._switch_interval: float | None = None
        self._lock: audit.SealerLock | None = None
        self._control = None
        self.clock_watch = ClockWatch("always")  # replaced at start-up by the configured policy
        self._log_watch = LogWatch()
        self._next_seal = 0.0
        from controller.daemon.commands import CommandHandlers

        self.commands = CommandHandlers(self)

    # -- the first door's state (one door: the daemon's state, as before) --------------------------

    @property
    def door(self) -> Any:
        """The first door's state machine."""
        return self.units[0].door

    @property
    def pin_entry(self) -> PinEntry:
        return self.units[0].pin_entry

    @property
    def hw(self) -> Hardware | None:
        """The first door's hardware (its ``others`` hold the other doors')."""
        return self.units[0].hw

    @hw.setter
    def hw(self, value: Hardware | None) -> None:
        self.units[0].hw = value

    @property
    def access(self) -> AccessController | None:
        return self.units[0].access

    @property
    def sensor_state(self) -> str:
        return self.units[0].sensor_state

    @sensor_state.setter
    def sensor_state(self, value: str) -> None:
        self.units[0].sensor_state = value

    @property
    def tamper_hold(self) -> bool:
        """True after the first door's reader enclosure was opened, until it is shut and the alarm acknowledged."""
        return self.units[0].tamper_hold

    @tamper_hold.setter
    def tamper_hold(self, value: bool) -> None:
        self.units[0].tamper_hold = value

    @property
    def _relay(self) -> CappedRelay | None:
        return self.units[0].relay

    def unit(self, params: dict[str, Any]) -> DoorUnit:
        """The door a command's optional ``door`` parameter names (default: the first)."""
        return pick_unit(self.units, params)

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
            with reporting_slow_stop():
                self._shutdown()
        return 0

    # -- start-up and shutdown -------------------------------------------------------------------

    def _start(self) -> None:
        self.hw = self._hardware_factory(self.config, self.datadir, self.queue.put)  # every relay is off from here
        others = list(getattr(self.hw, "others", ()))
        if len(others) != len(self.units) - 1:
            raise KunciError(T("the hardware was built for {built} doors, the configuration has {doors}",
                               built=len(others) + 1, doors=len(self.units)))
        for unit, hw in zip(self.units[1:], others):
            unit.hw = hw
        for unit in self.units:
            unit.relay = CappedRelay(unit.hw.relay, unit.config.door.max_unlock_seconds)
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
        startup.ensure_door_rows(session, [u.name for u in self.units[1:]])
        first = self.units[0]
        first.journal = self.journal
        first.access = AccessController(self.journal, pepper, self.config)
        for unit in self.units[1:]:
            unit.journal = DoorJournal(self.journal, unit.name)
            unit.access = AccessController(unit.journal, pepper, unit.config, shared=first.access)
        session.commit()
        self.alerts = Alerts(self)
        self.journal.on_stored = self.alerts.on_stored
        startup.log_unclean_stop(self.journal)
        startup.record_start(self.journal, truncated, self.config.simulated, self.clock_watch.trusted)
        for unit in self.units:
            if unit.hw.inputs is not None and unit.hw.inputs.door_open:
                self._apply(unit.door.door_opened(self.clock()), unit)
            if unit.hw.inputs is not None and unit.hw.inputs.tamper_active:
                self._apply(unit.door.tamper(True, self.clock()), unit)
                self._hold_for_tamper(unit)
            if unit.hw.sensor is not None:
                unit.fingers.connect()
        for unit in self.units:
            unit.hw.start()
        from controller.control.server import ControlServer

        self._control = ControlServer(self.datadir.socket_path, self.commands.handle)
        self._control.start()
        self.alerts.start()  # the delivery workers and the metrics endpoint (off the loop thread)
        if self.config.site_link.enabled:  # the site link's thread (controller/site/link.py), started once ready
            from controller.site.link import SiteLink

            self.site_link = SiteLink(self.config.site_link, self.datadir.root, self.datadir.db_file, self.submit)
        gc.collect()
        gc.freeze()  # start-up objects never move to a collected generation: no full-collection pause at the door
        # A thread that wants the GIL waits at most this long for another (a scanner, a sensor poll, an alert
        # worker) to hand it over: 5 ms by default. 1 ms cut the W1 decision's p95 from 3.4-5.7 to 2.6-3.0 ms
        # and its p99 from 5.9-8.8 to 3.6-5.8 ms in 4 alternated rounds (docs/performance.md), medians unchanged.
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
        self.ready.set()
        if self.site_link is not None:
            self.site_link.start()
        self.notifier.ready("door locked; ready")
        log.info("kunci daemon ready (%s hardware)", "simulated" if self.config.simulated else "real")

    def _shutdown(self) -> None:
        self._relay_off("shutdown")
        if self.site_link is not None:
            self.site_link.close(timeout=2.0)
        for unit in self.units:
            if unit.relay is not None:
                unit.relay.close()
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
        deadlines = [d for d in (u.door.next_deadline() for u in self.units) if d is not None]
        if not deadlines:
            return LOOP_WAIT_SECONDS
        deadline = min(deadlines)
        return max(0.0, min(LOOP_WAIT_SECONDS, deadline - self.clock()))

    def _handler_failed(self, exc: BaseException) -> None:
        log.exception("handler failed; relay forced off")
        self._relay_off("handler error")
        t = self.clock()
        for unit in self.units:
            unit.door.lockdown(True, t)
            unit.door.lockdown(False, t)
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
        u = self.units[0]
        if isinstance(item, ev.AtDoor):  # another door's driver (drivers/events.py)
            u, item = self.units[item.door], item.event
        t = item.t
        now = self.wall()
        if isinstance(item, ev.KeyPressed):
            self._key(u, item.key, t, now)
        elif isinstance(item, ev.FingerMatched):
            self._outcome(u, u.access.finger(item.slot, item.score, now, t, **self._facts(u)))
        elif isinstance(item, ev.FingerUnknown):
            if item.reason == "no_match":
                self._outcome(u, u.access.unknown_finger(now, t, **self._facts(u)))
            else:
                u.hw.indicators.denied()
        elif isinstance(item, ev.DoorContact):
            self._apply(u.door.door_opened(t) if item.open else u.door.door_closed(t), u)
        elif isinstance(item, ev.ExitPressed):
            u.journal.write(EventType.EXIT_REQUEST, time=now)
            self._sync_lockdown(t, u)  # an exit request must not energise the strike during lockdown
            self._apply(u.door.exit_request(t), u)
        elif isinstance(item, ev.TamperChanged):
            self._apply(u.door.tamper(item.active, t), u)
            if item.active:
                self._hold_for_tamper(u)
        elif isinstance(item, ev.SensorLost):
            if u.sensor_state != "lost":  # already logged when the first open at start-up failed
                u.sensor_state = "lost"
                u.journal.write(EventType.SENSOR_LOST, time=now, detail={"error": item.reason[:120]})
                where = "" if u.index == 0 else f"door {u.name}: "
                u.journal.raise_alarm(AlarmKind.SENSOR_LOST, (where + item.reason)[:200])
        elif isinstance(item, ev.SensorRestored):
            u.sensor_state = "ok"
            u.journal.write(EventType.SENSOR_RESTORED, time=now, detail={"capacity": item.capacity})
            if all(other.sensor_state != "lost" for other in self.units):
                u.journal.clear_alarm(AlarmKind.SENSOR_LOST)
            u.fingers.reconcile()
        elif isinstance(item, SENSOR_RESULTS):  # answers of the sensor service (controller/daemon/sensor_service.py)
            u.fingers.on_result(item)
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

    def _key(self, u: DoorUnit, key: str, t: float, now: datetime) -> None:
        result = u.pin_entry.feed(key, t)
        if isinstance(result, Submitted):
            # Decide first: the granted/denied pattern is the feedback for the submit key, and no
            # beep thread is started in front of the decision.
            self._outcome(u, u.access.pin(result.pin, now, t, **self._facts(u)))
        elif isinstance(result, (Invalid, TimedOut)):
            u.hw.indicators.denied()
        else:
            u.hw.indicators.key_ack()

    def _hold_for_tamper(self, u: DoorUnit | None = None) -> None:
        """T4.12: the reader's enclosure was opened; refuse credentials at that door until an admin has looked."""
        u = u or self.units[0]
        if u.config.door.tamper_blocks_entry and not u.tamper_hold:
            u.tamper_hold = True
            log.warning("tamper at door %s: PINs and fingers refused until the enclosure is shut and the alarm "
                        "acknowledged", u.name)

    def release_tamper_hold(self) -> bool:
        """Called when an admin acknowledges the tamper alarm; refused while an enclosure is still open."""
        if any(u.door.tamper_active for u in self.units):
            return False
        for u in self.units:
            if u.tamper_hold:
                u.tamper_hold = False
                log.warning("tamper acknowledged at door %s: credentials accepted again", u.name)
        return True

    def _facts(self, u: DoorUnit | None = None) -> dict[str, bool]:
        """The daemon's own facts of a decision (policy.decide refuses during a tamper hold)."""
        return {"tamper_hold": (u or self.units[0]).tamper_hold, "clock_trusted": self.clock_watch.trusted}

    def _outcome(self, u: DoorUnit, outcome: Outcome) -> None:
        if outcome.grant is not None:
            self._apply(u.door.grant(self.clock(), outcome.grant.seconds,  # the relay: DESIGN §3
                                     override_lockdown=outcome.grant.override_lockdown), u)
        if outcome.feedback in FEEDBACK:
            getattr(u.hw.indicators, FEEDBACK[outcome.feedback])()

    def _tick(self) -> None:
        t = self.clock()
        now = self.wall()
        for u in self.units:
            self._apply(u.door.tick(t), u)
            if u.pin_entry.poll(t) is not None:
                u.hw.indicators.denied()
            u.access.poll(now, t)
        self.clock_watch.check(self.journal, now, t)
        if t >= self._next_seal:
            self._next_seal = t + SEAL_INTERVAL_SECONDS
            for u in self.units:
                self._sync_lockdown(t, u)
            if self.journal.buffered:
                self.journal.flush()
            self._log_watch.foreign_rows(self.journal)
            self._log_watch.availability(self.journal, self.hw.indicators, self.door,
                                         tuple((u.hw.indicators, u.door) for u in self.units[1:]))
        if self.alerts is not None:
            self.alerts.tick(t)
        self._end_transaction()

    def follow_lockdown(self) -> None:
        """Apply every door row's lockdown flag now (after an admin change on the loop thread)."""
        for u in self.units:
            self._sync_lockdown(self.clock(), u)

    def _sync_lockdown(self, t: float, u: DoorUnit | None = None) -> None:
        """Follow the door row's ``lockdown`` flag (set by an admin in another process): while it is on
        the door state machine energises the strike for nothing, and entering it cancels any unlock."""
        u = u or self.units[0]
        wanted = u.access.refresh_door().lockdown
        if wanted != u.door.lockdown_active:
            log.warning("door %s lockdown %s", u.name, "on: every unlock refused" if wanted else "off")
            self._apply(u.door.lockdown(wanted, t), u)

    def _apply(self, effects: list, u: DoorUnit | None = None) -> None:
        u = u or self.units[0]
        apply_effects(effects, u.relay, u.journal or self.journal, u.hw.indicators, self.wall())

    def _relay_off(self, why: str) -> None:
        for u in self.units:
            if u.relay is not None:
                u.relay.lock(why)

    def status(self) -> dict[str, Any]:
        """The ``status`` command's result (:func:`controller.daemon.status.daemon_status`); loop thread only."""
        return daemon_status(self)
