"""Fingerprint sensor faults (docs/reliability.md T3.3-T3.6, S13; issue 6): unplugged, replugged, wrong password, UART fuzz.

The sensor is the pty simulator spoken to by the real pyfingerprint adapter. Unplugging closes the pty
(the host's port fails at once); replugging is a power-cycled module behind the same path. The fuzz
runs at two levels: straight at the adapter (thousands of faulted replies in bounded time) and through
the whole daemon (hundreds of faulted identify cycles while the keypad is used). Whatever the line
carries: no crash, no unlock that is not a valid grant, the keypad keeps working, and every
``sensor.lost`` is followed by a ``sensor.restored``.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections import Counter
from pathlib import Path

import pytest

from controller.store import people
from drivers.errors import SensorError
from drivers.fingerprint import PyFingerprintSensor
from drivers.fingerprint_protocol import build_ack
from drivers.sim_sensor import GEN_IMG, IMG2TZ, SEARCH, PtySensorSimulator
from tests.controller.daemon_harness import (
    DaemonRunner,
    Person,
    add_person,
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
from tests.faults.fault_helpers import count, report

pytestmark = pytest.mark.faults

SLOT = 7
ENROLLED = "L"  # the finger stored in SLOT for the person
STRANGER = "Z"  # never enrolled: any match for it would be invented by a fault


def person_with_finger(start_daemon, datadir, config=None) -> tuple[DaemonRunner, Person]:
    """A person whose finger ENROLLED is on the sensor (SLOT) and active in the database; daemon started."""
    config = config or fast_config()
    person = add_person(datadir, config)
    with open_session(datadir) as session:
        user_id = people.get_user(session, person.code).id
        session.bind.dispose()
    execute(datadir, "INSERT INTO finger_credentials (user_id, slot, state, created_at) "
                     "VALUES (?, ?, 'active', '2026-01-01T00:00:00.000000Z')", (user_id, SLOT))
    PtySensorSimulator(flash_dir=datadir.sim_dir / "sensor").store(SLOT, ENROLLED)
    daemon = start_daemon(config)
    wait_for(lambda: daemon.status()["sensor"]["state"] == "ok", what="sensor ok")
    return daemon, person


def glass_free(daemon: DaemonRunner) -> bool:
    return daemon.hw.sim.sensor._finger is None and not daemon.hw.watcher._awaiting_lift  # noqa: SLF001


def touch(daemon: DaemonRunner, label: str) -> None:
    wait_for(lambda: glass_free(daemon), what="the glass to be free")
    daemon.call("sim.finger", label=label, hold_seconds=0.4)


def relay_closed(daemon: DaemonRunner) -> bool:
    periods = relay_periods(daemon.relay_pin)
    return all(d is not None for _, d in periods)


def test_unplugged_and_replugged_sensor_is_lost_then_restored_keypad_works_and_restore_opens_nothing(
        start_daemon, daemon_datadir):
    daemon, person = person_with_finger(start_daemon, daemon_datadir)
    sim = daemon.hw.sim.sensor
    mark = last_event_id(daemon_datadir)
    sim.unplug()
    lost = wait_event(daemon_datadir, "sensor.lost", after_id=mark)
    assert daemon.status()["sensor"]["state"] == "lost"
    assert "sensor_lost" in {a["kind"] for a in daemon.status()["alarms"] if not a["cleared"]}

    daemon.press(person.pin + "#")  # the keypad works while the sensor is gone
    wait_event(daemon_datadir, "access.granted", after_id=lost["id"], method="pin")
    wait_for(lambda: len(relay_periods(daemon.relay_pin)) == 1 and relay_closed(daemon), what="PIN unlock over")

    sim.replug()
    restored = wait_event(daemon_datadir, "sensor.restored", after_id=lost["id"], timeout=15)
    wait_for(lambda: daemon.status()["sensor"]["state"] == "ok", what="sensor ok")
    time.sleep(0.5)
    daemon.drain()
    assert len(relay_periods(daemon.relay_pin)) == 1  # S13: restoring the channel released nothing
    assert matching(events(daemon_datadir, restored["id"]), "access.granted") == []

    touch(daemon, ENROLLED)  # and the finger works again
    granted = wait_event(daemon_datadir, "access.granted", after_id=restored["id"], method="finger")
    assert granted["user"] == person.code
    types = [r["type"] for r in events(daemon_datadir, mark) if r["type"].startswith("sensor.")]
    assert types == ["sensor.lost", "sensor.restored"]


def test_a_module_with_another_password_after_replug_stays_lost_and_never_opens(start_daemon, daemon_datadir):
    daemon, person = person_with_finger(start_daemon, daemon_datadir)
    sim = daemon.hw.sim.sensor
    mark = last_event_id(daemon_datadir)
    sim.unplug()
    lost = wait_event(daemon_datadir, "sensor.lost", after_id=mark)
    sim.password = 0x5EC12E7  # a swapped module (T3.5): the handshake with our password fails
    sim.replug()
    sim.place_finger(ENROLLED)  # even the enrolled finger on the swapped module
    time.sleep(3.5)  # several reconnect attempts (backoff capped at 1 s in the test config)
    daemon.drain()
    status = daemon.status()
    assert status["sensor"]["state"] == "lost"
    assert "sensor_lost" in {a["kind"] for a in status["alarms"] if not a["cleared"]}
    assert matching(events(daemon_datadir, lost["id"]), "sensor.restored") == []
    assert relay_periods(daemon.relay_pin) == []
    assert not any(c.instruction == SEARCH and c.code == 0 for c in sim.commands)  # never identified
    sim.remove_finger()

    daemon.press(person.pin + "#")  # the keypad is unaffected
    wait_event(daemon_datadir, "access.granted", after_id=lost["id"], method="pin")

    sim.password = daemon.config.sensor.password  # the right module is back
    wait_event(daemon_datadir, "sensor.restored", after_id=lost["id"], timeout=15)


def alarm_rows(datadir, kind: str) -> list[tuple[int, str | None, str | None]]:
    """``(id, cleared_at, acknowledged_at)`` of every alarm of ``kind``, read through a separate connection."""
    conn = sqlite3.connect(f"file:{datadir.db_file}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute("SELECT id, cleared_at, acknowledged_at FROM alarms WHERE kind = ? ORDER BY id",
                            (kind,)).fetchall()
    finally:
        conn.close()


def flap(daemon: DaemonRunner, datadir, after_id: int) -> int:
    """Unplug the sensor, wait for ``sensor.lost``, replug, wait for ``sensor.restored``; the restored event's id."""
    daemon.hw.sim.sensor.unplug()
    lost = wait_event(datadir, "sensor.lost", after_id=after_id)
    daemon.hw.sim.sensor.replug()
    return wait_event(datadir, "sensor.restored", after_id=lost["id"], timeout=15)["id"]


