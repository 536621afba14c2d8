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
   :func:`~controller.ops.install_plan.plan_paths`. With a scratch ``root`` owners are never changed (the users do not
   exist there); modes are.
4. Manifest. ``ROOT/etc/kunci/install-manifest.txt`` lists each path with its mode, owner and
   group (tab separated); ``kunci doctor`` compares the installation with it.

Why the modes are what they are: :mod:`controller.ops.install_plan`.

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
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from controller.errors import KunciError
from controller.fileio import atomic_write
from controller.i18n import T
from controller.ops.install_plan import (
    DEFAULT_PREFIX,
    DOOR_USER,
    GROUP,
    MANIFEST,
    UNIT_DIR,
    UNIT_NAMES,
    USERS_FILE,
    WEB_USER,
    Accounts,
    InstallError,
    PlannedPath,
    account_commands,
    find_units_dir,
    manifest_text,
    plan_paths,
    render_unit,
    users_to_create_text,
    wal_companions,
)
from controller.paths import DEFAULT_DATA_DIR, DataDir

log = logging.getLogger(__name__)


# --- the installation -------------------------------------------------------------------------------


@dataclass
class InstallReport:
    """What :func:`install_service` did (or, with ``dry_run``, would do): lines in the current language."""

    changes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    manifest: Path | None = None


def _target(root: Path, path: PurePosixPath) -> Path:
    return root / str(path).lstrip("/")


def _write_if_changed(path: Path, text: str, mode: int, report: InstallReport, dry_run: bool) -> bool:
    """Write ``text`` to ``path`` unless it already holds it; True when it was (or would be) written."""
    try:
        current = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        current = None
    if current == text:
        return False
    report.changes.append(str(T("would write {path}", path=path) if dry_run else T("wrote {path}", path=path)))
    if dry_run:
        return True
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, text, mode=mode)
    return True


