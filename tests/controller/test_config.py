"""The typed configuration: defaults, every kind of error, the generated example and reference page."""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from controller import config as cfg
from controller.cli import main
from controller.config import (
    Config,
    config_reference_markdown,
    default_config_text,
    load_config,
    parse_config,
    write_default_config,
)
from controller.core.lockout import KeypadLockout, LockoutStarted
from controller.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def errors_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return [str(e) for e in info.value.errors]


# --- defaults ---------------------------------------------------------------------------------------


def test_missing_file_gives_the_documented_defaults(tmp_path: Path) -> None:
    config = load_config(tmp_path / "kunci.toml")
    assert config == Config()
    assert config.simulated is False
    assert config.site.timezone == "UTC" and config.site.max_users == 1000
    assert config.door.unlock_seconds == 5.0 and config.door.max_unlock_seconds == 30.0
    assert config.pin.length_digits == 6
    assert config.keypad.row_pins == (5, 6, 13, 19) and config.keypad.column_pins == (12, 16, 20)
    assert config.keypad.keys[3] == ("*", "0", "#")
    assert config.gpio.relay_pin == 17 and config.gpio.red_led_pin == 25
    assert config.sensor.baud_rate == 57600 and config.sensor.address == 0xFFFFFFFF
    assert config.web.port == 8443 and config.store.url == ""


def test_empty_file_and_empty_dict_give_defaults(tmp_path: Path) -> None:
    path = tmp_path / "kunci.toml"
    path.write_text("")
    assert load_config(path) == Config() == parse_config({})


def test_config_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Config().door.unlock_seconds = 60.0  # type: ignore[misc]


def test_every_field_has_a_doc_and_numbers_have_a_unit_or_range() -> None:
    for section, cls in [("", Config), *cfg.SECTIONS.items()]:
        for f in dataclasses.fields(cls):
            if section == "" and (f.name in cfg.SECTIONS or f.metadata.get("array")):
                continue
            spec = f.metadata["spec"]
            assert spec.doc.endswith("."), f"{section}.{f.name}"
            if isinstance(f.default, (int, float)) and not isinstance(f.default, bool):
                assert spec.unit or spec.min is not None or spec.rule or spec.choices, f"{section}.{f.name}"


def test_values_are_typed() -> None:
    text = "[door]\nunlock_seconds = 7\n[keypad]\nrow_pins = [5, 6, 13, 19]\n"
    config = parse_config(tomllib.loads(text))
    assert config.door.unlock_seconds == 7.0 and isinstance(config.door.unlock_seconds, float)
    assert config.keypad.row_pins == (5, 6, 13, 19)  # a tuple, so the config stays hashable
    hash(config)


@pytest.mark.parametrize(
    "data",
    [
        {"simulated": True},
        {"keypad": {"type": "wiegand", "row_pins": [17]}},  # matrix pins do not count for a Wiegand keypad
        {"keypad": {"type": "none", "keys": [["1"]]}},
        {"gpio": {"exit_pin": -1, "tamper_pin": -1, "buzzer_pin": -1}},
        {"pin": {"length_digits": 4}, "site": {"max_users": 10}},
        {"sensor": {"baud_rate": 115200}},
        {"site": {"timezone": "Europe/Berlin"}},
        {"store": {"url": "postgresql+psycopg://kunci@db.example/kunci"}},
        {"web": {"cert_file": "/etc/kunci/cert.pem", "key_file": "/etc/kunci/key.pem"}},
        {"keypad": {"row_pins": [5, 6, 13, 19], "column_pins": [12, 16, 20, 7],
                    "keys": [["1", "2", "3", "A"], ["4", "5", "6", "B"], ["7", "8", "9", "C"], ["*", "0", "#", "D"]]}},
    ],
)
def test_valid_non_default_configs_are_accepted(data: dict[str, Any]) -> None:
    parse_config(data)


