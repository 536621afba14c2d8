"""The site feed's rows, checked (pure): what :mod:`controller.store.site_apply` may apply to the door database.

A batch is what the site link fetched (docs/site.md "The controller's link"): feed rows of this controller in
revision order, each ``{"revision": int, "op": str, "key": str, "payload": {...}}`` as the site wrote it
(docs/site.md "Feed"), and the revision the link read up to. Every row is checked before anything is written:
one malformed row refuses the whole batch with :class:`~controller.errors.InvalidInput` naming its revision,
so a bad feed changes nothing and the link keeps retrying (and says why in ``kunci status``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from controller.core.vocabulary import PersonKind, PersonStatus
from controller.errors import InvalidInput
from controller.i18n import T, Text
from controller.store.models import DOOR_MODES
from controller.store.validation import CODE_PATTERN, LABEL_MAX_LENGTH

__all__ = ["FeedRow", "MAX_BATCH_ROWS", "OPS", "parse_batch"]

#: Most rows one batch may hold (the link fetches at most this many at a time).
MAX_BATCH_ROWS = 5000
#: A door name as the configuration allows it (C1).
DOOR_NAME = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
_HEX_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_STATUSES = frozenset(s.value for s in PersonStatus)
_KINDS = frozenset(k.value for k in PersonKind)


@dataclass(frozen=True)
class FeedRow:
    """One checked feed row: ``value`` is the payload as the store writes it (dates, bytes, tuples)."""

    revision: int
    op: str
    key: str
    value: Mapping[str, Any]


def _bad(revision: Any, problem: Text) -> InvalidInput:
    return InvalidInput(T("site feed row {revision}: {problem}", revision=revision, problem=problem))


def _text(payload: Mapping[str, Any], field: str, *, optional: bool = False, most: int = LABEL_MAX_LENGTH) -> Any:
    value = payload.get(field)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= most or not value.isprintable():
        raise ValueError(field)
    return value


def _day(payload: Mapping[str, Any], field: str) -> date | None:
    value = payload.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(field)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(field) from None


def _flag(payload: Mapping[str, Any], field: str) -> bool:
    value = payload.get(field, False)
    if not isinstance(value, bool):
        raise ValueError(field)
    return value


def _person(key: str, p: Mapping[str, Any]) -> dict[str, Any]:
    if p.get("code") != key:
        raise ValueError("code")
    if p.get("status") not in _STATUSES:
        raise ValueError("status")
    if p.get("kind", PersonKind.STAFF.value) not in _KINDS:
        raise ValueError("kind")
    valid_from, valid_until = _day(p, "valid_from"), _day(p, "valid_until")
    if valid_from and valid_until and valid_from > valid_until:
        raise ValueError("valid_until")
    digest = p.get("pin_digest")
    if digest is not None and (not isinstance(digest, str) or not _HEX_DIGEST.match(digest)):
        raise ValueError("pin_digest")
    # A site person reaches a controller only through a group granting one of its doors; without a group a local
    # person may use every door, so a site row without one is refused rather than opening everything.
    return {"status": p["status"], "kind": p.get("kind", PersonKind.STAFF.value), "valid_from": valid_from,
            "valid_until": valid_until, "group": _text(p, "group"),
            "pin_digest": bytes.fromhex(digest) if digest else None}


def _group(key: str, p: Mapping[str, Any]) -> dict[str, Any]:
    if _text(p, "name") != key:
        raise ValueError("name")
    mode = p.get("required_mode")
    if mode is not None and mode not in DOOR_MODES:
        raise ValueError("required_mode")
    doors = p.get("doors")
    if not isinstance(doors, list) or not all(isinstance(d, str) and DOOR_NAME.match(d) for d in doors):
        raise ValueError("doors")
    return {"schedule": _text(p, "schedule", optional=True), "required_mode": mode,
            "two_person": _flag(p, "two_person"), "doors": tuple(dict.fromkeys(doors))}


def _schedule(key: str, p: Mapping[str, Any]) -> dict[str, Any]:
    if _text(p, "name") != key:
        raise ValueError("name")
    windows = p.get("windows")
    if not isinstance(windows, list):
        raise ValueError("windows")
    checked = []
    for window in windows:
        if (not isinstance(window, list) or len(window) != 3
                or not all(isinstance(n, int) and not isinstance(n, bool) for n in window)):
            raise ValueError("windows")
        weekday, start, end = window
        if not (0 <= weekday <= 6 and 0 <= start < end <= 1440):
            raise ValueError("windows")
        checked.append((weekday, start, end))
    return {"allow_on_holidays": _flag(p, "allow_on_holidays"), "windows": tuple(checked)}


def _holiday(key: str, p: Mapping[str, Any]) -> dict[str, Any]:
    if p.get("day") != key:
        raise ValueError("day")
    return {"day": _day(p, "day")}


def _door(key: str, p: Mapping[str, Any]) -> dict[str, Any]:
    if p.get("name") != key:
        raise ValueError("name")
    mode = p.get("mode")
    if mode is not None and (not isinstance(mode, str) or len(mode) > 16):
        raise ValueError("mode")
    return {"mode": mode if mode in DOOR_MODES else None}  # anything else: the site sets no mode of its own


def _code_key(key: str) -> None:
    if len(key) > 16 or not CODE_PATTERN.fullmatch(key):
        raise ValueError("key")


def _label_key(key: str) -> None:
    if not 1 <= len(key) <= LABEL_MAX_LENGTH or not key.isprintable():
        raise ValueError("key")


def _day_key(key: str) -> None:
    _day({"key": key}, "key")


def _door_key(key: str) -> None:
    if not DOOR_NAME.match(key):
        raise ValueError("key")


#: Each op: the check of its key and of its payload (None: a removal, whose payload is ignored).
OPS: dict[str, tuple[Callable[[str], None], Callable[[str, Mapping[str, Any]], dict[str, Any]] | None]] = {
    "person": (_code_key, _person), "person.remove": (_code_key, None),
    "group": (_label_key, _group), "group.remove": (_label_key, None),
    "schedule": (_label_key, _schedule), "schedule.remove": (_label_key, None),
    "holiday": (_day_key, _holiday), "holiday.remove": (_day_key, None),
    "door": (_door_key, _door),
}


def _row(raw: Any, after: int) -> FeedRow:
    if not isinstance(raw, Mapping):
        raise _bad("?", T("a feed row is a JSON object"))
    revision = raw.get("revision")
    if not isinstance(revision, int) or isinstance(revision, bool) or revision < 1:
        raise _bad("?", T("its revision is not a positive whole number"))
    if revision <= after:
        raise _bad(revision, T("revisions must increase within a batch"))
    op, key, payload = raw.get("op"), raw.get("key"), raw.get("payload")
    if op not in OPS:
        raise _bad(revision, T("unknown operation {op}", op=repr(str(op)[:40])))
    if not isinstance(key, str) or not isinstance(payload, Mapping):
        raise _bad(revision, T("its key must be text and its payload a JSON object"))
    check_key, check_payload = OPS[op]
    try:
        check_key(key)
        value = check_payload(key, payload) if check_payload is not None else {}
    except ValueError as exc:
        field = str(exc.args[0]) if exc.args else "payload"
        raise _bad(revision, T("{op} {key}: bad {field}", op=op, key=repr(key[:40]), field=field)) from None
    return FeedRow(revision, op, key, value)


def parse_batch(rows: Any, revision: Any) -> tuple[list[FeedRow], int]:
    """Check a fetched batch: ``rows`` (a list of raw feed rows in revision order) and ``revision`` (the feed
    revision the link read up to: at least the last row's). Returns the checked rows and the revision.

    Raises :class:`InvalidInput` naming the first bad row (nothing is applied then).
    """
    if not isinstance(rows, list) or len(rows) > MAX_BATCH_ROWS:
        raise InvalidInput(T("a site feed batch is a list of at most {most} rows", most=MAX_BATCH_ROWS))
    checked: list[FeedRow] = []
    for raw in rows:
        checked.append(_row(raw, checked[-1].revision if checked else 0))
    if not isinstance(revision, int) or isinstance(revision, bool) or revision < 0 \
            or (checked and revision < checked[-1].revision):
        raise InvalidInput(T("a site feed batch's revision must be a whole number, at least its last row's"))
    return checked, revision
