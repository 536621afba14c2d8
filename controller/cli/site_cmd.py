"""``kunci site ...``: the site of many controllers on PostgreSQL (docs/site.md).

On the site's machine, with a SITE DIR (``--site DIR``): ``init`` (site.toml, pepper, password file, schema),
``add-controller`` (its role, doors, first feed rows and the join bundle), ``status --site`` (every controller's
last contact, revision lag, uploaded seq), ``verify`` (the uploaded chains), ``admin add`` (staff logins of the
site page), ``people add|list|revoke`` (for scripts) and ``web`` (the site page, ``site_web_cmd.py``).
On a controller (``--data DATA``): ``join BUNDLE`` and ``status``.
"""

from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path
from typing import Any

from controller.errors import InvalidInput
from controller.i18n import T, _
from controller.paths import DataDir


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    from controller.cli import site_web_cmd

    site = sub.add_parser("site", parents=[common], help="the site: many controllers on one PostgreSQL database")
    acts = site.add_subparsers(dest="site_command", metavar="ACTION", required=True)

    def with_site(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--site", required=True, metavar="DIR", help="the site directory (kunci site init)")
        return p

    p = with_site(acts.add_parser("init", parents=[common], help="make the site directory and the site schema"))
    p.add_argument("--host", required=True, help="PostgreSQL server")
    p.add_argument("--port", type=int, default=5432, help="TCP port (default 5432)")
    p.add_argument("--dbname", default="kunci", help="database (default kunci)")
    p.add_argument("--user", required=True, help="login role that owns the database and may create roles")
    p.add_argument("--password-file", metavar="F", help="read the password from F (else the one stored by an earlier "
                                                        "init, else asked on the terminal)")
    p.add_argument("--sslmode", default="verify-full", help="verify-full (default), verify-ca, require; "
                                                            "disable only for a server on this machine")
    p.add_argument("--ca-file", metavar="F", help="CA certificate of the server (default: the system's CAs)")
    p.set_defaults(func=run_init)

    p = with_site(acts.add_parser("add-controller", parents=[common],
                                  help="add a controller: its role, its doors and the bundle for kunci site join"))
    p.add_argument("name", help="the controller's name (1-40 of a-z, 0-9, _ and -)")
    p.add_argument("--door", action="append", required=True, metavar="NAME[@ROOM]",
                   help="one of its doors as named in its configuration, in ROOM (default: the controller's "
                        "name); repeat for each door")
    p.add_argument("--out", required=True, metavar="BUNDLE", help="write the join bundle here (0600; secret)")
    p.add_argument("--host", dest="bundle_host", metavar="H", help="server address as the controller reaches it "
                                                                   "(default: site.toml's host)")
    p.set_defaults(func=run_add_controller)

    p = acts.add_parser("join", parents=[common], help="on a controller: join the site with a bundle")
    p.add_argument("bundle", help="the bundle file from kunci site add-controller")
    p.add_argument("--replace-pepper", action="store_true",
                   help="accept that local PINs stop working (the site's pepper replaces this controller's)")
    p.set_defaults(func=run_join)

    p = acts.add_parser("status", parents=[common], help="the site link of this controller, or with --site every "
                                                         "controller's sync state")
    p.add_argument("--site", metavar="DIR", help="the site directory: show every controller")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_status)

    p = with_site(acts.add_parser("verify", parents=[common], help="check every controller's uploaded chain"))
    p.add_argument("--controller", metavar="NAME", help="only this controller")
    p.set_defaults(func=run_verify)

    admin = acts.add_parser("admin", parents=[common], help="staff logins of the site page").add_subparsers(
        dest="site_admin_command", metavar="ACTION", required=True)
    p = with_site(admin.add_parser("add", parents=[common], help="add a staff login"))
    p.add_argument("username")
    p.add_argument("--role", required=True, choices=("admin", "auditor"))
    p.add_argument("--room", action="append", metavar="R", help="a room it manages (repeat; default every room)")
    p.add_argument("--password-stdin", action="store_true", help="read the password as one line from stdin")
    p.set_defaults(func=run_admin_add)

    people = acts.add_parser("people", parents=[common], help="people of the site (for scripts)").add_subparsers(
        dest="site_people_command", metavar="ACTION", required=True)
    p = with_site(people.add_parser("add", parents=[common], help="add a person; prints the code and PIN once"))
    p.add_argument("--name", default=None, help="display name (kept at the site only)")
    p.add_argument("--group", required=True, help="group (it decides the doors)")
    p.add_argument("--valid-until", type=date.fromisoformat, default=None, metavar="YYYY-MM-DD")
    p.set_defaults(func=run_people_add)
    p = with_site(people.add_parser("list", parents=[common], help="list the people"))
    p.set_defaults(func=run_people_list)
    p = with_site(people.add_parser("revoke", parents=[common], help="revoke a person at every door"))
    p.add_argument("code")
    p.set_defaults(func=run_people_revoke)

    site_web_cmd.register(acts, common)


def _service(args: argparse.Namespace) -> Any:
    from controller.site.service import SiteService

    return SiteService.for_site(Path(args.site))


