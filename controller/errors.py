"""The one exception hierarchy of Kunci.

Every error Kunci raises on purpose derives from :class:`KunciError`; leaves also
inherit the builtin they mean, so callers can catch either. Vendor errors are
wrapped at the boundary (``raise SensorError(...) from exc``). Messages are one
clear line meant for a person; they never contain a PIN, a digest or a name.

A message meant for a person is a :class:`~controller.i18n.Text` (``T("no person {code}", code=c)``):
``str(exc)`` shows it in the current language, :meth:`KunciError.wire` carries it across the control
socket so the CLI or the admin page shows it in its reader's language.
"""

from __future__ import annotations

from typing import Any

from controller.i18n import T, Text


class KunciError(Exception):
    """Root of every Kunci error."""

    def wire(self) -> dict[str, Any] | None:
        """The message as msgid + values (:meth:`Text.wire`) when it is translatable, else None."""
        message = self.args[0] if len(self.args) == 1 else None
        return message.wire() if isinstance(message, Text) else None

    def english(self) -> str:
        """The message in English (for log lines)."""
        message = self.args[0] if len(self.args) == 1 else None
        return message.english() if isinstance(message, Text) else str(self)


class ConfigError(KunciError, ValueError):
    """The configuration is invalid. ``errors`` lists every problem found, one line each (a :class:`Text`,
    or a plain ``str``); ``str()`` joins them in the current language."""

    def __init__(self, errors: list[Text | str]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(str(e) for e in self.errors) if self.errors else T("invalid configuration"))

    def __str__(self) -> str:
        return "; ".join(str(e) for e in self.errors) if self.errors else str(T("invalid configuration"))

    def english(self) -> str:
        if not self.errors:
            return T("invalid configuration").english()
        return "; ".join(e.english() if isinstance(e, Text) else str(e) for e in self.errors)

    def wire(self) -> dict[str, Any] | None:
        """One problem crosses the control socket translatable; several cross as their English text."""
        if not self.errors:
            return T("invalid configuration").wire()
        only = self.errors[0] if len(self.errors) == 1 else None
        return only.wire() if isinstance(only, Text) else None


class DataDirError(KunciError, OSError):
    """The data directory is missing, unreadable or has unsafe permissions."""


class SecretsError(DataDirError, PermissionError):
    """A secret file is missing or its permissions are unsafe."""


class StoreError(KunciError, RuntimeError):
    """The database cannot be opened, migrated or written."""


class DataLost(StoreError):
    """The door's data was lost: a missing or empty database under an initialised data directory, or an
    entry log behind its anchor file. A person must decide (restore a backup); a restart cannot fix it."""


class NotFound(KunciError, LookupError):
    """A person, account, group or other record does not exist."""


class InvalidInput(KunciError, ValueError):
    """A value given by a person (CLI argument, form field) is not acceptable."""


class PolicyRefused(KunciError, PermissionError):
    """An administrative action is refused by site policy (e.g. no confidentiality agreement)."""


class DaemonUnavailable(KunciError, ConnectionError):
    """The door daemon's control socket cannot be reached."""
