"""controller.ops.tls: self-signed certificate creation, fingerprint and expiry."""

from __future__ import annotations

import ipaddress
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from controller.errors import DataDirError
from controller.ops.tls import cert_expiry, cert_fingerprint_sha256, ensure_self_signed_cert


def test_creates_pair_with_private_key_0600_and_sans(tmp_path: Path) -> None:
    cert, key = tmp_path / "tls" / "cert.pem", tmp_path / "tls" / "key.pem"
    assert ensure_self_signed_cert(cert, key, ["door.example", "10.0.0.7"]) is True
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    loaded = x509.load_pem_x509_certificate(cert.read_bytes())
    assert isinstance(loaded.public_key(), ec.EllipticCurvePublicKey)
    san = loaded.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {"localhost", "door.example"}
    assert set(san.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("10.0.0.7"),
    }
    lifetime = loaded.not_valid_after_utc - loaded.not_valid_before_utc
    assert timedelta(days=824) < lifetime <= timedelta(days=826)


def test_never_overwrites(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    ensure_self_signed_cert(cert, key, [])
    before = (cert.read_bytes(), key.read_bytes())
    assert ensure_self_signed_cert(cert, key, ["other"]) is False
    assert (cert.read_bytes(), key.read_bytes()) == before


def test_half_pair_refused_and_left_alone(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("site certificate")
    with pytest.raises(DataDirError):
        ensure_self_signed_cert(cert, key, [])
    assert cert.read_text() == "site certificate"
    assert not key.exists()


def test_fingerprint_matches_cryptography_and_format(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    ensure_self_signed_cert(cert, key, [])
    fp = cert_fingerprint_sha256(cert)
    expected = x509.load_pem_x509_certificate(cert.read_bytes()).fingerprint(hashes.SHA256())
    assert fp == ":".join(f"{b:02X}" for b in expected)
    assert len(fp.split(":")) == 32


def test_expiry_is_aware_and_in_825_days(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    ensure_self_signed_cert(cert, key, [])
    expiry = cert_expiry(cert)
    assert expiry.tzinfo is not None
    assert abs(expiry - (datetime.now(timezone.utc) + timedelta(days=825))) < timedelta(minutes=10)


def test_unreadable_certificate_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "cert.pem"
    bad.write_text("not a certificate")
    with pytest.raises(DataDirError):
        cert_fingerprint_sha256(bad)
