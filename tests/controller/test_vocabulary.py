"""The stored vocabularies: one enum each, whose values are the public strings the database and JSON hold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from controller.core.policy import DoorMode
from controller.core.vocabulary import (
    AdminRole,
    FingerState,
    LockoutChannel,
    PersonStatus,
    values,
)
from controller.store import models
from controller.store.db import make_engine, session_factory, upgrade_database


@pytest.mark.parametrize(
    ("vocabulary", "public"),
    [
        (PersonStatus, ("active", "suspended", "revoked")),
        (AdminRole, ("admin", "auditor")),
        (FingerState, ("pending", "active")),
        (LockoutChannel, ("keypad", "finger")),
        (DoorMode, ("pin", "finger", "pin_or_finger", "pin_and_finger")),
    ],
)
def test_the_values_are_the_public_contract(vocabulary: type, public: tuple[str, ...]) -> None:
    assert values(vocabulary) == public
    assert all(type(v) is str for v in values(vocabulary))  # plain text for CHECKs, argparse and forms


def test_the_model_sets_come_from_the_enums() -> None:
    assert models.USER_STATUSES == values(PersonStatus)
    assert models.DOOR_MODES == values(DoorMode)
    assert models.ADMIN_ROLES == values(AdminRole)
    assert models.FINGER_STATES == values(FingerState)
    assert models.LOCKOUT_NAMES == values(LockoutChannel)


def test_a_member_is_stored_and_written_as_its_plain_value(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'kunci.db'}")
    upgrade_database(engine)
    try:
        with session_factory(engine)() as session, session.begin():
            session.add(models.User(code="U0101", status=PersonStatus.SUSPENDED))
        with engine.connect() as conn:  # what the CHECK constraint saw and the file holds
            stored = conn.exec_driver_sql("SELECT status, typeof(status) FROM users WHERE code = 'U0101'").one()
        with session_factory(engine)() as session:
            assert session.scalar(select(models.User.status).where(models.User.code == "U0101")) == "suspended"
    finally:
        engine.dispose()
    assert tuple(stored) == ("suspended", "text")
    assert json.dumps({"status": PersonStatus.SUSPENDED}) == '{"status": "suspended"}'


def test_the_events_a_client_may_record_are_the_documented_ones() -> None:
    from controller.control import actors
    from controller.store import admin_ops

    assert admin_ops.RECORDABLE_EVENT_TYPES == {
        "admin.login", "admin.login_failed", "admin.logout", "admin.account_locked", "admin.log_exported",
        "admin.unlock_refused", "admin.sessions_ended", "admin.password_check_failed", "admin.backup_created",
        "admin.forbidden", "admin.people_exported",
    }
    assert actors.PRE_SESSION_EVENTS == {"admin.login", "admin.login_failed", "admin.account_locked"}
    assert "admin.user_added" not in admin_ops.RECORDABLE_EVENT_TYPES  # a change records its own event
