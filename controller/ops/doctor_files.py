"""``kunci doctor``'s checks of the installation's files (docs/install-pi.md): what ``kunci install-service``
installed, the owners and modes of DATA, the secrets and the web's directory, the TLS certificate and the
free space on DATA.
"""

from __future__ import annotations

import grp
import pwd
import shutil
import stat
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from controller.errors import KunciError
from controller.ops.doctor_findings import Finding, fail, ok, warn
from controller.ops.install_plan import DOOR_USER, GROUP, MANIFEST, WEB_USER, parse_manifest
from controller.paths import DataDir

#: Free space on DATA below which doctor warns / fails (bytes).
DISK_WARN_BYTES = 500 * 1024 * 1024
DISK_FAIL_BYTES = 50 * 1024 * 1024
#: A certificate expiring within this many days is a warning.
CERT_WARN_DAYS = 30


def check_tls(cert: Path, key: Path, now: datetime) -> Finding:
    """The admin page's certificate exists, is valid now and for 30 more days; prints its fingerprint."""
    from cryptography import x509

    from controller.ops.tls import cert_fingerprint_sha256

    fix = f"create a new one: move {cert} and {key} aside and run `kunci init` (as kunci-web: `kunci web` does it)"
    if not cert.is_file():
        return fail("tls", f"no certificate at {cert}", fix)
    if not key.exists():
        return fail("tls", f"no private key at {key}", fix)
    try:
        certificate = x509.load_pem_x509_certificate(cert.read_bytes())
        fingerprint = cert_fingerprint_sha256(cert)
    except (OSError, ValueError, KunciError) as exc:
        return fail("tls", f"cannot read {cert}: {exc}", fix)
    not_before, not_after = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    if now < not_before:
        return fail("tls", f"certificate not valid before {not_before:%Y-%m-%d %H:%M} UTC (is the clock right?)", fix)
    days = (not_after - now).days
    if now >= not_after:
        return fail("tls", f"certificate expired on {not_after:%Y-%m-%d}", fix)
    if days < CERT_WARN_DAYS:
        return warn("tls", f"certificate expires on {not_after:%Y-%m-%d} ({days} days)", fix)
    return ok("tls", f"certificate valid until {not_after:%Y-%m-%d} ({days} days); SHA-256 {fingerprint}")


def check_disk(path: Path) -> Finding:
    """Free space where the database lives (events are refused when the disk is full)."""
    try:
        free = shutil.disk_usage(path).free
    except OSError as exc:
        return fail("disk", f"cannot measure free space on {path}: {exc.strerror or exc}", "check the data directory")
    mib = free // (1024 * 1024)
    fix = f"free space on the file system of {path} (old exports, logs: `sudo journalctl --vacuum-size=100M`)"
    if free < DISK_FAIL_BYTES:
        return fail("disk", f"only {mib} MiB free on {path}: events will soon be refused", fix)
    if free < DISK_WARN_BYTES:
        return warn("disk", f"only {mib} MiB free on {path}", fix)
    return ok("disk", f"{mib} MiB free on {path}")


@dataclass(frozen=True)
class Owners:
    """Resolved accounts when owners can be checked (the real system with the accounts present)."""

    uids: dict[str, int]
    gids: dict[str, int]

    @classmethod
    def lookup(cls) -> Owners | None:
        try:
            uids = {u: pwd.getpwnam(u).pw_uid for u in (DOOR_USER, WEB_USER, "root")}
            gids = {g: grp.getgrnam(g).gr_gid for g in (GROUP, "root")}
        except KeyError:
            return None
        return cls(uids, gids)


def _mode(path: Path) -> int | None:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return None


