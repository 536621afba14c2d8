"""Admin accounts: password rules (T6.18), argon2id hashes, login lock (T6.2), same answer for unknown users (T6.3)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from argon2 import PasswordHasher, profiles
from sqlalchemy import select

from controller.store import password_rules, staff
from controller.store.db import make_engine, session_factory, upgrade_database
from controller.errors import InvalidInput, NotFound
from controller.store.models import AdminAccount, Event

CHEAP = staff.make_hasher(profiles.CHEAPEST)
GOOD = "violet-harbour-ninety"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def session(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'kunci.db'}")
    upgrade_database(engine)
    with session_factory(engine)() as s:
        yield s
    engine.dispose()


def events(session, type_: str) -> list[Event]:
    return list(session.scalars(select(Event).where(Event.type == type_).order_by(Event.id)))


@pytest.mark.parametrize(
    "password, problem",
    [
        ("short1!", "at least 12"),
        ("elevenchars", "at least 12"),
        ("x" * 1025, "at most 1024"),
        ("aaaaaaaaaaaaaaa", "one character"),
        ("abcabcabcabcabc", "short piece repeated"),
        ("password1234", "common passwords"),
        ("PassWord1234", "common passwords"),
        ("iloveyouforever", "common passwords"),
        ("qwertyuiopasdfgh", "keyboard"),
        ("2345678901234", "keyboard"),
        ("zyxwvutsrqponm", "keyboard"),
        ("2wsx3edc4rfv5tgb", "keyboard"),
        ("my-alice-secret-phrase", "username"),
        ("MY-ALICE-SECRET-PHRASE", "username"),
    ],
)
def test_bad_passwords_are_refused_with_a_reason(password: str, problem: str) -> None:
    problems = password_rules.check_password(password, "alice")
    assert any(problem in p for p in problems), problems
    assert all(password not in p for p in problems)  # never echo the password


@pytest.mark.parametrize(
    "password",
    [
        GOOD,
        "correct horse battery",  # spaces are fine
        "Ünïcödé pässwörd ✓ 12",
        "a" * 20 + "b" * 44 + "c",  # 65 characters: long passwords accepted
        "x9" + "long passphrase " * 60,  # ~960 characters
    ],
)
def test_good_passwords_pass(password: str) -> None:
    assert password_rules.check_password(password, "alice") == []


def test_blocklist_ships_hundreds_of_long_entries() -> None:
    entries = password_rules.common_passwords()
    assert len(entries) >= 300
    assert all(len(e) >= password_rules.PASSWORD_MIN_LENGTH for e in entries)


def test_add_account_hashes_with_argon2id_and_records_event(session) -> None:
    account = staff.add_account(session, "alice", GOOD, "admin", "cli", hasher=CHEAP)
    session.commit()
    assert account.password_hash.startswith("$argon2id$")
    assert GOOD not in account.password_hash
    [ev] = events(session, "admin.account_added")
    assert ev.actor == "cli" and GOOD not in (ev.detail or "")


def test_default_parameters_are_the_library_default() -> None:
    assert staff.ARGON2_PARAMETERS == profiles.get_default_parameters()


@pytest.mark.parametrize("username", ["A", "x", "Alice", "al ice", "a" * 33, "al\nice", "ali;ce", ""])
def test_bad_usernames_refused(session, username: str) -> None:
    with pytest.raises(InvalidInput):
        staff.add_account(session, username, GOOD, "admin", "cli", hasher=CHEAP)
    assert session.scalars(select(AdminAccount)).all() == []


def test_duplicate_username_and_bad_role_refused(session) -> None:
    staff.add_account(session, "alice", GOOD, "admin", "cli", hasher=CHEAP)
    with pytest.raises(InvalidInput, match="already exists"):
        staff.add_account(session, "alice", GOOD + "x", "auditor", "cli", hasher=CHEAP)
    with pytest.raises(InvalidInput, match="role"):
        staff.add_account(session, "bob", GOOD, "root", "cli", hasher=CHEAP)


def test_weak_password_refused_and_nothing_stored(session) -> None:
    with pytest.raises(InvalidInput, match="at least 12"):
        staff.add_account(session, "alice", "short", "admin", "cli", hasher=CHEAP)
    assert session.scalars(select(AdminAccount)).all() == []


def test_no_truncation_long_password_differs_in_last_char(session) -> None:
    long_pw = "q7 long passphrase " * 10  # 190 characters
    staff.add_account(session, "alice", long_pw + "A", "admin", "cli", hasher=CHEAP)
    assert staff.authenticate(session, "alice", long_pw + "B", NOW, hasher=CHEAP) is None
    assert staff.authenticate(session, "alice", long_pw + "A", NOW, hasher=CHEAP) is not None


def test_authenticate_right_wrong_unknown(session, monkeypatch) -> None:
    staff.add_account(session, "alice", GOOD, "admin", "cli", hasher=CHEAP)
    verified: list[str] = []
    real_verify = PasswordHasher.verify

    def counting_verify(self, hash_, password):
        verified.append(hash_)
        return real_verify(self, hash_, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting_verify)
    assert staff.authenticate(session, "alice", GOOD, NOW, hasher=CHEAP).username == "alice"
    wrong = staff.authenticate(session, "alice", "nope-nope-nope", NOW, hasher=CHEAP)
    unknown = staff.authenticate(session, "mallory", GOOD, NOW, hasher=CHEAP)
    assert wrong is None and unknown is None
    # The unknown account costs one argon2 verification too (T6.3).
    assert len(verified) == 3
    assert len(events(session, "admin.login")) == 1
    failed = events(session, "admin.login_failed")
    assert [e.actor for e in failed] == ["alice", "mallory"]
    assert all(GOOD not in (e.detail or "") for e in failed)


def test_hostile_username_at_login_is_not_recorded_as_actor(session) -> None:
    assert staff.authenticate(session, "x\n2025 GRANT admin", GOOD, NOW, hasher=CHEAP) is None
    [ev] = events(session, "admin.login_failed")
    assert ev.actor is None


def test_lock_after_ten_failures_then_unlock_after_lock_minutes(session) -> None:
    staff.add_account(session, "alice", GOOD, "admin", "cli", hasher=CHEAP)
    for _ in range(9):
        assert staff.authenticate(session, "alice", "wrong-password-x", NOW, hasher=CHEAP) is None
    assert staff.authenticate(session, "alice", GOOD, NOW, hasher=CHEAP) is not None  # 9 failures: still open
    for _ in range(10):
        staff.authenticate(session, "alice", "wrong-password-x", NOW, hasher=CHEAP)
    assert len(events(session, "admin.account_locked")) == 1
    # Locked: even the right password fails, for 30 minutes.
    assert staff.authenticate(session, "alice", GOOD, NOW + timedelta(minutes=29), hasher=CHEAP) is None
    assert staff.authenticate(session, "alice", GOOD, NOW + timedelta(minutes=31), hasher=CHEAP) is not None


def test_over_long_password_fails_without_error(session) -> None:
    staff.add_account(session, "alice", GOOD, "admin", "cli", hasher=CHEAP)
    assert staff.authenticate(session, "alice", GOOD + "x" * 5000, NOW, hasher=CHEAP) is None
    assert staff.verify_password(staff.get_account(session, "alice"), GOOD, hasher=CHEAP)


def test_rehash_on_login_when_parameters_change(session) -> None:
    staff.add_account(session, "alice", GOOD, "admin", "cli", hasher=CHEAP)
    stronger = staff.make_hasher(
        profiles.Parameters(
            type=profiles.CHEAPEST.type, version=19, salt_len=16, hash_len=32,
            time_cost=2, memory_cost=64, parallelism=1,
        )
    )
    account = staff.authenticate(session, "alice", GOOD, NOW, hasher=stronger)
    assert account is not None and "t=2" in account.password_hash
    assert staff.authenticate(session, "alice", GOOD, NOW, hasher=stronger) is not None


def test_changes_bump_session_version(session) -> None:
    account = staff.add_account(session, "alice", GOOD, "admin", "cli", hasher=CHEAP)
    versions = [account.session_version]
    staff.change_password(session, "alice", "another-good-phrase-7", "alice", NOW, hasher=CHEAP)
    versions.append(account.session_version)
    staff.set_role(session, "alice", "auditor", "bob")
    versions.append(account.session_version)
    staff.set_active(session, "alice", False, "bob")
    versions.append(account.session_version)
    assert versions == sorted(set(versions)) and len(versions) == 4
    assert staff.authenticate(session, "alice", "another-good-phrase-7", NOW, hasher=CHEAP) is None  # inactive
    staff.set_active(session, "alice", True, "bob")
    assert staff.authenticate(session, "alice", "another-good-phrase-7", NOW, hasher=CHEAP).role == "auditor"
    kinds = [e.type for e in session.scalars(select(Event).order_by(Event.id))]
    for kind in ("admin.password_changed", "admin.role_changed", "admin.account_disabled", "admin.account_enabled"):
        assert kind in kinds


def test_change_password_enforces_rules_and_unknown_account(session) -> None:
    staff.add_account(session, "alice", GOOD, "admin", "cli", hasher=CHEAP)
    with pytest.raises(InvalidInput):
        staff.change_password(session, "alice", "password1234", "alice", NOW, hasher=CHEAP)
    with pytest.raises(NotFound):
        staff.set_role(session, "nobody", "admin", "cli")


def test_list_accounts_sorted(session) -> None:
    staff.add_account(session, "zed", GOOD, "auditor", "cli", hasher=CHEAP)
    staff.add_account(session, "amy", GOOD, "admin", "cli", hasher=CHEAP)
    assert [a.username for a in staff.list_accounts(session)] == ["amy", "zed"]
