"""Encrypted backups of a data directory, and the separate encrypted key file (docs/backup.md).

File format (both kinds; all integers big-endian)::

    b"KUNCI-BACKUP"            12 bytes, magic
    version                    1 byte  (FORMAT_VERSION = 1)
    header_length              2 bytes
    header                     header_length bytes of ASCII JSON:
        {"content": "data" | "keys", "cipher": "AES-256-GCM",
         "kdf": {"name": "scrypt", "n": 32768, "r": 8, "p": 1, "salt": HEX}
              | {"name": "argon2id", "t": 3, "m": 65536, "p": 4, "salt": HEX},
         "nonce": HEX (12 bytes), "length": N}
    ciphertext                 N bytes: AES-256-GCM(key, nonce, payload, aad = every byte above) || 16-byte tag

The key is derived from the passphrase (at least :data:`MIN_PASSPHRASE` characters, and for a
new file not guessable: :func:`check_new_passphrase`; there is no default passphrase) with the
KDF named in the header. Because the
header is the AEAD's associated data, changing any byte of the file - header,
ciphertext or tag - makes decryption fail, and a wrong passphrase fails the same
way; nothing is written before decryption succeeded.

``content = "data"``: the payload is a gzip'd tar of ``manifest.json``
(created_at, Kunci version, database revision, chain head, counts, key ids),
``kunci.db`` (a consistent snapshot taken with SQLite's online backup API while
the daemon may be running), ``kunci.toml``, ``sim/...`` (the simulated sensor
flash) when present, and ``anchor/heads`` (+ ``anchor/heads.1``), the chain heads the
daemon keeps outside the database, read before the snapshot so they never name a head
the snapshot lacks. ``content = "keys"``: the payload is JSON with the pepper
and the audit key - a separate file, under its own passphrase, to keep in a safe.

:func:`restore_backup` refuses while the daemon holds the sealer lock, checks
everything it can before touching DATA, writes the database to a temporary file
in the same directory, re-applies revocations, suspensions, PIN resets and
finger deletions made after the backup (fail closed; ``admin.restore_reapplied``),
records ``admin.backup_restored``, seals and verifies the chain when the audit
key is present, fsyncs, keeps the replaced file as
``kunci.db.before-restore-<timestamp>`` and swaps the new file in with a rename. The anchor
file is then replaced by the backup's (the old one kept as ``heads.before-restore-<timestamp>``)
and the restored head appended to it.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import io
import json
import logging
import os
import secrets
import shutil
import sqlite3
import struct
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from controller import __version__

from controller.store import anchor, audit, keys
from controller.ops.archive import FILE_PATTERN, archive_dir, list_archives, verify_all
from controller.config import load_config, parse_config
from controller.store.db import (
    SQLITE_HEADER,
    check_integrity,
    head_revision,
    make_engine,
    refuse_non_database,
    session_factory,
    upgrade_database,
)
from controller.errors import KunciError, SecretsError, StoreError
from controller.store.models import PinCredential, User
from controller.paths import DataDir
from controller.timefmt import iso_utc, utcnow

logger = logging.getLogger(__name__)

MAGIC = b"KUNCI-BACKUP"
FORMAT_VERSION = 1
#: Shortest passphrase accepted for a backup or key file.
MIN_PASSPHRASE = 12
#: Lowest zxcvbn strength score (0..4) of the passphrase of a *new* backup or key file. 3 is zxcvbn's
#: "safely unguessable" (about 10**10 guesses): an attacker with the file tries guesses offline.
MIN_PASSPHRASE_SCORE = 3
#: Words an attacker who knows what the file is would try first (penalised in the estimate).
_PASSPHRASE_CONTEXT = ("kunci", "backup", "keys", "passphrase", "door", "records", "room")
#: zxcvbn refuses longer input (its matching is quadratic); the rest of a longer passphrase only adds strength.
_ZXCVBN_MAX_LENGTH = 72
CONTENT_DATA = "data"
CONTENT_KEYS = "keys"
KDF_NAMES = ("scrypt", "argon2id")

#: Default KDF parameters written into new files.
SCRYPT_DEFAULT = {"n": 2**15, "r": 8, "p": 1}
ARGON2_DEFAULT = {"t": 3, "m": 64 * 1024, "p": 4}  # m in KiB

_HEADER_MAX = 4096
_TAG_LEN = 16
_NONCE_LEN = 12
_SALT_LEN = 16
_PREFIX = struct.Struct(">BH")  # version, header length
_ACTOR = "cli"
_DB_MEMBER = "kunci.db"
_CONFIG_MEMBER = "kunci.toml"
_MANIFEST_MEMBER = "manifest.json"
_SIM_PREFIX = "sim/"
_ARCHIVE_PREFIX = "archive/"
_ANCHOR_PREFIX = "anchor/"
#: Anchor files a backup carries (``DATA/anchor/<name>``), oldest first.
_ANCHOR_FILES = ("heads.1", "heads")
_FILE_MODE = 0o600
_DATA_DIR_MODE = 0o750
_DB_FILE_MODE = 0o640


class BackupError(KunciError, ValueError):
    """A backup or key file cannot be written, read, decrypted or restored (one line, no secrets)."""


# --- passphrase and key derivation ------------------------------------------------------------------


def check_new_passphrase(passphrase: str) -> bytes:
    """:func:`check_passphrase` for a passphrase that will protect a new file, plus a strength estimate.

    The estimate is zxcvbn's (dictionaries of common passwords, words, names, keyboard patterns,
    dates, repeats, l33t substitutions); below :data:`MIN_PASSPHRASE_SCORE` it is refused with
    :class:`BackupError` saying why, never repeating the passphrase. Opening an existing file only
    checks the length (an old backup must stay restorable).
    """
    from zxcvbn import zxcvbn

    secret = check_passphrase(passphrase)
    result = zxcvbn(passphrase[:_ZXCVBN_MAX_LENGTH], user_inputs=list(_PASSPHRASE_CONTEXT))
    if result["score"] < MIN_PASSPHRASE_SCORE:
        feedback = result["feedback"]
        why = (feedback.get("warning") or "it is made of words, names, dates or patterns that are tried early")
        advice = " ".join(feedback.get("suggestions") or []) or "Add another word or two; uncommon words are better."
        raise BackupError(f"the passphrase is too easy to guess: {why.rstrip('.')}. {advice}")
    return secret


def check_passphrase(passphrase: str) -> bytes:
    """The passphrase as UTF-8 bytes; :class:`BackupError` if shorter than :data:`MIN_PASSPHRASE`."""
    if not isinstance(passphrase, str) or len(passphrase) < MIN_PASSPHRASE:
        raise BackupError(f"the passphrase must be at least {MIN_PASSPHRASE} characters")
    return passphrase.encode("utf-8")


def _new_kdf(name: str) -> dict[str, Any]:
    if name == "scrypt":
        params: dict[str, Any] = {"name": "scrypt", **SCRYPT_DEFAULT}
    elif name == "argon2id":
        params = {"name": "argon2id", **ARGON2_DEFAULT}
    else:
        raise BackupError(f"unknown key derivation {name!r} (use one of: {', '.join(KDF_NAMES)})")
    params["salt"] = secrets.token_bytes(_SALT_LEN).hex()
    return params


def _int_in(params: dict[str, Any], name: str, low: int, high: int) -> int:
    value = params.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise BackupError(f"unsupported key derivation parameter {name} in the file header")
    return value


def derive_key(passphrase: str, kdf: dict[str, Any]) -> bytes:
    """The 32-byte AES key for ``passphrase`` under the header's ``kdf`` parameters.

    Parameters are bounded (so a crafted header cannot ask for gigabytes of memory
    or accept a trivially weak setting); out-of-range values raise :class:`BackupError`.
    """
    secret = check_passphrase(passphrase)
    try:
        salt = bytes.fromhex(str(kdf.get("salt", "")))
    except ValueError:
        raise BackupError("the file header has an invalid salt") from None
    if not 16 <= len(salt) <= 64:
        raise BackupError("the file header has an invalid salt")
    name = kdf.get("name")
    if name == "scrypt":
        n = _int_in(kdf, "n", 2**14, 2**20)
        if n & (n - 1):
            raise BackupError("unsupported key derivation parameter n in the file header")
        r = _int_in(kdf, "r", 8, 32)
        p = _int_in(kdf, "p", 1, 16)
        return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(secret)
    if name == "argon2id":
        from argon2.low_level import Type, hash_secret_raw

        t = _int_in(kdf, "t", 1, 20)
        m = _int_in(kdf, "m", 19 * 1024, 1024 * 1024)
        p = _int_in(kdf, "p", 1, 16)
        return hash_secret_raw(secret, salt, time_cost=t, memory_cost=m, parallelism=p, hash_len=32, type=Type.ID)
    raise BackupError("the file header names an unknown key derivation")


# --- the container ----------------------------------------------------------------------------------


def seal(payload: bytes, passphrase: str, content: str, *, kdf: str = "scrypt") -> bytes:
    """The whole file: header + AES-256-GCM(payload) with the header as associated data."""
    params = _new_kdf(kdf)
    key = derive_key(passphrase, params)
    nonce = secrets.token_bytes(_NONCE_LEN)
    header = {
        "content": content,
        "cipher": "AES-256-GCM",
        "kdf": params,
        "nonce": nonce.hex(),
        "length": len(payload) + _TAG_LEN,
    }
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("ascii")
    aad = MAGIC + _PREFIX.pack(FORMAT_VERSION, len(text)) + text
    return aad + AESGCM(key).encrypt(nonce, payload, aad)


@dataclass(frozen=True)
class Header:
    """A parsed file header; ``aad`` is every byte before the ciphertext."""

    content: str
    kdf: dict[str, Any]
    nonce: bytes
    length: int
    aad: bytes


def parse_header(blob: bytes, *, name: str = "the file") -> Header:
    """Parse and check the header of ``blob`` (magic, version, JSON, lengths); BackupError otherwise."""
    if len(blob) < len(MAGIC) + _PREFIX.size:
        if MAGIC.startswith(blob[: len(MAGIC)]) and blob:
            raise BackupError(f"{name} is truncated (shorter than its header)")
        raise BackupError(f"{name} is not a Kunci backup (no KUNCI-BACKUP header)")
    if blob[: len(MAGIC)] != MAGIC:
        raise BackupError(f"{name} is not a Kunci backup (no KUNCI-BACKUP header)")
    version, length = _PREFIX.unpack_from(blob, len(MAGIC))
    if version != FORMAT_VERSION:
        raise BackupError(f"{name} has format version {version}; this Kunci reads version {FORMAT_VERSION}")
    start = len(MAGIC) + _PREFIX.size
    if length > _HEADER_MAX:
        raise BackupError(f"{name} has a damaged header")
    if len(blob) < start + length:
        raise BackupError(f"{name} is truncated (shorter than its header)")
    try:
        header = json.loads(blob[start : start + length].decode("ascii"))
        content = header["content"]
        kdf = header["kdf"]
        nonce = bytes.fromhex(header["nonce"])
        clen = header["length"]
        cipher = header["cipher"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise BackupError(f"{name} has a damaged header") from None
    if (
        cipher != "AES-256-GCM"
        or content not in (CONTENT_DATA, CONTENT_KEYS)
        or not isinstance(kdf, dict)
        or len(nonce) != _NONCE_LEN
        or not isinstance(clen, int)
        or clen < _TAG_LEN
    ):
        raise BackupError(f"{name} has a damaged or unsupported header")
    actual = len(blob) - start - length
    if actual < clen:
        raise BackupError(f"{name} is truncated ({actual} of {clen} encrypted bytes present)")
    if actual > clen:
        raise BackupError(f"{name} has {actual - clen} unexpected bytes after the encrypted data")
    return Header(content=content, kdf=kdf, nonce=nonce, length=clen, aad=blob[: start + length])


def open_sealed(blob: bytes, passphrase: str, content: str, *, name: str = "the file") -> bytes:
    """Check the header and decrypt; :class:`BackupError` on any mismatch (nothing else happens)."""
    header = parse_header(blob, name=name)
    if header.content != content:
        if header.content == CONTENT_KEYS:
            raise BackupError(f"{name} is a key file; use 'kunci backup import-keys'")
        raise BackupError(f"{name} is a data backup, not a key file; use 'kunci backup restore'")
    key = derive_key(passphrase, header.kdf)
    try:
        return AESGCM(key).decrypt(header.nonce, memoryview(blob)[len(header.aad) :], header.aad)
    except InvalidTag:
        raise BackupError(
            f"cannot decrypt {name}: wrong passphrase, or the file was altered or damaged (authentication failed)"
        ) from None


# --- small file helpers -----------------------------------------------------------------------------


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_new_file(path: Path, data: bytes, mode: int = _FILE_MODE) -> None:
    """Write ``data`` to a new file ``path`` (refuse to overwrite), via a temp file, fsync and rename."""
    if path.exists():
        raise BackupError(f"{path} already exists; choose another file name")
    if not path.parent.is_dir():
        raise BackupError(f"directory {path.parent} does not exist")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.link(tmp, path)  # fails if someone created path meanwhile: never overwrite
        _fsync_dir(path.parent)
    except FileExistsError:
        raise BackupError(f"{path} already exists; choose another file name") from None
    except OSError as exc:
        raise BackupError(f"cannot write {path}: {exc.strerror}") from exc
    finally:
        tmp.unlink(missing_ok=True)


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise BackupError(f"{path} does not exist") from None
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror}") from exc


def _timestamp(now: datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%SZ")


def key_id(secret: bytes, label: str) -> str:
    """A short public identifier of a secret (SHA-256 of a label and the secret, 16 hex digits).

    Lets a restore tell whether the pepper/audit key in DATA are the ones a backup
    was made with, without revealing anything usable about them.
    """
    return hashlib.sha256(b"kunci-key-id\x00" + label.encode() + b"\x00" + secret).hexdigest()[:16]


def _key_ids(datadir: DataDir) -> dict[str, str | None]:
    ids: dict[str, str | None] = {}
    for label, loader in (("pepper", keys.load_pepper), ("audit_key", keys.load_audit_key)):
        try:
            ids[label] = key_id(loader(datadir), label)
        except SecretsError:
            ids[label] = None
    return ids


def sqlite_path(datadir: DataDir, store_url: str) -> Path:
    """The SQLite file of ``store_url`` (empty = ``DATA/kunci.db``); BackupError for other databases."""
    url = store_url or datadir.default_db_url
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        raise BackupError("kunci backup covers SQLite databases only; back up a server database with its own tools")
    return Path(database)


def daemon_running(datadir: DataDir) -> bool:
    """True if another process holds the sealer lock (the daemon runs). Creates and changes nothing."""
    try:
        fd = os.open(datadir.daemon_lock_file, os.O_RDONLY)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise BackupError(f"cannot open {datadir.daemon_lock_file}: {exc.strerror}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases a lock we may have taken
    return False


# --- create -----------------------------------------------------------------------------------------


def snapshot_database(path: Path, busy_timeout_ms: int = 5000) -> bytes:
    """A consistent copy of the SQLite database ``path`` as bytes (online backup API, one step).

    The copy is taken inside one read transaction, so it is consistent while the
    daemon writes; it goes to memory, never to a clear-text file.
    """
    if not path.is_file():
        raise BackupError(f"database {path} does not exist")
    try:
        src = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=busy_timeout_ms / 1000)
        try:
            dst = sqlite3.connect(":memory:")
            try:
                src.backup(dst)
                image = bytearray(dst.serialize())
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        raise BackupError(f"cannot read database {path}: {exc}") from exc
    if image[:16] == SQLITE_HEADER and image[18:20] == b"\x02\x02":
        image[18:20] = b"\x01\x01"  # WAL flag off in the copy; the engine turns WAL on again when opened
    return bytes(image)


def _snapshot_facts(db_bytes: bytes) -> dict[str, Any]:
    """Revision, chain head and counts of a serialized database (read from memory)."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.deserialize(db_bytes)
        try:
            revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.Error:
            revision = None
        row = conn.execute("SELECT seq, mac FROM events WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1").fetchone()
        first = conn.execute("SELECT min(seq) FROM events").fetchone()[0]
        counts = {
            "users": conn.execute("SELECT count(*) FROM users").fetchone()[0],
            "users_active": conn.execute("SELECT count(*) FROM users WHERE status = 'active'").fetchone()[0],
            "pins": conn.execute("SELECT count(*) FROM pin_credentials").fetchone()[0],
            "fingers": conn.execute("SELECT count(*) FROM finger_credentials").fetchone()[0],
            "events": conn.execute("SELECT count(*) FROM events").fetchone()[0],
            "events_unsealed": conn.execute("SELECT count(*) FROM events WHERE seq IS NULL").fetchone()[0],
        }
    except sqlite3.Error as exc:
        raise BackupError(f"the database snapshot is not a Kunci database: {exc}") from exc
    finally:
        conn.close()
    return {
        "db_revision": revision[0] if revision else None,
        "chain_head": {"seq": row[0], "mac": bytes(row[1]).hex()} if row else {"seq": 0, "mac": audit.GENESIS_MAC.hex()},
        "chain_first_seq": first,
        "counts": counts,
    }


