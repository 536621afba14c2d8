"""Serving over real HTTPS with cheroot: TLS 1.2 minimum, plain HTTP refused, `kunci web` start and clean stop (T6.16)."""

from __future__ import annotations

import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from controller.cli.https_server import make_ssl_adapter, serve_https
from controller.cli.web_cmd import resolve_tls_files
from controller.store.db import upgrade_database
from controller.errors import ConfigError
from controller.paths import DataDir
from controller.ops.tls import cert_fingerprint_sha256, ensure_self_signed_cert

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def tls_pair(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    ensure_self_signed_cert(cert, key, ["127.0.0.1"])
    return cert, key


@pytest.fixture
def server(app: Any, tls_pair: tuple[Path, Path]) -> Any:
    srv = serve_https(app, "127.0.0.1", 0, *tls_pair)
    yield srv
    srv.stop()
    srv.kunci_thread.join(timeout=10)


def _client_context(cert: Path, **versions: Any) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(cert))
    for name, value in versions.items():
        setattr(ctx, name, value)
    return ctx


def test_login_page_over_tls_12_or_newer(server: Any, tls_pair: tuple[Path, Path]) -> None:
    port = server.bind_addr[1]
    ctx = _client_context(tls_pair[0])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
    with urllib.request.urlopen(f"https://127.0.0.1:{port}/login", context=ctx, timeout=10) as resp:
        body = resp.read().decode()
        assert resp.status == 200
        assert "Log in" in body and "Kunci" in body
        assert resp.headers["Strict-Transport-Security"].startswith("max-age=")
        assert resp.headers["Set-Cookie"].startswith("__Host-kunci=")


