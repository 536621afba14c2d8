"""``kunci admin add USERNAME --role admin|auditor [--password-stdin]`` and ``kunci admin list``.

Staff logins for the admin web page. There is no default account: the first one
is created here, on the device. The password is asked twice without echo, or read
as one line from standard input with ``--password-stdin`` (for scripts); the rules
of :func:`controller.store.password_rules.check_password` apply either way.
"""

from __future__ import annotations

import argparse
import logging

from controller.cli.people_cmd import print_table, read_only, yes_no
from controller.cli.secret_input import ask_secret, read_secret_line
from controller.control import changes
from controller.errors import InvalidInput
from controller.i18n import T, _
from controller.paths import DataDir
from controller.store import password_rules, staff
from controller.store.models import ADMIN_ROLES

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``admin add`` and ``admin list``."""
    parser = subparsers.add_parser("admin", parents=[common], help="staff accounts for the admin web page")
    sub = parser.add_subparsers(dest="admin_command", metavar="ACTION")
    sub.required = True
    add = sub.add_parser("add", parents=[common], help="create a staff account (asks for the password)")
    add.add_argument("username", metavar="USERNAME", help="2-32 of a-z 0-9 _ . -")
    add.add_argument("--role", choices=ADMIN_ROLES, required=True,
                     help="admin (manages people) or auditor (reads the log)")
    add.add_argument("--password-stdin", action="store_true", help="read the password as one line from stdin")
    add.set_defaults(func=run_add)
    lst = sub.add_parser("list", parents=[common], help="list staff accounts")
    lst.set_defaults(func=run_list)


def _read_password(args: argparse.Namespace) -> str:
    rules = _("at least {count} characters; a long passphrase is best").format(
        count=password_rules.PASSWORD_MIN_LENGTH)
    if args.password_stdin:
        return read_secret_line(_("password"))
    first = ask_secret(_("Password for {username} ({rules}): ").format(username=args.username, rules=rules),
                       what=_("password"), option="--password-stdin")
    problems = password_rules.check_password(first, args.username)
    if problems:
        raise InvalidInput("; ".join(str(p) for p in problems))  # already in the reader's language
    if ask_secret(_("Repeat the password: "), what=_("password"), option="--password-stdin") != first:
        raise InvalidInput(T("the two passwords differ; nothing was changed"))
    return first


def run_add(args: argparse.Namespace) -> int:
    """Create the account; the password is checked before anything is stored."""
    staff.validate_username(args.username)
    password = _read_password(args)
    problems = password_rules.check_password(password, args.username)
    if problems:
        raise InvalidInput("; ".join(str(p) for p in problems))  # already in the reader's language
    password_hash = staff.hash_new_password(password, args.username)
    changes.apply(DataDir.resolve(args.data), "staff.add",
                  {"username": args.username, "role": args.role, "password_hash": password_hash})
    print(_("admin account {username} created with role {role}").format(username=args.username, role=args.role))
    return 0


def run_list(args: argparse.Namespace) -> int:
    """Print every account: username, role, active, lock and dates (never the hash)."""
    with read_only(DataDir.resolve(args.data)) as (_config, session):
        rows = [
            (a.username, a.role, yes_no(a.active), a.locked_until, a.created_at, a.password_changed_at)
            for a in staff.list_accounts(session)
        ]
    if not rows:
        print(_("no admin accounts yet: create one with 'kunci admin add USERNAME --role admin'"))
        return 0
    print_table((_("USERNAME"), _("ROLE"), _("ACTIVE"), _("LOCKED UNTIL"), _("CREATED"), _("PASSWORD CHANGED")), rows)
    return 0