def _add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))


@dataclass(frozen=True)
class BackupInfo:
    """What :func:`create_backup` wrote: the manifest, the file size and its SHA-256."""

    path: Path
    manifest: dict[str, Any]
    size: int
    sha256: str


def create_backup(
    datadir: DataDir, dest: Path, passphrase: str, *, kdf: str = "scrypt", now: datetime | None = None
) -> BackupInfo:
    """Write an encrypted backup of ``datadir`` to the new file ``dest`` (mode 0600).

    Contains a consistent database snapshot, ``kunci.toml`` and ``DATA/sim/`` (if
    present) and a manifest; never the pepper or the audit key (see :func:`export_keys`).
    Works while the daemon runs. Does not record the ``admin.backup_created`` event
    (the caller does, after this returns). The passphrase must pass :func:`check_new_passphrase`.
    """
    check_new_passphrase(passphrase)
    if dest.exists():
        raise BackupError(f"{dest} already exists; choose another file name")
    config = load_config(datadir.config_file)
    db_path = sqlite_path(datadir, config.store.url)
    # The anchor files first: the daemon appends a head only after its commit, so a snapshot taken
    # afterwards holds every head they name (a restore never starts with a "truncated" log).
    heads = _read_anchor_files(datadir)
    db_bytes = snapshot_database(db_path, config.store.busy_timeout_ms)
    facts = _snapshot_facts(db_bytes)
    manifest: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "created_at": iso_utc(now or utcnow()),
        "kunci_version": __version__,
        **facts,
        "key_ids": _key_ids(datadir),
        "files": {},
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        manifest["files"][_DB_MEMBER] = hashlib.sha256(db_bytes).hexdigest()
        _add_member(tar, _DB_MEMBER, db_bytes)
        del db_bytes
        if datadir.config_file.is_file():
            data = datadir.config_file.read_bytes()
            manifest["files"][_CONFIG_MEMBER] = hashlib.sha256(data).hexdigest()
            _add_member(tar, _CONFIG_MEMBER, data)
        if datadir.sim_dir.is_dir():
            for path in sorted(datadir.sim_dir.rglob("*")):
                if path.is_file() and not path.is_symlink() and not path.name.endswith(".tmp"):
                    name = _SIM_PREFIX + path.relative_to(datadir.sim_dir).as_posix()
                    data = path.read_bytes()
                    manifest["files"][name] = hashlib.sha256(data).hexdigest()
                    _add_member(tar, name, data)
        for _first, _last, path in list_archives(archive_dir(datadir.root)):
            data = path.read_bytes()
            manifest["files"][_ARCHIVE_PREFIX + path.name] = hashlib.sha256(data).hexdigest()
            _add_member(tar, _ARCHIVE_PREFIX + path.name, data)
        for name, data in heads.items():
            manifest["files"][_ANCHOR_PREFIX + name] = hashlib.sha256(data).hexdigest()
            _add_member(tar, _ANCHOR_PREFIX + name, data)
        _add_member(tar, _MANIFEST_MEMBER, json.dumps(manifest, sort_keys=True, indent=1).encode("ascii"))
    payload = buffer.getvalue()
    del buffer
    blob = seal(payload, passphrase, CONTENT_DATA, kdf=kdf)
    del payload
    _write_new_file(dest, blob)
    logger.info("backup written to %s (%d bytes)", dest, len(blob))
    return BackupInfo(path=dest, manifest=manifest, size=len(blob), sha256=hashlib.sha256(blob).hexdigest())


