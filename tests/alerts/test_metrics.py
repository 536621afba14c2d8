"""controller/alerts/metrics.py: what a Prometheus scraper reads, over real HTTP on a loopback port.

Each test drives DoorMetrics as the door loop would, scrapes /metrics with urllib and parses the body with
prometheus_client's own parser, so a metric that a scraper could not read fails here too.
"""

from __future__ import annotations

import inspect
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator

import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families

from controller.alerts.metrics import OTHER, DoorMetrics, MetricsServer, MetricsServerError
from controller.config.schema import MetricsConfig
from controller.core.vocabulary import AlarmKind, values
from controller.errors import ConfigError

TOKEN = "s3cret-scrape-token"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(body: bytes) -> Samples:
    """Every sample of a scrape: (sample name, sorted labels) -> value."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body.decode("utf-8")) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def request(url: str, *, method: str = "GET", authorization: str | None = None,
            timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of one request (errors included), with a deadline so no test can hang."""
    req = urllib.request.Request(url, method=method)
    if authorization is not None:
        req.add_header("Authorization", authorization)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()


@pytest.fixture
def metrics() -> DoorMetrics:
    return DoorMetrics(version="9.9.9")


@pytest.fixture
def serve() -> Iterator[Callable[..., MetricsServer]]:
    """Start a MetricsServer on a free port; every one started is closed after the test."""
    started: list[MetricsServer] = []

    def start(metrics: DoorMetrics, *, host: str = "127.0.0.1", token: str | None = None) -> MetricsServer:
        server = MetricsServer(MetricsConfig(enabled=True, host=host, port=0), metrics, token=token)
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.close()


def scrape(server: MetricsServer, token: str | None = None, timeout: float = 10) -> Samples:
    status, headers, body = request(server.url, authorization=None if token is None else f"Bearer {token}",
                                    timeout=timeout)
    assert status == 200, body
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return parse(body)


def test_decisions_are_counted_by_method_result_and_reason_with_their_latency(metrics, serve) -> None:
    server = serve(metrics)
    metrics.decision("pin", "granted", "granted", 0.003)
    metrics.decision("pin", "granted", "", 0.0004)
    metrics.decision("finger", "denied", "outside_schedule", 0.02)
    metrics.decision("pin", "denied", "suspended", 0.3)
    metrics.decision("pin", "denied", "suspended", 0.002)

    samples = scrape(server)
    decisions = "kunci_decisions_total"
    assert value(samples, decisions, method="pin", result="granted", reason="") == 2
    assert value(samples, decisions, method="finger", result="denied", reason="outside_schedule") == 1
    assert value(samples, decisions, method="pin", result="denied", reason="suspended") == 2
    assert value(samples, decisions, method="pin", result="granted", reason="granted") is None
    assert value(samples, "kunci_decision_seconds_count") == 5
    assert value(samples, "kunci_decision_seconds_bucket", le="0.001") == 1
    assert value(samples, "kunci_decision_seconds_bucket", le="0.005") == 3
    assert value(samples, "kunci_decision_seconds_bucket", le="0.25") == 4
    assert value(samples, "kunci_decision_seconds_bucket", le="0.5") == 5
    assert value(samples, "kunci_build_info", version="9.9.9") == 1


def test_door_state_is_absent_until_reported_then_follows_the_door(metrics, serve) -> None:
    server = serve(metrics)
    assert value(scrape(server), "kunci_door_locked") is None  # nobody claims "unlocked" before anyone knew

    metrics.door(locked=True, open=False, lockdown=False, mode="pin_or_finger")
    samples = scrape(server)
    assert (value(samples, "kunci_door_locked"), value(samples, "kunci_door_open"),
            value(samples, "kunci_door_lockdown")) == (1, 0, 0)
    assert value(samples, "kunci_door_mode_info", mode="pin_or_finger") == 1
    assert value(samples, "kunci_door_mode_info", mode="pin") == 0

    metrics.door(locked=False, open=True, lockdown=True, mode="pin")
    samples = scrape(server)
    assert (value(samples, "kunci_door_locked"), value(samples, "kunci_door_open"),
            value(samples, "kunci_door_lockdown")) == (0, 1, 1)
    assert value(samples, "kunci_door_mode_info", mode="pin_or_finger") == 0
    assert value(samples, "kunci_door_mode_info", mode="pin") == 1


