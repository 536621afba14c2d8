"""Bulk import of people from a CSV file (issue 13 item 7): ``kunci user import`` and the web's "Import people".

The file has a header row naming its columns, out of :data:`COLUMNS` (``name`` required; ``group``,
``valid_from``, ``valid_until``, ``agreement_signed_on`` optional); dates are ``YYYY-MM-DD``. Every row
obeys the rules of ``kunci user add`` (:func:`controller.store.people.add_user`: name validation, existing
group, date order, agreement not in the future, the agreement rule of ``site.require_agreement``).

* :func:`parse_csv` reads the text into JSON-safe rows ``[line, name, group, valid_from, valid_until,
  agreement_signed_on]`` and reports file-level problems (header, cell count) with line numbers.
* :func:`check_rows` checks every row against the store in a read-only session and returns EVERY
  problem with its line number: the dry run (CLI and web) calls it directly and writes nothing.
* :func:`import_rows` is the admin operation ``user.import`` (registered in
  :mod:`controller.store.admin_ops`): it checks every row first and refuses the whole file if one is bad;
  otherwise it adds all people, draws their PINs and records one ``admin.user_added`` per person
  (``detail.import`` = the batch id) in the caller's session. The one writer commits and seals it: all
  or nothing, like any other admin change.

How the rows reach the daemon: the client (CLI or web) parses the file and sends the rows in the one
``admin`` request. A control request is limited to ``MAX_REQUEST_BYTES`` (64 KiB); the control server
accepts up to ``IMPORT_MAX_REQUEST_BYTES`` for exactly this operation (see
:mod:`controller.control.server`), which holds :data:`MAX_ROWS` rows of :data:`MAX_FILE_BYTES`.
Chunked requests would need the daemon to hold a half-made import between requests (and decide when to
drop it) to stay all-or-nothing; passing a file path would have the daemon open a file named by its
client with its own rights (a confused deputy) and would not work for a web upload. One larger request
keeps one writer, one transaction and the client's own file access.

The result carries the PINs (``codes`` and ``pins`` in row order; names stay with the client, which
has them) and goes only to the requester; a PIN is never logged. The import is built for speed (one
code query, one group query, one digest query, one INSERT per table) because it runs on the door loop.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from controller.core.vocabulary import EventType, PersonStatus
from controller.errors import InvalidInput, PolicyRefused
from controller.i18n import T, Text
from controller.store import audit, models, pins
from controller.store.models import AccessGroup, PinCredential, User
from controller.store.people import AGREEMENT_REQUIRED, next_code
from controller.store.validation import CODE_DIGITS, CODE_PREFIX, check_dates, validate_label, validate_name
from controller.timefmt import iso_utc, utcnow

logger = logging.getLogger(__name__)

#: The columns a file may have, in the order of a row sent to the daemon (after the line number).
COLUMNS = ("name", "group", "valid_from", "valid_until", "agreement_signed_on")
#: Most people in one import (10,000 import in a few seconds; see docs/performance.md "Bulk import").
MAX_ROWS = 20_000
#: Largest file accepted (bytes); its rows fit in ``IMPORT_MAX_REQUEST_BYTES`` of the control server.
MAX_FILE_BYTES = 2 * 1024 * 1024
#: Problems quoted in the refusal of a real import (the dry run lists all of them).
REFUSAL_QUOTES = 5
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True)
class Problem:
    """One bad line: its number in the file (1 = the header) and why."""

    line: int
    reason: Text | str  # a Text: shown in the reader's language

    def __str__(self) -> str:
        return str(T("line {line}: {reason}", line=self.line, reason=self.reason))


@dataclass(frozen=True)
class _Person:
    line: int
    name: str | None
    group: AccessGroup | None
    valid_from: date | None
    valid_until: date | None
    agreement_signed_on: date | None


def parse_csv(text: str) -> tuple[list[list[Any]], list[Problem]]:
    """The rows of a CSV file and its file-level problems (header, number of cells, size).

    A blank line is skipped. Rows are ``[line, name, group, valid_from, valid_until, agreement_signed_on]``
    with ``None`` for an absent column or empty cell.
    """
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        return [], [Problem(0, T("the file is larger than {size} MiB", size=MAX_FILE_BYTES // (1024 * 1024)))]
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        return [], [Problem(1, T("the header is not valid CSV ({reason})", reason=exc))]
    if not header:
        return [], [Problem(1, T("the file needs a header row: {columns}", columns=",".join(COLUMNS)))]
    names = [h.strip().lower() for h in header]
    problems = [Problem(1, T("column {column} appears twice", column=n))
                for n in sorted({n for n in names if names.count(n) > 1})]
    problems += [Problem(1, T("unknown column {column} (columns: {columns})", column=repr(n[:40]),
                              columns=", ".join(COLUMNS)))
                 for n in names if n not in COLUMNS]
    if "name" not in names:
        problems.append(Problem(1, T("the header has no name column")))
    if problems:
        return [], problems
    where = [names.index(c) if c in names else None for c in COLUMNS]
    rows: list[list[Any]] = []
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(Problem(reader.line_num, T("not valid CSV ({reason})", reason=exc)))
            break
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(names):
            problems.append(Problem(reader.line_num, T("{cells} cells where the header has {columns}", cells=len(cells),
                                                         columns=len(names))))
            continue
        rows.append([reader.line_num, *((cells[i].strip() or None) if i is not None else None for i in where)])
        if len(rows) > MAX_ROWS:
            return [], [Problem(reader.line_num, T("more than {max} people in one file; split it", max=MAX_ROWS))]
    return rows, problems


def _day(value: Any, key: str) -> date | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _DAY.fullmatch(value):
        raise InvalidInput(T("{key} must be a date like 2026-03-01", key=key))
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(T("{key} is not a real date", key=key)) from None


def _text(value: Any, refusal: Text) -> str | None:
    if value is not None and not isinstance(value, str):
        raise InvalidInput(refusal)
    return value


def check_rows(session: Session, rows: Any, *, require_agreement: bool,
               today: date) -> tuple[list[_Person], list[Problem]]:
    """Check every row (as :func:`parse_csv` makes them) against the rules and the store; writes nothing.

    Returns the checked people and EVERY problem (line number and reason). Raises :class:`InvalidInput`
    only when ``rows`` is not a list of rows at all.
    """
    if not isinstance(rows, list) or len(rows) > MAX_ROWS:
        raise InvalidInput(T("rows must be a list of at most {max} rows", max=MAX_ROWS))
    groups = {g.name: g for g in session.scalars(select(AccessGroup))}
    people: list[_Person] = []
    problems: list[Problem] = []
    for row in rows:
        if (not isinstance(row, list) or len(row) != 1 + len(COLUMNS) or not isinstance(row[0], int)
                or isinstance(row[0], bool)):
            raise InvalidInput(T("each row is [line, name, group, valid_from, valid_until, agreement_signed_on]"))
        line, name, group, valid_from, valid_until, agreement = row
        try:
            clean_name = validate_name(_text(name, T("the name must be text")))
            group_row = None
            if group is not None:
                label = validate_label(_text(group, T("the group must be text")), "group")
                group_row = groups.get(label)
                if group_row is None:
                    raise InvalidInput(T("no group named {name}", name=repr(label[:40])))
            start, end = _day(valid_from, "valid_from"), _day(valid_until, "valid_until")
            signed = _day(agreement, "agreement_signed_on")
            check_dates(start, end, signed, today)
            if require_agreement and signed is None:
                raise PolicyRefused(AGREEMENT_REQUIRED)
        except (InvalidInput, PolicyRefused) as exc:
            problems.append(Problem(line, _message(exc)))
            continue
        people.append(_Person(line, clean_name, group_row, start, end, signed))
    return people, problems


def _message(exc: Exception) -> Text | str:
    """The refusal's own message: a :class:`Text` stays one, to be shown in the reader's language."""
    message = exc.args[0] if len(exc.args) == 1 else None
    return message if isinstance(message, Text) else str(exc)


def refusal(problems: list[Problem]) -> Text:
    """One message for a refused import: how many lines are bad, the first few (in the current language)."""
    quoted = "; ".join(str(p) for p in problems[:REFUSAL_QUOTES])
    if len(problems) > REFUSAL_QUOTES:
        return T("{count} bad line(s), nothing was imported: {problems} (and {more} more)", count=len(problems),
                 problems=quoted, more=len(problems) - REFUSAL_QUOTES)
    return T("{count} bad line(s), nothing was imported: {problems}", count=len(problems), problems=quoted)


def import_rows(session: Session, pepper: bytes, rows: Any, *, require_agreement: bool, today: date,
                actor: str, pin_length: int) -> dict[str, Any]:
    """Add every person of ``rows`` with a new PIN, or nobody (the caller commits; see the module doc).

    Returns ``{"batch", "codes", "pins", "lines"}`` (lists in row order). Raises :class:`InvalidInput`
    naming the bad lines, or :class:`PolicyRefused` when the PIN keyspace is too small for them all.
    """
    checked, problems = check_rows(session, rows, require_agreement=require_agreement, today=today)
    if problems:
        raise InvalidInput(refusal(problems))
    if not checked:
        raise InvalidInput(T("the file has no people to import"))
    enrolled = int(session.scalar(select(func.count()).select_from(PinCredential)) or 0)
    if not pins.keyspace_allows(pin_length, enrolled + len(checked)):
        raise PolicyRefused(T("{digits}-digit PINs are too few for {count} people (need {per_pin} possible codes "
                              "per PIN); increase pin.length_digits", digits=pin_length,
                              count=enrolled + len(checked), per_pin=pins.CODES_PER_PIN))
    # PINs and duress PINs share the keypad's code space (pins.digest_taken, one probe each; here all at once).
    taken = set(session.scalars(select(PinCredential.digest)))
    taken.update(session.scalars(select(models.DuressCredential.digest)))
    first = int(next_code(session)[len(CODE_PREFIX):])
    batch = secrets.token_hex(4)
    now = iso_utc(utcnow())
    codes: list[str] = []
    digests: list[bytes] = []
    drawn: list[str] = []
    for n in range(len(checked)):
        for _ in range(pins.MAX_DRAWS):
            pin = pins.generate_pin(pin_length)
            digest = pins.pin_digest(pepper, pin)
            if digest not in taken:
                break
        else:
            raise PolicyRefused(T("could not draw a free PIN; increase pin.length_digits"))
        taken.add(digest)
        digests.append(digest)
        drawn.append(pin)
        codes.append(f"{CODE_PREFIX}{first + n:0{CODE_DIGITS}d}")
    # Bulk INSERTs (one statement per table, not an ORM object per row): the import runs on the door loop.
    ids = session.scalars(
        insert(User).returning(User.id, sort_by_parameter_order=True),
        [{"code": code, "display_name": p.name, "status": PersonStatus.ACTIVE.value,
          "group_id": p.group.id if p.group is not None else None, "valid_from": p.valid_from,
          "valid_until": p.valid_until, "agreement_signed_on": p.agreement_signed_on, "extended_unlock": False,
          "created_at": now, "updated_at": now} for code, p in zip(codes, checked)],
    ).all()
    session.execute(insert(PinCredential),
                    [{"user_id": uid, "digest": d, "created_at": now} for uid, d in zip(ids, digests)])
    audit.record_many(session, EventType.ADMIN_USER_ADDED,
                      [(code, _detail(person, batch)) for code, person in zip(codes, checked)], actor=actor)
    logger.info("import %s: %d people added by %s", batch, len(codes), actor)
    return {"batch": batch, "codes": codes, "pins": drawn, "lines": [p.line for p in checked]}


def _detail(person: _Person, batch: str) -> dict[str, Any]:
    """The ``admin.user_added`` detail of :func:`controller.store.people.add_user`, plus the batch id."""
    detail: dict[str, Any] = {"agreement_signed_on": _iso(person.agreement_signed_on), "import": batch}
    if person.group is not None:
        detail["group"] = person.group.name
    if person.valid_from is not None:
        detail["valid_from"] = _iso(person.valid_from)
    if person.valid_until is not None:
        detail["valid_until"] = _iso(person.valid_until)
    return detail


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None
