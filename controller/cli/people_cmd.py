"""``kunci user add|list|show|suspend|resume|revoke|reset-pin|import``: manage the people who may open the door.

``user add`` and ``user reset-pin`` generate the PIN here (they need the pepper,
so run them as the daemon's user) and print it once; the PIN is stored only as its
HMAC, in the same transaction as the person and the admin event.

Every change is one admin operation (:mod:`controller.store.admin_ops`) applied by the one
writer: the door daemon when it runs, else this process under the same lock
(:func:`controller.control.changes.apply`); the change and its sealed ``admin.*`` event land in
one transaction.

:func:`read_only` is the read plumbing shared by the ``admin`` and ``log`` commands.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from controller.config import Config, load_config
from controller.core.vocabulary import PersonKind, PersonStatus, values
from controller.errors import DataDirError, InvalidInput
from controller.i18n import T, _
from controller.paths import DataDir

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

# SQLAlchemy, the models, the person service and the change path are imported by the handlers that
# use them: importing them costs 0.5-0.8 s, most of a read command's time (docs/performance.md, W10).

#: The person statuses (the values of ``users.status``).
USER_STATUSES = values(PersonStatus)

logger = logging.getLogger(__name__)

#: Said next to a PIN printed once (a :class:`~controller.i18n.Text`: translated when shown).
SHOWN_ONCE = T("(shown once; give it to the person)")


# --- store plumbing (shared with admin_cmd and log_cmd) ---------------------------------------


def _config(datadir: DataDir) -> Config:
    if not datadir.root.is_dir():
        raise DataDirError(T("{path} does not exist; run 'kunci init' first", path=datadir.root))
    return load_config(datadir.config_file)


def _open(datadir: DataDir) -> tuple[Config, Engine]:
    from controller.store.db import open_database

    config = _config(datadir)
    engine = open_database(datadir, config.store.url, busy_timeout_ms=config.store.busy_timeout_ms)
    return config, engine


@contextmanager
def read_only(datadir: DataDir) -> Iterator[tuple[Config, Session]]:
    """Config and a read-only session (one consistent snapshot, never blocks the daemon)."""
    from controller.store.db import session_factory

    config, engine = _open(datadir)
    try:
        with session_factory(engine, readonly=True)() as session, session.begin():
            yield config, session
    finally:
        engine.dispose()


def site_today(config: Config) -> date:
    """Today's date in the site's time zone (``site.timezone``)."""
    return datetime.now(ZoneInfo(config.site.timezone)).date()


def printable(value: object) -> str:
    """``value`` for a terminal: ``-`` for None, control characters shown as ``?``."""
    if value is None:
        return "-"
    return "".join(ch if ch.isprintable() else "?" for ch in str(value))


def print_table(header: tuple[str, ...], rows: list[tuple[object, ...]]) -> None:
    """Left-aligned columns, two spaces apart (``header``: labels already in the reader's language)."""
    cells = [tuple(printable(c) for c in row) for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(header)]
    for row in [header, *cells]:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())


# --- arguments ----------------------------------------------------------------------------------


