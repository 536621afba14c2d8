"""The wiring's cross-key rules: no GPIO pin used twice, and a matrix keypad's grid and labels that match its pins.
Called by :func:`controller.config.validate.check_cross`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from controller.config.validate import NOT_FITTED, toml_value
from controller.i18n import T, Text
from drivers.keys import REQUIRED_KEYS

_GPIO_KEYS = ("relay_pin", "door_contact_pin", "exit_pin", "tamper_pin", "buzzer_pin", "green_led_pin", "red_led_pin")


def check_wiring(values: Mapping[str, Mapping[str, Any]], usable: Callable[..., bool], errors: list[Text]) -> None:
    """Append the GPIO clashes and, for a matrix keypad, the grid and label problems (keys in error are skipped)."""
    _check_pin_clash(values, usable, errors)
    if values["keypad"]["type"] == "matrix":
        if usable("keypad.keys", "keypad.row_pins", "keypad.column_pins"):
            _check_keypad_grid(values["keypad"], errors)
        if usable("keypad.keys"):
            _check_keypad_labels(values["keypad"]["keys"], errors)


def _check_pin_clash(
    values: Mapping[str, Mapping[str, Any]], usable: Callable[..., bool], errors: list[Text]
) -> None:
    users: dict[int, list[str]] = {}

    def claim(key: str, pin: int) -> None:
        if pin != NOT_FITTED:
            users.setdefault(pin, []).append(key)

    for name in _GPIO_KEYS:
        if usable(f"gpio.{name}"):
            claim(f"gpio.{name}", values["gpio"][name])
    keypad = values["keypad"]
    if keypad["type"] == "matrix":
        for name in ("row_pins", "column_pins"):
            if usable(f"keypad.{name}"):
                for i, pin in enumerate(keypad[name]):
                    claim(f"keypad.{name}[{i}]", pin)
    elif keypad["type"] == "wiegand":
        for name in ("wiegand_d0_pin", "wiegand_d1_pin"):
            if usable(f"keypad.{name}"):
                claim(f"keypad.{name}", keypad[name])
    for pin, keys in users.items():
        if len(keys) == 2:
            errors.append(T("gpio: pin {pin} is used by both {first} and {second}", pin=pin, first=keys[0],
                            second=keys[1]))
        elif len(keys) > 2:
            errors.append(T("gpio: pin {pin} is used by {keys} and {last}", pin=pin, keys=", ".join(keys[:-1]),
                            last=keys[-1]))


def _check_keypad_grid(keypad: Mapping[str, Any], errors: list[Text]) -> None:
    keys, rows, cols = keypad["keys"], len(keypad["row_pins"]), len(keypad["column_pins"])
    if len(keys) != rows:
        errors.append(T("keypad.keys: {rows} rows x {cols} columns expected (row_pins x column_pins), got {got} "
                        "rows", rows=rows, cols=cols, got=len(keys)))
    for r, row in enumerate(keys):
        if len(row) != cols:
            where = f"keypad.keys[{r}]"
            errors.append(T("{key}: {cols} columns expected (column_pins), got {got} keys", key=where, cols=cols,
                            got=len(row)))


def _check_keypad_labels(keys: tuple[tuple[str, ...], ...], errors: list[Text]) -> None:
    labels = [label for row in keys for label in row]
    for label in REQUIRED_KEYS:
        count = labels.count(label)
        if count == 0:
            errors.append(T("keypad.keys: {label} is missing (a matrix keypad needs 0-9, * and #)",
                            label=toml_value(label)))
        elif count > 1:
            errors.append(T("keypad.keys: {label} appears {count} times (once expected)", label=toml_value(label),
                            count=count))