# --- keys -------------------------------------------------------------------------------------------


def export_keys(datadir: DataDir, dest: Path, passphrase: str, *, kdf: str = "scrypt") -> dict[str, str]:
    """Write the pepper and the audit key, encrypted under ``passphrase``, to the new file ``dest``.

    Returns the key ids (public) so the operator can label the file. The passphrase must pass
    :func:`check_new_passphrase`.
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
    _write_new_file(dest, seal(payload, passphrase, CONTENT_KEYS, kdf=kdf))
    return ids


def _install_secret(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
    try:
        os.fchmod(fd, _FILE_MODE)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def import_keys(datadir: DataDir, src: Path, passphrase: str, *, force: bool = False) -> str:
    """Install the pepper and audit key from the key file ``src`` into ``DATA/secrets``.

    Creates DATA (0750) and ``secrets/`` (0700) if missing. Identical keys already in
    place: nothing to do. Different keys in place are replaced only with ``force``
    (the old files are kept as ``<name>.before-import-<timestamp>``); a person
    mistaking a new site's keys for a lost one's would otherwise lock everyone out.
    Returns a one-line summary.
    """
    blob = _read_file(src)
    payload = open_sealed(blob, passphrase, CONTENT_KEYS, name=str(src))
    try:
        data = json.loads(payload)
        pepper = bytes.fromhex(data["pepper"])
        audit_key = bytes.fromhex(data["audit_key"])
    except (ValueError, KeyError, TypeError):
        raise BackupError(f"{src} decrypts but does not hold Kunci keys") from None
    if len(pepper) != keys.SECRET_LENGTH or len(audit_key) != keys.SECRET_LENGTH:
        raise BackupError(f"{src} decrypts but does not hold Kunci keys")
    wanted = {datadir.pepper_file: pepper, datadir.audit_key_file: audit_key}
    present = {p: p.read_bytes() for p in wanted if p.is_file()}
    if present and all(present.get(p) == v for p, v in wanted.items()):
        return f"the keys in {datadir.secrets_dir} are already these keys; nothing changed"
    if any(present.get(p) not in (None, v) for p, v in wanted.items()) and not force:
        raise BackupError(
            f"{datadir.secrets_dir} already holds different keys (made by 'kunci init'?); "
            "repeat with --force to replace them (the old ones are kept aside)"
        )
    if not datadir.root.exists():
        datadir.root.mkdir(mode=_DATA_DIR_MODE, parents=True)
        os.chmod(datadir.root, _DATA_DIR_MODE)
    keys.create_secrets(datadir)  # directory 0700 and any missing file; replaced just below
    stamp = _timestamp(utcnow())
    for path, value in wanted.items():
        if path.read_bytes() == value:
            continue
        if path in present:
            os.link(path, path.with_name(f"{path.name}.before-import-{stamp}"))
        _install_secret(path, value)
    _fsync_dir(datadir.secrets_dir)
    keys.load_pepper(datadir)  # checks permissions and lengths as every loader will
    keys.load_audit_key(datadir)
    return f"keys installed in {datadir.secrets_dir} (pepper {data['key_ids']['pepper']}, " \
           f"audit key {data['key_ids']['audit_key']})"


# --- restore ----------------------------------------------------------------------------------------


@dataclass
class Reapplied:
    """One change made after the backup and re-applied to the restored database (codes only)."""

    code: str
    what: str  # "revoked", "suspended", "pin_reset", "finger_removed"
    backup_value: str
    now_value: str


@dataclass
class RestoreReport:
    """What :func:`restore_backup` did."""

    manifest: dict[str, Any]
    database: Path
    before_restore: Path | None
    config_restored: bool
    sim_restored: bool
    after_backup: list[Reapplied] = field(default_factory=list)
    reapplied: bool = True
    chain: audit.VerifyResult | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class _Payload:
    manifest: dict[str, Any]
    config: bytes | None
    sim: dict[str, bytes]
    archives: dict[str, bytes]
    anchor: dict[str, bytes] = field(default_factory=dict)


def _read_anchor_files(datadir: DataDir) -> dict[str, bytes]:
    """``{name: bytes}`` of the anchor files present (not the database: plain reads are fine)."""
    found: dict[str, bytes] = {}
    for name in _ANCHOR_FILES:
        try:
            found[name] = (datadir.anchor_dir / name).read_bytes()
        except FileNotFoundError:
            continue
    return found


def _restore_anchor(datadir: DataDir, files: dict[str, bytes], head: tuple[int, str] | None, stamp: str) -> None:
    """Put the backup's anchor files in place (the current ones kept as ``*.before-restore-<stamp>``),
    then append the restored database's head, so the anchor matches the restored log."""
    adir = datadir.anchor_dir
    adir.mkdir(mode=anchor.DIR_MODE, exist_ok=True)
    for name in _ANCHOR_FILES:
        path = adir / name
        if path.exists():
            os.replace(path, adir / f"{name}.before-restore-{stamp}")
    for name in _ANCHOR_FILES:
        if name in files:
            _replace_file(adir / name, files[name], stamp, anchor.FILE_MODE)
    if head is not None:
        anchor.append(datadir, head[0], head[1])
    _fsync_dir(adir)


