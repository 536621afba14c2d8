"""``kunci demo [--port N]``: the whole system on simulated hardware, under one command.

Prepares ``./kunci-demo`` (or ``--data``) like ``kunci init`` with ``simulated = true``, makes
sure a demo person and a demo admin exist (a fresh PIN and admin password are issued at every
start, because only digests are stored; seeded before the daemon starts), then starts the same two
processes as an installation: ``kunci run`` (the door daemon) and ``kunci web`` (the admin web over
HTTPS), each a child process of this same Python. Once the daemon's control socket answers and the
web's port completes a TLS handshake it prints what to try. Ctrl-C stops both cleanly; if one of
them dies, the demo stops the other, says so and exits 1.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from datetime import date
from typing import Any

from controller.errors import InvalidInput, KunciError
from controller.fileio import atomic_write
from controller.i18n import T, _
from controller.paths import DEMO_DATA_DIR, DataDir
from controller.slow_stop import abort_for_stacks

log = logging.getLogger(__name__)

DEMO_ADMIN = "demo"
DEMO_AUDITOR = "auditor"
DEMO_PERSON_NAME = "Demo Person"
#: File in ``DATA/run/`` where the demo's ``kunci web`` writes the port it bound (``--port 0``).
WEB_PORT_FILE = "web.port"
#: The two children's names (said in the reader's language by :func:`_child`).
DAEMON = "door daemon"
WEB = "admin web"
#: Longest wait for a child to be ready (the daemon answering ``status``, the web's TLS port), seconds.
START_TIMEOUT_SECONDS = 60.0
#: Longest wait for both children to stop after the stop was forwarded, seconds (then SIGKILL).
STOP_TIMEOUT_SECONDS = 30.0
#: How often the demo looks at its children and for a stop request, seconds.
POLL_SECONDS = 0.1


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("demo", parents=[common],
                       help="run daemon + admin web on simulated hardware (default data: ./kunci-demo)")
    p.add_argument("--port", type=int, default=None, help="HTTPS port of the admin web (default: web.port, 8443)")
    p.add_argument("--host", default=None, help="address the admin web listens on (default: web.host, 127.0.0.1)")
    p.add_argument("--doors", type=int, default=1, choices=range(1, len(DEMO_DOORS) + 2), metavar="N",
                   help=f"simulated doors (1-{len(DEMO_DOORS) + 1}, default 1): main, then "
                        + ", ".join(name for name, _text in DEMO_DOORS))
    p.set_defaults(func=run)


#: The doors ``kunci demo --doors N`` adds after ``main``, as [[doors]] entries on GPIO lines the first door
#: leaves free, each with a matrix keypad and a simulated sensor (a pty: the port only has to be unique).
DEMO_DOORS = (
    ("vault", """
[[doors]]
name = "vault"
[doors.gpio]
relay_pin = 4
door_contact_pin = 7
exit_pin = 8
green_led_pin = 2
red_led_pin = 3
[doors.keypad]
type = "matrix"
row_pins = [9, 10, 11, 14]
column_pins = [15, 23, 24]
[doors.sensor]
port = "/dev/ttyAMA1"
"""),
    ("archive", """
[[doors]]
name = "archive"
[doors.gpio]
relay_pin = 0
door_contact_pin = 1
[doors.sensor]
port = "/dev/ttyAMA2"
"""),
)


def _prepare(datadir: DataDir, doors: int = 1) -> None:
    from controller.ops.initialise import initialise

    fresh = not datadir.config_file.exists()
    if fresh:
        datadir.root.mkdir(mode=0o750, parents=True, exist_ok=True)
        from controller.config import default_config_text

        text = re.sub(r"(?m)^simulated = false$", "simulated = true", default_config_text())
        atomic_write(datadir.config_file, text, mode=0o640)
    if doors > 1:
        _add_demo_doors(datadir, doors)
    initialise(datadir)


def _add_demo_doors(datadir: DataDir, doors: int) -> None:
    """Append the demo's [[doors]] entries the configuration does not have yet (only to a simulated one)."""
    from controller.config import load_config

    config = load_config(datadir.config_file)
    if not config.simulated:
        return  # run() refuses it with its own message
    missing = [text for name, text in DEMO_DOORS[:doors - 1] if name not in config.door_names]
    if missing:
        text = datadir.config_file.read_text(encoding="utf-8").rstrip("\n") + "\n" + "".join(missing)
        atomic_write(datadir.config_file, text, mode=0o640)