def check_data_dir(datadir: DataDir, owners: Owners | None) -> Finding:
    """DATA exists, nobody outside the kunci group can enter it, and only the door daemon can write in it."""
    fix_init = "run `sudo kunci install-service` (or `kunci init` for a directory outside the service)"
    try:
        st = datadir.root.stat()
    except FileNotFoundError:
        return fail("data_dir", f"{datadir.root} does not exist", fix_init)
    if not stat.S_ISDIR(st.st_mode):
        return fail("data_dir", f"{datadir.root} is not a directory", f"move it aside, then {fix_init}")
    mode = stat.S_IMODE(st.st_mode)
    fix_mode = f"sudo chmod 0750 {datadir.root} (or run `sudo kunci install-service` again)"
    if mode & 0o002:
        return fail("data_dir", f"{datadir.root} is writable by everyone (mode {mode:04o})", fix_mode)
    if mode & 0o020:
        return fail("data_dir", f"{datadir.root} is group-writable (mode {mode:04o}): the web's account could create "
                    "or replace files beside the door database (its -wal file, kunci.toml)", fix_mode)
    if mode & 0o005:
        return warn("data_dir", f"{datadir.root} can be entered by anyone (mode {mode:04o})", fix_mode)
    if owners is not None and st.st_uid != owners.uids[DOOR_USER]:
        return fail("data_dir", f"{datadir.root} is not owned by {DOOR_USER}",
                    f"sudo chown {DOOR_USER}:{GROUP} {datadir.root}")
    config_mode = _mode(datadir.config_file)
    if config_mode is not None and config_mode & 0o007:
        return warn("data_dir", f"{datadir.config_file} is readable by everyone (mode {config_mode:04o}); it holds "
                    "the sensor password", f"chmod 640 {datadir.config_file}")
    return ok("data_dir", f"{datadir.root} mode {mode:04o}")


def check_web_access(datadir: DataDir, owners: Owners | None) -> Finding:
    """The web's account can read the door database but never write it; it owns ``DATA/web``; it can
    reach the control socket (issue 10: the door daemon is the only writer).

    * ``kunci.db`` and its ``-wal``/``-shm``: no write bit for group or others (the OS then refuses a
      write from the web), owned by ``kunci-door``, group ``kunci`` (the web reads through the group);
    * ``DATA/web``: ``0750``, owned by ``kunci-web`` (the daemon trusts a staff login named by the
      owner of this directory only), group ``kunci`` (the daemon reads ``web.db`` through it);
    * ``DATA/run/control.sock`` (while the daemon runs): group ``kunci`` may read and write it.
    """
    fix = "run `sudo kunci install-service` again (it restores modes and owners and changes nothing else)"
    checked = []
    for path in (datadir.db_file, Path(f"{datadir.db_file}-wal"), Path(f"{datadir.db_file}-shm")):
        try:
            st = path.lstat()
        except FileNotFoundError:
            continue
        mode = stat.S_IMODE(st.st_mode)
        if not stat.S_ISREG(st.st_mode):
            return fail("web_access", f"{path} is not a regular file", "move it aside; restore from the backup")
        if mode & 0o022:
            return fail("web_access", f"{path} is writable by group or others (mode {mode:04o}): the web's account "
                        "could write the door database", f"sudo chmod 0640 {path}; {fix}")
        if mode & 0o004:
            return warn("web_access", f"{path} is readable by everyone (mode {mode:04o})", f"sudo chmod 0640 {path}")
        if owners is not None and (st.st_uid, st.st_gid) != (owners.uids[DOOR_USER], owners.gids[GROUP]):
            return fail("web_access", f"{path} is not owned by {DOOR_USER}:{GROUP} (the daemon writes it, the web "
                        "reads it through the group)", f"sudo chown {DOOR_USER}:{GROUP} {path}")
        checked.append(path.name)
    try:
        st = datadir.web_dir.lstat()
    except FileNotFoundError:
        return warn("web_access", f"{datadir.web_dir} does not exist: the admin web cannot keep its sessions", fix)
    wmode = stat.S_IMODE(st.st_mode)
    if not stat.S_ISDIR(st.st_mode) or wmode != 0o750:
        return fail("web_access", f"{datadir.web_dir} must be a directory with mode 0750 (is {wmode:04o}): the web "
                    "writes it, the daemon reads the web's sessions through the group", fix)
    if owners is not None and (st.st_uid, st.st_gid) != (owners.uids[WEB_USER], owners.gids[GROUP]):
        return fail("web_access", f"{datadir.web_dir} is not owned by {WEB_USER}:{GROUP}: the daemon trusts staff "
                    "logins only from the owner of this directory", f"sudo chown {WEB_USER}:{GROUP} {datadir.web_dir}")
    try:
        dbst = datadir.web_db_file.lstat()
    except FileNotFoundError:
        dbst = None
    if dbst is not None and (stat.S_IMODE(dbst.st_mode) & 0o027 or not stat.S_IMODE(dbst.st_mode) & 0o040):
        return fail("web_access", f"{datadir.web_db_file} must be 0640 (is {stat.S_IMODE(dbst.st_mode):04o}): "
                    "written by the web only, read by the daemon", f"sudo chmod 0640 {datadir.web_db_file}")
    try:
        sst = datadir.socket_path.lstat()
    except FileNotFoundError:
        sst = None
    if sst is not None:
        smode = stat.S_IMODE(sst.st_mode)
        if not stat.S_ISSOCK(sst.st_mode) or smode & 0o060 != 0o060 or smode & 0o007:
            return fail("web_access", f"{datadir.socket_path} must be a socket with mode 0660 (is {smode:04o})",
                        "restart the door daemon (it creates the socket 0660)")
        if owners is not None and sst.st_gid != owners.gids[GROUP]:
            return fail("web_access", f"{datadir.socket_path} is not in group {GROUP}: the web cannot reach the daemon",
                        f"check that {DOOR_USER}'s primary group is {GROUP}, then restart the door daemon")
    return ok("web_access", f"door database read-only for the web ({', '.join(checked) or 'no file yet'}), "
              f"{datadir.web_dir.name}/ private to the web")