# --- every kind of error ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # unknown keys and sections
        ({"door": {"unlok_seconds": 3}}, "unknown key door.unlok_seconds (did you mean door.unlock_seconds?)"),
        ({"dor": {}}, "unknown key dor (did you mean door?)"),
        ({"doors": {}}, "doors: expected an array of tables [[doors]], got {}"),
        ({"colour": "red"}, "unknown key colour"),
        ({"door": 5}, "door: expected a table [door], got 5"),
        # wrong types: bool is not an int, a string is not a number
        ({"simulated": "yes"}, 'simulated: expected true or false, got "yes" (a string)'),
        ({"site": {"max_users": True}}, "site.max_users: expected an integer, got true (a boolean)"),
        ({"door": {"unlock_seconds": True}}, "door.unlock_seconds: expected a number, got true (a boolean)"),
        ({"door": {"unlock_seconds": "5"}}, 'door.unlock_seconds: expected a number, got "5" (a string)'),
        ({"pin": {"length_digits": 6.0}}, "pin.length_digits: expected an integer, got 6.0 (a float)"),
        ({"site": {"name": 3}}, "site.name: expected a string, got 3 (an integer)"),
        ({"keypad": {"row_pins": 5}}, "keypad.row_pins: expected a list of integers, got 5 (an integer)"),
        ({"keypad": {"row_pins": [5, "6", 13, 19]}}, 'keypad.row_pins[1]: expected an integer, got "6" (a string)'),
        ({"keypad": {"keys": ["123"]}}, 'keypad.keys[0]: expected a list of strings, got "123" (a string)'),
        # ranges and choices
        ({"door": {"unlock_seconds": 0.2}}, "door.unlock_seconds: 0.2 is below the minimum 1.0"),
        ({"door": {"unlock_seconds": 31}}, "door.unlock_seconds: 31.0 is above the maximum 30.0"),
        ({"pin": {"length_digits": 13}}, "pin.length_digits: 13 is above the maximum 12"),
        ({"pin": {"length_digits": 3}}, "pin.length_digits: 3 is below the minimum 4"),
        ({"web": {"port": 0}}, "web.port: 0 is below the minimum 1"),
        ({"keypad": {"type": "rotary"}}, 'keypad.type: "rotary" is not one of "matrix", "wiegand", "none"'),
        ({"keypad": {"wiegand_bits": 26}}, "keypad.wiegand_bits: 26 is not one of 4, 8"),
        ({"sensor": {"baud_rate": 50000}}, "sensor.baud_rate: 50000 is not a multiple of 9600 between 9600 and 115200"),
        ({"sensor": {"baud_rate": 230400}}, "sensor.baud_rate: 230400 is not a multiple of 9600 between 9600 and 115200"),
        ({"sensor": {"address": -1}}, "sensor.address: -1 is below the minimum 0"),
        ({"site": {"timezone": "Mars/Olympus"}}, 'site.timezone: "Mars/Olympus" is not a known time zone'),
        ({"site": {"name": "  "}}, "site.name: must not be empty"),
        ({"store": {"url": "not a url"}}, "store.url: not a SQLAlchemy database URL"),
        # GPIO pins
        ({"gpio": {"relay_pin": -1}}, "gpio.relay_pin: -1 (not fitted) is not allowed here"),
        ({"gpio": {"buzzer_pin": 28}}, "gpio.buzzer_pin: 28 is not a BCM GPIO number (0..27)"),
        ({"keypad": {"row_pins": [5, 6, 40, 19]}}, "keypad.row_pins[2]: 40 is not a BCM GPIO number (0..27)"),
        ({"gpio": {"buzzer_pin": 17}}, "gpio: pin 17 is used by both gpio.relay_pin and gpio.buzzer_pin"),
        ({"keypad": {"row_pins": [17, 6, 13, 19]}}, "gpio: pin 17 is used by both gpio.relay_pin and keypad.row_pins[0]"),
        ({"keypad": {"column_pins": [12, 12, 20]}},
         "gpio: pin 12 is used by both keypad.column_pins[0] and keypad.column_pins[1]"),
        ({"keypad": {"type": "wiegand", "wiegand_d0_pin": 22}},
         "gpio: pin 22 is used by both gpio.door_contact_pin and keypad.wiegand_d0_pin"),
        ({"gpio": {"exit_pin": 21, "tamper_pin": 21, "buzzer_pin": 21}},
         "gpio: pin 21 is used by gpio.exit_pin, gpio.tamper_pin, gpio.buzzer_pin and gpio.green_led_pin"),
        # keypad grid
        ({"keypad": {"keys": [["1", "2", "3"], ["4", "5", "6"], ["7", "8", "9"]]}},
         ("keypad.keys: 4 rows x 3 columns expected (row_pins x column_pins), got 3 rows",
          'keypad.keys: "0" is missing', 'keypad.keys: "*" is missing', 'keypad.keys: "#" is missing')),
        ({"keypad": {"row_pins": [5, 6, 13]}},
         "keypad.keys: 3 rows x 3 columns expected (row_pins x column_pins), got 4 rows"),
        ({"keypad": {"keys": [["1", "2", "3"], ["4", "5", "6"], ["7", "8", "9"], ["*", "0", "#", "A"]]}},
         "keypad.keys[3]: 3 columns expected (column_pins), got 4 keys"),
        ({"keypad": {"keys": [["1", "2", "3"], ["4", "5", "6"], ["7", "8", "9"], ["*", "0", "x"]]}},
         'keypad.keys[3][2]: "x" is not one of 0-9 * # A B C D'),
        ({"keypad": {"keys": [["1", "2", "3"], ["4", "5", "6"], ["7", "8", "9"], ["*", "0", "##"]]}},
         'keypad.keys[3][2]: "##" is not one of 0-9 * # A B C D'),
        ({"keypad": {"keys": [["1", "2", "3"], ["4", "5", "6"], ["7", "8", "9"], ["*", "0", "A"]]}},
         'keypad.keys: "#" is missing'),
        ({"keypad": {"keys": [["1", "2", "3"], ["4", "5", "6"], ["7", "8", "9"], ["*", "0", "1"]]}},
         ('keypad.keys: "1" appears 2 times (once expected)', 'keypad.keys: "#" is missing')),
        # PIN keyspace and ordered limits
        ({"pin": {"length_digits": 4}},
         "pin.length_digits: 4 digits give 10000 codes, fewer than 1000 per user for site.max_users = 1000"),
        ({"pin": {"length_digits": 6}, "site": {"max_users": 5000}},
         "pin.length_digits: 6 digits give 1000000 codes, fewer than 1000 per user for site.max_users = 5000"),
        ({"door": {"max_unlock_seconds": 10}}, "door.extended_unlock_seconds: 15.0 is above door.max_unlock_seconds = 10.0"),
        ({"door": {"held_open_prealarm_seconds": 30}},
         "door.held_open_prealarm_seconds: 30.0 must be below door.held_open_seconds = 30.0"),
        ({"pin": {"max_entry_digits": 5}}, "pin.length_digits: 6 is above pin.max_entry_digits = 5"),
        ({"pin": {"lockout_base_seconds": 1000}}, "pin.lockout_base_seconds: 1000.0 is above pin.lockout_max_seconds = 900.0"),
        ({"web": {"session_idle_minutes": 800}},
         "web.session_idle_minutes: 800 is longer than web.session_max_hours = 12 (720 minutes)"),
        ({"web": {"cert_file": "/etc/cert.pem"}}, "web.cert_file, web.key_file: set both or neither"),
        ({"sensor": {"port": ""}}, "sensor.port: must not be empty while sensor.enabled = true"),
    ],
)
def test_each_kind_of_error_is_one_line_naming_the_key(data: dict[str, Any], expected: str | tuple[str, ...]) -> None:
    """Each mistake gives exactly the expected line(s) (one per problem, no follow-on errors)."""
    wanted = (expected,) if isinstance(expected, str) else expected
    errors = errors_of(data)
    assert len(errors) == len(wanted), errors
    for line, start in zip(errors, wanted):
        assert line.startswith(start)
        assert "\n" not in line


