"""Read what ``kunci doctor`` needs from a PEM certificate without importing ``cryptography``.

The validity window (``notBefore``/``notAfter``) and the SHA-256 fingerprint are all the doctor's TLS check
uses; importing ``cryptography.x509`` for them cost about 55 ms of the doctor's 300 ms budget
(docs/performance.md, W10). The certificate is the DER structure of RFC 5280 section 4.1:
``Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber, signature,
issuer, validity SEQUENCE { notBefore, notAfter }, ... }, ... }``; the times are UTCTime (``YYMMDDHHMMSSZ``,
years 1950-2049) or GeneralizedTime (``YYYYMMDDHHMMSSZ``). Anything else is a :class:`ValueError`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----\s*(.+?)\s*-----END CERTIFICATE-----", re.DOTALL)
_SEQUENCE, _VERSION, _UTC_TIME, _GENERALIZED_TIME = 0x30, 0xA0, 0x17, 0x18


@dataclass(frozen=True)
class CertFacts:
    not_before: datetime
    not_after: datetime
    sha256: str  # "AA:BB:..." as browsers show it


def _element(der: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the DER element at ``pos``."""
    if pos + 2 > len(der):
        raise ValueError("truncated DER")
    tag, length, pos = der[pos], der[pos + 1], pos + 2
    if length & 0x80:
        count = length & 0x7F
        if not 0 < count <= 4 or pos + count > len(der):
            raise ValueError("bad DER length")
        length, pos = int.from_bytes(der[pos:pos + count], "big"), pos + count
    if pos + length > len(der):
        raise ValueError("truncated DER")
    return tag, pos, pos + length


def _time(tag: int, text: bytes) -> datetime:
    value = text.decode("ascii")
    if tag == _UTC_TIME and len(value) == 13 and value.endswith("Z"):
        year = int(value[:2])
        value = ("19" if year >= 50 else "20") + value
    elif not (tag == _GENERALIZED_TIME and len(value) == 15 and value.endswith("Z")):
        raise ValueError(f"unsupported certificate time {value!r}")
    return datetime.strptime(value, "%Y%m%d%H%M%SZ").replace(tzinfo=UTC)


def validity(der: bytes) -> tuple[datetime, datetime]:
    """``(notBefore, notAfter)`` of a DER certificate, aware UTC datetimes."""
    tag, pos, _end = _element(der, 0)
    if tag != _SEQUENCE:
        raise ValueError("not a certificate")
    tag, pos, tbs_end = _element(der, pos)
    if tag != _SEQUENCE:
        raise ValueError("not a certificate")
    tag, start, end = _element(der, pos)
    if tag == _VERSION:
        tag, start, end = _element(der, end)
    for _field in ("signature", "issuer", "validity"):  # serialNumber is the current element
        tag, start, end = _element(der, end)
    if tag != _SEQUENCE or end > tbs_end:
        raise ValueError("no validity in the certificate")
    before_tag, before_start, before_end = _element(der, start)
    after_tag, after_start, after_end = _element(der, before_end)
    return (_time(before_tag, der[before_start:before_end]), _time(after_tag, der[after_start:after_end]))


def read_certificate(path: Path) -> CertFacts:
    """The facts of the first certificate in a PEM file. Raises OSError (unreadable) or ValueError (not one)."""
    found = _PEM.search(path.read_bytes())
    if found is None:
        raise ValueError("no PEM certificate in the file")
    try:
        der = base64.b64decode(b"".join(found.group(1).split()), validate=True)
    except binascii.Error as exc:
        raise ValueError(f"bad base64 in the certificate: {exc}") from exc
    not_before, not_after = validity(der)
    digest = hashlib.sha256(der).digest()
    return CertFacts(not_before, not_after, ":".join(f"{b:02X}" for b in digest))
