"""Read ``DATA/kunci.toml`` into a :class:`~controller.config.schema.Config`, reporting every problem at once
(:class:`~controller.errors.ConfigError`), and write the default file for ``kunci init``.
"""

from __future__ import annotations

import dataclasses
import logging
import tomllib
from pathlib import Path
from typing import Any

from controller.config import validate as v
from controller.config.doors import parse_doors
from controller.config.reference import default_config_text
from controller.config.schema import SECTIONS, Config
from controller.config.validate_site_link import check_site_link
from controller.errors import ConfigError
from controller.fileio import atomic_write
from controller.i18n import T, Text

log = logging.getLogger(__name__)


def parse_config(data: dict[str, Any]) -> Config:
    """Check the parsed TOML ``data`` against the schema and build the :class:`Config`.

    Raises :class:`ConfigError` whose ``errors`` lists every problem, one line each,
    naming the key (``door.unlock_seconds: 0.2 is below the minimum 1.0``).
    """
    errors: list[Text] = []
    bad: set[str] = set()
    top = {k: val for k, val in data.items() if k not in SECTIONS and k != "doors"}
    top_values = v.convert_section(Config, "", top, errors, bad)
    values: dict[str, dict[str, Any]] = {}
    for name, cls in SECTIONS.items():
        table = data.get(name, {})
        if not isinstance(table, dict):
            errors.append(T("{name}: expected a table [{name}], got {got}", name=name, got=v.toml_value(table)))
            table = {}
        values[name] = v.convert_section(cls, name, table, errors, bad)
    effective = {
        name: {f.name: values[name].get(f.name, f.default) for f in dataclasses.fields(cls)}
        for name, cls in SECTIONS.items()
    }
    v.check_cross(effective, bad, errors)
    check_site_link(effective["site_link"], top_values.get("simulated", False), bad, errors)
    extra_doors = parse_doors(data.get("doors"), effective, SECTIONS, bad, errors)
    if errors:
        raise ConfigError(errors)
    return Config(**top_values, **{name: cls(**values[name]) for name, cls in SECTIONS.items()}, doors=extra_doors)


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
        raise ConfigError([T("{path}: not valid TOML: {error}", path=path, error=exc)]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError([T("{path}: not valid TOML: not UTF-8 text (byte {byte})", path=path,
                             byte=exc.start)]) from exc
    except OSError as exc:
        raise ConfigError([T("{path}: cannot read: {error}", path=path, error=exc.strerror or exc)]) from exc
    return parse_config(data)


def write_default_config(path: Path) -> bool:
    """Create ``path`` with :func:`~controller.config.reference.default_config_text` unless it exists; True if it
    was created.

    Never overwrites. The file is created 0640 (the sensor password may be in it).
    """
    try:
        atomic_write(path, default_config_text(), mode=0o640, replace=False)
    except FileExistsError:
        return False
    log.info("wrote default configuration to %s", path)
    return True
