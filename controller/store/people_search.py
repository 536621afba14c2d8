"""People at scale, read side: search as you type, and every person as export rows.

``search`` answers the admin page's search box over any number of people with one small query
with a ``LIMIT``. A term shaped like a code (``U`` and digits: ``U00``, ``u0042``) is a code
prefix, a range on the unique index of ``users.code`` (``code >= 'U00' AND code < 'U01'``;
SQLite would not use that index for a ``LIKE`` prefix, its ``LIKE`` being case-insensitive).
Any other term is a fragment of the name: a plain ``LIKE '%fragment%'`` (case-insensitive for
ASCII, ``%`` ``_`` ``/`` escaped) scanned in id order, which stops at the limit. No B-tree index
can serve a substring: measured at 10,000 people, a scan that finds nothing costs 1-4 ms,
the same with a covering index on the name, so the name has none (``lower(name) LIKE ...``, as
``icontains`` writes it, cost 25 ms: the per-row ``lower()`` is the expensive part).

``iter_export_rows`` yields every person in id order in keyset batches (a fresh query per
batch, nothing kept), so an export's memory stays flat for any number of people.
Names appear in both: only admin views may call them (auditors never see names).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import Select, exists, func, select
from sqlalchemy.orm import Session

from controller.store.models import AccessGroup, FingerCredential, PinCredential, User

logger = logging.getLogger(__name__)

#: People a search returns at most (default ``limit`` of :func:`search`).
SEARCH_LIMIT = 20
#: Rows fetched per query of :func:`iter_export_rows`.
EXPORT_BATCH = 500
#: Columns of the people export, in order.
EXPORT_COLUMNS = (
    "code", "name", "status", "group", "valid_from", "valid_until", "agreement_signed_on", "mode_override",
    "extended_unlock", "pin", "fingers", "created_at", "updated_at",
)

#: A term searched as a code prefix: ``U`` and 1 to 15 digits (any other term is a name fragment).
_CODE_PREFIX = re.compile(r"U\d{1,15}")


@dataclass(frozen=True)
class PersonHit:
    """One search result: the person's code, name (``None`` if none given) and status."""

    code: str
    name: str | None
    status: str


_COLUMNS = (User.code, User.display_name, User.status)


def code_prefix_query(prefix: str, limit: int) -> Select[tuple[str, str | None, str]]:
    """People whose code starts with ``prefix`` (upper case, not empty), in code order: a range on the code index."""
    high = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return select(*_COLUMNS).where(User.code >= prefix, User.code < high).order_by(User.code).limit(limit)


def name_fragment_query(fragment: str, limit: int) -> Select[tuple[str, str | None, str]]:
    """People whose name contains ``fragment`` (ASCII case ignored, wildcards literal), in id order."""
    escaped = fragment.replace("/", "//").replace("%", "/%").replace("_", "/_")
    return select(*_COLUMNS).where(User.display_name.like(f"%{escaped}%", escape="/")).order_by(User.id).limit(limit)


def search(session: Session, term: str, *, limit: int = SEARCH_LIMIT) -> list[PersonHit]:
    """People whose code starts with ``term`` (a code-shaped term, in code order), else whose name contains it.

    :param term: what was typed, stripped here; an empty term finds nobody.
    :param limit: most people returned (default :data:`SEARCH_LIMIT`); ask for one more to
        know whether there are more.
    """
    term = term.strip()
    if not term or limit < 1:
        return []
    prefix = term.upper()
    if _CODE_PREFIX.fullmatch(prefix):
        stmt = code_prefix_query(prefix, limit)
    else:
        stmt = name_fragment_query(term, limit)
    return [PersonHit(*row) for row in session.execute(stmt)]


def iter_export_rows(session: Session, *, batch_size: int = EXPORT_BATCH) -> Iterator[tuple[object, ...]]:
    """Every person as a tuple of :data:`EXPORT_COLUMNS` values, in id order, ``batch_size`` per query.

    ``pin`` is ``"yes"``/``"no"``, ``fingers`` the number of enrolled fingers, dates are
    ``YYYY-MM-DD`` and ``extended_unlock`` is ``"yes"``/``"no"``.
    """
    fingers = (
        select(func.count(FingerCredential.id)).where(FingerCredential.user_id == User.id).scalar_subquery()
    )
    has_pin = exists().where(PinCredential.user_id == User.id)
    stmt = (
        select(
            User.id, User.code, User.display_name, User.status, AccessGroup.name, User.valid_from,
            User.valid_until, User.agreement_signed_on, User.mode_override, User.extended_unlock, has_pin,
            fingers, User.created_at, User.updated_at,
        )
        .outerjoin(AccessGroup, User.group_id == AccessGroup.id)
        .order_by(User.id)
    )
    last_id = 0
    while True:
        batch = session.execute(stmt.where(User.id > last_id).limit(batch_size)).all()
        for row in batch:
            (code, name, status, group, valid_from, valid_until, agreement, mode, extended, pin, n_fingers,
             created, updated) = row[1:]
            yield (
                code, name, status, group, _iso(valid_from), _iso(valid_until), _iso(agreement), mode,
                "yes" if extended else "no", "yes" if pin else "no", int(n_fingers or 0), created, updated,
            )
        if len(batch) < batch_size:
            return
        last_id = batch[-1][0]


def _iso(day: object) -> str | None:
    return day.isoformat() if day is not None else None  # type: ignore[attr-defined]
