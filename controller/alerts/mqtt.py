"""The MQTT destination: alarms, events, the door's state and the log's head on a broker, at QoS 1.

:class:`MqttSink` keeps one connection to the broker in ``[mqtt]`` (:class:`~controller.config.schema.MqttConfig`)
on paho-mqtt's own network thread, which reconnects by itself with a growing delay (1 s doubling to 30 s).
The delivery worker calls :meth:`MqttSink.send` with a batch; it publishes every message in order at QoS 1 and
returns once the broker has acknowledged each one (PUBACK), or raises
:class:`~controller.alerts.message.DeliveryError`; the worker then retries the whole batch later and receivers
drop what they already have by ``seq``/``id``. ``send`` never waits for a broker that is down: while the sink is
not connected it raises at once (only the first connection attempt after start-up is waited for, a few seconds
at most).

Topics (docs/alerts.md "MQTT"), with ``<door>`` the door name's slug (:func:`topic_slug`)::

    <prefix>/<door>/alarm          kind alarm and test
    <prefix>/<door>/event          kind event
    <prefix>/<door>/state          kind state, retained
    <prefix>/<door>/head           kind heartbeat (the log's head), retained
    <prefix>/<door>/availability   "online" (retained, on every connect), "offline" (retained: the last will,
                                   or published by close())

With ``discovery`` on, every connect also publishes retained Home Assistant discovery messages under
``<discovery_prefix>/binary_sensor/kunci-<door>/.../config`` (door contact, lock, alarm active, lockdown) and
``<discovery_prefix>/sensor/kunci-<door>/last_alarm/config`` (:func:`discovery_messages`).

The sink publishes exactly the message it is given (codes only; it adds no names) and never logs the password.
"""

from __future__ import annotations

import json
import logging
import re
import ssl
import sys
import threading
import time
import unicodedata
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from controller.alerts.message import DeliveryError, Message
from controller.config.schema import MqttConfig

logger = logging.getLogger(__name__)

#: Longest wait for the broker's acknowledgements of one batch, in seconds (default of ``ack_timeout_seconds``).
ACK_TIMEOUT_SECONDS = 5.0
#: Longest wait in the first ``send`` for the connection attempt started by the constructor, in seconds.
FIRST_CONNECT_WAIT_SECONDS = 5.0
#: paho's reconnect delay: starts at 1 s and doubles up to this many seconds while the broker is unreachable.
RECONNECT_MAX_DELAY_SECONDS = 30
#: How long close() waits for the broker to acknowledge the retained "offline", in seconds.
CLOSE_WAIT_SECONDS = 2.0

#: Message kind -> (topic suffix, retained). ``state`` and ``heartbeat`` are retained so that a subscriber that
#: connects later (Home Assistant after a restart, an auditor's collector) gets the latest one at once.
TOPICS: dict[str, tuple[str, bool]] = {
    "alarm": ("alarm", False),
    "test": ("alarm", False),
    "event": ("event", False),
    "state": ("state", True),
    "heartbeat": ("head", True),
}

ONLINE = "online"
OFFLINE = "offline"


def topic_slug(door: str) -> str:
    """The door name as one topic level: ASCII lower case, every run of other characters one ``_``.

    Accents are dropped (``Tür Süd`` -> ``tur_sud``), anything outside ``[a-z0-9_-]`` (spaces, ``/``, ``+``,
    ``#``) becomes ``_``, leading and trailing ``_`` are removed; a name with nothing left becomes ``door``.
    The same characters are valid in Home Assistant's discovery node and object ids.
    """
    ascii_name = unicodedata.normalize("NFKD", door).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9_-]+", "_", ascii_name.lower()).strip("_") or "door"


def topic_for(prefix: str, slug: str, kind: str) -> tuple[str, bool]:
    """The topic and retain flag for a message kind; ValueError for a kind no destination knows."""
    try:
        suffix, retain = TOPICS[kind]
    except KeyError:
        raise ValueError(f"no MQTT topic for message kind {kind!r}") from None
    return f"{prefix}/{slug}/{suffix}", retain


def payload_of(message: Message) -> str:
    """The JSON text published for a message (the same for every destination: keys in ``as_dict`` order)."""
    return json.dumps(message.as_dict(), separators=(",", ":"), sort_keys=False)


