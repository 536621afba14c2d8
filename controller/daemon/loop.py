"""The door daemon (``kunci run``): one queue, one loop thread that owns state, session and relay.

Data flow (DESIGN §3)::

    drivers (threads) --frozen event--> queue --> loop: PinEntry / AccessController / DoorStateMachine
    control socket (threads) --command--> queue --> loop --> reply

Start-up order is fail-secure: the relay is built first (off), then the database is opened and
checked (a damaged file keeps the door locked and the daemon refuses to start, saying why), the
secrets are loaded, the sealer lock is taken, pending admin events are sealed, lockout state is
restored, fingerprints are reconciled, and only then are inputs started and ``READY=1`` sent.

The loop survives any failing handler: it logs the exception, forces the relay off, raises an
alarm and carries on. SIGTERM/SIGINT stop it cleanly (relay off, ``daemon.stopped`` logged); an
independent timer also drops the relay when the unlock cap passes, even if the loop were stuck.
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from controller import __version__

from controller.store import audit, db, keys
from controller.store import anchor as anchors
from controller.daemon.access import AccessController, Outcome
from controller.store.anchor import AnchorWriter
from controller.daemon.clock import JumpDetector, clock_trusted
from controller.config import Config
from controller.core.door_state import (AlarmCleared, AlarmRaised, DoorEvent, DoorState, DoorStateMachine, RelayOff,
                                   RelayOn)
from controller.errors import DataLost, KunciError, StoreError
from controller.daemon.hardware import Hardware, build_hardware
from controller.daemon.journal import Journal
from controller.daemon.sensor_service import RESULT_TYPES as SENSOR_RESULTS
from controller.paths import DataDir
from controller.core.pin_entry import Invalid, PinEntry, Submitted, TimedOut
from controller.daemon.systemd import Notifier
from controller.timefmt import iso_utc, utcnow
from drivers import events as ev

log = logging.getLogger(__name__)

#: Longest the loop sleeps waiting for input (seconds); bounds timer resolution.
LOOP_WAIT_SECONDS = 0.05
#: How often pending admin events from other processes are sealed (seconds).
SEAL_INTERVAL_SECONDS = 0.5  # how often the loop retries buffered events and checks for foreign rows
#: How often the clock's trust is re-evaluated (seconds).
CLOCK_CHECK_SECONDS = 10.0


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
        self.access: AccessController | None = None
        self.door = DoorStateMachine(
            unlock_seconds=config.door.unlock_seconds,
            max_unlock_seconds=config.door.max_unlock_seconds,
            relock_on_close=config.door.relock_on_close,
            held_open_seconds=config.door.held_open_seconds,
            held_open_prealarm_seconds=config.door.held_open_prealarm_seconds,
            forced_open_grace_seconds=config.door.forced_open_grace_seconds,
            exit_unlocks=config.door.exit_unlocks,
        )
        self.pin_entry = PinEntry(config.pin.max_entry_digits, config.pin.inter_digit_timeout_seconds)
        self.sensor_state = "disabled" if not config.sensor.enabled else "starting"
        self._engine = None
        self._lock: audit.SealerLock | None = None
        self._control = None
        self._cap_timer: threading.Timer | None = None
        self._jumps = JumpDetector()
        trust_policy = config.site.clock_trust
        if config.simulated and trust_policy == "auto":
            trust_policy = "always"  # a simulated bench has no NTP to ask; documented in docs/security.md
        self._trust_policy = trust_policy
        self._clock_trusted = True
        self._next_seal = 0.0
        self._log_down = False
        self._next_clock_check = 0.0
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
            raise KunciError("the door daemon is still starting")
        command = Command(name, dict(params or {}))
        self.queue.put(command)
        try:
            ok, value = command.reply.get(timeout=timeout)
        except queue.Empty as exc:
            raise KunciError("the door daemon is busy; try again") from exc
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
        self._lock = audit.SealerLock(self.datadir)
        self.datadir.run_dir.mkdir(parents=True, exist_ok=True)
        if not self._lock.try_acquire():
            raise StoreError(f"another kunci daemon is running on {self.datadir.root}")
        self._engine = db.open_database(self.datadir, self.config.store.url,
                                        busy_timeout_ms=self.config.store.busy_timeout_ms)
        integrity = db.check_integrity(self._engine)
        if integrity != "ok":
            problems = [line for line in integrity.splitlines() if not line.startswith("***")] or ["damaged"]
            raise StoreError(f"database integrity check failed ({problems[0][:120]}); the door stays "
                             "locked. Restore a backup (docs/reliability.md); the file was not modified")
        db.upgrade_database(self._engine)
        pepper = keys.load_pepper(self.datadir)
        audit_key = keys.load_audit_key(self.datadir)
        session = db.session_factory(self._engine)()
        truncated = self._check_anchor(session)  # before anything is written: refuses a log that lost events
        self._anchor = AnchorWriter(self.datadir)
        self.journal = Journal(session, audit_key, self.config.door.name, anchor=self._anchor)
        self.journal.restore_spilled(self.datadir.unstored_events_file)  # events an earlier stop kept
        self._watch_foreign_rows()
        self._clock_trusted = clock_trusted(self._trust_policy)
        self.access = AccessController(self.journal, pepper, self.config)
        session.commit()
        self._log_unclean_stop()
        if truncated is not None:
            self.journal.write("log.truncated", actor="daemon", detail=truncated)
            self.journal.raise_alarm("log_truncated", truncated["problem"][:200])
        self.journal.write("daemon.started", actor="daemon",
                           detail={"version": __version__, "simulated": self.config.simulated,
                                   "clock_trusted": self._clock_trusted})
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
        self.ready.set()
        self.notifier.ready("door locked; ready")
        log.info("kunci daemon ready (%s hardware)", "simulated" if self.config.simulated else "real")

    def _check_anchor(self, session: Any) -> dict[str, Any] | None:
        """Compare the newest head of the anchor file with the database (docs/reliability.md).

        The database must still hold the anchor's seq with its MAC; otherwise committed events were
        lost (a deleted ``kunci.db-wal`` after a crash, rows deleted, an old file put back) and the
        daemon refuses to start (fail-secure: the door stays locked and the evidence untouched) unless
        ``accept_truncated_log``, when the returned detail is logged as ``log.truncated``.
        """
        kept = anchors.newest(self.datadir)
        try:
            problem = anchors.compare(session, kept) if kept is not None else None
            last = audit.head(session)
        finally:
            session.rollback()
        if problem is None:
            return None
        if not self.accept_truncated_log:
            raise DataLost(
                f"the entry log lost committed events: {problem} ({self.datadir.anchor_file}). The door "
                "stays locked and nothing was written. Restore the newest backup (docs/backup.md), or start "
                "with 'kunci run --accept-truncated-log' to carry on with the log as it is (the loss is "
                "then logged as log.truncated and raised as an alarm; docs/reliability.md)")
        log.critical("starting on a truncated entry log (--accept-truncated-log): %s", problem)
        return {"problem": problem, "anchor_seq": kept.seq, "anchor_mac": kept.mac, "anchor_time": kept.time,
                "log_head_seq": last[0] if last else 0}

    def _log_unclean_stop(self) -> None:
        """``daemon.recovered`` when the previous run did not stop cleanly (it logged ``daemon.started``
        and never ``daemon.stopped``: killed, crashed, power cut)."""
        from sqlalchemy import select

        from controller.store.models import Event

        session = self.journal.session
        last_run = session.scalar(
            select(Event.type).where(Event.type.in_(("daemon.started", "daemon.stopped")), Event.seq.is_not(None))
            .order_by(Event.seq.desc()).limit(1))
        last = audit.head(session)
        session.commit()
        if last_run == "daemon.started":
            log.warning("the previous run did not stop cleanly; the last sealed event is seq %s",
                        last[0] if last else 0)
            self.journal.write("daemon.recovered", actor="daemon", detail={"last_seq": last[0] if last else 0})

    def _shutdown(self) -> None:
        self._relay_off("shutdown")
        self.notifier.stopping()
        if self._control is not None:
            self._control.close()
        if self.journal is not None and self.ready.is_set():
            self.journal.write("daemon.stopped", actor="daemon")
        if self.journal is not None and self.journal.buffered:
            self._spill_unstored()
        if self._cap_timer is not None:
            self._cap_timer.cancel()
        if self.hw is not None:
            self.hw.close()
        if self.journal is not None:
            try:
                self.journal.session.close()
            except SQLAlchemyError:
                log.debug("closing the session failed", exc_info=True)
        if self._engine is not None:
            self._engine.dispose()
        if self._anchor is not None:
            self._anchor.close()
        if self._lock is not None:
            self._lock.release()
        log.info("kunci daemon stopped; relay off")

    def _spill_unstored(self) -> None:
        """An orderly stop while the database refuses writes: keep the RAM-buffered events on disk."""
        journal = self.journal
        if journal.flush():  # one last try
            return
        try:
            journal.spill(self.datadir.unstored_events_file)
        except OSError as exc:
            log.critical("%d events were never stored and could not be saved to %s (%s): they are LOST",
                         journal.buffered, self.datadir.unstored_events_file, exc.strerror or exc)

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
            try:
                if item is not None:
                    self._dispatch(item)
                self._tick()
            except Exception as exc:  # noqa: BLE001 - the loop must survive any handler
                self._handler_failed(exc)
            self.notifier.watchdog()

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
            self.journal.raise_alarm("daemon_error", type(exc).__name__)
        if isinstance(exc, KunciError):
            return

    def _dispatch(self, item: Any) -> None:
        if isinstance(item, Command):
            self._run_command(item)
            return
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
            self.journal.write("exit.request", time=now)
            self._sync_lockdown(t)  # an exit request must not energise the strike during lockdown
            self._apply(self.door.exit_request(t))
        elif isinstance(item, ev.TamperChanged):
            self._apply(self.door.tamper(item.active, t))
            if item.active:
                self._hold_for_tamper()
        elif isinstance(item, ev.SensorLost):
            if self.sensor_state != "lost":  # already logged when the first open at start-up failed
                self.sensor_state = "lost"
                self.journal.write("sensor.lost", time=now, detail={"error": item.reason[:120]})
                self.journal.raise_alarm("sensor_lost", item.reason[:200])
        elif isinstance(item, ev.SensorRestored):
            self.sensor_state = "ok"
            self.journal.write("sensor.restored", time=now, detail={"capacity": item.capacity})
            self.journal.clear_alarm("sensor_lost")
            self.commands.reconcile_fingers()
        elif isinstance(item, SENSOR_RESULTS):  # answers of the sensor service (controller/daemon/sensor_service.py)
            self.commands.sensor_result(item)
        self._end_transaction()

    def _run_command(self, command: Command) -> None:
        try:
            result = self.commands.run_on_loop(command.name, command.params)
        except Exception as exc:  # noqa: BLE001 - the error goes back to the client
            if isinstance(exc, KunciError):  # a refusal: nothing was done
                self._end_transaction(rollback=True)
            else:  # a failure, maybe after the relay went on (remote unlock): fail secure like any handler
                log.error("command %s failed", command.name)
                self._handler_failed(exc)
                exc = KunciError("internal error in the door daemon (see its log)")
            command.reply.put((False, exc))
            return
        self._end_transaction()
        command.reply.put((True, result))

    def _end_transaction(self, rollback: bool = False) -> None:
        """End the session's transaction so the next read sees other processes' commits (no stale cache)."""
        if self.journal is None:
            return
        if rollback:
            self.journal.rollback()
            return
        try:
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
        return {"tamper_hold": self.tamper_hold, "clock_trusted": self._clock_trusted}

    def _outcome(self, outcome: Outcome) -> None:
        t = self.clock()
        if outcome.grant is not None:
            self._apply(self.door.grant(t, outcome.grant.seconds))
            self.hw.indicators.granted()
        elif outcome.feedback == "wait":
            self.hw.indicators.wait()
        elif outcome.feedback == "second_factor":
            self.hw.indicators.key_ack()
        elif outcome.feedback == "denied":
            self.hw.indicators.denied()

    def _tick(self) -> None:
        t = self.clock()
        now = self.wall()
        self._apply(self.door.tick(t))
        if self.pin_entry.poll(t) is not None:
            self.hw.indicators.denied()
        self.access.poll(now, t)
        jump = self._jumps.check(now, t)
        if jump is not None:
            expected, actual = jump
            self.journal.write("clock.jumped", time=now,
                               detail={"expected": iso_utc(expected), "actual": iso_utc(actual)})
        if t >= self._next_clock_check:
            self._next_clock_check = t + CLOCK_CHECK_SECONDS
            trusted = clock_trusted(self._trust_policy)
            if trusted != self._clock_trusted:
                self._clock_trusted = trusted
                self.journal.write("clock.trust_changed", time=now, detail={"trusted": trusted})
        if t >= self._next_seal:
            self._next_seal = t + SEAL_INTERVAL_SECONDS
            self._sync_lockdown(t)
            if self.journal.buffered:
                self.journal.flush()
            self._watch_foreign_rows()
            self._watch_log()
        self._end_transaction()

    def _watch_foreign_rows(self) -> None:
        """Rows in ``events`` that the daemon did not write are never sealed: they raise an alarm (once),
        and ``kunci audit verify`` names them. Only the daemon writes the door database (issue 10)."""
        found = self.journal.unsealed_rows()
        if found and self.journal.raise_alarm("foreign_events", f"{found} rows in the event log were not "
                                              "written by the door daemon; run 'kunci audit verify'"):
            log.error("%d rows in the event log were not written by the door daemon (never sealed)", found)

    def _watch_log(self) -> None:
        """T5.4: while the log refuses writes, the local alarm sounds (re-asserted after other feedback);
        once writes work again the outage is recorded as a ``log_unavailable`` alarm (raised and cleared)."""
        journal = self.journal
        if not journal.available:
            if not self._log_down:
                self._log_down = True
                log.error("event log unavailable: local alarm on, events kept in RAM (%d)", journal.buffered)
                journal.raise_alarm("log_unavailable", "the event log refused writes")  # may fail too
            if self.hw.indicators.pattern != "alarm":
                self.hw.indicators.alarm(True)
        elif self._log_down:
            self._log_down = False
            log.warning("event log available again; buffered events stored")
            journal.raise_alarm("log_unavailable", "the event log refused writes")  # no-op if it got in
            journal.clear_alarm("log_unavailable")
            door_alarm = self.door.state in (DoorState.HELD_OPEN, DoorState.FORCED_OPEN) or self.door.tamper_active
            if self.hw.indicators.pattern == "alarm" and not door_alarm:
                self.hw.indicators.alarm(False)

    def _sync_lockdown(self, t: float) -> None:
        """Follow the door row's ``lockdown`` flag (set by an admin in another process): while it is on
        the door state machine energises the strike for nothing, and entering it cancels any unlock."""
        wanted = self.access.refresh_door().lockdown
        if wanted != self.door.lockdown_active:
            log.warning("door lockdown %s", "on: every unlock refused" if wanted else "off")
            self._apply(self.door.lockdown(wanted, t))

    # -- effects on the relay, log and alarms ------------------------------------------------

    def _apply(self, effects: list) -> None:
        now = self.wall()
        for effect in effects:
            if isinstance(effect, RelayOn):
                self._relay_on()
            elif isinstance(effect, RelayOff):
                self._relay_off(str(effect.reason))
            elif isinstance(effect, DoorEvent):
                detail = {"phase": str(effect.detail)} if effect.detail else None
                self.journal.write(str(effect.type), time=now, detail=detail)
                if str(effect.type) == "door.held" and str(effect.detail) == "prealarm":
                    self.hw.indicators.prealarm()
            elif isinstance(effect, AlarmRaised):
                self.journal.raise_alarm(str(effect.kind))
                self.hw.indicators.alarm(True)
            elif isinstance(effect, AlarmCleared):
                self.journal.clear_alarm(str(effect.kind))
                self.hw.indicators.alarm(False)

    def _relay_on(self) -> None:
        self.hw.relay.unlock()
        if self._cap_timer is None:
            # Independent of the loop: drops the relay at the cap even if the loop were stuck.
            self._cap_timer = threading.Timer(self.config.door.max_unlock_seconds + 0.25, self._cap_expired)
            self._cap_timer.daemon = True
            self._cap_timer.start()

    def _cap_expired(self) -> None:
        if self.hw is not None and self.hw.relay.is_unlocked:
            log.error("unlock cap reached outside the loop; relay forced off")
            self.hw.relay.lock()
        self._cap_timer = None

    def _relay_off(self, why: str) -> None:
        if self._cap_timer is not None:
            self._cap_timer.cancel()
            self._cap_timer = None
        if self.hw is not None:
            try:
                self.hw.relay.lock()
            except Exception:  # noqa: BLE001 - nothing else to try; logged
                log.exception("relay.lock failed (%s)", why)

    # -- status --------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The ``status`` command's result (see docs/internals.md); loop thread only."""
        t = self.clock()
        now = self.wall()
        lockout = self.access.keypad_lockout
        info: dict[str, Any] = {"state": self.sensor_state}
        info.update(self.commands.sensor_summary())
        return {
            "door": str(self.door.state),
            "relay": bool(self.hw.relay.is_unlocked),
            "door_open": bool(self.door.door_open),
            "sensor": info,
            "lockout": {
                "active": lockout.is_locked(now, t),
                "until": iso_utc(lockout.locked_until_utc) if lockout.locked_until_utc else None,
                "failures": lockout.failures,
                "suspended": lockout.suspended,
            },
            "alarms": [
                {"id": a.id, "kind": a.kind, "raised_at": a.raised_at, "cleared": a.cleared_at is not None,
                 "acknowledged": a.acknowledged_at is not None}
                for a in self.journal.active_alarms()
            ],
            "simulated": self.config.simulated,
            "indicators": dict(self.hw.indicators.state),
            "clock_trusted": self._clock_trusted,
            "pending_events": audit.pending_count(self.journal.session),
            "log_available": self.journal.available,
            "buffered_events": self.journal.buffered,
            "anchor_error": self._anchor.error if self._anchor is not None else None,
            "door_name": self.config.door.name,
            "entry_blocked": "tamper" if self.tamper_hold else None,
        }
