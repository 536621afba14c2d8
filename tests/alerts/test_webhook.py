"""The webhook destination against a real HTTPS receiver on a loopback port (controller/alerts/webhook.py)."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from controller.alerts.message import DeliveryError, Message
from controller.alerts.webhook import REPLAY_WINDOW_SECONDS, WebhookSink, payload, verify_signature
from controller.config.schema import WebhookConfig
from tests.alerts.certs import CertAuthority

SECRET = b"correct horse battery staple"
NOW = 1_780_000_000.0


@dataclass
class Receiver:
    """What the test receiver got, and how it answers (``status``; ``hang`` holds the answer back)."""

    url: str
    status: int = 200
    hang: threading.Event | None = None
    trickle: bool = False
    posts: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


def _start_receiver(server_context, receiver_status: int = 200) -> tuple[http.server.ThreadingHTTPServer, Receiver]:
    receiver = Receiver(url="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            receiver.posts.append(({k.lower(): v for k, v in self.headers.items()}, body))
            if receiver.hang is not None:
                receiver.hang.wait(30)
            if receiver.trickle:  # an endless answer, one byte at a time, each well within the read timeout
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                for byte in b"X-Slow: 1\r\n" * 1000:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.05)
                return
            self.send_response(receiver.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.handle_error = lambda request, address: None  # a client that gave up (timeout tests) is expected
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    receiver.url = f"https://127.0.0.1:{server.server_address[1]}/hooks/kunci"
    receiver.status = receiver_status
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server, receiver


@pytest.fixture(scope="module")
def authorities(tmp_path_factory: pytest.TempPathFactory) -> tuple[CertAuthority, CertAuthority]:
    directory = tmp_path_factory.mktemp("certs")
    return CertAuthority.create(directory, "trusted CA"), CertAuthority.create(directory, "stranger CA")


def _receiver_fixture(authority: CertAuthority, directory: Path) -> Iterator[Receiver]:
    server, receiver = _start_receiver(authority.issue_server(directory).server_context())
    try:
        yield receiver
    finally:
        if receiver.hang is not None:
            receiver.hang.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver(authorities, tmp_path: Path) -> Iterator[Receiver]:
    """A receiver whose certificate is signed by the CA the sink trusts."""
    yield from _receiver_fixture(authorities[0], tmp_path)


@pytest.fixture
def stranger(authorities, tmp_path: Path) -> Iterator[Receiver]:
    """A receiver whose certificate is signed by a CA the sink does not trust."""
    yield from _receiver_fixture(authorities[1], tmp_path)


def _sink(url: str, ca_file: Path, **overrides) -> WebhookSink:
    config = WebhookConfig(enabled=True, url=url, secret_file="/unused", ca_file=str(ca_file), **overrides)
    return WebhookSink(config, SECRET, clock=lambda: NOW)


def _alarm(msg_id: int, seq: int | None, door: str = "records") -> Message:
    return Message(id=msg_id, kind="alarm", type="door.forced", time="2026-06-01T12:00:00Z", door=door, seq=seq,
                   head=(seq or 7, "ab" * 32), body={"alarm": "door_forced"})


def test_each_message_arrives_signed_in_order_with_its_idempotency_key(receiver, authorities) -> None:
    batch = [_alarm(1, 41), _alarm(2, 42), Message(id=3, kind="test", type="alert.test_sent",
                                                   time="2026-06-01T12:00:01Z", door="records")]
    with _sink(receiver.url, authorities[0].ca_file) as sink:
        sink.send(batch)

    assert [json.loads(body)["id"] for _, body in receiver.posts] == [1, 2, 3]
    assert [headers["idempotency-key"] for headers, _ in receiver.posts] == \
        ["records:41", "records:42", "records:msg-3"]
    for (headers, body), message in zip(receiver.posts, batch):
        assert body == payload(message) and json.loads(body) == message.as_dict()
        assert headers["content-type"] == "application/json"
        assert headers["user-agent"].startswith("kunci/")
        assert headers["x-kunci-timestamp"] == str(int(NOW))
        assert verify_signature(SECRET, headers["x-kunci-timestamp"], body, headers["x-kunci-signature"], now=NOW)
        # The documented rule, computed independently of the module.
        expected = hmac.new(SECRET, f"{int(NOW)}.".encode() + body, hashlib.sha256).hexdigest()
        assert headers["x-kunci-signature"] == f"sha256={expected}"
        assert SECRET.decode() not in json.dumps(headers)


def test_a_receiver_error_is_a_delivery_error(receiver, authorities) -> None:
    receiver.status = 500
    with _sink(receiver.url, authorities[0].ca_file) as sink, pytest.raises(DeliveryError, match="HTTP 500"):
        sink.send([_alarm(1, 41), _alarm(2, 42)])
    assert len(receiver.posts) == 1  # the second waits behind the first: order is never broken


def test_a_hanging_receiver_is_a_delivery_error(receiver, authorities) -> None:
    receiver.hang = threading.Event()
    with _sink(receiver.url, authorities[0].ca_file, timeout_seconds=0.5) as sink, \
            pytest.raises(DeliveryError, match="timed out"):
        sink.send([_alarm(1, 41)])


def test_a_receiver_trickling_its_answer_is_cut_off_at_the_timeout(receiver, authorities) -> None:
    receiver.trickle = True
    with _sink(receiver.url, authorities[0].ca_file, timeout_seconds=0.5) as sink, \
            pytest.raises(DeliveryError, match="timed out"):
        sink.send([_alarm(1, 41)])


def test_a_receiver_certificate_not_signed_by_ca_file_is_refused(stranger, authorities) -> None:
    with _sink(stranger.url, authorities[0].ca_file) as sink, pytest.raises(DeliveryError, match="not trusted"):
        sink.send([_alarm(1, 41)])
    assert stranger.posts == []


def test_without_verification_a_test_receiver_is_reached_and_a_warning_logged(stranger, authorities,
                                                                               caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="controller.alerts.webhook"), \
            _sink(stranger.url, authorities[0].ca_file, verify_tls=False) as sink:
        sink.send([_alarm(1, 41)])
    assert len(stranger.posts) == 1
    assert "verification is OFF" in caplog.text


def test_a_receiver_that_is_down_is_a_delivery_error(authorities) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with _sink(f"https://127.0.0.1:{port}/", authorities[0].ca_file) as sink, \
            pytest.raises(DeliveryError, match="connection failed"):
        sink.send([_alarm(1, 41)])


def test_a_closed_sink_refuses_and_close_is_idempotent(receiver, authorities) -> None:
    sink = _sink(receiver.url, authorities[0].ca_file)
    sink.close()
    sink.close()
    with pytest.raises(DeliveryError):
        sink.send([_alarm(1, 41)])
    assert receiver.posts == []


@pytest.mark.parametrize("secret, body, timestamp, now, genuine", [
    (SECRET, b'{"id":1}', str(int(NOW)), NOW, True),
    (SECRET, b'{"id":1}', str(int(NOW)), NOW + REPLAY_WINDOW_SECONDS, True),  # the edge of the window
    (b"another secret", b'{"id":1}', str(int(NOW)), NOW, False),  # wrong secret
    (SECRET, b'{"id":2}', str(int(NOW)), NOW, False),  # body changed after signing
    (SECRET, b'{"id":1}', str(int(NOW)), NOW + REPLAY_WINDOW_SECONDS + 1, False),  # replayed too late
    (SECRET, b'{"id":1}', str(int(NOW)), NOW - REPLAY_WINDOW_SECONDS - 1, False),  # from the future
    (SECRET, b'{"id":1}', "not a number", NOW, False),
])
def test_verify_signature_accepts_only_genuine_fresh_posts(secret, body, timestamp, now, genuine) -> None:
    signed_at = str(int(NOW))
    signature = "sha256=" + hmac.new(SECRET, f"{signed_at}.".encode() + b'{"id":1}', hashlib.sha256).hexdigest()
    assert verify_signature(secret, timestamp, body, signature, now=now) is genuine


def test_verify_signature_rejects_a_replayed_signature_under_a_new_timestamp() -> None:
    body = b'{"id":1}'
    old = str(int(NOW) - 3600)
    signature = "sha256=" + hmac.new(SECRET, f"{old}.".encode() + body, hashlib.sha256).hexdigest()
    assert not verify_signature(SECRET, str(int(NOW)), body, signature, now=NOW)
    assert not verify_signature(SECRET, old, body, signature, now=NOW)
