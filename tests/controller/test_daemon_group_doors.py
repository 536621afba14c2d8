"""The doors a group grants, on the real daemon stepped on an injected clock (issue 16): a person whose group
lists only other doors is refused at this one as ``door_not_allowed`` (logged with their code and the door);
a group with no doors listed, or no group, opens every door, as before."""

from __future__ import annotations

import dataclasses

from controller.config import parse_config
from controller.control import changes
from tests.controller.daemon_harness import add_person, events, matching
from tests.controller.stepped import TICK_SECONDS, SteppedDaemon, stepped_config


def two_doors():
    """The stepped configuration with a second door, ``vault`` (its keypad and sensor left out)."""
    extra = parse_config({"doors": [{"name": "vault", "gpio": {"relay_pin": 4}}]}).doors
    return dataclasses.replace(stepped_config(), doors=extra)


def apply(datadir, config, op: str, **params) -> dict:
    return changes.apply(datadir, op, params, actor="cli:test", config=config)


def test_a_group_of_other_doors_is_refused_here_and_the_others_open(daemon_datadir):
    config = two_doors()
    apply(daemon_datadir, config, "group.add", name="vault_staff")
    apply(daemon_datadir, config, "group.doors", group="vault_staff", doors=["vault"])
    apply(daemon_datadir, config, "group.add", name="everywhere")
    keeper = add_person(daemon_datadir, config, name="Keeper", group="vault_staff")
    clerk = add_person(daemon_datadir, config, name="Clerk", group="everywhere")
    guest = add_person(daemon_datadir, config, name="No group")
    with SteppedDaemon(daemon_datadir, config) as door:  # the keypad is the first door's, "main"
        door.type(keeper.pin + "#", gap=TICK_SECONDS)
        refused, = matching(events(daemon_datadir), "access.denied", user=keeper.code)
        assert (refused["reason"], refused["door"]) == ("door_not_allowed", config.door.name)
        assert not door.relay_on
        for person in (clerk, guest):
            door.advance(1.0)
            door.type(person.pin + "#", gap=TICK_SECONDS)
            granted, = matching(events(daemon_datadir), "access.granted", user=person.code)
            assert granted["door"] == config.door.name
            door.advance(config.door.unlock_seconds + TICK_SECONDS)
    apply(daemon_datadir, config, "group.doors", group="vault_staff", doors=["main", "vault"])
    with SteppedDaemon(daemon_datadir, config) as door:
        door.type(keeper.pin + "#", gap=TICK_SECONDS)
        assert matching(events(daemon_datadir), "access.granted", user=keeper.code) and door.relay_on
