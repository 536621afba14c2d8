"""The daemon's control-socket commands (docs/internals.md "Control socket").

:meth:`CommandHandlers.handle` runs on a connection thread. Quick commands are passed to the
loop thread (:meth:`Daemon.submit`), which owns the session and the relay. The fingerprint
commands live in :mod:`controller.daemon.fingers`: the sensor is driven by the
:class:`~controller.daemon.sensor_service.SensorService`, never by the loop, so the keypad never
waits for it; only their database steps go through the loop. ``sim.*`` commands exist only with
simulated hardware.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from controller.control import actors
from controller.control.server import Peer
from controller.core.policy import Reason
from controller.core.vocabulary import SUSPENDED_ALARM, AlarmKind, EventType, LockoutChannel
from controller.daemon.fingers import Fingers
from controller.daemon.params import actor as _actor
from controller.daemon.params import code as _code
from controller.daemon.sensor_service import SensorResult
from controller.errors import InvalidInput, KunciError, NotFound, PolicyRefused
from controller.site.link import LOOP_COMMANDS as SITE_LOOP_COMMANDS
from controller.site.link import LoopSide as SiteLoopSide
from controller.i18n import T, Text
from controller.store import admin_ops, models
from controller.store.validation import REASON_MAX_LENGTH, validate_reason
from controller.store.validation import _check_text as check_text  # the store's rule for one line of free text
from drivers.keys import KEYS_TEXT, MAX_TYPED_KEYS, is_key_sequence

if TYPE_CHECKING:
    from controller.daemon.loop import Daemon

log = logging.getLogger(__name__)

LABEL_RE = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
#: Seconds a control request waits for a bulk import of people on the loop (other changes: the loop's default).
IMPORT_WAIT_SECONDS = 120.0
#: The refusal of ``lockout.clear`` for a channel that is not locked out.
NOT_LOCKED_OUT = {LockoutChannel.KEYPAD: T("the keypad is not locked out; nothing was changed"),
                  LockoutChannel.FINGER: T("the finger is not locked out; nothing was changed")}


def _not_read(line: str) -> Text:
    """The refusal when the input driver did not read a simulated ``line`` (door, exit, tamper) in time."""
    seconds = f"{SIM_READ_SECONDS:.0f}"
    if line == "door":
        return T("the simulated door contact was not read within {seconds} s", seconds=seconds)
    if line == "exit":
        return T("the simulated exit button was not read within {seconds} s", seconds=seconds)
    return T("the simulated tamper switch was not read within {seconds} s", seconds=seconds)


class CommandHandlers:
    """Command implementations bound to one :class:`~controller.daemon.loop.Daemon`."""

    def __init__(self, daemon: Daemon) -> None:
        self.d = daemon
        for unit in daemon.units:
            unit.fingers = Fingers(daemon, unit)
        #: The first door's fingers (each door's: ``daemon.units[i].fingers``).
        self.fingers = daemon.units[0].fingers

    # -- entry points --------------------------------------------------------------------------

    def handle(self, request: dict[str, Any], progress, peer: Peer | None = None) -> dict[str, Any]:
        """Control-socket handler (connection thread).

        ``peer`` is the connecting account (``SO_PEERCRED``); the actor every command records is
        resolved from it (:func:`controller.control.actors.resolve`), never taken from the request alone.
        """
        cmd = request["cmd"]
        params = {k: v for k, v in request.items() if k not in ("cmd", "web_session", "staff")}
        params["staff"] = False
        if peer is not None:
            params["actor"] = actors.resolve(peer, request, self.d.datadir, self.d.wall())
            # A staff login acting inside a verified web session: its account and role are checked too.
            params["staff"] = request.get("web_session") is not None and not params["actor"].startswith("cli:")
        if cmd in STAFF_ADMIN_COMMANDS and params["staff"]:
            self.d.submit("staff.check", {**params, "cmd": cmd})
        if cmd == "admin":
            # A bulk import (controller.store.people_import) may run longer than one change: wait for it.
            long = params.get("op") == "user.import"
            return self.d.submit("admin", params, **({"timeout": IMPORT_WAIT_SECONDS} if long else {}))
        if cmd.startswith("sim."):
            return self._sim(cmd, params)
        if cmd == "finger.enroll":
            return self.d.unit(params).fingers.enroll(params, progress)
        if cmd == "finger.delete":
            return self._each_door(params, lambda fingers: fingers.delete(params), "deleted")
        if cmd == "reload":
            return self._each_door(params, lambda fingers: fingers.reload(params), "orphans_removed")
        if cmd in PUBLIC_LOOP_COMMANDS:
            return self.d.submit(cmd, params)
        raise InvalidInput(T("unknown command {cmd}", cmd=repr(cmd[:40])))

    def _each_door(self, params: dict[str, Any], run: Callable[[Fingers], dict[str, Any]],
                   count: str) -> dict[str, Any]:
        """``run`` on the named door's fingers, or on every door's when the request names none (their counts
        added up; other keys of the answers merged)."""
        if params.get("door"):
            return run(self.d.unit(params).fingers)
        answer: dict[str, Any] = {count: 0}
        for unit in self.d.units:
            one = run(unit.fingers)
            answer = {**answer, **one, count: answer[count] + one.get(count, 0)}
        return answer

    def run_on_loop(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        """Run a loop-thread command (called by the daemon loop)."""
        if name in FINGER_LOOP_COMMANDS:
            return getattr(self.d.unit(params).fingers, FINGER_LOOP_COMMANDS[name])(params)
        if name in SITE_LOOP_COMMANDS:  # the site link's internal commands (controller/site/link_loop.py)
            return SiteLoopSide(self.d).run(name, params)
        return getattr(self, LOOP_COMMANDS[name])(params)

    # -- loop-thread commands --------------------------------------------------------------------

    def _status(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.d.status()

    def _pin_issue(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._admin({"op": "user.reset_pin", "params": {"user": _code(params)}, "actor": _actor(params)})

    def _staff_check(self, params: dict[str, Any]) -> dict[str, Any]:
        """A staff login may change the door's data only while its account is active and has the admin
        role (auditors read); the web checks the same, this holds even if the web does not."""
        from controller.store.staff import get_account_or_none

        actor = _actor(params)
        account = get_account_or_none(self.d.journal.session, actor)
        if account is None or not account.active:
            raise PolicyRefused(T("the staff login {actor} is not an active account", actor=actor))
        op = params.get("op")
        if account.role != "admin" and not (params.get("cmd") == "admin" and op == "event.record"):
            raise PolicyRefused(T("{actor} is an auditor: auditors read the log, they change nothing", actor=actor))
        return {}

    def _admin(self, params: dict[str, Any]) -> dict[str, Any]:
        """One admin change (:mod:`controller.store.admin_ops`) and its sealed event, in one transaction."""
        from sqlalchemy.exc import SQLAlchemyError

        from controller.errors import StoreError

        wall = self.d.wall()
        ctx = admin_ops.OpContext(actor=_actor(params), config=self.d.config, pepper=self.d.access._pepper,
                                  today=wall.astimezone(self.d.access.tz).date(), now=wall)
        result = admin_ops.run(self.d.journal.session, params.get("op"), params.get("params"), ctx)
        try:
            self.d.journal.commit_change()
        except (SQLAlchemyError, OSError) as exc:
            raise StoreError(T("the change could not be stored, so it was not made: {reason}",
                               reason=str(exc).splitlines()[0])) from exc
        for unit in self.d.units:  # the one writer refreshes its cached site facts after its own change
            unit.access.refresh_site(wall)
        self.d.follow_lockdown()  # a lockdown started here relocks the strike before the answer goes back
        return result

    def _unlock(self, params: dict[str, Any]) -> dict[str, Any]:
        unit = self.d.unit(params)  # the named door, else the first
        decision = unit.access.remote(_actor(params), self.d.wall())  # decided by policy.decide, logged
        if decision.reason == Reason.LOCKDOWN:
            raise KunciError(T("the door is in lockdown; remote unlock refused"))
        if not decision.granted:
            raise KunciError(T("the event log is unavailable; remote unlock refused (no log, no entry)"))
        seconds = unit.config.door.unlock_seconds
        self.d._apply(unit.door.remote_unlock(self.d.clock(), seconds), unit)
        unit.hw.indicators.granted()
        return {"unlocked_seconds": seconds, **({"door": unit.name} if len(self.d.units) > 1 else {})}

    def _alert_test(self, params: dict[str, Any]) -> dict[str, Any]:
        """Send a test alarm to every running destination (sealed as ``alert.test_sent``, delivered like an alarm)."""
        return self.d.alerts.test(_actor(params))

    def _alarm_ack(self, params: dict[str, Any]) -> dict[str, Any]:
        actor = _actor(params)
        try:
            alarm_id = int(params.get("id"))
        except (TypeError, ValueError) as exc:
            raise InvalidInput(T("alarm id must be a number")) from exc
        if not 1 <= alarm_id <= models.MAX_ROW_ID:  # SQLite cannot even look a larger one up (OverflowError)
            raise InvalidInput(T("alarm id must be a whole number from 1 to {largest}", largest=models.MAX_ROW_ID))
        note = params.get("note")
        if note is not None:  # optional, sealed in the event's detail: checked before anything changes
            note = check_text(note, what="note", max_length=REASON_MAX_LENGTH) or None
        alarm = self.d.journal.session.get(models.Alarm, alarm_id)
        if alarm is None:
            raise NotFound(T("no alarm #{id}", id=alarm_id))
        if alarm.kind == AlarmKind.TAMPER and not self.d.release_tamper_hold():
            raise KunciError(T("the enclosure is still open: shut it, check the reader, then acknowledge"))
        alarm = self.d.journal.acknowledge(alarm_id, actor)
        self.d.journal.write(EventType.ADMIN_ALARM_ACKNOWLEDGED, actor=actor,
                             detail={"alarm": alarm_id, "kind": alarm.kind, **({"note": note} if note else {})})
        for channel, kind in SUSPENDED_ALARM.items():
            if alarm.kind == kind:
                self.d.access.clear_lockout(channel, self.d.wall())
        return {"id": alarm_id, "acknowledged_at": alarm.acknowledged_at}

    def _lockout_clear(self, params: dict[str, Any]) -> dict[str, Any]:
        """An admin ends a keypad or finger lockout (or suspension) early, with a reason: one sealed
        ``lockout.ended`` event names who and why; refused when that channel is not locked out."""
        actor = _actor(params)
        try:
            channel = LockoutChannel(str(params.get("channel") or ""))
        except ValueError as exc:
            raise InvalidInput(T("the lockout channel must be one of: {channels}",
                                  channels=", ".join(LockoutChannel))) from exc
        reason = validate_reason(params.get("reason"))
        lockout = self.d.access.keypad_lockout if channel == LockoutChannel.KEYPAD else self.d.access.finger_lockout
        now = self.d.wall()
        if not lockout.is_locked(now, self.d.clock()):
            raise KunciError(NOT_LOCKED_OUT[channel])
        self.d.access.clear_lockout(channel.value, now, actor=actor, reason=reason)
        return {"channel": channel.value, "cleared": True}

    def _sim(self, cmd: str, params: dict[str, Any]) -> dict[str, Any]:
        unit = self.d.unit(params)  # the named door, else the first
        sim = unit.hw.sim if unit.hw is not None else None
        if sim is None:
            raise InvalidInput(T("simulation commands exist only when the hardware is simulated"))
        if cmd == "sim.press":
            keys = str(params.get("keys", "")).upper()
            if not is_key_sequence(keys):
                raise InvalidInput(T("keys must be 1-{most} of {keys}", most=MAX_TYPED_KEYS, keys=KEYS_TEXT))
            if sim.keypad is None:
                raise InvalidInput(T("door {door} has no keypad", door=unit.name))
            sim.type_keys(keys)
            return {}
        if cmd == "sim.finger":
            label = str(params.get("label", ""))
            if not LABEL_RE.match(label):
                raise InvalidInput(T("a finger label is 1-32 letters, digits, '.', '_' or '-'"))
            hold = float(params.get("hold_seconds", 1.0))
            if not 0.1 <= hold <= 30:
                raise InvalidInput(T("hold_seconds must be between 0.1 and 30"))
            if sim.sensor is None:
                raise InvalidInput(T("door {door} has no fingerprint sensor", door=unit.name))
            sim.touch(label, hold)
            return {}
        if cmd == "sim.lift":
            sim.lift()
            return {}
        if cmd == "sim.door":
            opened = bool(params.get("open"))
            sim.panel.door(open=opened)
            self._until_read(unit, "door", lambda inputs: inputs.door_open == opened)
            return {}
        if cmd == "sim.exit":
            times, hold_ms = int(params.get("times", 1)), float(params.get("hold_ms", 300))
            if not (1 <= times <= 1000 and 20 <= hold_ms <= 5000):
                raise InvalidInput(T("times must be 1-1000 and hold_ms 20-5000"))
            for _ in range(times):  # each press held and released until the input driver has read it
                sim.panel.exit_button(pressed=True)
                time.sleep(hold_ms / 1000.0)
                self._until_read(unit, "exit", lambda inputs: inputs.exit_pressed)
                sim.panel.exit_button(pressed=False)
                time.sleep(hold_ms / 1000.0)
                self._until_read(unit, "exit", lambda inputs: not inputs.exit_pressed)
            return {}
        if cmd == "sim.tamper":
            active = bool(params.get("active"))
            sim.panel.tamper(active=active)
            self._until_read(unit, "tamper", lambda inputs: inputs.tamper_active == active)
            return {}
        raise InvalidInput(T("unknown simulation command {cmd}", cmd=repr(cmd[:40])))

    def _until_read(self, unit: Any, line: str, done: Callable[[Any], bool]) -> None:
        """Wait until the input driver's debounced level of ``line`` (door, exit, tamper) shows a simulated
        change (``done(inputs)``), as ``sim press`` waits for the keypad scanner: a short pulse is never lost
        to a starved poller. Nothing to wait for when the input is not fitted."""
        inputs = unit.hw.inputs if unit.hw is not None else None
        if inputs is None or line not in inputs.fitted:
            return
        deadline = time.monotonic() + SIM_READ_SECONDS
        while not done(inputs):
            if time.monotonic() > deadline:
                raise KunciError(_not_read(line))
            time.sleep(0.005)

    # -- the fingerprint sensor (loop thread; see controller.daemon.fingers) ------------------------

    def connect_sensor(self) -> None:
        """At start-up: ask the first door's sensor service to connect; the answer arrives as an event."""
        self.fingers.connect()

    def reconcile_fingers(self) -> None:
        """After the first door's sensor is restored: ask for its slots; reconciliation continues on the answer."""
        self.fingers.reconcile()

    def sensor_result(self, item: SensorResult) -> None:
        """A sensor job's answer from the daemon's queue (the first door's)."""
        self.fingers.on_result(item)

    def sensor_summary(self) -> dict[str, Any]:
        """Capacity and templates of the first door's sensor for ``status``."""
        return self.fingers.summary()