def run_init(args: argparse.Namespace) -> int:
    from controller.cli.secret_input import ask_secret
    from controller.site.setup import init_site
    from controller.site.siteconf import DatabaseSettings

    stored = Path(args.site) / "secrets" / "db-password"
    if args.password_file:
        try:
            password = (Path(args.password_file).read_text().splitlines() or [""])[0].strip()
        except OSError as exc:
            raise InvalidInput(T("cannot read {path}: {reason}", path=args.password_file,
                                 reason=exc.strerror or exc)) from exc
    elif stored.exists():  # init again: the password it stored the first time
        from controller.site.siteconf import MAX_SECRET_BYTES, read_private

        password = (read_private(stored, MAX_SECRET_BYTES).decode("utf-8", "replace").splitlines() or [""])[0]
    else:
        password = ask_secret(_("Database password of {user}: ").format(user=args.user), what=_("password"),
                              option="--password-file")
    settings = DatabaseSettings(host=args.host, port=args.port, dbname=args.dbname, user=args.user,
                                sslmode=args.sslmode, ca_file=Path(args.ca_file) if args.ca_file else None)
    result = init_site(Path(args.site), settings, password)
    if result.before == result.after:
        print(_("site database already at revision {rev}").format(rev=result.after))
    else:
        print(_("site database migrated from {before} to {after}").format(before=result.before or "-",
                                                                          after=result.after))
    if result.pepper_created:
        print(_("new site pepper in {path}: back it up with the database (every PIN depends on it)").format(
            path=result.directory / "secrets" / "pepper"))
    print(_("site directory ready: {path}").format(path=result.directory))
    return 0


def _door_arg(value: str, controller: str) -> tuple[str, str]:
    door, _sep, room = value.partition("@")
    return door, room or controller


def run_add_controller(args: argparse.Namespace) -> int:
    from controller.site.bundle import Bundle, write_bundle
    from controller.site.siteconf import load_site

    site = load_site(Path(args.site))
    out = Path(args.out)
    if out.exists():
        raise InvalidInput(T("{path} exists already: give another --out (nothing was changed)", path=out))
    ca_pem = site.database.ca_file.read_text() if site.database.ca_file else ""
    doors = [_door_arg(d, args.name) for d in args.door]
    service = _service(args)
    _cid, role, password = service.add_controller(args.name, doors, actor="cli")
    db = site.database
    write_bundle(out, Bundle(host=args.bundle_host or db.host, port=db.port, dbname=db.dbname, sslmode=db.sslmode,
                             ca_pem=ca_pem, controller=args.name, user=role, password=password,
                             pepper=site.pepper().hex(), doors=tuple(d for d, _r in doors)))
    print(_("controller {name} added with role {role}; join bundle (secret) written to {path}").format(
        name=args.name, role=role, path=out))
    print(_("on the controller: kunci site join {path} --data DATA, then delete the bundle").format(path=out.name))
    return 0


def run_join(args: argparse.Namespace) -> int:
    from controller.site.join import join

    done = join(DataDir.resolve(getattr(args, "data", None)), Path(args.bundle), replace_pepper=args.replace_pepper)
    print(_("joined the site as controller {name} (doors: {doors})").format(name=done.controller,
                                                                           doors=", ".join(done.doors)))
    if done.key_uploaded:
        print(_("audit key uploaded: the site can verify this controller's log"))
    if done.pins_invalidated:
        print(_("{n} local PINs no longer work: issue new ones").format(n=done.pins_invalidated))
    if done.doors_not_at_site:
        print(_("doors not known at the site (no site group can grant them): {doors}").format(
            doors=", ".join(done.doors_not_at_site)))
    print(_("start the daemon (kunci run) to follow the site; delete the bundle file now"))
    return 0


def run_status(args: argparse.Namespace) -> int:
    from controller.cli.site_status import controller_status, print_rows, site_status

    rows = site_status(_service(args)) if args.site else controller_status(DataDir.resolve(getattr(args, "data",
                                                                                                    None)))
    if args.json:
        print(json.dumps(rows, indent=1, default=str))
    else:
        print_rows(rows)
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from controller.site.siteconf import load_site
    from controller.site.verify import verify_site

    engine = load_site(Path(args.site)).engine()
    try:
        with engine.connect() as conn:
            reports = verify_site(conn, args.controller)
    finally:
        engine.dispose()
    broken = 0
    for r in reports:
        if r.ok:
            line = _("{name}: chain intact, {n} events checked, head seq {head}").format(
                name=r.controller, n=r.checked, head=r.head_seq if r.head_seq is not None else "-")
            if r.start_seq:
                line += " " + _("(uploaded from seq {seq})").format(seq=r.start_seq)
            print(line)
        else:
            broken += 1
            print(_("{name}: BROKEN at seq {seq}: {problem}").format(name=r.controller, seq=r.bad_seq or "-",
                                                                     problem=r.problem))
    return 1 if broken else 0


def run_admin_add(args: argparse.Namespace) -> int:
    from controller.cli.secret_input import ask_secret, read_secret_line

    if args.password_stdin:
        password = read_secret_line(_("password"))
    else:
        password = ask_secret(_("Password for {username}: ").format(username=args.username), what=_("password"),
                              option="--password-stdin")
        if ask_secret(_("Repeat the password: "), what=_("password"), option="--password-stdin") != password:
            raise InvalidInput(T("the two passwords differ; nothing was changed"))
    _service(args).add_staff(args.username, password, args.role, args.room)
    print(_("site login {username} created with role {role}").format(username=args.username, role=args.role))
    return 0


def run_people_add(args: argparse.Namespace) -> int:
    code, pin = _service(args).add_person(args.name, args.group, None, args.valid_until, actor="cli")
    print(_("added {code}; PIN {pin} (shown once)").format(code=code, pin=pin))
    return 0


def run_people_list(args: argparse.Namespace) -> int:
    for p in _service(args).list_people():
        print(f"{p.code}\t{p.status}\t{p.group or '-'}\t{p.valid_until or '-'}\t{p.name}")
    return 0


def run_people_revoke(args: argparse.Namespace) -> int:
    _service(args).revoke(args.code, actor="cli")
    print(_("{code} revoked at every door of the site").format(code=args.code.upper()))
    return 0
