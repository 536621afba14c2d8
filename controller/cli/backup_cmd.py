"""``kunci backup create|restore|export-keys|import-keys``: encrypted backups (docs/backup.md).

Passphrases come from a prompt (asked twice when a file is written) or, with
``--passphrase-stdin``, from the first line of standard input. They are never
printed, logged or put in an error message. The data backup and the key file use
different passphrases; keep the key file in a safe.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from controller.cli.secret_input import ask_secret
from controller.control import changes
from controller.core.vocabulary import EventType
from controller.errors import DataDirError
from controller.i18n import T, _
from controller.ops.backup import create_backup, daemon_running
from controller.ops.backup_format import KDF_NAMES, MIN_PASSPHRASE, BackupError, check_new_passphrase, check_passphrase
from controller.ops.backup_keys import export_keys, import_keys
from controller.ops.restore import restore_backup
from controller.paths import DataDir

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``backup`` and its actions."""
    parser = subparsers.add_parser("backup", parents=[common], help="encrypted backups and the separate key file")
    sub = parser.add_subparsers(dest="backup_command", metavar="ACTION")
    sub.required = True

    def passphrase_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--passphrase-stdin", action="store_true",
                       help="read the passphrase from the first line of stdin (default: prompt)")

    create = sub.add_parser("create", parents=[common],
                            help="write an encrypted backup (database snapshot, config, simulated flash, archives)")
    create.add_argument("file", type=Path, help="the new backup file (never overwritten)")
    create.add_argument("--kdf", choices=KDF_NAMES, default="scrypt", help="key derivation (default: scrypt)")
    passphrase_option(create)
    create.set_defaults(func=run_create)

    restore = sub.add_parser("restore", parents=[common],
                             help="restore a backup into DATA (daemon stopped); re-applies later revocations")
    restore.add_argument("file", type=Path)
    restore.add_argument("--force", action="store_true",
                         help="replace a database that already holds people or events (it is kept aside)")
    restore.add_argument("--no-reapply", action="store_true",
                         help="only list revocations/suspensions/PIN resets made after the backup; do not re-apply")
    passphrase_option(restore)
    restore.set_defaults(func=run_restore)

    exp = sub.add_parser("export-keys", parents=[common],
                         help="write the pepper and audit key, encrypted under their own passphrase")
    exp.add_argument("file", type=Path, help="the new key file (never overwritten)")
    exp.add_argument("--kdf", choices=KDF_NAMES, default="scrypt")
    passphrase_option(exp)
    exp.set_defaults(func=run_export_keys)

    imp = sub.add_parser("import-keys", parents=[common], help="install the pepper and audit key from a key file")
    imp.add_argument("file", type=Path)
    imp.add_argument("--force", action="store_true", help="replace different keys already in DATA (kept aside)")
    passphrase_option(imp)
    imp.set_defaults(func=run_import_keys)


#: The option that reads the passphrase from standard input (named when there is no terminal to ask on).
STDIN_OPTION = "--passphrase-stdin"


def read_passphrase(args: argparse.Namespace, what: str, *, confirm: bool) -> str:
    """The passphrase from stdin's first line or a prompt (twice when ``confirm``).

    ``confirm`` means a new file: the passphrase must also be hard to guess
    (:func:`~controller.ops.backup_format.check_new_passphrase`); opening a file checks only the length.
    """
    check = check_new_passphrase if confirm else check_passphrase
    if args.passphrase_stdin:
        line = sys.stdin.readline() if sys.stdin is not None else ""
        passphrase = line[:-1] if line.endswith("\n") else line
        passphrase = passphrase[:-1] if passphrase.endswith("\r") else passphrase
        if not passphrase:
            raise BackupError(T("no passphrase on stdin"))
    else:
        rule = (_("at least {count} characters, several uncommon words") if confirm
                else _("at least {count} characters")).format(count=MIN_PASSPHRASE)
        passphrase = ask_secret(_("Passphrase for {what} ({rule}): ").format(what=what, rule=rule),
                                what=_("passphrase"), option=STDIN_OPTION)
        check(passphrase)
        if confirm and ask_secret(_("Repeat the passphrase: "), what=_("passphrase"),
                                  option=STDIN_OPTION) != passphrase:
            raise BackupError(T("the two passphrases differ"))
    check(passphrase)
    return passphrase


