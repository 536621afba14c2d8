"""The encrypted file format shared by data backups and key files (docs/backup.md): passphrase rules, key
derivation, the AES-256-GCM container, and the careful file writes and reads around it.

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
"""

from __future__ import annotations

import json
import secrets
import struct
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from controller.canonical import canonical_bytes
from controller.errors import KunciError
from controller.fileio import atomic_write
from controller.i18n import T

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
FILE_MODE = 0o600
DATA_DIR_MODE = 0o750
DB_FILE_MODE = 0o640
#: The actor of the events a restore records.
ACTOR = "cli"


class BackupError(KunciError, ValueError):
    """A backup or key file cannot be written, read, decrypted or restored (one line, no secrets)."""


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
        why = feedback.get("warning") or str(T("it is made of words, names, dates or patterns that are tried early"))
        advice = " ".join(feedback.get("suggestions") or []) or str(T("Add another word or two; uncommon words are "
                                                                      "better."))
        raise BackupError(T("the passphrase is too easy to guess: {why}. {advice}", why=why.rstrip("."), advice=advice))
    return secret


def check_passphrase(passphrase: str) -> bytes:
    """The passphrase as UTF-8 bytes; :class:`BackupError` if shorter than :data:`MIN_PASSPHRASE`."""
    if not isinstance(passphrase, str) or len(passphrase) < MIN_PASSPHRASE:
        raise BackupError(T("the passphrase must be at least {minimum} characters", minimum=MIN_PASSPHRASE))
    return passphrase.encode("utf-8")


def _new_kdf(name: str) -> dict[str, Any]:
    if name == "scrypt":
        params: dict[str, Any] = {"name": "scrypt", **SCRYPT_DEFAULT}
    elif name == "argon2id":
        params = {"name": "argon2id", **ARGON2_DEFAULT}
    else:
        raise BackupError(T("unknown key derivation {name} (use one of: {names})", name=repr(name),
                            names=", ".join(KDF_NAMES)))
    params["salt"] = secrets.token_bytes(_SALT_LEN).hex()
    return params


def _int_in(params: dict[str, Any], name: str, low: int, high: int) -> int:
    value = params.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise BackupError(T("unsupported key derivation parameter {name} in the file header", name=name))
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
        raise BackupError(T("the file header has an invalid salt")) from None
    if not 16 <= len(salt) <= 64:
        raise BackupError(T("the file header has an invalid salt"))
    name = kdf.get("name")
    if name == "scrypt":
        n = _int_in(kdf, "n", 2**14, 2**20)
        if n & (n - 1):
            raise BackupError(T("unsupported key derivation parameter n in the file header"))
        r = _int_in(kdf, "r", 8, 32)
        p = _int_in(kdf, "p", 1, 16)
        return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(secret)
    if name == "argon2id":
        from argon2.low_level import Type, hash_secret_raw

        t = _int_in(kdf, "t", 1, 20)
        m = _int_in(kdf, "m", 19 * 1024, 1024 * 1024)
        p = _int_in(kdf, "p", 1, 16)
        return hash_secret_raw(secret, salt, time_cost=t, memory_cost=m, parallelism=p, hash_len=32, type=Type.ID)
    raise BackupError(T("the file header names an unknown key derivation"))


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
    text = canonical_bytes(header)
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


def parse_header(blob: bytes, *, name: str | None = None) -> Header:
    """Parse and check the header of ``blob`` (magic, version, JSON, lengths); BackupError otherwise."""
    name = str(T("the file")) if name is None else name
    if len(blob) < len(MAGIC) + _PREFIX.size:
        if MAGIC.startswith(blob[: len(MAGIC)]) and blob:
            raise BackupError(T("{name} is truncated (shorter than its header)", name=name))
        raise BackupError(T("{name} is not a Kunci backup (no KUNCI-BACKUP header)", name=name))
    if blob[: len(MAGIC)] != MAGIC:
        raise BackupError(T("{name} is not a Kunci backup (no KUNCI-BACKUP header)", name=name))
    version, length = _PREFIX.unpack_from(blob, len(MAGIC))
    if version != FORMAT_VERSION:
        raise BackupError(T("{name} has format version {version}; this Kunci reads version {supported}",
                            name=name, version=version, supported=FORMAT_VERSION))
    start = len(MAGIC) + _PREFIX.size
    if length > _HEADER_MAX:
        raise BackupError(T("{name} has a damaged header", name=name))
    if len(blob) < start + length:
        raise BackupError(T("{name} is truncated (shorter than its header)", name=name))
    try:
        header = json.loads(blob[start : start + length].decode("ascii"))
        content = header["content"]
        kdf = header["kdf"]
        nonce = bytes.fromhex(header["nonce"])
        clen = header["length"]
        cipher = header["cipher"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise BackupError(T("{name} has a damaged header", name=name)) from None
    if (
        cipher != "AES-256-GCM"
        or content not in (CONTENT_DATA, CONTENT_KEYS)
        or not isinstance(kdf, dict)
        or len(nonce) != _NONCE_LEN
        or not isinstance(clen, int)
        or clen < _TAG_LEN
    ):
        raise BackupError(T("{name} has a damaged or unsupported header", name=name))
    actual = len(blob) - start - length
    if actual < clen:
        raise BackupError(T("{name} is truncated ({actual} of {clen} encrypted bytes present)",
                            name=name, actual=actual, clen=clen))
    if actual > clen:
        raise BackupError(T("{name} has {count} unexpected bytes after the encrypted data", name=name,
                            count=actual - clen))
    return Header(content=content, kdf=kdf, nonce=nonce, length=clen, aad=blob[: start + length])


def open_sealed(blob: bytes, passphrase: str, content: str, *, name: str | None = None) -> bytes:
    """Check the header and decrypt; :class:`BackupError` on any mismatch (nothing else happens)."""
    name = str(T("the file")) if name is None else name
    header = parse_header(blob, name=name)
    if header.content != content:
        if header.content == CONTENT_KEYS:
            raise BackupError(T("{name} is a key file; use 'kunci backup import-keys'", name=name))
        raise BackupError(T("{name} is a data backup, not a key file; use 'kunci backup restore'", name=name))
    key = derive_key(passphrase, header.kdf)
    try:
        return AESGCM(key).decrypt(header.nonce, memoryview(blob)[len(header.aad) :], header.aad)
    except InvalidTag:
        raise BackupError(
            T("cannot decrypt {name}: wrong passphrase, or the file was altered or damaged (authentication failed)",
              name=name)
        ) from None


def write_new_file(path: Path, data: bytes, mode: int = FILE_MODE) -> None:
    """Write ``data`` to a new file ``path`` atomically (:func:`controller.fileio.atomic_write`); never overwrite."""
    if path.exists():
        raise BackupError(T("{path} already exists; choose another file name", path=path))
    if not path.parent.is_dir():
        raise BackupError(T("directory {path} does not exist", path=path.parent))
    try:
        atomic_write(path, data, mode=mode, replace=False)  # fails if someone created path meanwhile
    except FileExistsError:
        raise BackupError(T("{path} already exists; choose another file name", path=path)) from None
    except OSError as exc:
        raise BackupError(T("cannot write {path}: {error}", path=path, error=exc.strerror)) from exc


def read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise BackupError(T("{path} does not exist", path=path)) from None
    except OSError as exc:
        raise BackupError(T("cannot read {path}: {error}", path=path, error=exc.strerror)) from exc


def file_stamp(now: datetime) -> str:
    """``now`` as the suffix of a kept-aside file (``...before-restore-20261201T230000Z``)."""
    return now.strftime("%Y%m%dT%H%M%SZ")

