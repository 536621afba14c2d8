"""Connections that never start TLS (a port scanner, a half-open probe, a browser's spare socket) hold neither the
admin page nor its stop: ``kunci demo`` running, a dozen such connections open to its web port, an admin logs in
and a PIN opens the door meanwhile, and Ctrl-C stops the demo cleanly with the connections still open.

Before the handshake moved to the server's workers (controller/cli/https_server.py) each such connection held
every visitor, and the stop, for 10 s: a dozen of them, two minutes, past every wait here.
"""

from __future__ import annotations

import socket
import urllib.parse
from pathlib import Path

import pytest

from tests.e2e.product import Demo, WebSession, kunci, log_events, pin_grants, wait_until

pytestmark = pytest.mark.e2e

SILENT_CONNECTIONS = 12


def test_silent_connections_hold_neither_the_page_nor_the_stop(tmp_path: Path) -> None:
    data = tmp_path / "kunci-demo"
    demo = Demo.start(data, tmp_path / "demo.out")
    silent: list[socket.socket] = []
    try:
        url = urllib.parse.urlsplit(demo.url)
        silent = [socket.create_connection((url.hostname, url.port), timeout=10) for _ in range(SILENT_CONNECTIONS)]

        web = WebSession(demo.url, data / "tls" / "cert.pem")
        web.login("demo", demo.admin_password)
        status, _final, html = web.get("/")
        assert status == 200 and "Kunci" in html

        kunci(data, "sim", "press", demo.pin + "#")
        wait_until(lambda: pin_grants(log_events(data), demo.person), what="the PIN grant in the log")

        assert demo.stop() == 0, demo.text  # Ctrl-C, with every silent connection still open
        assert "did not stop within" not in demo.text
    finally:
        for s in silent:
            s.close()
        if demo.proc.poll() is None:
            demo.kill()

    types = [e["type"] for e in log_events(data)]
    assert "access.granted" in types and types[-1] == "daemon.stopped"
    assert kunci(data, "audit", "verify").returncode == 0
