"""``kunci group``, ``kunci schedule`` and ``kunci holiday``: who may enter when, and with what (issue 13).

Every change is an admin operation through the one writer (:func:`controller.control.changes.apply`), sealed
with the caller's account; lists are read from a read-only snapshot. A schedule window is written
``DAYS HH:MM-HH:MM`` with DAYS one day (``mon``), a range (``mon-fri``) or ``all``, in the site's time zone;
``--window`` may be given several times. ``kunci group doors NAME --door D [--door D...] | --all`` sets the
doors of this controller a group grants (issue 16; a group with none listed grants every door).
"""

from __future__ import annotations

import argparse
import re

from controller.core.policy import DoorMode
from controller.core.vocabulary import values
from controller.errors import InvalidInput
from controller.i18n import T, _
from controller.paths import DataDir

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WINDOW = re.compile(r"^(?P<days>[a-z]{3}(?:-[a-z]{3})?|all)\s+(?P<start>\d{2}:\d{2})-(?P<end>\d{2}:\d{2})$")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    group = sub.add_parser("group", parents=[common], help="access groups: schedule and rules").add_subparsers(
        dest="group_command", metavar="ACTION", required=True)
    p = group.add_parser("list", parents=[common], help="list the groups with their schedule and rules")
    p.set_defaults(func=run_group_list)
    p = group.add_parser("add", parents=[common], help="add a group")
    p.add_argument("name")
    p.add_argument("--schedule", help="schedule name (default: any time)")
    p.set_defaults(func=lambda a: _change(a, "group.add", {"name": a.name, "schedule": a.schedule}))
    p = group.add_parser("rename", parents=[common], help="rename a group (its members and visitors it "
                                                          "escorts stay with it)")
    p.add_argument("name")
    p.add_argument("new_name")
    p.set_defaults(func=lambda a: _change(a, "group.rename", {"group": a.name, "new_name": a.new_name}))
    p = group.add_parser("delete", parents=[common], help="delete a group nobody belongs to")
    p.add_argument("name")
    p.set_defaults(func=lambda a: _change(a, "group.delete", {"name": a.name}))
    p = group.add_parser("set-schedule", parents=[common], help="bind a group to a schedule (none: any time)")
    p.add_argument("name")
    p.add_argument("schedule", nargs="?", help="schedule name; leave out for any time")
    p.set_defaults(func=lambda a: _change(a, "group.set_schedule", {"group": a.name, "schedule": a.schedule}))
    p = group.add_parser("set-rules", parents=[common],
                         help="the factors a group requires (the stricter of it and the door's mode applies) "
                              "and the two-person rule")
    p.add_argument("name")
    p.add_argument("--require", choices=(*values(DoorMode), "none"), default="none",
                   help="mode the group requires, e.g. pin_and_finger (none: the door's mode alone)")
    p.add_argument("--two-person", action="store_true", help="its members need a second person within the window")
    p.set_defaults(func=lambda a: _change(a, "group.set_rules", {
        "group": a.name, "required_mode": None if a.require == "none" else a.require, "two_person": a.two_person}))
    p = group.add_parser("doors", parents=[common], help="the doors of this controller a group grants "
                                                         "(--all: every door, as before)")
    p.add_argument("name")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--door", action="append", metavar="NAME", help="a door the group grants (repeat for more)")
    which.add_argument("--all", action="store_true", help="every door of the controller")
    p.set_defaults(func=lambda a: _change(a, "group.doors", {"group": a.name, "doors": [] if a.all else a.door}))

    schedule = sub.add_parser("schedule", parents=[common], help="weekly schedules").add_subparsers(
        dest="schedule_command", metavar="ACTION", required=True)
    p = schedule.add_parser("list", parents=[common], help="list the schedules and their windows")
    p.set_defaults(func=run_schedule_list)
    p = schedule.add_parser("add", parents=[common], help="add a schedule")
    p.add_argument("name")
    p.add_argument("--window", action="append", required=True, metavar="'DAYS HH:MM-HH:MM'",
                   help="e.g. 'mon-fri 08:00-18:00' (repeat for more windows; 24:00 = midnight)")
    p.add_argument("--open-on-holidays", action="store_true", help="the windows apply on holidays too")
    p.set_defaults(func=run_schedule_add)
    p = schedule.add_parser("set", parents=[common], help="change a schedule: its windows (all replaced), "
                                                          "holiday rule or name; its groups keep it")
    p.add_argument("name")
    p.add_argument("--window", action="append", metavar="'DAYS HH:MM-HH:MM'",
                   help="the new windows, e.g. 'mon-fri 08:00-18:00' (repeat; replaces every window)")
    holidays = p.add_mutually_exclusive_group()
    holidays.add_argument("--open-on-holidays", dest="allow_on_holidays", action="store_const", const=True,
                          help="the windows apply on holidays too")
    holidays.add_argument("--closed-on-holidays", dest="allow_on_holidays", action="store_const", const=False,
                          help="no entry on holidays")
    p.add_argument("--rename", metavar="NEW_NAME", help="a new name for the schedule")
    p.set_defaults(func=run_schedule_set)
    p = schedule.add_parser("delete", parents=[common], help="delete a schedule no group uses")
    p.add_argument("name")
    p.set_defaults(func=lambda a: _change(a, "schedule.delete", {"name": a.name}))

    holiday = sub.add_parser("holiday", parents=[common], help="holidays (schedules stay shut unless they "
                                                               "open on holidays)").add_subparsers(
        dest="holiday_command", metavar="ACTION", required=True)
    p = holiday.add_parser("list", parents=[common], help="list the holidays")
    p.set_defaults(func=run_holiday_list)
    p = holiday.add_parser("add", parents=[common], help="add a holiday")
    p.add_argument("day", help="YYYY-MM-DD")
    p.add_argument("--name", required=True)
    p.set_defaults(func=lambda a: _change(a, "holiday.add", {"day": a.day, "name": a.name}))
    p = holiday.add_parser("delete", parents=[common], help="delete a holiday")
    p.add_argument("day", help="YYYY-MM-DD")
    p.set_defaults(func=lambda a: _change(a, "holiday.delete", {"day": a.day}))


