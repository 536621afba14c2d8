"""Alarms leave the room (issue 14), driven as a user does: ``kunci run`` on simulated hardware configured for a
real Mosquitto broker, a real SMTP server (aiosmtpd) and an HTTPS webhook receiver, all on loopback; ``kunci
sim`` forces the door, ``kunci alert test`` sends a test alarm, ``kunci status`` shows the delivery state; then
the broker is stopped while 500 events happen, and every one of them arrives after it returns, in order, once
for a receiver that uses the idempotency key. Heads collected from MQTT prove the log was not truncated.

Waits are polls with a deadline; no test asserts a duration (the delivery delays are printed for the record).
"""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import os
import signal
import ssl
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.alerts.broker import Broker, Listener, free_port, mosquitto_or_skip
from tests.alerts.certs import CertAuthority
from tests.e2e.product import add_person, kunci, log_events, start_daemon, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SMTP_USER, SMTP_PASSWORD = "door", "mail-secret"
WEBHOOK_SECRET = "webhook-shared-secret-for-the-test"


# ------------------------------------------------------------------------- the receivers


@dataclass
class Hooks:
    """What the HTTPS webhook receiver got: (arrival time, headers, body) per POST."""

    posts: list[tuple[float, dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self) -> list[dict]:
        with self.lock:
            return [json.loads(body) for _, _, body in self.posts]


@pytest.fixture
def webhook(tmp_path: Path) -> Iterator[tuple[Hooks, str, str]]:
    authority = CertAuthority.create(tmp_path / "hook-ca")
    hooks = Hooks()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with hooks.lock:
                hooks.posts.append((time.time(), dict(self.headers), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = authority.issue_server(tmp_path / "hook-cert").server_context().wrap_socket(
        server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hooks, f"https://127.0.0.1:{server.server_address[1]}/kunci", str(authority.ca_file)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def mailbox(tmp_path: Path) -> Iterator[tuple[list, int, str]]:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    authority = CertAuthority.create(tmp_path / "smtp-ca")
    context = authority.issue_server(tmp_path / "smtp-cert").server_context()
    received: list[tuple[float, bytes]] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: ANN001 - aiosmtpd's handler API
            received.append((time.time(), envelope.content))
            return "250 OK"

    def authenticator(server, session, envelope, mechanism, auth_data):  # noqa: ANN001
        ok = auth_data.login == SMTP_USER.encode() and auth_data.password == SMTP_PASSWORD.encode()
        return AuthResult(success=ok)

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
                            authenticator=authenticator, auth_require_tls=True)
    controller.start()
    try:
        yield received, port, str(authority.ca_file)
    finally:
        controller.stop()


# ------------------------------------------------------------------------- the door


def set_keys(config: Path, section: str, **values: object) -> None:
    """Set ``values`` in ``[section]`` of the kunci.toml ``kunci init`` wrote (every key is there already)."""
    lines = config.read_text().splitlines()
    start = lines.index(f"[{section}]")
    for key, value in values.items():
        text = json.dumps(value) if not isinstance(value, bool) else str(value).lower()
        for i in range(start + 1, len(lines)):
            if lines[i].startswith("["):
                raise AssertionError(f"{section}.{key} not in {config}")
            if lines[i].startswith(f"{key} = "):
                lines[i] = f"{key} = {text}"
                break
    config.write_text("\n".join(lines) + "\n")


def secret(data: Path, name: str, text: str) -> str:
    path = data / "secrets" / name
    path.write_text(text)
    os.chmod(path, 0o600)
    return str(path)


def configure(data: Path, broker: Broker, hook_url: str, hook_ca: str, smtp_port: int, smtp_ca: str,
              events: str = "alarms") -> None:
    kunci(data, "init")
    config = data / "kunci.toml"
    text = config.read_text().replace("\nsimulated = false\n", "\nsimulated = true\n")
    config.write_text(text)
    set_keys(config, "site", clock_trust="always")
    set_keys(config, "door", exit_unlocks=False, door_contact_debounce_ms=20)
    set_keys(config, "outbox", events=events, retry_max_seconds=2)
    set_keys(config, "mqtt", enabled=True, host=broker.host, port=broker.port, ca_file=broker.ca_file,
             username=broker.username, password_file=secret(data, "mqtt.password", broker.password))
    set_keys(config, "webhook", enabled=True, url=hook_url, ca_file=hook_ca,
             secret_file=secret(data, "webhook.secret", WEBHOOK_SECRET))
    set_keys(config, "email", enabled=True, host="127.0.0.1", port=smtp_port, ca_file=smtp_ca, username=SMTP_USER,
             password_file=secret(data, "smtp.password", SMTP_PASSWORD), sender="door@example.org",
             recipients=["security@example.org"], group_seconds=0)


def status(data: Path) -> dict:
    return json.loads(kunci(data, "status", "--json").stdout)


def stop(proc) -> None:  # noqa: ANN001
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 0


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    running = Broker(_mkdir(tmp_path / "mosquitto"), mosquitto_or_skip())
    running.start()
    try:
        yield running
    finally:
        running.stop()


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def _metrics(port: int, needle: str) -> str | None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return text if needle in text else None


def test_a_forced_door_reaches_mqtt_the_webhook_and_the_mailbox(tmp_path: Path, broker: Broker, webhook,
                                                                 mailbox) -> None:
    hooks, hook_url, hook_ca = webhook
    mails, smtp_port, smtp_ca = mailbox
    data = tmp_path / "d"
    configure(data, broker, hook_url, hook_ca, smtp_port, smtp_ca)
    metrics_port = free_port()
    set_keys(data / "kunci.toml", "metrics", enabled=True, port=metrics_port)
    code, pin = add_person(data, "Rina Hartono")
    listener = Listener(broker, ["kunci/#"])
    proc = start_daemon(data, tmp_path / "run.out")
    try:
        wait_until(lambda: all(a.get("running") for a in status(data)["alerts"].values())
                   and len(status(data)["alerts"]) == 3, what="three running destinations")
        wait_until(lambda: listener.messages("kunci/main/availability"), what="online on MQTT")
        forced_at = time.time()
        kunci(data, "sim", "door", "open")  # nobody was granted: a forced door
        topic = "kunci/main/alarm"
        first = wait_until(lambda: [m for m in listener.messages(topic)
                                    if json.loads(m.payload).get("body", {}).get("alarm") == "door_forced"],
                           what="door_forced on MQTT")
        alarm = json.loads(first[0].payload)
        assert alarm["kind"] == "alarm" and alarm["type"] == "alarm.raised" and alarm["head"]["seq"] == alarm["seq"]
        wait_until(lambda: [b for b in hooks.bodies() if b.get("body", {}).get("alarm") == "door_forced"],
                   what="door_forced at the webhook")
        wait_until(lambda: [m for _, m in mails if b"door forced" in m], what="door_forced in the mailbox")
        arrivals = {"mqtt": time.time(), "webhook": hooks.posts[0][0], "email": mails[0][0]}
        print("delivery delays after `kunci sim door open` returned (s):",
              {k: round(v - forced_at, 2) for k, v in arrivals.items()})
        # The webhook's signature verifies with the shared secret; its idempotency key is door:seq.
        _, headers, body = hooks.posts[0]
        signed = hmac.new(WEBHOOK_SECRET.encode(), headers["X-Kunci-Timestamp"].encode() + b"." + body,
                          hashlib.sha256).hexdigest()
        assert headers["X-Kunci-Signature"] == f"sha256={signed}"
        assert headers["Idempotency-Key"] == f"main:{json.loads(body)['seq']}"
        mail = next(m for _, m in mails if b"door forced" in m)
        assert b"Log head: seq=" in mail and b"Person" not in mail
        # The retained door state says what a phone or Home Assistant shows.
        wait_until(lambda: [m for m in listener.messages("kunci/main/state")
                            if "door_forced" in json.loads(m.payload)["body"]["alarms"]], what="state with the alarm")
        kunci(data, "sim", "door", "close")

        out = kunci(data, "alert", "test").stdout
        assert "email, mqtt, webhook" in out
        wait_until(lambda: [b for b in hooks.bodies() if b["kind"] == "test"], what="the test alarm at the webhook")
        wait_until(lambda: [m for m in listener.messages(topic) if json.loads(m.payload)["kind"] == "test"],
                   what="the test alarm on MQTT")
        wait_until(lambda: [m for _, m in mails if b"test alarm" in m], what="the test alarm in the mailbox")
        text = kunci(data, "status").stdout
        assert "webhook: running, 0 waiting, last delivered" in text, text
        # Prometheus: the decision counted by method and result, the delivery state, and no name or code.
        kunci(data, "sim", "press", pin + "#")
        wait_until(lambda: [e for e in log_events(data) if e["type"] == "access.granted"], what="the grant")
        scrape = wait_until(lambda: _metrics(metrics_port, 'kunci_decisions_total{method="pin",reason="",'
                                             'result="granted"} 1.0'), what="the grant in /metrics")
        assert 'kunci_outbox_depth{destination="webhook"} 0.0' in scrape
        assert code not in scrape and "Rina" not in scrape
        stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
        listener.close()
    # Every alarm message carried the log's head: collected off the device, they prove nothing was cut off.
    heads = tmp_path / "heads.txt"
    heads.write_text("\n".join(f"{m.topic} {m.payload.decode()}" for m in listener.messages()) + "\n")
    verified = kunci(data, "audit", "verify", "--anchor-from", str(heads))
    assert "published heads OK" in verified.stdout


@pytest.mark.slow(seconds=130)
def test_with_the_broker_down_for_two_minutes_every_event_arrives_after_in_order_once(
        tmp_path: Path, broker: Broker, webhook, mailbox) -> None:
    hooks, hook_url, hook_ca = webhook
    _, smtp_port, smtp_ca = mailbox
    data = tmp_path / "d"
    configure(data, broker, hook_url, hook_ca, smtp_port, smtp_ca, events="all")
    listener = Listener(broker, ["kunci/main/event", "kunci/main/alarm"], client_id="auditor")
    proc = start_daemon(data, tmp_path / "run.out")
    try:
        wait_until(lambda: status(data)["alerts"].get("mqtt", {}).get("running"), what="mqtt running")
        kunci(data, "sim", "exit")
        wait_until(lambda: [m for m in listener.messages() if json.loads(m.payload)["type"] == "exit.request"],
                   what="the first exit request on MQTT")
        listener.close()
        broker.stop()
        down_at = time.monotonic()
        before = log_events(data)[-1]["seq"]
        kunci(data, "sim", "exit", "--times", "520", "--hold-ms", "60", timeout=600)
        assert log_events(data)[-1]["seq"] - before >= 500, "fewer than 500 events during the outage"
        wait_until(lambda: status(data)["alerts"]["mqtt"].get("last_error"), what="the outage in kunci status")
        wait_until(lambda: time.monotonic() - down_at >= 120, timeout=300, interval=1.0,
                   what="two minutes of outage")
        broker.start()
        listener = Listener(broker, ["kunci/main/event", "kunci/main/alarm"], client_id="auditor")
        expected = [e["seq"] for e in log_events(data)]
        wait_until(lambda: max([json.loads(m.payload)["seq"] for m in listener.messages()] or [0]) >= expected[-1],
                   timeout=180, what="the backlog delivered after the broker came back")
        stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    seqs = [json.loads(m.payload)["seq"] for m in listener.messages()]
    once: list[int] = []
    for seq in seqs:  # a receiver applying each idempotency key once
        if seq not in once:
            once.append(seq)
    exits = [e["seq"] for e in log_events(data) if e["type"] == "exit.request"]
    assert [s for s in once if s in set(exits[1:])] == exits[1:], "an exit request was lost or out of order"
    assert once == sorted(once)
    # the webhook (never down) got them all too, once each by its Idempotency-Key
    keys = [h["Idempotency-Key"] for _, h, _ in hooks.posts]
    assert {f"main:{s}" for s in exits} <= set(keys)