def _float_keys() -> list[tuple[str, str]]:
    """Every ``(section, key)`` of the schema whose type is float."""
    return [
        (section, f.name)
        for section, cls in cfg.SECTIONS.items()
        for f in dataclasses.fields(cls)
        if typing.get_type_hints(cls)[f.name] is float
    ]


FLOAT_KEYS = _float_keys()


def test_there_are_float_keys_to_check() -> None:
    assert ("door", "unlock_seconds") in FLOAT_KEYS and ("sensor", "failed_match_delay_seconds") in FLOAT_KEYS


@pytest.mark.parametrize(
    ("text", "shown"), [("nan", "nan"), ("+nan", "nan"), ("-nan", "nan"), ("inf", "inf"), ("+inf", "inf"), ("-inf", "-inf")]
)
@pytest.mark.parametrize(("section", "key"), FLOAT_KEYS, ids=[f"{s}.{k}" for s, k in FLOAT_KEYS])
def test_nan_and_inf_are_refused_for_every_float_key(section: str, key: str, text: str, shown: str) -> None:
    """TOML allows nan and inf; nan passes every range check (all comparisons are false), inf breaks timers."""
    errors = errors_of(tomllib.loads(f"[{section}]\n{key} = {text}\n"))
    assert errors == [f"{section}.{key}: {shown} is not a finite number"]


