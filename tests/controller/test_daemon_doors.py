"""Two doors in one daemon (issue 16, C4): each door's keypad, sensor, relay and contact on the one simulated GPIO
factory; every event names its door; a lockdown and a finger belong to one door; the lockout is shared."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from controller.config import DoorSetup, GpioConfig, KeypadConfig, SensorConfig
from controller.store import models
from tests.controller.daemon_harness import (
    DaemonRunner,
    add_person,
    events,
    execute,
    fast_config,
    matching,
    open_session,
    prepare_datadir,
    relay_periods,
    wait_event,
    wait_for,
)

VAULT_GPIO = GpioConfig(relay_pin=4, door_contact_pin=7, exit_pin=8, tamper_pin=-1, buzzer_pin=-1, green_led_pin=2,
                        red_led_pin=3)
VAULT_KEYPAD = dataclasses.replace(KeypadConfig(), row_pins=(9, 10, 11, 14), column_pins=(15, 23, 24),
                                   scan_interval_ms=5, debounce_scans=2)


def two_doors(**overrides: Any) -> Any:
    config = fast_config(**overrides)
    vault_door = dataclasses.replace(config.door, name="vault")
    vault_sensor = dataclasses.replace(config.sensor, port="/dev/ttyAMA1")
    vault = DoorSetup("vault", vault_door, VAULT_GPIO, VAULT_KEYPAD, vault_sensor)
    return dataclasses.replace(config, doors=(vault,))


@pytest.fixture
def daemon(tmp_path) -> Iterator[DaemonRunner]:
    datadir = prepare_datadir(tmp_path / "data")
    runner = DaemonRunner(datadir, two_doors()).start()
    try:
        wait_for(lambda: all(d["sensor"]["state"] == "ok" for d in runner.status()["doors"]), what="sensors ok")
        yield runner
    finally:
        runner.stop()


def vault(runner: DaemonRunner) -> Any:
    return runner.daemon.units[1]


def vault_relay(runner: DaemonRunner) -> Any:
    return vault(runner).hw.sim.factory.pin(VAULT_GPIO.relay_pin)


def test_each_door_has_its_own_drivers_status_and_door_row(daemon: DaemonRunner) -> None:
    status = daemon.status()
    assert [d["name"] for d in status["doors"]] == ["main", "vault"]
    assert status["door_name"] == "main" and status["door"] == "locked"
    main, second = status["doors"]
    assert (second["state"], second["relay"], second["contact"], second["keypad"]) == ("locked", False, "closed",
                                                                                      "matrix")
    assert main["sensor"]["state"] == second["sensor"]["state"] == "ok"
    assert daemon.hw.sim.factory is vault(daemon).hw.sim.factory  # one MockFactory for every door's GPIO
    assert daemon.hw.sim.sensor is not vault(daemon).hw.sim.sensor  # a sensor simulator per door
    assert (daemon.datadir.sim_dir / "vault" / "sensor").is_dir()
    with open_session(daemon.datadir) as session:
        assert {d.name for d in session.scalars(select(models.Door))} >= {"main", "vault"}
        session.bind.dispose()


def test_a_pin_at_the_second_door_opens_that_door_only_and_is_logged_with_its_name(daemon: DaemonRunner) -> None:
    person = add_person(daemon.datadir, daemon.config)
    daemon.call("sim.press", keys=person.pin + "#", door="vault")
    granted = wait_event(daemon.datadir, "access.granted", user=person.code)
    assert granted["door"] == "vault"
    wait_for(lambda: len(relay_periods(vault_relay(daemon))) == 1, what="the vault strike energised once")
    assert relay_periods(daemon.relay_pin) == []  # main stayed locked
    wait_event(daemon.datadir, "door.not_opened", after_id=granted["id"])
    assert matching(events(daemon.datadir), "door.not_opened")[0]["door"] == "vault"

    daemon.call("sim.press", keys=person.pin + "#")
    second = wait_event(daemon.datadir, "access.granted", after_id=granted["id"])
    assert second["door"] == "main"
    wait_for(lambda: len(relay_periods(daemon.relay_pin)) == 1, what="the main strike energised once")


def test_the_second_doors_contact_exit_and_unknown_door_are_its_own(daemon: DaemonRunner) -> None:
    daemon.call("sim.door", open=True, door="vault")
    forced = wait_event(daemon.datadir, "door.forced")
    assert forced["door"] == "vault"
    assert daemon.status()["doors"][1]["contact"] == "open" and daemon.status()["door_open"] is False
    daemon.call("sim.door", open=False, door="vault")
    daemon.call("sim.exit", door="vault")
    exit_request = wait_event(daemon.datadir, "exit.request")
    assert exit_request["door"] == "vault"
    wait_for(lambda: relay_periods(vault_relay(daemon)), what="the exit button unlocked the vault")
    from controller.errors import KunciError

    with pytest.raises(KunciError, match="no door named cellar"):
        daemon.call("sim.press", keys="1#", door="cellar")


def test_a_lockdown_of_one_door_refuses_there_only(daemon: DaemonRunner) -> None:
    person = add_person(daemon.datadir, daemon.config)
    execute(daemon.datadir, "UPDATE doors SET lockdown = 1 WHERE name = 'vault'")
    wait_for(lambda: daemon.status()["doors"][1]["lockdown"], what="the daemon follows the vault's lockdown")
    assert daemon.status()["lockdown"] is False
    daemon.call("sim.press", keys=person.pin + "#", door="vault")
    refused = wait_event(daemon.datadir, "access.denied", user=person.code)
    assert (refused["door"], refused["reason"]) == ("vault", "lockdown")
    daemon.call("sim.press", keys=person.pin + "#")
    granted = wait_event(daemon.datadir, "access.granted", user=person.code)
    assert granted["door"] == "main"


def test_the_keypad_lockout_is_shared_by_the_doors(daemon: DaemonRunner) -> None:
    person = add_person(daemon.datadir, daemon.config)  # lockout after 3 failures (fast_config)
    for door in ("main", "vault", "main"):
        daemon.call("sim.press", keys="000000#", door=door)
    started = wait_event(daemon.datadir, "lockout.started")
    assert started["detail"]["channel"] == "keypad"
    daemon.call("sim.press", keys=person.pin + "#", door="vault")  # the guesser walked to the next keypad
    refused = wait_event(daemon.datadir, "access.denied", user=person.code)
    assert (refused["door"], refused["reason"]) == ("vault", "locked_out")


def test_a_finger_enrolled_at_one_door_is_looked_up_on_that_doors_sensor_only(daemon: DaemonRunner) -> None:
    person = add_person(daemon.datadir, daemon.config)

    def on_progress(line: dict[str, Any]) -> None:
        if line["progress"] in ("place_finger", "place_again"):
            threading.Thread(target=daemon.call, args=("sim.finger",),
                             kwargs={"label": "V", "hold_seconds": 0.5, "door": "vault"}).start()

    result = daemon.client(timeout=60).stream("finger.enroll", on_progress, user=person.code, actor="tester",
                                              door="vault")
    enrolled = wait_event(daemon.datadir, "admin.finger_enrolled", user=person.code)
    assert enrolled["door"] == "vault"
    with open_session(daemon.datadir) as session:
        rows = [(f.door, f.slot) for f in session.scalars(select(models.FingerCredential))]
        session.bind.dispose()
    assert rows == [("vault", result["slot"])]
    assert result["slot"] in vault(daemon).hw.sim.sensor.templates
    assert result["slot"] not in daemon.hw.sim.sensor.templates
    status = daemon.status()["doors"]
    assert status[1]["sensor"]["templates"] == 1

    sensor, watcher = vault(daemon).hw.sim.sensor, vault(daemon).hw.watcher
    wait_for(lambda: sensor._finger is None and not watcher._awaiting_lift, what="the vault glass free")  # noqa: SLF001
    daemon.call("sim.finger", label="V", hold_seconds=0.5, door="vault")
    granted = wait_event(daemon.datadir, "access.granted", after_id=enrolled["id"])
    assert (granted["door"], granted["method"], granted["user"]) == ("vault", "finger", person.code)


def test_every_doors_relay_is_built_before_any_other_driver_and_a_failed_build_locks_them_all(
        tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    import drivers.door_io as door_io
    from controller.daemon import hardware

    datadir = prepare_datadir(tmp_path / "data")
    built: list[str] = []
    real_relay, real_inputs = door_io.StrikeRelay, door_io.DoorInputs

    class Relay(real_relay):  # type: ignore[misc, valid-type]
        def __init__(self, pin: int, *args: Any, **kwargs: Any) -> None:
            built.append(f"relay {pin}")
            super().__init__(pin, *args, **kwargs)

    class Inputs(real_inputs):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            built.append("inputs")
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(door_io, "StrikeRelay", Relay)
    monkeypatch.setattr(door_io, "DoorInputs", Inputs)
    config = two_doors(sensor={"enabled": False})
    config = dataclasses.replace(config, doors=(dataclasses.replace(
        config.doors[0], sensor=dataclasses.replace(config.doors[0].sensor, enabled=False)),))
    hw = hardware.build_hardware(config, datadir, lambda event: None)
    try:
        assert built == ["relay 17", "relay 4", "inputs", "inputs"]
        assert [h.relay.is_unlocked for h in (hw, *hw.others)] == [False, False]
    finally:
        hw.close()

    relays: list[Any] = []
    real_build = hardware._build_door

    def failing(view: Any, door_hw: Any, *args: Any) -> None:
        relays.append(door_hw.relay)
        if len(relays) == 2:
            door_hw.relay.unlock()  # as if energised: the failed build must lock it again
            raise RuntimeError("the second door's drivers failed")
        real_build(view, door_hw, *args)

    monkeypatch.setattr(hardware, "_build_door", failing)
    with pytest.raises(RuntimeError, match="second door"):
        hardware.build_hardware(config, datadir, lambda event: None)
    assert [r.is_unlocked for r in relays] == [False, False]


def test_a_remote_unlock_names_its_door(daemon: DaemonRunner) -> None:
    from controller.errors import KunciError

    answer = daemon.call("unlock", door="vault")
    assert answer == {"unlocked_seconds": 1.0, "door": "vault"}
    granted = wait_event(daemon.datadir, "access.granted")
    assert (granted["door"], granted["method"]) == ("vault", "remote")
    wait_for(lambda: relay_periods(vault_relay(daemon)), what="the vault unlocked")
    assert relay_periods(daemon.relay_pin) == []
    with pytest.raises(KunciError, match="no door named attic"):
        daemon.call("unlock", door="attic")


def test_a_door_without_keypad_or_sensor_refuses_sim_keys_and_fingers_clearly(tmp_path) -> None:
    """``kunci sim --door archive press`` on a door with no keypad is a clear refusal naming the door, not an
    internal error; the same for a finger on a door with no sensor; the relay stays off."""
    from controller.errors import KunciError

    config = fast_config()
    archive = DoorSetup("archive", dataclasses.replace(config.door, name="archive"),
                        GpioConfig(relay_pin=4, door_contact_pin=-1, exit_pin=-1, tamper_pin=-1, buzzer_pin=-1,
                                   green_led_pin=-1, red_led_pin=-1),
                        dataclasses.replace(KeypadConfig(), type="none"), dataclasses.replace(SensorConfig(), enabled=False))
    runner = DaemonRunner(prepare_datadir(tmp_path / "data"), dataclasses.replace(config, doors=(archive,))).start()
    try:
        with pytest.raises(KunciError, match="door archive has no keypad"):
            runner.call("sim.press", keys="1234#", door="archive")
        with pytest.raises(KunciError, match="door archive has no fingerprint sensor"):
            runner.call("sim.finger", label="alice", door="archive")
        assert runner.hw.sim.factory.pin(4).state is False or runner.hw.sim.factory.pin(4).state == 0
        assert runner.status()["doors"][1]["relay"] is False
    finally:
        runner.stop()
