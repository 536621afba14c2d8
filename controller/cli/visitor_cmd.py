"""``kunci visitor add|list``: visitors, whose access ends at an instant (issue 13 item 5; docs/security.md).

``visitor add`` creates a person of kind ``visitor`` valid for ``--hours`` or ``--days`` from now (at most
30 days) with a one-off PIN printed once; with ``--escort-group`` their PIN opens only after a member of
that access group presented a valid credential within ``door.two_person_window_seconds``. Like every
change it is one admin operation (``visitor.add``) applied by the one writer (the daemon when it runs).
``visitor list`` shows current and ended visitors; ``kunci user list`` shows staff only.
"""

from __future__ import annotations

import argparse
import json
from zoneinfo import ZoneInfo

from controller.cli.people_cmd import SHOWN_ONCE, _config, print_table, read_only
from controller.i18n import _
from controller.paths import DataDir
from controller.timefmt import parse_iso_utc, utcnow


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``visitor`` and its actions."""
    parser = subparsers.add_parser("visitor", parents=[common], help="add and list visitors (access that ends)")
    sub = parser.add_subparsers(dest="visitor_command", metavar="ACTION")
    sub.required = True

    add = sub.add_parser("add", parents=[common], help="add a visitor; prints their code, end of visit and PIN once")
    add.add_argument("--name", help="display name (optional; shown to admins only)")
    length = add.add_mutually_exclusive_group(required=True)
    length.add_argument("--hours", type=int, help="the visit ends this many hours from now")
    length.add_argument("--days", type=int, help="the visit ends this many days from now (at most 30)")
    add.add_argument("--escort-group", metavar="GROUP",
                     help="access group one of whose members must present first (within the two-person window)")
    add.add_argument("--group", help="access group of the visitor (its schedule applies)")
    add.set_defaults(func=run_add)

    lst = sub.add_parser("list", parents=[common], help="list current and ended visitors")
    lst.add_argument("--current", action="store_true", help="only visitors whose visit has not ended")
    lst.add_argument("--format", choices=("table", "json"), default="table")
    lst.add_argument("--with-names", action="store_true", help="include display names (admins only)")
    lst.set_defaults(func=run_list)


def _local(config, iso: str | None) -> str | None:
    """A stored UTC instant in the site's time zone, to the minute, with the zone's abbreviation."""
    if not iso:
        return None
    return parse_iso_utc(iso).astimezone(ZoneInfo(config.site.timezone)).strftime("%Y-%m-%d %H:%M %Z")


def run_add(args: argparse.Namespace) -> int:
    """Add the visitor and their PIN in one transaction (through the daemon when it runs); print both once."""
    datadir = DataDir.resolve(args.data)
    config = _config(datadir)
    params = {"name": args.name, "escort_group": args.escort_group, "group": args.group,
              **({"hours": args.hours} if args.hours is not None else {"days": args.days})}
    from controller.control import changes

    result = changes.apply(datadir, "visitor.add", params)
    print(_("{code}  until {time}").format(code=result["code"], time=_local(config, result["valid_until_at"]))
          + (_("  escort group {group}").format(group=result["escort_group"]) if result.get("escort_group") else ""))
    print(_("PIN {pin}  {note}").format(pin=result["pin"], note=SHOWN_ONCE))
    return 0


def run_list(args: argparse.Namespace) -> int:
    """Current visitors first, then ended ones (newest first in each)."""
    from controller.store import visitors

    now = utcnow()
    with read_only(DataDir.resolve(args.data)) as (config, session):
        rows = [visitors.visitor_summary(u, now, include_name=args.with_names)
                for u in visitors.list_visitors(session, now, include_ended=not args.current)]
    rows.sort(key=lambda r: not r["current"])  # stable: newest first within each part
    if args.format == "json":
        print(json.dumps(rows, indent=1, ensure_ascii=True))
        return 0
    if not rows:
        print(_("no visitors"))
        return 0
    header = (_("CODE"), *((_("NAME"),) if args.with_names else ()), _("VISIT"), _("UNTIL"), _("ESCORT GROUP"),
              _("GROUP"), _("STATUS"))
    print_table(header, [
        (r["code"], *((r["name"],) if args.with_names else ()), _("current") if r["current"] else _("ended"),
         _local(config, r["valid_until_at"]), r["escort_group"], r["group"], r["status"]) for r in rows])
    return 0
