"""``kunci demo [--port N]``: the whole system on simulated hardware, under one command.

Prepares ``./kunci-demo`` (or ``--data``) like ``kunci init`` with ``simulated = true``, makes
sure a demo person and a demo admin exist (a fresh PIN and admin password are issued at every
start, because only digests are stored), then runs the door daemon in the foreground and the
admin web over HTTPS beside it, and prints what to try. Ctrl-C stops both cleanly.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import secrets
import shutil
import sys
import threading
from datetime import date
from typing import Any

from controller.errors import InvalidInput
from controller.paths import DEMO_DATA_DIR, DataDir

log = logging.getLogger(__name__)

DEMO_ADMIN = "demo"
DEMO_AUDITOR = "auditor"
DEMO_PERSON_NAME = "Demo Person"


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("demo", parents=[common],
                       help="run daemon + admin web on simulated hardware (default data: ./kunci-demo)")
    p.add_argument("--port", type=int, default=None, help="HTTPS port of the admin web (default: web.port, 8443)")
    p.add_argument("--host", default=None, help="address the admin web listens on (default: web.host, 127.0.0.1)")
    p.set_defaults(func=run)


def _prepare(datadir: DataDir) -> None:
    from controller.cli.init_cmd import initialise

    fresh = not datadir.config_file.exists()
    if fresh:
        datadir.root.mkdir(mode=0o750, parents=True, exist_ok=True)
        from controller.config import default_config_text

        text = re.sub(r"(?m)^simulated = false$", "simulated = true", default_config_text())
        datadir.config_file.write_text(text, encoding="utf-8")
        datadir.config_file.chmod(0o640)
    initialise(datadir)


def _seed(datadir: DataDir, config: Any) -> dict[str, str]:
    """Demo person with a fresh PIN, demo admin and auditor with fresh passwords."""
    from sqlalchemy import select

    from controller import people, staff
    from controller.cli.people_cmd import admin_change
    from controller.keys import load_pepper
    from controller.models import User
    from controller.timefmt import utcnow

    pepper = load_pepper(datadir)
    admin_password = secrets.token_urlsafe(12)
    auditor_password = secrets.token_urlsafe(12)
    with admin_change(datadir) as (_config, session):
        user = session.scalar(select(User).where(User.status == "active").order_by(User.id).limit(1))
        if user is None:
            user = people.add_user(session, name=DEMO_PERSON_NAME, agreement_signed_on=date.today(), group=None,
                                   valid_from=None, valid_until=None, actor="demo",
                                   require_agreement=config.site.require_agreement)
            session.flush()
        pin = people.reset_pin(session, pepper, user.code, config.pin.length_digits, actor="demo")
        for username, password, role in ((DEMO_ADMIN, admin_password, "admin"),
                                         (DEMO_AUDITOR, auditor_password, "auditor")):
            if staff.get_account_or_none(session, username) is None:
                staff.add_account(session, username, password, role, actor="demo")
            else:
                staff.change_password(session, username, password, actor="demo", now=utcnow())
                if not staff.get_account(session, username).active:
                    staff.set_active(session, username, True, actor="demo")
        code = user.code
    return {"code": code, "pin": pin, "admin_password": admin_password, "auditor_password": auditor_password}


def run(args: argparse.Namespace) -> int:
    from controller.config import load_config
    from controller.daemon import Daemon

    datadir = DataDir.resolve(args.data, default=DEMO_DATA_DIR)
    _prepare(datadir)
    config = load_config(datadir.config_file)
    if not config.simulated:
        raise InvalidInput(f"{datadir.root} is configured for real hardware (simulated = false); "
                           "the demo needs its own data directory: kunci demo --data ./kunci-demo")
    seeded = _seed(datadir, config)
    host = args.host or config.web.host
    port = args.port if args.port is not None else config.web.port
    if not 0 <= port <= 65535:
        raise InvalidInput("--port must be 0..65535")
    logging.getLogger().setLevel(logging.WARNING)
    daemon = Daemon(datadir, config)
    web: dict[str, Any] = {}
    starter = threading.Thread(target=_start_web, args=(daemon, datadir, config, host, port, seeded, web),
                               name="kunci-demo-web", daemon=True)
    starter.start()
    try:
        return daemon.run()
    finally:
        server = web.get("server")
        if server is not None:
            server.stop()
        print("kunci demo stopped; relay off", flush=True)


def _start_web(daemon: Any, datadir: DataDir, config: Any, host: str, port: int, seeded: dict[str, str],
               web: dict[str, Any]) -> None:
    if not daemon.ready.wait(timeout=60):
        return
    from controller.cli.web_cmd import serve_https
    from controller.tls import cert_fingerprint_sha256
    from webadmin import create_app

    cert = config.web.cert_file or str(datadir.tls_cert_file)
    key = config.web.key_file or str(datadir.tls_key_file)
    try:
        server = serve_https(create_app(datadir.root), host, port, cert, key)
    except OSError as exc:
        print(f"kunci demo: the admin web could not listen on {host}:{port} ({exc.strerror}); "
              "try --port 8444. The door daemon keeps running.", flush=True)
        return
    web["server"] = server
    bound = server.bind_addr[1]
    data = f"--data {_short_path(str(datadir.root))}"
    prog = _program()
    print(
        f"""
Kunci demo is running on SIMULATED hardware (data: {datadir.root})

  Admin web   https://{host}:{bound}/    (self-signed certificate,
              SHA-256 {cert_fingerprint_sha256(cert)})
  Logins      {DEMO_ADMIN} / {seeded['admin_password']}      (admin)
              {DEMO_AUDITOR} / {seeded['auditor_password']}   (auditor: log and audit only)
  Person      {seeded['code']} with PIN {seeded['pin']}   (new PIN and passwords at every start)

Try it from another terminal (or use the virtual door panel on the web page):
  {prog} sim press {seeded['pin']}# {data}     open the door with the PIN
  {prog} sim press 000000# {data}     a wrong PIN; three in a row lock the keypad
  {prog} finger enroll {seeded['code']} {data}   then twice: {prog} sim finger alice {data}
  {prog} sim finger alice {data}      opens the door once enrolled
  {prog} sim door open {data}         without a grant: door.forced alarm
  {prog} status {data}
  {prog} log {data}
  {prog} audit verify {data}

Ctrl-C stops the demo (relay off).""",
        flush=True,
    )


def _short_path(path: str) -> str:
    rel = os.path.relpath(path)
    return rel if not rel.startswith("..") else path


def _program() -> str:
    """How the person should type ``kunci`` (``.venv/bin/kunci`` when it is not on PATH)."""
    me = os.path.abspath(sys.argv[0])
    return "kunci" if shutil.which("kunci") and os.path.abspath(shutil.which("kunci")) == me else _short_path(me)
