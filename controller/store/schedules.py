"""Access groups, schedules and holidays: when the people of a group may enter.

Like :mod:`controller.store.people`, every mutating function works in the caller's session, validates
everything before it writes anything, records its ``admin.*`` event with :func:`controller.store.audit.record`,
and leaves the commit to the caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from controller.core.policy import DoorMode
from controller.core.vocabulary import EventType
from controller.errors import InvalidInput, NotFound, PolicyRefused
from controller.i18n import T
from controller.store import audit
from controller.store.models import AccessGroup, Door, GroupDoor, Holiday, Schedule, ScheduleWindow, User
from controller.store.validation import validate_label


def find_group(session: Session, name: str) -> AccessGroup:
    group = session.scalars(select(AccessGroup).where(AccessGroup.name == name)).one_or_none()
    if group is None:
        raise NotFound(T("no access group with that name (see the group list)"))
    return group


def schedule_view(schedule: Schedule) -> Any:
    """A stored schedule as the pure :class:`controller.core.policy.Schedule`."""
    from controller.core import policy

    return policy.Schedule(
        windows=tuple(policy.Window(w.weekday, w.start_minute, w.end_minute) for w in schedule.windows),
        allow_on_holidays=bool(schedule.allow_on_holidays),
    )


def _find_schedule(session: Session, name: str) -> Schedule:
    schedule = session.scalars(select(Schedule).where(Schedule.name == name)).one_or_none()
    if schedule is None:
        raise NotFound(T("no schedule with that name (see the schedule list)"))
    return schedule


def add_group(session: Session, name: str, *, schedule: str | None = None, actor: str) -> AccessGroup:
    """Create an access group, optionally bound to an existing schedule. Records ``admin.group_added``."""
    clean = validate_label(name, "group")
    if session.scalar(select(AccessGroup.id).where(AccessGroup.name == clean)) is not None:
        raise InvalidInput(T("an access group with that name already exists"))
    sched = _find_schedule(session, validate_label(schedule, "schedule")) if schedule is not None else None
    group = AccessGroup(name=clean, schedule=sched)
    session.add(group)
    session.flush()
    audit.record(
        session, EventType.ADMIN_GROUP_ADDED, actor=actor,
        detail={"group": clean, "schedule": sched.name if sched else None}
    )
    return group


def list_groups(session: Session) -> list[AccessGroup]:
    """Every access group, by name."""
    return list(session.scalars(select(AccessGroup).order_by(AccessGroup.name)))


def set_group_schedule(session: Session, group: str, schedule: str | None, *, actor: str) -> AccessGroup:
    """Bind ``group`` to ``schedule`` (``None``: any time). Records ``admin.group_updated``."""
    row = find_group(session, validate_label(group, "group"))
    sched = _find_schedule(session, validate_label(schedule, "schedule")) if schedule is not None else None
    row.schedule = sched
    session.flush()
    audit.record(
        session,
        EventType.ADMIN_GROUP_UPDATED,
        actor=actor,
        detail={"group": row.name, "schedule": sched.name if sched else None},
    )
    return row


def set_group_rules(session: Session, group: str, required_mode: str | None, two_person: bool, *,
                    actor: str) -> AccessGroup:
    """Set the factors ``group`` requires (a door mode, or ``None``: the door's mode alone) and whether its
    members need a second person (the two-person rule). Records ``admin.group_updated`` with both."""
    if required_mode is not None and required_mode not in set(DoorMode):
        raise InvalidInput(T("the required mode must be one of: {modes}", modes=", ".join(m.value for m in DoorMode)))
    row = find_group(session, validate_label(group, "group"))
    row.required_mode, row.two_person = required_mode, bool(two_person)
    session.flush()
    audit.record(session, EventType.ADMIN_GROUP_UPDATED, actor=actor,
                 detail={"group": row.name, "required_mode": required_mode, "two_person": bool(two_person)})
    return row


#: Most doors one group may list (a controller drives at most four; the site names doors of one controller).
MAX_GROUP_DOORS = 16


def group_doors(session: Session) -> dict[int, list[str]]:
    """Each group's doors by group id, sorted (a group absent from the answer grants every door)."""
    doors: dict[int, list[str]] = {}
    for gid, door in session.execute(select(GroupDoor.group_id, GroupDoor.door).order_by(GroupDoor.door)):
        doors.setdefault(gid, []).append(door)
    return doors


def known_doors(session: Session, configured: Iterable[str] = ()) -> list[str]:
    """The door names a group may list: the configured doors, then any other row of the doors table."""
    names = list(dict.fromkeys(configured))
    names += [n for n in session.scalars(select(Door.name).order_by(Door.id)) if n not in names]
    return names


def set_group_doors(session: Session, group: str, doors: Sequence[str], *, known: Iterable[str],
                    actor: str) -> list[str]:
    """Grant ``group`` only ``doors`` (an empty list: every door of the controller, as before issue 16).

    Every name must be one of ``known`` (:func:`known_doors`), else :class:`InvalidInput` naming it and
    nothing changes. Records ``admin.group_updated`` with ``doors`` (``[]`` = every door). Returns the
    sorted names stored."""
    if isinstance(doors, str) or not isinstance(doors, Sequence) or not all(isinstance(d, str) for d in doors):
        raise InvalidInput(T("doors must be a list of door names"))
    if len(doors) > MAX_GROUP_DOORS:
        raise InvalidInput(T("a group lists at most {most} doors", most=MAX_GROUP_DOORS))
    allowed = list(known)
    for name in doors:
        if name not in allowed:
            raise InvalidInput(T("no door named {door} on this controller (doors: {doors})",
                                 door=repr(name[:40]), doors=", ".join(allowed)))
    row = find_group(session, validate_label(group, "group"))
    chosen = sorted(set(doors))
    session.execute(GroupDoor.__table__.delete().where(GroupDoor.group_id == row.id))
    session.add_all(GroupDoor(group_id=row.id, door=name) for name in chosen)
    session.flush()
    audit.record(session, EventType.ADMIN_GROUP_UPDATED, actor=actor, detail={"group": row.name, "doors": chosen})
    return chosen


def delete_group(session: Session, name: str, *, actor: str) -> None:
    """Delete an access group nobody belongs to (else :class:`PolicyRefused`). Records ``admin.group_deleted``."""
    row = find_group(session, validate_label(name, "group"))
    members = session.scalar(select(func.count()).select_from(User).where(User.group_id == row.id))
    if members:
        raise PolicyRefused(T("the group still has {count} member(s); move them to another group first", count=members))
    session.delete(row)
    session.flush()
    audit.record(session, EventType.ADMIN_GROUP_DELETED, actor=actor, detail={"group": row.name})


def rename_group(session: Session, name: str, new_name: str, *, actor: str) -> AccessGroup:
    """Rename the access group ``name`` to ``new_name`` (unique). Its members keep it (they refer to it by id);
    visitors it escorts (``users.escort_group`` holds the name) follow it. Records ``admin.group_updated`` with
    ``renamed_from``."""
    row = find_group(session, validate_label(name, "group"))
    clean = validate_label(new_name, "group")
    if clean == row.name:
        raise InvalidInput(T("the new group name is the same as the old one"))
    if session.scalar(select(AccessGroup.id).where(AccessGroup.name == clean)) is not None:
        raise InvalidInput(T("an access group with that name already exists"))
    old = row.name
    row.name = clean
    session.execute(update(User).where(User.escort_group == old).values(escort_group=clean))
    session.flush()
    audit.record(session, EventType.ADMIN_GROUP_UPDATED, actor=actor, detail={"group": clean, "renamed_from": old})
    return row


def group_in_use(session: Session, name: str) -> tuple[AccessGroup, int, int]:
    """The group ``name``, how many people belong to it, and how many visitors it escorts (what deleting it
    would do; :class:`NotFound` if there is none)."""
    row = find_group(session, validate_label(name, "group"))
    members = session.scalar(select(func.count()).select_from(User).where(User.group_id == row.id)) or 0
    escorted = session.scalar(select(func.count()).select_from(User).where(User.escort_group == row.name)) or 0
    return row, members, escorted


def _window_tuple(window: Any) -> tuple[int, int, int]:
    if isinstance(window, Sequence) and not isinstance(window, str):
        values = tuple(window)
    else:
        values = (getattr(window, "weekday", None), getattr(window, "start_minute", None), getattr(window, "end_minute", None))
    if len(values) != 3 or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise InvalidInput(T("a schedule window is (weekday 0-6, start minute, end minute)"))
    weekday, start, end = values
    if not 0 <= weekday <= 6:
        raise InvalidInput(T("a window's weekday must be 0 (Monday) to 6 (Sunday)"))
    if not (0 <= start <= 1439 and 1 <= end <= 1440 and start < end):
        raise InvalidInput(T("a window needs 0 <= start minute < end minute <= 1440"))
    return weekday, start, end


def add_schedule(
    session: Session,
    name: str,
    windows: Iterable[Any],
    allow_on_holidays: bool = False,
    *,
    actor: str,
) -> Schedule:
    """Create a weekly schedule from ``windows`` (``policy.Window`` or ``(weekday, start, end)``).

    ``weekday`` 0=Monday..6=Sunday; minutes since local midnight, end exclusive.
    Records ``admin.schedule_added``.
    """
    clean = validate_label(name, "schedule")
    spans = [_window_tuple(w) for w in windows]
    if session.scalar(select(Schedule.id).where(Schedule.name == clean)) is not None:
        raise InvalidInput(T("a schedule with that name already exists"))
    schedule = Schedule(
        name=clean,
        allow_on_holidays=bool(allow_on_holidays),
        windows=[ScheduleWindow(weekday=d, start_minute=s, end_minute=e) for d, s, e in spans],
    )
    session.add(schedule)
    session.flush()
    audit.record(
        session,
        EventType.ADMIN_SCHEDULE_ADDED,
        actor=actor,
        detail={"schedule": clean, "windows": [list(s) for s in spans], "allow_on_holidays": bool(allow_on_holidays)},
    )
    return schedule


def list_schedules(session: Session) -> list[Schedule]:
    """Every schedule, by name."""
    return list(session.scalars(select(Schedule).order_by(Schedule.name)))


def update_schedule(
    session: Session,
    name: str,
    *,
    windows: Iterable[Any] | None = None,
    allow_on_holidays: bool | None = None,
    new_name: str | None = None,
    actor: str,
) -> Schedule:
    """Change the schedule ``name``: replace its windows (at least one), its holiday rule, its name (unique);
    ``None`` leaves that part as it is. Groups keep following it. Everything is checked before anything
    changes. Records ``admin.schedule_updated`` with the schedule as it is now (and ``renamed_from``)."""
    row = _find_schedule(session, validate_label(name, "schedule"))
    clean = validate_label(new_name, "schedule") if new_name is not None else row.name
    if clean != row.name and session.scalar(select(Schedule.id).where(Schedule.name == clean)) is not None:
        raise InvalidInput(T("a schedule with that name already exists"))
    spans = [_window_tuple(w) for w in windows] if windows is not None else None
    if spans is not None and not spans:
        raise InvalidInput(T("a schedule needs at least one window; to close a group, bind it to another schedule"))
    if spans is None and allow_on_holidays is None and clean == row.name:
        raise InvalidInput(T("nothing to change: give the windows, the holiday rule or a new name"))
    detail: dict[str, Any] = {"schedule": clean}
    if clean != row.name:
        detail["renamed_from"] = row.name
        row.name = clean
    if spans is not None:
        row.windows = [ScheduleWindow(weekday=d, start_minute=s, end_minute=e) for d, s, e in spans]
    if allow_on_holidays is not None:
        row.allow_on_holidays = bool(allow_on_holidays)
    session.flush()
    detail.update(windows=[[w.weekday, w.start_minute, w.end_minute] for w in row.windows],
                  allow_on_holidays=bool(row.allow_on_holidays))
    audit.record(session, EventType.ADMIN_SCHEDULE_UPDATED, actor=actor, detail=detail)
    return row


def schedule_in_use(session: Session, name: str) -> tuple[Schedule, list[str]]:
    """The schedule ``name`` and the names of the groups that follow it (what deleting it would do;
    :class:`NotFound` if there is none)."""
    row = _find_schedule(session, validate_label(name, "schedule"))
    groups = session.scalars(select(AccessGroup.name).where(AccessGroup.schedule_id == row.id)
                             .order_by(AccessGroup.name))
    return row, list(groups)


def delete_schedule(session: Session, name: str, *, actor: str) -> None:
    """Delete a schedule no group uses (else :class:`PolicyRefused`). Records ``admin.schedule_deleted``."""
    row = _find_schedule(session, validate_label(name, "schedule"))
    used = session.scalar(select(func.count()).select_from(AccessGroup).where(AccessGroup.schedule_id == row.id))
    if used:
        raise PolicyRefused(T("{count} group(s) still use this schedule; change them first", count=used))
    session.delete(row)
    session.flush()
    audit.record(session, EventType.ADMIN_SCHEDULE_DELETED, actor=actor, detail={"schedule": row.name})


def add_holiday(session: Session, day: date, name: str, *, actor: str) -> Holiday:
    """Declare ``day`` a holiday called ``name``. Records ``admin.holiday_added``."""
    if not isinstance(day, date):
        raise InvalidInput(T("the holiday must be a date (YYYY-MM-DD)"))
    clean = validate_label(name, "holiday")
    if session.scalar(select(Holiday.id).where(Holiday.day == day)) is not None:
        raise InvalidInput(T("{day} is already a holiday", day=day.isoformat()))
    holiday = Holiday(day=day, name=clean)
    session.add(holiday)
    session.flush()
    audit.record(session, EventType.ADMIN_HOLIDAY_ADDED, actor=actor, detail={"day": day.isoformat(), "holiday": clean})
    return holiday


def list_holidays(session: Session, *, year: int | None = None) -> list[Holiday]:
    """Holidays by date, optionally only those of ``year``."""
    stmt = select(Holiday).order_by(Holiday.day)
    if year is not None:
        stmt = stmt.where(Holiday.day >= date(year, 1, 1), Holiday.day <= date(year, 12, 31))
    return list(session.scalars(stmt))


def holiday_in_use(session: Session, day: date) -> tuple[Holiday, list[str]]:
    """The holiday on ``day`` and the schedules that deny on holidays, which would open that day again if it
    were removed (:class:`NotFound` if ``day`` is no holiday)."""
    row = session.scalars(select(Holiday).where(Holiday.day == day)).one_or_none()
    if row is None:
        raise NotFound(T("{day} is not a holiday", day=day.isoformat()))
    closed = session.scalars(select(Schedule.name).where(Schedule.allow_on_holidays.is_(False))
                             .order_by(Schedule.name))
    return row, list(closed)


def delete_holiday(session: Session, day: date, *, actor: str) -> None:
    """Remove the holiday on ``day`` (:class:`NotFound` if none). Records ``admin.holiday_deleted``."""
    row = session.scalars(select(Holiday).where(Holiday.day == day)).one_or_none()
    if row is None:
        raise NotFound(T("{day} is not a holiday", day=day.isoformat()))
    session.delete(row)
    session.flush()
    audit.record(session, EventType.ADMIN_HOLIDAY_DELETED, actor=actor, detail={"day": day.isoformat()})
