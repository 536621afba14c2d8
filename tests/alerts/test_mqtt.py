"""controller/alerts/mqtt.py against a real mosquitto (TLS, password file): what a subscriber receives.

Each test starts its own broker (tests/alerts/conftest.py) and watches it with a separate paho client
(:class:`~tests.alerts.broker.Listener`). Nothing waits for a fixed time: every wait polls a condition.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import jinja2
import pytest

from controller.alerts.message import DeliveryError, Message
from controller.alerts.mqtt import MqttSink, payload_of, topic_slug
from controller.config.schema import MqttConfig
from tests.alerts.broker import DEADLINE_SECONDS, Broker, Listener
from tests.alerts.certs import CertAuthority
from tests.polling import wait_for

DOOR = "Records Room 1"
SLUG = "records_room_1"
BASE = f"kunci/{SLUG}"
ROOT = Path(__file__).resolve().parents[2]


def message(id_: int, kind: str, type_: str, body: dict[str, Any] | None = None, seq: int | None = None) -> Message:
    return Message(id=id_, kind=kind, type=type_, time=f"2025-03-04T05:06:{id_:02d}Z", door=DOOR, seq=seq,
                   head=(seq or 43, "9f" * 32), body=body or {})


ALARM_BATCH = [
    message(1, "alarm", "alarm.raised", {"alarm": "door_forced"}, seq=40),
    message(2, "event", "door.forced", {"reason": "no_grant"}, seq=41),
    message(3, "alarm", "alarm.cleared", {"alarm": "door_forced"}, seq=42),
    message(4, "test", "alert.test_sent", {"by": "A0001"}),
]
LOCKED_STATE = message(5, "state", "door.state", {"locked": True, "open": False, "lockdown": False,
                                                  "mode": "pin_or_finger", "alarms": ["door_forced"]}, seq=42)
OPEN_STATE = message(6, "state", "door.state", {"locked": False, "open": True, "lockdown": True,
                                                "mode": "pin_or_finger", "alarms": []}, seq=43)
HEARTBEAT = message(7, "heartbeat", "log.head", seq=43)


def config_for(broker: Broker, **changes: Any) -> MqttConfig:
    """``[mqtt]`` for the test broker: TLS against its CA, the test login, discovery on."""
    return replace(MqttConfig(enabled=True, host=broker.host, port=broker.port, tls=True, ca_file=broker.ca_file,
                              username=broker.username, password_file="/unused"), **changes)


@pytest.fixture
def make_sink(broker: Broker) -> Iterator[Callable[..., MqttSink]]:
    """Build sinks for the test broker (password = the right one unless given); all closed afterwards."""
    sinks: list[MqttSink] = []

    def make(password: str | None = broker.password, **changes: Any) -> MqttSink:
        sink = MqttSink(config_for(broker, **changes), DOOR, password=password)
        sinks.append(sink)
        return sink

    yield make
    for sink in sinks:
        sink.close()


@pytest.fixture
def listen(broker: Broker) -> Iterator[Callable[..., Listener]]:
    """Subscribe a separate client to topics; each call is a new client; all closed afterwards."""
    listeners: list[Listener] = []

    def subscribe(*topics: str) -> Listener:
        listener = Listener(broker, list(topics), client_id=f"kunci-test-listener-{len(listeners)}")
        listeners.append(listener)
        return listener

    yield subscribe
    for listener in listeners:
        listener.close()


def payloads(received: list[Any]) -> list[bytes]:
    return [m.payload for m in received]


@pytest.mark.parametrize(("door", "slug"), [
    ("Records Room 1", "records_room_1"),
    ("records-room_2", "records-room_2"),
    ("Tür Süd / Archiv", "tur_sud_archiv"),
    ("  Lab #3 + annex  ", "lab_3_annex"),
    ("+/#", "door"),
])
def test_door_name_becomes_one_safe_topic_level(door: str, slug: str) -> None:
    assert topic_slug(door) == slug


def test_alarm_batch_arrives_in_order_at_qos1_with_the_exact_json(make_sink, listen, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    listener = listen(f"{BASE}/alarm", f"{BASE}/event")
    sink = make_sink()

    sink.send(ALARM_BATCH)  # returns only once the broker acknowledged every message

    got = listener.wait_for_count(len(ALARM_BATCH))
    assert [(m.topic, m.payload) for m in got] == [
        (f"{BASE}/alarm", payload_of(ALARM_BATCH[0]).encode()),
        (f"{BASE}/event", payload_of(ALARM_BATCH[1]).encode()),
        (f"{BASE}/alarm", payload_of(ALARM_BATCH[2]).encode()),
        (f"{BASE}/alarm", payload_of(ALARM_BATCH[3]).encode()),
    ]
    assert got[0].payload == (
        b'{"id":1,"kind":"alarm","type":"alarm.raised","time":"2025-03-04T05:06:01Z","door":"Records Room 1",'
        b'"seq":40,"head":{"seq":40,"mac":"' + b"9f" * 32 + b'"},"body":{"alarm":"door_forced"}}')
    assert {(m.qos, m.retain) for m in got} == {(1, False)}
    assert "correct horse" not in caplog.text


def test_state_head_and_online_are_retained_for_a_late_subscriber(make_sink, listen) -> None:
    sink = make_sink()
    sink.send([LOCKED_STATE, OPEN_STATE, HEARTBEAT])

    late = listen(f"{BASE}/state", f"{BASE}/head", f"{BASE}/availability")

    got = {m.topic: m for m in late.wait_for_count(3)}
    assert got[f"{BASE}/state"].payload == payload_of(OPEN_STATE).encode()  # the latest state only
    assert got[f"{BASE}/head"].payload == payload_of(HEARTBEAT).encode()
    assert got[f"{BASE}/availability"].payload == b"online"
    assert all(m.retain for m in got.values())


_SINK_PROCESS = """
import json, os, sys, time
from controller.alerts.mqtt import MqttSink
from controller.config.schema import MqttConfig
sink = MqttSink(MqttConfig(**json.loads(sys.argv[1])), sys.argv[2], password=os.environ["MQTT_TEST_PASSWORD"])
deadline = time.monotonic() + 30
while not sink.connected and time.monotonic() < deadline:
    time.sleep(0.02)
