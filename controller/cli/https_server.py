"""The HTTPS server of ``kunci web`` and ``kunci site web``: cheroot, TLS 1.2 or newer, AEAD suites only, and
each TLS handshake done by a worker thread, never by the thread that accepts connections.

cheroot does the handshake inside its accept loop (cheroot issue 748): one client that opens a TCP connection and
sends nothing (a port scanner, a half-open probe, a browser's speculative connection) held every other visitor
for the whole socket timeout, 10 s per such connection (measured: with two silent connections open, the login
page answered after 19.6 s), and held a stop of the server as long. Here the accept loop only wraps the socket
(no I/O); the worker that reads the first request does the handshake, bounded by :data:`HANDSHAKE_SECONDS`, and
a client that speaks plain HTTP to the port still gets the "this server only speaks HTTPS" refusal.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from pathlib import Path
from typing import Any

from cheroot import errors, wsgi
from cheroot.server import HTTPConnection
from cheroot.ssl.builtin import BuiltinSSLAdapter

from controller.errors import DataDirError
from controller.i18n import T

logger = logging.getLogger("controller.cli.web_cmd")

#: OpenSSL cipher list for TLS 1.2: ECDHE with AES-GCM or ChaCha20-Poly1305.
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL"
#: Worker threads of the WSGI server (the login limiter and enrolment jobs live in this one process).
SERVER_THREADS = 8
#: Longest a client may take over its TLS handshake, seconds (a browser needs milliseconds).
HANDSHAKE_SECONDS = 5.0
#: What a client that speaks plain HTTP to the HTTPS port is told (cheroot's own words, in plain HTTP).
PLAIN_HTTP_REFUSAL = "The client sent a plain HTTP request, but this server only speaks HTTPS on this port."


class TlsAdapter(BuiltinSSLAdapter):
    """Wraps an accepted socket without a handshake (:class:`HandshakeInWorker` does it), and builds the TLS
    environ without reading ``SSLSocket.session``: on CPython 3.11 with TLS 1.3 each read leaks about 2 KB of
    native memory (measured: a server taking connections grew without bound; Python's object count stayed flat).
    Kunci uses none of these variables."""

    def wrap(self, sock: socket.socket) -> tuple[ssl.SSLSocket, dict[str, Any]]:
        try:
            return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), {}
        except OSError as exc:  # the client went away between accept and wrap
            raise errors.FatalSSLAlert(*exc.args) from exc

    def get_environ(self, sock: Any) -> dict[str, Any]:
        cipher = sock.cipher() or ("", "", 0)
        return {"wsgi.url_scheme": "https", "HTTPS": "on", "SSL_PROTOCOL": cipher[1], "SSL_CIPHER": cipher[0]}


class HandshakeInWorker(HTTPConnection):
    """A cheroot connection whose TLS handshake runs in the worker thread, before its first request."""

    handshaken = False

    def communicate(self) -> bool:
        if not self.handshaken and not self._handshake():
            return False  # the worker closes the connection
        return super().communicate()

    def _handshake(self) -> bool:
        sock = self.socket
        sock.settimeout(HANDSHAKE_SECONDS)
        try:
            sock.do_handshake()
        except ssl.SSLError as exc:
            if exc.errno == ssl.SSL_ERROR_SSL and "http request" in str(exc).lower():
                self._refuse_plain_http(sock)
            _error_log(f"client {self.remote_addr} dropped: TLS handshake failed ({exc})")
            return False
        except OSError as exc:  # silent past the bound, reset, or gone
            _error_log(f"client {self.remote_addr} dropped during the TLS handshake ({exc or type(exc).__name__})")
            return False
        sock.settimeout(self.server.timeout)
        self.ssl_env = self.server.ssl_adapter.get_environ(sock)
        self.handshaken = True
        return True

    def _refuse_plain_http(self, sock: ssl.SSLSocket) -> None:
        """Answer a plain-HTTP request in plain HTTP (on the raw socket: TLS never started)."""
        reply = (f"{self.server.protocol} 400 Bad Request\r\nContent-Length: {len(PLAIN_HTTP_REFUSAL)}\r\n"
                 f"Content-Type: text/plain\r\nConnection: close\r\n\r\n{PLAIN_HTTP_REFUSAL}")
        try:
            socket.socket.sendall(sock, reply.encode("ascii"))
        except OSError:
            pass  # the client is gone: nothing to tell


def make_ssl_adapter(cert: str | Path, key: str | Path) -> TlsAdapter:
    """A :class:`TlsAdapter` for ``cert``/``key``: TLS 1.2 or newer, TLS 1.2 with :data:`TLS12_CIPHERS` only."""
    try:
        adapter = TlsAdapter(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        raise DataDirError(T("cannot load the TLS certificate {cert} / key {key}: {reason}", cert=cert, key=key,
                             reason=exc)) from exc
    adapter.context.minimum_version = ssl.TLSVersion.TLSv1_2
    # TLS 1.2 suites: forward-secret key exchange and AEAD only (no CBC, no static RSA). TLS 1.3 has
    # only AEAD suites and is not affected by this list.
    adapter.context.set_ciphers(TLS12_CIPHERS)
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
    server = wsgi.Server((host, port), app, numthreads=SERVER_THREADS, server_name="kunci")
    server.error_log = _error_log  # cheroot writes to stderr by default; use logging instead
    server.ssl_adapter = make_ssl_adapter(cert, key)
    server.ConnectionClass = HandshakeInWorker
    server.prepare()
    thread = threading.Thread(target=server.serve, name="kunci-web", daemon=True)
    thread.start()
    server.kunci_thread = thread  # lets callers join after stop()
    logger.info("admin web listening on https://%s:%s/", host, server.bind_addr[1])
    return server