#: Home Assistant entities: (component, object id, name, device class, topic suffix, value template).
#: HA's binary sensor is "on" for payload ``ON``. Device class ``lock`` means on = *unlocked*, hence the
#: inverted template; ``door`` means on = open; ``problem`` means on = a problem (an alarm is active).
#: The last-alarm sensor shows the alarm code (``door_forced``) or, without one, the type (``alert.test_sent``);
#: the whole message becomes its attributes.
_ENTITIES: tuple[tuple[str, str, str, str | None, str, str], ...] = (
    ("binary_sensor", "door", "Door", "door", "state", "{{ 'ON' if value_json.body.open else 'OFF' }}"),
    ("binary_sensor", "lock", "Lock", "lock", "state", "{{ 'OFF' if value_json.body.locked else 'ON' }}"),
    ("binary_sensor", "alarm", "Alarm", "problem", "state", "{{ 'ON' if value_json.body.alarms else 'OFF' }}"),
    ("binary_sensor", "lockdown", "Lockdown", None, "state", "{{ 'ON' if value_json.body.lockdown else 'OFF' }}"),
    ("sensor", "last_alarm", "Last alarm", None, "alarm",
     ("{{ value_json.body.alarm if value_json.body is defined and value_json.body.alarm is defined "
      "else value_json.type }}")),
)


def discovery_messages(config: MqttConfig, door: str) -> list[tuple[str, str]]:
    """Home Assistant MQTT discovery: ``(topic, JSON config)`` for each entity, published retained.

    Topics are ``<discovery_prefix>/<component>/kunci-<slug>/<object>/config``. Every entity belongs to one
    device (identifiers ``kunci-<slug>``, the door's name, manufacturer Kunci, model "door controller"), is
    unavailable while the availability topic says ``offline``, and reads the JSON message on its state topic
    through its ``value_template``.
    """
    slug = topic_slug(door)
    node_id = f"kunci-{slug}"
    base = f"{config.topic_prefix}/{slug}"
    device = {"identifiers": [node_id], "name": door, "manufacturer": "Kunci", "model": "door controller"}
    messages = []
    for component, object_id, name, device_class, suffix, template in _ENTITIES:
        entity: dict[str, Any] = {
            "name": name,
            "unique_id": f"{node_id}-{object_id}",
            "state_topic": f"{base}/{suffix}",
            "value_template": template,
            "availability_topic": f"{base}/availability",
            "payload_available": ONLINE,
            "payload_not_available": OFFLINE,
            "qos": 1,
            "device": device,
        }
        if device_class is not None:
            entity["device_class"] = device_class
        if component == "sensor":
            entity["json_attributes_topic"] = entity["state_topic"]
        topic = f"{config.discovery_prefix}/{component}/{node_id}/{object_id}/config"
        messages.append((topic, json.dumps(entity, separators=(",", ":"))))
    return messages