def test_a_flapping_sensor_opens_one_alarm_until_it_is_acknowledged(start_daemon, daemon_datadir):
    daemon, _person = person_with_finger(start_daemon, daemon_datadir)
    mark = first = last_event_id(daemon_datadir)
    for _ in range(3):  # lost, restored, lost, restored ... (what UART garbage does, 126 times in 3 minutes)
        mark = flap(daemon, daemon_datadir, mark)
    assert [r["type"] for r in events(daemon_datadir, first) if r["type"].startswith("sensor.")] == \
        ["sensor.lost", "sensor.restored"] * 3  # the log keeps every occurrence
    # The loop clears the alarm just after it logs sensor.restored: wait for that, then count.
    wait_for(lambda: alarm_rows(daemon_datadir, "sensor_lost")[-1][1] is not None, what="the alarm cleared")
    [(alarm_id, _cleared_at, acknowledged_at)] = alarm_rows(daemon_datadir, "sensor_lost")  # one alarm, not three
    assert acknowledged_at is None  # the sensor is back; nobody has looked yet

    daemon.hw.sim.sensor.unplug()  # lost again: the same alarm is open again, not a new one
    lost = wait_event(daemon_datadir, "sensor.lost", after_id=mark)
    wait_for(lambda: alarm_rows(daemon_datadir, "sensor_lost")[0][1] is None, what="the alarm reopened")
    assert [a["id"] for a in daemon.status()["alarms"] if a["kind"] == "sensor_lost"] == [alarm_id]
    assert len(alarm_rows(daemon_datadir, "sensor_lost")) == 1
    daemon.hw.sim.sensor.replug()
    mark = wait_event(daemon_datadir, "sensor.restored", after_id=lost["id"], timeout=15)["id"]

    daemon.call("alarm.ack", id=alarm_id, actor="alice")  # acknowledged: the next loss is a new alarm
    flap(daemon, daemon_datadir, mark)
    rows = alarm_rows(daemon_datadir, "sensor_lost")
    assert [r[0] for r in rows][0] == alarm_id and len(rows) == 2 and rows[1][2] is None


