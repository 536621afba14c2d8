"""More doors on one controller: ``[[doors]]`` in the configuration (issue 16, C1)."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from controller.config import Config, DoorSetup, config_as_toml, door_view, parse_config
from controller.errors import ConfigError

VAULT = {"name": "vault", "gpio": {"relay_pin": 4, "door_contact_pin": 7, "exit_pin": 8},
         "keypad": {"type": "wiegand", "wiegand_d0_pin": 10, "wiegand_d1_pin": 11},
         "sensor": {"port": "/dev/ttyAMA1"}}


def errors_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return [str(e) for e in info.value.errors]


def test_one_door_file_is_unchanged() -> None:
    config = parse_config({})
    assert config.doors == () and config.door_names == ("main",)
    (first,) = config.door_setups
    assert first == DoorSetup("main", config.door, config.gpio, config.keypad, config.sensor)
    assert door_view(config, first) == config == Config()


def test_a_second_door_with_its_own_wiring() -> None:
    config = parse_config({"door": {"unlock_seconds": 7.0}, "doors": [{**VAULT, "held_open_seconds": 60.0}]})
    assert config.door_names == ("main", "vault")
    vault = config.door_setups[1]
    assert vault.door.name == "vault" and vault.door.held_open_seconds == 60.0
    assert vault.door.unlock_seconds == 7.0  # a timing left out takes [door]'s
    assert vault.gpio.relay_pin == 4 and vault.gpio.tamper_pin == -1 and vault.gpio.buzzer_pin == -1
    assert vault.keypad.type == "wiegand" and vault.sensor.enabled and vault.sensor.port == "/dev/ttyAMA1"
    view = door_view(config, vault)
    assert view.door is vault.door and view.gpio is vault.gpio and view.pin is config.pin


def test_missing_keypad_and_sensor_tables_mean_none() -> None:
    config = parse_config({"doors": [{"name": "store-2", "gpio": {"relay_pin": 4}}]})
    door = config.door_setups[1]
    assert door.keypad.type == "none" and door.sensor.enabled is False


def test_toml_array_and_show_round_trip() -> None:
    text = """
[[doors]]
name = "vault"
[doors.gpio]
relay_pin = 4
[[doors]]
name = "archive"
exit_unlocks = false
[doors.gpio]
relay_pin = 3
"""
    config = parse_config(tomllib.loads(text))
    assert config.door_names == ("main", "vault", "archive")
    assert config.door_setups[2].door.exit_unlocks is False
    shown = "\n".join(line.split("  #")[0] for line in config_as_toml(config).splitlines())
    assert parse_config(tomllib.loads(shown)) == config


@pytest.mark.parametrize(("doors", "expected"), [
    ({"name": "v"}, "doors.v.gpio.relay_pin: required for every door in [[doors]]"),
    ({"gpio": {"relay_pin": 4}}, "doors[0].name: missing is not a door name (required; 1-40 of a-z, 0-9, _ and -)"),
    ({"name": "Vault", "gpio": {"relay_pin": 4}},
     'doors[0].name: "Vault" is not a door name (required; 1-40 of a-z, 0-9, _ and -)'),
    ({"name": "x" * 41, "gpio": {"relay_pin": 4}}, "is not a door name"),
    ({"name": "main", "gpio": {"relay_pin": 4}}, 'doors[0].name: "main" is used by another door'),
    ({"name": "v", "gpio": {"relay_pin": 17}}, "gpio: pin 17 is used by gpio.relay_pin, doors.v.gpio.relay_pin"),
    ({"name": "v", "gpio": {"relay_pin": 4}, "keypad": {"type": "wiegand", "wiegand_d0_pin": 5,
                                                        "wiegand_d1_pin": 9}},
     "gpio: pin 5 is used by keypad.row_pins[0], doors.v.keypad.wiegand_d0_pin"),
    ({"name": "v", "gpio": {"relay_pin": 4}, "sensor": {}},
     'sensor: serial port "/dev/serial0" is used by the enabled sensors of main, v'),
    ({"name": "v", "gpio": {"relay_pin": 4}, "unlock_seconds": 20.0},
     "door v: door.unlock_seconds: 20.0 is above door.extended_unlock_seconds = 15.0"),
    ({"name": "v", "gpio": {"relay_pin": 4}, "unlock_seconds": 0.1},
     "doors.v.unlock_seconds: 0.1 is below the minimum 1.0"),
    ({"name": "v", "gpio": {"relay_pin": 4, "bogus": 1}}, "unknown key doors.v.gpio.bogus"),
    ({"name": "v", "gpio": {"relay_pin": 30}}, "doors.v.gpio.relay_pin: 30 is not a BCM GPIO number (0..27)"),
    ({"name": "v", "gpio": 4}, "doors.v.gpio: expected a table [doors.v.gpio], got 4"),
    ({"name": "v", "gpio": {"relay_pin": 4}, "keypad": {"row_pins": [1, 2], "column_pins": [3, 8, 9]}},
     "door v: keypad.keys: 2 rows x 3 columns expected"),
    ({"name": "v", "gpio": {"relay_pin": 4}, "sensor": {"port": " "}},
     "door v: sensor.port: must not be empty while sensor.enabled = true"),
])
def test_bad_doors_are_refused_naming_the_door(doors: dict[str, Any], expected: str) -> None:
    found = errors_of({"doors": [doors]})
    assert any(expected in line for line in found), found


def test_at_most_four_doors_and_two_doors_may_not_share_a_line_or_port() -> None:
    five = [{"name": f"d{i}", "gpio": {"relay_pin": i + 1}} for i in range(4)]
    assert "doors: at most 4 doors in all ([door] and 3 [[doors]]), got 5" in errors_of({"doors": five})
    assert parse_config({"doors": five[:3]}).door_names == ("main", "d0", "d1", "d2")
    clash = [{"name": "a", "gpio": {"relay_pin": 4}, "sensor": {"port": "/dev/ttyAMA1"}},
             {"name": "b", "gpio": {"relay_pin": 4}, "sensor": {"port": "/dev/ttyAMA1"}}]
    found = errors_of({"doors": clash})
    assert "gpio: pin 4 is used by doors.a.gpio.relay_pin, doors.b.gpio.relay_pin" in found
    assert 'sensor: serial port "/dev/ttyAMA1" is used by the enabled sensors of a, b' in found
    # a disabled sensor may name any port
    ok = [{"name": "a", "gpio": {"relay_pin": 4}, "sensor": {"enabled": False}}]
    assert parse_config({"doors": ok}).door_setups[1].sensor.enabled is False


def test_not_an_array_is_refused() -> None:
    assert errors_of({"doors": {"name": "x"}}) == ['doors: expected an array of tables [[doors]], got {name = "x"}']
    assert errors_of({"doors": [1]}) == ["doors: expected an array of tables [[doors]], got [1]"]


def test_the_documented_examples_load() -> None:
    """The [[doors]] examples of docs/configuration.md and docs/install-pi.md are valid configurations."""
    from pathlib import Path

    docs = Path(__file__).resolve().parents[2] / "docs"
    for page in ("configuration.md", "install-pi.md"):
        text = (docs / page).read_text()
        blocks = [b.split("```")[0] for b in text.split("```toml")[1:] if "[[doors]]" in b.split("```")[0]]
        assert blocks, page
        for block in blocks:
            assert parse_config(tomllib.loads(block)).door_names == ("main", "vault")
