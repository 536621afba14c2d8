"""The webhook destination: one signed HTTPS POST per message, and the rule a receiver checks it with.

:class:`WebhookSink` is a :class:`~controller.alerts.message.Sink`; the delivery worker builds it from
``[webhook]`` (:class:`~controller.config.schema.WebhookConfig`) and the secret it read from ``secret_file``.
Each message is POSTed on its own connection, in order; the body is the message's JSON payload
(:func:`payload`) and the headers carry the signature (docs/alerts.md "Webhook"):

- ``X-Kunci-Timestamp``: unix seconds when the POST was made;
- ``X-Kunci-Signature``: ``sha256=`` + hex HMAC-SHA256(secret, ``"<timestamp>."`` + body) (:func:`sign`);
- ``Idempotency-Key``: ``<door>:<seq>``, or ``<door>:msg-<id>`` for a message without a sealed event.

A receiver checks a POST with :func:`verify_signature` (constant-time, with a replay window). Only the standard
library is used; the receiver's certificate is verified against ``ca_file`` or the system's CAs unless
``verify_tls`` is off (a test receiver; logged as a warning).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import re
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence

from controller import __version__
from controller.alerts.message import ConnectionlessSink, DeliveryError, Message
from controller.config.schema import WebhookConfig
from controller.errors import ConfigError
from controller.i18n import T

logger = logging.getLogger(__name__)

#: How far a signed timestamp may be from the receiver's clock, in seconds, either way (docs/alerts.md).
REPLAY_WINDOW_SECONDS = 300
#: Most of a receiver's answer that is read (the answer itself is not used, only its status).
_MAX_ANSWER_BYTES = 64 * 1024
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


def payload(message: Message) -> bytes:
    """The POST body: the message's JSON payload, compact (the exact bytes the signature covers)."""
    return json.dumps(message.as_dict(), separators=(",", ":")).encode()


def sign(secret: bytes, timestamp: int | str, body: bytes) -> str:
    """The ``X-Kunci-Signature`` value: ``sha256=`` + hex HMAC-SHA256(secret, ``f"{timestamp}."`` + body)."""
    return "sha256=" + hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def idempotency_key(message: Message) -> str:
    """``<door>:<seq>`` for a sealed event, else ``<door>:msg-<id>``: a receiver applies each key once."""
    return f"{message.door}:{message.seq}" if message.seq is not None else f"{message.door}:msg-{message.id}"


def verify_signature(secret: bytes, timestamp: str, body: bytes, signature: str, *, now: float,
                     window_seconds: int = REPLAY_WINDOW_SECONDS) -> bool:
    """Whether a received POST is genuine and fresh: the receiver's side of :func:`sign`.

    :param secret: the shared secret (the content of the controller's ``webhook.secret_file``).
    :param timestamp: the ``X-Kunci-Timestamp`` header as received (decimal unix seconds).
    :param body: the raw request body, exactly as received (before any JSON parsing).
    :param signature: the ``X-Kunci-Signature`` header as received.
    :param now: the receiver's current unix time, in seconds.
    :param window_seconds: how far the timestamp may be from ``now`` either way (default 300 s); outside it the
        POST is refused even with a good signature, so a recorded POST cannot be replayed later.
    :returns: ``True`` only if the timestamp is within the window and the signature matches (compared in
        constant time).
    """
    if not _TIMESTAMP.fullmatch(timestamp or "") or abs(now - int(timestamp)) > window_seconds:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body).encode(), (signature or "").encode("utf-8", "replace"))


def _tls_context(config: WebhookConfig) -> ssl.SSLContext:
    """Verify against ``ca_file`` or the system's CAs; ``verify_tls = false`` turns verification off."""
    try:
        context = ssl.create_default_context(cafile=config.ca_file or None)
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise ConfigError([T("webhook.ca_file: cannot load {path}: {error}", path=config.ca_file, error=exc)]) from exc
    if not config.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _reason(exc: BaseException, timed_out: bool) -> str:
    """A short, secret-free reason for a failed POST."""
    if timed_out or isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"receiver certificate not trusted ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error ({exc.reason or exc})"
    if isinstance(exc, http.client.HTTPException):
        return f"bad answer ({type(exc).__name__})"
    return f"connection failed ({exc.strerror or type(exc).__name__})" if isinstance(exc, OSError) else str(exc)


