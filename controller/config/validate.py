"""Validation of the configuration tables read from ``DATA/kunci.toml``.

The schema lives in :mod:`controller.config` (frozen dataclasses whose fields carry a
:class:`Spec` in their metadata). This module knows how to check one raw TOML table
against such a dataclass (:func:`convert_section`) and how to check the rules that
span keys (:func:`check_cross`: GPIO pin clashes, the keypad grid, the PIN keyspace,
limits that must be ordered). Every check appends one line per problem to a list (a
:class:`~controller.i18n.Text`, shown in the reader's language; key names stay as they are),
so the caller can report all of them at once; nothing here raises for a bad value.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import difflib
import json
import math
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from controller.i18n import T, Text
from drivers.keys import KEYS_TEXT, VALID_KEYS

#: A field check: ``check(key, value)`` returns one full line per problem (empty = fine).
Check = Callable[[str, Any], list[Text]]

#: Lowest and highest BCM GPIO numbers on a Raspberry Pi header.
BCM_MIN, BCM_MAX = 0, 27
#: The value that means "this input/output is not fitted".
NOT_FITTED = -1
#: The PIN keyspace rule: at least this many possible codes per enrolled person
#: (docs/security.md "PIN keyspace, honestly").
MIN_CODES_PER_USER = 1000
#: Baud rates the sensor library accepts: multiples of this step within the bounds.
BAUD_STEP, BAUD_MIN, BAUD_MAX = 9600, 9600, 115200


@dataclass(frozen=True)
class Spec:
    """What a config field means and which values it accepts (kept in the field's metadata).

    ``doc`` is one sentence for people; ``unit`` the unit of the value ("" when it is a
    count, a name or a flag); ``min``/``max`` bound a number (inclusive); ``choices`` lists
    the only accepted values; ``check`` is an extra rule and ``rule`` describes it for the docs.
    """

    doc: str
    unit: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] | None = None
    check: Check | None = None
    rule: str = ""


def spec_of(f: dataclasses.Field[Any]) -> Spec:
    """The :class:`Spec` attached to a config dataclass field."""
    return f.metadata["spec"]


# --- rendering values the way TOML writes them --------------------------------------------------


def toml_value(value: Any) -> str:
    """``value`` written as a TOML value (``true``, ``5.0``, ``"text"``, ``[1, 2]``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def _toml_type(value: Any) -> str:
    if isinstance(value, bool):
        return str(T("a boolean"))
    if isinstance(value, int):
        return str(T("an integer"))
    if isinstance(value, float):
        return str(T("a float"))
    if isinstance(value, str):
        return str(T("a string"))
    if isinstance(value, list):
        return str(T("an array"))
    if isinstance(value, Mapping):
        return str(T("a table"))
    if isinstance(value, (_dt.date, _dt.time)):
        return str(T("a date/time"))
    return type(value).__name__


def _got(value: Any) -> str:
    if isinstance(value, Mapping):
        return str(T("a table"))
    text = toml_value(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{text} ({_toml_type(value)})"


# --- types ----------------------------------------------------------------------------------------

_SINGULAR = {bool: T("true or false"), int: T("an integer"), float: T("a number"), str: T("a string")}
_PLURAL = {bool: T("booleans"), int: T("integers"), float: T("numbers"), str: T("strings")}


def type_text(tp: Any) -> str:
    """Short name of a field type for the docs: ``int``, ``list of int``, ``list of list of string``."""
    if typing.get_origin(tp) is tuple:
        return "list of " + type_text(typing.get_args(tp)[0])
    return {bool: "bool", int: "int", float: "float", str: "string"}[tp]


def _expected(tp: Any, plural: bool = False) -> str:
    if typing.get_origin(tp) is tuple:
        items = _expected(typing.get_args(tp)[0], plural=True)
        return str(T("lists of {items}", items=items) if plural else T("a list of {items}", items=items))
    return str(_PLURAL[tp] if plural else _SINGULAR[tp])


def _convert(key: str, value: Any, tp: Any, errors: list[Text]) -> Any:
    """``value`` as type ``tp`` (lists become tuples, ints become floats), else an error and None."""
    ok: bool
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and not math.isfinite(value):
            # TOML allows nan and inf; every comparison with nan is false, so no range check would catch it.
            errors.append(T("{key}: {value} is not a finite number", key=key, value=toml_value(value)))
            return None
        if ok:
            return float(value)
    elif tp is str:
        ok = isinstance(value, str)
    elif typing.get_origin(tp) is tuple:
        if not isinstance(value, list):
            errors.append(T("{key}: expected {expected}, got {got}", key=key, expected=_expected(tp), got=_got(value)))
            return None
        inner = typing.get_args(tp)[0]
        before = len(errors)
        items = tuple(_convert(f"{key}[{i}]", v, inner, errors) for i, v in enumerate(value))
        return items if len(errors) == before else None
    else:  # pragma: no cover - the schema only uses the types above
        raise TypeError(f"unsupported config type {tp!r}")
    if not ok:
        errors.append(T("{key}: expected {expected}, got {got}", key=key, expected=_expected(tp), got=_got(value)))
        return None
    return value


def _check_value(key: str, value: Any, spec: Spec) -> list[Text]:
    """Range, choice and custom-rule problems of an already typed value."""
    problems: list[Text] = []
    shown = toml_value(value)
    if spec.choices is not None and value not in spec.choices:
        options = ", ".join(toml_value(c) for c in spec.choices)
        problems.append(T("{key}: {value} is not one of {options}", key=key, value=shown, options=options))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if spec.min is not None and value < spec.min:
            problems.append(T("{key}: {value} is below the minimum {minimum}", key=key, value=shown,
                              minimum=toml_value(spec.min)))
        if spec.max is not None and value > spec.max:
            problems.append(T("{key}: {value} is above the maximum {maximum}", key=key, value=shown,
                              maximum=toml_value(spec.max)))
    if spec.check is not None:
        problems.extend(spec.check(key, value))
    return problems


def unknown_key(key: str, known: Iterable[str]) -> Text:
    """The line for a key the schema does not have, with a suggestion when one is close."""
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.75)
    return T("unknown key {key} (did you mean {close}?)", key=key, close=close[0]) if close else T("unknown key {key}",
                                                                                                   key=key)


def convert_section(
    cls: type, prefix: str, table: Mapping[str, Any], errors: list[Text], bad: set[str]
) -> dict[str, Any]:
    """Typed values for dataclass ``cls`` from one TOML ``table``.

    ``prefix`` is the section name (``"door"``) used to name keys in messages. Keys the
    table leaves out take the dataclass default. A key with a problem appends its line(s)
    to ``errors``, is added to ``bad`` (as ``"door.unlock_seconds"``) and keeps its default,
    so later cross-key checks can skip it instead of reporting a follow-on error.
    """
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for name, raw in table.items():
        key = f"{prefix}.{name}" if prefix else name
        f = fields.get(name)
        if f is None:
            errors.append(unknown_key(key, (f"{prefix}.{n}" if prefix else n for n in fields)))
            continue
        before = len(errors)
        value = _convert(key, raw, hints[name], errors)
        if len(errors) == before:
            errors.extend(_check_value(key, value, spec_of(f)))
        if len(errors) == before:
            values[name] = value
        else:
            bad.add(key)
    return values


# --- field rules (used by the schema in controller.config) ---------------------------------------


def bcm_pin(*, allow_not_fitted: bool) -> Check:
    """Check one BCM pin number or a list of them; ``-1`` (not fitted) only when allowed."""

    def check(key: str, value: Any) -> list[Text]:
        pins = [(f"{key}[{i}]", p) for i, p in enumerate(value)] if isinstance(value, tuple) else [(key, value)]
        problems = []
        for name, pin in pins:
            if pin == NOT_FITTED and allow_not_fitted:
                continue
            if pin == NOT_FITTED:
                problems.append(T("{key}: -1 (not fitted) is not allowed here; a BCM GPIO number {low}..{high} is "
                                  "required", key=name, low=BCM_MIN, high=BCM_MAX))
            elif not BCM_MIN <= pin <= BCM_MAX:
                problems.append(T("{key}: {pin} is not a BCM GPIO number ({low}..{high})", key=name, pin=pin,
                                  low=BCM_MIN, high=BCM_MAX))
        return problems

    return check


def non_empty(key: str, value: Any) -> list[Text]:
    """The string must contain something besides spaces."""
    return [] if value.strip() else [T("{key}: must not be empty", key=key)]


def baud_rate(key: str, value: Any) -> list[Text]:
    """A rate pyfingerprint accepts: a multiple of 9600 from 9600 to 115200."""
    if value % BAUD_STEP == 0 and BAUD_MIN <= value <= BAUD_MAX:
        return []
    return [T("{key}: {value} is not a multiple of {step} between {low} and {high}", key=key, value=value,
              step=BAUD_STEP, low=BAUD_MIN, high=BAUD_MAX)]


def timezone(key: str, value: Any) -> list[Text]:
    """An IANA time zone key that zoneinfo can load on this machine."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return [T('{key}: {value} is not a known time zone (e.g. "UTC", "Europe/Berlin")', key=key,
                  value=toml_value(value))]
    return []


def sqlalchemy_url(key: str, value: Any) -> list[Text]:
    """Empty (the default SQLite file in DATA) or a URL SQLAlchemy can parse."""
    if value == "":
        return []
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(value)
    except ArgumentError:
        return [T('{key}: not a SQLAlchemy database URL (e.g. "postgresql+psycopg://user@host/kunci")', key=key)]
    return []


def keypad_keys(key: str, value: Any) -> list[Text]:
    """Every key label is a single character of the key alphabet (:data:`drivers.keys.VALID_KEYS`)."""
    problems = []
    for r, row in enumerate(value):
        for c, label in enumerate(row):
            if len(label) != 1 or label not in VALID_KEYS:
                where = f"{key}[{r}][{c}]"
                problems.append(T("{key}: {value} is not one of {options}", key=where,
                                  value=toml_value(label), options=KEYS_TEXT))
    return problems


# --- rules that span keys --------------------------------------------------------------------------

#: (lesser, greater, strict): ``lesser`` must not exceed (or, when strict, must be below) ``greater``.
ORDERED: tuple[tuple[str, str, bool], ...] = (
    ("door.unlock_seconds", "door.extended_unlock_seconds", False),
    ("door.unlock_seconds", "door.max_unlock_seconds", False),
    ("door.extended_unlock_seconds", "door.max_unlock_seconds", False),
    ("door.held_open_prealarm_seconds", "door.held_open_seconds", True),
    ("pin.length_digits", "pin.max_entry_digits", False),
    ("pin.lockout_base_seconds", "pin.lockout_max_seconds", False),
)


def check_cross(values: Mapping[str, Mapping[str, Any]], bad: set[str], errors: list[Text]) -> None:
    """Append the problems that involve more than one key.

    ``values[section][key]`` holds every effective value (defaults included); keys in
    ``bad`` already have an error of their own and are left out of these checks.
    """

    def get(key: str) -> Any:
        section, name = key.split(".")
        return values[section][name]

    def usable(*keys: str) -> bool:
        return not any(k in bad for k in keys)

    from controller.config.validate_wiring import check_wiring  # here: that module imports this one

    check_wiring(values, usable, errors)

    if usable("pin.length_digits", "site.max_users"):
        digits, users = get("pin.length_digits"), get("site.max_users")
        codes = 10**digits
        if codes < MIN_CODES_PER_USER * users:
            errors.append(T("pin.length_digits: {digits} digits give {codes} codes, fewer than {minimum} per user "
                            "for site.max_users = {users}", digits=digits, codes=codes, minimum=MIN_CODES_PER_USER,
                            users=users))

    for lesser, greater, strict in ORDERED:
        if not usable(lesser, greater):
            continue
        a, b = get(lesser), get(greater)
        if strict and a >= b:
            errors.append(T("{lesser}: {value} must be below {greater} = {limit}", lesser=lesser, value=toml_value(a),
                            greater=greater, limit=toml_value(b)))
        elif not strict and a > b:
            errors.append(T("{lesser}: {value} is above {greater} = {limit}", lesser=lesser, value=toml_value(a),
                            greater=greater, limit=toml_value(b)))

    if usable("web.session_idle_minutes", "web.session_max_hours"):
        idle, hours = get("web.session_idle_minutes"), get("web.session_max_hours")
        if idle > hours * 60:
            errors.append(T("web.session_idle_minutes: {idle} is longer than web.session_max_hours = {hours} "
                            "({minutes} minutes)", idle=idle, hours=hours, minutes=hours * 60))
    if usable("web.cert_file", "web.key_file") and bool(get("web.cert_file")) != bool(get("web.key_file")):
        errors.append(T("web.cert_file, web.key_file: set both or neither (empty = DATA/tls/cert.pem and key.pem)"))
    if usable("sensor.enabled", "sensor.port") and get("sensor.enabled") and not get("sensor.port").strip():
        errors.append(T("sensor.port: must not be empty while sensor.enabled = true"))
    from controller.config.validate_alerts import check_alerts  # here: that module imports this one

    check_alerts(values, usable, errors)

