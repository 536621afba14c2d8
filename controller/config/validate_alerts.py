"""The alert destinations' cross-key rules (docs/alerts.md): what an enabled destination needs, and where a
plain (unencrypted or unauthenticated) connection is allowed. Called by :func:`controller.config.validate.check_cross`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from controller.config.validate import toml_value
from controller.i18n import T, Text

#: Host names that are this machine (a plain SMTP relay and a token-less metrics endpoint must be one).
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def check_alerts(values: Mapping[str, Mapping[str, Any]], usable: Callable[..., bool], errors: list[Text]) -> None:
    """The alert destinations (docs/alerts.md): what an enabled destination needs, and where it may be plain."""
    def need(section: str, *keys: str) -> None:
        for key in keys:
            name = f"{section}.{key}"
            if usable(name) and not values[section][key]:
                errors.append(T("{key}: required while {section}.enabled = true", key=name, section=section))

    if values["mqtt"]["enabled"]:
        need("mqtt", "host")
        if values["mqtt"]["password_file"] and not values["mqtt"]["username"]:
            errors.append(T("mqtt.password_file: set mqtt.username too (the broker logs in a user, not a password)"))
    if values["webhook"]["enabled"]:
        need("webhook", "url", "secret_file")
        url = values["webhook"]["url"]
        if url and not url.startswith("https://"):
            errors.append(T("webhook.url: {url} must start with https:// (alarms are signed, and sent encrypted)",
                            url=toml_value(url)))
    if values["email"]["enabled"]:
        need("email", "host", "sender", "recipients")
        if values["email"]["security"] == "none" and values["email"]["host"] not in LOOPBACK_HOSTS | {""}:
            errors.append(T("email.security: none sends mail unencrypted; allowed only to a relay on this machine, "
                            "not to {host}", host=toml_value(values["email"]["host"])))
        if values["email"]["password_file"] and not values["email"]["username"]:
            errors.append(T("email.password_file: set email.username too"))
    metrics = values["metrics"]
    if metrics["enabled"] and metrics["host"] not in LOOPBACK_HOSTS and not metrics["token_file"]:
        errors.append(T("metrics.token_file: required when metrics.host = {host} is not loopback (nobody on the "
                        "network reads the door's state without the token)", host=toml_value(metrics["host"])))
