"""Install Kunci as two systemd services: ``kunci install-service`` (issue 7).

What it does, in order (every step is skipped when already done, so running it twice changes
nothing the second time and says so):

1. Accounts. On the real system (``root`` is ``/``, run as root) it creates the group ``kunci``
   and the system users ``kunci-door`` (door daemon; also in ``gpio`` and ``dialout`` when those
   groups exist) and ``kunci-web`` (admin web) with ``groupadd``/``useradd --system``, and adds a
   missing ``gpio``/``dialout`` membership with ``usermod --append``. The same accounts are
   always written, in ``sysusers.d`` syntax, to ``ROOT/etc/kunci/users-to-create.txt``.
2. Units. ``config/systemd/kunci-door.service`` and ``kunci-web.service`` are copied to
   ``ROOT/etc/systemd/system/`` with ``/opt/kunci`` and ``/var/lib/kunci`` replaced by
   ``--prefix`` and ``--data`` (mode 0644).
3. Data directory. ``DATA`` is created and initialised like ``kunci init`` (secrets, default
   configuration, TLS certificate, database), then every path gets the mode, owner and group of
   :func:`plan_paths`. With a scratch ``root`` owners are never changed (the users do not
   exist there); modes are.
4. Manifest. ``ROOT/etc/kunci/install-manifest.txt`` lists each path with its mode, owner and
   group (tab separated); ``kunci doctor`` compares the installation with it.

Why the modes are what they are (docs/security.md explains the model):

* ``DATA`` is ``0750 kunci-door:kunci``: the web (group ``kunci``) may enter and read it, but
  cannot create, delete or replace a file in it. The door daemon is the only writer of the door
  database (issue 10): the web reads it read-only and sends every change to the daemon.
* ``DATA/kunci.db`` (and SQLite's ``-wal``/``-shm`` files, which SQLite creates with the main
  file's mode and owner) is ``0640 kunci-door:kunci``: the operating system refuses a write from
  the web's account ("attempt to write a readonly database"), whatever the web's code does. The
  web reads it while the daemon runs (the ``-wal``/``-shm`` files exist); when the daemon is
  stopped and they are gone, it reads the checkpointed main file (``webadmin.readonly_db``).
* ``DATA/web`` is ``0750 kunci-web:kunci``: the web's own database ``web.db`` (0640: its sessions
  and login throttle; the web creates it). The daemon trusts a staff login named by a client only
  when the client's account (``SO_PEERCRED``) owns this directory and the session is live in
  ``web.db``, which it reads through the group (never writes).
* ``DATA/secrets`` is ``0700 kunci-door``: only the door daemon reads the pepper and audit key.
* ``DATA/run`` is ``0750 kunci-door:kunci`` and the socket ``0660`` (group ``kunci``, the daemon's
  primary group): connecting to a Unix socket needs search permission on its directory and write
  permission on the socket, not write permission on the directory, so the web can talk to the
  daemon but cannot remove or replace the socket (measured).
* ``DATA/tls`` belongs to ``kunci-web`` (the only process that needs the private key).

Nothing here passes user input to a subprocess: the only commands run are ``groupadd``,
``useradd`` and ``usermod`` with the constant account names above, and ``systemctl
daemon-reload``.
"""

from __future__ import annotations

import grp
import logging
import os
import pwd
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from controller.errors import KunciError
from controller.fileio import atomic_write
from controller.paths import DEFAULT_DATA_DIR, DataDir

log = logging.getLogger(__name__)

DOOR_USER = "kunci-door"
WEB_USER = "kunci-web"
GROUP = "kunci"
#: Groups the door daemon needs for ``/dev/gpiochip*`` and the UART (Raspberry Pi OS names).
DEVICE_GROUPS = ("gpio", "dialout")
UNIT_NAMES = ("kunci-door.service", "kunci-web.service")
DEFAULT_PREFIX = Path("/opt/kunci")
#: Paths written into the shipped unit files; replaced by ``--prefix`` / ``--data``.
UNIT_PREFIX_TOKEN = "/opt/kunci"
UNIT_DATA_TOKEN = "/var/lib/kunci"
ETC_KUNCI = PurePosixPath("/etc/kunci")
MANIFEST = ETC_KUNCI / "install-manifest.txt"
USERS_FILE = ETC_KUNCI / "users-to-create.txt"
UNIT_DIR = PurePosixPath("/etc/systemd/system")
NOLOGIN = "/usr/sbin/nologin"
#: The door database and its ``-wal``/``-shm``: the daemon writes, the web's group only reads.
DB_MODE = 0o640

