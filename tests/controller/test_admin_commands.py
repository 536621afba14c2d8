"""Admin changes go through the one writer: the daemon's ``admin`` command, or the same operations in
process under the single-writer lock when no daemon runs (controller/store/admin_ops.py, controller/control/changes.py)."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from controller.control import changes

from controller.store import models, staff
from controller.control.client import DaemonError
from controller.errors import DaemonUnavailable, InvalidInput, NotFound
from tests.controller.daemon_harness import events, matching, open_session, wait_event

ME = changes.local_account()


def people_rows(datadir) -> list[tuple[str, str]]:
    with open_session(datadir) as session:
        rows = [(u.code, u.status) for u in session.scalars(select(models.User).order_by(models.User.id))]
        session.bind.dispose()
    return rows


def test_a_person_added_through_the_daemon_is_sealed_with_the_callers_account_and_opens_the_door(
        start_daemon, daemon_datadir, caplog):
    caplog.set_level(logging.DEBUG)
    daemon = start_daemon()
    result = daemon.call("admin", op="user.add", actor="mallory",  # a named actor from the CLI is ignored
                         params={"name": "Siti", "agreement_signed_on": "2026-01-02"})
    assert result["code"] == "U0001" and len(result["pin"]) == 6
    added, = matching(events(daemon_datadir), "admin.user_added")
    assert (added["user"], added["actor"]) == ("U0001", ME) and added["seq"] is not None
    assert result["pin"] not in str(events(daemon_datadir))  # never in the entry log...
    assert result["pin"] not in caplog.text  # ...nor in the daemon's own log, even at DEBUG
    daemon.press(result["pin"] + "#")
    granted = wait_event(daemon_datadir, "access.granted", after_id=added["id"])
    assert granted["user"] == "U0001"


@pytest.mark.parametrize(
    ("op", "params", "message"),
    [
        ("user.add", {"name": "A", "agreement_signed_on": "2026-13-01"}, "agreement_signed_on must be a date"),
        ("user.add", {"name": "A", "agreement_signed_on": "2026-01-02", "group": "Nobody"}, "no access group"),
        ("user.add", {"name": "A"}, "confidentiality agreement"),
        ("user.add", {"name": "A", "agreement_signed_on": "2026-01-02", "colour": "red"}, "unknown field"),
        ("user.set_status", {"user": "U0042", "status": "revoked"}, "no person with code U0042"),
        ("staff.add", {"username": "bob", "role": "admin", "password_hash": "plain text"}, "argon2id hash"),
        ("event.record", {"type": "access.granted"}, "cannot be recorded"),
        ("rm -rf", {}, "unknown admin operation"),
    ],
)
def test_a_refused_change_changes_nothing_and_says_why(start_daemon, daemon_datadir, op, params, message):
    daemon = start_daemon()
    before = admin_events(daemon_datadir)
    with pytest.raises(DaemonError, match=message):
        daemon.call("admin", op=op, params=params)
    # only the admin side is compared: the door's own events (a simulated sensor reported lost on a loaded
    # machine, its alarm) may be written meanwhile and say nothing about the refused change
    assert admin_events(daemon_datadir) == before


def admin_events(datadir) -> list[dict]:
    return [e for e in events(datadir) if e["type"].startswith("admin.")]
    assert people_rows(daemon_datadir) == []
    assert daemon.status()["door"] == "locked"


def test_status_change_and_pin_reset_through_the_daemon(start_daemon, daemon_datadir):
    daemon = start_daemon()
    code = daemon.call("admin", op="user.add", params={"agreement_signed_on": "2026-01-02"})["code"]
    assert daemon.call("admin", op="user.set_status", params={"user": code, "status": "suspended"})["status"] \
        == "suspended"
    with pytest.raises(DaemonError, match="already suspended"):
        daemon.call("admin", op="user.set_status", params={"user": code, "status": "suspended"})
    first = daemon.call("admin", op="user.reset_pin", params={"user": code})["pin"]
    assert daemon.call("pin.issue", user=code)["pin"] != first  # the old command is the same operation
    kinds = [e["type"] for e in events(daemon_datadir) if e["type"].startswith("admin.")]
    assert kinds == ["admin.user_added", "admin.user_suspended", "admin.pin_reset", "admin.pin_reset"]


def test_with_no_daemon_the_cli_applies_the_same_operation_under_the_writer_lock(daemon_datadir):
    result = changes.apply(daemon_datadir, "user.add", {"agreement_signed_on": "2026-01-02"}, actor="demo")
    assert result["code"] == "U0001"
    added, = matching(events(daemon_datadir), "admin.user_added")
    assert added["actor"] == "demo" and added["seq"] == 1  # sealed in the same transaction
    with pytest.raises(NotFound):
        changes.apply(daemon_datadir, "user.set_status", {"user": "U0002", "status": "revoked"})
    with pytest.raises(InvalidInput):
        changes.apply(daemon_datadir, "group.add", {"name": ""})
    assert len(events(daemon_datadir)) == 1


def test_a_daemon_that_holds_the_lock_but_does_not_answer_blocks_in_process_changes(daemon_datadir):
    from controller.store.audit import SealerLock

    with SealerLock(daemon_datadir) as lock:
        assert lock.held
        with pytest.raises(DaemonUnavailable, match="nothing was changed"):
            changes.apply(daemon_datadir, "user.add", {"agreement_signed_on": "2026-01-02"})
    assert events(daemon_datadir) == []


def test_staff_password_is_hashed_by_the_caller_and_stored_by_the_daemon(start_daemon, daemon_datadir):
    daemon = start_daemon()
    from argon2 import profiles

    cheap = staff.make_hasher(profiles.CHEAPEST)
    good = "correct horse battery staple"
    digest = staff.hash_new_password(good, "bob", hasher=cheap)
    daemon.call("admin", op="staff.add", params={"username": "bob", "role": "auditor", "password_hash": digest})
    with open_session(daemon_datadir) as session:
        account = staff.get_account(session, "bob")
        assert staff.verify_password(account, good, hasher=cheap) and account.role == "auditor"
        session.bind.dispose()
    added, = matching(events(daemon_datadir), "admin.account_added")
    assert good not in str(added) and digest not in str(events(daemon_datadir))
