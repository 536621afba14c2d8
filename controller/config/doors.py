"""More doors on one controller: the TOML array ``[[doors]]`` (issue 16).

The top-level sections ``[door]``, ``[gpio]``, ``[keypad]`` and ``[sensor]`` describe the FIRST door, so an
old file loads unchanged. Up to :data:`MAX_DOORS` - 1 more doors follow as ``[[doors]]`` entries::

    [[doors]]
    name = "vault"               # required, unique, 1-40 of a-z 0-9 _ -
    unlock_seconds = 3.0         # any [door] key; a key left out takes [door]'s value
    [doors.gpio]                 # the [gpio] keys; relay_pin is required, every other line defaults to -1
    relay_pin = 4
    [doors.keypad]               # optional: left out = no keypad at this door
    type = "wiegand"
    [doors.sensor]               # optional: left out = no fingerprint sensor at this door
    port = "/dev/ttyAMA1"

Checked here (:func:`parse_doors`): the entry's own keys and ranges (errors name ``doors.<name>.<key>``), the
rules across keys inside the door (unlock times ordered, the keypad grid...), at most four doors, unique names,
no GPIO line used twice across all doors, and no serial port used by two enabled sensors.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controller.config import validate as v
from controller.i18n import T, Text

#: Most doors one controller drives (the first door included).
MAX_DOORS = 4
#: A door's name: lower-case letters, digits, '_' and '-', 1-40 characters.
DOOR_NAME_RE = re.compile(r"^[a-z0-9_-]{1,40}$")
#: The sub-tables of a ``[[doors]]`` entry.
SUB_TABLES = ("gpio", "keypad", "sensor")
_GPIO_LINES = ("relay_pin", "door_contact_pin", "exit_pin", "tamper_pin", "buzzer_pin", "green_led_pin",
               "red_led_pin")


@dataclass(frozen=True)
class DoorSetup:
    """Everything configured for one door: its ``[door]`` settings, wiring, keypad and sensor."""

    name: str
    door: Any  # DoorConfig
    gpio: Any  # GpioConfig
    keypad: Any  # KeypadConfig
    sensor: Any  # SensorConfig


def first_door(config: Any) -> DoorSetup:
    """The first door: the top-level sections."""
    return DoorSetup(config.door.name, config.door, config.gpio, config.keypad, config.sensor)


def door_view(config: Any, setup: DoorSetup) -> Any:
    """``config`` as one door sees it: the shared sections, with ``door``/``gpio``/``keypad``/``sensor`` of
    ``setup`` (the daemon builds and runs each door from this view)."""
    return dataclasses.replace(config, door=setup.door, gpio=setup.gpio, keypad=setup.keypad, sensor=setup.sensor)


def _in_door(name: str, problem: Text) -> Text:
    return T("door {door}: {problem}", door=name, problem=problem)


def parse_doors(raw: Any, first: Mapping[str, Mapping[str, Any]], classes: Mapping[str, type],
                bad: set[str], errors: list[Text]) -> tuple[DoorSetup, ...]:
    """The extra doors of ``raw`` (the ``doors`` value of the TOML file), checked.

    ``first`` holds the first door's effective ``door``/``gpio``/``keypad``/``sensor`` values (defaults
    included) and ``classes`` the section dataclasses. Problems are appended to ``errors``.
    """
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(entry, dict) for entry in raw):
        errors.append(T("doors: expected an array of tables [[doors]], got {got}", got=v.toml_value(raw)))
        return ()
    if len(raw) > MAX_DOORS - 1:
        errors.append(T("doors: at most {most} doors in all ([door] and {extra} [[doors]]), got {count}",
                        most=MAX_DOORS, extra=MAX_DOORS - 1, count=len(raw) + 1))
    names = [str(first["door"]["name"])]
    setups: list[DoorSetup] = []
    claims: dict[int, list[str]] = {}
    ports: dict[str, list[str]] = {}
    _claim_first(first, bad, claims, ports)
    for i, entry in enumerate(raw):
        setup = _parse_entry(i, entry, first, classes, names, claims, ports, errors)
        if setup is not None:
            setups.append(setup)
    for pin, keys in sorted(claims.items()):
        if len(keys) > 1 and any(k.startswith("doors.") for k in keys):
            errors.append(T("gpio: pin {pin} is used by {keys}", pin=pin, keys=", ".join(keys)))
    for port, keys in sorted(ports.items()):
        if len(keys) > 1:
            errors.append(T("sensor: serial port {port} is used by the enabled sensors of {doors}",
                            port=v.toml_value(port), doors=", ".join(keys)))
    return tuple(setups)


def _claim_first(first: Mapping[str, Mapping[str, Any]], bad: set[str], claims: dict[int, list[str]],
                 ports: dict[str, list[str]]) -> None:
    """The first door's GPIO lines and serial port (keys already in error are left out)."""
    for name in _GPIO_LINES:
        if f"gpio.{name}" not in bad:
            _claim(claims, f"gpio.{name}", first["gpio"][name])
    for key, pin in _keypad_lines(first["keypad"], "keypad", bad):
        _claim(claims, key, pin)
    if first["sensor"]["enabled"] and "sensor.port" not in bad and "sensor.enabled" not in bad:
        ports.setdefault(first["sensor"]["port"], []).append(str(first["door"]["name"]))


def _claim(claims: dict[int, list[str]], key: str, pin: int) -> None:
    if pin != v.NOT_FITTED:
        claims.setdefault(pin, []).append(key)


