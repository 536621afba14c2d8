"""Fingerprint credentials in the daemon: enrolment, deletion and reconciliation, with the sensor off the loop.

Two kinds of methods, by thread (docs/internals.md "The fingerprint sensor"):

* **Loop thread** (through :class:`~controller.daemon.commands.CommandHandlers`): every database step.
  Enrolment is two-phase (DESIGN §5): :meth:`Fingers.begin` adds a ``pending`` row for a free slot,
  :meth:`Fingers.commit` makes it ``active`` and logs ``admin.finger_enrolled``, :meth:`Fingers.abort`
  removes it. Reconciliation's database side is :meth:`Fingers.plan_reconciliation` and
  :meth:`Fingers.finish_reconciliation`. The loop never talks to the sensor: it asks the
  :class:`~controller.daemon.sensor_service.SensorService` (``connect``, ``read_slots``,
  ``delete_slots``) and handles the answers in :meth:`Fingers.on_result`.
* **Connection threads** (``finger.enroll``, ``finger.delete``, ``reload``): they wait for sensor jobs
  with :meth:`SensorService.run` and for database steps with :meth:`Daemon.submit`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from controller.core.enrolment import EnrolStep
from controller.core.vocabulary import AlarmKind, EventType
from controller.daemon import params as p
from controller.daemon.sensor_service import (
    SensorConnected,
    SensorJobFailed,
    SensorResult,
    SlotsDeleted,
    SlotsRead,
    delete_each,
)
from controller.driver_text import describe
from controller.errors import InvalidInput, KunciError, NotFound
from controller.i18n import T
from controller.store import models
from controller.timefmt import iso_utc

if TYPE_CHECKING:
    from controller.daemon.doors import DoorUnit
    from controller.daemon.loop import Daemon
    from controller.daemon.sensor_service import SensorService

log = logging.getLogger(__name__)


def _occupied(sensor: Any) -> tuple[frozenset[int], int]:
    return frozenset(sensor.slots()), sensor.capacity


class Fingers:
    """The fingerprint side of one door (``unit``) of a :class:`~controller.daemon.loop.Daemon`: that door's
    sensor and its rows of ``finger_credentials`` (``door`` = '' for the first door, else the door's name)."""

    def __init__(self, daemon: Daemon, unit: DoorUnit) -> None:
        self.d = daemon
        self.u = unit
        #: This door's key in ``finger_credentials.door``.
        self.key = unit.finger_door
        self._capacity: int | None = None
        self._templates: int | None = None
        #: Slots of enrolments in progress (pending rows that reconciliation must leave alone).
        self._enrolling: set[int] = set()

    @property
    def service(self) -> SensorService | None:
        hw = self.u.hw
        return hw.sensor_service if hw is not None else None

    def _mine(self) -> Any:
        """The WHERE clause of this door's finger rows."""
        return models.FingerCredential.door == self.key

    def _where(self) -> str:
        """How an alarm text names this door ('' for the first door: one door says nothing new)."""
        return "" if self.u.index == 0 else f"door {self.u.name}: "

    # -- loop thread: asking the sensor service ---------------------------------------------------

    def connect(self) -> None:
        """At start-up: ask the service to open the sensor (answer: SensorConnected or SensorLost)."""
        if self.service is not None:
            self.service.connect()

    def reconcile(self) -> None:
        """Ask for the sensor's slots; reconciliation continues when :class:`SlotsRead` arrives."""
        if self.service is not None and self.u.sensor_state == "ok":
            self.service.read_slots()

    def on_result(self, item: SensorResult) -> None:
        """A sensor job's answer, taken from the daemon's queue (loop thread)."""
        if isinstance(item, SensorConnected):
            self.u.sensor_state = "ok"
        if isinstance(item, (SensorConnected, SlotsRead)):
            if self.u.sensor_state != "ok":  # lost again since it was read: the restore reconciles anew
                return
            orphans, missing = self.plan_reconciliation(item.slots, item.capacity)
            if orphans:
                self.service.delete_slots(orphans, missing)
            else:
                self.finish_reconciliation((), missing)
        elif isinstance(item, SlotsDeleted):
            self.finish_reconciliation(item.deleted, item.missing)
        elif isinstance(item, SensorJobFailed):
            log.warning("fingerprint sensor job %s failed: %s", item.job, item.error)

    # -- loop thread: database steps -------------------------------------------------------------

    def plan_reconciliation(self, on_sensor: frozenset[int], capacity: int) -> tuple[list[int], int]:
        """Make the database agree with the sensor's ``on_sensor`` slots (two-phase enrolment, DESIGN §5).

        Pending rows of interrupted enrolments are removed; active rows whose template vanished raise
        a ``templates_missing`` alarm. Returns the templates to delete from the sensor (no active row,
        or a revoked person) and how many are missing. Enrolments in progress are left alone.
        """
        session = self.d.journal.session
        rows = list(session.scalars(select(models.FingerCredential).where(self._mine())))
        keep = {r.slot for r in rows if r.state == "active" and r.user.status != "revoked"}
        for row in rows:
            if row.state == "pending" and row.slot not in self._enrolling:
                session.delete(row)
        session.commit()
        missing = sorted(keep - on_sensor)
        if missing:
            self.d.journal.raise_alarm(AlarmKind.TEMPLATES_MISSING,
                                       f"{self._where()}{len(missing)} enrolled fingers are not on the sensor")
        self._capacity = capacity
        self._templates = len(on_sensor)
        return sorted(on_sensor - keep - self._enrolling), len(missing)

    def finish_reconciliation(self, deleted: tuple[int, ...], missing: int) -> None:
        """Log ``sensor.reconciled`` when templates were removed."""
        if deleted:
            self.u.journal.write(EventType.SENSOR_RECONCILED, detail={"removed": len(deleted), "missing": missing})
            self._templates = None

    def begin(self, params: dict[str, Any]) -> dict[str, Any]:
        """``finger.begin``: a ``pending`` row in a slot free in the database and on the sensor
        (``sensor_slots`` and ``capacity`` were read by the connection thread through the service)."""
        code = p.code(params)
        user = self.user(code)
        if user.status == "revoked":
            raise InvalidInput(T("{code} is revoked; enrol refused", code=code))
        session = self.d.journal.session
        used = (set(session.scalars(select(models.FingerCredential.slot).where(self._mine())))
                | {int(s) for s in params["sensor_slots"]})
        free = next((s for s in range(int(params["capacity"])) if s not in used), None)
        if free is None:
            raise KunciError(T("the sensor's template library is full"))
        session.add(models.FingerCredential(user_id=user.id, slot=free, state="pending", door=self.key))
        session.commit()
        self._enrolling.add(free)
        return {"slot": free}

    def commit(self, params: dict[str, Any]) -> dict[str, Any]:
        """``finger.commit``: the template is stored; the row becomes ``active`` and the change is logged."""
        code, actor, slot = p.code(params), p.actor(params), int(params["slot"])
        self._enrolling.discard(slot)
        cred = self.d.journal.session.scalar(select(models.FingerCredential)
                                             .where(models.FingerCredential.slot == slot, self._mine()))
        if cred is None:
            raise KunciError(T("the enrolment record disappeared; enrol again"))
        cred.state = "active"
        self.u.journal.write(EventType.ADMIN_FINGER_ENROLLED, user=code, actor=actor, detail={"slot": slot})
        self._templates = None
        return {"slot": slot}

    def abort(self, params: dict[str, Any]) -> dict[str, Any]:
        """``finger.abort``: the enrolment failed; its pending row goes."""
        slot = int(params["slot"])
        self._enrolling.discard(slot)
        session = self.d.journal.session
        cred = session.scalar(select(models.FingerCredential).where(models.FingerCredential.slot == slot, self._mine(),
                                                                    models.FingerCredential.state == "pending"))
        if cred is not None:
            session.delete(cred)
            session.commit()
        return {}

    def forget(self, params: dict[str, Any]) -> dict[str, Any]:
        """``finger.forget``: remove the person's finger rows and log it; returns the slots to erase."""
        code, actor = p.code(params), p.actor(params)
        user = self.user(code)
        mine = [f for f in user.fingers if f.door == self.key]
        slots = [f.slot for f in mine]
        for cred in mine:
            self.d.journal.session.delete(cred)
        self.u.journal.write(EventType.ADMIN_FINGER_DELETED, user=code, actor=actor, detail={"slots": slots})
        self._templates = None
        return {"slots": slots}

    def plan(self, params: dict[str, Any]) -> dict[str, Any]:
        """``finger.reconcile`` (for ``reload``): :meth:`plan_reconciliation` of the slots the caller read."""
        orphans, missing = self.plan_reconciliation(frozenset(int(s) for s in params["slots"]),
                                                    int(params["capacity"]))
        return {"orphans": orphans, "missing": missing}

    def reconciled(self, params: dict[str, Any]) -> dict[str, Any]:
        """``finger.reconciled`` (for ``reload``): :meth:`finish_reconciliation`."""
        self.finish_reconciliation(tuple(params["deleted"]), int(params["missing"]))
        return {}

    def user(self, code: str) -> models.User:
        user = self.d.journal.session.scalar(select(models.User).where(models.User.code == code))
        if user is None:
            raise NotFound(T("no person with code {code}", code=code))
        return user

    def summary(self) -> dict[str, Any]:
        """Capacity and templates for ``status`` (cached; refreshed by reconciliation)."""
        if self._capacity is None:
            return {}
        if self._templates is None:
            self._templates = self.d.journal.session.scalar(
                select(func.count()).select_from(models.FingerCredential).where(self._mine()))
        return {"capacity": self._capacity, "templates": self._templates or 0, "checked_at": iso_utc(self.d.wall())}

    # -- connection threads ----------------------------------------------------------------------

    def _ready_service(self) -> SensorService:
        service = self.service
        if service is None or self.u.sensor_state != "ok":
            raise KunciError(T("the fingerprint sensor is {state}; enrol later", state=self.u.sensor_state))
        return service

    def enroll(self, params: dict[str, Any], progress) -> dict[str, Any]:
        """``finger.enroll``: the sensor's steps reported as progress lines (:class:`EnrolStep`)."""
        from drivers.errors import DriverError

        code, actor = p.code(params), p.actor(params)
        service = self._ready_service()
        try:
            used, capacity = service.run(_occupied)
        except DriverError as exc:
            raise KunciError(describe(exc)) from exc
        door = self.u.name
        slot = self.d.submit("finger.begin", {"user": code, "sensor_slots": sorted(used),
                                              "capacity": capacity, "door": door})["slot"]
        timeout = self.u.config.sensor.enroll_step_timeout_seconds

        def on_step(name: str) -> None:
            step = EnrolStep(name)
            progress(step.value, step.text)

        try:
            service.run(lambda sensor: sensor.enroll(on_step, timeout_seconds=timeout, slot=slot), exclusive=True)
        except BaseException as exc:
            self.d.submit("finger.abort", {"slot": slot, "door": door})
            if isinstance(exc, DriverError):  # a refusal (a duplicate, no finger in time...) or a sensor fault
                raise KunciError(describe(exc)) from exc
            raise
        try:
            return self.d.submit("finger.commit", {"user": code, "actor": actor, "slot": slot, "door": door})
        except BaseException:
            self.delete_slot(slot)
            raise

    def delete(self, params: dict[str, Any]) -> dict[str, Any]:
        """``finger.delete``: rows first (on the loop), then the templates (the service)."""
        result = self.d.submit("finger.forget", {"user": p.code(params), "actor": p.actor(params),
                                                 "door": self.u.name})
        pending = [s for s in result["slots"] if not self.delete_slot(s)]
        answer = {"deleted": len(result["slots"])}
        if pending:
            answer["sensor_cleanup_pending"] = pending  # removed at the next reconciliation
        return answer

    def delete_slot(self, slot: int) -> bool:
        """Erase one template through the service; False (logged) when the sensor refuses or is gone."""
        from drivers.errors import SensorError

        if self.service is None:
            return False
        try:
            deleted, _ = self.service.run(lambda sensor: delete_each(sensor, (slot,)))
        except SensorError as exc:
            log.warning("could not delete sensor slot %d: %s", slot, exc)
            return False
        return bool(deleted)

    def reload(self, params: dict[str, Any]) -> dict[str, Any]:
        """``reload``: reconcile now and say how many orphan templates were removed."""
        from drivers.errors import SensorError

        service = self.service
        if service is None or self.u.sensor_state != "ok":
            return {"orphans_removed": 0}
        try:
            slots, capacity = service.run(_occupied)
        except SensorError as exc:
            log.warning("reconciliation skipped: %s", exc)
            return {"orphans_removed": 0}
        plan = self.d.submit("finger.reconcile", {"slots": sorted(slots), "capacity": capacity, "door": self.u.name})
        deleted, _ = service.run(lambda sensor: delete_each(sensor, tuple(plan["orphans"])))
        self.d.submit("finger.reconciled", {"deleted": list(deleted), "missing": plan["missing"],
                                            "door": self.u.name})
        return {"orphans_removed": len(deleted)}
