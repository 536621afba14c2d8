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

from controller.i18n import T
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
    from controller.ops.cert_read import read_certificate  # not cryptography: 55 ms of the doctor's budget

    fix = T("create a new one: move {cert} and {key} aside and run `kunci init` (as kunci-web: `kunci web` does it)",
            cert=cert, key=key)
    if not cert.is_file():
        return fail("tls", T("no certificate at {cert}", cert=cert), fix)
    if not key.exists():
        return fail("tls", T("no private key at {key}", key=key), fix)
    try:
        facts = read_certificate(cert)
    except (OSError, ValueError) as exc:
        return fail("tls", T("cannot read {path}: {error}", path=cert, error=exc), fix)
    not_before, not_after, fingerprint = facts.not_before, facts.not_after, facts.sha256
    if now < not_before:
        return fail("tls",
                    T("certificate not valid before {not_before} UTC (is the clock right?)",
                      not_before=format(not_before, "%Y-%m-%d %H:%M")), fix)
    days = (not_after - now).days
    if now >= not_after:
        return fail("tls", T("certificate expired on {not_after}", not_after=format(not_after, "%Y-%m-%d")), fix)
    if days < CERT_WARN_DAYS:
        return warn("tls",
                    T("certificate expires on {not_after} ({days} days)",
                      not_after=format(not_after, "%Y-%m-%d"), days=days), fix)
    return ok("tls",
              T("certificate valid until {not_after} ({days} days); SHA-256 {fingerprint}",
                not_after=format(not_after, "%Y-%m-%d"), days=days, fingerprint=fingerprint))


def check_disk(path: Path) -> Finding:
    """Free space where the database lives (events are refused when the disk is full)."""
    try:
        free = shutil.disk_usage(path).free
    except OSError as exc:
        return fail("disk", T("cannot measure free space on {path}: {error}", path=path, error=exc.strerror or exc),
                    T("check the data directory"))
    mib = free // (1024 * 1024)
    fix = T("free space on the file system of {path} (old exports, logs: `sudo journalctl --vacuum-size=100M`)",
            path=path)
    if free < DISK_FAIL_BYTES:
        return fail("disk", T("only {mib} MiB free on {path}: events will soon be refused", mib=mib, path=path), fix)
    if free < DISK_WARN_BYTES:
        return warn("disk", T("only {mib} MiB free on {path}", mib=mib, path=path), fix)
    return ok("disk", T("{mib} MiB free on {path}", mib=mib, path=path))


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
    fix_init = T("run `sudo kunci install-service` (or `kunci init` for a directory outside the service)")
    try:
        st = datadir.root.stat()
    except FileNotFoundError:
        return fail("data_dir", T("{root} does not exist", root=datadir.root), fix_init)
    if not stat.S_ISDIR(st.st_mode):
        return fail("data_dir", T("{root} is not a directory", root=datadir.root),
                    T("move it aside, then {fix}", fix=fix_init))
    mode = stat.S_IMODE(st.st_mode)
    fix_mode = T("sudo chmod 0750 {root} (or run `sudo kunci install-service` again)", root=datadir.root)
    if mode & 0o002:
        return fail("data_dir",
                    T("{root} is writable by everyone (mode {mode})", root=datadir.root, mode=format(mode, "04o")),
                    fix_mode)
    if mode & 0o020:
        return fail("data_dir",
                    T("{root} is group-writable (mode {mode}): the web's account could create or replace files "
                      "beside the door database (its -wal file, kunci.toml)", root=datadir.root,
                      mode=format(mode, "04o")),
                    fix_mode)
    if mode & 0o005:
        return warn("data_dir",
                    T("{root} can be entered by anyone (mode {mode})", root=datadir.root, mode=format(mode, "04o")),
                    fix_mode)
    if owners is not None and st.st_uid != owners.uids[DOOR_USER]:
        return fail("data_dir", T("{root} is not owned by {door_user}", root=datadir.root, door_user=DOOR_USER),
                    f"sudo chown {DOOR_USER}:{GROUP} {datadir.root}")
    config_mode = _mode(datadir.config_file)
    if config_mode is not None and config_mode & 0o007:
        return warn("data_dir",
                    T("{config_file} is readable by everyone (mode {config_mode}); it holds the sensor password",
                      config_file=datadir.config_file, config_mode=format(config_mode, "04o")),
                    f"chmod 640 {datadir.config_file}")
    return ok("data_dir", T("{root} mode {mode}", root=datadir.root, mode=format(mode, "04o")))