def _keypad_lines(keypad: Mapping[str, Any], prefix: str, bad: set[str]) -> list[tuple[str, int]]:
    lines: list[tuple[str, int]] = []
    if keypad["type"] == "matrix":
        for name in ("row_pins", "column_pins"):
            if f"{prefix}.{name}" not in bad:
                lines += [(f"{prefix}.{name}[{i}]", pin) for i, pin in enumerate(keypad[name])]
    elif keypad["type"] == "wiegand":
        for name in ("wiegand_d0_pin", "wiegand_d1_pin"):
            if f"{prefix}.{name}" not in bad:
                lines.append((f"{prefix}.{name}", keypad[name]))
    return lines


def _parse_entry(i: int, entry: dict[str, Any], first: Mapping[str, Mapping[str, Any]],
                 classes: Mapping[str, type], names: list[str], claims: dict[int, list[str]],
                 ports: dict[str, list[str]], errors: list[Text]) -> DoorSetup | None:
    name = entry.get("name")
    if not isinstance(name, str) or not DOOR_NAME_RE.match(name):
        shown = str(T("missing")) if name is None else v.toml_value(name)
        errors.append(T("doors[{index}].name: {value} is not a door name (required; 1-40 of a-z, 0-9, _ and -)",
                        index=i, value=shown))
        return None
    if name in names:
        errors.append(T("doors[{index}].name: {name} is used by another door", index=i, name=v.toml_value(name)))
        return None
    names.append(name)
    prefix = f"doors.{name}"
    before = len(errors)
    bad: set[str] = set()
    door_table = {k: val for k, val in entry.items() if k not in SUB_TABLES and k != "name"}
    door = {**first["door"], **v.convert_section(classes["door"], prefix, door_table, errors, bad), "name": name}
    tables: dict[str, dict[str, Any]] = {}
    for sub in SUB_TABLES:
        table = entry.get(sub, {})
        if not isinstance(table, dict):
            where = f"{prefix}.{sub}"
            errors.append(T("{name}: expected a table [{name}], got {got}", name=where, got=v.toml_value(table)))
            table = {}
        tables[sub] = table
    gpio_defaults = {k: v.NOT_FITTED for k in _GPIO_LINES}
    if "relay_pin" not in tables["gpio"]:
        relay_key = f"{prefix}.gpio.relay_pin"
        errors.append(T("{key}: required for every door in [[doors]]", key=relay_key))
        bad.add(relay_key)
    gpio = {**_defaults(classes["gpio"]), **gpio_defaults,
            **v.convert_section(classes["gpio"], f"{prefix}.gpio", tables["gpio"], errors, bad)}
    keypad = {**_defaults(classes["keypad"]), **({"type": "none"} if "keypad" not in entry else {}),
              **v.convert_section(classes["keypad"], f"{prefix}.keypad", tables["keypad"], errors, bad)}
    sensor = {**_defaults(classes["sensor"]), **({"enabled": False} if "sensor" not in entry else {}),
              **v.convert_section(classes["sensor"], f"{prefix}.sensor", tables["sensor"], errors, bad)}
    _check_door(name, {"door": door, "gpio": gpio, "keypad": keypad, "sensor": sensor}, prefix, bad, errors)
    for key in _GPIO_LINES:
        if f"{prefix}.gpio.{key}" not in bad:
            _claim(claims, f"{prefix}.gpio.{key}", gpio[key])
    for key, pin in _keypad_lines(keypad, f"{prefix}.keypad", bad):
        _claim(claims, key, pin)
    if sensor["enabled"] and f"{prefix}.sensor.port" not in bad and sensor["port"].strip():
        ports.setdefault(sensor["port"], []).append(name)
    if len(errors) != before:
        return None
    return DoorSetup(name, classes["door"](**door), classes["gpio"](**gpio), classes["keypad"](**keypad),
                     classes["sensor"](**sensor))


def _defaults(cls: type) -> dict[str, Any]:
    return {f.name: f.default for f in dataclasses.fields(cls)}


def _check_door(name: str, values: dict[str, dict[str, Any]], prefix: str, bad: set[str],
                errors: list[Text]) -> None:
    """The rules across keys inside one extra door (the first door's are checked by ``check_cross``)."""
    from controller.config.validate_wiring import _check_keypad_grid, _check_keypad_labels

    def usable(*keys: str) -> bool:
        full = (f"{prefix}.{k[5:]}" if k.startswith("door.") else f"{prefix}.{k}" for k in keys)
        return not any(k in bad for k in full)

    problems: list[Text] = []
    for lesser, greater, strict in v.ORDERED:
        if not (lesser.startswith("door.") and greater.startswith("door.")) or not usable(lesser, greater):
            continue
        a, b = values["door"][lesser[5:]], values["door"][greater[5:]]
        if strict and a >= b:
            problems.append(T("{lesser}: {value} must be below {greater} = {limit}", lesser=lesser,
                              value=v.toml_value(a), greater=greater, limit=v.toml_value(b)))
        elif not strict and a > b:
            problems.append(T("{lesser}: {value} is above {greater} = {limit}", lesser=lesser,
                              value=v.toml_value(a), greater=greater, limit=v.toml_value(b)))
    keypad = values["keypad"]
    if keypad["type"] == "matrix":
        if usable("keypad.keys", "keypad.row_pins", "keypad.column_pins"):
            _check_keypad_grid(keypad, problems)
        if usable("keypad.keys"):
            _check_keypad_labels(keypad["keys"], problems)
    sensor = values["sensor"]
    if sensor["enabled"] and usable("sensor.port") and not sensor["port"].strip():
        problems.append(T("sensor.port: must not be empty while sensor.enabled = true"))
    errors.extend(_in_door(name, p) for p in problems)