def check_secrets(datadir: DataDir, owners: Owners | None) -> Finding:
    """``secrets/`` is 0700 and the pepper and audit key are 0600/0400 regular files of kunci-door."""
    sdir = datadir.secrets_dir
    try:
        st = sdir.stat()
    except FileNotFoundError:
        return fail("secrets", f"{sdir} does not exist", "run `kunci init` (or restore the secrets from the backup)")
    except PermissionError:
        return warn("secrets", f"cannot inspect {sdir} as this user", f"run doctor as {DOOR_USER} or root")
    dmode = stat.S_IMODE(st.st_mode)
    if dmode & 0o077:
        return fail("secrets", f"{sdir} is accessible by group or others (mode {dmode:04o})", f"chmod 700 {sdir}")
    if owners is not None and st.st_uid != owners.uids[DOOR_USER]:
        return fail("secrets", f"{sdir} is not owned by {DOOR_USER}", f"sudo chown -R {DOOR_USER} {sdir}")
    for path in (datadir.pepper_file, datadir.audit_key_file):
        try:
            fst = path.lstat()
        except FileNotFoundError:
            return fail("secrets", f"{path} is missing", "restore it from the backup (a new one invalidates every "
                        "PIN or the audit chain)")
        except PermissionError:
            return warn("secrets", f"cannot inspect {path} as this user", f"run doctor as {DOOR_USER} or root")
        if not stat.S_ISREG(fst.st_mode):
            return fail("secrets", f"{path} is not a regular file", "restore it from the backup")
        fmode = stat.S_IMODE(fst.st_mode)
        if fmode not in (0o600, 0o400):
            return fail("secrets", f"{path} has mode {fmode:04o} (must be 0600 or 0400)", f"chmod 600 {path}")
        if owners is not None and fst.st_uid != owners.uids[DOOR_USER]:
            return fail("secrets", f"{path} is not owned by {DOOR_USER}", f"sudo chown {DOOR_USER} {path}")
    return ok("secrets", f"{sdir} 0700, pepper and audit key private")


def check_install(root: Path, real: bool, owners: Owners | None) -> Finding:
    """Compare the installation with the manifest ``kunci install-service`` wrote."""
    fix = "run `sudo kunci install-service` again (it restores modes and owners and changes nothing else)"
    manifest = root / str(MANIFEST).lstrip("/")
    try:
        entries = parse_manifest(manifest.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return warn("install", f"no {manifest}: the services were not installed with `kunci install-service`",
                    "sudo kunci install-service")
    except (OSError, ValueError) as exc:
        return fail("install", f"cannot read {manifest}: {exc}", fix)
    if real and owners is None:
        return fail("install", f"the accounts {DOOR_USER}, {WEB_USER} or group {GROUP} do not exist", fix)
    problems = []
    for entry in entries:
        path = root / str(entry.path).lstrip("/")
        try:
            st = path.lstat()
        except FileNotFoundError:
            problems.append(f"{entry.path} missing")
            continue
        except PermissionError:
            continue
        if stat.S_IMODE(st.st_mode) != entry.mode:
            problems.append(f"{entry.path} mode {stat.S_IMODE(st.st_mode):04o} (want {entry.mode:04o})")
        if owners is not None and (st.st_uid, st.st_gid) != (owners.uids[entry.owner], owners.gids[entry.group]):
            problems.append(f"{entry.path} owner (want {entry.owner}:{entry.group})")
    if problems:
        more = f" and {len(problems) - 3} more" if len(problems) > 3 else ""
        return warn("install", "differs from the install manifest: " + "; ".join(problems[:3]) + more, fix)
    checked = "modes and owners" if owners is not None else "modes (owners not checked under a scratch root)"
    return ok("install", f"{len(entries)} paths match {manifest}: {checked}")