#: How long a simulated door, exit or tamper change may take to reach the input driver's debounced level.
SIM_READ_SECONDS = 30.0

LOOP_COMMANDS = {
    "status": "_status",
    "admin": "_admin",
    "staff.check": "_staff_check",
    "pin.issue": "_pin_issue",
    "unlock": "_unlock",
    "alarm.ack": "_alarm_ack",
    "lockout.clear": "_lockout_clear",
    "alert.test": "_alert_test",
}

#: Database steps of the fingerprint commands (internal: sent by connection threads, never by clients).
FINGER_LOOP_COMMANDS = {
    "finger.begin": "begin",
    "finger.commit": "commit",
    "finger.abort": "abort",
    "finger.forget": "forget",
    "finger.reconcile": "plan",
    "finger.reconciled": "reconciled",
}

#: Commands a socket client may send; the finger.* steps above are internal to enrolment.
PUBLIC_LOOP_COMMANDS = frozenset({"status", "pin.issue", "unlock", "alarm.ack", "lockout.clear", "alert.test"})

#: Commands a staff login may send only with an active admin account (``event.record`` excepted).
STAFF_ADMIN_COMMANDS = frozenset({"admin", "pin.issue", "unlock", "finger.enroll", "finger.delete", "lockout.clear",
                                  "alert.test"})
