"""The doctor's certificate reader (no cryptography import) agrees with cryptography, and refuses garbage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from controller.ops.cert_read import read_certificate
from controller.ops.tls import cert_fingerprint_sha256, ensure_self_signed_cert


def _cert(path: Path, not_before: datetime, not_after: datetime) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kunci.test")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after)
            .sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def test_the_kunci_certificate_reads_as_cryptography_reads_it(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    ensure_self_signed_cert(cert, key, ["kunci.local"])
    facts = read_certificate(cert)
    real = x509.load_pem_x509_certificate(cert.read_bytes())
    assert (facts.not_before, facts.not_after) == (real.not_valid_before_utc, real.not_valid_after_utc)
    assert facts.sha256 == cert_fingerprint_sha256(cert)


@pytest.mark.parametrize(("before", "after"), [
    (datetime(1999, 12, 31, 23, 59, 58, tzinfo=UTC), datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC)),  # UTCTime
    (datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), datetime(2061, 6, 7, 8, 9, 10, tzinfo=UTC)),  # GeneralizedTime
])
def test_both_time_encodings(tmp_path: Path, before: datetime, after: datetime) -> None:
    facts = read_certificate(_cert(tmp_path / "c.pem", before, after))
    assert (facts.not_before, facts.not_after) == (before, after)


@pytest.mark.parametrize("content", [
    b"", b"hello", b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
    b"-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n",
    b"-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----\n",
])
def test_garbage_is_a_value_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.pem"
    path.write_bytes(content)
    with pytest.raises(ValueError):
        read_certificate(path)


def test_a_truncated_certificate_is_a_value_error(tmp_path: Path) -> None:
    good = _cert(tmp_path / "c.pem", datetime.now(UTC), datetime.now(UTC) + timedelta(days=1)).read_bytes()
    lines = good.splitlines()
    (tmp_path / "cut.pem").write_bytes(b"\n".join(lines[:2] + lines[-1:]))
    with pytest.raises(ValueError):
        read_certificate(tmp_path / "cut.pem")
