"""PIN generation, digests and lookup (docs/internals.md "Credentials", docs/security.md "PIN keyspace, honestly").

PINs are drawn by the system (never chosen by people) from ``secrets.SystemRandom``,
redrawn when trivial (see :func:`is_blocklisted`) or when their digest already
exists. Only ``HMAC-SHA256(pepper, pin)`` is stored, in a UNIQUE indexed column,
so checking a PIN is one indexed lookup whatever the number of people. A PIN is
never logged, stored or put in an exception message.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from controller.errors import InvalidInput, PolicyRefused
from controller.i18n import T
from controller.store.models import AccessGroup, DuressCredential, PinCredential, Schedule, User
from controller.timefmt import iso_utc, utcnow

logger = logging.getLogger(__name__)

MIN_LENGTH = 4
MAX_LENGTH = 12
#: Minimum number of possible codes per enrolled PIN (docs/security.md "PIN keyspace, honestly").
CODES_PER_PIN = 1000
#: Draws before giving up (only reachable with a broken or hostile ``rng``).
MAX_DRAWS = 1000


class DigitSource(Protocol):
    """What :func:`generate_pin` needs from a random source (``random.Random`` fits)."""

    def randrange(self, stop: int) -> int: ...


def _check_length(length: int) -> None:
    if not MIN_LENGTH <= length <= MAX_LENGTH:
        raise InvalidInput(T("PIN length must be {min}..{max} digits, not {length}", min=MIN_LENGTH, max=MAX_LENGTH,
                             length=length))


def is_blocklisted(pin: str) -> bool:
    """True if ``pin`` is trivial to guess.

    Blocked: one digit repeated (``000000``); each digit one more or one less
    than the previous, wrapping 9→0 (``123456``, ``890123``, ``654321``, ``109876``);
    a 2- or 3-digit pattern repeated at least twice (``121212``, ``123123``, ``1212``).
    """
    n = len(pin)
    steps = {(int(b) - int(a)) % 10 for a, b in zip(pin, pin[1:])}
    if steps in ({0}, {1}, {9}):
        return True
    for period in (2, 3):
        if n >= 2 * period and all(pin[i] == pin[i % period] for i in range(n)):
            return True
    return False


def generate_pin(length: int, rng: DigitSource | None = None) -> str:
    """Draw a PIN of ``length`` decimal digits (4..12) that is not blocklisted.

    ``rng`` defaults to ``secrets.SystemRandom()``; tests inject a scripted source.
    """
    _check_length(length)
    source: DigitSource = rng if rng is not None else secrets.SystemRandom()
    for _ in range(MAX_DRAWS):
        pin = "".join(str(source.randrange(10)) for _ in range(length))
        if not is_blocklisted(pin):
            return pin
    raise PolicyRefused(T("could not draw an acceptable PIN; the random source is not random"))


def pin_digest(pepper: bytes, pin: str) -> bytes:
    """``HMAC-SHA256(pepper, pin.encode("ascii"))`` (32 bytes). ``pin`` must be decimal digits."""
    if not pin.isascii() or not pin.isdigit():
        raise InvalidInput(T("a PIN is made of digits 0-9 only"))
    return hmac.digest(pepper, pin.encode("ascii"), "sha256")  # one-shot: same bytes as hmac.new(...).digest()


def keyspace_allows(length: int, pins_enrolled: int) -> bool:
    """True if ``pins_enrolled`` PINs of ``length`` digits still leave >= 1000 codes per PIN."""
    return pins_enrolled * CODES_PER_PIN <= 10**length


def issue_pin(
    session: Session, pepper: bytes, user: User, length: int, rng: DigitSource | None = None
) -> str:
    """Give ``user`` a fresh PIN of ``length`` digits and return it (to be shown once).

    Creates or replaces the user's :class:`PinCredential` in ``session`` (the caller
    commits). A draw whose digest already exists (anyone's, the user's old PIN
    included) is silently redrawn. Refused with :class:`PolicyRefused` when the PINs
    enrolled after this one would leave fewer than 1000 codes each.
    """
    _check_length(length)
    others = select(func.count()).select_from(PinCredential)
    if user.id is not None:
        others = others.where(PinCredential.user_id != user.id)
    enrolled = int(session.scalar(others) or 0)
    if not keyspace_allows(length, enrolled + 1):
        raise PolicyRefused(T(
            "{digits}-digit PINs are too few for {count} people (need {per_pin} possible codes "
            "per PIN); increase pin.length_digits", digits=length, count=enrolled + 1, per_pin=CODES_PER_PIN
        ))
    pin, digest = _draw_free(session, pepper, length, rng)
    now = iso_utc(utcnow())
    if user.pin is None:
        user.pin = PinCredential(digest=digest, created_at=now)
    else:
        user.pin.digest = digest
        user.pin.created_at = now
    session.flush()
    logger.debug("issued a %d-digit PIN for user id %s", length, user.id)
    return pin


def digest_taken(session: Session, digest: bytes) -> bool:
    """Whether ``digest`` is anyone's PIN or duress PIN already (the two share one code space)."""
    return any(session.scalar(select(table.id).where(table.digest == digest).limit(1)) is not None
               for table in (PinCredential, DuressCredential))


def _draw_free(session: Session, pepper: bytes, length: int, rng: DigitSource | None) -> tuple[str, bytes]:
    for _ in range(MAX_DRAWS):
        pin = generate_pin(length, rng)
        digest = pin_digest(pepper, pin)
        if not digest_taken(session, digest):
            return pin, digest
    raise PolicyRefused(T("could not draw a free PIN; increase pin.length_digits"))


def issue_duress_pin(session: Session, pepper: bytes, user: User, length: int,
                     rng: DigitSource | None = None) -> str:
    """Give ``user`` a fresh duress PIN (replacing an older one) and return it, to be shown once.

    It is drawn like a PIN, from the same code space (never equal to anyone's PIN or duress PIN), so
    nothing about it tells it apart at the keypad (docs/security.md "Duress").
    """
    _check_length(length)
    pin, digest = _draw_free(session, pepper, length, rng)
    row = session.scalars(select(DuressCredential).where(DuressCredential.user_id == user.id)).first()
    if row is None:
        session.add(DuressCredential(user_id=user.id, digest=digest, created_at=iso_utc(utcnow())))
    else:
        row.digest, row.created_at = digest, iso_utc(utcnow())
    session.flush()
    return pin


def find_user_by_pin(session: Session, pepper: bytes, pin: str) -> User | None:
    """The user whose PIN is ``pin``, or ``None`` (one indexed lookup by digest).

    Returns the user whatever their status; the access policy decides what that
    status means. Text that is not all digits matches nobody.
    """
    if not pin or not pin.isascii() or not pin.isdigit():
        return None
    digest = pin_digest(pepper, pin)
    # The decision reads the person's group, its schedule and the windows next (people.subject_for):
    # load them in this same query instead of three lazy loads on the door's critical path.
    stmt = (
        select(User)
        .join(PinCredential, PinCredential.user_id == User.id)
        .where(PinCredential.digest == digest)
        .options(joinedload(User.group).joinedload(AccessGroup.schedule).joinedload(Schedule.windows))
    )
    return session.execute(stmt).unique().scalar_one_or_none()