def _seed(datadir: DataDir, config: Any) -> dict[str, str]:
    """Demo person with a fresh PIN, demo admin and auditor with fresh passwords.

    Each change goes through the one writer (:func:`controller.control.changes.apply`; before the daemon
    starts, that is in process under its lock), sealed with actor ``demo``.
    """
    from sqlalchemy import select

    from controller.control import changes

    from controller.store import staff
    from controller.cli.people_cmd import read_only
    from controller.core.vocabulary import AdminRole, PersonStatus
    from controller.store.models import AdminAccount, User

    with read_only(datadir) as (_config, session):
        code = session.scalar(select(User.code).where(User.status == PersonStatus.ACTIVE).order_by(User.id).limit(1))
        accounts = {a.username: a.active for a in session.scalars(select(AdminAccount))}

    def change(op: str, params: dict[str, Any]) -> dict[str, Any]:
        return changes.apply(datadir, op, params, actor="demo", config=config)

    if code is None:
        code = change("user.add", {"name": DEMO_PERSON_NAME, "agreement_signed_on": date.today().isoformat()})["code"]
    pin = change("user.reset_pin", {"user": code})["pin"]
    passwords: dict[str, str] = {}
    for username, role in ((DEMO_ADMIN, AdminRole.ADMIN), (DEMO_AUDITOR, AdminRole.AUDITOR)):
        passwords[username] = secrets.token_urlsafe(12)
        digest = staff.hash_new_password(passwords[username], username)
        if username not in accounts:
            change("staff.add", {"username": username, "role": role, "password_hash": digest})
            continue
        change("staff.set_password", {"username": username, "password_hash": digest})
        if not accounts[username]:
            change("staff.set_active", {"username": username, "active": True})
    return {"code": code, "pin": pin, "admin_password": passwords[DEMO_ADMIN],
            "auditor_password": passwords[DEMO_AUDITOR]}


def run(args: argparse.Namespace) -> int:
    from controller.config import load_config

    datadir = DataDir.resolve(args.data, default=DEMO_DATA_DIR)
    _prepare(datadir, getattr(args, "doors", 1))
    config = load_config(datadir.config_file)
    if not config.simulated:
        raise InvalidInput(T("{path} is configured for real hardware (simulated = false); the demo needs its own "
                             "data directory: kunci demo --data ./kunci-demo", path=datadir.root))
    host = args.host or config.web.host
    port = args.port if args.port is not None else config.web.port
    if not 0 <= port <= 65535:
        raise InvalidInput(T("--port must be 0..65535"))
    seeded = _seed(datadir, config)  # before the daemon starts: nobody else writes yet
    logging.getLogger().setLevel(logging.WARNING)
    return DemoSupervisor(datadir, config, host, port, seeded).run()


def kunci_argv(*args: str) -> list[str]:
    """The command line of ``kunci ARGS`` with this very interpreter (works without ``kunci`` on PATH)."""
    return [sys.executable, "-m", "controller", *args]


