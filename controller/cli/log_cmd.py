"""``kunci log``: read the event log as a table, or export it as CSV or JSON lines.

Filters: ``--since``/``--until`` take an ISO date (``2026-03-01``, a whole day in the
site time zone), an ISO date-time (without an offset it is site time) or a span back
from now (``90m``, ``24h``, ``7d``, ``2w``); ``--user CODE``, ``--result
granted|denied``, ``--reason``, ``--method``, ``--type`` (``admin.*`` for a family), ``--door NAME``.

The table shows the newest events first (``--limit``, default 50), with a DOOR column when its events name more
than one door. CSV and JSON
stream every matching sealed event in chain order (``--limit`` stops after that many)
and carry the chain head anchor to keep off the device (CSV: the name of the header row's last column; JSON:
the first line). Events not sealed yet are left out and counted (in the anchor, and on stderr). They carry
person codes only, and CSV cells that a spreadsheet would evaluate are prefixed with ``'``.
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from controller.cli.people_cmd import _config, print_table
from controller.config import Config
from controller.errors import InvalidInput
from controller.i18n import T, _
from controller.paths import DataDir
from controller.store.reader import RESULT_TYPES
from controller.timefmt import iso_utc, local_text, utcnow

# The table is read with plain sqlite3 (controller.store.reader); SQLAlchemy and the event log
# module are imported only for the exports (docs/performance.md, W10).

TABLE_LIMIT = 50
_SPAN = re.compile(r"(\d{1,6})\s*([mhdw])")
_SPAN_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(text: str, tz: tzinfo, now: datetime, *, end_of_day: bool = False) -> datetime:
    """An aware datetime from a ``--since``/``--until`` value (see the module doc).

    A bare date is that day's midnight in ``tz``, or the next midnight with
    ``end_of_day`` (so ``--until 2026-03-01`` includes the whole day). Raises
    :class:`InvalidInput` for anything else.
    """
    value = text.strip()
    span = _SPAN.fullmatch(value.lower())
    if span:
        return now - timedelta(**{_SPAN_UNITS[span.group(2)]: int(span.group(1))})
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            start = datetime(day.year, day.month, day.day, tzinfo=tz)
            return start + timedelta(days=1) if end_of_day else start
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            T("a time must be a date (2026-03-01), a date-time (2026-03-01T08:30) or a span like 24h or 7d")
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=tz)


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``log``."""
    parser = subparsers.add_parser("log", parents=[common], help="show or export the event log")
    parser.add_argument("--since", metavar="T", help="from T: 2026-03-01, 2026-03-01T08:30, 24h, 7d")
    parser.add_argument("--until", metavar="T", help="before T (a date includes that whole day)")
    parser.add_argument("--user", metavar="CODE", help="one person's events (e.g. U0042)")
    parser.add_argument("--result", choices=tuple(RESULT_TYPES), help="access decisions only")
    parser.add_argument("--reason", help="e.g. unknown_credential, outside_schedule")
    parser.add_argument("--method", help="pin, finger, pin+finger, remote")
    parser.add_argument("--type", help="event type, or a family like admin.*")
    parser.add_argument("--door", metavar="NAME", help="one door's events (e.g. main)")
    parser.add_argument("--limit", type=int, metavar="N",
                        help=f"at most N events (table default {TABLE_LIMIT}; exports default all)")
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table")
    parser.set_defaults(func=run_log)


def run_log(args: argparse.Namespace) -> int:
    """Print the table or stream the export to stdout."""
    if args.limit is not None and args.limit < 1:
        raise InvalidInput(T("--limit must be at least 1"))
    datadir = DataDir.resolve(args.data)
    config = _config(datadir)
    tz = ZoneInfo(config.site.timezone)
    now = utcnow()
    user = args.user.strip().upper() if args.user else None
    since = parse_time(args.since, tz, now) if args.since else None
    until = parse_time(args.until, tz, now, end_of_day=True) if args.until else None
    if args.format == "table":
        rows = _table_rows(datadir, config, args, since, until, user)
        if rows is not None:
            return _print_rows(rows, tz)
    from controller.cli.people_cmd import read_only
    from controller.cli.progress import CountingWriter, Progress
    from controller.store import audit, eventlog

    filters = eventlog.EventFilter(since=since, until=until, user=user, result=args.result, reason=args.reason,
                                   method=args.method, type=args.type, door=args.door)
    with read_only(datadir) as (_cfg, session):
        if args.format in ("csv", "json"):
            progress = Progress(f"kunci log --format {args.format}")
            out = CountingWriter(sys.stdout, progress)
            head = eventlog.export_head(session, filters, anchor=audit.head(session), now=now)
            chunks = eventlog.csv_chunks if args.format == "csv" else eventlog.json_chunks
            for text in chunks(session, head, filters, limit=args.limit):
                out.write(text)
            progress.done()
            if head.unsealed_left_out:
                print(_("kunci log: {count} matching event(s) not sealed yet were left out of the export "
                        "('kunci audit verify' names them)").format(count=head.unsealed_left_out), file=sys.stderr)
            return 0
        events = list(
            eventlog.iter_events(session, filters, oldest_first=False, limit=args.limit or TABLE_LIMIT)
        )
        rows = [(e.seq, e.time, e.type, e.reason, e.method, e.user_code, e.door, e.actor) for e in events]
    return _print_rows(rows, tz)


def _table_rows(datadir: DataDir, config: Config, args: argparse.Namespace, since: datetime | None,
                until: datetime | None, user: str | None) -> list[tuple[object, ...]] | None:
    """The table's rows straight from SQLite (no SQLAlchemy), or None when the database is not SQLite."""
    from controller.store import reader

    query = reader.EventQuery(
        since=iso_utc(since) if since is not None else None,
        until=iso_utc(until) if until is not None else None,
        user=user, result=args.result, reason=args.reason, method=args.method, type=args.type, door=args.door,
    )
    store = config.store
    with reader.connect(datadir, store.url, busy_timeout_ms=store.busy_timeout_ms) as conn:
        if conn is None:
            return None
        return [row[1:] for row in reader.newest_events(conn, query, args.limit or TABLE_LIMIT)]


def _print_rows(rows: list[tuple[object, ...]], tz: ZoneInfo) -> int:
    """The table, times in the site's time zone (named in the header; ``--format csv|json`` stay UTC)."""
    if not rows:
        print(_("no events match"))
        return 0
    # rows: seq, time, type, reason, method, user, door, actor; the door only when the rows name several
    several = len({row[6] for row in rows if row[6]}) > 1
    shown = [(row[0], local_text(row[1], tz), *row[2:6], *row[6:7] * several, *row[7:]) for row in rows]
    print_table((_("SEQ"), _("TIME ({zone})").format(zone=tz.key), _("TYPE"), _("REASON"), _("METHOD"), _("USER"),
                 *(_("DOOR"),) * several, _("ACTOR")), shown)
    return 0