_REPO_UNITS = Path(__file__).resolve().parents[2] / "config" / "systemd"


class InstallError(KunciError, RuntimeError):
    """The installation cannot proceed (not root, units not found, a path in the way)."""


@dataclass(frozen=True)
class PlannedPath:
    """One path of the installation with the mode and owners it must have.

    :param path: absolute path on the target system (without the ``--root`` prefix).
    :param kind: ``"dir"`` or ``"file"``.
    :param mode: permission bits including the sticky bit (e.g. ``0o1770``).
    :param owner: user name; :param group: group name.
    """

    path: PurePosixPath
    kind: str
    mode: int
    owner: str
    group: str

    def line(self) -> str:
        """The manifest line: ``path<TAB>kind<TAB>mode<TAB>owner<TAB>group``."""
        return f"{self.path}\t{self.kind}\t{self.mode:04o}\t{self.owner}\t{self.group}"


def plan_paths(data: PurePosixPath) -> list[PlannedPath]:
    """Every path the installation owns, with its intended mode and owners (pure).

    :param data: the data directory on the target system, e.g. ``/var/lib/kunci``.
    """
    dd = DataDir(Path(str(data)))

    def p(path: Path) -> PurePosixPath:
        return PurePosixPath(str(path))

    root_files = [
        PlannedPath(ETC_KUNCI, "dir", 0o755, "root", "root"),
        PlannedPath(USERS_FILE, "file", 0o644, "root", "root"),
        *(PlannedPath(UNIT_DIR / name, "file", 0o644, "root", "root") for name in UNIT_NAMES),
    ]
    data_files = [
        PlannedPath(p(dd.root), "dir", 0o750, DOOR_USER, GROUP),
        PlannedPath(p(dd.config_file), "file", 0o640, DOOR_USER, GROUP),
        PlannedPath(p(dd.db_file), "file", DB_MODE, DOOR_USER, GROUP),
        PlannedPath(p(dd.secrets_dir), "dir", 0o700, DOOR_USER, GROUP),
        PlannedPath(p(dd.pepper_file), "file", 0o600, DOOR_USER, GROUP),
        PlannedPath(p(dd.audit_key_file), "file", 0o600, DOOR_USER, GROUP),
        PlannedPath(p(dd.run_dir), "dir", 0o750, DOOR_USER, GROUP),
        PlannedPath(p(dd.tls_dir), "dir", 0o750, WEB_USER, GROUP),
        PlannedPath(p(dd.tls_cert_file), "file", 0o644, WEB_USER, GROUP),
        PlannedPath(p(dd.tls_key_file), "file", 0o600, WEB_USER, GROUP),
        PlannedPath(p(dd.web_dir), "dir", 0o750, WEB_USER, GROUP),
    ]
    return root_files + data_files


def wal_companions(data: PurePosixPath) -> list[PlannedPath]:
    """SQLite's ``-wal``/``-shm`` files: same mode as the database when present (not in the manifest)."""
    db = PurePosixPath(str(DataDir(Path(str(data))).db_file))
    return [PlannedPath(PurePosixPath(f"{db}{suffix}"), "file", DB_MODE, DOOR_USER, GROUP) for suffix in ("-wal", "-shm")]


_MANIFEST_HEADER = (
    "# Kunci install manifest, written by `kunci install-service`; `kunci doctor` checks against it.\n"
    "# path\tkind\tmode\towner\tgroup\n"
)


def manifest_text(entries: Sequence[PlannedPath]) -> str:
    """The manifest file's text for ``entries`` (pure)."""
    return _MANIFEST_HEADER + "".join(e.line() + "\n" for e in entries)


