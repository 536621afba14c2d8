"""Password rules for staff accounts (pure; docs/security.md "What each secret protects").

At least :data:`PASSWORD_MIN_LENGTH` (12) characters, at most :data:`PASSWORD_MAX_LENGTH` (1024; never
truncated), no composition rules, refused when common (``controller/store/data/common-passwords.txt``)
or trivially guessable (contains the username, one character, a keyboard run, a
short piece repeated). Passwords are NFKC-normalised before checking and hashing,
so the same text typed on two keyboards gives the same hash. Messages never repeat the password.
"""

from __future__ import annotations

import functools
import unicodedata
from importlib import resources

from controller.i18n import T

PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 1024


_KEYBOARD_SEQUENCES = (
    "1234567890",
    "abcdefghijklmnopqrstuvwxyz",
    "qwertyuiopasdfghjklzxcvbnm",
    "qwertzuiopasdfghjklyxcvbnm",
    "azertyuiopqsdfghjklmwxcvbn",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik,9ol.0p;/",
    "qazwsxedcrfvtgbyhnujmikolp",
    "1q2w3e4r5t6y7u8i9o0p",
    "!@#$%^&*()_+",
)


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped blocklist (lower case), read once from ``controller/store/data/common-passwords.txt``."""
    text = resources.files("controller.store").joinpath("data/common-passwords.txt").read_text(encoding="utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def normalise_password(password: str) -> str:
    """NFKC form of ``password`` (NIST SP 800-63B), used for every check and hash."""
    return unicodedata.normalize("NFKC", password)


def _is_keyboard_run(lowered: str) -> bool:
    """True when the whole text walks one keyboard/alphabet sequence, forwards or backwards."""
    for seq in _KEYBOARD_SEQUENCES:
        # Enough repetitions of the sequence to contain any password of the maximum length.
        span = seq * (len(lowered) // len(seq) + 2)
        if lowered in span or lowered in span[::-1]:
            return True
    return False


def _repeated_piece(password: str) -> bool:
    """True when the password is one piece shorter than the minimum length, repeated."""
    n = len(password)
    for size in range(1, min(PASSWORD_MIN_LENGTH, n // 2 + 1)):
        if n % size == 0 and password[:size] * (n // size) == password:
            return True
    return False


def check_password(password: str, username: str = "") -> list[str]:
    """Every problem with ``password`` for account ``username``, one line each; empty when acceptable.

    The messages are in the current language (:func:`controller.i18n.language`) and never repeat the password.
    """
    problems: list[str] = []
    pw = normalise_password(password)
    if len(pw) < PASSWORD_MIN_LENGTH:
        problems.append(str(T("the password must have at least {count} characters", count=PASSWORD_MIN_LENGTH)))
    if len(pw) > PASSWORD_MAX_LENGTH:
        problems.append(str(T("the password must have at most {count} characters", count=PASSWORD_MAX_LENGTH)))
        return problems  # the other checks are pointless on such input
    if "\x00" in pw:
        problems.append(str(T("the password must not contain a NUL character")))
    lowered = pw.casefold()
    if not pw:
        return problems
    if len(set(pw)) == 1:
        problems.append(str(T("the password is one character repeated")))
    elif _repeated_piece(pw):
        problems.append(str(T("the password is a short piece repeated")))
    if lowered in common_passwords():
        problems.append(str(T("the password is on the list of common passwords")))
    elif _is_keyboard_run(lowered):
        problems.append(str(T("the password is a keyboard or alphabet run")))
    user = username.casefold()
    if user and (lowered == user or (len(user) >= 3 and user in lowered)):
        problems.append(str(T("the password must not contain the username")))
    return problems