class DemoSupervisor:
    """Starts ``kunci run`` and ``kunci web`` as two child processes, as an installation runs them.

    The daemon starts first; the web follows once the daemon's control socket answers ``status``.
    The banner is printed when the web's port completes a TLS handshake. SIGINT/SIGTERM (Ctrl-C)
    is forwarded once to each child (they run in their own process groups, so a terminal's Ctrl-C
    reaches the demo only, and no child gets it twice); the demo waits for both. When a child dies
    on its own, the other is stopped and the demo says so. Exit code: 0 when both children stopped
    cleanly after a stop request, 1 otherwise.

    :param datadir: the prepared and seeded demo data directory.
    :param config: its configuration (``simulated = true``).
    :param host: address for the admin web; ``port``: its port (0 = a free one, learnt from the port file).
    :param seeded: the demo logins and person (:func:`_seed`), for the banner.
    """

    def __init__(self, datadir: DataDir, config: Any, host: str, port: int, seeded: dict[str, str]) -> None:
        self.datadir = datadir
        self.config = config
        self.host = host
        self.port = port
        self.seeded = seeded
        self.port_file = datadir.run_dir / WEB_PORT_FILE
        self.children: dict[str, subprocess.Popen] = {}
        self._signalled: list[int] = []
        self._reported: set[str] = set()

    def _on_signal(self, signum: int, _frame: object) -> None:
        self._signalled.append(signum)  # no lock taken in a handler (see controller/daemon/loop.py)

    def run(self) -> int:
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        code = 1
        try:
            code = self._run()
        finally:
            if not self._stop_children():
                code = 1
            for s, handler in previous.items():
                signal.signal(s, handler)
            print(_("kunci demo stopped; relay off"), flush=True)
        return code

    def _run(self) -> int:
        root = str(self.datadir.root)
        self.datadir.run_dir.mkdir(parents=True, exist_ok=True)
        self.port_file.unlink(missing_ok=True)
        self._spawn(DAEMON, kunci_argv("run", "--data", root))
        if not self._wait_until(DAEMON, self._daemon_answers):
            return 1
        self._spawn(WEB, kunci_argv("web", "--data", root, "--host", self.host, "--port", str(self.port),
                                    "--port-file", str(self.port_file)), quiet=True)
        bound = self._wait_until(WEB, self._web_port)
        if not bound:
            return 1
        self._banner(bound)
        while not self._signalled:
            dead = self._dead_child()
            if dead is not None:
                return 1
            time.sleep(POLL_SECONDS)
        return 0

    # -- children --------------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str], quiet: bool = False) -> None:
        # Own process group: a terminal's Ctrl-C goes to the demo alone, which forwards it once.
        self.children[name] = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                               stdout=subprocess.DEVNULL if quiet else None, process_group=0)

    def _dead_child(self) -> str | None:
        """The name of a child that exited on its own (reported; the caller stops the other), or None."""
        for name, child in self.children.items():
            code = child.poll()
            if code is not None:
                self._reported.add(name)
                other = [n for n in self.children if n != name]
                print(_("kunci demo: the {child} stopped unexpectedly ({how})").format(child=_child(name),
                                                                                      how=_exit_text(code))
                      + (_("; stopping the {child}").format(child=_child(other[0])) if other else ""),
                      file=sys.stderr, flush=True)
                return name
        return None

    def _wait_until(self, name: str, ready: Any) -> Any:
        """Poll ``ready()`` until it returns something truthy (returned); None if the child died,
        a stop was asked or :data:`START_TIMEOUT_SECONDS` passed (said on stderr)."""
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self._signalled:
            if self._dead_child() is not None:
                return None
            value = ready()
            if value:
                return value
            if time.monotonic() > deadline:
                print(_("kunci demo: the {child} did not start within {seconds} s; stopping").format(
                    child=_child(name), seconds=f"{START_TIMEOUT_SECONDS:.0f}"), file=sys.stderr, flush=True)
                return None
            time.sleep(POLL_SECONDS)
        return None

    def _daemon_answers(self) -> bool:
        from controller.control.client import ControlClient

        try:
            ControlClient(self.datadir.socket_path, timeout=2.0).call("status")
        except (KunciError, OSError):
            return False
        return True

    def _web_port(self) -> int | None:
        """The web's bound port once its port file exists and the port completes a TLS handshake."""
        try:
            port = int(self.port_file.read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            return None
        connect_host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.host, self.host)
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # a handshake is all we check; the banner shows the fingerprint
        try:
            with socket.create_connection((connect_host, port), timeout=2.0) as raw:
                with context.wrap_socket(raw, server_hostname=connect_host):
                    return port
        except (OSError, ssl.SSLError):
            return None

    def _stop_children(self) -> bool:
        """Forward the stop (SIGINT for Ctrl-C, else SIGTERM) once to each running child and wait for
        them; True when every child stopped with exit code 0 (a failure is said on stderr)."""
        signum = self._signalled[0] if self._signalled else signal.SIGTERM
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signum)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        clean = True
        for name, child in self.children.items():
            try:
                code = child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(_("kunci demo: the {child} did not stop within {seconds} s; killed (its threads' stacks "
                        "follow)").format(child=_child(name), seconds=f"{STOP_TIMEOUT_SECONDS:.0f}"),
                      file=sys.stderr, flush=True)
                code = abort_for_stacks(child)
            if code != 0:
                clean = False
                if name not in self._reported:
                    print(_("kunci demo: the {child} stopped with {how}").format(child=_child(name),
                                                                                 how=_exit_text(code)),
                          file=sys.stderr, flush=True)
        return clean

    def _banner(self, bound: int) -> None:
        from controller.ops.tls import cert_fingerprint_sha256

        cert = self.config.web.cert_file or str(self.datadir.tls_cert_file)
        seeded = self.seeded
        data = f"--data {_short_path(str(self.datadir.root))}"
        prog = _program()
        d_pid, w_pid = self.children[DAEMON].pid, self.children[WEB].pid
        text = _("""
Kunci demo is running on SIMULATED hardware (data: {root})
  Processes   door daemon `kunci run` (pid {d_pid}), admin web `kunci web` (pid {w_pid})

  Admin web   https://{host}:{port}/    (self-signed certificate,
              SHA-256 {fingerprint})
  Logins      {admin} / {admin_password}      (admin)
              {auditor} / {auditor_password}   (auditor: log and audit only)
  Person      {code} with PIN {pin}   (new PIN and passwords at every start)

Try it from another terminal (or use the virtual door panel on the web page):
  {prog} sim press {pin}# {data}     open the door with the PIN
  {prog} sim press 000000# {data}     a wrong PIN; three in a row lock the keypad
  {prog} finger enroll {code} {data}   then twice: {prog} sim finger alice {data}
  {prog} sim finger alice {data}      opens the door once enrolled
  {prog} sim door open {data}         without a grant: door.forced alarm
  {prog} status {data}
  {prog} log {data}
  {prog} audit verify {data}

Ctrl-C stops the demo (relay off).""").format(
            root=self.datadir.root, d_pid=d_pid, w_pid=w_pid, host=self.host, port=bound,
            fingerprint=cert_fingerprint_sha256(cert), admin=DEMO_ADMIN, admin_password=seeded["admin_password"],
            auditor=DEMO_AUDITOR, auditor_password=seeded["auditor_password"], code=seeded["code"],
            pin=seeded["pin"], prog=prog, data=data)
        more = "".join("\n" + _("  {prog} sim --door {door} press {pin}# {data}   the same at door {door}").format(
            prog=prog, door=name, pin=seeded["pin"], data=data) for name in self.config.door_names[1:])
        head, gap, tail = text.rpartition("\n\n")  # the other doors' lines before the last line (Ctrl-C)
        print(head + more + gap + tail, flush=True)


def _child(name: str) -> str:
    """A child's name (:data:`DAEMON`, :data:`WEB`) in the reader's language."""
    return _("door daemon") if name == DAEMON else _("admin web")


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            return _("killed by {signal}").format(signal=signal.Signals(-code).name)
        except ValueError:
            return _("killed by signal {number}").format(number=-code)
    return _("exit code {code}").format(code=code)


def _short_path(path: str) -> str:
    rel = os.path.relpath(path)
    return rel if not rel.startswith("..") else path


def _program() -> str:
    """How the person should type ``kunci`` (``.venv/bin/kunci`` when it is not on PATH)."""
    me = os.path.abspath(sys.argv[0])
    if os.path.basename(me) == "__main__.py":  # started as python -m controller
        return f"{_short_path(sys.executable)} -m controller"
    return "kunci" if shutil.which("kunci") and os.path.abspath(shutil.which("kunci")) == me else _short_path(me)