def parse_manifest(text: str) -> list[PlannedPath]:
    """Read a manifest written by :func:`manifest_text`; raises ValueError naming a bad line."""
    entries = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip() or raw.startswith("#"):
            continue
        parts = raw.split("\t")
        if len(parts) != 5 or parts[1] not in ("dir", "file"):
            raise ValueError(f"line {number}: expected path, kind, mode, owner, group separated by tabs")
        try:
            mode = int(parts[2], 8)
        except ValueError:
            raise ValueError(f"line {number}: mode {parts[2]!r} is not octal") from None
        entries.append(PlannedPath(PurePosixPath(parts[0]), parts[1], mode, parts[3], parts[4]))
    return entries


def users_to_create_text() -> str:
    """The accounts, in ``sysusers.d(5)`` syntax (usable with ``systemd-sysusers FILE``) (pure)."""
    lines = [
        "# Accounts for Kunci, written by `kunci install-service` (sysusers.d format).",
        "# On the real system install-service creates them with groupadd/useradd --system;",
        "# elsewhere: systemd-sysusers --root=ROOT ROOT/etc/kunci/users-to-create.txt",
        f"g {GROUP} -",
        f'u {DOOR_USER} -:{GROUP} "Kunci door daemon" /nonexistent {NOLOGIN}',
        *(f"m {DOOR_USER} {g}" for g in DEVICE_GROUPS),
        f'u {WEB_USER} -:{GROUP} "Kunci admin web" /nonexistent {NOLOGIN}',
    ]
    return "\n".join(lines) + "\n"


def render_unit(text: str, data: PurePosixPath, prefix: PurePosixPath) -> str:
    """A shipped unit with the install prefix and data directory filled in (pure)."""
    return text.replace(UNIT_DATA_TOKEN, str(data)).replace(UNIT_PREFIX_TOKEN, str(prefix))


def find_units_dir(prefix: PurePosixPath, explicit: Path | None = None) -> Path:
    """Where the shipped unit files are: ``explicit``, the source tree of this module, or PREFIX/src.

    Raises :class:`InstallError` naming the places looked at.
    """
    candidates = [explicit] if explicit is not None else [_REPO_UNITS, Path(str(prefix)) / "src" / "config" / "systemd"]
    for candidate in candidates:
        if all((candidate / name).is_file() for name in UNIT_NAMES):
            return candidate
    looked = ", ".join(str(c) for c in candidates)
    raise InstallError(f"cannot find {' and '.join(UNIT_NAMES)} (looked in {looked}); pass --units DIR "
                       "pointing at config/systemd of the Kunci source")


# --- accounts -------------------------------------------------------------------------------------


class Accounts:
    """Looks up and creates the system accounts. Tests pass a fake with the same methods."""

    def user_exists(self, name: str) -> bool:
        try:
            pwd.getpwnam(name)
        except KeyError:
            return False
        return True

    def group_exists(self, name: str) -> bool:
        try:
            grp.getgrnam(name)
        except KeyError:
            return False
        return True

    def user_groups(self, name: str) -> set[str]:
        """Names of the groups ``name`` belongs to (primary included)."""
        entry = pwd.getpwnam(name)
        names = {g.gr_name for g in grp.getgrall() if name in g.gr_mem}
        names.add(grp.getgrgid(entry.pw_gid).gr_name)
        return names

    def run(self, argv: Sequence[str]) -> None:
        """Run one account command (constant arguments only); raises InstallError on failure."""
        try:
            subprocess.run(list(argv), check=True, capture_output=True, text=True)
        except FileNotFoundError as exc:
            raise InstallError(f"{argv[0]} is not installed") from exc
        except subprocess.CalledProcessError as exc:
            message = (exc.stderr or exc.stdout or "").strip().splitlines()
            raise InstallError(f"{' '.join(argv)} failed: {message[-1] if message else exc.returncode}") from exc