def _safe_sim_name(name: str) -> str | None:
    rel = PurePosixPath(name[len(_SIM_PREFIX) :])
    if not rel.parts or rel.is_absolute() or any(part in ("", ".", "..") for part in rel.parts):
        return None
    return rel.as_posix()


def _unpack(plaintext: bytes, db_tmp: Path, name: str) -> _Payload:
    """Read the tar: the database goes straight to ``db_tmp``; the rest is small and kept in memory."""
    manifest: dict[str, Any] | None = None
    config: bytes | None = None
    sim: dict[str, bytes] = {}
    archives: dict[str, bytes] = {}
    anchor_files: dict[str, bytes] = {}
    digests: dict[str, str] = {}
    seen_db = False
    try:
        with tarfile.open(fileobj=io.BytesIO(plaintext), mode="r:gz") as tar:
            for member in tar:
                if not member.isfile():
                    raise BackupError(f"{name} contains an unexpected entry")
                handle = tar.extractfile(member)
                assert handle is not None
                if member.name == _DB_MEMBER:
                    digest = hashlib.sha256()
                    fd = os.open(db_tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _DB_FILE_MODE)
                    with os.fdopen(fd, "wb") as out:
                        os.fchmod(out.fileno(), _DB_FILE_MODE)
                        while chunk := handle.read(1 << 20):
                            digest.update(chunk)
                            out.write(chunk)
                        out.flush()
                        os.fsync(out.fileno())
                    digests[_DB_MEMBER] = digest.hexdigest()
                    seen_db = True
                    continue
                data = handle.read()
                if member.name == _MANIFEST_MEMBER:
                    manifest = json.loads(data)
                    continue
                if member.name == _CONFIG_MEMBER:
                    config = data
                elif member.name.startswith(_SIM_PREFIX) and (rel := _safe_sim_name(member.name)):
                    sim[rel] = data
                elif member.name.startswith(_ARCHIVE_PREFIX) and FILE_PATTERN.match(
                        member.name[len(_ARCHIVE_PREFIX):]):
                    archives[member.name[len(_ARCHIVE_PREFIX):]] = data
                elif member.name.startswith(_ANCHOR_PREFIX) and member.name[len(_ANCHOR_PREFIX):] in _ANCHOR_FILES:
                    anchor_files[member.name[len(_ANCHOR_PREFIX):]] = data
                else:
                    raise BackupError(f"{name} contains an unexpected entry")
                digests[member.name] = hashlib.sha256(data).hexdigest()
    except (tarfile.TarError, OSError, EOFError, ValueError, gzip.BadGzipFile) as exc:
        if isinstance(exc, BackupError):
            raise
        raise BackupError(f"{name} decrypts but its content is damaged") from None
    if manifest is None or not seen_db or manifest.get("files") != digests:
        raise BackupError(f"{name} decrypts but its content does not match its manifest")
    return _Payload(manifest=manifest, config=config, sim=sim, archives=archives, anchor=anchor_files)


