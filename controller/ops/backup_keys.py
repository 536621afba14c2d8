"""The separate encrypted key file (docs/backup.md): the pepper and the audit key under their own passphrase,
to keep in a safe; ``content = "keys"`` in the format of :mod:`controller.ops.backup_format`, the payload JSON.

:func:`key_id` gives the public identifiers a backup's manifest records, so a restore can tell whether the
keys in DATA are the ones the backup was made with.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from controller.errors import SecretsError
from controller.fileio import atomic_write, fsync_dir
from controller.i18n import T
from controller.ops.backup_format import (
    CONTENT_KEYS,
    DATA_DIR_MODE,
    FILE_MODE,
    FORMAT_VERSION,
    BackupError,
    check_new_passphrase,
    file_stamp,
    open_sealed,
    read_file,
    seal,
    write_new_file,
)
from controller.paths import DataDir
from controller.store import keys
from controller.timefmt import iso_utc, utcnow


def key_id(secret: bytes, label: str) -> str:
    """A short public identifier of a secret (SHA-256 of a label and the secret, 16 hex digits).

    Lets a restore tell whether the pepper/audit key in DATA are the ones a backup
    was made with, without revealing anything usable about them.
    """
    return hashlib.sha256(b"kunci-key-id\x00" + label.encode() + b"\x00" + secret).hexdigest()[:16]


def key_ids(datadir: DataDir) -> dict[str, str | None]:
    ids: dict[str, str | None] = {}
    for label, loader in (("pepper", keys.load_pepper), ("audit_key", keys.load_audit_key)):
        try:
            ids[label] = key_id(loader(datadir), label)
        except SecretsError:
            ids[label] = None
    return ids


def export_keys(datadir: DataDir, dest: Path, passphrase: str, *, kdf: str = "scrypt") -> dict[str, str]:
    """Write the pepper and the audit key, encrypted under ``passphrase``, to the new file ``dest``.

    Returns the key ids (public) so the operator can label the file. The passphrase must pass
    :func:`~controller.ops.backup_format.check_new_passphrase`.
    """
    check_new_passphrase(passphrase)
    pepper = keys.load_pepper(datadir)
    audit_key = keys.load_audit_key(datadir)
    ids = {"pepper": key_id(pepper, "pepper"), "audit_key": key_id(audit_key, "audit_key")}
    payload = json.dumps(
        {"format": FORMAT_VERSION, "created_at": iso_utc(utcnow()), "pepper": pepper.hex(),
         "audit_key": audit_key.hex(), "key_ids": ids},
        sort_keys=True,
    ).encode("ascii")
    write_new_file(dest, seal(payload, passphrase, CONTENT_KEYS, kdf=kdf))
    return ids


def _install_secret(path: Path, data: bytes) -> None:
    atomic_write(path, data, mode=FILE_MODE)


def import_keys(datadir: DataDir, src: Path, passphrase: str, *, force: bool = False) -> str:
    """Install the pepper and audit key from the key file ``src`` into ``DATA/secrets``.

    Creates DATA (0750) and ``secrets/`` (0700) if missing. Identical keys already in
    place: nothing to do. Different keys in place are replaced only with ``force``
    (the old files are kept as ``<name>.before-import-<timestamp>``); a person
    mistaking a new site's keys for a lost one's would otherwise lock everyone out.
    Returns a one-line summary.
    """
    blob = read_file(src)
    payload = open_sealed(blob, passphrase, CONTENT_KEYS, name=str(src))
    try:
        data = json.loads(payload)
        pepper = bytes.fromhex(data["pepper"])
        audit_key = bytes.fromhex(data["audit_key"])
    except (ValueError, KeyError, TypeError):
        raise BackupError(T("{path} decrypts but does not hold Kunci keys", path=src)) from None
    if len(pepper) != keys.SECRET_LENGTH or len(audit_key) != keys.SECRET_LENGTH:
        raise BackupError(T("{path} decrypts but does not hold Kunci keys", path=src))
    wanted = {datadir.pepper_file: pepper, datadir.audit_key_file: audit_key}
    present = {p: p.read_bytes() for p in wanted if p.is_file()}
    if present and all(present.get(p) == v for p, v in wanted.items()):
        return str(T("the keys in {path} are already these keys; nothing changed", path=datadir.secrets_dir))
    if any(present.get(p) not in (None, v) for p, v in wanted.items()) and not force:
        raise BackupError(
            T("{path} already holds different keys (made by 'kunci init'?); repeat with --force to replace "
              "them (the old ones are kept aside)", path=datadir.secrets_dir)
        )
    if not datadir.root.exists():
        datadir.root.mkdir(mode=DATA_DIR_MODE, parents=True)
        os.chmod(datadir.root, DATA_DIR_MODE)
    keys.create_secrets(datadir)  # directory 0700 and any missing file; replaced just below
    stamp = file_stamp(utcnow())
    for path, value in wanted.items():
        if path.read_bytes() == value:
            continue
        if path in present:
            os.link(path, path.with_name(f"{path.name}.before-import-{stamp}"))
        _install_secret(path, value)
    fsync_dir(datadir.secrets_dir)
    keys.load_pepper(datadir)  # checks permissions and lengths as every loader will
    keys.load_audit_key(datadir)
    return str(T("keys installed in {path} (pepper {pepper}, audit key {audit_key})", path=datadir.secrets_dir,
                 pepper=data["key_ids"]["pepper"], audit_key=data["key_ids"]["audit_key"]))
