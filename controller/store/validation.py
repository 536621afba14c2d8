"""The store's input rules for people and their groups (pure): display names, labels, person codes, dates and
door modes, each refused with :class:`~controller.errors.InvalidInput` before anything is written.

Display names are optional, at most :data:`NAME_MAX_LENGTH` characters, and may
not contain control characters (NUL, newlines, ANSI escapes), bidirectional
overrides or angle brackets, so a name can neither forge a log line (T6.11) nor
carry markup (T6.9, T6.14). Messages never quote the refused value.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Any

from controller.errors import InvalidInput
from controller.i18n import T, Text
from controller.store.models import DOOR_MODES

NAME_MAX_LENGTH = 120
LABEL_MAX_LENGTH = 80
CODE_PREFIX = "U"
CODE_DIGITS = 4
#: Codes a site gives out start above this number (U100001 on), so they never meet a controller's own
#: people, whose codes count up from U0001 (docs/site.md "Person codes").
SITE_CODE_FLOOR = 100_000
CODE_PATTERN = re.compile(r"U[0-9]{4,15}")
#: Bidirectional formatting characters that can make displayed text lie about its order.
_BIDI_CONTROLS = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: Unicode categories refused in names and labels: controls, surrogates, private use, line/para separators.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Co", "Zl", "Zp"})


class _Unset:
    """Marker for "argument not given" (``None`` means "clear the value")."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


#: Each kind of free text's refusals, written out whole so each reads naturally in every language.
_TEXT_RULES: dict[str, dict[str, Text]] = {
    "name": {
        "type": T("the name must be text"),
        "long": T("the name is too long (at most {max_length} characters)"),
        "control": T("the name contains a control character (newline, tab, NUL, escape or similar); "
                     "use printable characters only"),
        "angle": T("the name must not contain '<' or '>'"),
    },
    "reason": {
        "type": T("the reason must be text"),
        "long": T("the reason is too long (at most {max_length} characters)"),
        "control": T("the reason contains a control character (newline, tab, NUL, escape or similar); "
                     "use printable characters only"),
        "angle": T("the reason must not contain '<' or '>'"),
    },
    "note": {
        "type": T("the note must be text"),
        "long": T("the note is too long (at most {max_length} characters)"),
        "control": T("the note contains a control character (newline, tab, NUL, escape or similar); "
                     "use printable characters only"),
        "angle": T("the note must not contain '<' or '>'"),
    },
    "group name": {
        "type": T("the group name must be text"),
        "long": T("the group name is too long (at most {max_length} characters)"),
        "control": T("the group name contains a control character (newline, tab, NUL, escape or similar); "
                     "use printable characters only"),
        "angle": T("the group name must not contain '<' or '>'"),
        "empty": T("the group name must not be empty"),
    },
    "escort group name": {
        "type": T("the escort group name must be text"),
        "long": T("the escort group name is too long (at most {max_length} characters)"),
        "control": T("the escort group name contains a control character (newline, tab, NUL, escape or similar); "
                     "use printable characters only"),
        "angle": T("the escort group name must not contain '<' or '>'"),
        "empty": T("the escort group name must not be empty"),
    },
    "schedule name": {
        "type": T("the schedule name must be text"),
        "long": T("the schedule name is too long (at most {max_length} characters)"),
        "control": T("the schedule name contains a control character (newline, tab, NUL, escape or similar); "
                     "use printable characters only"),
        "angle": T("the schedule name must not contain '<' or '>'"),
        "empty": T("the schedule name must not be empty"),
    },
    "holiday name": {
        "type": T("the holiday name must be text"),
        "long": T("the holiday name is too long (at most {max_length} characters)"),
        "control": T("the holiday name contains a control character (newline, tab, NUL, escape or similar); "
                     "use printable characters only"),
        "angle": T("the holiday name must not contain '<' or '>'"),
        "empty": T("the holiday name must not be empty"),
    },
    "value": {
        "type": T("the value must be text"),
        "long": T("the value is too long (at most {max_length} characters)"),
        "control": T("the value contains a control character (newline, tab, NUL, escape or similar); "
                     "use printable characters only"),
        "angle": T("the value must not contain '<' or '>'"),
        "empty": T("the value must not be empty"),
    },
}


