"""The alert destinations' configuration: an enabled destination says everything it lacks, all at once."""

from __future__ import annotations

import pytest

from controller.config import parse_config
from controller.errors import ConfigError


def _errors(data: dict) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    return [str(e) for e in caught.value.errors]


def test_defaults_send_nothing() -> None:
    config = parse_config({})
    assert not (config.mqtt.enabled or config.webhook.enabled or config.email.enabled or config.metrics.enabled)
    assert config.outbox.events == "alarms" and config.metrics.host == "127.0.0.1"


def test_every_missing_piece_is_reported_at_once() -> None:
    errors = _errors({"mqtt": {"enabled": True}, "webhook": {"enabled": True, "url": "http://hooks.example/x"},
                      "email": {"enabled": True, "host": "mail.example", "security": "none"},
                      "metrics": {"enabled": True, "host": "0.0.0.0"}})
    text = "\n".join(errors)
    for needle in ("mqtt.host: required", "webhook.secret_file: required", "webhook.url: \"http://hooks.example/x\" "
                   "must start with https://", "email.sender: required", "email.recipients: required",
                   "email.security: none sends mail unencrypted", "metrics.token_file: required"):
        assert needle in text, text


def test_plain_smtp_to_a_local_relay_and_loopback_metrics_are_fine() -> None:
    config = parse_config({"email": {"enabled": True, "host": "127.0.0.1", "port": 25, "security": "none",
                                     "sender": "door@example.org", "recipients": ["sec@example.org"]},
                           "metrics": {"enabled": True}})
    assert config.email.recipients == ("sec@example.org",)


def test_bad_values_name_the_key() -> None:
    errors = _errors({"outbox": {"events": "some", "max_rows": 5}, "email": {"security": "ssl"}})
    assert any(e.startswith("outbox.events") for e in errors)
    assert any(e.startswith("outbox.max_rows") for e in errors)
    assert any(e.startswith("email.security") for e in errors)
