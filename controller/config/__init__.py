"""The typed configuration of Kunci, read from ``DATA/kunci.toml``.

One frozen dataclass per TOML section (:class:`SiteConfig` for ``[site]``, ...) and
:class:`Config` on top (:mod:`controller.config.schema`). Each field carries its default and a :class:`Spec` (meaning,
unit, range) in its metadata: that schema is the single source of the defaults, of
the validation (:mod:`controller.config.validate`), of the commented example file
``config/kunci.example.toml`` (:func:`default_config_text`) and of the reference page
``docs/configuration.md`` (:func:`config_reference_markdown`). Regenerate both with
``python -m controller.config --write``.

Every key is optional. :func:`parse_config` reports every problem at once in one
:class:`~controller.errors.ConfigError` (reading: :mod:`controller.config.load`; the example and the reference
page: :mod:`controller.config.reference`). This package's names are the configuration's public API.
"""

from __future__ import annotations

from controller.config.doors import MAX_DOORS, DoorSetup, door_view
from controller.config.load import load_config, parse_config, write_default_config
from controller.config.reference import config_as_toml, config_reference_markdown, default_config_text
from controller.config.schema import (
    SECTIONS,
    Config,
    DoorConfig,
    GpioConfig,
    KeypadConfig,
    PinConfig,
    SensorConfig,
    SiteConfig,
    StoreConfig,
    WebConfig,
)

__all__ = [
    "MAX_DOORS", "SECTIONS", "Config", "DoorConfig", "DoorSetup", "door_view", "GpioConfig", "KeypadConfig", "PinConfig", "SensorConfig", "SiteConfig",
    "StoreConfig", "WebConfig", "config_as_toml", "config_reference_markdown", "default_config_text", "load_config",
    "parse_config", "write_default_config",
]
