"""What a ``kunci doctor`` check returns (docs/install-pi.md): a :class:`Finding` with its :class:`Status`.

A finding's ``message`` and ``fix`` are :class:`~controller.i18n.Text` (or plain text): the report printed for a
person reads in the CLI's language; the ``--json`` output (:meth:`Finding.as_dict`) stays English.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from controller.i18n import Text


class Status(StrEnum):
    """How a finding reads: fine, worth a look, or must be fixed."""

    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"


def _english(text: Text | str) -> str:
    return text.english() if isinstance(text, Text) else str(text)


@dataclass(frozen=True)
class Finding:
    """One line of the doctor's report: ``check`` name, ``status``, ``message`` and ``fix`` (empty when OK)."""

    check: str
    status: Status
    message: Text | str
    fix: Text | str = ""

    def as_dict(self) -> dict[str, str]:
        """The JSON form: check name, status and the English message and fix."""
        return {"check": self.check, "status": str(self.status), "message": _english(self.message),
                "fix": _english(self.fix)}


def ok(check: str, message: Text | str) -> Finding:
    return Finding(check, Status.OK, message)


def warn(check: str, message: Text | str, fix: Text | str) -> Finding:
    return Finding(check, Status.WARN, message, fix)


def fail(check: str, message: Text | str, fix: Text | str) -> Finding:
    return Finding(check, Status.FAIL, message, fix)
