"""The admin web page's TLS certificate: create a self-signed one, read its fingerprint and expiry.

``kunci init`` (and ``kunci web`` when no certificate exists yet) calls
:func:`ensure_self_signed_cert` to create ``DATA/tls/cert.pem`` and ``DATA/tls/key.pem``.
The key is an EC P-256 private key written with mode 0600; the certificate is valid
for 825 days (the longest lifetime browsers accept) and names ``localhost``,
``127.0.0.1`` and the given host names. An existing certificate or key is never
overwritten. Staff compare the SHA-256 fingerprint printed by :func:`cert_fingerprint_sha256`
with the one their browser shows the first time they connect.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from controller.errors import DataDirError
from controller.fileio import atomic_write
from controller.i18n import T

logger = logging.getLogger(__name__)

#: Validity of a generated certificate, in days (CA/Browser Forum maximum for TLS server certificates).
CERT_VALIDITY_DAYS = 825


def _san_entries(hostnames: Iterable[str]) -> list[x509.GeneralName]:
    """Subject alternative names: localhost, 127.0.0.1 and each host name (IP literals as IP entries)."""
    names: list[x509.GeneralName] = []
    seen: set[str] = set()
    for raw in ["localhost", "127.0.0.1", *hostnames]:
        host = (raw or "").strip()
        if not host or host.lower() in seen:
            continue
        seen.add(host.lower())
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def ensure_self_signed_cert(
    cert_path: str | os.PathLike[str], key_path: str | os.PathLike[str], hostnames: Iterable[str] = ()
) -> bool:
    """Create a self-signed certificate and key unless both already exist.

    :param cert_path: where the PEM certificate goes (e.g. ``DATA/tls/cert.pem``); mode 0644.
    :param key_path: where the PEM private key goes (e.g. ``DATA/tls/key.pem``); mode 0600.
    :param hostnames: extra host names or IP addresses for the subject alternative names;
        ``localhost`` and ``127.0.0.1`` are always included. The first one becomes the common name.
    :returns: ``True`` if a new pair was written, ``False`` if both files were already there.
    :raises DataDirError: if exactly one of the two files exists (never overwritten), or on a write error.
    """
    cert_file, key_file = Path(cert_path), Path(key_path)
    if cert_file.exists() and key_file.exists():
        return False
    if cert_file.exists() or key_file.exists():
        present = cert_file if cert_file.exists() else key_file
        raise DataDirError(
            T("{present} exists but its pair does not; remove it or restore the missing file (not overwritten)",
              present=present)
        )
    hosts = [h for h in hostnames if h and h.strip()]
    common_name = hosts[0].strip() if hosts else "localhost"
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Kunci door controller"),
        ]
    )
    now = datetime.now(timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=CERT_VALIDITY_DAYS))
        .add_extension(x509.SubjectAlternativeName(_san_entries(hosts)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    try:
        key_file.parent.mkdir(parents=True, exist_ok=True)
        cert_file.parent.mkdir(parents=True, exist_ok=True)
        # Each file is complete or absent (never replaced): a crash cannot leave half a key behind.
        atomic_write(key_file, key_pem, mode=0o600, replace=False)
        atomic_write(cert_file, cert.public_bytes(serialization.Encoding.PEM), mode=0o644, replace=False)
    except OSError as exc:
        raise DataDirError(T("cannot write the TLS certificate: {error}", error=exc)) from exc
    logger.info("created self-signed TLS certificate %s", cert_file)
    return True


def _load(cert_path: str | os.PathLike[str]) -> x509.Certificate:
    """Read a PEM certificate, wrapping file and format errors in :class:`DataDirError`."""
    try:
        return x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    except (OSError, ValueError) as exc:
        raise DataDirError(T("cannot read the TLS certificate {path}: {error}", path=cert_path, error=exc)) from exc


def cert_fingerprint_sha256(cert_path: str | os.PathLike[str]) -> str:
    """The certificate's SHA-256 fingerprint as upper-case hex pairs, ``AA:BB:...`` (as browsers show it)."""
    digest = _load(cert_path).fingerprint(hashes.SHA256())
    return ":".join(f"{b:02X}" for b in digest)


def cert_expiry(cert_path: str | os.PathLike[str]) -> datetime:
    """The moment the certificate stops being valid (``notAfter``), as an aware UTC ``datetime``."""
    return _load(cert_path).not_valid_after_utc
