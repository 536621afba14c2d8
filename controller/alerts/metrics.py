"""Prometheus metrics of one door: what the daemon tells :class:`DoorMetrics`, served by :class:`MetricsServer`.

Wiring: the daemon makes one ``DoorMetrics`` and calls its methods from the door loop (plain arguments, a few
microseconds each, no I/O); ``MetricsServer`` serves ``GET /metrics`` from its own threads, so a slow or hostile
scraper never holds up a door decision. docs/alerts.md "Metrics (Prometheus)" lists every metric.

Every label value is a code from a closed vocabulary (controller/core): a value outside it is counted as
``other``. No method takes a person, so no name or person code can reach a label, and the number of series
stays bounded whatever a caller passes.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
import socket
import socketserver
import threading
from collections.abc import Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from controller import __version__
from controller.config.schema import MetricsConfig
from controller.core.policy import DoorMode, Method, Reason
from controller.core.vocabulary import AlarmKind, EventType, LockoutChannel, values
from controller.errors import ConfigError, KunciError
from controller.i18n import T

logger = logging.getLogger(__name__)

__all__ = ["DECISION_BUCKETS_SECONDS", "OTHER", "DoorMetrics", "MetricsServer", "MetricsServerError"]

#: The label value that stands for anything outside a label's vocabulary.
OTHER = "other"
#: Histogram buckets of ``kunci_decision_seconds``: a decision takes milliseconds; the top buckets show how
#: far a stalled SD card write pushed one.
DECISION_BUCKETS_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

_METHODS = frozenset(values(Method))
_RESULTS = frozenset({"granted", "denied"})
_DENIAL_REASONS = frozenset(values(Reason)) - {Reason.GRANTED.value}
_MODES = values(DoorMode)
_CHANNELS = frozenset(values(LockoutChannel))
_KINDS = values(AlarmKind)
_EVENT_TYPES = frozenset(values(EventType))
#: Destinations are named by their config section (mqtt, webhook, email): short lowercase codes.
_DESTINATION = re.compile(r"[a-z][a-z0-9_-]{0,31}")


class MetricsServerError(KunciError, OSError):
    """The metrics endpoint cannot listen on its address (in use, not an address of this machine)."""


class DoorMetrics:
    """The metrics of one door, in a registry of its own (never prometheus_client's global one, so two
    daemons or many tests in one process do not clash).

    Counters and the latency histogram count from zero at start. State (door, sensor, lockouts, alarms,
    outbox, log head) is absent from the output until the daemon first reports it: no series claims
    "unlocked" or "sensor down" before anyone knew. Methods are safe to call from one thread while the
    server renders from others.

    :param version: shown as ``kunci_build_info{version}``; default the installed Kunci's version.
    """

    def __init__(self, *, version: str = __version__) -> None:
        self.registry = CollectorRegistry()
        self._decisions = Counter("kunci_decisions", "Door decisions by method, result and reason code "
                                  "(reason is empty when granted).", ["method", "result", "reason"],
                                  registry=self.registry)
        self._decision_seconds = Histogram("kunci_decision_seconds", "Time from credential to decision.",
                                           buckets=DECISION_BUCKETS_SECONDS, registry=self.registry)
        self._events = Counter("kunci_events", "Events sealed into the log, by type.", ["type"],
                               registry=self.registry)
        self._raised = Counter("kunci_alarms_raised", "Alarms raised, by kind.", ["kind"], registry=self.registry)
        for kind in _KINDS:  # every kind at 0 from the start, so increase() sees the first alarm too
            self._raised.labels(kind)
        # Label children by label values: labels() takes a lock and builds a child each call; a dict hit is
        # cheaper on the decision path. Bounded, since every value is a vocabulary code or "other".
        self._children: dict[tuple[Counter, tuple[str, ...]], Counter] = {}
        self._lock = threading.Lock()
        self._warned: set[str] = set()
        self._version = str(version)
        self._door: tuple[bool, bool, bool, str] | None = None
        self._sensor_up: bool | None = None
        self._lockouts: dict[str, bool] = {}
        self._alarms: frozenset[str] | None = None
        self._outbox: dict[str, tuple[int, float, float | None, int]] = {}
        self._head: int | None = None
        self.registry.register(_StateCollector(self))

    def _code(self, label: str, value: str, allowed: frozenset[str] | tuple[str, ...]) -> str:
        """``value`` when it is in the vocabulary, else ``other`` (logged once per label, without the value:
        a caller's mistake must not put a name into the journal either)."""
        if value in allowed:
            return str(value)
        if label not in self._warned:
            self._warned.add(label)
            logger.warning("metrics: a %s outside its vocabulary was counted as %r", label, OTHER)
        return OTHER

    def _inc(self, counter: Counter, *labels: str) -> None:
        child = self._children.get((counter, labels))
        if child is None:
            child = self._children[(counter, labels)] = counter.labels(*labels)
        child.inc()

    # -- what the door loop calls ------------------------------------------------------------------------------

    def decision(self, method: str, result: str, reason: str, seconds: float) -> None:
        """Count one decision and its latency. ``result`` is ``granted`` or ``denied``; ``reason`` a
        :class:`Reason` code (ignored when granted); ``seconds`` from credential to decision."""
        result = self._code("result", result, _RESULTS)
        reason = "" if result == "granted" else self._code("reason", reason, _DENIAL_REASONS)
        self._inc(self._decisions, self._code("method", method, _METHODS), result, reason)
        self._decision_seconds.observe(max(0.0, seconds))

    def event(self, type: str) -> None:
        """Count one sealed event of :class:`EventType` ``type``."""
        self._inc(self._events, self._code("event type", type, _EVENT_TYPES))

    def door(self, locked: bool, open: bool, lockdown: bool, mode: str) -> None:
        """The door's state now: relay locked, contact open, lockdown on, and its :class:`DoorMode`."""
        state = (bool(locked), bool(open), bool(lockdown), self._code("door mode", mode, _MODES))
        with self._lock:
            self._door = state

    def sensor(self, up: bool) -> None:
        """Whether the fingerprint sensor answers (never reported = no sensor configured)."""
        with self._lock:
            self._sensor_up = bool(up)

    def lockout(self, channel: str, active: bool) -> None:
        """Whether the :class:`LockoutChannel` ``channel`` (keypad, finger) is locked out now."""
        channel = self._code("lockout channel", channel, _CHANNELS)
        with self._lock:
            self._lockouts[channel] = bool(active)

    def alarms(self, active_kinds: Iterable[str]) -> None:
        """The set of :class:`AlarmKind` codes active now; every other kind reads 0."""
        kinds = frozenset(self._code("alarm kind", kind, _KINDS) for kind in active_kinds)
        with self._lock:
            self._alarms = kinds

    def alarm_raised(self, kind: str) -> None:
        """Count one raised alarm of :class:`AlarmKind` ``kind``."""
        self._inc(self._raised, self._code("alarm kind", kind, _KINDS))

    def outbox(self, destination: str, depth: int, oldest_age_seconds: float, last_success: float | None,
               failures_total: int) -> None:
        """One destination's delivery state: messages waiting, age of the oldest in seconds, Unix time of the
        last delivered batch (None = none yet) and failed attempts since the daemon started."""
        if not _DESTINATION.fullmatch(destination):
            destination = self._code("destination", destination, ())
        state = (int(depth), float(oldest_age_seconds), None if last_success is None else float(last_success),
                 int(failures_total))
        with self._lock:
            self._outbox[destination] = state

    def head(self, seq: int) -> None:
        """The sequence number of the log's newest sealed event."""
        with self._lock:
            self._head = int(seq)

    def render(self) -> bytes:
        """The Prometheus text exposition (format 0.0.4) of every metric."""
        return generate_latest(self.registry)


class _StateCollector:
    """Turns the state a DoorMetrics holds into metric families at scrape time (one consistent snapshot)."""

    def __init__(self, metrics: DoorMetrics) -> None:
        self._m = metrics

    def collect(self) -> Iterator[Metric]:
        m = self._m
        with m._lock:
            door, sensor_up, head, alarms = m._door, m._sensor_up, m._head, m._alarms
            lockouts, outbox = dict(m._lockouts), dict(m._outbox)
        yield _gauge("kunci_build_info", "The running Kunci version (always 1).", "version", {m._version: 1})
        if door is not None:
            locked, is_open, lockdown, mode = door
            yield GaugeMetricFamily("kunci_door_locked", "1 while the door is locked (relay off).", value=locked)
            yield GaugeMetricFamily("kunci_door_open", "1 while the door contact reads open.", value=is_open)
            yield GaugeMetricFamily("kunci_door_lockdown", "1 while the door is in lockdown.", value=lockdown)
            modes = {code: code == mode for code in (*_MODES, *((mode,) if mode == OTHER else ()))}
            yield _gauge("kunci_door_mode_info", "1 for the door's current mode, 0 for the others.", "mode", modes)
        if sensor_up is not None:
            yield GaugeMetricFamily("kunci_sensor_up", "1 while the fingerprint sensor answers.", value=sensor_up)
        if lockouts:
            yield _gauge("kunci_lockout_active", "1 while a reader is locked out.", "channel", lockouts)
        if alarms is not None:
            kinds = {kind: kind in alarms for kind in (*_KINDS, *sorted(alarms - set(_KINDS)))}
            yield _gauge("kunci_alarms_active", "1 while an alarm of this kind is active.", "kind", kinds)
        if head is not None:
            yield GaugeMetricFamily("kunci_log_head_seq", "Sequence number of the log's newest sealed event.",
                                    value=head)
        if outbox:
            yield _gauge("kunci_outbox_depth", "Messages waiting for a destination.", "destination",
                         {d: s[0] for d, s in outbox.items()})
            yield _gauge("kunci_outbox_oldest_age_seconds", "Age of the oldest waiting message (0 when empty).",
                         "destination", {d: s[1] for d, s in outbox.items()})
            yield _gauge("kunci_outbox_last_success_timestamp_seconds", "Unix time of the last delivered batch "
                         "(absent until one was).", "destination",
                         {d: s[2] for d, s in outbox.items() if s[2] is not None})
            failures = CounterMetricFamily("kunci_outbox_failures", "Failed delivery attempts since start.",
                                           labels=["destination"])
            for destination, state in sorted(outbox.items()):
                failures.add_metric([destination], state[3])
            yield failures


def _gauge(name: str, documentation: str, label: str, samples: dict[str, float]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for value, number in sorted(samples.items()):
        family.add_metric([value], float(number))
    return family


def _is_loopback(host: str) -> bool:
    """Whether ``host`` only ever reaches this machine (``localhost`` or a loopback address)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


class _Handler(BaseHTTPRequestHandler):
    """``GET /metrics`` and nothing else; with a token, every request first proves it has it."""

    server: _Server
    server_version = "kunci"
    sys_version = ""  # do not tell the network which Python runs the door
    timeout = 10  # seconds a client may take to send its request; a stalled scraper frees its thread

    def do_GET(self) -> None:
        if not self._authorised():
            return
        if urlsplit(self.path).path != "/metrics":
            self._reply(404, b"not found: try /metrics\n")
            return
        self._reply(200, self.server.metrics.render(), CONTENT_TYPE_PLAIN_0_0_4)

    def _refuse_method(self) -> None:
        if self._authorised():
            self._reply(405, b"method not allowed: only GET\n", allow="GET")

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse_method

    def _authorised(self) -> bool:
        """No token: everyone (loopback only). Else ``Authorization: Bearer <token>``, compared in constant time
        so that response times do not leak how much of a guess was right."""
        token = self.server.token
        if token is None:
            return True
        scheme, _, given = (self.headers.get("Authorization") or "").partition(" ")
        # http.server decodes header bytes as Latin-1; encoding back yields the bytes the client sent.
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode("latin-1", "replace"), token):
            return True
        self._reply(401, b"a bearer token is required\n", www_authenticate="Bearer")
        return False

    def _reply(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8", *,
               allow: str = "", www_authenticate: str = "") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if allow:
            self.send_header("Allow", allow)
        if www_authenticate:
            self.send_header("WWW-Authenticate", www_authenticate)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("metrics: %s " + format, self.address_string(), *args)


class _Server(ThreadingHTTPServer):
    """One thread per request, daemon threads so that a hung scraper never keeps the daemon from exiting."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], family: socket.AddressFamily, metrics: DoorMetrics,
                 token: bytes | None) -> None:
        self.address_family = family
        self.metrics = metrics
        self.token = token
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN: a DNS query that can stall start-up on a door with
        # no working DNS, for a name nothing here uses.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])

    def handle_error(self, request: object, client_address: object) -> None:
        logger.exception("metrics: a request from %s failed", client_address)


class MetricsServer:
    """Serves ``GET /metrics`` of a :class:`DoorMetrics` over HTTP on ``config.host:config.port``.

    Why http.server and not prometheus_client's WSGI app behind wsgiref: we need a bearer token, 404/405 and
    IPv6 ourselves, and the WSGI app answers every path; wrapping it would add a layer for one ``render()``
    call. ``ThreadingHTTPServer`` runs in a daemon thread and serves each request in its own thread, so the
    caller's thread never waits on a scraper. ``start()`` binds (port 0 = a free port, see ``.port``);
    ``close()`` stops it and may be called any number of times; ``with MetricsServer(...) as server:`` starts
    and closes it.

    :param config: the ``[metrics]`` settings (``enabled`` is the caller's business).
    :param metrics: what to serve.
    :param token: the bearer token every request must send (surrounding whitespace ignored), or None for
        none, which is allowed only on a loopback host. An empty token is refused: it would let anyone in.
    """

    def __init__(self, config: MetricsConfig, metrics: DoorMetrics, *, token: str | None) -> None:
        if token is not None and not token.strip():
            raise ConfigError([T("metrics.token_file: the token is empty (a token must be secret text)")])
        self._config = config
        self._metrics = metrics
        self._token = None if token is None else token.strip().encode("utf-8")
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    def start(self) -> None:
        """Listen and serve in a background thread. ConfigError on a non-loopback host without a token;
        MetricsServerError when the address cannot be bound."""
        if self._server is not None or self._closed:
            raise RuntimeError("MetricsServer.start(): already started or closed")
        host, port = self._config.host, self._config.port
        if self._token is None and not _is_loopback(host):
            # config validation already refuses this; checked again here because serving the door's state
            # unauthenticated to a network is the one mistake this class must never make.
            raise ConfigError([T("metrics.token_file: required when metrics.host = {host} is not loopback (refusing "
                                 "to serve the door's state to the network without a token)", host=repr(host))])
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            server = _Server((host, port), family, self._metrics, self._token)
        except OSError as exc:
            raise MetricsServerError(T("metrics: cannot listen on {host} port {port}: {error}", host=host, port=port,
                                       error=exc.strerror or exc)) from exc
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.25},
                                        name="kunci-metrics", daemon=True)
        self._thread.start()
        logger.info("metrics: serving %s (%s)", self.url,
                    "bearer token required" if self._token else "no token: loopback only")

    @property
    def port(self) -> int:
        """The TCP port listened on (the free port chosen when the config says 0)."""
        if self._server is None:
            raise RuntimeError("MetricsServer.port: not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http://host:port/metrics`` (IPv6 hosts in brackets)."""
        host = self._config.host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving and release the port; idempotent."""
        self._closed = True
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> Self:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