def parse_day(text: str | None, what: str, config: Config) -> date | None:
    """``YYYY-MM-DD`` or ``today`` (in the site time zone) -> date; InvalidInput otherwise."""
    if text is None:
        return None
    if text.strip().lower() == "today":
        return site_today(config)
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(T("{what} must be a date like 2026-03-01 (or 'today')", what=what)) from None


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``user`` and its actions."""
    parser = subparsers.add_parser("user", parents=[common], help="add, list and manage people (by code)")
    sub = parser.add_subparsers(dest="user_command", metavar="ACTION")
    sub.required = True

    add = sub.add_parser("add", parents=[common], help="add a person; prints their code and PIN once")
    add.add_argument("--name", help="display name (optional; shown to admins only; at most 120 characters)")
    add.add_argument(
        "--agreement-signed",
        metavar="DATE|today",
        help="date the confidentiality agreement was signed (required when site.require_agreement)",
    )
    add.add_argument("--group", help="access group (its schedule applies; default: any time)")
    add.add_argument("--valid-from", metavar="DATE", help="first valid day (site time zone)")
    add.add_argument("--valid-until", metavar="DATE", help="last valid day, inclusive")
    add.set_defaults(func=run_add)

    lst = sub.add_parser("list", parents=[common], help="list staff by code (visitors: kunci visitor list)")
    lst.add_argument("--status", choices=USER_STATUSES)
    lst.add_argument("--search", help="code prefix (U00) or part of a name")
    lst.add_argument("--format", choices=("table", "json"), default="table")
    lst.add_argument("--with-names", action="store_true", help="include display names (admins only)")
    lst.set_defaults(func=run_list)

    show = sub.add_parser("show", parents=[common], help="show one person (name included)")
    show.add_argument("code")
    show.add_argument("--format", choices=("table", "json"), default="table")
    show.set_defaults(func=run_show)

    for action, status, text in (
        ("suspend", PersonStatus.SUSPENDED, "suspend a person (their credentials stop working until resumed)"),
        ("resume", PersonStatus.ACTIVE, "resume a suspended person"),
        ("revoke", PersonStatus.REVOKED, "revoke a person for good (the code is never reused)"),
    ):
        p = sub.add_parser(action, parents=[common], help=text)
        p.add_argument("code")
        p.set_defaults(func=run_status, status=status)

    reset = sub.add_parser("reset-pin", parents=[common], help="give a person a new PIN (printed once)")
    reset.add_argument("code")
    reset.set_defaults(func=run_reset_pin)

    duress = sub.add_parser("duress-pin", parents=[common],
                            help="give a person a duress PIN (printed once): it opens like their PIN and "
                                 "raises a silent alarm ([pin] duress_pins = true)")
    duress.add_argument("code")
    duress.set_defaults(func=run_duress_pin)

    from controller.cli.people_import_cmd import register_import

    register_import(sub, common)


# --- handlers -----------------------------------------------------------------------------------


def run_add(args: argparse.Namespace) -> int:
    """Add the person and their PIN in one transaction (through the daemon when it runs); print both once."""
    datadir = DataDir.resolve(args.data)
    config = _config(datadir)  # only to read dates in the site's time zone; the change itself is the writer's
    params = {
        "name": args.name,
        "agreement_signed_on": _iso(parse_day(args.agreement_signed, "--agreement-signed", config)),
        "group": args.group,
        "valid_from": _iso(parse_day(args.valid_from, "--valid-from", config)),
        "valid_until": _iso(parse_day(args.valid_until, "--valid-until", config)),
    }
    from controller.control import changes

    result = changes.apply(datadir, "user.add", params)
    print(_("{code}  PIN {pin}  {note}").format(code=result["code"], pin=result["pin"], note=SHOWN_ONCE))
    return 0


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


def _summary_rows(summary: dict[str, object]) -> list[tuple[object, ...]]:
    fingers = summary["fingers"]
    slot = _("slot {slot} ({state})")
    return [
        (_("code"), summary["code"]),
        *([(_("name"), summary["name"])] if "name" in summary else []),
        (_("status"), summary["status"]),
        (_("group"), summary["group"]),
        (_("valid from"), summary["valid_from"]),
        (_("valid until"), summary["valid_until"]),
        (_("agreement signed"), summary["agreement_signed_on"]),
        ("PIN", yes_no(summary["has_pin"])),
        (_("fingers"), ", ".join(_("slot {slot} ({state}) at door {door}").format(**f) if f.get("door")
                                 else slot.format(slot=f["slot"], state=f["state"])
                                 for f in fingers) or None),  # type: ignore[attr-defined]
        *([(_("managed by"), _("the site (change them on the site's admin page)"))]
          if summary.get("origin") == "site" else []),
        (_("extended unlock"), yes_no(summary["extended_unlock"])),
        (_("mode override"), summary["mode_override"]),
        (_("created"), summary["created_at"]),
        (_("updated"), summary["updated_at"]),
    ]


def yes_no(flag: object) -> str:
    """``yes`` or ``no`` in the reader's language."""
    return _("yes") if flag else _("no")


def people_header(with_names: bool) -> tuple[str, ...]:
    """The ``user list`` table's header in the reader's language."""
    return (_("CODE"), *((_("NAME"),) if with_names else ()), _("STATUS"), _("GROUP"), _("VALID UNTIL"), "PIN",
            _("FINGERS"))


