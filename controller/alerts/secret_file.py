"""Secrets of the alert destinations (broker password, webhook key, SMTP password, metrics token) live in files
readable by the door's account only, like the pepper and the audit key (docs/alerts.md "Secrets")."""

from __future__ import annotations

from pathlib import Path

from controller.errors import ConfigError, SecretsError
from controller.i18n import T
from controller.store.keys import read_private

__all__ = ["read_secret"]

#: Longest secret read (a password or a token, not a file of data).
MAX_SECRET_BYTES = 4096


def read_secret(setting: str, value: str, data_root: Path) -> str:
    """The text of the secret file named by config key ``setting`` (``value``; relative = inside ``data_root``).

    Raises :class:`ConfigError` naming the key when the file is missing, empty, not a regular file, or readable
    or writable by anyone but its owner (mode must be 0600 or 0400: the same check as the pepper's,
    :func:`controller.store.keys.read_private`): a secret others can read is not one.
    """
    path = Path(value)
    if not path.is_absolute():
        path = data_root / path
    try:
        data = read_private(path, "secret file", MAX_SECRET_BYTES)
    except SecretsError as exc:
        raise ConfigError([T("{setting}: {error}", setting=setting, error=exc)]) from exc
    text = data.decode("utf-8", errors="replace").strip()
    if not text:
        raise ConfigError([T("{setting}: {path} is empty", setting=setting, path=path)])
    return text
