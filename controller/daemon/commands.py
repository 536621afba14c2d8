"""The daemon's control-socket commands (docs/internals.md "Control socket").

:meth:`CommandHandlers.handle` runs on a connection thread. Quick commands are passed to the
loop thread (:meth:`Daemon.submit`), which owns the session and the relay. Slow commands do
their waiting on the connection thread: fingerprint enrolment talks to the sensor (whose driver
serialises calls on its own thread) while the loop keeps serving the keypad and the door; only
its database steps (pending row, activation, abort) go through the loop. ``sim.*`` commands
exist only with simulated hardware.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from controller.control import actors

from controller.store import admin_ops, models
from controller.control.server import Peer
from controller.store.people import validate_code
from controller.daemon.access import LOG_UNAVAILABLE
from controller.errors import InvalidInput, KunciError, NotFound, PolicyRefused
from controller.timefmt import iso_utc

if TYPE_CHECKING:
    from controller.daemon.loop import Daemon

log = logging.getLogger(__name__)

ACTOR_RE = re.compile(r"^(cli:)?[A-Za-z0-9_.-]{1,64}$")
KEYS_RE = re.compile(r"^[0-9*#A-D]{1,64}$")
LABEL_RE = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")

#: Seconds a person has for each enrolment step (place, lift, place again).
ENROLL_STEP_TIMEOUT_SECONDS = 30.0

STEP_MESSAGES = {
    "place_finger": "Place the finger on the sensor",
    "lift_finger": "Lift the finger",
    "place_again": "Place the same finger again",
    "storing": "Storing the fingerprint",
}


def _code(params: dict[str, Any]) -> str:
    return validate_code(str(params.get("user", "")))


def _actor(params: dict[str, Any]) -> str:
    actor = str(params.get("actor") or "cli")
    if not ACTOR_RE.match(actor):
        raise InvalidInput("invalid actor name")
    return actor


class CommandHandlers:
    """Command implementations bound to one :class:`~controller.daemon.loop.Daemon`."""

    def __init__(self, daemon: Daemon) -> None:
        self.d = daemon
        self._capacity: int | None = None
        self._templates: int | None = None

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
            return self.d.submit("admin", params)
        if cmd.startswith("sim."):
            return self._sim(cmd, params)
        if cmd == "finger.enroll":
            return self._enroll(params, progress)
        if cmd == "finger.delete":
            return self._delete_fingers(params)
        if cmd in PUBLIC_LOOP_COMMANDS:
            return self.d.submit(cmd, params)
        raise InvalidInput(f"unknown command {cmd[:40]!r}")

    def run_on_loop(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        """Run a loop-thread command (called by the daemon loop)."""
        return getattr(self, LOOP_COMMANDS[name])(params)

    # -- loop-thread commands --------------------------------------------------------------------

    def _status(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.d.status()

    def _user(self, code: str) -> models.User:
        user = self.d.journal.session.scalar(select(models.User).where(models.User.code == code))
        if user is None:
            raise NotFound(f"no person with code {code}")
        return user

    def _pin_issue(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._admin({"op": "user.reset_pin", "params": {"user": _code(params)}, "actor": _actor(params)})

    def _staff_check(self, params: dict[str, Any]) -> dict[str, Any]:
        """A staff login may change the door's data only while its account is active and has the admin
        role (auditors read); the web checks the same, this holds even if the web does not."""
        from controller.store.staff import get_account_or_none

        actor = _actor(params)
        account = get_account_or_none(self.d.journal.session, actor)
        if account is None or not account.active:
            raise PolicyRefused(f"the staff login {actor} is not an active account")
        op = params.get("op")
        if account.role != "admin" and not (params.get("cmd") == "admin" and op == "event.record"):
            raise PolicyRefused(f"{actor} is an auditor: auditors read the log, they change nothing")
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
            raise StoreError(f"the change could not be stored, so it was not made: {str(exc).splitlines()[0]}") \
                from exc
        self.d.access.refresh_site(wall)  # the one writer refreshes its cached site facts after its own change
        return result

    def _unlock(self, params: dict[str, Any]) -> dict[str, Any]:
        actor = _actor(params)
        door = self.d.access.refresh_site(self.d.wall())
        if door.lockdown:
            self.d.journal.write("access.denied", reason="lockdown", method="remote", actor=actor)
            raise KunciError("the door is in lockdown; remote unlock refused")
        if not self.d.journal.write("access.granted", method="remote", actor=actor) and \
                self.d.config.site.no_log_no_entry:
            self.d.journal.retract("access.granted")  # kept in RAM, it must say refused, not granted
            self.d.journal.write("access.denied", reason=LOG_UNAVAILABLE, method="remote", actor=actor)
            raise KunciError("the event log is unavailable; remote unlock refused (no log, no entry)")
        self.d._apply(self.d.door.remote_unlock(self.d.clock(), self.d.config.door.unlock_seconds))
        self.d.hw.indicators.granted()
        return {"unlocked_seconds": self.d.config.door.unlock_seconds}

    def _alarm_ack(self, params: dict[str, Any]) -> dict[str, Any]:
        actor = _actor(params)
        try:
            alarm_id = int(params.get("id"))
        except (TypeError, ValueError) as exc:
            raise InvalidInput("alarm id must be a number") from exc
        if not 1 <= alarm_id <= models.MAX_ROW_ID:  # SQLite cannot even look a larger one up (OverflowError)
            raise InvalidInput(f"alarm id must be a whole number from 1 to {models.MAX_ROW_ID}")
        alarm = self.d.journal.session.get(models.Alarm, alarm_id)
        if alarm is None:
            raise NotFound(f"no alarm #{alarm_id}")
        if alarm.kind == "tamper" and not self.d.release_tamper_hold():
            raise KunciError("the enclosure is still open: shut it, check the reader, then acknowledge")
        alarm = self.d.journal.acknowledge(alarm_id, actor)
        self.d.journal.write("admin.alarm_acknowledged", actor=actor, detail={"alarm": alarm_id, "kind": alarm.kind})
        if alarm.kind in ("keypad_suspended", "finger_suspended"):
            self.d.access.clear_lockout(alarm.kind.split("_")[0], self.d.wall())
        return {"id": alarm_id, "acknowledged_at": alarm.acknowledged_at}

    def _reload(self, params: dict[str, Any]) -> dict[str, Any]:
        removed = self.reconcile_fingers()
        return {"orphans_removed": removed}

    def _finger_begin(self, params: dict[str, Any]) -> dict[str, Any]:
        code = _code(params)
        user = self._user(code)
        if user.status == "revoked":
            raise InvalidInput(f"{code} is revoked; enrol refused")
        session = self.d.journal.session
        used_db = set(session.scalars(select(models.FingerCredential.slot)))
        used_sensor = self.d.hw.sensor.slots()
        capacity = self.d.hw.sensor.capacity
        free = next((s for s in range(capacity) if s not in used_db and s not in used_sensor), None)
        if free is None:
            raise KunciError("the sensor's template library is full")
        session.add(models.FingerCredential(user_id=user.id, slot=free, state="pending"))
        session.commit()
        return {"slot": free}

    def _finger_commit(self, params: dict[str, Any]) -> dict[str, Any]:
        code, actor, slot = _code(params), _actor(params), int(params["slot"])
        cred = self.d.journal.session.scalar(select(models.FingerCredential).where(models.FingerCredential.slot == slot))
        if cred is None:
            raise KunciError("the enrolment record disappeared; enrol again")
        cred.state = "active"
        self.d.journal.write("admin.finger_enrolled", user=code, actor=actor, detail={"slot": slot})
        self._templates = None
        return {"slot": slot}

    def _finger_abort(self, params: dict[str, Any]) -> dict[str, Any]:
        slot = int(params["slot"])
        session = self.d.journal.session
        cred = session.scalar(select(models.FingerCredential).where(models.FingerCredential.slot == slot,
                                                                    models.FingerCredential.state == "pending"))
        if cred is not None:
            session.delete(cred)
            session.commit()
        return {}

    def _finger_forget(self, params: dict[str, Any]) -> dict[str, Any]:
        code, actor = _code(params), _actor(params)
        user = self._user(code)
        slots = [f.slot for f in user.fingers]
        for cred in list(user.fingers):
            self.d.journal.session.delete(cred)
        self.d.journal.write("admin.finger_deleted", user=code, actor=actor, detail={"slots": slots})
        self._templates = None
        return {"slots": slots}

    # -- connection-thread commands -------------------------------------------------------------

    def _enroll(self, params: dict[str, Any], progress) -> dict[str, Any]:
        from drivers.errors import DuplicateFinger, EnrollMismatch, EnrollTimeout, PoorImage, SensorError

        code, actor = _code(params), _actor(params)
        sensor = self.d.hw.sensor
        if sensor is None or self.d.sensor_state != "ok":
            raise KunciError(f"the fingerprint sensor is {self.d.sensor_state}; enrol later")
        slot = self.d.submit("finger.begin", {"user": code})["slot"]
        try:
            with self.d.hw.watcher.paused():
                sensor.enroll(lambda step: progress(step, STEP_MESSAGES.get(step, step)),
                              timeout_seconds=ENROLL_STEP_TIMEOUT_SECONDS, slot=slot)
        except BaseException as exc:
            self.d.submit("finger.abort", {"slot": slot})
            messages = {
                DuplicateFinger: "this finger is already enrolled",
                EnrollMismatch: "the two touches did not match; try again with the same finger",
                EnrollTimeout: "no finger was placed in time",
                PoorImage: "the image was unusable; clean the sensor and try again",
            }
            for kind, message in messages.items():
                if isinstance(exc, kind):
                    raise KunciError(message) from exc
            if isinstance(exc, SensorError):
                raise KunciError(f"sensor error: {exc}") from exc
            raise
        try:
            return self.d.submit("finger.commit", {"user": code, "actor": actor, "slot": slot})
        except BaseException:
            self._delete_slot(slot)
            raise

    def _delete_fingers(self, params: dict[str, Any]) -> dict[str, Any]:
        code = _code(params)
        result = self.d.submit("finger.forget", {"user": code, "actor": _actor(params)})
        pending = [s for s in result["slots"] if not self._delete_slot(s)]
        answer = {"deleted": len(result["slots"])}
        if pending:
            answer["sensor_cleanup_pending"] = pending  # removed at the next reconciliation
        return answer

    def _delete_slot(self, slot: int) -> bool:
        from drivers.errors import SensorError

        if self.d.hw.sensor is None:
            return False
        try:
            with self.d.hw.watcher.paused():
                self.d.hw.sensor.delete(slot)
            return True
        except SensorError as exc:
            log.warning("could not delete sensor slot %d: %s", slot, exc)
            return False

    def _sim(self, cmd: str, params: dict[str, Any]) -> dict[str, Any]:
        sim = self.d.hw.sim if self.d.hw is not None else None
        if sim is None:
            raise InvalidInput("simulation commands exist only when the hardware is simulated")
        if cmd == "sim.press":
            keys = str(params.get("keys", "")).upper()
            if not KEYS_RE.match(keys):
                raise InvalidInput("keys must be 1-64 of 0-9 * # A B C D")
            sim.type_keys(keys)
            return {}
        if cmd == "sim.finger":
            label = str(params.get("label", ""))
            if not LABEL_RE.match(label):
                raise InvalidInput("a finger label is 1-32 letters, digits, '.', '_' or '-'")
            hold = float(params.get("hold_seconds", 1.0))
            if not 0.1 <= hold <= 30:
                raise InvalidInput("hold_seconds must be between 0.1 and 30")
            sim.touch(label, hold)
            return {}
        if cmd == "sim.lift":
            sim.lift()
            return {}
        if cmd == "sim.door":
            sim.panel.door(open=bool(params.get("open")))
            return {}
        if cmd == "sim.exit":
            sim.panel.exit_press()
            return {}
        if cmd == "sim.tamper":
            sim.panel.tamper(active=bool(params.get("active")))
            return {}
        raise InvalidInput(f"unknown simulation command {cmd[:40]!r}")

    # -- sensor housekeeping (loop thread at start-up and on restore) ------------------------------

    def connect_sensor(self) -> None:
        """Open the sensor at start-up; a failure is logged as ``sensor.lost`` and the watcher retries."""
        from drivers.errors import SensorError

        try:
            self.d.hw.sensor.open()
        except SensorError as exc:
            self.d.sensor_state = "lost"
            self.d.journal.write("sensor.lost", detail={"error": str(exc)[:120]})
            self.d.journal.raise_alarm("sensor_lost", str(exc)[:200])
            return
        self.d.sensor_state = "ok"
        self.reconcile_fingers()

    def reconcile_fingers(self) -> int:
        """Make the database and the sensor agree (two-phase enrolment, DESIGN §5).

        Pending rows (enrolment interrupted) are removed together with any template stored in their
        slot; templates with no active row (orphans, revoked people) are deleted from the sensor;
        active rows whose template vanished raise an alarm. Returns how many templates were removed.
        """
        from drivers.errors import SensorError

        sensor = self.d.hw.sensor
        if sensor is None or self.d.sensor_state != "ok":
            return 0
        session = self.d.journal.session
        try:
            on_sensor = sensor.slots()
            self._capacity = sensor.capacity
        except SensorError as exc:
            log.warning("reconciliation skipped: %s", exc)
            return 0
        rows = list(session.scalars(select(models.FingerCredential)))
        keep = {r.slot for r in rows if r.state == "active" and r.user.status != "revoked"}
        for row in rows:
            if row.state == "pending":
                session.delete(row)
        session.commit()
        removed = 0
        for slot in sorted(on_sensor - keep):
            try:
                sensor.delete(slot)
                removed += 1
            except SensorError as exc:
                log.warning("could not delete orphan template in slot %d: %s", slot, exc)
        missing = sorted(keep - on_sensor)
        if missing:
            self.d.journal.raise_alarm("templates_missing", f"{len(missing)} enrolled fingers are not on the sensor")
        if removed:
            self.d.journal.write("sensor.reconciled", detail={"removed": removed, "missing": len(missing)})
        self._templates = len(on_sensor) - removed
        return removed

    def sensor_summary(self) -> dict[str, Any]:
        """Capacity and templates for ``status`` (cached; refreshed by reconciliation)."""
        if self._capacity is None:
            return {}
        if self._templates is None:
            self._templates = self.d.journal.session.scalar(
                select(func.count()).select_from(models.FingerCredential))
        return {"capacity": self._capacity, "templates": self._templates or 0, "checked_at": iso_utc(self.d.wall())}


LOOP_COMMANDS = {
    "status": "_status",
    "admin": "_admin",
    "staff.check": "_staff_check",
    "pin.issue": "_pin_issue",
    "unlock": "_unlock",
    "alarm.ack": "_alarm_ack",
    "reload": "_reload",
    "finger.begin": "_finger_begin",
    "finger.commit": "_finger_commit",
    "finger.abort": "_finger_abort",
    "finger.forget": "_finger_forget",
}

#: Commands a socket client may send; the finger.* steps above are internal to enrolment.
PUBLIC_LOOP_COMMANDS = frozenset({"status", "pin.issue", "unlock", "alarm.ack", "reload"})

#: Commands a staff login may send only with an active admin account (``event.record`` excepted).
STAFF_ADMIN_COMMANDS = frozenset({"admin", "pin.issue", "unlock", "finger.enroll", "finger.delete"})
