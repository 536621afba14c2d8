"""The ``kunci`` command line.

Each area lives in its own module with ``register(subparsers, common)``: it adds
its sub-commands to ``subparsers`` and gives each ``parents=[common]`` (so every
command accepts ``--data``) and ``set_defaults(func=handler)``. A handler takes
the parsed ``argparse.Namespace`` and returns the exit code.

Errors: any :class:`~controller.errors.KunciError` becomes one line on stderr and
a non-zero exit (2 for configuration and usage errors, 1 otherwise); never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from controller.errors import ConfigError, InvalidInput, KunciError

#: Modules (under ``controller.cli``) that contribute sub-commands, in help order.
COMMAND_MODULES = (
    "init_cmd",
    "config_cmd",
    "people_cmd",
    "finger_cmd",
    "admin_cmd",
    "log_cmd",
    "audit_cmd",
    "daemon_cmd",
    "status_cmd",
    "sim_cmd",
    "web_cmd",
    "demo_cmd",
    "backup_cmd",
    "doctor_cmd",
    "install_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    """The full parser, with every available command module registered."""
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
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{name}":
                continue  # area not built yet
            raise
        module.register(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``kunci`` console script."""
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "data"):
        args.data = None
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        for line in exc.errors or [str(exc)]:
            print(f"kunci: config error: {line}", file=sys.stderr)
        return 2
    except InvalidInput as exc:
        print(f"kunci: error: {exc}", file=sys.stderr)
        return 2
    except KunciError as exc:
        print(f"kunci: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("kunci: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
