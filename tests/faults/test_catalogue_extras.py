"""Catalogue cases not covered elsewhere (docs/reliability.md T1.9, T2.7, T3.2): see docs/reliability.md for the map.

* T1.9 keypad and finger at the same moment: one decision each, serialised on the loop, never more
  unlocks than grants, never past the cap.
* T2.7 timing: wrong PINs that share 5 leading digits with a valid one take as long as any other wrong PIN
  (the lookup compares HMAC digests through a UNIQUE index, not digits); a valid PIN's lookup is not
  measurably different either (generous bound: this is a statistical smoke test, the bench measures it).
* T3.2 a sensor slot that matches but belongs to nobody: denied, ``orphan_template`` alarm, and the
  reconciliation (``reload``) deletes the template.
"""

from __future__ import annotations

import statistics
import threading
import time

import pytest

from controller.store import keys, pins
from drivers.sim_sensor import PtySensorSimulator
from tests.controller.daemon_harness import (
    add_person,
    events,
    fast_config,
    last_event_id,
    matching,
    open_session,
    relay_periods,
    wait_event,
    wait_for,
)
from tests.faults.fault_helpers import count, report
from tests.faults.test_sensor_faults import ENROLLED, glass_free, person_with_finger, touch

pytestmark = pytest.mark.faults


def test_keypad_and_finger_at_the_same_time_are_serialised_one_decision_each(start_daemon, daemon_datadir):
    daemon, person = person_with_finger(start_daemon, daemon_datadir)
    mark = last_event_id(daemon_datadir)
    wait_for(lambda: glass_free(daemon), what="glass free")
    typing = threading.Thread(target=daemon.press, args=(person.pin + "#",))
    typing.start()
    time.sleep(0.3)  # mid-PIN
    daemon.call("sim.finger", label=ENROLLED, hold_seconds=0.6)
    typing.join(30)
    wait_for(lambda: len(matching(events(daemon_datadir, mark), "access.granted")) == 2, what="two decisions")
    wait_for(lambda: not daemon.relay_pin.state, what="relay off")
    daemon.drain()
    rows = events(daemon_datadir, mark)
    decisions = [r for r in rows if r["type"].startswith("access.")]
    assert sorted((r["type"], r["method"], r["user"]) for r in decisions) == [
        ("access.granted", "finger", person.code), ("access.granted", "pin", person.code)]
    periods = relay_periods(daemon.relay_pin)
    assert 1 <= len(periods) <= 2  # the second grant restarts the timer of the first, or comes after it
    assert all(d is not None and d <= daemon.config.door.max_unlock_seconds + 0.3 for _, d in periods)


TIMING_SAMPLES = count("KUNCI_TIMING_SAMPLES", full=1000, quick=200)


def test_pin_lookup_time_does_not_depend_on_how_close_a_wrong_pin_is(daemon_datadir):
    config = fast_config()
    people_ = [add_person(daemon_datadir, config, name=f"P{i}") for i in range(20)]
    pepper = keys.load_pepper(daemon_datadir)
    valid = people_[0].pin
    near = [valid[:-1] + str((int(valid[-1]) + k) % 10) for k in range(1, 10)]  # 5 leading digits shared
    taken = {p.pin for p in people_}
    near = [p for p in near if p not in taken]
    far = [f"{(int(valid) + 500_000 + k * 7919) % 1_000_000:06d}" for k in range(9)]
    far = [p for p in far if p not in taken]
    samples: dict[str, list[float]] = {"hit": [], "near": [], "far": []}
    with open_session(daemon_datadir) as session:
        for i in range(TIMING_SAMPLES):
            for kind, pin in (("hit", valid), ("near", near[i % len(near)]), ("far", far[i % len(far)])):
                began = time.perf_counter()
                found = pins.find_user_by_pin(session, pepper, pin)
                samples[kind].append(time.perf_counter() - began)
                assert (found is not None) == (kind == "hit")
                session.rollback()
        session.bind.dispose()
    med = {k: statistics.median(v) for k, v in samples.items()}
    # Generous bounds on a loaded test box: no usable difference, not a benchmark.
    assert abs(med["near"] - med["far"]) < max(0.0003, 0.3 * med["far"]), med
    assert abs(med["hit"] - med["far"]) < max(0.002, 1.0 * med["far"]), med
    report("PIN lookup medians over {} tries each: hit {:.3f} ms, near miss {:.3f} ms, far miss {:.3f} ms".format(
        TIMING_SAMPLES, med["hit"] * 1000, med["near"] * 1000, med["far"] * 1000))


def test_a_matched_slot_that_belongs_to_nobody_is_denied_alarmed_and_reconciled(start_daemon, daemon_datadir):
    daemon, _ = person_with_finger(start_daemon, daemon_datadir)
    sim = daemon.hw.sim.sensor
    sim.store(42, "orphan")  # written behind the daemon's back (e.g. a module enrolled elsewhere)
    mark = last_event_id(daemon_datadir)
    touch(daemon, "orphan")
    denied = wait_event(daemon_datadir, "access.denied", after_id=mark, method="finger")
    assert denied["reason"] == "unknown_credential" and denied["detail"] == {"orphan_slot": 42}
    alarms = {a["kind"] for a in daemon.status()["alarms"] if not a["cleared"]}
    assert "orphan_template" in alarms
    assert relay_periods(daemon.relay_pin) == []
    assert daemon.call("reload")["orphans_removed"] == 1
    assert 42 not in sim.templates and 7 in sim.templates
    assert isinstance(sim, PtySensorSimulator)