def account_commands(accounts: Accounts) -> list[list[str]]:
    """The groupadd/useradd/usermod commands still needed (pure given ``accounts``' answers)."""
    commands: list[list[str]] = []
    if not accounts.group_exists(GROUP):
        commands.append(["groupadd", "--system", GROUP])
    device_groups = [g for g in DEVICE_GROUPS if accounts.group_exists(g)]
    for user, comment, extra in ((DOOR_USER, "Kunci door daemon", device_groups), (WEB_USER, "Kunci admin web", [])):
        if not accounts.user_exists(user):
            cmd = ["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                   "--shell", NOLOGIN, "--gid", GROUP, "--comment", comment]
            if extra:
                cmd += ["--groups", ",".join(extra)]
            commands.append(cmd + [user])
        else:
            missing = [g for g in extra if g not in accounts.user_groups(user)]
            if missing:
                commands.append(["usermod", "--append", "--groups", ",".join(missing), user])
    return commands


# --- the installation -------------------------------------------------------------------------------


@dataclass
class InstallReport:
    """What :func:`install_service` did (or, with ``dry_run``, would do)."""

    changes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    manifest: Path | None = None


def _target(root: Path, path: PurePosixPath) -> Path:
    return root / str(path).lstrip("/")


def _write_if_changed(path: Path, text: str, mode: int, report: InstallReport, dry_run: bool) -> None:
    try:
        current = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        current = None
    if current == text:
        return
    report.changes.append(f"{'would write' if dry_run else 'wrote'} {path}")
    if dry_run:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, text, mode=mode)


def _apply(entry: PlannedPath, target: Path, *, set_owner: bool, dry_run: bool, report: InstallReport) -> None:
    """Give ``target`` the entry's mode (and owner when ``set_owner``); record what changed."""
    try:
        st = target.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        raise InstallError(f"{target} is a symbolic link; refusing to change its permissions")
    if (entry.kind == "dir") != stat.S_ISDIR(st.st_mode):
        raise InstallError(f"{target} should be a {'directory' if entry.kind == 'dir' else 'file'}")
    verb = "would set" if dry_run else "set"
    if set_owner:
        uid, gid = pwd.getpwnam(entry.owner).pw_uid, grp.getgrnam(entry.group).gr_gid
        if (st.st_uid, st.st_gid) != (uid, gid):
            report.changes.append(f"{verb} owner {entry.owner}:{entry.group} on {target}")
            if not dry_run:
                os.chown(target, uid, gid, follow_symlinks=False)
    current = stat.S_IMODE(st.st_mode)
    if current != entry.mode:
        report.changes.append(f"{verb} mode {entry.mode:04o} (was {current:04o}) on {target}")
        if not dry_run:
            os.chmod(target, entry.mode)