def _refusal(what: str, rule: str, **values: Any) -> InvalidInput:
    """The refusal ``rule`` for the free text ``what`` (a key of :data:`_TEXT_RULES`)."""
    rules = _TEXT_RULES.get(what, _TEXT_RULES["value"])  # a kind not listed yet reads as "the value"
    return InvalidInput(Text(rules[rule].msgid, **values))


def _check_text(value: str, *, what: str, max_length: int) -> str:
    """Shared rules for names and labels; returns the stripped text. Messages never quote ``value``."""
    if not isinstance(value, str):
        raise _refusal(what, "type")
    if len(value) > max_length * 4:
        # Refuse huge input before normalising it.
        raise _refusal(what, "long", max_length=max_length)
    text = unicodedata.normalize("NFC", value)
    # Checked before stripping: a leading newline is an attempt to forge a line, not a typo.
    for ch in text:
        if unicodedata.category(ch) in _REFUSED_CATEGORIES or ch in _BIDI_CONTROLS:
            raise _refusal(what, "control")
        if ch in "<>":
            raise _refusal(what, "angle")
    text = text.strip()
    if len(text) > max_length:
        raise _refusal(what, "long", max_length=max_length)
    return text


def validate_name(name: str | None) -> str | None:
    """A display name fit to store: ``None``/blank give ``None``; otherwise stripped, NFC text.

    Raises :class:`InvalidInput` for more than :data:`NAME_MAX_LENGTH` (120)
    characters, any control character, bidi override, or ``<``/``>``.
    """
    if name is None:
        return None
    text = _check_text(name, what="name", max_length=NAME_MAX_LENGTH)
    return text or None


def validate_label(label: str, what: str) -> str:
    """A group, schedule or holiday name: 1..80 printable characters, no ``<``/``>``."""
    text = _check_text(label, what=f"{what} name", max_length=LABEL_MAX_LENGTH)
    if not text:
        raise _refusal(f"{what} name", "empty")
    return text


def validate_code(code: str) -> str:
    """``code`` upper-cased if it looks like a person code (``U`` + 4..15 digits), else :class:`InvalidInput`."""
    text = code.strip().upper() if isinstance(code, str) else ""
    if not CODE_PATTERN.fullmatch(text):
        raise InvalidInput(T("a person code looks like U0042"))
    return text


def check_dates(valid_from: date | None, valid_until: date | None, agreement: date | None, today: date) -> None:
    for value, refusal in ((valid_from, T("the valid-from date must be a date (YYYY-MM-DD)")),
                           (valid_until, T("the valid-until date must be a date (YYYY-MM-DD)")),
                           (agreement, T("the agreement date must be a date (YYYY-MM-DD)"))):
        if value is not None and not isinstance(value, date):
            raise InvalidInput(refusal)
    if valid_from is not None and valid_until is not None and valid_from > valid_until:
        raise InvalidInput(T("the valid-from date must not be after the valid-until date"))
    if agreement is not None and agreement > today:
        raise InvalidInput(T("the agreement date must not be in the future"))


#: The longest reason an admin gives for a lockdown or another door change (characters).
REASON_MAX_LENGTH = 200


def validate_reason(reason: str | None) -> str:
    """The reason an admin gives for a door change (lockdown on/off, ending a lockout): 1..200 printable
    characters, required (the log says why, not only who)."""
    if reason is None:
        raise InvalidInput(T("a reason is required (it goes into the entry log)"))
    text = _check_text(reason, what="reason", max_length=REASON_MAX_LENGTH)
    if not text:
        raise InvalidInput(T("a reason is required (it goes into the entry log)"))
    return text


def check_mode(mode_override: str | None) -> str | None:
    if mode_override is not None and mode_override not in DOOR_MODES:
        raise InvalidInput(T("the door mode must be one of: {modes}", modes=", ".join(DOOR_MODES)))
    return mode_override


def iso_date(d: date | None) -> str | None:
    return d.isoformat() if d is not None else None