# ----------------------------------------------------------------------------------- UART fuzz

_HEADER = b"\xef\x01\xff\xff\xff\xff"


def random_fault(rng: random.Random) -> tuple[str, dict]:
    """One faulted reply: (kind, simulator settings). Truncation (costs a timeout) is kept rare."""
    kind = rng.choices(["random", "wrong_start", "len65535", "checksum", "garbage+checksum", "fake_hit_prefix",
                        "truncate"], weights=[4, 2, 2, 3, 2, 2, 1])[0]
    settings: dict = {"garbage_before_next": b"", "corrupt_next": 0, "truncate_next": None}
    if kind == "random":
        settings["garbage_before_next"] = rng.randbytes(rng.randint(1, 48))
    elif kind == "wrong_start":
        settings["garbage_before_next"] = b"\xef" + bytes([rng.choice([0x00, 0x02, 0xff])]) + rng.randbytes(8)
    elif kind == "len65535":
        settings["garbage_before_next"] = _HEADER + b"\x07\xff\xff"
    elif kind == "checksum":
        settings["corrupt_next"] = rng.randint(1, 2)
    elif kind == "garbage+checksum":
        settings["garbage_before_next"] = rng.randbytes(rng.randint(1, 16))
        settings["corrupt_next"] = 1
    elif kind == "fake_hit_prefix":  # the start of a "found slot 5" ack, cut short, before the real reply
        settings["garbage_before_next"] = build_ack(0, b"\x00\x05\x00\x96")[: rng.randint(1, 15)]
    else:
        settings["truncate_next"] = rng.randint(0, 11)
    return kind, settings


def fault_consumed(sim: PtySensorSimulator) -> bool:
    return not sim.garbage_before_next and not sim.corrupt_next and sim.truncate_next is None


def clear_faults(sim: PtySensorSimulator) -> None:
    sim.fault_on, sim.garbage_before_next, sim.corrupt_next, sim.truncate_next = None, b"", 0, None


ADAPTER_CASES = count("KUNCI_FUZZ_CASES", full=2000, quick=200)


def test_adapter_uart_fuzz_thousands_of_faulted_replies_never_invent_a_match(tmp_path: Path):
    rng = random.Random(0x4B554E43)
    kinds: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    with PtySensorSimulator(flash_dir=tmp_path / "flash") as sim:
        sim.store(0, "alice")
        sensor = PyFingerprintSensor(sim.port, command_timeout_seconds=0.15)
        try:
            sensor.open()
            began = time.monotonic()
            for _ in range(ADAPTER_CASES):
                kind, settings = random_fault(rng)
                kinds[kind] += 1
                finger = rng.choice(["mallory", "alice"])
                sim.place_finger(finger)
                sim.fault_on = rng.choice([None, GEN_IMG, IMG2TZ, SEARCH])
                for name, value in settings.items():
                    setattr(sim, name, value)
                try:
                    if sensor.finger_present():
                        match = sensor.identify()
                        if finger == "mallory":
                            assert match is None, (kind, settings)
                        else:
                            assert match is None or match.slot == 0, (kind, settings)  # never another slot
                        outcomes["answered"] += 1
                except SensorError as exc:  # a typed error is an acceptable answer to a garbled line
                    outcomes[type(exc).__name__] += 1
                finally:
                    clear_faults(sim)
                    sim.remove_finger()
                try:
                    assert sensor.finger_present() is False  # usable right after
                except SensorError:
                    sensor.open()  # a dead-looking line: reconnect, as the watcher does
                    assert sensor.finger_present() is False
                    outcomes["reconnected"] += 1
            elapsed = time.monotonic() - began
        finally:
            sensor.close()
    assert elapsed < 180
    report(f"adapter UART fuzz: {ADAPTER_CASES} faulted replies in {elapsed:.1f} s, kinds={dict(kinds)}, "
           f"outcomes={dict(outcomes)}, invented matches=0")


