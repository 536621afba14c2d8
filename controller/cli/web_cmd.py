"""``kunci web``: serve the admin web page over HTTPS only, with cheroot (never Flask's dev server).

The certificate is ``web.cert_file``/``web.key_file`` from the configuration when set
(a site certificate), else ``DATA/tls/cert.pem`` and ``DATA/tls/key.pem``; a self-signed
pair is created there when absent. Its SHA-256 fingerprint is printed so staff can check
what their browser shows. TLS 1.2 is the oldest protocol accepted; a plain-HTTP request
to the port gets cheroot's "this server only speaks HTTPS" refusal. SIGTERM and SIGINT
stop the server cleanly.

:func:`serve_https` is also what ``kunci demo`` uses to run the page in a thread.
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import ssl
import sys
import threading
from pathlib import Path
from typing import Any

from controller.errors import ConfigError, DataDirError
from controller.paths import DataDir

logger = logging.getLogger(__name__)

#: Worker threads of the WSGI server (the login limiter and enrolment jobs live in this one process).
SERVER_THREADS = 8


def make_ssl_adapter(cert: str | Path, key: str | Path) -> Any:
    """A cheroot ``BuiltinSSLAdapter`` for ``cert``/``key`` whose context refuses anything older than TLS 1.2."""
    from cheroot.ssl.builtin import BuiltinSSLAdapter

    class Adapter(BuiltinSSLAdapter):
        """Builds the per-connection TLS environ without reading ``SSLSocket.session``.

        cheroot reads ``sock.session`` for ``SSL_SESSION_ID``; on CPython 3.11 with TLS 1.3 each
        read leaks about 2 KB of native memory (measured: a server taking connections grew without
        bound; Python's object count stayed flat). Kunci uses none of these variables.
        """

        def get_environ(self, sock: Any) -> dict[str, Any]:
            cipher = sock.cipher() or ("", "", 0)
            return {"wsgi.url_scheme": "https", "HTTPS": "on", "SSL_PROTOCOL": cipher[1], "SSL_CIPHER": cipher[0]}

    try:
        adapter = Adapter(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        raise DataDirError(f"cannot load the TLS certificate {cert} / key {key}: {exc}") from exc
    adapter.context.minimum_version = ssl.TLSVersion.TLSv1_2
    return adapter


def _error_log(msg: str = "", level: int = logging.INFO, traceback: bool = False) -> None:
    """cheroot's error hook: dropped handshakes (plain HTTP, old TLS, scanners) are routine, so INFO."""
    logger.log(level, "web server: %s", msg, exc_info=traceback)


def serve_https(app: Any, host: str, port: int, cert: str | Path, key: str | Path) -> Any:
    """Start serving the WSGI ``app`` over HTTPS on ``host``:``port`` in a background thread.

    :param app: a WSGI application (``webadmin.create_app(...)``).
    :param host: address to listen on (``127.0.0.1`` by default in the configuration).
    :param port: TCP port; 0 picks a free one (read it back from ``server.bind_addr[1]``).
    :param cert: PEM certificate file; ``key``: its PEM private key.
    :returns: the started ``cheroot.wsgi.Server``; the socket is bound when this returns, so a
        port in use raises here (``OSError``). Call ``server.stop()`` to stop it.
    """
    from cheroot import wsgi

    server = wsgi.Server((host, port), app, numthreads=SERVER_THREADS, server_name="kunci")
    server.error_log = _error_log  # cheroot writes to stderr by default; use logging instead
    server.ssl_adapter = make_ssl_adapter(cert, key)
    server.prepare()
    thread = threading.Thread(target=server.serve, name="kunci-web", daemon=True)
    thread.start()
    server.kunci_thread = thread  # lets callers join after stop()
    logger.info("admin web listening on https://%s:%s/", host, server.bind_addr[1])
    return server


def resolve_tls_files(datadir: DataDir, cert_file: str, key_file: str) -> tuple[Path, Path, bool]:
    """Pick the certificate pair: configured files if both set, else ``DATA/tls/*`` (created if absent).

    :returns: ``(cert, key, created)``; ``created`` is True when a self-signed pair was just written.
    :raises ConfigError: if only one of ``web.cert_file``/``web.key_file`` is set or a configured file is missing.
    """
    from controller.tls import ensure_self_signed_cert

    if cert_file or key_file:
        if not (cert_file and key_file):
            raise ConfigError(["web.cert_file and web.key_file must be set together"])
        cert, key = Path(cert_file), Path(key_file)
        missing = [str(p) for p in (cert, key) if not p.is_file()]
        if missing:
            raise ConfigError([f"web certificate file not found: {m}" for m in missing])
        return cert, key, False
    hosts = [socket.gethostname()]
    created = ensure_self_signed_cert(datadir.tls_cert_file, datadir.tls_key_file, hosts)
    return datadir.tls_cert_file, datadir.tls_key_file, created


def _run(args: argparse.Namespace) -> int:
    """Handler of ``kunci web``."""
    from controller.config import load_config
    from controller.tls import cert_expiry, cert_fingerprint_sha256
    from webadmin import create_app

    datadir = DataDir.resolve(args.data)
    config = load_config(datadir.config_file)
    web = config.web
    host = args.host or web.host
    port = args.port if args.port is not None else web.port
    cert, key, created = resolve_tls_files(datadir, web.cert_file, web.key_file)
    app = create_app(datadir.root)
    server = serve_https(app, host, port, cert, key)

    if created:
        print(f"Created a self-signed certificate: {cert}")
    print(f"Kunci admin page: https://{host}:{server.bind_addr[1]}/")
    print(f"Certificate SHA-256 fingerprint: {cert_fingerprint_sha256(cert)}")
    print(f"Certificate valid until: {cert_expiry(cert):%Y-%m-%d}")
    sys.stdout.flush()

    stop = threading.Event()

    def _on_signal(signum: int, _frame: Any) -> None:
        logger.info("signal %s: stopping the admin web", signum)
        stop.set()

    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        while not stop.wait(1.0):
            if not server.kunci_thread.is_alive():
                print("kunci: error: the web server stopped unexpectedly", file=sys.stderr)
                return 1
    finally:
        server.stop()
        server.kunci_thread.join(timeout=10)
        for s, handler in previous.items():
            signal.signal(s, handler)
    print("Kunci admin page stopped.")
    return 0


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add ``kunci web`` to the CLI."""
    p = subparsers.add_parser(
        "web",
        parents=[common],
        help="serve the admin web page over HTTPS",
        description="Serve the admin web page over HTTPS only (TLS 1.2+), with cheroot.",
    )
    p.add_argument("--host", default=None, help="address to listen on (default: web.host, 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="TCP port (default: web.port, 8443)")
    p.set_defaults(func=_run)
