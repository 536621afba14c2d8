"""``kunci run``: the door daemon (foreground; systemd runs it as ``kunci-door.service``)."""

from __future__ import annotations

import argparse
import logging

from controller.config import load_config
from controller.paths import DataDir


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("run", parents=[common], help="run the door daemon (keypad, sensor, relay, log)")
    p.add_argument("--verbose", "-v", action="store_true", help="log every event of interest at INFO level")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from controller.daemon import Daemon

    logging.getLogger().setLevel(logging.INFO)
    datadir = DataDir.resolve(args.data)
    config = load_config(datadir.config_file)
    return Daemon(datadir, config).run()