def _list_table(args: argparse.Namespace) -> bool:
    """``user list`` as a table straight from SQLite (:mod:`controller.store.reader`, no ORM); False if
    the database is not SQLite. Rows are printed as they are read, widths from the first 1,000 rows."""
    from controller.store import reader

    datadir = DataDir.resolve(args.data)
    config = _config(datadir)
    with reader.connect(datadir, config.store.url, busy_timeout_ms=config.store.busy_timeout_ms) as conn:
        if conn is None:
            return False
        rows = [
            (code, *((name,) if args.with_names else ()), status, group, valid_until, yes_no(has_pin), fingers)
            for code, name, status, group, valid_until, has_pin, fingers
            in reader.people(conn, search=args.search, status=args.status, statuses=USER_STATUSES,
                             kind=PersonKind.STAFF.value)
        ]
    if not rows:
        print(_("no people match"))
        return True
    print_table(people_header(args.with_names), rows)
    return True


def run_list(args: argparse.Namespace) -> int:
    """Print every matching person, in code order, page by page."""
    if args.format == "table" and _list_table(args):
        return 0
    from controller.store import people

    summaries: list[dict[str, object]] = []
    with read_only(DataDir.resolve(args.data)) as (_config, session):
        after: str | None = None
        while True:
            page = people.list_users(session, search=args.search, status=args.status, after_code=after, limit=500,
                                     kind=PersonKind.STAFF.value)
            summaries += [people.user_summary(u, include_name=args.with_names) for u in page]
            if len(page) < 500:
                break
            after = page[-1].code
    if args.format == "json":
        print(json.dumps(summaries, indent=1, ensure_ascii=True))
        return 0
    if not summaries:
        print(_("no people match"))
        return 0
    header = people_header(args.with_names)
    rows = [
        (
            s["code"],
            *((s["name"],) if args.with_names else ()),
            s["status"],
            s["group"],
            s["valid_until"],
            yes_no(s["has_pin"]),
            len(s["fingers"]),  # type: ignore[arg-type]
        )
        for s in summaries
    ]
    print_table(header, rows)
    return 0


def run_show(args: argparse.Namespace) -> int:
    """Print one person, display name included."""
    from controller.store import people

    with read_only(DataDir.resolve(args.data)) as (_config, session):
        summary = people.user_summary(people.get_user(session, args.code), include_name=True)
    if args.format == "json":
        print(json.dumps(summary, indent=1, ensure_ascii=True))
    else:
        rows = _summary_rows(summary)
        width = max(len(label) for label, _value in rows) + 2  # 18 in English, as before
        for label, value in rows:
            print(f"{label + ':':<{width}}{printable(value)}")
    return 0


def run_status(args: argparse.Namespace) -> int:
    """Suspend, resume or revoke."""
    from controller.control import changes

    result = changes.apply(DataDir.resolve(args.data), "user.set_status", {"user": args.code, "status": args.status})
    code, fingers = result["code"], result.get("fingers", 0)
    print(_("{code} is now {status}").format(code=code, status=args.status))
    if args.status == PersonStatus.REVOKED and fingers:
        print(_("its fingerprint templates are still on the sensor: run 'kunci finger delete {code}'").format(
            code=code))
    return 0


def run_duress_pin(args: argparse.Namespace) -> int:
    """Issue (or replace) the person's duress PIN and print it once."""
    from controller.control import changes

    result = changes.apply(DataDir.resolve(args.data), "user.issue_duress_pin", {"user": args.code})
    print(_("{code}  DURESS PIN {pin}  {note}").format(code=result["code"], pin=result["duress_pin"], note=SHOWN_ONCE))
    print(_("Entered at the door it opens exactly like the normal PIN and alerts security silently."))
    return 0


def run_reset_pin(args: argparse.Namespace) -> int:
    """Replace the person's PIN and print the new one once."""
    from controller.control import changes

    result = changes.apply(DataDir.resolve(args.data), "user.reset_pin", {"user": args.code})
    print(_("{code}  PIN {pin}  {note}").format(code=result["code"], pin=result["pin"], note=SHOWN_ONCE))
    return 0
