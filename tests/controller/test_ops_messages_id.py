"""The configuration check, the ops refusals and the doctor's findings read in Bahasa Indonesia or in English.

Every line of a :class:`ConfigError` and every refusal of ``controller/ops`` is a :class:`~controller.i18n.Text`:
shown in the reader's language, with the config key names left as they are; English stays exactly as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.config import load_config, parse_config
from controller.errors import ConfigError, DataDirError
from controller.i18n import set_language
from controller.ops.backup_format import BackupError, write_new_file
from controller.ops.doctor_system import check_relay_pin
from controller.ops.initialise import initialise
from controller.paths import DataDir

TWO_PROBLEMS = {"door": {"unlock_seconds": 0.2}, "sensor": {"baud_rate": 50000}}


@pytest.fixture(autouse=True)
def _english_afterwards() -> Iterator[None]:
    yield
    set_language("en")


def _problems(data: dict) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    return caught.value


def test_a_config_with_two_problems_reads_in_indonesian() -> None:
    set_language("id")
    error = _problems(TWO_PROBLEMS)
    assert [str(line) for line in error.errors] == [
        "door.unlock_seconds: 0.2 di bawah batas minimum 1.0",
        "sensor.baud_rate: 50000 bukan kelipatan 9600 antara 9600 dan 115200",
    ]
    assert str(error) == "; ".join(str(line) for line in error.errors)
    assert error.english() == ("door.unlock_seconds: 0.2 is below the minimum 1.0; "
                               "sensor.baud_rate: 50000 is not a multiple of 9600 between 9600 and 115200")


def test_the_same_config_reads_in_exact_english() -> None:
    set_language("en")
    error = _problems(TWO_PROBLEMS)
    assert [str(line) for line in error.errors] == [
        "door.unlock_seconds: 0.2 is below the minimum 1.0",
        "sensor.baud_rate: 50000 is not a multiple of 9600 between 9600 and 115200",
    ]


def test_a_config_line_made_in_one_language_is_shown_in_the_readers() -> None:
    set_language("en")
    error = _problems({"door": {"unlok_seconds": 3}})
    set_language("id")
    assert str(error) == "pengaturan door.unlok_seconds tidak dikenal (maksud Anda door.unlock_seconds?)"


def test_a_toml_syntax_error_names_the_file_in_indonesian(tmp_path: Path) -> None:
    path = tmp_path / "kunci.toml"
    path.write_text("[door]\nunlock_seconds = \n")
    set_language("id")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: bukan TOML yang valid: ")


def test_an_initialise_refusal_reads_in_indonesian(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.write_text("not a directory")
    set_language("id")
    with pytest.raises(DataDirError) as caught:
        initialise(DataDir(root))
    assert str(caught.value) == f"{root} sudah ada dan bukan direktori"
    assert caught.value.english() == f"{root} exists and is not a directory"


def test_a_backup_refusal_reads_in_indonesian(tmp_path: Path) -> None:
    target = tmp_path / "kunci.backup"
    target.write_bytes(b"x")
    set_language("id")
    with pytest.raises(BackupError) as caught:
        write_new_file(target, b"data")
    assert str(caught.value) == f"{target} sudah ada; pilih nama berkas lain"
    assert caught.value.wire() == {"msgid": "{path} already exists; choose another file name",
                                   "params": {"path": str(target)}}


def test_a_doctor_finding_reads_in_indonesian_and_its_json_stays_english() -> None:
    finding = check_relay_pin(4)
    set_language("id")
    assert str(finding.message).startswith("relai di GPIO4: GPIO 0-8 ditarik ke atas")
    assert str(finding.fix).startswith("pindahkan driver relai ke GPIO kosong di 9-27")
    as_json = finding.as_dict()
    assert as_json["check"] == "relay_pin" and as_json["status"] == "FAIL"
    assert as_json["message"].startswith("relay on GPIO4: GPIO 0-8 are pulled up at power-on")


def test_what_initialise_did_reads_in_indonesian(tmp_path: Path) -> None:
    datadir = DataDir(tmp_path / "data")
    set_language("id")
    done = initialise(datadir)
    assert done[0] == f"dibuat {datadir.root}"
    assert done[-1].startswith("basis data: dibuat (revisi ")
    set_language("en")
    again = initialise(datadir)
    assert again == [again[-1]] and again[-1].startswith("database: up to date (revision ")
    assert initialise(datadir, report_up_to_date=False) == []
