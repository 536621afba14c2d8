"""Form field parsing for the admin web: every value checked, with one clear message per problem.

Views call these helpers on ``request.form``/``request.args``; a bad value raises
:class:`FormError` naming the field, the view re-renders the form with the message
(status 400) and stores nothing. Single-line text refuses control characters
(newlines, ANSI escapes, NUL), so a name can never forge a log line (T6.11).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from controller.errors import InvalidInput

logger = logging.getLogger(__name__)

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
USER_CODE = re.compile(r"U\d{4,15}")


class FormError(InvalidInput):
    """A form value is not acceptable; ``field`` names it and the message is for a person."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def text(
    form: Mapping[str, str], name: str, label: str, *, max_length: int, required: bool = False
) -> str | None:
    """One line of text, stripped; ``None`` when empty and not required."""
    raw = form.get(name, "")
    value = raw.strip()
    if not value:
        if required:
            raise FormError(name, f"{label} is required.")
        return None
    if len(value) > max_length:
        raise FormError(name, f"{label} is too long: at most {max_length} characters (got {len(value)}).")
    if _CONTROL.search(value):
        raise FormError(name, f"{label} must be one line without control characters.")
    return value


def choice(form: Mapping[str, str], name: str, label: str, choices: Iterable[str], *, default: str | None = None) -> str | None:
    """A value from ``choices``; empty gives ``default``."""
    value = form.get(name, "").strip()
    if not value:
        return default
    allowed = list(choices)
    if value not in allowed:
        raise FormError(name, f"{label} must be one of: {', '.join(allowed)}.")
    return value


def day(form: Mapping[str, str], name: str, label: str, *, required: bool = False) -> date | None:
    """A ``YYYY-MM-DD`` date."""
    value = form.get(name, "").strip()
    if not value:
        if required:
            raise FormError(name, f"{label} is required.")
        return None
    try:
        if len(value) != 10:
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise FormError(name, f"{label} must be a date like 2026-03-31.") from None


def integer(form: Mapping[str, str], name: str, label: str, *, minimum: int, maximum: int, required: bool = False) -> int | None:
    """A decimal integer within ``minimum``..``maximum``."""
    value = form.get(name, "").strip()
    if not value:
        if required:
            raise FormError(name, f"{label} is required.")
        return None
    if not re.fullmatch(r"-?\d{1,12}", value):
        raise FormError(name, f"{label} must be a whole number.")
    number = int(value)
    if not minimum <= number <= maximum:
        raise FormError(name, f"{label} must be between {minimum} and {maximum}.")
    return number


def minute_of_day(form: Mapping[str, str], name: str, label: str, *, allow_24: bool = False) -> int:
    """A ``HH:MM`` time as minutes since midnight; ``24:00`` only when ``allow_24`` (an end time)."""
    value = form.get(name, "").strip()
    if allow_24 and value == "24:00":
        return 1440
    try:
        if not re.fullmatch(r"\d{2}:\d{2}", value):
            raise ValueError
        t = time.fromisoformat(value)
    except ValueError:
        raise FormError(name, f"{label} must be a time like 08:30{' (or 24:00)' if allow_24 else ''}.") from None
    return t.hour * 60 + t.minute


def checkbox(form: Mapping[str, str], name: str) -> bool:
    """True when the checkbox was ticked."""
    return form.get(name) in ("on", "1", "true", "yes")


#: Range of dates a ``datetime-local`` filter accepts: no door event predates 1970, and the upper
#: bound leaves a day of margin so converting to UTC cannot leave ``datetime``'s range (year 9999).
LOCAL_DATETIME_MIN = datetime(1970, 1, 1)
LOCAL_DATETIME_MAX = datetime(9999, 12, 30, 23, 59, 59)


def local_datetime(form: Mapping[str, str], name: str, label: str, tz: ZoneInfo) -> datetime | None:
    """A ``YYYY-MM-DDTHH:MM`` (``datetime-local``) or ``YYYY-MM-DD`` value in the site time zone, as aware UTC.

    Dates outside :data:`LOCAL_DATETIME_MIN`..:data:`LOCAL_DATETIME_MAX` are refused with a
    :class:`FormError` (``0001-01-01`` cannot be converted to UTC nor stored as fixed-width text).
    """
    value = form.get(name, "").strip()
    if not value:
        return None
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            naive = datetime.combine(date.fromisoformat(value), time())
        elif re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?", value):
            naive = datetime.fromisoformat(value.replace(" ", "T"))
        else:
            raise ValueError
    except ValueError:
        raise FormError(name, f"{label} must be a date and time like 2026-03-31T08:00.") from None
    if not LOCAL_DATETIME_MIN <= naive <= LOCAL_DATETIME_MAX:
        raise FormError(
            name, f"{label} must be between {LOCAL_DATETIME_MIN:%Y-%m-%d} and {LOCAL_DATETIME_MAX:%Y-%m-%d}."
        )
    return naive.replace(tzinfo=tz).astimezone(ZoneInfo("UTC"))


def user_code(value: str, label: str = "Person code", name: str = "user") -> str:
    """A person's code ``U`` + 4 to 15 digits."""
    value = value.strip().upper()
    if not USER_CODE.fullmatch(value):
        raise FormError(name, f"{label} must look like U0042.")
    return value


def sentence(text: str) -> str:
    """``text`` with a capital first letter and a full stop (service messages are lower-case clauses)."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."
