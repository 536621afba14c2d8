"""``kunci run``: the door daemon (foreground; systemd runs it as ``kunci-door.service``).

Exit status (docs/install-pi.md, "Exit status of kunci run"): 0 stopped cleanly (SIGTERM, SIGINT);
1 another error (database, data directory, secrets, a daemon already running); 2 the configuration
is invalid (:data:`EXIT_CONFIG`); 3 real hardware is configured but this machine's GPIO pins cannot
be used (:data:`EXIT_GPIO_UNAVAILABLE`); 4 the door's data was lost (:data:`EXIT_DATA_LOST`). The
systemd unit does not restart on 2, 3 or 4 (``RestartPreventExitStatus=``): a restart cannot fix
them, and the door stays locked.

Under systemd (``JOURNAL_STREAM`` names our stderr) log lines are ``<N>LEVEL logger: message``
with no timestamp: journald adds its own and reads the ``<N>`` syslog priority prefix, so
``journalctl -u kunci-door -p warning`` works. Lines carry event types, reason codes and
person codes only, never names or PINs.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from controller.config import load_config
from controller.errors import DataLost
from controller.i18n import _
from controller.paths import DataDir
from controller.slow_stop import enable_stack_dumps
from drivers.errors import GpioUnavailable

#: Exit status of ``kunci run`` for an invalid configuration (the CLI's status for every ConfigError).
EXIT_CONFIG = 2
#: Exit status of ``kunci run`` when ``simulated = false`` and no GPIO pin library loads on this machine.
EXIT_GPIO_UNAVAILABLE = 3
#: Exit status of ``kunci run`` when the door's data was lost (database missing/empty under an initialised
#: DATA, or the log behind its anchor file): a person must restore a backup, a restart cannot help.
EXIT_DATA_LOST = 4

#: Log format when stderr goes to the journal (journald timestamps each line itself).
JOURNAL_FORMAT = "%(levelname)s %(name)s: %(message)s"


class JournalFormatter(logging.Formatter):
    """Prefixes each line with its syslog priority (``<3>`` error ... ``<7>`` debug) for journald."""

    _PRIORITY = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6, logging.DEBUG: 7}

    def format(self, record: logging.LogRecord) -> str:
        priority = next((p for level, p in sorted(self._PRIORITY.items(), reverse=True) if record.levelno >= level), 7)
        return f"<{priority}>" + super().format(record)


def stderr_is_journal(environ: dict[str, str] | os._Environ[str] = os.environ, stream: object = sys.stderr) -> bool:
    """True when ``JOURNAL_STREAM`` (``device:inode``) matches ``stream`` (systemd connected it to journald)."""
    value = environ.get("JOURNAL_STREAM", "")
    device, _colon, inode = value.partition(":")
    if not (device.isdigit() and inode.isdigit()):
        return False
    try:
        st = os.fstat(stream.fileno())  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False
    return (st.st_dev, st.st_ino) == (int(device), int(inode))


def configure_journal_logging(root: logging.Logger | None = None) -> bool:
    """Switch the root logger's handlers to :class:`JournalFormatter` when stderr is the journal."""
    if not stderr_is_journal():
        return False
    for handler in (root or logging.getLogger()).handlers:
        handler.setFormatter(JournalFormatter(JOURNAL_FORMAT))
    return True


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("run", parents=[common], help="run the door daemon (keypad, sensor, relay, log)")
    p.add_argument("--verbose", "-v", action="store_true", help="log every event of interest at INFO level")
    p.add_argument("--accept-truncated-log", action="store_true",
                   help="start although the database lost events the anchor file names (logged as "
                   "log.truncated, alarm raised); without it such a start is refused (docs/reliability.md)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from controller.daemon.loop import Daemon

    logging.getLogger().setLevel(logging.INFO)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # migration chatter is not an event of interest
    configure_journal_logging()
    enable_stack_dumps()
    datadir = DataDir.resolve(args.data)
    config = load_config(datadir.config_file)
    try:
        return Daemon(datadir, config, accept_truncated_log=getattr(args, "accept_truncated_log", False)).run()
    except DataLost as exc:
        print(_("kunci: {problem}").format(problem=exc), file=sys.stderr)
        return EXIT_DATA_LOST
    except GpioUnavailable as exc:
        print(_("kunci: hardware error: {problem}").format(problem=exc), file=sys.stderr)
        print(_("kunci: on a machine without the door's GPIO, set simulated = true to try Kunci out "
                "(docs/configuration.md)"), file=sys.stderr)
        return EXIT_GPIO_UNAVAILABLE