def run_create(args: argparse.Namespace) -> int:
    """Write the backup, then record ``admin.backup_created``."""
    datadir = DataDir.resolve(args.data)
    if not datadir.root.is_dir():
        raise DataDirError(T("{path} does not exist; run 'kunci init' first", path=datadir.root))
    passphrase = read_passphrase(args, _("the backup"), confirm=True)
    info = create_backup(datadir, args.file, passphrase, kdf=args.kdf)
    head = info.manifest["chain_head"]
    changes.apply(datadir, "event.record", {"type": EventType.ADMIN_BACKUP_CREATED, "detail": {
        "sha256": info.sha256, "head_seq": head["seq"], "bytes": info.size,
    }})
    counts = info.manifest["counts"]
    print(_("backup written: {path} ({size} bytes, sha256 {sha256})").format(path=info.path, size=info.size,
                                                                            sha256=info.sha256))
    print(_("contains {people} people, {events} events, chain head seq={seq} mac={mac}").format(
        people=counts["users"], events=counts["events"], seq=head["seq"], mac=head["mac"]))
    print(_("the pepper and audit key are NOT in it: keep a key file ('kunci backup export-keys') in a safe"))
    return 0


def run_restore(args: argparse.Namespace) -> int:
    """Restore; print the changes made after the backup (codes only), the chain check and warnings."""
    datadir = DataDir.resolve(args.data)
    if datadir.root.exists() and daemon_running(datadir):
        raise BackupError(T("the daemon is running (sealer lock held); stop it before restoring - the door stays as "
                            "it is"))
    passphrase = read_passphrase(args, _("the backup"), confirm=False)
    report = restore_backup(datadir, args.file, passphrase, force=args.force, reapply=not args.no_reapply)
    manifest = report.manifest
    print(_("restored backup of {created} (Kunci {version}, chain head seq={seq}) into {database}").format(
        created=manifest.get("created_at"), version=manifest.get("kunci_version"),
        seq=manifest.get("chain_head", {}).get("seq"), database=report.database))
    if report.before_restore is not None:
        print(_("the replaced database is kept as {path}").format(path=report.before_restore))
    if report.after_backup:
        print(_("changes made after the backup (re-applied):") if report.reapplied else
              _("changes made after the backup (NOT re-applied (--no-reapply): re-apply them before opening):"))
        for item in report.after_backup:
            print(_("  {code}  {what}  (backup: {backup}; now: {now})").format(
                code=item.code, what=item.what, backup=item.backup_value, now=item.now_value))
    else:
        print(_("no revocations, suspensions, PIN resets or finger removals made after the backup"))
    for note in report.notes:
        print(_("WARNING: {note}").format(note=note))
    if report.chain is not None:
        if report.chain.ok:
            print(_("audit chain OK: {count} events, head seq={seq} mac={mac}").format(
                count=report.chain.checked, seq=report.chain.head_seq, mac=report.chain.head_mac_hex))
        else:
            print(_("audit chain BROKEN at seq {seq}: {problem}").format(seq=report.chain.first_bad_seq,
                                                                        problem=report.chain.problem))
            return 1
    print(_("stop 'kunci web' during restores; start the daemon when ready ('kunci run')"))
    return 0


def run_export_keys(args: argparse.Namespace) -> int:
    """Write the key file."""
    datadir = DataDir.resolve(args.data)
    passphrase = read_passphrase(args, _("the key file (not the backup's)"), confirm=True)
    ids = export_keys(datadir, args.file, passphrase, kdf=args.kdf)
    print(_("key file written: {path} (pepper id {pepper}, audit key id {audit_key})").format(
        path=args.file, pepper=ids["pepper"], audit_key=ids["audit_key"]))
    print(_("keep it in a safe, away from the backups; with the database it reveals every PIN"))
    return 0


def run_import_keys(args: argparse.Namespace) -> int:
    """Install the keys."""
    datadir = DataDir.resolve(args.data)
    passphrase = read_passphrase(args, _("the key file"), confirm=False)
    print(import_keys(datadir, args.file, passphrase, force=args.force))
    return 0
