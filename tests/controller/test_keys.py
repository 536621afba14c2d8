"""Pepper and audit key: created once with safe permissions, refused when unsafe."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from controller.errors import SecretsError
from controller.store.keys import SECRET_LENGTH, create_secrets, load_audit_key, load_pepper
from controller.paths import DataDir


@pytest.fixture
def dd(data_dir: Path) -> DataDir:
    return DataDir(data_dir)


def test_create_secrets_makes_private_random_files(dd: DataDir) -> None:
    created = create_secrets(dd)
    assert created == [dd.secrets_dir, dd.pepper_file, dd.audit_key_file]
    assert dd.secrets_dir.stat().st_mode & 0o777 == 0o700
    for path in (dd.pepper_file, dd.audit_key_file):
        assert path.stat().st_mode & 0o777 == 0o600
    pepper, key = load_pepper(dd), load_audit_key(dd)
    assert len(pepper) == len(key) == SECRET_LENGTH
    assert pepper != key


def test_create_secrets_never_overwrites(dd: DataDir) -> None:
    create_secrets(dd)
    before = (dd.pepper_file.read_bytes(), dd.audit_key_file.read_bytes())
    assert create_secrets(dd) == []
    assert (dd.pepper_file.read_bytes(), dd.audit_key_file.read_bytes()) == before


def test_create_secrets_fills_in_only_the_missing_file(dd: DataDir) -> None:
    create_secrets(dd)
    pepper = dd.pepper_file.read_bytes()
    dd.audit_key_file.unlink()
    assert create_secrets(dd) == [dd.audit_key_file]
    assert dd.pepper_file.read_bytes() == pepper


def test_create_secrets_ignores_a_permissive_umask(dd: DataDir) -> None:
    old = os.umask(0)
    try:
        create_secrets(dd)
    finally:
        os.umask(old)
    assert dd.secrets_dir.stat().st_mode & 0o777 == 0o700
    assert dd.pepper_file.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o666, 0o700])
@pytest.mark.parametrize("loader", [load_pepper, load_audit_key])
def test_load_refuses_a_readable_file_and_says_how_to_fix(dd: DataDir, mode: int, loader) -> None:
    create_secrets(dd)
    path = dd.pepper_file if loader is load_pepper else dd.audit_key_file
    os.chmod(path, mode)
    with pytest.raises(SecretsError) as info:
        loader(dd)
    assert str(path) in str(info.value) and f"chmod 600 {path}" in str(info.value)


def test_load_accepts_read_only_0400(dd: DataDir) -> None:
    create_secrets(dd)
    os.chmod(dd.pepper_file, 0o400)
    assert len(load_pepper(dd)) == SECRET_LENGTH


@pytest.mark.parametrize("mode", [0o750, 0o705, 0o777])
def test_load_refuses_an_open_secrets_dir(dd: DataDir, mode: int) -> None:
    create_secrets(dd)
    os.chmod(dd.secrets_dir, mode)
    with pytest.raises(SecretsError, match=f"chmod 700 {dd.secrets_dir}"):
        load_pepper(dd)


@pytest.mark.parametrize("size", [0, 16, 31, 33, 64])
def test_load_refuses_wrong_length(dd: DataDir, size: int) -> None:
    create_secrets(dd)
    dd.audit_key_file.write_bytes(b"k" * size)
    with pytest.raises(SecretsError, match="wrong length") as info:
        load_audit_key(dd)
    assert "kkkk" not in str(info.value)


def test_load_missing_names_the_fix(dd: DataDir) -> None:
    with pytest.raises(SecretsError, match="kunci init"):
        load_pepper(dd)
    create_secrets(dd)
    dd.pepper_file.unlink()
    with pytest.raises(SecretsError, match=str(dd.pepper_file)):
        load_pepper(dd)


def test_secret_values_never_appear_in_errors(dd: DataDir) -> None:
    create_secrets(dd)
    secret = dd.pepper_file.read_bytes()
    os.chmod(dd.pepper_file, 0o644)
    with pytest.raises(SecretsError) as info:
        load_pepper(dd)
    assert secret.hex() not in str(info.value)
