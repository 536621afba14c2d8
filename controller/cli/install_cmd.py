"""``kunci install-service``: systemd units, accounts, data directory modes and owners (idempotent)."""

from __future__ import annotations

import argparse
from pathlib import Path, PurePosixPath

from controller.i18n import _
from controller.ops.install import install_service
from controller.ops.install_plan import DEFAULT_PREFIX
from controller.paths import DEFAULT_DATA_DIR


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``install-service``."""
    p = subparsers.add_parser(
        "install-service",
        parents=[common],
        help="install the kunci-door and kunci-web systemd services, accounts and data directory (safe to repeat)",
        description="Create the kunci accounts (real system only), copy the systemd units, initialise the data "
                    "directory and set its modes and owners; write etc/kunci/install-manifest.txt. With --root "
                    "everything goes under a scratch prefix and the real system is not touched.",
    )
    p.add_argument("--root", metavar="PREFIX", default="/",
                   help="install under this scratch root instead of / (no accounts, no owner changes)")
    p.add_argument("--prefix", metavar="DIR", default=str(DEFAULT_PREFIX),
                   help="where the venv lives on the target; the units run PREFIX/venv/bin/kunci (default %(default)s)")
    p.add_argument("--units", metavar="DIR", default=None,
                   help="directory with the shipped kunci-door.service and kunci-web.service "
                        "(default: config/systemd of this source tree, else PREFIX/src/config/systemd)")
    p.add_argument("--dry-run", action="store_true", help="say what would change; change nothing")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Install, then print every change (or that nothing changed) and the notes."""
    data = PurePosixPath(args.data) if args.data else PurePosixPath(str(DEFAULT_DATA_DIR))
    report = install_service(
        Path(args.root),
        data,
        PurePosixPath(args.prefix),
        dry_run=args.dry_run,
        units_dir=Path(args.units) if args.units else None,
    )
    for line in report.changes:
        print(line)
    if not report.changes:
        print(_("nothing to change: the installation already matches {manifest}").format(manifest=report.manifest))
    for note in report.notes:
        print(_("note: {note}").format(note=note))
    if not args.dry_run and args.root == "/":
        print(_("next: edit the configuration, run `sudo -u kunci-door kunci doctor`, then "
                "`sudo systemctl enable --now kunci-door kunci-web`"))
    return 0
