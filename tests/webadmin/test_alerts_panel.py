"""The dashboard's Alerts panel and its "Send a test alarm" button against the real door daemon (issue 14 item 7).

The web asks the daemon's ``status`` for the destinations' delivery state and sends ``alert.test`` for the
button; the daemon seals ``alert.test_sent`` and its webhook worker POSTs it to a real HTTPS receiver here.
"""

from __future__ import annotations

import dataclasses
import html
import http.server
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web_support import ADMIN, AUDITOR, STATUS, get, login, new_client, post, real_daemon_web

from controller.config.schema import WebhookConfig
from tests.alerts.certs import CertAuthority
from tests.controller.daemon_harness import DaemonRunner, events, fast_config, wait_for

ACCOUNTS = ((ADMIN, "admin"), (AUDITOR, "auditor"))
BUTTON = "Send a test alarm"


def _alerts_panel(client: Any) -> str:
    """The dashboard's Alerts panel as text (entities decoded)."""
    page = get(client, "/").get_data(as_text=True)
    found = re.search(r'<section class="card alerts".*?</section>', page, re.DOTALL)
    assert found, "no Alerts panel on the dashboard"
    return html.unescape(found.group(0))


def _flashes(client: Any) -> list[str]:
    page = get(client, "/").get_data(as_text=True)
    return [html.unescape(m) for m in re.findall(r'<p class="flash (?:ok|error)" role="(?:alert|status)">(.*?)</p>',
                                                  page, re.DOTALL)]


def _tests_sealed(runner: DaemonRunner) -> list[dict[str, Any]]:
    return [e for e in events(runner.datadir) if e["type"] == "alert.test_sent"]


@pytest.fixture
def system(mock_factory: Any) -> Iterator[tuple[Any, DaemonRunner]]:
    """The real daemon with no alert destination configured, an admin and an auditor."""
    yield from real_daemon_web(fast_config(), ACCOUNTS)


def test_without_destinations_the_panel_says_none_configured_and_the_test_is_refused(system: Any) -> None:
    app, runner = system
    admin = new_client(app)
    assert login(admin).status_code == 303
    panel = _alerts_panel(admin)
    assert "None configured" in panel and "docs/alerts.md" in panel and BUTTON in panel

    r = post(admin, "/alerts/test")
    assert r.status_code == 303 and r.headers["Location"].endswith("/")
    flashes = _flashes(admin)
    assert any("no alert destination is running" in f and "[webhook]" in f for f in flashes), flashes
    assert _tests_sealed(runner) == []


def test_an_auditor_has_no_button_and_a_forged_post_is_refused(system: Any) -> None:
    app, runner = system
    auditor = new_client(app)
    assert login(auditor, AUDITOR).status_code == 303
    panel = _alerts_panel(auditor)
    assert "None configured" in panel and BUTTON not in panel and "/alerts/test" not in panel

    assert post(auditor, "/alerts/test").status_code == 403
    assert _tests_sealed(runner) == []


# -- a real webhook receiver ------------------------------------------------------------------------


class _Receiver:
    """An HTTPS server on a loopback port recording every POST body (answers 200)."""

    def __init__(self, authority: CertAuthority, directory: Path) -> None:
        self.bodies: list[bytes] = []
        bodies = self.bodies

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.socket = authority.issue_server(directory).server_context().wrap_socket(
            self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def messages(self) -> list[dict[str, Any]]:
        return [json.loads(body) for body in list(self.bodies)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[_Receiver, CertAuthority]]:
    authority = CertAuthority.create(tmp_path, "receiver CA")
    running = _Receiver(authority, tmp_path)
    try:
        yield running, authority
    finally:
        running.close()


@pytest.fixture
def webhook_system(mock_factory: Any, receiver: Any, tmp_path: Path) -> Iterator[tuple[Any, DaemonRunner]]:
    """The real daemon with ``[webhook] enabled`` against the receiver, an admin and an auditor.

    The secret file sits in the test's directory (absolute path, mode 0600): ``real_daemon_web`` makes the data
    directory and starts the daemon in one step, so there is no moment to write into it first.
    """
    running, authority = receiver
    secret = tmp_path / "webhook.secret"
    secret.write_text("correct horse battery staple\n", encoding="utf-8")
    secret.chmod(0o600)
    hook = WebhookConfig(enabled=True, url=running.url, secret_file=str(secret), ca_file=str(authority.ca_file))
    yield from real_daemon_web(dataclasses.replace(fast_config(), webhook=hook), ACCOUNTS)


def test_the_button_delivers_a_test_alarm_to_the_webhook_and_the_panel_shows_it_delivered(
        webhook_system: Any, receiver: Any) -> None:
    app, runner = webhook_system
    running, _ = receiver
    admin = new_client(app)
    assert login(admin).status_code == 303
    panel = _alerts_panel(admin)
    assert re.search(r"webhook</strong>:\s*running;", panel), panel
    assert "nothing delivered yet" in panel

    r = post(admin, "/alerts/test")
    assert r.status_code == 303
    assert "Test alarm sent to webhook" in _flashes(admin)

    wait_for(lambda: [m for m in running.messages() if m.get("kind") == "test"], what="the test alarm at the receiver")
    tests = [m for m in running.messages() if m.get("kind") == "test"]
    assert len(tests) == 1 and tests[0]["type"] == "alert.test_sent"
    sealed = _tests_sealed(runner)
    assert [(e["actor"], e["detail"]) for e in sealed] == [(ADMIN, {"destinations": ["webhook"]})]

    panel = wait_for(lambda: next((p for p in [_alerts_panel(admin)] if "last delivered" in p), None),
                     what="a last-delivered time for webhook on the dashboard")
    assert re.search(r"webhook</strong>:\s*running;.*?last delivered <time datetime=\"[^\"]+\">\d{4}-\d\d-\d\d ",
                     panel, re.DOTALL), panel
    assert "failing since" not in panel


def test_the_panel_words_a_setup_error_and_a_failing_destination_in_the_warning_style(admin: Any, daemon: Any) -> None:
    """Fed by a stand-in daemon's status: the states a real one reaches only after minutes of retries."""
    long_error = "connection refused by " + "receiver.example.org/" * 20
    daemon.handlers["status"] = lambda req, progress: {**STATUS, "alerts": {
        "mqtt": {"running": False, "setup_error": "mqtt.password_file: /etc/kunci/mqtt has mode 0644"},
        "webhook": {"cursor": 40, "last_success": "2026-06-01T10:00:00Z", "last_error": long_error,
                    "last_error_at": "2026-06-01T11:00:00Z", "failures": 7, "dropped": 0, "depth": 3,
                    "oldest": "2026-06-01T10:30:00Z", "running": True},
        "email": {"cursor": 41, "last_success": "2026-06-01T11:05:00Z", "last_error": "timed out",
                  "last_error_at": "2026-06-01T11:00:00Z", "failures": 0, "dropped": 0, "depth": 0,
                  "oldest": None, "running": True}}}
    panel = _alerts_panel(admin)
    assert 'class="bad">not running: mqtt.password_file: /etc/kunci/mqtt has mode 0644' in panel
    webhook = re.search(r'<li id="alert-webhook">.*?</li>', panel, re.DOTALL).group(0)
    assert "3 message(s) waiting" in webhook and "last delivered" in webhook
    assert f'<p class="flash error">failing since 2026-06-01 11:00:00: {long_error}</p>' in webhook
    email = re.search(r'<li id="alert-email">.*?</li>', panel, re.DOTALL).group(0)
    assert "last delivered" in email and "failing" not in email  # delivered again since that error
