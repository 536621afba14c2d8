"""Secrets of the alert destinations (broker password, webhook key, SMTP password, metrics token) live in files
readable by the door's account only, like the pepper and the audit key (docs/alerts.md "Secrets")."""

from __future__ import annotations

import stat
from pathlib import Path

from controller.errors import ConfigError

__all__ = ["read_secret"]


def read_secret(setting: str, value: str, data_root: Path) -> str:
    """The text of the secret file named by config key ``setting`` (``value``; relative = inside ``data_root``).

    Raises :class:`ConfigError` naming the key when the file is missing, empty, not a regular file, or readable
    or writable by anyone but its owner (mode must be 0600 or 0400): a secret others can read is not one.
    """
    path = Path(value)
    if not path.is_absolute():
        path = data_root / path
    try:
        info = path.stat()
    except OSError as exc:
        raise ConfigError([f"{setting}: cannot read {path}: {exc.strerror or exc}"]) from exc
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError([f"{setting}: {path} is not a regular file"])
    if info.st_mode & 0o077:
        raise ConfigError([f"{setting}: {path} has mode {stat.S_IMODE(info.st_mode):04o}; other accounts may read "
                           f"it (run: chmod 600 {path})"])
    text = path.read_text(encoding="utf-8").strip()
    if not text:
        raise ConfigError([f"{setting}: {path} is empty"])
    return text
