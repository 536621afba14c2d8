"""What a data backup holds inside its encryption (docs/backup.md): the tar members, the manifest, and the
checked unpacking of a decrypted payload.

``content = "data"``: the payload is a gzip'd tar of ``manifest.json``
(created_at, Kunci version, database revision, chain head, counts, key ids),
``kunci.db`` (a consistent snapshot), ``kunci.toml``, ``sim/...`` (the simulated sensor
flash) when present, ``archive/...`` (the retention archives) and ``anchor/heads`` (+ ``anchor/heads.1``),
the chain heads the daemon keeps outside the database. Every member's SHA-256 is in the manifest; an
unpacked payload must match it exactly.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from controller.i18n import T
from controller.ops.archive_format import FILE_PATTERN
from controller.ops.backup_format import DB_FILE_MODE, BackupError
from controller.paths import DataDir

DB_MEMBER = "kunci.db"
CONFIG_MEMBER = "kunci.toml"
MANIFEST_MEMBER = "manifest.json"
SIM_PREFIX = "sim/"
ARCHIVE_PREFIX = "archive/"
ANCHOR_PREFIX = "anchor/"
#: Anchor files a backup carries (``DATA/anchor/<name>``), oldest first.
ANCHOR_FILES = ("heads.1", "heads")


def add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))


@dataclass
class Payload:
    manifest: dict[str, Any]
    config: bytes | None
    sim: dict[str, bytes]
    archives: dict[str, bytes]
    anchor: dict[str, bytes] = field(default_factory=dict)


def read_anchor_files(datadir: DataDir) -> dict[str, bytes]:
    """``{name: bytes}`` of the anchor files present (not the database: plain reads are fine)."""
    found: dict[str, bytes] = {}
    for name in ANCHOR_FILES:
        try:
            found[name] = (datadir.anchor_dir / name).read_bytes()
        except FileNotFoundError:
            continue
    return found


def _safe_sim_name(name: str) -> str | None:
    rel = PurePosixPath(name[len(SIM_PREFIX) :])
    if not rel.parts or rel.is_absolute() or any(part in ("", ".", "..") for part in rel.parts):
        return None
    return rel.as_posix()


def unpack(plaintext: bytes, db_tmp: Path, name: str) -> Payload:
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
                    raise BackupError(T("{name} contains an unexpected entry", name=name))
                handle = tar.extractfile(member)
                assert handle is not None
                if member.name == DB_MEMBER:
                    digest = hashlib.sha256()
                    fd = os.open(db_tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, DB_FILE_MODE)
                    with os.fdopen(fd, "wb") as out:
                        os.fchmod(out.fileno(), DB_FILE_MODE)
                        while chunk := handle.read(1 << 20):
                            digest.update(chunk)
                            out.write(chunk)
                        out.flush()
                        os.fsync(out.fileno())
                    digests[DB_MEMBER] = digest.hexdigest()
                    seen_db = True
                    continue
                data = handle.read()
                if member.name == MANIFEST_MEMBER:
                    manifest = json.loads(data)
                    continue
                if member.name == CONFIG_MEMBER:
                    config = data
                elif member.name.startswith(SIM_PREFIX) and (rel := _safe_sim_name(member.name)):
                    sim[rel] = data
                elif member.name.startswith(ARCHIVE_PREFIX) and FILE_PATTERN.match(
                        member.name[len(ARCHIVE_PREFIX):]):
                    archives[member.name[len(ARCHIVE_PREFIX):]] = data
                elif member.name.startswith(ANCHOR_PREFIX) and member.name[len(ANCHOR_PREFIX):] in ANCHOR_FILES:
                    anchor_files[member.name[len(ANCHOR_PREFIX):]] = data
                else:
                    raise BackupError(T("{name} contains an unexpected entry", name=name))
                digests[member.name] = hashlib.sha256(data).hexdigest()
    except (tarfile.TarError, OSError, EOFError, ValueError, gzip.BadGzipFile) as exc:
        if isinstance(exc, BackupError):
            raise
        raise BackupError(T("{name} decrypts but its content is damaged", name=name)) from None
    if manifest is None or not seen_db or manifest.get("files") != digests:
        raise BackupError(T("{name} decrypts but its content does not match its manifest", name=name))
    return Payload(manifest=manifest, config=config, sim=sim, archives=archives, anchor=anchor_files)