DAEMON_CASES = count("KUNCI_DAEMON_FUZZ_CASES", full=300, quick=30)


def test_daemon_uart_fuzz_no_crash_no_unlock_keypad_keeps_working(start_daemon, daemon_datadir):
    # The finger throttle would turn hundreds of stranger touches into a lockout; this test is about the line.
    config = fast_config(sensor={"command_timeout_seconds": 0.3, "reconnect_max_seconds": 0.5,
                                 "failed_matches_before_delay": 100_000})
    daemon, person = person_with_finger(start_daemon, daemon_datadir, config)
    sim, watcher = daemon.hw.sim.sensor, daemon.hw.watcher
    rng = random.Random(20261129)
    mark = last_event_id(daemon_datadir)
    pin_grants = 0
    kinds: Counter[str] = Counter()
    began = time.monotonic()
    for case in range(DAEMON_CASES):
        wait_for(lambda: not watcher.lost and glass_free(daemon), timeout=15, what="sensor usable")
        kind, settings = random_fault(rng)
        kinds[kind] += 1
        sim.clear_log()
        sim.fault_on = rng.choice([None, GEN_IMG, IMG2TZ, SEARCH])
        for name, value in settings.items():
            setattr(sim, name, value)
        sim.place_finger(STRANGER)
        wait_for(lambda: watcher.lost or (watcher._awaiting_lift and fault_consumed(sim)),  # noqa: SLF001
                 timeout=10, what="the touch to be read through the faulted reply")
        sim.remove_finger()
        clear_faults(sim)
        if case % 25 == 24:  # the keypad keeps working during the storm
            daemon.press(person.pin + "#")
            pin_grants += 1
            wait_for(lambda: len(matching(events(daemon_datadir, mark), "access.granted", method="pin")) == pin_grants,
                     what="PIN grant during the fuzz")
    elapsed = time.monotonic() - began
    assert daemon.alive
    wait_for(lambda: daemon.status()["sensor"]["state"] == "ok", timeout=15, what="sensor ok after the fuzz")
    daemon.press(person.pin + "#")
    pin_grants += 1
    # 50 refused fingers in 24 h suspend the finger channel (N7: biometric disabled until an admin clears it).
    suspended = [a for a in daemon.status()["alarms"] if a["kind"] == "finger_suspended" and not a["acknowledged"]]
    for alarm in suspended:
        daemon.call("alarm.ack", id=alarm["id"], actor="tester")
    touch(daemon, ENROLLED)
    wait_event(daemon_datadir, "access.granted", after_id=mark, method="finger", user=person.code, timeout=15)
    wait_for(lambda: relay_closed(daemon) and
             len(matching(events(daemon_datadir, mark), "access.granted", method="pin")) == pin_grants,
             what="last grants")

    rows = events(daemon_datadir, mark)
    granted = matching(rows, "access.granted")
    assert sorted(r["method"] for r in granted) == ["finger"] + ["pin"] * pin_grants
    assert all(r["user"] == person.code for r in granted)
    assert len(relay_periods(daemon.relay_pin)) <= len(granted)  # every unlock is a valid grant
    lost = len(matching(rows, "sensor.lost"))
    assert lost == len(matching(rows, "sensor.restored"))
    stranger_denials = len(matching(rows, "access.denied", method="finger"))
    report(f"daemon UART fuzz: {DAEMON_CASES} faulted identify cycles in {elapsed:.1f} s, kinds={dict(kinds)}, "
           f"stranger denied={stranger_denials} (finger channel suspended: {bool(suspended)}), sensor lost/restored={lost}/{lost}, PIN grants during={pin_grants}, "
           f"unlocks without a valid grant=0")
