"""Staff logins of the site page: argon2id hashes with the controller page's password rules
(:mod:`controller.store.staff`), checked with the same work for an unknown or disabled login."""

from __future__ import annotations

import logging
from typing import Any

from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from controller.site.records import StaffRow
from controller.store.password_rules import normalise_password
from controller.store.staff import hash_new_password, make_hasher

logger = logging.getLogger(__name__)
_DUMMY_PASSWORD = "kunci-site-dummy-password-for-timing"


class StaffAuth:
    """Hash and check staff passwords with ``hasher`` (an argon2 ``PasswordHasher``; default Kunci's)."""

    def __init__(self, hasher: Any = None) -> None:
        self.hasher = hasher or make_hasher()
        self._dummy: str | None = None

    def hash_new(self, password: str, username: str) -> str:
        """The hash of a new password (InvalidInput listing every broken rule, or a bad username)."""
        return hash_new_password(password, username, hasher=self.hasher)

    def check(self, found: tuple[StaffRow, str] | None, password: str) -> StaffRow | None:
        """``found[0]`` when it is active and ``password`` matches its hash, else None."""
        if found is None:
            self._dummy = self._dummy or self.hasher.hash(_DUMMY_PASSWORD)
            self._verify(self._dummy, password)
            return None
        row, stored = found
        ok = self._verify(stored, password)
        return row if ok and row.active else None

    def _verify(self, stored: str, password: str) -> bool:
        try:
            return bool(self.hasher.verify(stored, normalise_password(password)))
        except VerifyMismatchError:
            return False
        except (VerificationError, InvalidHashError):
            logger.error("a site staff password hash could not be verified (corrupt hash?)")
            return False
