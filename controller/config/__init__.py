"""The typed configuration of Kunci, read from ``DATA/kunci.toml``.

One frozen dataclass per TOML section (:class:`SiteConfig` for ``[site]``, ...) and
:class:`Config` on top. Each field carries its default and a :class:`Spec` (meaning,
unit, range) in its metadata: that schema is the single source of the defaults, of
the validation (:mod:`controller.config.validate`), of the commented example file
``config/kunci.example.toml`` (:func:`default_config_text`) and of the reference page
``docs/configuration.md`` (:func:`config_reference_markdown`). Regenerate both with
``python -m controller.config --write``.

Every key is optional. :func:`parse_config` reports every problem at once in one
:class:`~controller.errors.ConfigError`.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import textwrap
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.config import validate as v
from controller.errors import ConfigError
from controller.fileio import atomic_write

log = logging.getLogger(__name__)

#: The sensor library's "any address" default (0xFFFFFFFF).
_ANY_ADDRESS = 0xFFFFFFFF


def setting(
    default: Any,
    doc: str,
    *,
    unit: str = "",
    min: float | None = None,  # noqa: A002 - reads well in the schema below
    max: float | None = None,  # noqa: A002
    choices: tuple[Any, ...] | None = None,
    check: v.Check | None = None,
    rule: str = "",
) -> Any:
    """A dataclass field with its default and its :class:`~controller.config.validate.Spec`."""
    spec = v.Spec(doc=doc, unit=unit, min=min, max=max, choices=choices, check=check, rule=rule)
    return field(default=default, metadata={"spec": spec})


_PIN_RULE = "BCM 0..27, -1 = not fitted"
_optional_pin = v.bcm_pin(allow_not_fitted=True)
_required_pin = v.bcm_pin(allow_not_fitted=False)


@dataclass(frozen=True)
class SiteConfig:
    """`[site]`: the room and site-wide policy."""

    name: str = setting("Records room", "Name of the room, shown on the admin page and in exports.",
                        check=v.non_empty, rule="not empty")
    timezone: str = setting("UTC", "IANA time zone for schedules, holidays and validity dates (e.g. Europe/Berlin).",
                            check=v.timezone, rule="a zoneinfo key")
    require_agreement: bool = setting(True, "Refuse to enrol a person until a confidentiality agreement date is recorded.")
    no_log_no_entry: bool = setting(True, "Deny access when the event cannot be stored in the log (fail secure).")
    clock_trust: str = setting("auto", "When the wall clock may be used for schedules and validity windows: auto = only "
                               "when the kernel reports it synchronised (NTP or RTC); always = trust it (bench, "
                               "simulation, a fitted RTC); never = always treat it as untrusted.",
                               choices=("auto", "always", "never"))
    max_users: int = setting(1000, "Most people expected to hold a PIN; sets the PIN keyspace rule "
                             "(10 ** pin.length_digits / max_users >= 1000).", unit="people", min=1, max=100_000)


@dataclass(frozen=True)
class DoorConfig:
    """`[door]`: strike timing and door supervision."""

    name: str = setting("main", "Name of the door in events (the row in the doors table).",
                        check=v.non_empty, rule="not empty")
    unlock_seconds: float = setting(5.0, "Time the strike stays unlocked after a granted access.",
                                    unit="seconds", min=1.0, max=30.0)
    extended_unlock_seconds: float = setting(15.0, "Unlock time for people marked extended_unlock; not below "
                                             "unlock_seconds.", unit="seconds", min=1.0, max=120.0)
    max_unlock_seconds: float = setting(30.0, "Hard cap on any unlock, remote unlocks included; at least "
                                        "extended_unlock_seconds.", unit="seconds", min=1.0, max=120.0)
    relock_on_close: bool = setting(True, "Relock as soon as the door closes again instead of waiting for the unlock time.")
    held_open_seconds: float = setting(30.0, "A door open longer than this raises a door.held alarm.",
                                       unit="seconds", min=5.0, max=3600.0)
    held_open_prealarm_seconds: float = setting(10.0, "Warning beeps start this long before the held-open alarm "
                                                "(0 = no warning).", unit="seconds", min=0.0, max=3600.0)
    forced_open_grace_seconds: float = setting(1.0, "The door may open this long after relocking without counting "
                                               "as forced (strike and contact lag).", unit="seconds", min=0.0, max=10.0)
    exit_unlocks: bool = setting(True, "The exit button unlocks the strike (false: it is only logged).")
    tamper_blocks_entry: bool = setting(True, "While the keypad/sensor enclosure has been opened, refuse PINs and "
                                        "fingers until the enclosure is shut and an admin acknowledges the tamper "
                                        "alarm (someone may be swapping the reader). Exit and remote unlock still work.")
    door_contact_debounce_ms: int = setting(100, "A door contact change must be stable this long to count.",
                                            unit="milliseconds", min=0, max=2000)
    second_factor_timeout_seconds: float = setting(10.0, "In pin_and_finger mode, time allowed to present the "
                                                   "second factor.", unit="seconds", min=2.0, max=120.0)


@dataclass(frozen=True)
class PinConfig:
    """`[pin]`: PIN length, keypad entry and lockout after refused PINs."""

    length_digits: int = setting(6, "Length of generated PINs.", unit="digits", min=4, max=12)
    max_entry_digits: int = setting(12, "Digits kept while typing; a longer entry is discarded. At least "
                                    "length_digits.", unit="digits", min=4, max=32)
    inter_digit_timeout_seconds: float = setting(5.0, "A partial entry is discarded after this pause between keys.",
                                                 unit="seconds", min=1.0, max=60.0)
    lockout_after_failures: int = setting(3, "Consecutive refused PINs (unknown, suspended, expired, ... alike) that start a keypad lockout.",
                                          unit="attempts", min=1, max=100)
    lockout_base_seconds: float = setting(30.0, "Length of the first lockout; each further lockout doubles it.",
                                          unit="seconds", min=1.0, max=3600.0)
    lockout_max_seconds: float = setting(900.0, "Longest lockout; at least lockout_base_seconds.",
                                         unit="seconds", min=1.0, max=86400.0)
    alarm_after_failures: int = setting(10, "Refused PINs within alarm_window_seconds that raise an alarm.",
                                        unit="attempts", min=1, max=1000)
    alarm_window_seconds: float = setting(600.0, "Window in which alarm_after_failures are counted.",
                                          unit="seconds", min=10.0, max=86400.0)
    suspend_after_failures_24h: int = setting(20, "Wrong PINs within 24 hours after which PIN entry stays locked "
                                              "until an admin clears it (a success does not reset this count).",
                                              unit="attempts", min=1, max=10000)


@dataclass(frozen=True)
class KeypadConfig:
    """`[keypad]`: the PIN keypad, a GPIO key matrix or a Wiegand reader."""

    type: str = setting("matrix", "Kind of keypad; none = no keypad (finger only).",
                        choices=("matrix", "wiegand", "none"))
    row_pins: tuple[int, ...] = setting((5, 6, 13, 19), "Matrix row lines, top row first.",
                                        check=_required_pin, rule="BCM 0..27 each")
    column_pins: tuple[int, ...] = setting((12, 16, 20), "Matrix column lines, left column first.",
                                           check=_required_pin, rule="BCM 0..27 each")
    keys: tuple[tuple[str, ...], ...] = setting(
        (("1", "2", "3"), ("4", "5", "6"), ("7", "8", "9"), ("*", "0", "#")),
        "Key labels, one list per row; must match row_pins x column_pins and hold 0-9, * and # once each.",
        check=v.keypad_keys, rule="single characters 0-9 * # A B C D")
    scan_interval_ms: int = setting(10, "Time between matrix scans.", unit="milliseconds", min=1, max=100)
    debounce_scans: int = setting(3, "Consecutive scans a key must agree on before it counts.",
                                  unit="scans", min=1, max=20)
    wiegand_d0_pin: int = setting(23, "Wiegand DATA0 line.", check=_required_pin, rule="BCM 0..27")
    wiegand_d1_pin: int = setting(24, "Wiegand DATA1 line.", check=_required_pin, rule="BCM 0..27")
    wiegand_gap_ms: int = setting(25, "Silence that ends a Wiegand frame.", unit="milliseconds", min=5, max=1000)
    wiegand_bits: int = setting(4, "Bits the reader sends per key press.", unit="bits", choices=(4, 8))


@dataclass(frozen=True)
class GpioConfig:
    """`[gpio]`: door I/O lines (BCM numbers; -1 = not fitted, except the relay)."""

    relay_pin: int = setting(17, "Strike relay output; de-energised = locked. Use GPIO 9-27 with an external "
                             "pull-down.", check=_required_pin, rule="BCM 0..27")
    relay_active_high: bool = setting(True, "The relay energises when its pin is driven high.")
    door_contact_pin: int = setting(22, "Door contact input (closed = door shut).", check=_optional_pin, rule=_PIN_RULE)
    exit_pin: int = setting(27, "Exit (request-to-exit) button input.", check=_optional_pin, rule=_PIN_RULE)
    tamper_pin: int = setting(26, "Enclosure tamper switch input.", check=_optional_pin, rule=_PIN_RULE)
    buzzer_pin: int = setting(18, "Buzzer output.", check=_optional_pin, rule=_PIN_RULE)
    green_led_pin: int = setting(21, "Green LED output (access granted).", check=_optional_pin, rule=_PIN_RULE)
    red_led_pin: int = setting(25, "Red LED output (denied, locked out, alarm).", check=_optional_pin, rule=_PIN_RULE)


@dataclass(frozen=True)
class SensorConfig:
    """`[sensor]`: the fingerprint sensor on the UART (ZhianTec/R30x/AS608 family)."""

    enabled: bool = setting(True, "Use the fingerprint sensor (false: PIN only).")
    port: str = setting("/dev/serial0", "Serial device of the sensor; not empty while enabled.")
    baud_rate: int = setting(57600, "Serial speed the sensor is set to.", unit="baud", check=v.baud_rate,
                             rule="multiple of 9600 in 9600..115200")
    address: int = setting(_ANY_ADDRESS, "Sensor module address (4294967295 = 0xFFFFFFFF, the factory value).",
                           min=0, max=_ANY_ADDRESS)
    password: int = setting(0, "Sensor password; set a non-default one on a real door.", min=0, max=_ANY_ADDRESS)
    min_match_score: int = setting(60, "Lowest match score accepted as the enrolled finger.",
                                   unit="score", min=1, max=500)
    command_timeout_seconds: float = setting(3.0, "A sensor command without an answer after this is a failure.",
                                             unit="seconds", min=0.5, max=30.0)
    enroll_step_timeout_seconds: float = setting(
        30.0, "How long a person has for each enrolment step (place the finger, lift it, place it again); "
        "kunci finger enroll and the admin web wait a little longer for each step.",
        unit="seconds", min=5.0, max=300.0)
    poll_interval_ms: int = setting(100, "Time between checks for a finger on the sensor.",
                                    unit="milliseconds", min=10, max=2000)
    reconnect_max_seconds: float = setting(30.0, "Longest wait between reconnection attempts to a lost sensor.",
                                           unit="seconds", min=1.0, max=600.0)
    failed_matches_before_delay: int = setting(5, "Unknown fingers in a row before the sensor pauses.",
                                               unit="attempts", min=1, max=100)
    failed_match_delay_seconds: float = setting(30.0, "Pause after failed_matches_before_delay unknown fingers "
                                                "(the finger brute-force throttle: it cannot be switched off).",
                                                unit="seconds", min=1.0, max=3600.0)


@dataclass(frozen=True)
class WebConfig:
    """`[web]`: the admin web page (HTTPS only)."""

    host: str = setting("127.0.0.1", "Address the admin web listens on.", check=v.non_empty, rule="not empty")
    port: int = setting(8443, "TCP port of the admin web.", min=1, max=65535)
    cert_file: str = setting("", "TLS certificate file (empty = DATA/tls/cert.pem); set together with key_file.")
    key_file: str = setting("", "TLS private key file (empty = DATA/tls/key.pem); set together with cert_file.")
    session_idle_minutes: int = setting(30, "A login with no request for this long ends.",
                                        unit="minutes", min=1, max=1440)
    session_max_hours: int = setting(12, "A login ends this long after it started, whatever the activity.",
                                     unit="hours", min=1, max=168)
    login_failures_before_lock: int = setting(10, "Wrong passwords in a row that lock the account.",
                                              unit="attempts", min=1, max=100)
    login_lock_minutes: int = setting(30, "How long a locked account stays locked.", unit="minutes", min=1, max=1440)


@dataclass(frozen=True)
class StoreConfig:
    """`[store]`: the database."""

    url: str = setting("", "SQLAlchemy database URL (empty = sqlite:///DATA/kunci.db).",
                       check=v.sqlalchemy_url, rule="empty or a SQLAlchemy URL")
    busy_timeout_ms: int = setting(5000, "How long SQLite waits for a lock held by the other process.",
                                   unit="milliseconds", min=100, max=60000)
    retention_days: int = setting(0, "Events older than this may be archived (0 = keep all).",
                                  unit="days", min=0, max=36500)


@dataclass(frozen=True)
class Config:
    """The whole configuration; ``Config()`` is the all-defaults configuration."""

    simulated: bool = setting(False, "Use simulated keypad, sensor, relay and door contact instead of hardware "
                              "(demo and tests; never on a real door).")
    site: SiteConfig = field(default_factory=SiteConfig)
    door: DoorConfig = field(default_factory=DoorConfig)
    pin: PinConfig = field(default_factory=PinConfig)
    keypad: KeypadConfig = field(default_factory=KeypadConfig)
    gpio: GpioConfig = field(default_factory=GpioConfig)
    sensor: SensorConfig = field(default_factory=SensorConfig)
    web: WebConfig = field(default_factory=WebConfig)
    store: StoreConfig = field(default_factory=StoreConfig)


#: TOML section name -> dataclass, in file order.
SECTIONS: dict[str, type] = {
    f.name: typing.get_type_hints(Config)[f.name] for f in dataclasses.fields(Config) if "spec" not in f.metadata
}
_TOP_KEYS = [f.name for f in dataclasses.fields(Config) if "spec" in f.metadata]


# --- reading ---------------------------------------------------------------------------------------


def parse_config(data: dict[str, Any]) -> Config:
    """Check the parsed TOML ``data`` against the schema and build the :class:`Config`.

    Raises :class:`ConfigError` whose ``errors`` lists every problem, one line each,
    naming the key (``door.unlock_seconds: 0.2 is below the minimum 1.0``).
    """
    errors: list[str] = []
    bad: set[str] = set()
    top = {k: val for k, val in data.items() if k not in SECTIONS}
    top_values = v.convert_section(Config, "", top, errors, bad)
    values: dict[str, dict[str, Any]] = {}
    for name, cls in SECTIONS.items():
        table = data.get(name, {})
        if not isinstance(table, dict):
            errors.append(f"{name}: expected a table [{name}], got {v.toml_value(table)}")
            table = {}
        values[name] = v.convert_section(cls, name, table, errors, bad)
    effective = {
        name: {f.name: values[name].get(f.name, f.default) for f in dataclasses.fields(cls)}
        for name, cls in SECTIONS.items()
    }
    v.check_cross(effective, bad, errors)
    if errors:
        raise ConfigError(errors)
    return Config(**top_values, **{name: cls(**values[name]) for name, cls in SECTIONS.items()})


def load_config(path: Path) -> Config:
    """Read and check the TOML file at ``path``; a missing file gives the all-defaults :class:`Config`.

    Raises :class:`ConfigError` for an unreadable file, a TOML syntax error (the message
    names line and column) or any invalid value.
    """
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        log.info("no configuration file at %s; using the defaults", path)
        return Config()
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: not UTF-8 text (byte {exc.start})"]) from exc
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from exc
    return parse_config(data)


def write_default_config(path: Path) -> bool:
    """Create ``path`` with :func:`default_config_text` unless it exists; True if it was created.

    Never overwrites. The file is created 0640 (the sensor password may be in it).
    """
    try:
        atomic_write(path, default_config_text(), mode=0o640, replace=False)
    except FileExistsError:
        return False
    log.info("wrote default configuration to %s", path)
    return True


# --- generated text: the example file and the reference page ----------------------------------------


def _range_text(spec: v.Spec) -> str:
    parts = []
    if spec.min is not None and spec.max is not None:
        parts.append(f"{v.toml_value(spec.min)}..{v.toml_value(spec.max)}")
    elif spec.min is not None:
        parts.append(f">= {v.toml_value(spec.min)}")
    if spec.choices is not None:
        parts.append("one of " + ", ".join(v.toml_value(c) for c in spec.choices))
    if spec.rule:
        parts.append(spec.rule)
    return "; ".join(parts)


def _schema() -> list[tuple[str | None, str, list[tuple[dataclasses.Field[Any], Any]]]]:
    """(section or None for top level, section doc, [(field, type)]) in file order."""
    hints = typing.get_type_hints(Config)
    out: list[tuple[str | None, str, list[tuple[dataclasses.Field[Any], Any]]]] = [
        (None, "Keys outside any section.", [(f, hints[f.name]) for f in dataclasses.fields(Config) if f.name in _TOP_KEYS])
    ]
    for name, cls in SECTIONS.items():
        cls_hints = typing.get_type_hints(cls)
        doc = (cls.__doc__ or "").split(":", 1)[-1].strip()
        out.append((name, doc, [(f, cls_hints[f.name]) for f in dataclasses.fields(cls)]))
    return out


_NBSP = "\u00a0"

_EXAMPLE_HEADER = """\
# Kunci configuration: DATA/kunci.toml (DATA = --data, else $KUNCI_DATA, else /var/lib/kunci).
#
# Every key is optional; a key left out takes the default, which is the value shown here.
# Units are part of the key names (_seconds, _ms, _minutes). Check a file with `kunci config check`.
# This text is generated from controller/config/__init__.py; docs/configuration.md explains every key.
"""


def default_config_text() -> str:
    """The commented example configuration, every key at its default (config/kunci.example.toml)."""
    lines = [_EXAMPLE_HEADER.rstrip("\n")]
    for section, doc, fields in _schema():
        lines.append("")
        if section is not None:
            lines += [f"# {doc[0].upper()}{doc[1:]}", f"[{section}]", ""]
        for f, _tp in fields:
            spec = v.spec_of(f)
            extra = ", ".join(p for p in (spec.unit, _range_text(spec)) if p)
            # the bracket never breaks across lines: wrap with no-break spaces, then restore them
            comment = f"{spec.doc} [{extra.replace(' ', _NBSP)}]" if extra else spec.doc
            wrapped = textwrap.wrap(comment, width=100, initial_indent="# ", subsequent_indent="# ")
            lines += [line.replace(_NBSP, " ") for line in wrapped]
            lines += [f"{f.name} = {v.toml_value(f.default)}", ""]
        lines.pop()
    return "\n".join(lines) + "\n"


_REFERENCE_INTRO = """\
# Configuration reference