def test_active_alarms_are_the_current_set_and_raised_alarms_are_counted(metrics, serve) -> None:
    server = serve(metrics)
    assert value(scrape(server), "kunci_alarms_raised_total", kind="door_forced") == 0  # increase() sees the 1st

    metrics.alarm_raised("door_forced")
    metrics.alarm_raised("door_forced")
    metrics.alarm_raised("tamper")
    metrics.alarms(["door_forced", "tamper"])
    samples = scrape(server)
    assert value(samples, "kunci_alarms_raised_total", kind="door_forced") == 2
    assert value(samples, "kunci_alarms_raised_total", kind="tamper") == 1
    assert value(samples, "kunci_alarms_active", kind="door_forced") == 1
    assert value(samples, "kunci_alarms_active", kind="tamper") == 1

    metrics.alarms(["tamper"])
    samples = scrape(server)
    assert value(samples, "kunci_alarms_active", kind="door_forced") == 0
    assert value(samples, "kunci_alarms_active", kind="tamper") == 1

    metrics.alarms([])
    samples = scrape(server)
    assert {kind: value(samples, "kunci_alarms_active", kind=kind) for kind in values(AlarmKind)} == \
        dict.fromkeys(values(AlarmKind), 0)


def test_sensor_lockouts_events_and_the_log_head(metrics, serve) -> None:
    server = serve(metrics)
    metrics.sensor(up=False)
    metrics.lockout("keypad", active=True)
    metrics.lockout("finger", active=False)
    metrics.event("door.forced")
    metrics.event("access.granted")
    metrics.event("access.granted")
    metrics.head(1234)

    samples = scrape(server)
    assert value(samples, "kunci_sensor_up") == 0
    assert value(samples, "kunci_lockout_active", channel="keypad") == 1
    assert value(samples, "kunci_lockout_active", channel="finger") == 0
    assert value(samples, "kunci_events_total", type="access.granted") == 2
    assert value(samples, "kunci_events_total", type="door.forced") == 1
    assert value(samples, "kunci_log_head_seq") == 1234

    metrics.sensor(up=True)
    metrics.lockout("keypad", active=False)
    samples = scrape(server)
    assert value(samples, "kunci_sensor_up") == 1
    assert value(samples, "kunci_lockout_active", channel="keypad") == 0


def test_outbox_state_per_destination(metrics, serve) -> None:
    server = serve(metrics)
    metrics.outbox("mqtt", depth=17, oldest_age_seconds=95.5, last_success=None, failures_total=4)
    metrics.outbox("webhook", depth=0, oldest_age_seconds=0.0, last_success=1_700_000_123.5, failures_total=0)

    samples = scrape(server)
    assert value(samples, "kunci_outbox_depth", destination="mqtt") == 17
    assert value(samples, "kunci_outbox_oldest_age_seconds", destination="mqtt") == 95.5
    assert value(samples, "kunci_outbox_failures_total", destination="mqtt") == 4
    assert value(samples, "kunci_outbox_last_success_timestamp_seconds", destination="mqtt") is None  # never
    assert value(samples, "kunci_outbox_depth", destination="webhook") == 0
    assert value(samples, "kunci_outbox_last_success_timestamp_seconds", destination="webhook") == 1_700_000_123.5

    metrics.outbox("mqtt", depth=0, oldest_age_seconds=0.0, last_success=1_700_000_200.0, failures_total=4)
    samples = scrape(server)
    assert value(samples, "kunci_outbox_depth", destination="mqtt") == 0
    assert value(samples, "kunci_outbox_last_success_timestamp_seconds", destination="mqtt") == 1_700_000_200.0


def test_no_name_or_person_code_can_reach_the_output(metrics, serve) -> None:
    # Structural: nothing that records a decision or an event takes a person.
    for method in (metrics.decision, metrics.event, metrics.alarm_raised, metrics.lockout):
        assert not {"person", "user", "name", "code", "person_code"} & set(inspect.signature(method).parameters)
    # And a caller's mistake (a name or person code where a code belongs) is counted as "other", not shown.
    server = serve(metrics)
    for leak in ("Ada Lovelace", "P-0042"):
        metrics.decision(leak, "denied", leak, 0.001)
        metrics.decision("pin", leak, "suspended", 0.001)
        metrics.event(leak)
        metrics.alarm_raised(leak)
        metrics.alarms([leak])
        metrics.lockout(leak, active=True)
        metrics.door(locked=True, open=False, lockdown=False, mode=leak)
        metrics.outbox(leak, depth=1, oldest_age_seconds=1.0, last_success=None, failures_total=0)

    status, _, body = request(server.url)
    assert status == 200
    assert b"Ada" not in body and b"Lovelace" not in body and b"0042" not in body
    samples = parse(body)
    assert value(samples, "kunci_decisions_total", method=OTHER, result="denied", reason=OTHER) == 2
    assert value(samples, "kunci_events_total", type=OTHER) == 2
    assert value(samples, "kunci_outbox_depth", destination=OTHER) == 1