def _change(args: argparse.Namespace, op: str, params: dict) -> int:
    from controller.control import changes

    result = changes.apply(DataDir.resolve(args.data), op, params)
    done = _("{operation}: done").format(operation=op)
    print(done + (f" ({', '.join(f'{k} {v}' for k, v in result.items())})" if result else ""))
    return 0


def parse_window(text: str) -> list[list[int]]:
    """``'mon-fri 08:00-18:00'`` -> ``[[weekday, start minute, end minute], ...]`` (Monday = 0)."""
    match = WINDOW.match(text.strip().lower())
    if not match:
        raise InvalidInput(T("a window looks like 'mon-fri 08:00-18:00', not {value}", value=repr(text[:40])))
    days = match["days"]
    if days == "all":
        span = range(7)
    else:
        first, _dash, last = days.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise InvalidInput(T("days are {days} (or a range like mon-fri, or all)", days=", ".join(DAYS)))
        span = range(DAYS.index(first), DAYS.index(last or first) + 1)
    start, end = (_minutes(match[k]) for k in ("start", "end"))
    if end <= start:
        raise InvalidInput(T("in {value} the end must be after the start (24:00 = midnight)",
                             value=repr(text.strip()[:40])))
    return [[day, start, end] for day in span]


def _minutes(hhmm: str) -> int:
    hours, minutes = int(hhmm[:2]), int(hhmm[3:])
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise InvalidInput(T("{value} is not a time of day (00:00 to 24:00)", value=hhmm))
    return hours * 60 + minutes


def run_schedule_add(args: argparse.Namespace) -> int:
    windows = [w for text in args.window for w in parse_window(text)]
    return _change(args, "schedule.add", {"name": args.name, "windows": windows,
                                          "allow_on_holidays": args.open_on_holidays})


def run_schedule_set(args: argparse.Namespace) -> int:
    params: dict = {"name": args.name}
    if args.window:
        params["windows"] = [w for text in args.window for w in parse_window(text)]
    if args.allow_on_holidays is not None:
        params["allow_on_holidays"] = args.allow_on_holidays
    if args.rename is not None:
        params["new_name"] = args.rename
    if len(params) == 1:
        raise InvalidInput(T("nothing to change: give --window, --open-on-holidays/--closed-on-holidays or --rename"))
    return _change(args, "schedule.update", params)


def _snapshot(args: argparse.Namespace):
    from controller.cli.people_cmd import read_only

    return read_only(DataDir.resolve(args.data))


def run_group_list(args: argparse.Namespace) -> int:
    from controller.store import schedules

    with _snapshot(args) as (config, session):
        doors = schedules.group_doors(session)
        several = len(config.door_names) > 1 or bool(doors)  # one door and no lists: the doors say nothing
        for g in schedules.list_groups(session):
            rules = [_("requires {mode}").format(mode=g.required_mode)] if g.required_mode else []
            rules += [_("two-person")] if g.two_person else []
            schedule = g.schedule.name if g.schedule else _("any time")
            granted = _("every door")
            if g.id in doors:  # a site group for other rooms keeps a '' row: no door of this controller
                granted = ", ".join(d for d in doors[g.id] if d) or _("no door here")
            print(f"{g.name:24s} " + _("schedule: {schedule}").format(schedule=f"{schedule:16s}")
                  + (" " + _("doors: {doors}").format(doors=f"{granted:16s}") if several else "")
                  + " " + ("; ".join(rules) or _("door mode only")))
    return 0


def run_schedule_list(args: argparse.Namespace) -> int:
    from controller.store import schedules

    with _snapshot(args) as (_config, session):
        for s in schedules.list_schedules(session):
            windows = ", ".join(f"{DAYS[w.weekday]} {w.start_minute // 60:02d}:{w.start_minute % 60:02d}-"
                                f"{w.end_minute // 60:02d}:{w.end_minute % 60:02d}" for w in s.windows)
            print(f"{s.name:24s} {windows}" + (_("; open on holidays") if s.allow_on_holidays else ""))
    return 0


def run_holiday_list(args: argparse.Namespace) -> int:
    from controller.store import schedules

    with _snapshot(args) as (_config, session):
        for h in schedules.list_holidays(session):
            print(f"{h.day.isoformat()}  {h.name}")
    return 0
