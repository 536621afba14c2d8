"""What an installation looks like (docs/install-pi.md): accounts, paths with their modes and owners, unit
files, and the manifest ``kunci doctor`` compares with. Pure: :mod:`controller.ops.install` applies it.

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
"""

from __future__ import annotations

import grp
import pwd
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from controller.errors import KunciError
from controller.i18n import T
from controller.paths import DataDir

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
REPO_UNITS = Path(__file__).resolve().parents[2] / "config" / "systemd"


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


MANIFEST_HEADER = (
    "# Kunci install manifest, written by `kunci install-service`; `kunci doctor` checks against it.\n"
    "# path\tkind\tmode\towner\tgroup\n"
)


def manifest_text(entries: Sequence[PlannedPath]) -> str:
    """The manifest file's text for ``entries`` (pure)."""
    return MANIFEST_HEADER + "".join(e.line() + "\n" for e in entries)


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
    candidates = [explicit] if explicit is not None else [REPO_UNITS, Path(str(prefix)) / "src" / "config" / "systemd"]
    for candidate in candidates:
        if all((candidate / name).is_file() for name in UNIT_NAMES):
            return candidate
    looked = ", ".join(str(c) for c in candidates)
    raise InstallError(T("cannot find {units} (looked in {looked}); pass --units DIR pointing at config/systemd of "
                         "the Kunci source", units=" and ".join(UNIT_NAMES), looked=looked))


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
            raise InstallError(T("{command} is not installed", command=argv[0])) from exc
        except subprocess.CalledProcessError as exc:
            message = (exc.stderr or exc.stdout or "").strip().splitlines()
            raise InstallError(T("{command} failed: {reason}", command=" ".join(argv),
                                 reason=message[-1] if message else exc.returncode)) from exc


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