def test_tls_12_client_accepted(server: Any, tls_pair: tuple[Path, Path]) -> None:
    ctx = _client_context(tls_pair[0], maximum_version=ssl.TLSVersion.TLSv1_2)
    with socket.create_connection(("127.0.0.1", server.bind_addr[1]), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            assert tls.version() == "TLSv1.2"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_tls_11_client_refused(server: Any, tls_pair: tuple[Path, Path]) -> None:
    ctx = _client_context(tls_pair[0])
    ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    try:
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    except ssl.SSLError:
        pass
    with socket.create_connection(("127.0.0.1", server.bind_addr[1]), timeout=10) as raw:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1"):
                pass


def _tls12_handshake(server: Any, cert: Path, cipher: str) -> tuple[str, str]:
    """Connect as a client that offers TLS 1.2 and the one suite ``cipher``; ``(version, cipher)`` agreed."""
    ctx = _client_context(cert, maximum_version=ssl.TLSVersion.TLSv1_2)
    ctx.set_ciphers(cipher)
    with socket.create_connection(("127.0.0.1", server.bind_addr[1]), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            return tls.version(), tls.cipher()[0]


@pytest.mark.parametrize(
    "cipher", ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305"]
)
def test_tls_12_aead_suites_accepted(server: Any, tls_pair: tuple[Path, Path], cipher: str) -> None:
    assert _tls12_handshake(server, tls_pair[0], cipher) == ("TLSv1.2", cipher)


@pytest.mark.parametrize(
    "cipher", ["ECDHE-ECDSA-AES128-SHA256", "ECDHE-ECDSA-AES256-SHA384", "ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA"]
)
def test_tls_12_cbc_suites_refused(server: Any, tls_pair: tuple[Path, Path], cipher: str) -> None:
    with pytest.raises(ssl.SSLError, match="HANDSHAKE_FAILURE|NO_SHARED_CIPHER|handshake failure"):
        _tls12_handshake(server, tls_pair[0], cipher)


def test_server_offers_only_aead_suites(tls_pair: tuple[Path, Path]) -> None:
    suites = make_ssl_adapter(*tls_pair).context.get_ciphers()
    assert suites and all(s["aead"] for s in suites)
    assert all(s["kea"] == "kx-ecdhe" for s in suites if s["protocol"] == "TLSv1.2")


def test_server_context_minimum_is_tls_12(tls_pair: tuple[Path, Path]) -> None:
    adapter = make_ssl_adapter(*tls_pair)
    assert adapter.context.minimum_version == ssl.TLSVersion.TLSv1_2


def test_plain_http_gets_no_page(server: Any) -> None:
    with socket.create_connection(("127.0.0.1", server.bind_addr[1]), timeout=10) as raw:
        raw.sendall(b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        data = b""
        try:
            while chunk := raw.recv(4096):
                data += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    assert b"200 OK" not in data
    assert b"Log in" not in data
    assert data.startswith(b"HTTP/1.1 400 Bad Request") and b"only speaks HTTPS on this port" in data


def _silent(port: int, count: int) -> list[socket.socket]:
    """``count`` TCP connections that never start TLS: a port scanner, a half-open probe, a browser's spare socket."""
    return [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(count)]


def test_silent_connections_do_not_hold_other_visitors(app: Any, tls_pair: tuple[Path, Path], monkeypatch) -> None:
    """The handshake is a worker's job, not the accept loop's (cheroot issue 748: there each silent connection held
    every visitor for the socket timeout). Both bounds are an hour here, so the page answers only if no silent
    connection stands in its way."""
    import controller.cli.https_server as https_server

    monkeypatch.setattr(https_server, "HANDSHAKE_SECONDS", 3600.0)
    srv = serve_https(app, "127.0.0.1", 0, *tls_pair)
    srv.timeout = 3600
    port = srv.bind_addr[1]
    silent = _silent(port, https_server.SERVER_THREADS - 2)
    try:
        ctx = _client_context(tls_pair[0])
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/login", context=ctx, timeout=60) as resp:
            assert resp.status == 200 and b"Log in" in resp.read()
    finally:
        for s in silent:
            s.close()
        srv.stop()
        srv.kunci_thread.join(timeout=10)


def test_a_stop_is_not_held_by_silent_connections(app: Any, tls_pair: tuple[Path, Path]) -> None:
    """Twelve silent connections (more than the workers): the accept loop is free, each worker gives up at
    HANDSHAKE_SECONDS, so the stop ends in seconds (held in the accept loop, it took 10 s per connection: two
    minutes, past this test's minute)."""
    srv = serve_https(app, "127.0.0.1", 0, *tls_pair)
    silent = _silent(srv.bind_addr[1], 12)
    try:
        stopper = threading.Thread(target=srv.stop, daemon=True)
        stopper.start()
        stopper.join(timeout=60)
        assert not stopper.is_alive(), "the server's stop was held by connections that never started TLS"
        srv.kunci_thread.join(timeout=10)
        assert not srv.kunci_thread.is_alive()
    finally:
        for s in silent:
            s.close()


def test_site_certificate_must_be_a_pair(tmp_path: Path, tls_pair: tuple[Path, Path]) -> None:
    dd = DataDir(tmp_path / "data")
    with pytest.raises(ConfigError):
        resolve_tls_files(dd, str(tls_pair[0]), "")
    with pytest.raises(ConfigError):
        resolve_tls_files(dd, str(tls_pair[0]), str(tmp_path / "missing.pem"))
    assert resolve_tls_files(dd, str(tls_pair[0]), str(tls_pair[1])) == (tls_pair[0], tls_pair[1], False)
    cert, key, created = resolve_tls_files(dd, "", "")
    assert created and cert == dd.tls_cert_file and key.exists()
    assert resolve_tls_files(dd, "", "")[2] is False


def test_kunci_web_serves_https_prints_fingerprint_and_stops_on_sigterm(data_dir: Path) -> None:
    upgrade_database(f"sqlite:///{data_dir / 'kunci.db'}")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "controller", "web", "--data", str(data_dir), "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    try:
        lines = []
        for _ in range(4):
            line = proc.stdout.readline()
            lines.append(line)
            if "fingerprint" in line:
                break
        text = "".join(lines)
        url = re.search(r"https://127\.0\.0\.1:(\d+)/", text)
        assert url, text + proc.stderr.read()
        cert = data_dir / "tls" / "cert.pem"
        assert cert_fingerprint_sha256(cert) in text
        ctx = _client_context(cert)
        with urllib.request.urlopen(f"https://127.0.0.1:{url.group(1)}/login", context=ctx, timeout=10) as resp:
            assert resp.status == 200
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert "stopped" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_web_refuses_an_uninitialised_database(data_dir: Path) -> None:
    from controller.errors import StoreError
    from webadmin import create_app

    with pytest.raises(StoreError, match="kunci init"):
        create_app(data_dir)


def test_web_process_never_loads_drivers_or_secrets(data_dir: Path) -> None:
    """Drive the app in a fresh interpreter and check what it imported (docs/internals.md "One writer, one sealer")."""
    upgrade_database(f"sqlite:///{data_dir / 'kunci.db'}")
    script = f"""
import sys
from argon2 import profiles
from controller.store import staff
from controller.store.db import make_engine, session_factory
from webadmin import create_app
eng = make_engine("sqlite:///{data_dir / 'kunci.db'}")
h = staff.make_hasher(profiles.CHEAPEST)
with session_factory(eng)() as db:
    staff.add_account(db, "alice", "correct horse battery staple 42", "admin", "cli", hasher=h)
    db.commit()
app = create_app({str(data_dir)!r}, test_config={{"KUNCI_HASHER": h}})
c = app.test_client()
import re
page = c.get("/login", base_url="https://localhost").get_data(as_text=True)
token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
r = c.post("/login", data={{"username": "alice", "password": "correct horse battery staple 42", "csrf_token": token}}, base_url="https://localhost")
assert r.status_code == 303, r.status_code
for path in ("/", "/people", "/people/new", "/log", "/audit", "/settings"):
    assert c.get(path, base_url="https://localhost").status_code == 200, path
# No daemon here: an export cannot be logged, so it is refused.
assert c.get("/log/export.csv", base_url="https://localhost").status_code == 503
# The configuration check reads the key alphabet (drivers/keys.py, pure data; the drivers package itself is
# only a docstring): that one is allowed, as in the import contracts. No driver, no hardware library.
allowed = {"drivers", "drivers.keys"}
bad = sorted(m for m in sys.modules if m not in allowed and (m.startswith(("drivers.", "gpiozero", "serial", "pyfingerprint")) or m in ("controller.store.keys", "controller.daemon.loop", "controller.daemon.hardware")))
print("LOADED", bad)
import drivers
assert not [name for name in vars(drivers) if not name.startswith("__") and name != "keys"], vars(drivers)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "LOADED []" in out.stdout


def test_the_tls_environ_never_reads_the_session(tmp_path) -> None:
    """Reading SSLSocket.session leaks native memory per connection on CPython 3.11 (TLS 1.3)."""
    from controller.cli.https_server import make_ssl_adapter
    from controller.ops.tls import ensure_self_signed_cert

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    ensure_self_signed_cert(cert, key, ["localhost"])
    adapter = make_ssl_adapter(cert, key)

    class Sock:
        def cipher(self):
            return ("TLS_AES_256_GCM_SHA384", "TLSv1.3", 256)

        @property
        def session(self):
            raise AssertionError("the session was read")

    environ = adapter.get_environ(Sock())
    assert environ["HTTPS"] == "on" and environ["SSL_PROTOCOL"] == "TLSv1.3"
