"""WTForms fields for the admin web: each parses one submitted value and says clearly what is wrong.

Every field strips the submitted text; an empty value is ``None`` (or the field's default)
unless the field is ``required``, which gives "<label> is required.". The value is parsed in
``pre_validate``, so ``field.data`` holds the parsed value (a ``date``, an ``int``, ...) once
the form validated, and a bad value stops that field with one message naming its label.
Single-line text refuses control characters (newlines, ANSI escapes, NUL), so a name can
never forge a log line (T6.11).

Labels are given as ``lazy_gettext("Name")`` (forms are built at import time) and every message is
formatted when the form validates, with Flask-Babel's ``gettext``, so it reads in the request's language.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from flask_babel.speaklater import LazyString
from wtforms import Field
from wtforms.validators import StopValidation
from wtforms.widgets import CheckboxInput, PasswordInput, TextInput

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
USER_CODE = re.compile(r"U\d{4,15}")
#: A field's label or message: text, or words translated when shown (``lazy_gettext``).
Words = str | LazyString

#: Range of dates a ``datetime-local`` filter accepts: no door event predates 1970, and the upper
#: bound leaves a day of margin so converting to UTC cannot leave ``datetime``'s range (year 9999).
LOCAL_DATETIME_MIN = datetime(1970, 1, 1)
LOCAL_DATETIME_MAX = datetime(9999, 12, 30, 23, 59, 59)


class Value(Field):
    """A stripped text value parsed by :meth:`parse`; ``None`` (or ``default``) when empty.

    :param label: the field's name for a person, used in every message.
    :param required: refuse an empty value ("<label> is required.").
    :param default: the value of an empty, not required field (default ``None``).
    """

    widget = TextInput()

    def __init__(self, label: Words, *, required: bool = False, default: Any = None, **kwargs: Any) -> None:
        super().__init__(label, default=default, **kwargs)
        self.required = required
        self.text = ""

    def process_formdata(self, valuelist: list[str]) -> None:
        self.text = valuelist[0].strip() if valuelist else ""

    def _value(self) -> str:
        return self.text

    def pre_validate(self, form: Any) -> None:
        if not self.text:
            if self.required:
                raise StopValidation(_("%(label)s is required.", label=self.label.text))
            raise StopValidation()  # empty and optional: nothing to check
        try:
            self.data = self.parse(self.text, form)
        except ValueError as exc:
            raise StopValidation(str(exc)) from None

    def parse(self, text: str, form: Any) -> Any:
        """The value of ``text`` (not empty); ``ValueError`` with the message for a person."""
        return text


class Text(Value):
    """One line of text, at most ``max_length`` characters, no control characters."""

    def __init__(self, label: Words, *, max_length: int, **kwargs: Any) -> None:
        super().__init__(label, **kwargs)
        self.max_length = max_length

    def parse(self, text: str, form: Any) -> str:
        if len(text) > self.max_length:
            raise ValueError(_("%(label)s is too long: at most %(maximum)s characters (got %(length)s).",
                               label=self.label.text, maximum=self.max_length, length=len(text)))
        if _CONTROL.search(text):
            raise ValueError(_("%(label)s must be one line without control characters.", label=self.label.text))
        return text


class Choice(Value):
    """A value from ``choices`` (a sequence, or a callable giving one, read when the form validates)."""

    def __init__(self, label: Words, choices: Iterable[str] | Callable[[], Iterable[str]] = (), **kwargs: Any) -> None:
        super().__init__(label, **kwargs)
        self.choices = choices

    def parse(self, text: str, form: Any) -> str:
        allowed = list(self.choices() if callable(self.choices) else self.choices)
        if text not in allowed:
            raise ValueError(_("%(label)s must be one of: %(choices)s.", label=self.label.text, choices=", ".join(allowed)))
        return text


class Day(Value):
    """A ``YYYY-MM-DD`` date."""

    def parse(self, text: str, form: Any) -> date:
        try:
            if len(text) != 10:
                raise ValueError
            return date.fromisoformat(text)
        except ValueError:
            raise ValueError(_("%(label)s must be a date like 2026-03-31.", label=self.label.text)) from None


class WholeNumber(Value):
    """A decimal integer within ``minimum``..``maximum``."""

    def __init__(self, label: Words, *, minimum: int, maximum: int, **kwargs: Any) -> None:
        super().__init__(label, **kwargs)
        self.minimum, self.maximum = minimum, maximum

    def parse(self, text: str, form: Any) -> int:
        if not re.fullmatch(r"-?\d{1,19}", text):
            raise ValueError(_("%(label)s must be a whole number.", label=self.label.text))
        number = int(text)
        if not self.minimum <= number <= self.maximum:
            raise ValueError(_("%(label)s must be between %(minimum)s and %(maximum)s.", label=self.label.text,
                               minimum=self.minimum, maximum=self.maximum))
        return number


class TimeOfDay(Value):
    """A ``HH:MM`` time as minutes since midnight; ``24:00`` (1440) only with ``allow_24`` (an end time)."""

    def __init__(self, label: Words, *, allow_24: bool = False, **kwargs: Any) -> None:
        super().__init__(label, **kwargs)
        self.allow_24 = allow_24

    def parse(self, text: str, form: Any) -> int:
        if self.allow_24 and text == "24:00":
            return 1440
        try:
            if not re.fullmatch(r"\d{2}:\d{2}", text):
                raise ValueError
            t = time.fromisoformat(text)
        except ValueError:
            raise ValueError(time_message(self.label.text, allow_24=self.allow_24)) from None
        return t.hour * 60 + t.minute


def time_message(label: Any, *, allow_24: bool = False) -> str:
    """"<label> must be a time like 08:30." (with "(or 24:00)" for an end time), in the request's language."""
    if allow_24:
        return _("%(label)s must be a time like 08:30 (or 24:00).", label=label)
    return _("%(label)s must be a time like 08:30.", label=label)


