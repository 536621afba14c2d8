"""``kunci user import FILE [--dry-run] --pins-out PINFILE``: add many people from a CSV file, all or nothing.

The file's columns and rules are those of :mod:`controller.store.people_import`. ``--dry-run`` checks
every line in a read-only snapshot and reports EVERY bad line with its number (exit 2 if any, else 0
with the number of people that would be added); nothing is changed. A real import sends all rows as one
admin operation ``user.import`` (:func:`controller.control.changes.apply`: the daemon, or this process
under the writer lock): everyone is added with their PIN and sealed ``admin.user_added`` event, or nobody.

The new PINs never go to stdout or a log: they are written to PINFILE (CSV ``code,name,pin``), which
must not exist yet and is created 0600 in one piece. Then, on a terminal, the command asks whether
to delete it; ``--yes-delete-pins`` deletes it without asking; without a terminal it is kept (and
the command says so).
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

from controller.cli.people_cmd import _config, read_only, site_today
from controller.cli.progress import Progress
from controller.errors import InvalidInput, KunciError
from controller.fileio import atomic_write
from controller.i18n import T, _
from controller.paths import DataDir

#: The question asked before the PIN file is deleted (a :class:`~controller.i18n.Text`; ``{path}`` filled in).
DELETE_QUESTION = T("Have you handed out or stored the PINs? Delete {path} now? [y/N] ")


def register_import(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``user import`` to the ``user`` sub-commands."""
    imp = sub.add_parser("import", parents=[common],
                         help="add people from a CSV file (all or nothing); their PINs go to --pins-out")
    imp.add_argument("file", metavar="FILE",
                     help="CSV with a header row: name,group,valid_from,valid_until,agreement_signed_on")
    imp.add_argument("--dry-run", action="store_true", help="report every bad line; change nothing")
    imp.add_argument("--pins-out", metavar="PINFILE",
                     help="new file for the PINs (code,name,pin; mode 0600); required unless --dry-run")
    imp.add_argument("--yes-delete-pins", action="store_true",
                     help="delete PINFILE at the end without asking (for scripts that have read it)")
    imp.set_defaults(func=run_import)


def _read(path: str) -> str:
    from controller.store.people_import import MAX_FILE_BYTES

    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise InvalidInput(T("cannot read {path}: {reason}", path=path, reason=exc.strerror or exc)) from None
    if len(raw) > MAX_FILE_BYTES:
        raise InvalidInput(T("{path} is larger than {size} MiB; split it", path=path,
                             size=MAX_FILE_BYTES // (1024 * 1024)))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(T("{path} is not UTF-8 text (byte {byte})", path=path, byte=exc.start)) from None


def _report(problems: list) -> None:
    for problem in problems:
        print(f"{problem}".translate({c: "?" for c in range(32)}))


def run_import(args: argparse.Namespace) -> int:
    """Check or import the file; see the module doc."""
    from controller.store import people_import

    datadir = DataDir.resolve(args.data)
    pins_out = Path(args.pins_out) if args.pins_out else None
    if not args.dry_run:
        if pins_out is None:
            raise InvalidInput(T("--pins-out PINFILE is required: the new PINs are written there, never printed"))
        if pins_out.exists() or pins_out.is_symlink():
            raise InvalidInput(T("{path} already exists; choose a new file for the PINs", path=pins_out))
        if not pins_out.parent.is_dir():
            raise InvalidInput(T("{path} is not a directory", path=pins_out.parent))
    _config(datadir)
    progress = Progress(_("import"), unit=_("people"))
    rows, problems = people_import.parse_csv(_read(args.file))
    progress.add(len(rows))
    # Every line is checked here first (a read-only snapshot), so a bad file is reported in full and never
    # sent; the operation checks again in its transaction, where the answer is final.
    with read_only(datadir) as (config, session):
        checked, bad = people_import.check_rows(session, rows, require_agreement=config.site.require_agreement,
                                                 today=site_today(config))
    problems = sorted(problems + bad, key=lambda p: p.line)
    _report(problems)
    if args.dry_run:
        progress.done()
        if problems:
            print(_("{count} bad line(s); nothing would be imported (dry run: nothing was changed)").format(
                count=len(problems)))
            return 2
        print(_("{count} people would be added (dry run: nothing was changed)").format(count=len(checked)))
        return 0
    if problems:
        raise InvalidInput(people_import.refusal(problems))
    from controller.control import changes

    result = changes.apply(datadir, "user.import", {"rows": rows})
    progress.done()
    names = {row[0]: row[1] for row in rows}
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(("code", "name", "pin"))
    for code, line, pin in zip(result["codes"], result["lines"], result["pins"]):
        writer.writerow((code, names.get(line) or "", pin))
    count = len(result["codes"])
    try:
        atomic_write(pins_out, buf.getvalue(), mode=0o600, replace=False)
    except OSError as exc:
        raise KunciError(T("{count} people were added (import {batch}) but their PINs could not be written to "
                           "{path} ({reason}); reset their PINs with 'kunci user reset-pin'", count=count,
                           batch=result["batch"], path=pins_out, reason=exc)) from exc
    print(_("imported {count} people (import {batch}, {first}..{last}); their PINs are in {path} (mode 0600)").format(
        count=count, batch=result["batch"], first=result["codes"][0], last=result["codes"][-1], path=pins_out))
    _offer_delete(pins_out, args.yes_delete_pins)
    return 0


def _offer_delete(path: Path, yes: bool) -> None:
    if not yes:
        if not sys.stdin.isatty():
            print(_("kept {path}: no terminal to ask; delete it once the PINs are handed out or stored").format(
                path=path))
            return
        try:
            answer = input(str(DELETE_QUESTION).format(path=path))
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes", _("yes")):
            print(_("kept {path}; delete it once the PINs are handed out or stored").format(path=path))
            return
    path.unlink(missing_ok=True)
    print(_("deleted {path}").format(path=path))
