"""The two secrets of a site: the PIN pepper and the audit-chain key (docs/security.md "What each secret
protects", docs/internals.md "Credentials").

Each is 32 random bytes in ``DATA/secrets/`` (directory 0700, files 0600). They are
created once by ``kunci init`` and never overwritten; loading refuses a file whose
permissions let anyone but the owner read it, so a leaked copy is noticed rather
than silently used. Secret values are never logged or put in an exception.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

from controller.errors import SecretsError
from controller.fileio import atomic_write
from controller.i18n import T, Text
from controller.paths import DataDir

logger = logging.getLogger(__name__)

#: Length in bytes of the pepper and of the audit key.
SECRET_LENGTH = 32

_DIR_MODE = 0o700
_FILE_MODE = 0o600
_ALLOWED_FILE_MODES = (0o600, 0o400)


def create_secrets(datadir: DataDir) -> list[Path]:
    """Create ``DATA/secrets`` (0700) and any missing secret file (32 random bytes, 0600).

    Existing files are never overwritten or re-permissioned. Returns the paths
    created (the directory included if it was new), empty when nothing was missing.
    """
    created: list[Path] = []
    sdir = datadir.secrets_dir
    try:
        sdir.mkdir(mode=_DIR_MODE, parents=True)
        os.chmod(sdir, _DIR_MODE)  # mkdir's mode is masked by the umask
        created.append(sdir)
    except FileExistsError:
        pass
    except OSError as exc:
        raise SecretsError(T("cannot create {path}: {reason}", path=sdir, reason=exc.strerror)) from exc
    for path in (datadir.pepper_file, datadir.audit_key_file):
        if _write_new_secret(path):
            created.append(path)
    return created


def _write_new_secret(path: Path) -> bool:
    """Write 32 random bytes to ``path`` with mode 0600 unless it exists; True if written."""
    try:
        atomic_write(path, secrets.token_bytes(SECRET_LENGTH), mode=_FILE_MODE, replace=False)
    except FileExistsError:
        return False
    except OSError as exc:
        raise SecretsError(T("cannot write {path}: {reason}", path=path, reason=exc.strerror)) from exc
    logger.info("created secret file %s", path)
    return True


#: Each secret's refusals, written out whole so each reads naturally in every language ({path}: the file).
_REFUSALS: dict[str, dict[str, Text]] = {
    "pepper": {
        "missing": T("pepper {path} is missing; run 'kunci init' or restore it from the backup"),
        "open": T("cannot open pepper {path}: {reason}"),
        "irregular": T("pepper {path} is not a regular file"),
        "mode": T("pepper {path} has unsafe permissions (mode {mode}); fix with: chmod 600 {path}"),
        "length": T("pepper {path} has the wrong length (expected {length} bytes); restore it from the backup"),
    },
    "audit key": {
        "missing": T("audit key {path} is missing; run 'kunci init' or restore it from the backup"),
        "open": T("cannot open audit key {path}: {reason}"),
        "irregular": T("audit key {path} is not a regular file"),
        "mode": T("audit key {path} has unsafe permissions (mode {mode}); fix with: chmod 600 {path}"),
        "length": T("audit key {path} has the wrong length (expected {length} bytes); restore it from the backup"),
    },
    "secret file": {
        "missing": T("secret file {path} is missing"),
        "open": T("cannot open secret file {path}: {reason}"),
        "irregular": T("secret file {path} is not a regular file"),
        "mode": T("secret file {path} has unsafe permissions (mode {mode}); fix with: chmod 600 {path}"),
    },
}


def _refusal(what: str, problem: str, **values: object) -> SecretsError:
    """The refusal ``problem`` for the secret ``what`` (a key of :data:`_REFUSALS`; others read as a secret file)."""
    return SecretsError(Text(_REFUSALS.get(what, _REFUSALS["secret file"])[problem].msgid, **values))


def read_private(path: Path, what: str, limit: int) -> bytes:
    """Up to ``limit`` bytes of ``path``, a regular file (no symlink followed) with mode 0600 or 0400.

    Raises :class:`SecretsError` naming ``what`` (``pepper``, ``audit key`` or ``secret file``), the path and
    the fix otherwise. The mode is checked on the open file, so it cannot change in between.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise _refusal(what, "missing", path=path) from None
    except OSError as exc:
        raise _refusal(what, "open", path=path, reason=exc.strerror) from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _refusal(what, "irregular", path=path)
        fmode = stat.S_IMODE(st.st_mode)
        if fmode not in _ALLOWED_FILE_MODES:
            raise _refusal(what, "mode", path=path, mode=format(fmode, "04o"))
        return os.read(fd, limit)
    finally:
        os.close(fd)


def _load(datadir: DataDir, path: Path, what: str) -> bytes:
    sdir = datadir.secrets_dir
    try:
        dmode = stat.S_IMODE(sdir.stat().st_mode)
    except FileNotFoundError:
        raise SecretsError(T("{path} does not exist; run 'kunci init'", path=sdir)) from None
    except OSError as exc:
        raise SecretsError(T("cannot access {path}: {reason}", path=sdir, reason=exc.strerror)) from exc
    if dmode & 0o077:
        raise SecretsError(T("{path} is accessible by group or others (mode {mode}); fix with: chmod 700 {path}",
                             path=sdir, mode=format(dmode, "04o")))
    data = read_private(path, what, SECRET_LENGTH + 1)
    if len(data) != SECRET_LENGTH:
        raise _refusal(what, "length", path=path, length=SECRET_LENGTH)
    return data


def load_pepper(datadir: DataDir) -> bytes:
    """The 32-byte PIN pepper from ``DATA/secrets/pepper``.

    Raises :class:`SecretsError` (naming the path and the fix) if the directory is
    group/other accessible, the file is not mode 0600/0400, or its length is wrong.
    """
    return _load(datadir, datadir.pepper_file, "pepper")


def load_audit_key(datadir: DataDir) -> bytes:
    """The 32-byte audit-chain key from ``DATA/secrets/audit.key`` (same checks as :func:`load_pepper`)."""
    return _load(datadir, datadir.audit_key_file, "audit key")
