"""The stored vocabularies: one enum each, whose values are the public strings the database and JSON hold."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from controller.core.policy import DoorMode
from controller.core.vocabulary import (
    GUESSING_ALARM,
    PRE_SESSION_EVENTS,
    RECORDABLE_EVENTS,
    SUSPENDED_ALARM,
    AdminRole,
    AlarmKind,
    EventType,
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


def _code_strings(path: Path) -> list[tuple[int, str]]:
    """String constants of a module that are not docstrings, with their line numbers."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def test_event_types_and_alarm_kinds_are_written_through_their_enums_only() -> None:
    """Issue 11: one list of each vocabulary. Code outside controller/core/vocabulary.py names an event type
    or an alarm kind through :class:`EventType` / :class:`AlarmKind`, never as a bare string, so a typo is
    an AttributeError at import, not a new kind of event in the log."""
    repo = Path(__file__).resolve().parents[2]
    dotted = {t.value for t in EventType if "." in t.value}
    alarm_calls = ("raise_alarm", "clear_alarm")
    found = []
    for path in sorted((repo / "controller").rglob("*.py")) + sorted((repo / "webadmin").rglob("*.py")):
        if path.name == "vocabulary.py" or "migrations" in path.parts:
            continue
        found += [f"{path.relative_to(repo)}:{line} {text!r}" for line, text in _code_strings(path) if text in dotted]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in alarm_calls
                    and node.args and not isinstance(node.args[0], (ast.Attribute, ast.Subscript))):
                found.append(f"{path.relative_to(repo)}:{node.lineno} {node.func.attr} with {ast.unparse(node.args[0])}")
    assert found == []


def test_every_alarm_kind_and_event_type_is_a_documented_public_value() -> None:
    assert all(kind.value.islower() and " " not in kind.value for kind in AlarmKind)
    assert {t.split(".")[0] for t in EventType if "." in t} == {
        "access", "door", "exit", "lockdown", "lockout", "sensor", "daemon", "clock", "log", "admin", "alarm", "alert"}
    assert RECORDABLE_EVENTS < set(EventType) and PRE_SESSION_EVENTS < RECORDABLE_EVENTS
    assert set(SUSPENDED_ALARM.values()) | set(GUESSING_ALARM.values()) < set(AlarmKind)
