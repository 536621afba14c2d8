"""A real Mosquitto broker for tests: TLS on a free loopback port, a password file, persistence.

:class:`Broker` writes a test CA, a server certificate for ``127.0.0.1``/``localhost`` signed by it, a password
file (``mosquitto_passwd -b -c``) and a ``mosquitto.conf`` into a directory, and runs ``mosquitto -c`` on it.
:meth:`Broker.stop` and :meth:`Broker.start` again keep the port, the certificates and the persisted sessions and
retained messages ("broker down, then back"). Readiness is a successful TLS connection, polled with a deadline.

:class:`Listener` is a second, independent MQTT client that subscribes at QoS 1 and records what arrives.

:func:`mosquitto_or_skip` finds the broker binary, or skips the test with a clear message, or fails it when
``KUNCI_REQUIRE_BROKER`` is set (CI installs Debian's mosquitto and sets it).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.alerts.certs import CertAuthority
from tests.polling import wait_for

#: Generous deadline for anything the broker or a client does (start, connect, deliver), in seconds.
DEADLINE_SECONDS = 30.0
USERNAME = "kunci"
PASSWORD = "correct horse battery staple"


def mosquitto_or_skip() -> str:
    """The mosquitto binary; skip (or fail, with ``KUNCI_REQUIRE_BROKER`` set) when it is not installed."""
    found = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else "")
    passwd = shutil.which("mosquitto_passwd") or ("/usr/bin/mosquitto_passwd"
                                                  if os.access("/usr/bin/mosquitto_passwd", os.X_OK) else "")
    if found and passwd:
        return found
    reason = "mosquitto (and mosquitto_passwd) not installed: the MQTT tests need a real broker (apt install mosquitto)"
    if os.environ.get("KUNCI_REQUIRE_BROKER"):
        pytest.fail(reason + "; KUNCI_REQUIRE_BROKER is set, so this is a failure")
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """One mosquitto process on ``127.0.0.1:<port>`` with TLS and a password file, configured in ``directory``.

    ``ca_file`` is the CA that signed the broker's certificate; :attr:`username`/:attr:`password` log in.
    """

    host = "127.0.0.1"
    username = USERNAME
    password = PASSWORD

    def __init__(self, directory: Path, binary: str) -> None:
        self.directory = directory
        self.binary = binary
        self.port = free_port()
        ca = CertAuthority.create(directory / "ca")
        self.ca_file = str(ca.ca_file)
        server = ca.issue_server(directory / "server")
        passwd = directory / "passwd"
        subprocess.run([shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd", "-b", "-c", str(passwd),
                        self.username, self.password], check=True, capture_output=True)
        (directory / "persist").mkdir()
        self.log_file = directory / "mosquitto.log"
        self.config_file = directory / "mosquitto.conf"
        self.config_file.write_text("\n".join([
            # mosquitto started as root switches to this user; stay the user that owns the files.
            f"user {pwd.getpwuid(os.getuid()).pw_name}",
            "allow_anonymous false",
            f"password_file {passwd}",
            "persistence true",
            f"persistence_location {directory / 'persist'}/",
            f"log_dest file {self.log_file}",
            "log_type all",
            f"listener {self.port} {self.host}",
            f"cafile {self.ca_file}",
            f"certfile {server.cert_file}",
            f"keyfile {server.key_file}",
            "",
        ]))
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start mosquitto and return once a client can connect (AssertionError with its log otherwise)."""
        assert self._process is None, "broker already running"
        self._process = subprocess.Popen([self.binary, "-c", str(self.config_file)], stdout=subprocess.DEVNULL,
                                         stderr=open(self.directory / "mosquitto.stderr", "ab"))  # noqa: SIM115
        try:
            wait_for(self._ready, DEADLINE_SECONDS, "mosquitto to accept a TLS connection")
        except AssertionError:
            self.stop()
            raise AssertionError(f"mosquitto did not start: {self.log()}") from None

    def _ready(self) -> bool:
        assert self._process is not None
        if self._process.poll() is not None:
            raise AssertionError(f"mosquitto exited with {self._process.returncode}: {self.log()}")
        client = self.client("kunci-test-probe")
        try:
            client.connect(self.host, self.port, keepalive=10)
        except OSError:
            return False
        finally:
            client.disconnect()
        return True

    def stop(self) -> None:
        """Stop mosquitto (SIGTERM: it saves sessions and retained messages) and wait for it to exit."""
        process, self._process = self._process, None
        if process is None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=DEADLINE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def log(self) -> str:
        """The broker's log so far (for assertion messages)."""
        parts = [p.read_text(errors="replace") for p in (self.log_file, self.directory / "mosquitto.stderr")
                 if p.exists()]
        return "\n".join(parts)[-4000:]

    def client(self, client_id: str, *, clean_session: bool = True) -> mqtt.Client:
        """A paho client set up for this broker (TLS against the test CA, the test login); not connected."""
        client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id,
                             clean_session=clean_session)
        client.tls_set_context(ssl.create_default_context(cafile=self.ca_file))
        client.username_pw_set(self.username, self.password)
        return client


@dataclass(frozen=True)
class Received:
    """One message as a subscriber got it."""

    topic: str
    payload: bytes
    qos: int
    retain: bool


class Listener:
    """A separate MQTT client subscribed to ``topics`` at QoS 1 that records every message it receives.

    It keeps a persistent session (``clean_session=False``) and subscribes again on every connect, so
    messages published while it was disconnected (broker restarted) are delivered when it is back.
    """

    def __init__(self, broker: Broker, topics: list[str], client_id: str = "kunci-test-listener") -> None:
        self._topics = topics
        self._lock = threading.Lock()
        self._messages: list[Received] = []
        self._subscribed = threading.Event()
        self.client = broker.client(client_id, clean_session=False)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.on_disconnect = lambda *args: self._subscribed.clear()
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        self.client.connect_async(broker.host, broker.port, keepalive=10)
        self.client.loop_start()
        wait_for(self._subscribed.is_set, DEADLINE_SECONDS, f"the listener to subscribe to {topics}")

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, reason_code: object,
                    properties: object) -> None:
        client.subscribe([(topic, 1) for topic in self._topics])

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self._messages.append(Received(message.topic, message.payload, message.qos, bool(message.retain)))

    @property
    def subscribed(self) -> bool:
        return self._subscribed.is_set()

    def messages(self, topic: str | None = None) -> list[Received]:
        """What arrived so far, in order (only on ``topic`` when given)."""
        with self._lock:
            return [m for m in self._messages if topic is None or m.topic == topic]

    def wait_for_count(self, count: int, topic: str | None = None) -> list[Received]:
        """Wait until at least ``count`` messages (on ``topic``) arrived; return them."""
        wait_for(lambda: len(self.messages(topic)) >= count, DEADLINE_SECONDS,
                 f"{count} message(s) on {topic or self._topics}")
        return self.messages(topic)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