Kunci reads one file, `DATA/kunci.toml`, where `DATA` is the data directory: `--data DIR`, else the
`KUNCI_DATA` environment variable, else `/var/lib/kunci` (`kunci demo` uses `./kunci-demo`).
`kunci init` writes the file with every key at its default when it does not exist, and never
overwrites it. Every key is optional: a key left out, or a missing file, takes the default.
Units are part of the key names (`_seconds`, `_ms`, `_minutes`, `_hours`, `_days`). The commented
example is [`config/kunci.example.toml`](../config/kunci.example.toml).

The daemon and the admin web check the whole file when they start and refuse to start on any
problem. To check a file yourself:

```
kunci config check [--data DIR] [--file PATH]
```

prints `config OK: <path>` and exits 0, or names the file and then prints every problem, one
line each naming the key, and exits 2, for example:

```
kunci: config error: /var/lib/kunci/kunci.toml: 3 problems
kunci: config error: door.unlock_seconds: 0.2 is below the minimum 1.0
kunci: config error: gpio: pin 17 is used by both gpio.relay_pin and keypad.row_pins[0]
kunci: config error: unknown key door.unlok_seconds (did you mean door.unlock_seconds?)
```

Besides each key's own type and range, the check covers rules across keys: no GPIO pin used
twice (the `[gpio]` pins, plus the keypad's matrix or Wiegand pins for the keypad type in use;
-1 = not fitted, never for the relay); a matrix keypad's `keys` grid matches `row_pins` x
`column_pins` and holds 0-9, `*` and `#` exactly once; `pin.length_digits` gives at least 1000
possible PINs per person (10 ** length_digits / site.max_users >= 1000); the unlock times keep
`unlock_seconds <= extended_unlock_seconds <= max_unlock_seconds`; `held_open_prealarm_seconds <
held_open_seconds`; `length_digits <= max_entry_digits`; `lockout_base_seconds <=
lockout_max_seconds`; a web session's idle limit fits in its maximum age; `web.cert_file` and
`web.key_file` are set together. `kunci config show` prints the effective configuration.

