"""The ``kunci`` command line.

Each area lives in its own module with ``register(subparsers, common)``: it adds
its sub-commands to ``subparsers`` and gives each ``parents=[common]`` (so every
command accepts ``--data``) and ``set_defaults(func=handler)``. A handler takes
the parsed ``argparse.Namespace`` and returns the exit code.

Errors: any :class:`~controller.errors.KunciError` becomes one line on stderr and
a non-zero exit (2 for configuration and usage errors, 1 otherwise); never a traceback.

Language: messages and tables are in ``KUNCI_LANG`` (``en`` or ``id``) when it is set, else in the
data directory's ``[site] language`` (:func:`cli_language`); ``--help`` texts stay English.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import tomllib
from collections.abc import Sequence

from controller.driver_text import describe
from controller.errors import ConfigError, InvalidInput, KunciError
from controller.i18n import LANGUAGES, _, set_language
from controller.paths import DataDir
from drivers.errors import DriverError

#: The environment variable that picks the CLI's language over ``[site] language``.
LANGUAGE_ENV = "KUNCI_LANG"

#: Modules (under ``controller.cli``) that contribute sub-commands, in help order.
COMMAND_MODULES = (
    "init_cmd",
    "config_cmd",
    "people_cmd",
    "visitor_cmd",
    "finger_cmd",
    "admin_cmd",
    "log_cmd",
    "audit_cmd",
    "review_cmd",
    "daemon_cmd",
    "status_cmd",
    "door_cmd",
    "alert_cmd",
    "groups_cmd",
    "sim_cmd",
    "web_cmd",
    "demo_cmd",
    "backup_cmd",
    "doctor_cmd",
    "install_cmd",
    "site_cmd",
)

#: Which module registers each top-level command, so that one command imports only its own module
#: (``kunci run`` then never loads the web, backup or TLS code: memory and start-up time).
#: A test checks this table against what the modules really register.
COMMAND_OWNERS = {
    "init": "init_cmd",
    "db": "init_cmd",
    "config": "config_cmd",
    "user": "people_cmd",
    "visitor": "visitor_cmd",
    "finger": "finger_cmd",
    "admin": "admin_cmd",
    "log": "log_cmd",
    "audit": "audit_cmd",
    "review": "review_cmd",
    "run": "daemon_cmd",
    "status": "status_cmd",
    "door": "door_cmd",
    "group": "groups_cmd",
    "schedule": "groups_cmd",
    "holiday": "groups_cmd",
    "lockdown": "door_cmd",
    "lockout": "door_cmd",
    "alert": "alert_cmd",
    "sim": "sim_cmd",
    "web": "web_cmd",
    "demo": "demo_cmd",
    "backup": "backup_cmd",
    "doctor": "doctor_cmd",
    "install-service": "install_cmd",
    "site": "site_cmd",
}


def _command_word(argv: Sequence[str]) -> str | None:
    """The first positional word of ``argv`` (skipping ``--data DIR``), or None."""
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word == "--data":
            skip = True
        elif not word.startswith("-"):
            return word
    return None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with ``argv`` naming a known command, only that command's module is imported."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="data directory (default: $KUNCI_DATA, else /var/lib/kunci)",
    )
    parser = argparse.ArgumentParser(
        prog="kunci",
        description="Kunci access controller for a locked records room.",
        parents=[common],
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    owner = COMMAND_OWNERS.get(_command_word(argv)) if argv is not None else None
    for name in (owner,) if owner else COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(sub, common)
    return parser


def cli_language(data: str | None) -> str:
    """``KUNCI_LANG`` if it names a language, else ``[site] language`` of the data directory's
    configuration (read leniently: a missing or broken file means English; ``kunci config check``
    is the place that reports it), else ``en``."""
    chosen = os.environ.get(LANGUAGE_ENV, "").strip().lower()[:2]
    if chosen in LANGUAGES:
        return chosen
    try:
        with open(DataDir.resolve(data).config_file, "rb") as f:
            site = tomllib.load(f).get("site", {})
    except (OSError, tomllib.TOMLDecodeError, ValueError):
        return "en"
    language = site.get("language") if isinstance(site, dict) else None
    return language if language in LANGUAGES else "en"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``kunci`` console script."""
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if argv is None:
        argv = sys.argv[1:]
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not hasattr(args, "data"):
        args.data = None
    set_language(cli_language(args.data))
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        for line in exc.errors or [str(exc)]:
            print(_("kunci: config error: {problem}").format(problem=line), file=sys.stderr)
        return 2
    except InvalidInput as exc:
        print(_("kunci: error: {problem}").format(problem=exc), file=sys.stderr)
        return 2
    except (KunciError, DriverError) as exc:  # a driver's English detail is said in a translated sentence
        print(_("kunci: error: {problem}").format(problem=describe(exc) if isinstance(exc, DriverError) else exc),
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(_("kunci: interrupted"), file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