def check_web_access(datadir: DataDir, owners: Owners | None) -> Finding:
    """The web's account can read the door database but never write it; it owns ``DATA/web``; it can
    reach the control socket (issue 10: the door daemon is the only writer).

    * ``kunci.db`` and its ``-wal``/``-shm``: no write bit for group or others (the OS then refuses a
      write from the web), owned by ``kunci-door``, group ``kunci`` (the web reads through the group);
    * ``DATA/web``: ``0750``, owned by ``kunci-web`` (the daemon trusts a staff login named by the
      owner of this directory only), group ``kunci`` (the daemon reads ``web.db`` through it);
    * ``DATA/run/control.sock`` (while the daemon runs): group ``kunci`` may read and write it.
    """
    fix = T("run `sudo kunci install-service` again (it restores modes and owners and changes nothing else)")
    checked = []
    for path in (datadir.db_file, Path(f"{datadir.db_file}-wal"), Path(f"{datadir.db_file}-shm")):
        try:
            st = path.lstat()
        except FileNotFoundError:
            continue
        mode = stat.S_IMODE(st.st_mode)
        if not stat.S_ISREG(st.st_mode):
            return fail("web_access", T("{path} is not a regular file", path=path),
                        T("move it aside; restore from the backup"))
        if mode & 0o022:
            return fail("web_access",
                        T("{path} is writable by group or others (mode {mode}): the web's account could write the "
                          "door database", path=path, mode=format(mode, "04o")), f"sudo chmod 0640 {path}; {fix}")
        if mode & 0o004:
            return warn("web_access",
                        T("{path} is readable by everyone (mode {mode})", path=path, mode=format(mode, "04o")),
                        f"sudo chmod 0640 {path}")
        if owners is not None and (st.st_uid, st.st_gid) != (owners.uids[DOOR_USER], owners.gids[GROUP]):
            return fail("web_access",
                        T("{path} is not owned by {door_user}:{group} (the daemon writes it, the web reads it "
                          "through the group)", path=path, door_user=DOOR_USER, group=GROUP),
                        f"sudo chown {DOOR_USER}:{GROUP} {path}")
        checked.append(path.name)
    try:
        st = datadir.web_dir.lstat()
    except FileNotFoundError:
        return warn("web_access",
                    T("{web_dir} does not exist: the admin web cannot keep its sessions", web_dir=datadir.web_dir),
                    fix)
    wmode = stat.S_IMODE(st.st_mode)
    if not stat.S_ISDIR(st.st_mode) or wmode != 0o750:
        return fail("web_access",
                    T("{web_dir} must be a directory with mode 0750 (is {wmode}): the web writes it, the daemon "
                      "reads the web's sessions through the group", web_dir=datadir.web_dir,
                      wmode=format(wmode, "04o")),
                    fix)
    if owners is not None and (st.st_uid, st.st_gid) != (owners.uids[WEB_USER], owners.gids[GROUP]):
        return fail("web_access",
                    T("{web_dir} is not owned by {web_user}:{group}: the daemon trusts staff logins only from the "
                      "owner of this directory", web_dir=datadir.web_dir, web_user=WEB_USER, group=GROUP),
                    f"sudo chown {WEB_USER}:{GROUP} {datadir.web_dir}")
    try:
        dbst = datadir.web_db_file.lstat()
    except FileNotFoundError:
        dbst = None
    if dbst is not None and (stat.S_IMODE(dbst.st_mode) & 0o027 or not stat.S_IMODE(dbst.st_mode) & 0o040):
        return fail("web_access",
                    T("{web_db_file} must be 0640 (is {mode}): written by the web only, read by the daemon",
                      web_db_file=datadir.web_db_file, mode=format(stat.S_IMODE(dbst.st_mode), "04o")),
                    f"sudo chmod 0640 {datadir.web_db_file}")
    try:
        sst = datadir.socket_path.lstat()
    except FileNotFoundError:
        sst = None
    if sst is not None:
        smode = stat.S_IMODE(sst.st_mode)
        if not stat.S_ISSOCK(sst.st_mode) or smode & 0o060 != 0o060 or smode & 0o007:
            return fail("web_access",
                        T("{socket_path} must be a socket with mode 0660 (is {smode})",
                          socket_path=datadir.socket_path, smode=format(smode, "04o")),
                        T("restart the door daemon (it creates the socket 0660)"))
        if owners is not None and sst.st_gid != owners.gids[GROUP]:
            return fail("web_access",
                        T("{socket_path} is not in group {group}: the web cannot reach the daemon",
                          socket_path=datadir.socket_path, group=GROUP),
                        T("check that {door_user}'s primary group is {group}, then restart the door daemon",
                          door_user=DOOR_USER, group=GROUP))
    return ok("web_access",
              T("door database read-only for the web ({files}), {name}/ private to the web",
                files=", ".join(checked) or str(T("no file yet")), name=datadir.web_dir.name))


