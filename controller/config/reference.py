"""The schema rendered for people: the commented example ``config/kunci.example.toml``
(:func:`default_config_text`), the reference page ``docs/configuration.md`` (:func:`config_reference_markdown`)
and a loaded configuration as TOML (:func:`config_as_toml`). ``python -m controller.config --write``
regenerates both files (:func:`main`).
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import textwrap
import typing
from pathlib import Path
from typing import Any

from controller.config import validate as v
from controller.config.schema import SECTIONS, TOP_KEYS, Config

log = logging.getLogger(__name__)


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
        (None, "Keys outside any section.", [(f, hints[f.name]) for f in dataclasses.fields(Config) if f.name in TOP_KEYS])
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
    lines += ["", *_EXAMPLE_DOORS.rstrip("\n").split("\n")]
    return "\n".join(lines) + "\n"


_EXAMPLE_DOORS = """\
# More doors (up to 4 in all): [door], [gpio], [keypad] and [sensor] above are the first door; each
# [[doors]] entry is one more, with its own name, any [door] key (left out = the value of [door]) and the
# sub-tables gpio (relay_pin required; other lines left out = -1, not fitted), keypad (left out = no keypad)
# and sensor (left out = no sensor). No GPIO line or sensor serial port may be used twice. Wiring for a
# second door: docs/install-pi.md.
#
# [[doors]]
# name = "vault"
# unlock_seconds = 5.0
# [doors.gpio]
# relay_pin = 23
# door_contact_pin = 24
# exit_pin = 10
# tamper_pin = 11
# green_led_pin = 7
# red_led_pin = 4
# [doors.keypad]
# type = "wiegand"
# wiegand_d0_pin = 2
# wiegand_d1_pin = 3
# [doors.sensor]
# port = "/dev/ttyAMA4"
"""


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
    lines += ["", *_REFERENCE_DOORS.rstrip("\n").split("\n")]
    return "\n".join(lines) + "\n"


_REFERENCE_DOORS = """\
## `[[doors]]`: more doors

One controller drives up to four doors, each with its own relay, contact, exit button, tamper switch,
indicators, keypad, fingerprint sensor and timing. `[door]`, `[gpio]`, `[keypad]` and `[sensor]` describe
the first door (a file without `[[doors]]` is a one-door controller, as before). Each `[[doors]]` entry adds
one door:

| key | meaning |
|---|---|
| `name` | required; unique; 1-40 of `a-z`, `0-9`, `_`, `-`; the door's name in events, status and commands |
| any `[door]` key | the door's timing and rules; a key left out takes the value of `[door]` |
| `[doors.gpio]` | the `[gpio]` keys; `relay_pin` is required, every other line left out is -1 (not fitted) |
| `[doors.keypad]` | the `[keypad]` keys; the whole table left out = no keypad at this door |
| `[doors.sensor]` | the `[sensor]` keys; the whole table left out = no fingerprint sensor at this door |

The check adds: at most four doors in all, names unique, no GPIO line used twice across all doors (the
keypad lines of the keypad type in use included), no serial port used by two enabled sensors, and each
door's own rules (unlock times ordered, keypad grid). Errors name the door (`doors.vault.gpio.relay_pin`,
`door vault: ...`). Shared by all doors: `[site]`, `[pin]` (PIN length and the lockout, whose counters are
shared too), the database, the web and the alert destinations. Wiring for a second door:
[install-pi.md](install-pi.md).

```toml
[[doors]]
name = "vault"
[doors.gpio]
relay_pin = 23
door_contact_pin = 24
exit_pin = 10
tamper_pin = 11
green_led_pin = 7
red_led_pin = 4
[doors.keypad]
type = "wiegand"
wiegand_d0_pin = 2
wiegand_d1_pin = 3
[doors.sensor]
port = "/dev/ttyAMA4"
```
"""


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
    for setup in config.doors:
        lines += ["", "[[doors]]", f"name = {v.toml_value(setup.name)}"]
        lines += [f"{f.name} = {v.toml_value(getattr(setup.door, f.name))}"
                  for f in dataclasses.fields(setup.door) if f.name != "name"]
        for sub in ("gpio", "keypad", "sensor"):
            part = getattr(setup, sub)
            lines += ["", f"[doors.{sub}]"]
            lines += [f"{f.name} = {v.toml_value(getattr(part, f.name))}" for f in dataclasses.fields(part)]
    return "\n".join(lines) + "\n"


#: Where the generated files live in a source checkout.
_REPO = Path(__file__).resolve().parents[2]
EXAMPLE_FILE = _REPO / "config" / "kunci.example.toml"
REFERENCE_FILE = _REPO / "docs" / "configuration.md"


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m controller.config", description="Regenerate the example configuration and its reference page from the schema.")
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
