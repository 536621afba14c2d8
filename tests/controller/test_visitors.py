"""Visitors on the real daemon, stepped on an injected clock (tests/controller/stepped.py; issue 13 item 5):
a visit that ends at an instant, the escort group within ``door.two_person_window_seconds``, and the
``visitor.add`` operation's sealed event. Visitors are added through the running daemon (its wall clock is
the injected one), as ``kunci visitor add`` does."""

from __future__ import annotations

from datetime import timedelta

import pytest

from controller.control import changes
from controller.errors import InvalidInput, NotFound
from tests.controller.daemon_harness import add_person, events, last_event_id, matching
from tests.controller.stepped import TICK_SECONDS, SteppedDaemon, stepped_config

ACTOR = "cli:test"
WINDOW = 30.0


def visitor(door: SteppedDaemon, **params) -> dict:
    return door.command("admin", op="visitor.add", actor=ACTOR, params=params)


def reasons(datadir, code: str, mark: int = 0) -> list[str]:
    return [r["reason"] or "granted" for r in events(datadir, mark)
            if r["user"] == code and r["type"] in ("access.granted", "access.denied")]


def test_a_visitor_opens_within_the_visit_and_is_refused_expired_after_it(daemon_datadir):
    config = stepped_config()
    with SteppedDaemon(daemon_datadir, config) as door:
        added = visitor(door, name="Vic", hours=2)
        door.type(added["pin"] + "#", gap=TICK_SECONDS)
        assert reasons(daemon_datadir, added["code"]) == ["granted"] and door.relay_on
        door.clock.jump_wall(timedelta(hours=2))  # the visit has just ended
        door.advance(door.config.door.unlock_seconds + 1.0)
        door.type(added["pin"] + "#", gap=TICK_SECONDS)
        assert reasons(daemon_datadir, added["code"]) == ["granted", "expired"] and not door.relay_on
    event, = matching(events(daemon_datadir), "admin.visitor_added")
    assert event["user"] == added["code"] and event["actor"] == ACTOR and event["seq"] is not None
    assert event["detail"] == {"hours": 2, "escort_group": None}


def test_an_escorted_visitor_opens_only_after_a_member_of_the_group_within_the_window(daemon_datadir):
    config = stepped_config(door={"two_person_window_seconds": WINDOW})
    changes.apply(daemon_datadir, "group.add", {"name": "hosts"}, actor=ACTOR, config=config)
    host = add_person(daemon_datadir, config, name="Host", group="hosts")
    other = add_person(daemon_datadir, config, name="Other")
    with SteppedDaemon(daemon_datadir, config) as door:
        guest = visitor(door, name="Guest", days=1, escort_group="hosts")
        code = guest["code"]
        door.type(guest["pin"] + "#", gap=TICK_SECONDS)  # alone
        assert reasons(daemon_datadir, code) == ["escort_required"] and not door.relay_on
        assert not matching(events(daemon_datadir), "lockout.started")  # a valid credential is no failure

        door.type(other.pin + "#", gap=TICK_SECONDS)  # someone, but not of the escort group
        door.advance(door.config.door.unlock_seconds + 1.0)
        door.type(guest["pin"] + "#", gap=TICK_SECONDS)
        assert reasons(daemon_datadir, code) == ["escort_required"] * 2

        door.type(host.pin + "#", gap=TICK_SECONDS)  # the host opens for themself...
        assert matching(events(daemon_datadir), "access.granted", user=host.code)
        door.advance(door.config.door.unlock_seconds + 1.0)
        door.type(guest["pin"] + "#", gap=TICK_SECONDS)  # ...and the guest follows within the window
        assert reasons(daemon_datadir, code) == ["escort_required"] * 2 + ["granted"] and door.relay_on

        door.advance(door.config.door.unlock_seconds + 1.0)
        door.type(host.pin + "#", gap=TICK_SECONDS)
        door.advance(WINDOW + 1.0)  # the host's presentation is older than the window
        mark = last_event_id(daemon_datadir)
        door.type(guest["pin"] + "#", gap=TICK_SECONDS)
        assert reasons(daemon_datadir, code, mark) == ["escort_required"] and not door.relay_on


def test_a_visitor_never_escorts_another(daemon_datadir):
    config = stepped_config(door={"two_person_window_seconds": WINDOW})
    changes.apply(daemon_datadir, "group.add", {"name": "hosts"}, actor=ACTOR, config=config)
    with SteppedDaemon(daemon_datadir, config) as door:
        member = visitor(door, hours=1, group="hosts")  # a visitor in the escort group itself
        guest = visitor(door, hours=1, escort_group="hosts")
        door.type(member["pin"] + "#", gap=TICK_SECONDS)
        door.advance(door.config.door.unlock_seconds + 1.0)
        door.type(guest["pin"] + "#", gap=TICK_SECONDS)
        assert reasons(daemon_datadir, guest["code"]) == ["escort_required"]


@pytest.mark.parametrize(("params", "error"), [
    ({"hours": 1, "days": 1}, InvalidInput),
    ({}, InvalidInput),
    ({"days": 31}, InvalidInput),
    ({"hours": 0}, InvalidInput),
    ({"hours": 24 * 30 + 1}, InvalidInput),
    ({"hours": 1, "escort_group": "nobody"}, NotFound),
    ({"hours": 1, "colour": "red"}, InvalidInput),
])
def test_visitor_add_refuses_bad_lengths_and_unknown_groups(daemon_datadir, params, error):
    with SteppedDaemon(daemon_datadir, stepped_config()) as door:
        with pytest.raises(error):
            visitor(door, **params)
        assert not matching(events(daemon_datadir), "admin.visitor_added")