def _read_people(path: Path) -> dict[str, tuple[str, bytes | None, set[int]]]:
    """``{code: (status, pin_digest, finger slots)}`` of the database at ``path`` (read-only)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        out: dict[str, tuple[str, bytes | None, set[int]]] = {}
        for code, status, digest in conn.execute(
            "SELECT u.code, u.status, p.digest FROM users u LEFT JOIN pin_credentials p ON p.user_id = u.id"
        ):
            out[code] = (status, bytes(digest) if digest is not None else None, set())
        for code, slot in conn.execute(
            "SELECT u.code, f.slot FROM finger_credentials f JOIN users u ON u.id = f.user_id"
        ):
            out[code][2].add(int(slot))
        return out
    except sqlite3.Error as exc:
        raise BackupError(f"cannot read the current database {path}: {exc}") from exc
    finally:
        conn.close()


def _current_in_use(path: Path) -> None:
    """Checkpoint the current database's WAL fully; refuse if another process keeps it busy."""
    conn = sqlite3.connect(str(path), timeout=5)
    try:
        busy, _log, _done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    except sqlite3.Error as exc:
        raise BackupError(f"cannot checkpoint the current database {path}: {exc}") from exc
    finally:
        conn.close()
    wal = path.with_name(path.name + "-wal")
    if busy or (wal.exists() and wal.stat().st_size > 0):
        raise BackupError(f"{path} is in use by another process; stop 'kunci web' (and the daemon) and retry")


