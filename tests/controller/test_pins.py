"""PIN generation, blocklist, digests, collision redraw, keyspace rule and lookup."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from controller.store import pins
from controller.store.db import make_engine, session_factory, upgrade_database
from controller.errors import InvalidInput, PolicyRefused
from controller.store.models import PinCredential, User
from controller.store.pins import find_user_by_pin, generate_pin, is_blocklisted, issue_pin, pin_digest

PEPPER = bytes(range(32))


class Scripted:
    """A digit source that yields the digits of the given PINs in order, then random ones."""

    def __init__(self, *pins_in_order: str) -> None:
        self._digits = [int(c) for pin in pins_in_order for c in pin]
        self._rest = random.Random(7)

    def randrange(self, stop: int) -> int:
        return self._digits.pop(0) if self._digits else self._rest.randrange(stop)


@pytest.fixture
def engine(tmp_path: Path):
    eng = make_engine(f"sqlite:///{tmp_path / 'kunci.db'}")
    upgrade_database(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine):
    with session_factory(engine)() as s:
        yield s


def _user(session, n: int) -> User:
    user = User(code=f"U{n:04d}", display_name=f"Person Number {n}", status="active")
    session.add(user)
    session.flush()
    return user


@pytest.mark.parametrize(
    "pin",
    ["000000", "999999", "1111", "123456", "234567", "890123", "789012", "654321", "210987", "109876",
     "121212", "909090", "123123", "987987", "1212", "12121", "123123123123", "0123456789"],
)
def test_blocklist_rejects_trivial_pins(pin: str) -> None:
    assert is_blocklisted(pin)


@pytest.mark.parametrize("pin", ["482913", "905163", "4821", "112233", "123457", "1231", "120120121"])
def test_blocklist_allows_ordinary_pins(pin: str) -> None:
    assert not is_blocklisted(pin)


@pytest.mark.parametrize("length", [4, 6, 8, 12])
def test_generate_pin_length_digits_and_never_blocklisted(length: int) -> None:
    rng = random.Random(1)
    for _ in range(300):
        pin = generate_pin(length, rng)
        assert len(pin) == length and pin.isdigit() and not is_blocklisted(pin)


def test_generate_pin_redraws_blocklisted_draws() -> None:
    assert generate_pin(6, Scripted("123456", "111111", "121212", "482913")) == "482913"


def test_generate_pin_default_source_is_system_random() -> None:
    pin = generate_pin(6)
    assert re.fullmatch(r"\d{6}", pin)


@pytest.mark.parametrize("length", [0, 3, 13])
def test_length_outside_4_to_12_is_refused(length: int) -> None:
    with pytest.raises(InvalidInput):
        generate_pin(length)


def test_digest_is_hmac_sha256_of_ascii_pin() -> None:
    import hashlib
    import hmac

    assert pin_digest(PEPPER, "482913") == hmac.new(PEPPER, b"482913", hashlib.sha256).digest()
    assert pin_digest(PEPPER, "482913") != pin_digest(bytes(32), "482913")
    with pytest.raises(InvalidInput) as info:
        pin_digest(PEPPER, "48a913")
    assert "48a913" not in str(info.value)


def test_issue_and_find(session) -> None:
    alice, bob = _user(session, 1), _user(session, 2)
    pa = issue_pin(session, PEPPER, alice, 6)
    pb = issue_pin(session, PEPPER, bob, 6)
    session.commit()
    assert pa != pb
    assert find_user_by_pin(session, PEPPER, pa).code == "U0001"
    assert find_user_by_pin(session, PEPPER, pb).code == "U0002"
    assert find_user_by_pin(session, PEPPER, "000000") is None
    assert find_user_by_pin(session, PEPPER, "") is None
    assert find_user_by_pin(session, PEPPER, "12ab56") is None
    assert find_user_by_pin(session, b"\x01" * 32, pa) is None  # another site's pepper


def test_reissue_replaces_the_old_pin(session) -> None:
    alice = _user(session, 1)
    old = issue_pin(session, PEPPER, alice, 6)
    new = issue_pin(session, PEPPER, alice, 6)
    session.commit()
    assert old != new
    assert session.scalar(select(PinCredential.id).where(PinCredential.user_id == alice.id)) is not None
    assert len(session.scalars(select(PinCredential)).all()) == 1
    assert find_user_by_pin(session, PEPPER, old) is None
    assert find_user_by_pin(session, PEPPER, new).id == alice.id


def test_collision_is_redrawn_silently(session, caplog) -> None:
    alice, bob = _user(session, 1), _user(session, 2)
    pa = issue_pin(session, PEPPER, alice, 6, rng=Scripted("482913"))
    assert pa == "482913"
    # Bob's source first yields Alice's PIN: it must be skipped without any trace of it.
    pb = issue_pin(session, PEPPER, bob, 6, rng=Scripted("482913", "905163"))
    session.commit()
    assert pb == "905163"
    assert find_user_by_pin(session, PEPPER, "482913").code == "U0001"
    assert "482913" not in caplog.text and "905163" not in caplog.text


def test_reissue_never_gives_back_the_same_pin(session) -> None:
    alice = _user(session, 1)
    issue_pin(session, PEPPER, alice, 6, rng=Scripted("482913"))
    assert issue_pin(session, PEPPER, alice, 6, rng=Scripted("482913", "905163")) == "905163"


def test_keyspace_rule_refuses_too_short_pins(session) -> None:
    # 4 digits = 10,000 codes: at most 10 people at >= 1000 codes each.
    users = [_user(session, n) for n in range(1, 12)]
    for user in users[:10]:
        issue_pin(session, PEPPER, user, 4)
    issue_pin(session, PEPPER, users[0], 4)  # re-issuing for someone already counted is fine
    with pytest.raises(PolicyRefused, match="pin.length_digits"):
        issue_pin(session, PEPPER, users[10], 4)
    assert issue_pin(session, PEPPER, users[10], 5)  # a longer PIN is fine
    assert pins.keyspace_allows(6, 1000) and not pins.keyspace_allows(6, 1001)


def test_pin_digits_never_stored_anywhere(engine, session) -> None:
    """Dump every value of every table: no issued PIN appears, as text or as bytes."""
    issued = [issue_pin(session, PEPPER, _user(session, n), 8) for n in range(1, 21)]
    session.commit()
    dump_text: list[str] = []
    dump_bytes: list[bytes] = []
    with engine.connect() as conn:
        tables = conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'").scalars().all()
        for table in tables:
            for row in conn.exec_driver_sql(f'SELECT * FROM "{table}"'):
                for value in row:
                    if isinstance(value, (bytes, bytearray, memoryview)):
                        dump_bytes.append(bytes(value))
                    dump_text.append(str(value))
    blob_text = "\n".join(dump_text)
    blob_bytes = b"\n".join(dump_bytes)
    for pin in issued:
        assert pin not in blob_text
        assert pin.encode("ascii") not in blob_bytes
        assert int(pin).to_bytes(8, "big") not in blob_bytes


def test_lookup_is_one_indexed_query(session, engine) -> None:
    from sqlalchemy import event

    pin = issue_pin(session, PEPPER, _user(session, 1), 6)
    session.commit()
    statements: list[str] = []
    listener = lambda *a: statements.append(a[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        assert find_user_by_pin(session, PEPPER, pin) is not None
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1 and "digest" in selects[0]
