"""Past ``max_stale_seconds`` with ``stale_action = "deny_site_people"``: people copied down from the site are
refused with reason ``site_stale`` at every door, local people are not; with ``"alarm"`` nobody is refused."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from controller.config import parse_config
from controller.core.policy import Context, DoorMode, DoorView, Facts, Method, Reason, Subject, decide
from controller.core.vocabulary import AlarmKind
from controller.site.link import LoopSide

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


def _decide(site_person: bool, stale: bool) -> Reason:
    subject = Subject("U0100", "active", None, None, None, site=site_person)
    facts = Facts(Method.PIN, subject, DoorView("main", DoorMode.PIN_OR_FINGER), NOW, Context(UTC),
                  site_stale=stale)
    return decide(facts).reason


@pytest.mark.parametrize("site_person, stale, reason", [
    (True, True, Reason.SITE_STALE),
    (True, False, Reason.GRANTED),
    (False, True, Reason.GRANTED),  # a local person does not depend on the site
])
def test_only_site_people_are_refused_while_stale(site_person: bool, stale: bool, reason: Reason) -> None:
    assert _decide(site_person, stale) == reason


def test_a_revoked_site_person_is_still_refused_as_revoked_first() -> None:
    subject = Subject("U0100", "revoked", None, None, None, site=True)
    facts = Facts(Method.PIN, subject, DoorView("main", DoorMode.PIN), NOW, Context(UTC), site_stale=True)
    assert decide(facts).reason == Reason.REVOKED


@pytest.mark.parametrize("action, denies", [("alarm", False), ("deny_site_people", True)])
def test_the_stale_command_raises_the_alarm_and_follows_the_chosen_action(action: str, denies: bool) -> None:
    config = parse_config({"site_link": {"stale_action": action}})
    alarms: list[tuple] = []
    units = [SimpleNamespace(access=SimpleNamespace(site_stale=False)) for _ in range(2)]
    d = SimpleNamespace(config=config, units=units, journal=SimpleNamespace(
        raise_alarm=lambda kind, detail=None: alarms.append(("raised", kind)),
        clear_alarm=lambda kind: alarms.append(("cleared", kind))))
    LoopSide(d).run("site.stale", {"stale": True, "seconds": 90000})
    assert alarms == [("raised", AlarmKind.SITE_STALE)]
    assert [u.access.site_stale for u in units] == [denies, denies]
    LoopSide(d).run("site.stale", {"stale": False})
    assert alarms[-1] == ("cleared", AlarmKind.SITE_STALE) and not any(u.access.site_stale for u in units)
