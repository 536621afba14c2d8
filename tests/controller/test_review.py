"""The access review (controller/store/review.py, review.* admin operations): last use from the sealed
entry log, the three lists at their thresholds (injected dates, never the real clock), sign-off and
automatic suspension as sealed events through the one writer."""

from __future__ import annotations

import dataclasses
from datetime import UTC as UTC_TZ
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from controller.config.schema import ReviewConfig
from controller.control import changes
from controller.control.client import DaemonError
from controller.core.vocabulary import EventType
from controller.errors import PolicyRefused
from controller.store import audit, keys
from controller.store import review as access_review
from tests.controller.daemon_harness import add_person, events, execute, fast_config, matching, open_session

TODAY = date(2026, 6, 30)
UTC = ZoneInfo("UTC")
SETTINGS = ReviewConfig(dormant_days=90, agreement_max_age_days=365, auto_suspend_dormant_days=120)


def days_ago(n: int) -> datetime:
    return datetime.combine(TODAY - timedelta(days=n), datetime.min.time(), tzinfo=UTC_TZ) + timedelta(hours=9)


def added(datadir, code: str, n: int) -> None:
    execute(datadir, "UPDATE users SET created_at = ? WHERE code = ?",
            (days_ago(n).strftime("%Y-%m-%dT%H:%M:%S.000000Z"), code))


def grant(datadir, code: str, method: str, n: int) -> None:
    """An access.granted event n days before TODAY, sealed into the chain."""
    with open_session(datadir) as session:
        audit.seal_as_written(session, keys.load_audit_key(datadir))
        with session.begin():
            audit.record(session, EventType.ACCESS_GRANTED, method=method, user=code, door="main", time=days_ago(n))
        session.bind.dispose()


def review_of(datadir, settings: ReviewConfig = SETTINGS) -> access_review.Review:
    with open_session(datadir) as session:
        result = access_review.build(access_review.usage(session), settings, TODAY, UTC)
        session.bind.dispose()
    return result


def test_last_use_comes_from_the_sealed_log_per_credential(daemon_datadir) -> None:
    config = fast_config()
    a = add_person(daemon_datadir, config).code
    grant(daemon_datadir, a, "pin", 200)
    grant(daemon_datadir, a, "pin", 10)
    grant(daemon_datadir, a, "finger", 50)  # a finger grant does not use the PIN
    grant(daemon_datadir, a, "pin+finger", 30)
    with open_session(daemon_datadir) as session:
        person = access_review.person_usage(session, a)
        session.bind.dispose()
    assert person.pin_last_used.startswith((TODAY - timedelta(days=10)).isoformat())
    assert person.finger_last_used.startswith((TODAY - timedelta(days=30)).isoformat())  # pin+finger counts too
    assert person.credentials() == [("pin", person.pin_last_used)]  # no finger enrolled: only the PIN is held


def test_dormant_old_agreement_and_expired_lists_at_their_thresholds(daemon_datadir) -> None:
    config = fast_config()
    add = lambda **f: add_person(daemon_datadir, config, **f).code
    used_90, used_89, never_90, never_89 = add(), add(), add(), add()
    grant(daemon_datadir, used_90, "pin", 90)
    grant(daemon_datadir, used_89, "pin", 89)
    for code in (used_90, used_89):
        added(daemon_datadir, code, 1000)
    added(daemon_datadir, never_90, 90)
    added(daemon_datadir, never_89, 89)
    old = add(agreement_signed_on=TODAY - timedelta(days=366))
    fresh = add(agreement_signed_on=TODAY - timedelta(days=365))
    ended = add(valid_until=TODAY - timedelta(days=1))
    last_day = add(valid_until=TODAY)
    for code in (old, fresh, ended, last_day):
        grant(daemon_datadir, code, "pin", 0)
    suspended = add(valid_until=TODAY - timedelta(days=5))
    changes.apply(daemon_datadir, "user.set_status", {"user": suspended, "status": "suspended"}, config=config)
    visitor = changes.apply(daemon_datadir, "visitor.add", {"name": "Vic", "hours": 2}, config=config)["code"]

    review = review_of(daemon_datadir)
    assert {(r["code"], r["never_used"], r["idle_days"]) for r in review.dormant} == {
        (used_90, False, 90), (never_90, True, 90)}
    agreements = {r["code"] for r in review.old_agreements}
    assert old in agreements and fresh not in agreements
    assert visitor not in agreements and visitor not in {r["code"] for r in review.dormant}  # staff only
    assert [r["code"] for r in review.expired] == [ended]  # last_day still valid; the suspended one is not active
    assert review.counts() == {"dormant_credentials": 2, "old_agreements": len(review.old_agreements),
                               "expired_active": 1}
    assert "name" not in review.dormant[0]  # codes only unless names are asked for


def test_sign_off_is_a_sealed_event_with_the_actor_counts_and_note(start_daemon, daemon_datadir) -> None:
    daemon = start_daemon()
    counts = {"dormant_credentials": 3, "old_agreements": 1, "expired_active": 0}
    daemon.call("admin", op="review.sign_off", params={"note": "Q2 review, all justified", "counts": counts})
    signed, = matching(events(daemon_datadir), "admin.review_signed_off")
    assert signed["seq"] is not None and signed["actor"] == changes.local_account()
    assert signed["detail"] == {**counts, "note": "Q2 review, all justified", "dormant_days": 90,
                                "agreement_max_age_days": 365}
    with pytest.raises(DaemonError, match="counts must give"):
        daemon.call("admin", op="review.sign_off", params={"note": "x", "counts": {"dormant_credentials": -1}})
    with open_session(daemon_datadir) as session:
        last = access_review.last_sign_off(session)
        session.bind.dispose()
    assert (last["actor"], last["seq"]) == (signed["actor"], signed["seq"])


def test_auto_suspension_suspends_only_the_dormant_and_logs_each(start_daemon, daemon_datadir) -> None:
    config = dataclasses.replace(fast_config(), review=ReviewConfig(auto_suspend_dormant_days=30))
    dormant = add_person(daemon_datadir, config).code
    active = add_person(daemon_datadir, config)
    added(daemon_datadir, dormant, 5000)  # added long ago, never used
    added(daemon_datadir, active.code, 5000)
    daemon = start_daemon(config)
    daemon.press(active.pin + "#")  # a real use now: not dormant
    from tests.controller.daemon_harness import wait_event
    wait_event(daemon_datadir, "access.granted")
    with open_session(daemon_datadir) as session:
        today = datetime.now(ZoneInfo(config.site.timezone)).date()
        review = access_review.build(access_review.usage(session), config.review, today, UTC)
        session.bind.dispose()
    assert review.suspension_candidates == [dormant]
    result = daemon.call("admin", op="review.apply_suspensions", params={"users": [dormant, active.code]})
    assert result == {"suspended": [dormant], "skipped": [active.code]}  # the daemon checks each again
    suspended, = matching(events(daemon_datadir), "admin.user_suspended")
    assert (suspended["user"], suspended["detail"]) == (dormant, {"from": "active", "reason": "dormant"})
    assert suspended["seq"] is not None


def test_auto_suspension_is_refused_while_it_is_off(daemon_datadir) -> None:
    code = add_person(daemon_datadir, fast_config()).code
    with pytest.raises(PolicyRefused, match="automatic suspension is off"):
        changes.apply(daemon_datadir, "review.apply_suspensions", {"users": [code]}, config=fast_config())