class LocalDateTime(Value):
    """A ``YYYY-MM-DDTHH:MM`` (``datetime-local``) or ``YYYY-MM-DD`` value in the form's ``tz``, as aware UTC.

    Dates outside :data:`LOCAL_DATETIME_MIN`..:data:`LOCAL_DATETIME_MAX` are refused
    (``0001-01-01`` cannot be converted to UTC nor stored as fixed-width text).
    """

    def parse(self, text: str, form: Any) -> datetime:
        return local_datetime(text, self.label.text, form.tz)


def local_datetime(text: str, label: str, tz: ZoneInfo) -> datetime:
    """``text`` (see :class:`LocalDateTime`) in ``tz`` as aware UTC; ``ValueError`` naming ``label``."""
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            naive = datetime.combine(date.fromisoformat(text), time())
        elif re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?", text):
            naive = datetime.fromisoformat(text.replace(" ", "T"))
        else:
            raise ValueError
    except ValueError:
        raise ValueError(_("%(label)s must be a date and time like 2026-03-31T08:00.", label=label)) from None
    if not LOCAL_DATETIME_MIN <= naive <= LOCAL_DATETIME_MAX:
        raise ValueError(_("%(label)s must be between %(minimum)s and %(maximum)s.", label=label,
                           minimum=LOCAL_DATETIME_MIN.date().isoformat(), maximum=LOCAL_DATETIME_MAX.date().isoformat()))
    return naive.replace(tzinfo=tz).astimezone(ZoneInfo("UTC"))


class UserCode(Value):
    """A person's code, ``U`` + 4 to 15 digits (lower case accepted)."""

    def parse(self, text: str, form: Any) -> str:
        code = text.upper()
        if not USER_CODE.fullmatch(code):
            raise ValueError(_("%(label)s must look like U0042.", label=self.label.text))
        return code


class Token(Value):
    """A filter word: lower-case letters, digits and ``. _ + * -``, up to 64 characters."""

    _PATTERN = re.compile(r"[a-z0-9_.+*-]{1,64}")

    def parse(self, text: str, form: Any) -> str:
        if not self._PATTERN.fullmatch(text):
            raise ValueError(_("%(label)s may only contain lower-case letters, digits and . _ + * - (up to 64).",
                               label=self.label.text))
        return text


class Tick(Field):
    """A checkbox: ``True`` when ticked (``on``, ``1``, ``true`` or ``yes``)."""

    widget = CheckboxInput()

    def __init__(self, label: Words, **kwargs: Any) -> None:
        super().__init__(label, default=False, **kwargs)

    def process_formdata(self, valuelist: list[str]) -> None:
        self.data = bool(valuelist) and valuelist[0] in ("on", "1", "true", "yes")


class Raw(Field):
    """Text exactly as typed (not stripped; ``""`` when missing), checked by the service it goes to."""

    widget = TextInput()

    def __init__(self, label: Words, **kwargs: Any) -> None:
        super().__init__(label, default="", **kwargs)

    def process_formdata(self, valuelist: list[str]) -> None:
        self.data = valuelist[0] if valuelist else ""


class Password(Raw):
    """A password exactly as typed (never shown again)."""

    widget = PasswordInput()


class Pattern(Value):
    """A value matching ``pattern`` in full; ``message`` (naming the rule) when it is empty or does not match."""

    def __init__(self, label: Words, pattern: str, message: Words, **kwargs: Any) -> None:
        super().__init__(label, **kwargs)
        self.pattern, self.message = re.compile(pattern), message

    def pre_validate(self, form: Any) -> None:
        if not self.text and self.required:
            raise StopValidation(str(self.message))
        super().pre_validate(form)

    def parse(self, text: str, form: Any) -> str:
        if not self.pattern.fullmatch(text):
            raise ValueError(str(self.message))
        return text
