"""Admin operations on who may enter when: ``group.*``, ``schedule.*`` and ``holiday.*``.

Registered in :data:`controller.store.admin_ops.OPERATIONS` (imported at the end of that module), with
the same contract: validate the JSON-safe parameters, change through :mod:`controller.store.schedules` in the
caller's session with its ``admin.*`` event, never commit. The daemon re-reads its cached schedules after
every admin change (``AccessService.refresh_site``), so a renamed group or an edited schedule applies at the
next decision.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from controller.errors import InvalidInput, PolicyRefused
from controller.i18n import T
from controller.store import schedules
from controller.store.admin_ops import OpContext, _day, _flag, _text, operation

# --- groups, schedules, holidays -----------------------------------------------------------------


@operation("group.add")
def _group_add(session: Session, ctx: OpContext, params: dict[str, Any]) -> dict[str, Any]:
    group = schedules.add_group(session, _text(params, "name"), schedule=_text(params, "schedule", required=False),
                             actor=ctx.actor)
    return {"group": group.name}


@operation("group.set_schedule")
def _group_schedule(session: Session, ctx: OpContext, params: dict[str, Any]) -> dict[str, Any]:
    group = schedules.set_group_schedule(session, _text(params, "group"),
                                      _text(params, "schedule", required=False), actor=ctx.actor)
    return {"group": group.name}


@operation("group.set_rules")
def _group_rules(session: Session, ctx: OpContext, params: dict[str, Any]) -> dict[str, Any]:
    group = schedules.set_group_rules(session, _text(params, "group"), _text(params, "required_mode", required=False)
                                      or None, _flag(params, "two_person"), actor=ctx.actor)
    return {"group": group.name, "required_mode": group.required_mode, "two_person": group.two_person}


@operation("group.doors")
def _group_doors(session: Session, ctx: OpContext, params: dict[str, Any]) -> dict[str, Any]:
    """The doors a group grants: ``doors`` a list of door names of this controller (``[]``: every door)."""
    known = schedules.known_doors(session, getattr(ctx.config, "door_names", ()))
    doors = schedules.set_group_doors(session, _text(params, "group"), params.get("doors"), known=known,
                                      actor=ctx.actor)
    return {"group": params["group"], "doors": doors}


@operation("group.rename")
def _group_rename(session: Session, ctx: OpContext, params: dict[str, Any]) -> dict[str, Any]:
    """Rename a group; refused for the group the configuration names as the lockdown override (the
    configuration would then name a group that does not exist, and nobody could enter in a lockdown)."""
    name = _text(params, "group")
    if name and name == ctx.config.door.lockdown_override_group:
        raise PolicyRefused(T("the configuration names this group as [door] lockdown_override_group: change the "
                              "configuration first, or nobody could enter during a lockdown"))
    group = schedules.rename_group(session, name, _text(params, "new_name"), actor=ctx.actor)
    return {"group": group.name}


@operation("group.delete")
def _group_delete(session: Session, ctx: OpContext, params: dict[str, Any]) -> dict[str, Any]:
    schedules.delete_group(session, _text(params, "name"), actor=ctx.actor)
    return {}


def _windows(params: dict[str, Any], *, required: bool) -> list[Any] | None:
    """The ``windows`` parameter: a list of [weekday, start minute, end minute] (each checked by the store);
    None when it is absent and not ``required``."""
    windows = params.get("windows")
    if (windows is not None or required) and not isinstance(windows, list):
        raise InvalidInput(T("windows must be a list of [weekday, start minute, end minute]"))
    return windows


@operation("schedule.add")
def _schedule_add(session: Session, ctx: OpContext, params: dict[str, Any]) -> dict[str, Any]:
    schedule = schedules.add_schedule(session, _text(params, "name"), _windows(params, required=True),
                                   _flag(params, "allow_on_holidays"), actor=ctx.actor)
    return {"schedule": schedule.name}


@operation("schedule.update")
def _schedule_update(session: Session, ctx: OpContext, params: dict[str, Any]) -> dict[str, Any]:
    """Change a schedule: ``windows`` (replaces them all), ``allow_on_holidays``, ``new_name``; an omitted or
    ``null`` key leaves that part as it is."""
    unknown = set(params) - {"name", "windows", "allow_on_holidays", "new_name"}
    if unknown:
        raise InvalidInput(T("unknown field {field}", field=repr(min(unknown)[:40])))
    windows = _windows(params, required=False)
    allow = _flag(params, "allow_on_holidays") if params.get("allow_on_holidays") is not None else None
    schedule = schedules.update_schedule(session, _text(params, "name"), windows=windows, allow_on_holidays=allow,
                                         new_name=_text(params, "new_name", required=False), actor=ctx.actor)
    return {"schedule": schedule.name}


@operation("schedule.delete")
def _schedule_delete(session: Session, ctx: OpContext, params: dict[str, Any]) -> dict[str, Any]:
    schedules.delete_schedule(session, _text(params, "name"), actor=ctx.actor)
    return {}


@operation("holiday.add")
def _holiday_add(session: Session, ctx: OpContext, params: dict[str, Any]) -> dict[str, Any]:
    day = _day(params, "day")
    if day is None:
        raise InvalidInput(T("{key} must be a date like 2026-03-01", key="day"))
    schedules.add_holiday(session, day, _text(params, "name"), actor=ctx.actor)
    return {"day": day.isoformat()}


@operation("holiday.delete")
def _holiday_delete(session: Session, ctx: OpContext, params: dict[str, Any]) -> dict[str, Any]:
    day = _day(params, "day")
    if day is None:
        raise InvalidInput(T("{key} must be a date like 2026-03-01", key="day"))
    schedules.delete_holiday(session, day, actor=ctx.actor)
    return {}
