"""``kunci web``: serve the admin web page over HTTPS only, with cheroot (never Flask's dev server).

The certificate is ``web.cert_file``/``web.key_file`` from the configuration when set
(a site certificate), else ``DATA/tls/cert.pem`` and ``DATA/tls/key.pem``; a self-signed
pair is created there when absent. Its SHA-256 fingerprint is printed so staff can check
what their browser shows. TLS 1.2 is the oldest protocol accepted, and with it only ECDHE
key exchange with AES-GCM or ChaCha20-Poly1305 (AEAD, no CBC); a plain-HTTP request
to the port gets the "this server only speaks HTTPS" refusal (the server: controller/cli/https_server.py). SIGTERM and SIGINT
stop the server cleanly.

``--port 0`` picks a free port; ``--port-file FILE`` writes the bound port to FILE once the socket
listens (``kunci demo`` starts ``kunci web`` as a child process and learns the port that way).
"""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from controller.cli.https_server import serve_https
from controller.errors import ConfigError, InvalidInput
from controller.fileio import atomic_write
from controller.i18n import T, _
from controller.paths import DataDir
from controller.slow_stop import enable_stack_dumps, reporting_slow_stop

logger = logging.getLogger(__name__)

#: How often ``kunci web`` looks for a stop signal or a dead server thread (seconds).
STOP_POLL_SECONDS = 0.2


def write_port_file(path: Path, port: int) -> None:
    """Write the bound TCP ``port`` to ``path`` (decimal and a newline), atomically: a reader sees the
    whole number or no file. ``kunci demo`` reads it to learn the port that ``--port 0`` picked."""
    atomic_write(path, f"{port}\n", mode=0o644)


def resolve_tls_files(datadir: DataDir, cert_file: str, key_file: str) -> tuple[Path, Path, bool]:
    """Pick the certificate pair: configured files if both set, else ``DATA/tls/*`` (created if absent).

    :returns: ``(cert, key, created)``; ``created`` is True when a self-signed pair was just written.
    :raises ConfigError: if only one of ``web.cert_file``/``web.key_file`` is set or a configured file is missing.
    """
    from controller.ops.tls import ensure_self_signed_cert

    if cert_file or key_file:
        if not (cert_file and key_file):
            raise ConfigError([_("web.cert_file and web.key_file must be set together")])
        cert, key = Path(cert_file), Path(key_file)
        missing = [str(p) for p in (cert, key) if not p.is_file()]
        if missing:
            raise ConfigError([_("web certificate file not found: {path}").format(path=m) for m in missing])
        return cert, key, False
    hosts = [socket.gethostname()]
    created = ensure_self_signed_cert(datadir.tls_cert_file, datadir.tls_key_file, hosts)
    return datadir.tls_cert_file, datadir.tls_key_file, created


def serve_until_signalled(server: Any, signalled: list[int], *, port_file: Path | None, cert: Path, created: bool,
                          page: str, host: str, what: str) -> int:
    """Announce a started HTTPS page (``page``: its translated line with ``{url}``) and its certificate, then wait
    for a stop signal; 1 when the server thread died meanwhile, else 0. Shared by ``kunci web`` and
    ``kunci site web``."""
    from controller.ops.tls import cert_expiry, cert_fingerprint_sha256

    enable_stack_dumps()
    if port_file is not None:
        write_port_file(port_file, server.bind_addr[1])
    if created:
        print(_("Created a self-signed certificate: {path}").format(path=cert))
    print(page.format(url=f"https://{host}:{server.bind_addr[1]}/"))
    print(_("Certificate SHA-256 fingerprint: {fingerprint}").format(fingerprint=cert_fingerprint_sha256(cert)))
    print(_("Certificate valid until: {day}").format(day=f"{cert_expiry(cert):%Y-%m-%d}"))
    sys.stdout.flush()
    while not signalled:
        time.sleep(STOP_POLL_SECONDS)
        if not server.kunci_thread.is_alive():
            print(_("kunci: error: {problem}").format(problem=_("the web server stopped unexpectedly")),
                  file=sys.stderr)
            return 1
    logger.info("signal %s: stopping %s", signalled[0], what)
    return 0


def stop_serving(server: Any, previous: dict[int, Any], port_file: Path | None) -> None:
    """Stop a page's server (if it started), put back the signal handlers ``previous``, remove the port file."""
    if server is not None:
        with reporting_slow_stop():
            server.stop()
            server.kunci_thread.join(timeout=10)
    for s, handler in previous.items():
        signal.signal(s, handler)
    if port_file is not None:
        port_file.unlink(missing_ok=True)


def _run(args: argparse.Namespace) -> int:
    """Handler of ``kunci web``."""
    from controller.config import load_config
    from webadmin import create_app

    datadir = DataDir.resolve(args.data)
    config = load_config(datadir.config_file)
    web = config.web
    host = args.host or web.host
    port = args.port if args.port is not None else web.port
    port_file = Path(args.port_file) if getattr(args, "port_file", None) else None
    signalled: list[int] = []

    def _on_signal(signum: int, _frame: Any) -> None:
        # A plain list append, no lock: Event.set() here deadlocks the main thread on itself when a
        # second signal lands inside the first handler (the daemon's lesson, controller/daemon/loop.py).
        signalled.append(signum)

    # Installed before the slow start-up (app, TLS), so a stop asked meanwhile is still a clean stop.
    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    server = None
    try:
        cert, key, created = resolve_tls_files(datadir, web.cert_file, web.key_file)
        app = create_app(datadir.root)
        try:
            server = serve_https(app, host, port, cert, key)
        except OSError as exc:  # the port is taken, or the address is not this machine's
            raise InvalidInput(T("the admin web cannot listen on {host}:{port} ({reason}); choose another port with "
                                 "--port (or web.port)", host=host, port=port, reason=exc.strerror or exc)) from exc
        gc.collect()
        gc.freeze()  # the start-up heap never moves to a collected generation: no full-collection pause per request
        if serve_until_signalled(server, signalled, port_file=port_file, cert=cert, created=created,
                                 page=_("Kunci admin page: {url}"), host=host, what="the admin web"):
            return 1
    finally:
        stop_serving(server, previous, port_file)
    print(_("Kunci admin page stopped."))
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
    p.add_argument("--port", type=int, default=None, help="TCP port (default: web.port, 8443; 0 picks a free one)")
    p.add_argument("--port-file", default=None, metavar="FILE",
                   help="once listening, write the bound port to FILE (removed on stop); kunci demo uses it")
    p.set_defaults(func=_run)