The tables below are generated from the schema in `controller/config/__init__.py`
(`python -m controller.config --write` regenerates this page and the example file).
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def config_reference_markdown() -> str:
    """The reference page docs/configuration.md: the intro and one table per section."""
    lines = [_REFERENCE_INTRO.rstrip("\n")]
    for section, doc, fields in _schema():
        lines.append("")
        lines.append("## Top level" if section is None else f"## `[{section}]`")
        lines += ["", f"{doc[0].upper()}{doc[1:]}", ""]
        lines += ["| key | type | default | unit / range | meaning |", "|---|---|---|---|---|"]
        for f, tp in fields:
            spec = v.spec_of(f)
            unit_range = ", ".join(p for p in (spec.unit, _range_text(spec)) if p)
            row = (f"`{f.name}`", v.type_text(tp), f"`{v.toml_value(f.default)}`", unit_range, spec.doc)
            lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    return "\n".join(lines) + "\n"


def config_as_toml(config: Config) -> str:
    """``config`` as TOML text, one ``key = value`` line per key; values that differ from the default are marked."""
    lines: list[str] = []
    defaults = Config()
    for section, _doc, fields in _schema():
        current = config if section is None else getattr(config, section)
        default = defaults if section is None else getattr(defaults, section)
        if section is not None:
            lines += ["", f"[{section}]"]
        for f, _tp in fields:
            value = getattr(current, f.name)
            mark = "" if value == getattr(default, f.name) else f"  # default: {v.toml_value(getattr(default, f.name))}"
            lines.append(f"{f.name} = {v.toml_value(value)}{mark}")
    return "\n".join(lines) + "\n"


#: Where the generated files live in a source checkout.
_REPO = Path(__file__).resolve().parents[2]
EXAMPLE_FILE = _REPO / "config" / "kunci.example.toml"
REFERENCE_FILE = _REPO / "docs" / "configuration.md"


def _main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m controller.config", description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--example", action="store_true", help="write the example configuration to stdout")
    group.add_argument("--markdown", action="store_true", help="write docs/configuration.md's text to stdout")
    group.add_argument("--write", action="store_true", help=f"regenerate {EXAMPLE_FILE} and {REFERENCE_FILE}")
    args = parser.parse_args(argv)
    if args.write:
        EXAMPLE_FILE.write_text(default_config_text(), encoding="utf-8")
        REFERENCE_FILE.write_text(config_reference_markdown(), encoding="utf-8")
    else:
        sys.stdout.write(default_config_text() if args.example else config_reference_markdown())
    return 0


if __name__ == "__main__":  # pragma: no cover (``python -m controller.config`` runs config/__main__.py)
    sys.exit(_main(sys.argv[1:]))