def _tls_context(ca_file: str) -> ssl.SSLContext:
    """Verify the broker's certificate and host name against ``ca_file`` (empty: the system's CAs)."""
    context = ssl.create_default_context(cafile=ca_file or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class MqttSink:
    """Publishes alert messages to one MQTT broker for one door (a :class:`~controller.alerts.message.Sink`).

    The constructor starts connecting in the background and returns at once; the connection, the last will
    (``offline``, retained, on the availability topic), the retained ``online`` and the discovery messages are
    handled on paho's network thread. Use it as a context manager or call :meth:`close` (idempotent).

    :param config: the ``[mqtt]`` section: host, port, TLS (certificate verification is always on when
        ``tls``), user name, client id (empty: ``kunci-<slug>``), topic prefix, discovery, keep-alive.
    :param door: the door's name (``[door]``); its :func:`topic_slug` is the topic level and node id.
    :param password: the broker password, already read from ``config.password_file`` by the caller
        (default ``None``: no password). Never logged.
    :param ack_timeout_seconds: longest wait for the broker's PUBACKs of one batch (default 5 s).
    """

    name = "mqtt"

    def __init__(self, config: MqttConfig, door: str, *, password: str | None = None,
                 ack_timeout_seconds: float = ACK_TIMEOUT_SECONDS) -> None:
        self._config = config
        self._door = door
        self._slug = topic_slug(door)
        self._ack_timeout = ack_timeout_seconds
        self.availability_topic = f"{config.topic_prefix}/{self._slug}/availability"
        # One condition guards the connection state below and wakes send() on connect, disconnect and PUBACK.
        self._cond = threading.Condition()
        self._connected = False
        self._attempts = 0
        self._last_error = "not connected yet"
        self._closed = False

        client_id = config.client_id or f"kunci-{self._slug}"
        client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id,
                             clean_session=True, reconnect_on_failure=True)
        if config.tls:
            client.tls_set_context(_tls_context(config.ca_file))
        if config.username:
            client.username_pw_set(config.username, password)
        client.will_set(self.availability_topic, OFFLINE, qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=RECONNECT_MAX_DELAY_SECONDS)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        self._client = client
        client.connect_async(config.host, config.port, keepalive=config.keepalive_seconds)
        client.loop_start()
        logger.info("MQTT: connecting to %s:%d as %s (TLS %s)", config.host, config.port, client_id,
                    "on" if config.tls else "off")

    # -- paho's network thread ------------------------------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if reason_code.is_failure:
            self._failed(f"the broker refused the connection: {reason_code}")
            return
        # Published before send() can see the connection, so "online" and discovery precede any alert.
        client.publish(self.availability_topic, ONLINE, qos=1, retain=True)
        if self._config.discovery:
            for topic, body in discovery_messages(self._config, self._door):
                client.publish(topic, body, qos=1, retain=True)
        with self._cond:
            self._connected = True
            self._attempts += 1
            self._last_error = ""
            self._cond.notify_all()
        logger.info("MQTT: connected to %s:%d", self._config.host, self._config.port)

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        # paho calls this inside its ``except OSError`` (refused, unreachable, TLS verification failed).
        self._failed(f"cannot connect to {self._config.host}:{self._config.port}: {sys.exception()}")

    def _failed(self, error: str) -> None:
        with self._cond:
            repeated = error == self._last_error
            self._connected = False
            self._attempts += 1
            self._last_error = error
            self._cond.notify_all()
        # Logged once per distinct reason: a broker that stays down does not fill the journal.
        (logger.debug if repeated else logger.warning)("MQTT: %s (retrying)", error)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any,
                       properties: Any) -> None:
        with self._cond:
            was_connected = self._connected
            self._connected = False
            if was_connected and not self._closed:
                self._last_error = f"connection lost: {reason_code}"
            self._cond.notify_all()
        if was_connected and not self._closed:
            logger.warning("MQTT: connection to %s:%d lost (%s); reconnecting", self._config.host,
                           self._config.port, reason_code)

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason_code: Any, properties: Any) -> None:
        with self._cond:
            self._cond.notify_all()

    # -- the caller's thread --------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while the broker has accepted the connection (for status displays and tests)."""
        with self._cond:
            return self._connected

    @property
    def last_error(self) -> str:
        """Why the sink is not connected (empty while connected)."""
        with self._cond:
            return self._last_error

    def send(self, batch: Sequence[Message]) -> None:
        """Publish every message of ``batch`` in order at QoS 1; return when the broker acknowledged all.

        :raises DeliveryError: the sink is closed, not connected (raised at once; the first call waits up to
            5 s for the connection attempt started by the constructor), or the broker did not acknowledge
            every message within ``ack_timeout_seconds``. Some messages may have arrived: retry the batch.
        :raises ValueError: a message of a kind that has no topic (nothing is published).
        """
        routed = [(topic_for(self._config.topic_prefix, self._slug, m.kind), payload_of(m)) for m in batch]
        with self._cond:
            if self._closed:
                raise DeliveryError("MQTT: the sink is closed")
            # Only the first connection attempt is waited for; later, a broker that is down fails at once.
            self._cond.wait_for(lambda: self._attempts > 0, timeout=FIRST_CONNECT_WAIT_SECONDS)
            if not self._connected:
                raise DeliveryError(f"MQTT: not connected to {self._config.host}:{self._config.port} "
                                    f"({self._last_error})")
        infos = []
        for (topic, retain), payload in routed:
            info = self._client.publish(topic, payload, qos=1, retain=retain)
            if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_AGAIN):
                raise DeliveryError(f"MQTT: cannot publish to {topic}: {mqtt.error_string(info.rc)}")
            infos.append(info)
        deadline = time.monotonic() + self._ack_timeout
        with self._cond:
            while True:
                unacked = sum(1 for info in infos if not info.is_published())
                if not unacked:
                    return
                if not self._connected:
                    raise DeliveryError(f"MQTT: connection lost with {unacked} of {len(infos)} messages "
                                        f"not acknowledged ({self._last_error})")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise DeliveryError(f"MQTT: {unacked} of {len(infos)} messages not acknowledged "
                                        f"within {self._ack_timeout:g} s")
                # paho calls on_publish just before it marks the message published: wake up again soon.
                self._cond.wait(min(remaining, 0.05))

    def close(self) -> None:
        """Say ``offline`` (retained), disconnect and stop the network thread; a second call does nothing."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            connected = self._connected
        if connected:
            # A clean disconnect does not fire the last will, so the sink says offline itself.
            info = self._client.publish(self.availability_topic, OFFLINE, qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=CLOSE_WAIT_SECONDS)
            except (RuntimeError, ValueError) as exc:
                logger.warning("MQTT: could not publish offline before closing: %s", exc)
        self._client.disconnect()
        self._client.loop_stop()
        logger.info("MQTT: closed the connection to %s:%d", self._config.host, self._config.port)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
