"""A driver error reaches a person as a translated sentence of its class (controller/driver_text.py)."""

from __future__ import annotations

import argparse

import pytest

import drivers.errors
from controller import cli
from controller.driver_text import SENTENCES, describe
from controller.i18n import T, set_language, translate
from drivers.errors import DriverError, DuplicateFinger, SensorUnavailable
from drivers.fingerprint_owner import Cancelled

#: Every driver error class: those of drivers/errors.py, and the owner thread's Cancelled.
DRIVER_ERRORS = sorted(
    {value for value in vars(drivers.errors).values() if isinstance(value, type) and issubclass(value, DriverError)}
    | {Cancelled},
    key=lambda kind: kind.__name__,
)

ENGLISH = {
    "DriverError": "hardware error: the detail",
    "SensorError": "sensor error: the detail",
    "SensorUnavailable": "the fingerprint sensor does not answer (the detail)",
    "SensorProtocolError": "the fingerprint sensor sent a garbled reply (the detail)",
    "SensorAuthError": "the fingerprint sensor refused the configured password (the detail)",
    "PoorImage": "the image was unusable; clean the sensor and try again",
    "EnrollMismatch": "the two touches did not match; try again with the same finger",
    "DuplicateFinger": "this finger is already enrolled",
    "SlotInvalid": "the fingerprint sensor slot is out of range or holds no readable template (the detail)",
    "FlashError": "the fingerprint sensor could not write its memory (the detail)",
    "LibraryFull": "the fingerprint sensor's template library is full (the detail)",
    "EnrollTimeout": "no finger was placed in time",
    "GpioUnavailable": "the GPIO pins cannot be used (the detail)",
    "Cancelled": "the enrolment was cancelled",
}


def _error(kind: type[DriverError]) -> DriverError:
    return kind(3, "the detail") if kind is DuplicateFinger else kind("the detail")


@pytest.fixture
def indonesian():
    set_language("id")
    yield
    set_language("en")


def test_every_driver_error_class_has_its_own_sentence() -> None:
    assert len(DRIVER_ERRORS) >= 13
    assert {kind.__name__ for kind in DRIVER_ERRORS} == set(ENGLISH)
    assert {kind for kind, _sentence in SENTENCES} == set(DRIVER_ERRORS)
    msgids = [describe(_error(kind)).msgid for kind in DRIVER_ERRORS]
    assert len(set(msgids)) == len(msgids), "two driver error classes share a sentence"


@pytest.mark.parametrize("kind", DRIVER_ERRORS, ids=lambda kind: kind.__name__)
def test_the_sentence_is_english_exactly_by_default(kind: type[DriverError]) -> None:
    assert str(describe(_error(kind))) == ENGLISH[kind.__name__]


@pytest.mark.parametrize("kind", DRIVER_ERRORS, ids=lambda kind: kind.__name__)
def test_the_sentence_is_indonesian_under_id(kind: type[DriverError], indonesian) -> None:
    message = describe(_error(kind))
    assert translate(message.msgid, "id") != message.msgid, f"no Indonesian for {message.msgid!r}"
    text = str(message)
    assert text != ENGLISH[kind.__name__] and "{" not in text
    assert message.english() == ENGLISH[kind.__name__]
    if "{detail}" in message.msgid:
        assert "the detail" in text  # the driver's English detail goes in as a value


def test_an_error_the_controller_raised_with_a_text_is_said_as_it_is(indonesian) -> None:
    message = T("the fingerprint sensor service is closed")
    assert describe(SensorUnavailable(message)) is message
    assert str(describe(SensorUnavailable(message))) == "layanan sensor sidik jari sudah ditutup"


def test_the_cli_says_a_driver_error_in_a_sentence_of_its_language(monkeypatch, capsys) -> None:
    def fails(_args: argparse.Namespace) -> int:
        raise SensorUnavailable("no reply within 3 s")

    parser = argparse.ArgumentParser()
    parser.set_defaults(func=fails)
    monkeypatch.setattr(cli, "build_parser", lambda argv=None: parser)
    try:
        monkeypatch.setenv(cli.LANGUAGE_ENV, "en")
        assert cli.main([]) == 1
        said = capsys.readouterr().err.strip()
        assert said == "kunci: error: the fingerprint sensor does not answer (no reply within 3 s)"
        monkeypatch.setenv(cli.LANGUAGE_ENV, "id")
        assert cli.main([]) == 1
        assert "sensor sidik jari tidak menjawab (no reply within 3 s)" in capsys.readouterr().err
    finally:
        set_language("en")
