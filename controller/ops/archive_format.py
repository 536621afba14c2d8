"""The archive file format (docs/backup.md): names, the header and the MACs that make an archive verifiable.

An archive is ``DATA/archive/events-<firstseq>-<lastseq>.jsonl.gz`` (seqs zero-padded
to 10 digits so a directory listing is in chain order): gzip'd JSON lines. Line 1 is
the header::

    {"kunci_archive": 1, "first_seq": F, "last_seq": L, "count": L-F+1,
     "start": {"seq": F-1, "mac": HEX}, "end": {"seq": L, "mac": HEX},
     "created_at": ISO, "cutoff": ISO, "hmac": HEX}

``start`` is the MAC of the event before the first archived one (genesis = 32
zero bytes at seq 0); ``end`` is the last archived event's MAC, which the next
archive's ``start`` - or the live log's first event - chains from. ``hmac`` is
``HMAC(audit_key, "kunci-archive-header-v1\\0" || canonical header without hmac)``.
Then one line per event: ``seq, time, type, reason, method, user, door, actor,
score, detail`` (``detail`` as the stored JSON text) and ``mac`` (hex).

Verifiability: masking (:mod:`controller.ops.archive_mask`) changes the bytes the chain MAC covers, so a
masked event cannot be re-MACed. Such a line carries ``"masked": [fields]`` and
``"amac": HMAC(audit_key, "kunci-archive-masked-v1\\0" || prev_mac || mac ||
canonical(masked event))``, written by the archiver after it re-verified the
original event. The verifier (:mod:`controller.ops.archive_verify`) re-MACs every unmasked event, checks the
``amac`` of every masked one, and keeps the chain going with the stored ``mac`` - whose
authenticity the next event's MAC (or the next archive / the live log) confirms.
The honest limit: for a masked event the tie between the masked text and the
original is the archiver's attestation under the audit key, not a recomputation.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from controller.canonical import canonical_bytes
from controller.store import audit

ARCHIVE_VERSION = 1
ARCHIVE_DIR_MODE = 0o750
ARCHIVE_FILE_MODE = 0o640
FILE_PATTERN = re.compile(r"^events-(\d+)-(\d+)\.jsonl\.gz$")
PUBLIC_FIELDS = ("seq", "time", "type", "reason", "method", "user", "door", "actor", "score", "detail")
_MASKED_LABEL = b"kunci-archive-masked-v1\x00"
_HEADER_LABEL = b"kunci-archive-header-v1\x00"


def archive_dir(root: Path) -> Path:
    """``DATA/archive``."""
    return root / "archive"


def archive_name(first: int, last: int) -> str:
    """``events-<first>-<last>.jsonl.gz`` with 10-digit seqs."""
    return f"events-{first:010d}-{last:010d}.jsonl.gz"


def list_archives(directory: Path) -> list[tuple[int, int, Path]]:
    """``(first_seq, last_seq, path)`` of every archive file in ``directory``, in seq order."""
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        m = FILE_PATTERN.match(path.name)
        if m and path.is_file():
            found.append((int(m.group(1)), int(m.group(2)), path))
    return sorted(found)


def header_hmac(key: bytes, header: dict[str, Any]) -> str:
    """The ``hmac`` of an archive header (every field but ``hmac``)."""
    body = {k: v for k, v in header.items() if k != "hmac"}
    return hmac.new(key, _HEADER_LABEL + canonical_bytes(body), hashlib.sha256).hexdigest()


def masked_mac(key: bytes, prev: bytes, mac: bytes, event: dict[str, Any]) -> bytes:
    """The archiver's attestation for a masked event (see the module docstring)."""
    return hmac.new(key, _MASKED_LABEL + prev + mac + audit.canonical(event), hashlib.sha256).digest()


class ArchiveBroken(Exception):
    """An archive that does not verify: ``problem`` (one line) at ``seq`` (None when the file itself is bad)."""

    def __init__(self, seq: int | None, problem: str) -> None:
        super().__init__(problem)
        self.seq = seq
        self.problem = problem


def read_archive(path: Path) -> Iterator[dict[str, Any]]:
    """Yield the header, then each event line, of the archive ``path`` (raises ``ArchiveBroken`` on damage)."""
    try:
        with gzip.open(path, "rt", encoding="ascii") as fh:
            for number, line in enumerate(fh, start=1):
                try:
                    obj = json.loads(line)
                except ValueError:
                    raise ArchiveBroken(None, f"line {number} is not valid JSON") from None
                if not isinstance(obj, dict):
                    raise ArchiveBroken(None, f"line {number} is not a JSON object")
                yield obj
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise ArchiveBroken(None, f"the file is damaged ({exc.__class__.__name__})") from None