def check_secrets(datadir: DataDir, owners: Owners | None) -> Finding:
    """``secrets/`` is 0700 and the pepper and audit key are 0600/0400 regular files of kunci-door."""
    sdir = datadir.secrets_dir
    try:
        st = sdir.stat()
    except FileNotFoundError:
        return fail("secrets", T("{sdir} does not exist", sdir=sdir),
                    T("run `kunci init` (or restore the secrets from the backup)"))
    except PermissionError:
        return warn("secrets", T("cannot inspect {sdir} as this user", sdir=sdir),
                    T("run doctor as {door_user} or root", door_user=DOOR_USER))
    dmode = stat.S_IMODE(st.st_mode)
    if dmode & 0o077:
        return fail("secrets",
                    T("{sdir} is accessible by group or others (mode {dmode})", sdir=sdir, dmode=format(dmode, "04o")),
                    f"chmod 700 {sdir}")
    if owners is not None and st.st_uid != owners.uids[DOOR_USER]:
        return fail("secrets", T("{sdir} is not owned by {door_user}", sdir=sdir, door_user=DOOR_USER),
                    f"sudo chown -R {DOOR_USER} {sdir}")
    for path in (datadir.pepper_file, datadir.audit_key_file):
        try:
            fst = path.lstat()
        except FileNotFoundError:
            return fail("secrets", T("{path} is missing", path=path),
                        T("restore it from the backup (a new one invalidates every PIN or the audit chain)"))
        except PermissionError:
            return warn("secrets", T("cannot inspect {path} as this user", path=path),
                        T("run doctor as {door_user} or root", door_user=DOOR_USER))
        if not stat.S_ISREG(fst.st_mode):
            return fail("secrets", T("{path} is not a regular file", path=path), T("restore it from the backup"))
        fmode = stat.S_IMODE(fst.st_mode)
        if fmode not in (0o600, 0o400):
            return fail("secrets",
                        T("{path} has mode {fmode} (must be 0600 or 0400)", path=path, fmode=format(fmode, "04o")),
                        f"chmod 600 {path}")
        if owners is not None and fst.st_uid != owners.uids[DOOR_USER]:
            return fail("secrets", T("{path} is not owned by {door_user}", path=path, door_user=DOOR_USER),
                        f"sudo chown {DOOR_USER} {path}")
    return ok("secrets", T("{sdir} 0700, pepper and audit key private", sdir=sdir))


def check_install(root: Path, real: bool, owners: Owners | None) -> Finding:
    """Compare the installation with the manifest ``kunci install-service`` wrote."""
    fix = T("run `sudo kunci install-service` again (it restores modes and owners and changes nothing else)")
    manifest = root / str(MANIFEST).lstrip("/")
    try:
        entries = parse_manifest(manifest.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return warn("install",
                    T("no {manifest}: the services were not installed with `kunci install-service`",
                      manifest=manifest), "sudo kunci install-service")
    except (OSError, ValueError) as exc:
        return fail("install", T("cannot read {path}: {error}", path=manifest, error=exc), fix)
    if real and owners is None:
        return fail("install",
                    T("the accounts {door_user}, {web_user} or group {group} do not exist",
                      door_user=DOOR_USER, web_user=WEB_USER, group=GROUP), fix)
    problems = []
    for entry in entries:
        path = root / str(entry.path).lstrip("/")
        try:
            st = path.lstat()
        except FileNotFoundError:
            problems.append(str(T("{path} missing", path=entry.path)))
            continue
        except PermissionError:
            continue
        if stat.S_IMODE(st.st_mode) != entry.mode:
            problems.append(str(T("{path} mode {mode} (want {wanted})", path=entry.path,
                                  mode=format(stat.S_IMODE(st.st_mode), "04o"), wanted=format(entry.mode, "04o"))))
        if owners is not None and (st.st_uid, st.st_gid) != (owners.uids[entry.owner], owners.gids[entry.group]):
            problems.append(str(T("{path} owner (want {owner}:{group})", path=entry.path, owner=entry.owner,
                                  group=entry.group)))
    if problems:
        if len(problems) > 3:
            return warn("install", T("differs from the install manifest: {problems} and {more} more",
                                     problems="; ".join(problems[:3]), more=len(problems) - 3), fix)
        return warn("install", T("differs from the install manifest: {problems}", problems="; ".join(problems)), fix)
    if owners is not None:
        return ok("install", T("{count} paths match {manifest}: modes and owners", count=len(entries),
                               manifest=manifest))
    return ok("install", T("{count} paths match {manifest}: modes (owners not checked under a scratch root)",
                           count=len(entries), manifest=manifest))