class WebhookSink(ConnectionlessSink):
    """POSTs each message to ``config.url`` over verified HTTPS, signed with ``secret``.

    :param config: the ``[webhook]`` section (``url``, ``verify_tls``, ``ca_file``, ``timeout_seconds``).
    :param secret: the shared HMAC secret (bytes of ``secret_file``; read by the caller).
    :param clock: unix time in seconds for ``X-Kunci-Timestamp`` (default :func:`time.time`; tests pass a fake).
    :raises ConfigError: the URL is not https://, the secret is empty or ``ca_file`` cannot be loaded.
    """

    name = "webhook"

    def __init__(self, config: WebhookConfig, secret: bytes, *, clock: Callable[[], float] = time.time) -> None:
        url = urllib.parse.urlsplit(config.url)
        errors = []
        if url.scheme != "https" or not url.hostname:
            errors.append(T("webhook.url: {url} must be an https:// URL", url=repr(config.url)))
        if not secret:
            errors.append(T("webhook.secret_file: the secret is empty"))
        if errors:
            raise ConfigError(errors)
        self._host = url.hostname
        self._port = url.port or 443
        self._path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        self._where = f"{self._host}:{self._port}"
        self._secret = secret
        self._clock = clock
        self._timeout = config.timeout_seconds
        self._context = _tls_context(config)
        self._closed = False
        if not config.verify_tls:
            logger.warning("webhook: certificate verification is OFF for %s (webhook.verify_tls = false); "
                           "use this only for a test receiver", self._where)

    def send(self, batch: Sequence[Message]) -> None:
        """POST every message of ``batch`` in order; :class:`DeliveryError` at the first that fails."""
        if self._closed:
            raise DeliveryError("webhook: sink is closed")
        for message in batch:
            self._post(message)

    def _post(self, message: Message) -> None:
        body = payload(message)
        timestamp = int(self._clock())
        headers = {"Content-Type": "application/json", "User-Agent": f"kunci/{__version__}",
                   "X-Kunci-Timestamp": str(timestamp), "X-Kunci-Signature": sign(self._secret, timestamp, body),
                   "Idempotency-Key": idempotency_key(message), "Connection": "close"}
        try:
            raw = socket.create_connection((self._host, self._port), timeout=self._timeout)
        except OSError as exc:
            raise DeliveryError(f"webhook {self._where}: {_reason(exc, False)}") from exc
        # A socket timeout bounds each read, not the whole POST: a receiver trickling a byte at a time could
        # hold the worker for ever. A watchdog shuts the connection down when the POST's time is up (through a
        # duplicate descriptor, because wrapping in TLS detaches ``raw``).
        watched = raw.dup()
        timed_out = threading.Event()

        def give_up() -> None:
            timed_out.set()
            try:
                watched.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        watchdog = threading.Timer(self._timeout, give_up)
        watchdog.daemon = True
        watchdog.start()
        connection = http.client.HTTPSConnection(self._host, self._port, timeout=self._timeout,
                                                 context=self._context)
        try:
            connection.sock = self._context.wrap_socket(raw, server_hostname=self._host)
            connection.request("POST", self._path, body=body, headers=headers)
            with connection.getresponse() as answer:
                answer.read(_MAX_ANSWER_BYTES)
                status = answer.status
        except (OSError, http.client.HTTPException) as exc:
            raise DeliveryError(f"webhook {self._where}: {_reason(exc, timed_out.is_set())}") from exc
        finally:
            watchdog.cancel()
            connection.close()
            raw.close()
            watched.close()
        if timed_out.is_set():  # cut off mid-answer: what was read may look like a complete answer
            raise DeliveryError(f"webhook {self._where}: timed out")
        if not 200 <= status < 300:
            raise DeliveryError(f"webhook {self._where}: receiver answered HTTP {status}")
        logger.debug("webhook: delivered %s", headers["Idempotency-Key"])
