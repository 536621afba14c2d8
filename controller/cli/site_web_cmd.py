"""``kunci site web``: serve the site admin page over HTTPS only, with cheroot (as ``kunci web`` does).

The page (:mod:`webadmin.site`) manages the whole site's people, groups and doors in the site's PostgreSQL
database, as the site directory's database role. TLS is the controller page's (:func:`controller.cli.https_server.
serve_https`: TLS 1.2 or newer, AEAD suites only); the certificate is ``--cert``/``--key`` when given, else
``SITE/tls/cert.pem`` and ``SITE/tls/key.pem``, a self-signed pair created there when absent. Its SHA-256
fingerprint is printed so staff can check what their browser shows. SIGTERM and SIGINT stop it cleanly.

``--port 0`` picks a free port; ``--port-file FILE`` writes the bound port to FILE once the socket listens.
``site_cmd.py`` adds the sub-command with :func:`register` and leaves the rest to this module.
"""

from __future__ import annotations

import argparse
import signal
import socket
from pathlib import Path
from typing import Any

from controller.errors import ConfigError, InvalidInput, StoreError
from controller.i18n import T, _


#: Default TCP port of the site page (a controller's own page is on 8443).
DEFAULT_PORT = 8444


def _tls_files(site: Path, cert: str | None, key: str | None) -> tuple[Path, Path, bool]:
    """``(cert, key, created)``: the given pair, else ``SITE/tls/*`` (a self-signed pair made when absent)."""
    from controller.ops.tls import ensure_self_signed_cert

    if cert or key:
        if not (cert and key):
            raise ConfigError([_("--cert and --key must be given together")])
        missing = [p for p in (cert, key) if not Path(p).is_file()]
        if missing:
            raise ConfigError([_("web certificate file not found: {path}").format(path=m) for m in missing])
        return Path(cert), Path(key), False
    tls = site / "tls"
    tls.mkdir(mode=0o700, exist_ok=True)
    created = ensure_self_signed_cert(tls / "cert.pem", tls / "key.pem", [socket.gethostname()])
    return tls / "cert.pem", tls / "key.pem", created


def check_database(site: Path) -> None:
    """Refuse to start when the site database cannot be reached or is not at this Kunci's schema revision.

    :raises StoreError: with what to do (the page would otherwise answer every request with an error).
    """
    from sqlalchemy.exc import SQLAlchemyError

    from controller.site.migrate import shipped_head, short_reason, site_revision
    from controller.site.siteconf import load_site

    engine = load_site(site).engine()
    try:
        current = site_revision(engine)
    except SQLAlchemyError as exc:
        raise StoreError(T("cannot reach the site database: {reason}; the site page was not started",
                           reason=short_reason(exc))) from exc
    finally:
        engine.dispose()
    expected = shipped_head()
    if current != expected:
        raise StoreError(T("the site database is at revision {current} but this Kunci expects {expected}; run "
                           "'kunci site init' (it upgrades the schema) and start the site page again",
                           current=current or "-", expected=expected))


def run(args: argparse.Namespace) -> int:
    """Handler of ``kunci site web``."""
    from controller.cli.https_server import serve_https
    from controller.cli.web_cmd import serve_until_signalled, stop_serving
    from webadmin.site import create_site_app

    site = Path(args.site)
    port_file = Path(args.port_file) if args.port_file else None
    signalled: list[int] = []

    def _on_signal(signum: int, _frame: Any) -> None:
        signalled.append(signum)  # a plain append: see controller/cli/web_cmd.py

    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    server = None
    try:
        check_database(site)
        cert, key, created = _tls_files(site, args.cert, args.key)
        app = create_site_app(site)
        try:
            server = serve_https(app, args.host, args.port, cert, key)
        except OSError as exc:
            raise InvalidInput(T("the site page cannot listen on {host}:{port} ({reason}); choose another port with "
                                 "--port", host=args.host, port=args.port, reason=exc.strerror or exc)) from exc
        if serve_until_signalled(server, signalled, port_file=port_file, cert=cert, created=created,
                                 page=_("Kunci site page: {url}"), host=args.host, what="the site page"):
            return 1
    finally:
        stop_serving(server, previous, port_file)
    print(_("Kunci site page stopped."))
    return 0


def register(site_subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add ``web`` to ``kunci site``'s sub-commands."""
    p = site_subparsers.add_parser(
        "web", parents=[common], help="serve the site admin page over HTTPS",
        description="Serve the site admin page (people, groups, doors and controllers of the whole site) over "
                    "HTTPS only (TLS 1.2+), with cheroot.")
    p.add_argument("--site", required=True, metavar="DIR", help="the site directory (kunci site init)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"TCP port (default {DEFAULT_PORT}; 0 picks a free one)")
    p.add_argument("--port-file", default=None, metavar="FILE", help="once listening, write the bound port to FILE")
    p.add_argument("--cert", default=None, help="TLS certificate file (default SITE/tls/cert.pem, made if absent)")
    p.add_argument("--key", default=None, help="TLS private key file (set with --cert)")
    p.set_defaults(func=run)
