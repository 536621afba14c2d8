"""UTC timestamps as fixed-width ISO 8601 text (docs/internals.md "Time").

Every stored time is UTC text ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (27 characters), so
text order equals time order in the database and in exports.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone, tzinfo

logger = logging.getLogger(__name__)

#: Length of every timestamp produced by :func:`iso_utc`.
ISO_UTC_LENGTH = 27

_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def utcnow() -> datetime:
    """The current time as an aware ``datetime`` in UTC."""
    return datetime.now(timezone.utc)


def iso_utc(dt: datetime) -> str:
    """Format ``dt`` as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``.

    ``dt`` must be timezone-aware (it is converted to UTC); a naive datetime is
    refused with ``ValueError`` because its meaning is ambiguous. Years before 1000
    are refused too, as they would break the fixed width.
    """
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("naive datetime: give a timezone-aware datetime")
    utc = dt.astimezone(timezone.utc)
    if utc.year < 1000:
        raise ValueError("year before 1000 cannot be stored in fixed-width form")
    return utc.strftime(_FORMAT)


def parse_iso_utc(s: str) -> datetime:
    """Parse text written by :func:`iso_utc` back into an aware UTC ``datetime``.

    Also accepts any ISO 8601 text with an explicit offset (``+00:00``, ``+07:00``),
    converting it to UTC. Text without an offset is refused with ``ValueError``.
    """
    text = s.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("timestamp has no UTC offset")
    return dt.astimezone(timezone.utc)


def local_text(value: str | None, zone: tzinfo, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """A stored UTC instant (ISO text) as ``fmt`` in ``zone`` (the site's time zone: what the CLI's tables and
    the admin page show; exports and JSON stay UTC). ``""`` for None; text that is not an instant unchanged."""
    if not value:
        return ""
    try:
        return parse_iso_utc(value).astimezone(zone).strftime(fmt)
    except ValueError:
        return value
