"""Wall-clock trust and jump detection.

Durations never use the wall clock (they use ``time.monotonic()``); the wall clock is
only for timestamps and schedules. A Pi without an RTC boots with the time saved at
the last shutdown, so the daemon asks the kernel whether the clock is synchronised
(``adjtimex``: ``STA_UNSYNC`` clear and a small maximum error). With an untrusted clock,
people restricted by a schedule or validity window are refused (``clock_untrusted``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

log = logging.getLogger(__name__)

_STA_UNSYNC = 0x0040
#: Kernel's estimated maximum error (microseconds) above which the clock is not trusted.
MAX_ERROR_USEC = 16_000_000


class _Timex(ctypes.Structure):
    _fields_ = [
        ("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
        ("constant", ctypes.c_long), ("precision", ctypes.c_long), ("tolerance", ctypes.c_long),
        ("time_sec", ctypes.c_long), ("time_usec", ctypes.c_long), ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long), ("jitter", ctypes.c_long), ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long), ("jitcnt", ctypes.c_long), ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long), ("stbcnt", ctypes.c_long), ("tai", ctypes.c_int),
        ("_padding", ctypes.c_int * 11),
    ]


def kernel_clock_synchronised() -> bool | None:
    """True/False from ``adjtimex(2)``; None when the call is unavailable."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        tx = _Timex()
        state = libc.adjtimex(ctypes.byref(tx))
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return state != 5 and not (tx.status & _STA_UNSYNC) and tx.maxerror < MAX_ERROR_USEC  # 5 = TIME_ERROR


def clock_trusted(policy: str = "auto", probe: Callable[[], bool | None] = kernel_clock_synchronised) -> bool:
    """Whether wall-clock time may be used for schedules and validity windows.

    :param policy: ``"auto"`` asks the kernel; ``"always"`` trusts it (simulation, sites with an RTC);
        ``"never"`` forces the untrusted behaviour.
    """
    if policy == "always":
        return True
    if policy == "never":
        return False
    return bool(probe())


@dataclass
class JumpDetector:
    """Notices the wall clock moving by more than ``threshold_seconds`` against the monotonic clock."""

    threshold_seconds: float = 2.0
    _offset: float | None = None

    def check(self, wall: datetime, mono: float) -> tuple[datetime, datetime] | None:
        """Feed one pair of readings; return ``(expected, actual)`` wall times when a jump happened."""
        offset = wall.timestamp() - mono
        previous = self._offset
        self._offset = offset
        if previous is None or abs(offset - previous) <= self.threshold_seconds:
            return None
        expected = datetime.fromtimestamp(previous + mono, tz=timezone.utc)
        return expected, wall
