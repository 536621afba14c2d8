"""PINs waiting to be shown once (post/redirect/get for "the PIN is shown once").

After a person is added (or their PIN reset) the POST stores the new PIN here and
redirects (303) to a GET page that takes it out and shows it. The entry is bound to the
staff session that caused it and deleted when shown, so a reload of that page says
"already shown" and never repeats the change. Kept in memory only (one web process;
the PIN never touches a disk); an entry nobody fetched expires after
:data:`KEEP_SECONDS`. A restart of the web loses pending entries, and logs everybody
out anyway (the cookie key is per process).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

#: Seconds an unfetched PIN is kept.
KEEP_SECONDS = 600.0
#: Most entries kept at once (the oldest go first).
MAX_ENTRIES = 200


@dataclass(frozen=True)
class PinNotice:
    """What the shown-once page displays: the person's code, the PIN, and whether the person is new."""

    code: str
    pin: str
    new: bool
    duress: bool = False  # a duress PIN (docs/security.md "Duress"), not the person's PIN


class ShownOnce:
    """Thread-safe one-shot store keyed by a random id and the owning session.

    :param clock: monotonic clock in seconds (injectable for tests).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[str, tuple[bytes, float, PinNotice]] = {}
        self._lock = threading.Lock()

    def put(self, owner: bytes, notice: PinNotice) -> str:
        """Keep ``notice`` for the session ``owner`` (its token hash); return the id for the page URL."""
        key = secrets.token_urlsafe(16)
        with self._lock:
            self._expire()
            self._entries[key] = (owner, self._clock(), notice)
            while len(self._entries) > MAX_ENTRIES:
                self._entries.pop(next(iter(self._entries)))
        return key

    def take(self, owner: bytes, key: str) -> PinNotice | None:
        """The notice for ``key`` if ``owner`` stored it and it was not shown yet; it is deleted."""
        with self._lock:
            self._expire()
            entry = self._entries.get(key)
            if entry is None or not secrets.compare_digest(entry[0], owner):
                return None
            del self._entries[key]
            return entry[2]

    def _expire(self) -> None:
        now = self._clock()
        for key in [k for k, (_o, t, _n) in self._entries.items() if now - t > KEEP_SECONDS]:
            del self._entries[key]
