"""controller.fileio: a file written atomically is complete or absent, and the old one survives a failure."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from controller import fileio


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_a_new_file_has_the_content_and_the_mode(tmp_path: Path) -> None:
    target = tmp_path / "web.port"
    fileio.atomic_write(target, "8443\n", mode=0o640)
    assert target.read_text() == "8443\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert _leftovers(tmp_path) == []


def test_replacing_swaps_the_whole_content(tmp_path: Path) -> None:
    target = tmp_path / "kunci.toml"
    target.write_bytes(b"old content that is longer than the new one\n")
    fileio.atomic_write(target, b"new\n")
    assert target.read_bytes() == b"new\n"
    assert _leftovers(tmp_path) == []


def test_the_old_content_survives_an_error_mid_write(tmp_path: Path) -> None:
    target = tmp_path / "backup.kbk"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="disk pulled"), fileio.atomic_writer(target) as fh:
        fh.write(b"half of the new")
        raise RuntimeError("disk pulled")
    assert target.read_bytes() == b"old"
    assert _leftovers(tmp_path) == []


def test_a_failed_fsync_leaves_the_old_file_and_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "key.pem"
    target.write_bytes(b"old")

    def no_space(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fileio.os, "fsync", no_space)
    with pytest.raises(OSError, match="No space"):
        fileio.atomic_write(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert _leftovers(tmp_path) == []


def test_a_failed_new_file_is_absent(tmp_path: Path) -> None:
    target = tmp_path / "heads"
    with pytest.raises(ValueError, match="stop"), fileio.atomic_writer(target) as fh:
        fh.write(b"seq=1")
        raise ValueError("stop")
    assert not target.exists()
    assert _leftovers(tmp_path) == []


def test_no_replace_refuses_an_existing_file_and_keeps_it(tmp_path: Path) -> None:
    target = tmp_path / "site.kbk"
    target.write_bytes(b"someone else's backup")
    with pytest.raises(FileExistsError):
        fileio.atomic_write(target, b"mine", replace=False)
    assert target.read_bytes() == b"someone else's backup"
    assert _leftovers(tmp_path) == []


def test_no_replace_refuses_a_file_created_while_writing(tmp_path: Path) -> None:
    target = tmp_path / "site.kbk"
    with pytest.raises(FileExistsError), fileio.atomic_writer(target, replace=False) as fh:
        fh.write(b"mine")
        target.write_bytes(b"theirs")  # appears between the check and the link
    assert target.read_bytes() == b"theirs"
    assert _leftovers(tmp_path) == []


def test_no_replace_writes_a_new_file(tmp_path: Path) -> None:
    target = tmp_path / "keys.kbk"
    fileio.atomic_write(target, b"sealed", mode=0o600, replace=False)
    assert target.read_bytes() == b"sealed"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.stat().st_nlink == 1  # the temporary name is gone
    assert _leftovers(tmp_path) == []


def test_the_directory_is_fsynced_after_the_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[str] = []
    real_fsync_dir = fileio.fsync_dir

    def spy(path: os.PathLike[str]) -> None:
        synced.append(str(path))
        real_fsync_dir(path)

    monkeypatch.setattr(fileio, "fsync_dir", spy)
    fileio.atomic_write(tmp_path / "web.port", "1\n")
    assert synced == [str(tmp_path)]