def _apply(entry: PlannedPath, target: Path, *, set_owner: bool, dry_run: bool, report: InstallReport) -> None:
    """Give ``target`` the entry's mode (and owner when ``set_owner``); record what changed."""
    try:
        st = target.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        raise InstallError(T("{target} is a symbolic link; refusing to change its permissions", target=target))
    if (entry.kind == "dir") != stat.S_ISDIR(st.st_mode):
        raise InstallError(T("{target} should be a directory", target=target) if entry.kind == "dir"
                           else T("{target} should be a file", target=target))
    if set_owner:
        uid, gid = pwd.getpwnam(entry.owner).pw_uid, grp.getgrnam(entry.group).gr_gid
        if (st.st_uid, st.st_gid) != (uid, gid):
            owner = f"{entry.owner}:{entry.group}"
            report.changes.append(str(T("would set owner {owner} on {path}", owner=owner, path=target) if dry_run
                                      else T("set owner {owner} on {path}", owner=owner, path=target)))
            if not dry_run:
                os.chown(target, uid, gid, follow_symlinks=False)
    current = stat.S_IMODE(st.st_mode)
    if current != entry.mode:
        mode, was = format(entry.mode, "04o"), format(current, "04o")
        report.changes.append(str(T("would set mode {mode} (was {was}) on {path}", mode=mode, was=was, path=target)
                                  if dry_run else T("set mode {mode} (was {was}) on {path}", mode=mode, was=was,
                                                    path=target)))
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
    initialise: Callable[..., list[str]] | None = None,
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
            raise InstallError(T("{name} must be an absolute path, got {value}", name=name, value=value))
    root = Path(root).absolute()
    real = root == Path("/")
    accounts = accounts or Accounts()
    if is_root is None:
        is_root = os.geteuid() == 0
    if real and not is_root and not dry_run:
        raise InstallError(T("run as root (sudo) to install on this system, or use --root PREFIX for a scratch "
                             "install, or --dry-run to see what would change"))
    report = InstallReport()
    units = find_units_dir(prefix, units_dir)

    # 1. accounts
    if real:
        for cmd in account_commands(accounts):
            command = " ".join(cmd)
            report.changes.append(str(T("would run: {command}", command=command) if dry_run
                                      else T("ran: {command}", command=command)))
            if not dry_run:
                accounts.run(cmd)
    else:
        report.notes.append(str(T("scratch root {root}: no accounts created and no owners changed; intended owners "
                                  "are in {manifest}", root=root, manifest=_target(root, MANIFEST))))
    _write_if_changed(_target(root, USERS_FILE), users_to_create_text(), 0o644, report, dry_run)

    # 2. units
    units_changed = False
    for name in UNIT_NAMES:
        text = render_unit((units / name).read_text(encoding="utf-8"), data, prefix)
        units_changed |= _write_if_changed(_target(root, UNIT_DIR / name), text, 0o644, report, dry_run)

    # 3. data directory
    datadir = DataDir(_target(root, data))
    entries = plan_paths(data)
    if not datadir.root.exists():
        report.changes.append(str(T("would create {path}", path=datadir.root) if dry_run
                                  else T("created {path}", path=datadir.root)))
        if not dry_run:
            datadir.root.mkdir(parents=True, mode=0o750)
    if dry_run:
        if not datadir.config_file.exists() or not datadir.pepper_file.exists():
            report.changes.append(str(T("would initialise {path} (kunci init)", path=datadir.root)))
    else:
        init = initialise
        if init is None:
            from controller.ops.initialise import initialise as init
        try:
            done = init(datadir, report_up_to_date=False)
        except (KunciError, OSError) as exc:
            raise InstallError(T("initialising {path} failed: {error}", path=datadir.root, error=exc)) from exc
        report.changes += done
    if not datadir.web_dir.exists():
        report.changes.append(str(T("would create {path}", path=datadir.web_dir) if dry_run
                                  else T("created {path}", path=datadir.web_dir)))
        if not dry_run:
            datadir.web_dir.mkdir(mode=0o750)
    set_owner = real and all(accounts.user_exists(u) for u in (DOOR_USER, WEB_USER)) and accounts.group_exists(GROUP)
    if real and not set_owner:
        report.notes.append(str(T("owners not changed: the kunci accounts do not exist yet")))
    for entry in [*entries, *wal_companions(data)]:
        _apply(entry, _target(root, entry.path), set_owner=set_owner, dry_run=dry_run, report=report)

    # 4. manifest
    manifest = _target(root, MANIFEST)
    _write_if_changed(manifest, manifest_text(entries), 0o644, report, dry_run)
    report.manifest = manifest

    if real and not dry_run and units_changed and _systemd_running():
        accounts.run(["systemctl", "daemon-reload"])
        report.changes.append(str(T("ran: {command}", command="systemctl daemon-reload")))
    missing_exe = _target(root, prefix / "venv" / "bin" / "kunci")
    if not missing_exe.exists():
        report.notes.append(str(T("{path} does not exist yet: the units start PREFIX/venv/bin/kunci (create the venv "
                                  "there, see docs/install-pi.md)", path=missing_exe)))
    return report


def _systemd_running() -> bool:
    """True when systemd is PID 1 (``/run/systemd/system`` exists) and systemctl is installed."""
    return Path("/run/systemd/system").is_dir() and shutil.which("systemctl") is not None


def scratch_executable(root: Path, prefix: PurePosixPath) -> Path:
    """Put a stand-in ``PREFIX/venv/bin/kunci`` under a scratch ``root`` (for ``systemd-analyze verify``).

    Refuses the real root: the real executable comes from ``pip install``.
    """
    if Path(root).absolute() == Path("/"):
        raise InstallError(T("scratch_executable is for scratch roots only"))
    exe = _target(Path(root), prefix / "venv" / "bin" / "kunci")
    exe.parent.mkdir(parents=True, exist_ok=True)
    if not exe.exists():
        exe.write_text(f"#!{sys.executable}\nfrom controller.cli import main\nraise SystemExit(main())\n")
        os.chmod(exe, 0o755)
    return exe
