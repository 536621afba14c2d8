"""``kunci config check`` and ``kunci config show``: validate and print ``DATA/kunci.toml``."""

from __future__ import annotations

import argparse
from pathlib import Path

from controller.config import Config, config_as_toml, load_config
from controller.errors import ConfigError
from controller.i18n import _
from controller.paths import DataDir


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``config check`` and ``config show`` (each with ``--data`` and ``--file``)."""
    parser = subparsers.add_parser("config", parents=[common], help="check or show the configuration")
    sub = parser.add_subparsers(dest="config_command", metavar="ACTION")
    sub.required = True
    file_opt = argparse.ArgumentParser(add_help=False)
    file_opt.add_argument("--file", metavar="PATH", help="configuration file (default: DATA/kunci.toml)")
    check = sub.add_parser(
        "check",
        parents=[common, file_opt],
        help="report every problem in the configuration file (exit 2 if any)",
    )
    check.set_defaults(func=run_check)
    show = sub.add_parser(
        "show",
        parents=[common, file_opt],
        help="print the effective configuration, defaults included",
    )
    show.set_defaults(func=run_show)


def _config_path(args: argparse.Namespace) -> Path:
    if getattr(args, "file", None):
        return Path(args.file).expanduser().absolute()
    return DataDir.resolve(args.data).config_file


def _load(path: Path) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        if len(exc.errors) == 1 and str(exc.errors[0]).startswith(str(path)):
            raise  # a syntax or read error already names the file
        count = len(exc.errors)
        summary = (_("{path}: {count} problem") if count == 1 else _("{path}: {count} problems")).format(
            path=path, count=count)
        raise ConfigError([summary, *exc.errors]) from exc


def run_check(args: argparse.Namespace) -> int:
    """Load and validate the file; a problem raises ConfigError (the dispatcher exits 2)."""
    path = _config_path(args)
    _load(path)
    print((_("config OK: {path}") if path.exists() else _("config OK: {path} (no file: all defaults)")).format(
        path=path))
    return 0


def run_show(args: argparse.Namespace) -> int:
    """Print the effective configuration as TOML; keys that differ from the default say so."""
    path = _config_path(args)
    config = _load(path)
    print((_("# effective configuration from {path}") if path.exists()
           else _("# effective configuration from {path} (no file: all defaults)")).format(path=path))
    print(config_as_toml(config), end="")
    return 0
