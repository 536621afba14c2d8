"""The door daemon with the fingerprint sensor: enrolment over the control socket, identify, deletion,
start-up reconciliation, two-factor mode, and a sensor that goes mute or sends garbage.

The sensor is the pty simulator spoken to by the real pyfingerprint adapter (``kunci sim finger``
puts a labelled finger on its glass; the same label is the same finger).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import select

from controller.control import changes
from controller.store import models, people
from controller.control.client import DaemonError
from drivers.sim_sensor import SEARCH, PtySensorSimulator
from tests.controller.daemon_harness import (
    DaemonRunner,
    Person,
    add_person,
    door_row_mode,
    events,
    execute,
    fast_config,
    last_event_id,
    matching,
    open_session,
    relay_periods,
    wait_event,
    wait_for,
)

ENROLL_STEPS = ["place_finger", "lift_finger", "place_again", "storing"]


def glass_free(daemon: DaemonRunner) -> bool:
    """No finger on the glass and the watcher has seen it lifted (it reads a finger once per touch)."""
    sensor, watcher = daemon.hw.sim.sensor, daemon.hw.watcher
    return sensor._finger is None and not watcher._awaiting_lift  # noqa: SLF001 - no public signal


def enroll(daemon: DaemonRunner, person: Person, label: str) -> tuple[dict[str, Any], list[str]]:
    """Enrol finger ``label`` for ``person`` as ``kunci finger enroll`` does, touching the sensor when asked.

    Returns the result and the progress steps seen, in order.
    """
    steps: list[str] = []
    wait_for(lambda: glass_free(daemon), what="the glass to be free")

    def on_progress(line: dict[str, Any]) -> None:
        steps.append(line["progress"])
        if line["progress"] in ("place_finger", "place_again"):
            # From another connection, like a second terminal running `kunci sim finger L`.
            threading.Thread(target=daemon.call, args=("sim.finger",),
                             kwargs={"label": label, "hold_seconds": 0.5}).start()

    result = daemon.client(timeout=60).stream("finger.enroll", on_progress, user=person.code, actor="tester")
    return result, steps


def touch(daemon: DaemonRunner, label: str) -> None:
    """Touch the sensor with finger ``label`` for 0.5 s (``kunci sim finger``), once the previous touch is over."""
    wait_for(lambda: glass_free(daemon), what="the glass to be free")
    daemon.call("sim.finger", label=label, hold_seconds=0.5)


def finger_rows(daemon: DaemonRunner) -> list[tuple[str, int, str]]:
    with open_session(daemon.datadir) as session:
        rows = [(f.user.code, f.slot, f.state) for f in session.scalars(select(models.FingerCredential))]
        session.bind.dispose()
    return rows


@pytest.fixture
def daemon(start_daemon) -> DaemonRunner:
    runner = start_daemon()
    wait_for(lambda: runner.status()["sensor"]["state"] == "ok", what="sensor ok")
    return runner


def test_enrolled_finger_opens_the_door_and_an_unknown_finger_is_denied(daemon):
    person = add_person(daemon.datadir, daemon.config)
    result, steps = enroll(daemon, person, "L")
    assert steps == ENROLL_STEPS
    slot = result["slot"]
    assert finger_rows(daemon) == [(person.code, slot, "active")]
    assert slot in daemon.hw.sim.sensor.templates
    enrolled = wait_event(daemon.datadir, "admin.finger_enrolled", user=person.code)

    touch(daemon, "L")
    granted = wait_event(daemon.datadir, "access.granted", after_id=enrolled["id"])
    assert (granted["method"], granted["user"]) == ("finger", person.code)
    assert granted["score"] == PtySensorSimulator.expected_score("L")
    wait_for(lambda: len(relay_periods(daemon.relay_pin)) == 1, what="one unlock")

    touch(daemon, "Z")
    denied = wait_event(daemon.datadir, "access.denied", after_id=granted["id"])
    assert (denied["reason"], denied["method"], denied["user"]) == ("unknown_credential", "finger", None)
    daemon.drain()
    assert len(relay_periods(daemon.relay_pin)) == 1


def test_a_finger_already_enrolled_is_refused_and_leaves_no_record(daemon):
    first = add_person(daemon.datadir, daemon.config, name="First")
    second = add_person(daemon.datadir, daemon.config, name="Second")
    enroll(daemon, first, "L")
    with pytest.raises(DaemonError, match="already enrolled"):
        enroll(daemon, second, "L")
    assert [row[0] for row in finger_rows(daemon)] == [first.code]
    assert len(daemon.hw.sim.sensor.templates) == 1
    assert matching(events(daemon.datadir), "admin.finger_enrolled", user=second.code) == []


def test_deleted_finger_no_longer_opens_and_its_template_is_erased(daemon):
    person = add_person(daemon.datadir, daemon.config)
    slot = enroll(daemon, person, "L")[0]["slot"]
    result = daemon.call("finger.delete", user=person.code, actor="tester")
    assert result == {"deleted": 1}
    assert slot not in daemon.hw.sim.sensor.templates
    assert finger_rows(daemon) == []
    deleted = wait_event(daemon.datadir, "admin.finger_deleted", user=person.code)
    touch(daemon, "L")
    denied = wait_event(daemon.datadir, "access.denied", after_id=deleted["id"])
    assert (denied["reason"], denied["method"]) == ("unknown_credential", "finger")
    assert relay_periods(daemon.relay_pin) == []


def test_revoking_a_person_elsewhere_refuses_their_finger_at_once(daemon):
    person = add_person(daemon.datadir, daemon.config)
    enroll(daemon, person, "L")
    touch(daemon, "L")
    granted = wait_event(daemon.datadir, "access.granted", user=person.code)
    changes.apply(daemon.datadir, "user.set_status", {"user": person.code, "status": "revoked"})
    touch(daemon, "L")
    denied = wait_event(daemon.datadir, "access.denied", after_id=granted["id"])
    assert (denied["reason"], denied["user"]) == ("revoked", person.code)
    assert len(relay_periods(daemon.relay_pin)) == 1


def test_an_interrupted_enrolment_is_reconciled_at_start(start_daemon, daemon_datadir):
    """Two-phase enrolment: a ``pending`` row from a crash and its template are both removed at start-up."""
    config = fast_config()
    person = add_person(daemon_datadir, config)
    with open_session(daemon_datadir) as session:
        user_id = people.get_user(session, person.code).id
        session.bind.dispose()
    execute(daemon_datadir, "INSERT INTO finger_credentials (user_id, slot, state, created_at) "
                            "VALUES (?, 5, 'pending', '2026-01-01T00:00:00.000000Z')", (user_id,))
    flash = PtySensorSimulator(flash_dir=daemon_datadir.sim_dir / "sensor")
    flash.store(5, "P")  # the crash came after the sensor stored the template

    daemon = start_daemon(config)  # reconciles just after start-up, off the door loop
    reconciled = wait_event(daemon_datadir, "sensor.reconciled")
    assert reconciled["detail"]["removed"] == 1
    assert finger_rows(daemon) == []
    assert 5 not in daemon.hw.sim.sensor.templates
    touch(daemon, "P")
    denied = wait_event(daemon_datadir, "access.denied", after_id=reconciled["id"])
    assert denied["reason"] == "unknown_credential"
    assert relay_periods(daemon.relay_pin) == []


# ------------------------------------------------------------------------------------ two factors


@pytest.fixture
def two_factor(daemon) -> tuple[DaemonRunner, Person, Person]:
    a = add_person(daemon.datadir, daemon.config, name="A")
    b = add_person(daemon.datadir, daemon.config, name="B")
    enroll(daemon, a, "LA")
    enroll(daemon, b, "LB")
    door_row_mode(daemon.datadir, "pin_and_finger")
    return daemon, a, b


def test_pin_alone_in_two_factor_mode_is_denied_after_the_timeout(two_factor):
    daemon, a, _ = two_factor
    mark = last_event_id(daemon.datadir)
    daemon.press(a.pin + "#")
    denied = wait_event(daemon.datadir, "access.denied", after_id=mark)
    assert (denied["reason"], denied["method"], denied["user"]) == ("second_factor_required", "pin", a.code)
    assert matching(events(daemon.datadir, mark), "access.granted") == []
    assert relay_periods(daemon.relay_pin) == []


def test_pin_and_the_same_persons_finger_open_the_door(two_factor):
    daemon, a, _ = two_factor
    mark = last_event_id(daemon.datadir)
    daemon.press(a.pin + "#")
    daemon.drain()
    assert relay_periods(daemon.relay_pin) == []  # one factor is not enough
    touch(daemon, "LA")
    granted = wait_event(daemon.datadir, "access.granted", after_id=mark)
    assert (granted["method"], granted["user"]) == ("pin+finger", a.code)
    assert granted["score"] == PtySensorSimulator.expected_score("LA")
    wait_for(lambda: len(relay_periods(daemon.relay_pin)) == 1, what="unlock")


def test_pin_of_one_person_and_finger_of_another_are_denied(two_factor):
    daemon, a, _ = two_factor
    mark = last_event_id(daemon.datadir)
    daemon.press(a.pin + "#")
    daemon.drain()
    touch(daemon, "LB")
    denied = wait_event(daemon.datadir, "access.denied", after_id=mark)
    assert denied["method"] == "pin+finger"
    assert denied["reason"] == "unknown_credential"
    daemon.drain()
    assert matching(events(daemon.datadir, mark), "access.granted") == []
    assert relay_periods(daemon.relay_pin) == []


# ------------------------------------------------------------------------------------ sensor faults


@pytest.mark.faults
def test_a_mute_sensor_is_lost_the_keypad_keeps_working_and_restore_never_unlocks(start_daemon, daemon_datadir):
    # The shipped command timeout (3 s); how fast a dead sensor is detected is the driver's (test_fingerprint).
    daemon = start_daemon(fast_config(sensor={"command_timeout_seconds": 3.0}))
    wait_for(lambda: daemon.status()["sensor"]["state"] == "ok", what="sensor ok")
    person = add_person(daemon_datadir, daemon.config)
    mark = last_event_id(daemon_datadir)
    daemon.hw.sim.sensor.mute = True
    lost = wait_event(daemon_datadir, "sensor.lost", after_id=mark, timeout=30.0)
    assert daemon.status()["sensor"]["state"] == "lost"

    daemon.press(person.pin + "#")
    wait_event(daemon_datadir, "access.granted", after_id=lost["id"], method="pin")
    wait_for(lambda: relay_periods(daemon.relay_pin) and relay_periods(daemon.relay_pin)[-1][1] is not None,
             what="relay off again")

    daemon.hw.sim.sensor.mute = False
    restored = wait_event(daemon_datadir, "sensor.restored", after_id=lost["id"], timeout=15.0)
    wait_for(lambda: daemon.status()["sensor"]["state"] == "ok", what="sensor ok")
    daemon.drain()
    assert len(relay_periods(daemon.relay_pin)) == 1  # only the PIN's unlock; restoring opened nothing
    assert matching(events(daemon_datadir, restored["id"]), "access.granted") == []
    assert len(matching(events(daemon_datadir, mark), "sensor.lost")) == 1


GARBAGE = b"\x55\xaa\xef\x01\xff\xff\xff\xff\x07\x00"  # noise that starts like a packet header


@pytest.mark.faults
@pytest.mark.parametrize(
    ("label", "garbage", "corrupt"),
    [
        ("Z", GARBAGE, 0),  # an unknown finger; noise before the search reply
        ("L", b"", 2),  # the enrolled finger; the search reply and its retry both fail their checksum
        ("L", GARBAGE, 2),
    ],
    ids=["garbage-unknown-finger", "bad-checksum-enrolled-finger", "garbage-and-bad-checksum"],
)
def test_garbage_on_the_uart_during_identify_never_unlocks_and_the_daemon_keeps_working(daemon, label, garbage,
                                                                                        corrupt):
    person = add_person(daemon.datadir, daemon.config)
    enroll(daemon, person, "L")
    sensor = daemon.hw.sim.sensor
    mark = last_event_id(daemon.datadir)
    sensor.fault_on = SEARCH  # hit the identify step, not an idle "finger present?" poll
    sensor.garbage_before_next = garbage
    sensor.corrupt_next = corrupt
    sensor.clear_log()
    touch(daemon, label)
    wait_for(lambda: SEARCH in sensor.instructions(), what="the identify step to get a faulty reply")
    wait_for(lambda: glass_free(daemon), what="the glass to be free")
    daemon.drain()
    assert relay_periods(daemon.relay_pin) == []
    assert matching(events(daemon.datadir, mark), "access.granted") == []

    sensor.fault_on, sensor.garbage_before_next, sensor.corrupt_next = None, b"", 0
    wait_for(lambda: daemon.status()["sensor"]["state"] == "ok", timeout=15.0, what="sensor ok")
    touch(daemon, "L")
    wait_event(daemon.datadir, "access.granted", after_id=mark, method="finger", user=person.code, timeout=15.0)
    mark = last_event_id(daemon.datadir)
    daemon.press(person.pin + "#")
    wait_event(daemon.datadir, "access.granted", after_id=mark, method="pin")


@pytest.mark.faults
def test_a_sensor_dead_at_start_is_logged_lost_once_and_restored_once(start_daemon, daemon_datadir):
    from controller.daemon.hardware import build_hardware

    def hardware_with_a_mute_sensor(config, datadir, sink):
        hw = build_hardware(config, datadir, sink)
        hw.sim.sensor.mute = True
        return hw

    daemon = start_daemon(hardware_factory=hardware_with_a_mute_sensor)  # ready without waiting for the sensor
    wait_for(lambda: daemon.status()["sensor"]["state"] == "lost", what="the first connection to fail")
    wait_for(lambda: daemon.hw.watcher.lost, what="the watcher to notice")
    daemon.drain()
    daemon.hw.sim.sensor.mute = False
    wait_event(daemon_datadir, "sensor.restored", timeout=15.0)
    wait_for(lambda: daemon.status()["sensor"]["state"] == "ok", what="sensor ok")
    rows = events(daemon_datadir)
    assert [r["type"] for r in rows if r["type"].startswith("sensor.")] == ["sensor.lost", "sensor.restored"]


def test_finger_first_then_the_same_persons_pin_open_the_door(two_factor):
    daemon, a, _ = two_factor
    mark = last_event_id(daemon.datadir)
    touch(daemon, "LA")
    wait_for(lambda: glass_free(daemon), what="the glass to be free")
    daemon.drain()
    assert relay_periods(daemon.relay_pin) == []
    daemon.press(a.pin + "#")
    granted = wait_event(daemon.datadir, "access.granted", after_id=mark)
    assert (granted["method"], granted["user"]) == ("pin+finger", a.code)


def test_every_unanswered_first_factor_is_logged(two_factor):
    """Two people type their PINs one after the other and nobody gives a finger: both attempts are in the log."""
    daemon, a, b = two_factor
    mark = last_event_id(daemon.datadir)
    daemon.press(a.pin + "#" + b.pin + "#")
    wait_event(daemon.datadir, "access.denied", after_id=mark, user=b.code)
    denied = matching(events(daemon.datadir, mark), "access.denied")
    assert sorted((d["user"], d["reason"]) for d in denied) == sorted(
        [(a.code, "second_factor_required"), (b.code, "second_factor_required")])
    assert relay_periods(daemon.relay_pin) == []
