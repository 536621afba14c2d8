"""``kunci init`` (create or upgrade DATA, idempotent) and ``kunci db upgrade``."""

from __future__ import annotations

import argparse

from controller.errors import DataDirError
from controller.i18n import T, _
from controller.ops.initialise import initialise, upgrade
from controller.paths import DataDir


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``init`` and ``db upgrade``."""
    init = subparsers.add_parser(
        "init",
        parents=[common],
        help="create or upgrade the data directory (config, secrets, database); safe to repeat",
    )
    init.add_argument(
        "--new-database",
        action="store_true",
        help="on a data directory that was initialised before but lost its database: create a new, empty "
        "one (people and the entry log start from nothing; restore a backup instead if you have one)",
    )
    init.set_defaults(func=run_init)
    db = subparsers.add_parser("db", parents=[common], help="database maintenance")
    sub = db.add_subparsers(dest="db_command", metavar="ACTION")
    sub.required = True
    upgrade = sub.add_parser("upgrade", parents=[common], help="migrate the database to this version's schema")
    upgrade.set_defaults(func=run_db_upgrade)


def run_init(args: argparse.Namespace) -> int:
    """Create what is missing in DATA, upgrade the database, and say what was done."""
    datadir = DataDir.resolve(args.data)
    for line in initialise(datadir, new_database=getattr(args, "new_database", False)):
        print(line)
    print(_("{path} is ready").format(path=datadir.root))
    return 0


def run_db_upgrade(args: argparse.Namespace) -> int:
    """Migrate the database of DATA to the newest schema."""
    datadir = DataDir.resolve(args.data)
    if not datadir.root.is_dir():
        raise DataDirError(T("{path} does not exist; run 'kunci init' first", path=datadir.root))
    print(upgrade(datadir))
    return 0
