"""What a ``kunci doctor`` check returns (docs/install-pi.md): a :class:`Finding` with its :class:`Status`."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum


class Status(StrEnum):
    """How a finding reads: fine, worth a look, or must be fixed."""

    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Finding:
    """One line of the doctor's report: ``check`` name, ``status``, ``message`` and ``fix`` (empty when OK)."""

    check: str
    status: Status
    message: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        d = asdict(self)
        d["status"] = str(self.status)
        return d


def ok(check: str, message: str) -> Finding:
    return Finding(check, Status.OK, message)


def warn(check: str, message: str, fix: str) -> Finding:
    return Finding(check, Status.WARN, message, fix)


def fail(check: str, message: str, fix: str) -> Finding:
    return Finding(check, Status.FAIL, message, fix)