def test_cli_check_reports_every_non_finite_number_at_once_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "site.toml"
    path.write_text("[door]\nunlock_seconds = nan\nheld_open_seconds = inf\n\n[pin]\nlockout_base_seconds = -inf\n")
    assert main(["config", "check", "--file", str(path)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        f"kunci: config error: {path}: 3 problems",
        "kunci: config error: door.unlock_seconds: nan is not a finite number",
        "kunci: config error: door.held_open_seconds: inf is not a finite number",
        "kunci: config error: pin.lockout_base_seconds: -inf is not a finite number",
    ]


def test_a_finger_delay_of_zero_is_refused_with_the_documented_minimum() -> None:
    """0.0 was inside the documented range but KeypadLockout needs a positive lockout: the daemon crashed."""
    assert errors_of({"sensor": {"failed_match_delay_seconds": 0.0}}) == [
        "sensor.failed_match_delay_seconds: 0.0 is below the minimum 1.0"
    ]
    assert "| seconds, 1.0..3600.0 |" in next(
        line for line in config_reference_markdown().splitlines() if "`failed_match_delay_seconds`" in line
    )


def test_the_documented_minimum_finger_delay_gives_a_working_finger_lockout() -> None:
    """Wired as controller/daemon/access.py wires the finger channel: every accepted value must construct."""
    minimum = next(f for f in dataclasses.fields(cfg.SensorConfig) if f.name == "failed_match_delay_seconds")
    sensor = parse_config({"sensor": {"failed_match_delay_seconds": minimum.metadata["spec"].min}}).sensor
    lockout = KeypadLockout(
        lockout_after_failures=sensor.failed_matches_before_delay,
        lockout_base_seconds=sensor.failed_match_delay_seconds,
        lockout_max_seconds=sensor.failed_match_delay_seconds,
    )
    now = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)
    effects = [e for i in range(sensor.failed_matches_before_delay) for e in lockout.failure(now, float(i))]
    assert [e.seconds for e in effects if isinstance(e, LockoutStarted)] == [1.0]


def test_a_bad_value_does_not_cause_follow_on_errors() -> None:
    # relay_pin is out of range: it must not be reported again as clashing, nor its default (17) used
    errors = errors_of({"gpio": {"relay_pin": 30}, "keypad": {"row_pins": [17, 6, 13, 19]}})
    assert errors == ["gpio.relay_pin: 30 is not a BCM GPIO number (0..27)"]


def test_every_problem_is_reported_at_once() -> None:
    data = {
        "door": {"unlock_seconds": 0.2, "unlok_seconds": 3},
        "gpio": {"buzzer_pin": 17},
        "sensor": {"baud_rate": 50000},
        "pin": {"length_digits": 4},
        "keypad": {"keys": [["1", "2", "3"]]},
    }
    errors = errors_of(data)
    for start in ("door.unlock_seconds:", "unknown key door.unlok_seconds", "gpio: pin 17", "sensor.baud_rate:",
                  "pin.length_digits:", "keypad.keys: 4 rows x 3 columns"):
        assert any(e.startswith(start) for e in errors), (start, errors)