_RANK = {"active": 0, "suspended": 1, "revoked": 2}


def _reapply(session: Any, current: dict[str, tuple[str, bytes | None, set[int]]], sim_restored: bool,
             apply: bool) -> list[Reapplied]:
    """Compare the restored people with the current ones; re-apply what keeps people refused."""
    found: list[Reapplied] = []
    users = {u.code: u for u in session.scalars(select(User).order_by(User.code))}
    for code, user in users.items():
        if code not in current:
            continue
        status, digest, slots = current[code]
        if _RANK.get(status, 2) > _RANK.get(user.status, 0):
            found.append(Reapplied(code, status, user.status, status))
            if apply:
                user.status = status
        if user.pin is not None and user.pin.digest != digest:
            found.append(Reapplied(code, "pin_reset", "pin", "new pin" if digest else "no pin"))
            if apply:
                taken = digest is not None and session.scalar(
                    select(PinCredential.id).where(PinCredential.digest == digest, PinCredential.user_id != user.id)
                )
                if digest is None or taken:
                    session.delete(user.pin)  # fail closed: the person gets a new PIN
                    user.pin = None
                else:
                    user.pin.digest = digest
        if not sim_restored:  # a real sensor keeps today's templates: old slot mappings may point at others
            for finger in list(user.fingers):
                if finger.slot not in slots:
                    found.append(Reapplied(code, "finger_removed", f"slot {finger.slot}", "not enrolled"))
                    if apply:
                        session.delete(finger)
        session.flush()
    if apply:
        for item in found:
            audit.record(session, "admin.restore_reapplied", user=item.code, actor=_ACTOR,
                         detail={"what": item.what, "backup": item.backup_value, "now": item.now_value})
    return found