def install_service(
    root: Path = Path("/"),
    data: PurePosixPath = PurePosixPath(str(DEFAULT_DATA_DIR)),
    prefix: PurePosixPath = PurePosixPath(str(DEFAULT_PREFIX)),
    *,
    dry_run: bool = False,
    units_dir: Path | None = None,
    accounts: Accounts | None = None,
    initialise: Callable[[DataDir], list[str]] | None = None,
    is_root: bool | None = None,
) -> InstallReport:
    """Install (or check, with ``dry_run``) the services, accounts and data directory.

    :param root: where the target system's ``/`` is; ``/`` (default) is the real system, anything
        else is a scratch root that is written to but never causes accounts to be created or
        owners to be changed.
    :param data: data directory on the target system (default ``/var/lib/kunci``); absolute.
    :param prefix: where the venv lives on the target (default ``/opt/kunci``; ExecStart is
        ``PREFIX/venv/bin/kunci``); absolute.
    :param dry_run: report what would change and change nothing (default False).
    :param units_dir: directory holding the two shipped unit files (default: found by
        :func:`find_units_dir`).
    :param accounts: account lookups and commands (default :class:`Accounts`).
    :param initialise: creates what is missing in DATA (default ``kunci init``'s ``initialise``).
    :param is_root: whether we run as root (default: ``os.geteuid() == 0``).
    :raises InstallError: when not root on the real system, units are missing, or a path is in the way.
    """
    for name, value in (("--data", data), ("--prefix", prefix)):
        if not value.is_absolute():
            raise InstallError(f"{name} must be an absolute path, got {value}")
    root = Path(root).absolute()
    real = root == Path("/")
    accounts = accounts or Accounts()
    if is_root is None:
        is_root = os.geteuid() == 0
    if real and not is_root and not dry_run:
        raise InstallError("run as root (sudo) to install on this system, or use --root PREFIX for a scratch "
                           "install, or --dry-run to see what would change")
    report = InstallReport()
    units = find_units_dir(prefix, units_dir)

    # 1. accounts
    if real:
        for cmd in account_commands(accounts):
            report.changes.append(("would run: " if dry_run else "ran: ") + " ".join(cmd))
            if not dry_run:
                accounts.run(cmd)
    else:
        report.notes.append(f"scratch root {root}: no accounts created and no owners changed; intended owners "
                            f"are in {_target(root, MANIFEST)}")
    _write_if_changed(_target(root, USERS_FILE), users_to_create_text(), 0o644, report, dry_run)

    # 2. units
    for name in UNIT_NAMES:
        text = render_unit((units / name).read_text(encoding="utf-8"), data, prefix)
        _write_if_changed(_target(root, UNIT_DIR / name), text, 0o644, report, dry_run)

    # 3. data directory
    datadir = DataDir(_target(root, data))
    entries = plan_paths(data)
    if not datadir.root.exists():
        report.changes.append(f"{'would create' if dry_run else 'created'} {datadir.root}")
        if not dry_run:
            datadir.root.mkdir(parents=True, mode=0o750)
    if dry_run:
        if not datadir.config_file.exists() or not datadir.pepper_file.exists():
            report.changes.append(f"would initialise {datadir.root} (kunci init)")
    else:
        init = initialise
        if init is None:
            from controller.ops.initialise import initialise as init
        try:
            done = init(datadir)
        except (KunciError, OSError) as exc:
            raise InstallError(f"initialising {datadir.root} failed: {exc}") from exc
        report.changes += [line for line in done if not line.startswith("database: up to date")]
    if not datadir.web_dir.exists():
        report.changes.append(f"{'would create' if dry_run else 'created'} {datadir.web_dir}")
        if not dry_run:
            datadir.web_dir.mkdir(mode=0o750)
    set_owner = real and all(accounts.user_exists(u) for u in (DOOR_USER, WEB_USER)) and accounts.group_exists(GROUP)
    if real and not set_owner:
        report.notes.append("owners not changed: the kunci accounts do not exist yet")
    for entry in [*entries, *wal_companions(data)]:
        _apply(entry, _target(root, entry.path), set_owner=set_owner, dry_run=dry_run, report=report)

    # 4. manifest
    manifest = _target(root, MANIFEST)
    _write_if_changed(manifest, manifest_text(entries), 0o644, report, dry_run)
    report.manifest = manifest

    if real and not dry_run and any(c.endswith(".service") for c in report.changes) and _systemd_running():
        accounts.run(["systemctl", "daemon-reload"])
        report.changes.append("ran: systemctl daemon-reload")
    missing_exe = _target(root, prefix / "venv" / "bin" / "kunci")
    if not missing_exe.exists():
        report.notes.append(f"{missing_exe} does not exist yet: the units start PREFIX/venv/bin/kunci "
                            "(create the venv there, see docs/install-pi.md)")
    return report


def _systemd_running() -> bool:
    """True when systemd is PID 1 (``/run/systemd/system`` exists) and systemctl is installed."""
    return Path("/run/systemd/system").is_dir() and shutil.which("systemctl") is not None


def scratch_executable(root: Path, prefix: PurePosixPath) -> Path:
    """Put a stand-in ``PREFIX/venv/bin/kunci`` under a scratch ``root`` (for ``systemd-analyze verify``).

    Refuses the real root: the real executable comes from ``pip install``.
    """
    if Path(root).absolute() == Path("/"):
        raise InstallError("scratch_executable is for scratch roots only")
    exe = _target(Path(root), prefix / "venv" / "bin" / "kunci")
    exe.parent.mkdir(parents=True, exist_ok=True)
    if not exe.exists():
        exe.write_text(f"#!{sys.executable}\nfrom controller.cli import main\nraise SystemExit(main())\n")
        os.chmod(exe, 0o755)
    return exe