# --- files ---------------------------------------------------------------------------------------------


def test_toml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "kunci.toml"
    path.write_text("[door]\nunlock_seconds = \n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert [str(e) for e in info.value.errors] == [f"{path}: not valid TOML: Invalid value (at line 2, column 18)"]


def test_non_utf8_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "kunci.toml"
    path.write_bytes(b'[site]\nname = "\xff"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path)


def test_write_default_config_creates_once_and_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "kunci.toml"
    assert write_default_config(path) is True
    assert path.read_text() == default_config_text()
    assert os.stat(path).st_mode & 0o077 & ~0o040 == 0  # not writable or readable by others
    path.write_text("[door]\nunlock_seconds = 8.0\n")
    assert write_default_config(path) is False
    assert load_config(path).door.unlock_seconds == 8.0


# --- generated text never drifts from the schema --------------------------------------------------------


def test_default_text_parses_to_the_defaults() -> None:
    assert parse_config(tomllib.loads(default_config_text())) == Config()


def test_default_text_lists_every_key() -> None:
    data = tomllib.loads(default_config_text())
    for name, cls in cfg.SECTIONS.items():
        assert set(data[name]) == {f.name for f in dataclasses.fields(cls)}
    assert "simulated" in data


def test_example_file_is_the_default_text() -> None:
    example = REPO / "config" / "kunci.example.toml"
    assert example.read_text(encoding="utf-8") == default_config_text(), "run: python -m controller.config --write"


def test_reference_page_is_up_to_date() -> None:
    page = REPO / "docs" / "configuration.md"
    assert page.read_text(encoding="utf-8") == config_reference_markdown(), "run: python -m controller.config --write"


def test_reference_page_has_a_row_per_key() -> None:
    page = config_reference_markdown()
    for name, cls in cfg.SECTIONS.items():
        assert f"## `[{name}]`" in page
        for f in dataclasses.fields(cls):
            assert f"| `{f.name}` |" in page
    assert "| `unlock_seconds` | float | `5.0` | seconds, 1.0..30.0 |" in page


# --- the CLI ---------------------------------------------------------------------------------------------


def test_cli_check_ok(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_default_config(data_dir / "kunci.toml")
    assert main(["config", "check", "--data", str(data_dir)]) == 0
    assert capsys.readouterr().out.strip() == f"config OK: {data_dir / 'kunci.toml'}"


def test_cli_check_without_a_file_uses_defaults(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check", "--data", str(data_dir)]) == 0
    assert "config OK" in capsys.readouterr().out


def test_cli_check_names_all_three_mistakes_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "site.toml"
    path.write_text(
        "[door]\nunlock_seconds = 0.2\nunlok_seconds = 3\n\n[gpio]\nbuzzer_pin = 17\n", encoding="utf-8"
    )
    assert main(["config", "check", "--file", str(path)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert captured.out == ""
    assert lines == [
        f"kunci: config error: {path}: 3 problems",
        "kunci: config error: door.unlock_seconds: 0.2 is below the minimum 1.0",
        "kunci: config error: unknown key door.unlok_seconds (did you mean door.unlock_seconds?)",
        "kunci: config error: gpio: pin 17 is used by both gpio.relay_pin and gpio.buzzer_pin",
    ]


def test_cli_check_syntax_error_exits_2(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (data_dir / "kunci.toml").write_text("[door\n")
    assert main(["config", "check", "--data", str(data_dir)]) == 2
    err = capsys.readouterr().err
    assert "not valid TOML" in err and "line 1" in err


def test_cli_show_prints_effective_values_and_marks_changes(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (data_dir / "kunci.toml").write_text("[door]\nunlock_seconds = 7\n")
    assert main(["config", "show", "--data", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "unlock_seconds = 7.0  # default: 5.0\n" in out
    assert 'timezone = "UTC"\n' in out
    assert parse_config(tomllib.loads(out)).door.unlock_seconds == 7.0  # the output is itself valid TOML