def _count_people_and_events(path: Path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return sum(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("users", "events"))
    except sqlite3.Error:
        return 0
    finally:
        conn.close()


@contextmanager
def _sealer(datadir: DataDir) -> Iterator[audit.SealerLock]:
    lock = audit.SealerLock(datadir)
    if not lock.try_acquire():
        raise BackupError("the daemon is running (sealer lock held); stop it before restoring - the door stays as it is")
    try:
        yield lock
    finally:
        lock.release()


def _replace_file(path: Path, data: bytes, stamp: str, mode: int) -> None:
    if path.exists():
        if path.read_bytes() == data:
            return
        os.link(path, path.with_name(f"{path.name}.before-restore-{stamp}"))
    tmp = path.with_name(f".{path.name}.restore-{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _restore_sim(datadir: DataDir, files: dict[str, bytes], stamp: str) -> None:
    staging = datadir.root / f".sim.restore-{os.getpid()}"
    for rel, data in files.items():
        target = staging / rel
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
        target.write_bytes(data)
    if datadir.sim_dir.exists():
        datadir.sim_dir.rename(datadir.root / f"sim.before-restore-{stamp}")
    staging.rename(datadir.sim_dir)


def restore_backup(
    datadir: DataDir,
    src: Path,
    passphrase: str,
    *,
    force: bool = False,
    reapply: bool = True,
    now: datetime | None = None,
) -> RestoreReport:
    """Restore the backup ``src`` into ``datadir`` (see the module docstring for the steps).

    Refused with :class:`BackupError`, leaving DATA unchanged: wrong passphrase,
    altered/truncated/foreign file, daemon running, database in use, a backup from
    a newer Kunci, a database already holding people or events without ``force``,
    and a restored chain that does not verify with the audit key in DATA without
    ``force``. ``reapply=False`` only lists the changes made after the backup.
    """
    name = str(src)
    if datadir.root.exists() and daemon_running(datadir):
        raise BackupError("the daemon is running (sealer lock held); stop it before restoring - the door stays as it is")
    blob = _read_file(src)
    plaintext = open_sealed(blob, passphrase, CONTENT_DATA, name=name)
    del blob
    now = now or utcnow()
    stamp = _timestamp(now)
    if not datadir.root.exists():
        datadir.root.mkdir(mode=_DATA_DIR_MODE, parents=True)
        os.chmod(datadir.root, _DATA_DIR_MODE)
    if not datadir.run_dir.exists():
        datadir.run_dir.mkdir(mode=_DATA_DIR_MODE)
        os.chmod(datadir.run_dir, _DATA_DIR_MODE)
    with _sealer(datadir):
        return _restore_locked(datadir, plaintext, name, force=force, reapply=reapply, stamp=stamp)


def _restore_locked(datadir: DataDir, plaintext: bytes, name: str, *, force: bool, reapply: bool,
                    stamp: str) -> RestoreReport:
    notes: list[str] = []
    tmp_db = datadir.root / f".kunci.db.restore-{os.getpid()}.tmp"
    staging = datadir.root / f".archive.restore-{os.getpid()}"
    try:
        payload = _unpack(plaintext, tmp_db, name)
        del plaintext
        manifest = payload.manifest
        try:
            config = parse_config(_toml(payload.config)) if payload.config is not None else load_config(
                datadir.config_file)
        except KunciError as exc:
            raise BackupError(f"the configuration in {name} is not valid: {exc}") from exc
        target = sqlite_path(datadir, config.store.url)
        tmp_db_final = target.with_name(f".{target.name}.restore-{os.getpid()}.tmp")
        if tmp_db_final != tmp_db:
            if not target.parent.is_dir():
                raise BackupError(f"database directory {target.parent} does not exist")
            os.replace(tmp_db, tmp_db_final)
            tmp_db = tmp_db_final
        current: dict[str, tuple[str, bytes | None, set[int]]] = {}
        if target.exists():
            try:
                refuse_non_database(target)  # through SQLite: never a plain open() of a database file
            except StoreError as exc:
                raise BackupError(f"{target} is not a SQLite database; move it aside first") from exc
            if target.stat().st_size and _count_people_and_events(target) and not force:
                raise BackupError(f"{target} already holds people or events; repeat with --force to replace it "
                                  "(it is kept as a .before-restore copy)")
            if target.stat().st_size:
                current = _read_people(target)

        pepper_id = _key_ids(datadir)
        wanted = manifest.get("key_ids", {})
        audit_key: bytes | None = None
        if pepper_id["pepper"] is None:
            notes.append("no pepper in DATA/secrets: every PIN is refused (fail closed) until "
                         "'kunci backup import-keys' installs it, or PINs are reissued")
        elif wanted.get("pepper") and wanted["pepper"] != pepper_id["pepper"]:
            notes.append("the pepper in DATA/secrets is not the one of this backup: every PIN is refused "
                         "(fail closed) until 'kunci backup import-keys' installs the right one, or PINs are reissued")
        if pepper_id["audit_key"] is None:
            notes.append("no audit key in DATA/secrets: the chain cannot be verified or sealed until "
                         "'kunci backup import-keys'")
        elif wanted.get("audit_key") and wanted["audit_key"] != pepper_id["audit_key"]:
            notes.append("the audit key in DATA/secrets is not the one of this backup: the chain cannot be verified "
                         "until 'kunci backup import-keys' installs the right one")
        else:
            audit_key = keys.load_audit_key(datadir)

        engine = make_engine(f"sqlite:///{tmp_db}")
        found: list[Reapplied] = []
        chain: audit.VerifyResult | None = None
        try:
            integrity = check_integrity(engine)
            if integrity != "ok":
                raise BackupError(f"the database in {name} fails its integrity check")
            revision = manifest.get("db_revision")
            shipped = head_revision()
            if revision is not None and shipped is not None and revision != shipped and not _known_revision(revision):
                raise BackupError(f"{name} was made by a newer Kunci (database revision {revision}); upgrade first")
            upgrade_database(engine)
            with session_factory(engine)() as session, session.begin():
                if audit_key is not None:
                    audit.seal_as_written(session, audit_key)
                found = _reapply(session, current, bool(payload.sim), reapply)
                audit.record(session, "admin.backup_restored", actor=_ACTOR, detail={
                    "backup_created_at": manifest.get("created_at"),
                    "backup_head_seq": manifest.get("chain_head", {}).get("seq"),
                    "reapplied": len(found) if reapply else 0,
                })
            _stage_archives(datadir, staging, payload.archives)
            if audit_key is not None:
                with session_factory(engine, readonly=True)() as session, session.begin():
                    full = verify_all(session, audit_key, staging)
                chain = full.live
                if not full.ok:
                    where = f"archive {full.archive}, " if full.archive else ""
                    problem = f"{where}seq {full.first_bad_seq}: {full.problem}"
                    if not force:
                        raise BackupError(f"the restored audit chain does not verify ({problem}); "
                                          "nothing was changed (use --force to restore anyway)")
                    notes.append(f"the restored audit chain does NOT verify ({problem})")
        except SQLAlchemyError as exc:
            raise BackupError(f"the database in {name} cannot be used: {str(exc).splitlines()[0]}") from exc
        finally:
            engine.dispose()
        for suffix in ("-wal", "-shm"):
            Path(f"{tmp_db}{suffix}").unlink(missing_ok=True)
        fd = os.open(tmp_db, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

        # Everything is checked: now change DATA (sim, config, then the database by rename).
        before: Path | None = None
        if target.exists():
            _current_in_use(target)
        if payload.config is not None:
            _replace_file(datadir.config_file, payload.config, stamp, 0o640)
        if payload.sim:
            _restore_sim(datadir, payload.sim, stamp)
        if payload.archives:
            adir = archive_dir(datadir.root)
            adir.mkdir(mode=0o750, exist_ok=True)
            for archive_name in payload.archives:
                if not (adir / archive_name).exists():
                    os.link(staging / archive_name, adir / archive_name)
            _fsync_dir(adir)
        if target.exists():
            before = target.with_name(f"{target.name}.before-restore-{stamp}")
            os.link(target, before)
            for suffix in ("-wal", "-shm"):
                Path(f"{target}{suffix}").unlink(missing_ok=True)
        os.replace(tmp_db, target)
        _fsync_dir(target.parent)
        restored_head = (chain.head_seq, chain.head_mac_hex) if chain is not None and chain.head_seq else None
        _restore_anchor(datadir, payload.anchor, restored_head, stamp)
        logger.info("backup restored into %s", target)
        return RestoreReport(manifest=manifest, database=target, before_restore=before,
                             config_restored=payload.config is not None, sim_restored=bool(payload.sim),
                             after_backup=found, reapplied=reapply, chain=chain, notes=notes)
    except OSError as exc:
        raise BackupError(f"restore failed, DATA left as it was: {exc.strerror or exc}") from exc
    finally:
        for path in (tmp_db, Path(f"{tmp_db}-wal"), Path(f"{tmp_db}-shm")):
            path.unlink(missing_ok=True)
        for leftover in (datadir.root / f".sim.restore-{os.getpid()}", staging):
            if leftover.exists():
                shutil.rmtree(leftover, ignore_errors=True)


def _stage_archives(datadir: DataDir, staging: Path, archives: dict[str, bytes]) -> None:
    """A private directory with the archives DATA already has (hard links) plus the backup's ones."""
    staging.mkdir(mode=0o700)
    for _first, _last, path in list_archives(archive_dir(datadir.root)):
        os.link(path, staging / path.name)
    for name, data in archives.items():
        if not (staging / name).exists():
            (staging / name).write_bytes(data)
            os.chmod(staging / name, 0o640)


def _toml(data: bytes) -> dict[str, Any]:
    import tomllib

    try:
        return tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BackupError(f"the configuration in the backup is not valid TOML: {exc}") from None


def _known_revision(revision: str) -> bool:
    """True if ``revision`` is one of the migrations shipped with this version."""
    from alembic.script import ScriptDirectory

    from controller.store.db import _alembic_config

    script = ScriptDirectory.from_config(_alembic_config("sqlite://"))
    try:
        return script.get_revision(revision) is not None
    except Exception:  # alembic raises several types for unknown revisions
        return False


def read_manifest(src: Path, passphrase: str) -> dict[str, Any]:
    """Decrypt ``src`` and return its manifest only (nothing is written)."""
    plaintext = open_sealed(_read_file(src), passphrase, CONTENT_DATA, name=str(src))
    try:
        with tarfile.open(fileobj=io.BytesIO(plaintext), mode="r:gz") as tar:
            member = tar.getmember(_MANIFEST_MEMBER)
            handle = tar.extractfile(member)
            assert handle is not None
            return dict(json.loads(handle.read()))
    except (tarfile.TarError, KeyError, ValueError, OSError):
        raise BackupError(f"{src} decrypts but has no readable manifest") from None


__all__ = [
    "BackupError", "BackupInfo", "RestoreReport", "Reapplied", "MAGIC", "FORMAT_VERSION", "MIN_PASSPHRASE",
    "check_passphrase", "check_new_passphrase", "create_backup", "restore_backup", "export_keys", "import_keys",
    "read_manifest",
    "daemon_running", "parse_header", "seal", "open_sealed", "derive_key", "key_id", "snapshot_database",
]
