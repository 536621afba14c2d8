"""``[site_link]``: an enabled link says everything it lacks at once, and TLS may be off only where nothing
travels over a network (a simulation or a server on this machine)."""

from __future__ import annotations

import pytest

from controller.config import parse_config
from controller.errors import ConfigError


def _errors(data: dict) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    return "\n".join(str(e) for e in caught.value.errors)


def test_defaults_link_to_nothing() -> None:
    link = parse_config({}).site_link
    assert not link.enabled and link.sslmode == "verify-full" and link.port == 5432
    assert link.password_file == "secrets/site-password" and link.stale_action == "alarm"


def test_an_enabled_link_names_every_missing_key() -> None:
    text = _errors({"site_link": {"enabled": True}})
    for key in ("site_link.controller", "site_link.host", "site_link.user"):
        assert f"{key}: required while site_link.enabled = true" in text, text


@pytest.mark.parametrize("host", ["db.example.org", "10.0.0.5"])
def test_plain_connection_to_another_machine_is_refused(host: str) -> None:
    text = _errors({"site_link": {"enabled": True, "controller": "a", "host": host, "user": "kunci_ctl_a",
                                  "sslmode": "disable"}})
    assert "site_link.sslmode: disable sends the site's credentials unencrypted" in text and host in text


@pytest.mark.parametrize("data", [
    {"site_link": {"enabled": True, "controller": "a", "host": "127.0.0.1", "user": "u", "sslmode": "disable"}},
    {"simulated": True, "site_link": {"enabled": True, "controller": "a", "host": "db", "user": "u",
                                      "sslmode": "disable"}},
])
def test_plain_connection_on_this_machine_or_in_a_simulation_is_allowed(data: dict) -> None:
    assert parse_config(data).site_link.sslmode == "disable"


@pytest.mark.parametrize("bad, needle", [
    ({"controller": "Branch A"}, "site_link.controller: \"Branch A\" must be 1-40"),
    ({"sslmode": "prefer"}, "site_link.sslmode"),
    ({"stale_action": "open"}, "site_link.stale_action"),
    ({"max_stale_seconds": 5}, "site_link.max_stale_seconds"),
    ({"poll_seconds": 0}, "site_link.poll_seconds"),
])
def test_bad_values_are_named(bad: dict, needle: str) -> None:
    assert needle in _errors({"site_link": bad})
