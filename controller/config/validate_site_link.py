"""The ``[site_link]`` section's cross-key rules (docs/site.md "The controller's link"): what an enabled link
needs, and where an unencrypted connection is allowed. Called by :func:`controller.config.load.parse_config`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from controller.config.validate import toml_value
from controller.i18n import T, Text

#: Host names that are this machine: the only servers ``sslmode = "disable"`` may talk to outside a simulation.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
#: A controller's name at the site (it becomes part of its PostgreSQL role, kunci_ctl_<name>).
CONTROLLER_NAME = re.compile(r"^[a-z0-9_-]{1,40}$")


def check_site_link(link: Mapping[str, Any], simulated: bool, bad: set[str], errors: list[Text]) -> None:
    """Append the problems of ``[site_link]`` (``link``: its effective values; keys in ``bad`` are skipped)."""
    def usable(*keys: str) -> bool:
        return not any(f"site_link.{key}" in bad for key in keys)

    if usable("controller") and link["controller"] and not CONTROLLER_NAME.match(link["controller"]):
        errors.append(T("site_link.controller: {name} must be 1-40 lower-case letters, digits, _ or -",
                        name=toml_value(link["controller"])))
    if not link["enabled"]:
        return
    for key in ("controller", "host", "user"):
        if usable(key) and not str(link[key]).strip():
            name = "site_link." + key
            errors.append(T("{key}: required while {section}.enabled = true", key=name, section="site_link"))
    if usable("sslmode", "host") and link["sslmode"] == "disable" and not simulated \
            and link["host"] not in LOOPBACK_HOSTS:
        errors.append(T("site_link.sslmode: disable sends the site's credentials unencrypted; allowed only with "
                        "simulated = true or a server on this machine, not to {host}", host=toml_value(link["host"])))