@pytest.mark.parametrize(("authorization", "status"), [
    (None, 401),
    ("Bearer not-the-token", 401),
    (f"Basic {TOKEN}", 401),
    (f"Bearer {TOKEN}x", 401),
    (f"Bearer {TOKEN}", 200),
    (f"bearer {TOKEN}", 200),  # the scheme is case-insensitive (RFC 7235)
])
def test_a_token_is_required_when_one_is_set(metrics, serve, authorization, status) -> None:
    server = serve(metrics, token=f"{TOKEN}\n")  # as read from a file: surrounding whitespace ignored
    got, headers, body = request(server.url, authorization=authorization)
    assert got == status
    if status == 401:
        assert headers["WWW-Authenticate"] == "Bearer"
        assert b"kunci_" not in body
    else:
        assert value(parse(body), "kunci_build_info", version="9.9.9") == 1


def test_only_get_metrics_is_served(metrics, serve) -> None:
    server = serve(metrics)
    base = server.url.removesuffix("/metrics")
    assert request(base + "/")[0] == 404
    assert request(base + "/metrics/extra")[0] == 404
    assert request(base + "/metrics?name[]=kunci_door_locked")[0] == 200
    for method in ("POST", "PUT", "DELETE"):
        status, headers, _ = request(server.url, method=method)
        assert (status, headers["Allow"]) == (405, "GET")


def test_with_a_token_nothing_is_revealed_before_authenticating(metrics, serve) -> None:
    server = serve(metrics, token=TOKEN)
    base = server.url.removesuffix("/metrics")
    assert request(base + "/elsewhere")[0] == 401
    assert request(server.url, method="POST")[0] == 401
    assert request(base + "/elsewhere", authorization=f"Bearer {TOKEN}")[0] == 404


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "door.example.org"])
def test_a_network_host_without_a_token_is_refused(metrics, host) -> None:
    server = MetricsServer(MetricsConfig(enabled=True, host=host, port=0), metrics, token=None)
    with pytest.raises(ConfigError, match="metrics.token_file: required"):
        server.start()
    server.close()


def test_an_empty_token_is_refused(metrics) -> None:
    with pytest.raises(ConfigError, match="token is empty"):
        MetricsServer(MetricsConfig(enabled=True, port=0), metrics, token=" \n")


def test_a_network_host_with_a_token_serves(metrics, serve) -> None:
    server = serve(metrics, host="0.0.0.0", token=TOKEN)
    url = f"http://127.0.0.1:{server.port}/metrics"
    assert request(url)[0] == 401
    assert request(url, authorization=f"Bearer {TOKEN}")[0] == 200


def test_ipv6_loopback_serves(metrics, serve) -> None:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError as error:
        pytest.skip(f"this machine has no IPv6 loopback ({error})")
    server = serve(metrics, host="::1")
    assert server.url == f"http://[::1]:{server.port}/metrics"
    metrics.sensor(up=True)
    assert value(scrape(server), "kunci_sensor_up") == 1


def test_close_is_idempotent_and_frees_the_port(metrics) -> None:
    never_started = MetricsServer(MetricsConfig(enabled=True, port=0), metrics, token=None)
    never_started.close()
    never_started.close()

    with MetricsServer(MetricsConfig(enabled=True, port=0), metrics, token=None) as server:
        port = server.port
        assert request(server.url)[0] == 200
        server.close()
        server.close()
    server.close()
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=10):
        pass
    with pytest.raises(RuntimeError):
        server.start()


def test_a_port_in_use_is_a_clear_error(metrics, serve) -> None:
    first = serve(metrics)
    second = MetricsServer(MetricsConfig(enabled=True, port=first.port), metrics, token=None)
    with pytest.raises(MetricsServerError, match=f"cannot listen on 127.0.0.1 port {first.port}") as caught:
        second.start()
    assert isinstance(caught.value, OSError)
    second.close()


def test_a_stalled_scraper_holds_up_neither_other_scrapers_nor_the_door(metrics, serve) -> None:
    server = serve(metrics)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as stalled:
        stalled.sendall(b"GET /metr")  # and never finishes its request
        metrics.decision("pin", "granted", "", 0.002)  # the door goes on
        # A server serving one request at a time would answer only when the stalled one times out (10 s).
        samples = scrape(server, timeout=5)
        assert value(samples, "kunci_decisions_total", method="pin", result="granted", reason="") == 1


def test_two_door_metrics_in_one_process_do_not_clash(serve) -> None:
    first, second = DoorMetrics(), DoorMetrics()
    first.decision("pin", "denied", "expired", 0.001)
    second.door(locked=True, open=False, lockdown=False, mode="pin")
    first_samples, second_samples = scrape(serve(first)), scrape(serve(second))

    assert value(first_samples, "kunci_decisions_total", method="pin", result="denied", reason="expired") == 1
    assert value(second_samples, "kunci_decisions_total", method="pin", result="denied", reason="expired") is None
    assert value(first_samples, "kunci_door_locked") is None
    assert value(second_samples, "kunci_door_locked") == 1
    assert b"kunci_" not in prometheus_client.generate_latest(prometheus_client.REGISTRY)  # the global one