print("connected" if sink.connected else "not connected: " + sink.last_error, flush=True)
sys.stdin.read()  # until killed
"""


def test_broker_publishes_the_offline_will_when_the_controller_dies(broker: Broker, listen) -> None:
    listener = listen(f"{BASE}/availability")
    config = asdict(config_for(broker))
    process = subprocess.Popen([sys.executable, "-c", _SINK_PROCESS, json.dumps(config), DOOR], cwd=ROOT,
                               env={**os.environ, "MQTT_TEST_PASSWORD": broker.password},
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "connected"
        assert payloads(listener.wait_for_count(1)) == [b"online"]

        process.kill()  # SIGKILL: no close(), no DISCONNECT; the kernel just drops the connection
        process.wait(timeout=DEADLINE_SECONDS)

        got = listener.wait_for_count(2)
        assert payloads(got) == [b"online", b"offline"]
    finally:
        process.kill()
        process.wait(timeout=DEADLINE_SECONDS)
    late = listen(f"{BASE}/availability")
    assert [(m.payload, m.retain) for m in late.wait_for_count(1)] == [(b"offline", True)]


def test_close_says_offline_and_a_second_close_is_harmless(make_sink, listen) -> None:
    listener = listen(f"{BASE}/availability")
    sink = make_sink()
    sink.send([LOCKED_STATE])

    sink.close()
    sink.close()

    assert payloads(listener.wait_for_count(2)) == [b"online", b"offline"]
    with pytest.raises(DeliveryError, match="closed"):
        sink.send([LOCKED_STATE])


def _render(template: str, payload: bytes) -> str:
    """Render a discovery value_template the way Home Assistant does (Jinja, ``value`` and ``value_json``)."""
    return jinja2.Environment().from_string(template).render(value=payload.decode(), value_json=json.loads(payload))


def test_home_assistant_discovery_is_retained_and_reads_the_state_topic(make_sink, listen) -> None:
    sink = make_sink()
    sink.send([LOCKED_STATE])  # acknowledged after the discovery messages sent on connect

    late = listen("homeassistant/#")

    configs = {m.topic: json.loads(m.payload) for m in late.wait_for_count(5)}
    assert all(m.retain for m in late.messages())
    node = f"homeassistant/binary_sensor/kunci-{SLUG}"
    assert sorted(configs) == sorted([f"{node}/door/config", f"{node}/lock/config", f"{node}/alarm/config",
                                      f"{node}/lockdown/config", f"homeassistant/sensor/kunci-{SLUG}/last_alarm/config"])
    door, lock, alarm, lockdown = (configs[f"{node}/{o}/config"] for o in ("door", "lock", "alarm", "lockdown"))
    last_alarm = configs[f"homeassistant/sensor/kunci-{SLUG}/last_alarm/config"]
    assert [door["device_class"], lock["device_class"], alarm["device_class"]] == ["door", "lock", "problem"]
    assert {c["state_topic"] for c in (door, lock, alarm, lockdown)} == {f"{BASE}/state"}
    assert last_alarm["state_topic"] == f"{BASE}/alarm"
    for entity in configs.values():
        assert entity["availability_topic"] == f"{BASE}/availability"
        assert entity["device"] == {"identifiers": [f"kunci-{SLUG}"], "name": DOOR, "manufacturer": "Kunci",
                                    "model": "door controller"}
    assert len({c["unique_id"] for c in configs.values()}) == 5

    # What Home Assistant shows. Binary sensors: ON/OFF; device class lock is ON when *unlocked*.
    locked, opened = payload_of(LOCKED_STATE).encode(), payload_of(OPEN_STATE).encode()
    templates = [c["value_template"] for c in (door, lock, alarm, lockdown)]
    assert [_render(t, locked) for t in templates] == ["OFF", "OFF", "ON", "OFF"]
    assert [_render(t, opened) for t in templates] == ["ON", "ON", "OFF", "ON"]
    # The last alarm: its code, or the type when the message has none (a test alarm); attributes: the message.
    assert _render(last_alarm["value_template"], payload_of(ALARM_BATCH[0]).encode()) == "door_forced"
    assert _render(last_alarm["value_template"], payload_of(ALARM_BATCH[3]).encode()) == "alert.test_sent"
    assert last_alarm["json_attributes_topic"] == f"{BASE}/alarm"


def test_no_discovery_messages_when_discovery_is_off(make_sink, listen) -> None:
    listener = listen("homeassistant/#", f"{BASE}/alarm")
    sink = make_sink(discovery=False)

    sink.send(ALARM_BATCH[:1])

    # Discovery would be published on connect, before the alarm: once the alarm is in, nothing else came.
    assert [m.topic for m in listener.wait_for_count(1)] == [f"{BASE}/alarm"]


def test_wrong_password_is_a_delivery_error_and_is_never_logged(make_sink, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    sink = make_sink(password="wrong-password-4711")

    with pytest.raises(DeliveryError, match="refused"):
        sink.send(ALARM_BATCH[:1])

    assert not sink.connected
    assert "wrong-password-4711" not in caplog.text


def test_broker_certificate_not_signed_by_ca_file_is_a_delivery_error(make_sink, tmp_path: Path) -> None:
    other_ca = CertAuthority.create(tmp_path / "other", "Somebody else's CA").ca_file
    sink = make_sink(ca_file=str(other_ca))

    with pytest.raises(DeliveryError, match="certificate verify failed"):
        sink.send(ALARM_BATCH[:1])


def test_broker_down_fails_fast_and_the_same_sink_delivers_when_it_is_back(broker: Broker, make_sink,
                                                                          listen) -> None:
    listener = listen(f"{BASE}/alarm")
    sink = make_sink()
    sink.send(ALARM_BATCH[:1])
    listener.wait_for_count(1)

    broker.stop()
    wait_for(lambda: not sink.connected, DEADLINE_SECONDS, "the sink to notice the broker is gone")
    with pytest.raises(DeliveryError, match="not connected"):
        sink.send(ALARM_BATCH[2:3])

    broker.start()
    wait_for(lambda: sink.connected, 2 * DEADLINE_SECONDS, "the sink to reconnect by itself")
    sink.send(ALARM_BATCH[2:3])

    # The listener's persistent session kept its subscription across the restart: nothing lost, nothing twice.
    assert payloads(listener.wait_for_count(2)) == [payload_of(ALARM_BATCH[0]).encode(),
                                                    payload_of(ALARM_BATCH[2]).encode()]


def test_a_message_kind_without_a_topic_publishes_nothing(make_sink, listen) -> None:
    listener = listen(f"{BASE}/#")
    sink = make_sink()

    with pytest.raises(ValueError, match="bogus"):
        sink.send([ALARM_BATCH[0], message(9, "bogus", "x.y")])
    sink.send([ALARM_BATCH[2]])

    got = [m for m in listener.wait_for_count(2) if m.topic != f"{BASE}/availability"]
    assert payloads(got) == [payload_of(ALARM_BATCH[2]).encode()]
