"""The e-mail destination against real SMTP servers (aiosmtpd) on loopback ports (controller/alerts/email.py).

One server speaks STARTTLS and requires a login over TLS (port 587 style), one speaks implicit TLS (port 465
style). Grouping and the hourly limit run on an injected clock: nothing here sleeps or depends on timing.
"""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from controller.alerts.email import Deferred, EmailSink
from controller.alerts.message import DeliveryError, Message
from controller.config.schema import EmailConfig
from tests.alerts.certs import CertAuthority
from tests.polling import wait_for

USER, PASSWORD = "door@example.org", "s3cret-Pa55"
START = 1_780_000_000.0


class Clock:
    """A settable unix clock."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Mailbox:
    """An aiosmtpd handler that keeps every mail it accepted, with how its session was secured."""

    mails: list[email.message.EmailMessage] = field(default_factory=list)
    sessions: list[tuple[bool, bool]] = field(default_factory=list)  # (over TLS, logged in)

    async def handle_DATA(self, server, session, envelope) -> str:
        self.mails.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        over_tls = server.transport.get_extra_info("ssl_object") is not None
        self.sessions.append((over_tls, bool(session.authenticated)))
        return "250 OK"


def _authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
    good = isinstance(auth_data, LoginPassword) and auth_data == (USER.encode(), PASSWORD.encode())
    return AuthResult(success=good, handled=False)  # handled=False: aiosmtpd answers 535 itself


def _text(mail: email.message.EmailMessage) -> str:
    """The mail's plain text with the wire's CRLF line ends undone."""
    return mail.get_content().replace("\r\n", "\n")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    port: int
    mailbox: Mailbox


@pytest.fixture(scope="module")
def authorities(tmp_path_factory: pytest.TempPathFactory) -> tuple[CertAuthority, CertAuthority, Path]:
    directory = tmp_path_factory.mktemp("certs")
    return CertAuthority.create(directory, "trusted CA"), CertAuthority.create(directory, "stranger CA"), directory


def _serve(**kwargs) -> Iterator[Server]:
    mailbox, port = Mailbox(), _free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield Server(port, mailbox)
    finally:
        controller.stop()


@pytest.fixture
def starttls_server(authorities) -> Iterator[Server]:
    """STARTTLS required; login required, and only over TLS."""
    context = authorities[0].issue_server(authorities[2]).server_context()
    yield from _serve(tls_context=context, require_starttls=True, authenticator=_authenticator,
                      auth_require_tls=True, auth_required=True)


@pytest.fixture
def tls_server(authorities) -> Iterator[Server]:
    """Implicit TLS from the first byte (port 465 style), no login."""
    yield from _serve(ssl_context=authorities[0].issue_server(authorities[2]).server_context())


@pytest.fixture
def plain_server() -> Iterator[Server]:
    """A server that does not offer STARTTLS."""
    yield from _serve()


def _config(server_port: int, ca_file: Path, **overrides) -> EmailConfig:
    settings = {"enabled": True, "host": "127.0.0.1", "port": server_port, "security": "starttls",
                "ca_file": str(ca_file), "username": USER, "password_file": "/unused", "sender": "door@example.org",
                "recipients": ("security@example.org", "warden@example.org"), "group_seconds": 60,
                "max_per_hour": 12}
    return EmailConfig(**(settings | overrides))


def _alarm(seq: int, alarm: str = "door_forced", time: str = "2026-06-01T12:00:00Z") -> Message:
    return Message(id=seq, kind="alarm", type="alarm.raised", time=time, door="records", seq=seq,
                   head=(seq, f"{seq:064x}"), body={"alarm": alarm, "person": "P0042"})


def test_one_alarm_is_one_mail_with_subject_codes_and_log_head(starttls_server, authorities) -> None:
    clock = Clock()
    with EmailSink(_config(starttls_server.port, authorities[0].ca_file), "records", password=PASSWORD,
                   clock=clock) as sink:
        sink.send([_alarm(41)])

    mails = wait_for(lambda: starttls_server.mailbox.mails, 10, "the alarm mail")
    assert len(mails) == 1 and starttls_server.mailbox.sessions == [(True, True)]
    mail = mails[0]
    assert mail["Subject"] == "[Kunci] records: door forced"
    assert mail["From"] == "door@example.org"
    assert mail["To"] == "security@example.org, warden@example.org"
    assert mail["X-Kunci-Seq"] == "41"
    assert mail["Message-ID"] and mail["Date"].datetime.timestamp() == START
    text = _text(mail)
    # The entry is exactly the message's codes and log head: the sink adds nothing (no names) of its own.
    entry = ["2026-06-01T12:00:00Z  alarm.raised  seq 41", "  alarm: door_forced", "  person: P0042",
             f"Log head: seq=41 mac={41:064x}"]
    assert "\n".join(entry) in text
    assert text.count("P0042") == 1


def test_implicit_tls_delivers(tls_server, authorities) -> None:
    config = _config(tls_server.port, authorities[0].ca_file, security="tls", username="")
    with EmailSink(config, "records", clock=Clock()) as sink:
        sink.send([Message(id=9, kind="test", type="alert.test_sent", time="2026-06-01T12:00:00Z", door="records")])
    mails = wait_for(lambda: tls_server.mailbox.mails, 10, "the test mail")
    assert mails[0]["Subject"] == "[Kunci] records: test alarm" and tls_server.mailbox.sessions == [(True, False)]


def test_a_flapping_input_sends_the_first_at_once_and_the_rest_in_one_mail(starttls_server, authorities) -> None:
    clock = Clock()
    sink = EmailSink(_config(starttls_server.port, authorities[0].ca_file, group_seconds=60), "records",
                     password=PASSWORD, clock=clock)
    sink.send([_alarm(1)])  # the first alarm after a quiet period: at once
    assert len(wait_for(lambda: starttls_server.mailbox.mails, 10, "the first mail")) == 1

    pending: list[Message] = []  # what the delivery worker keeps while the sink defers
    for seq in range(2, 21):
        clock.now = START + seq
        pending.append(_alarm(seq))
        with pytest.raises(Deferred) as deferred:
            sink.send(pending)
        assert deferred.value.retry_at == START + 60
    assert len(starttls_server.mailbox.mails) == 1

    clock.now = deferred.value.retry_at
    sink.send(pending)
    mails = wait_for(lambda: len(starttls_server.mailbox.mails) == 2 and starttls_server.mailbox.mails, 10,
                     "the grouped mail")
    assert mails[1]["Subject"] == "[Kunci] records: 19 alarms"
    assert mails[1]["X-Kunci-Seq"].strip() == ", ".join(str(seq) for seq in range(2, 21))
    assert all(f"seq {seq}" in _text(mails[1]) for seq in range(2, 21))


def test_max_per_hour_holds_over_many_windows_and_every_alarm_gets_mailed(starttls_server, authorities) -> None:
    """An alarm every 10 s for three hours, group_seconds 60, at most 4 mails an hour; the worker obeys Deferred."""
    clock = Clock()
    sink = EmailSink(_config(starttls_server.port, authorities[0].ca_file, group_seconds=60, max_per_hour=4),
                     "records", password=PASSWORD, clock=clock)
    alarm_times = [START + 10 * i for i in range(3 * 360)]
    pending: list[Message] = []
    sent_at: list[float] = []
    mailed: list[int] = []
    next_alarm, retry_at = 0, START
    while next_alarm < len(alarm_times) or pending:
        # The worker wakes for the next alarm or, with a batch held back, at the time the sink named.
        wake = [alarm_times[next_alarm]] if next_alarm < len(alarm_times) else []
        clock.now = max(clock.now, min(wake + ([retry_at] if pending else [])))
        while next_alarm < len(alarm_times) and alarm_times[next_alarm] <= clock.now:
            pending.append(_alarm(next_alarm + 1))
            next_alarm += 1
        if pending and clock.now >= retry_at:
            try:
                sink.send(pending)
            except Deferred as deferred:
                assert deferred.retry_at > clock.now
                retry_at = deferred.retry_at
            else:
                sent_at.append(clock.now)
                mailed += [m.seq for m in pending]
                pending = []

    assert mailed == list(range(1, len(alarm_times) + 1))  # every alarm, in order, once
    assert all(sum(1 for t in sent_at if start <= t < start + 3600) <= 4 for start in sent_at)
    # Four in each of the three hours (at 0, 60, 120 and 180 s past each hour), then the rest when a slot frees.
    assert len(sent_at) == 13 and sent_at[4] == START + 3600
    assert len(wait_for(lambda: len(starttls_server.mailbox.mails) == len(sent_at) and starttls_server.mailbox.mails,
                        30, "every mail")) == len(sent_at)


def test_only_alarms_tests_and_summaries_are_mailed(starttls_server, authorities) -> None:
    event = Message(id=1, kind="event", type="access.granted", time="2026-06-01T11:59:00Z", door="records", seq=40,
                    body={"person": "P0007"})
    heartbeat = Message(id=2, kind="heartbeat", type="heartbeat", time="2026-06-01T11:59:30Z", door="records")
    with EmailSink(_config(starttls_server.port, authorities[0].ca_file), "records", password=PASSWORD,
                   clock=Clock()) as sink:
        sink.send([event, heartbeat])  # accepted without a mail
        assert starttls_server.mailbox.mails == []
        sink.send([event, _alarm(41), heartbeat])
    mail = wait_for(lambda: starttls_server.mailbox.mails, 10, "the alarm mail")[0]
    assert mail["X-Kunci-Seq"] == "41" and "P0007" not in _text(mail)


def test_the_daily_summary_is_its_own_mail(starttls_server, authorities) -> None:
    summary = Message(id=5, kind="summary", type="summary.daily", time="2026-06-02T00:00:00Z", door="records",
                      head=(900, "cd" * 32), body={"counts": {"access.granted": 31, "door.forced": 1},
                                                   "open_alarms": ["door_forced"]})
    clock = Clock()
    with EmailSink(_config(starttls_server.port, authorities[0].ca_file, daily_summary=True), "records",
                   password=PASSWORD, clock=clock) as sink:
        sink.send([_alarm(41)])
        clock.now += 1  # within the alarm grouping window: a summary does not wait for it
        sink.send([summary])
    mails = wait_for(lambda: len(starttls_server.mailbox.mails) == 2 and starttls_server.mailbox.mails, 10,
                     "two mails")
    assert mails[1]["Subject"] == "[Kunci] records: daily summary"
    text = _text(mails[1])
    assert "    access.granted: 31" in text and '  open_alarms: ["door_forced"]' in text
    assert "Log head: seq=900 " in text


def test_a_summary_is_not_mailed_when_daily_summary_is_off(starttls_server, authorities) -> None:
    summary = Message(id=5, kind="summary", type="summary.daily", time="2026-06-02T00:00:00Z", door="records",
                      body={"counts": {}})
    with EmailSink(_config(starttls_server.port, authorities[0].ca_file), "records", password=PASSWORD,
                   clock=Clock()) as sink:
        sink.send([summary])
    assert starttls_server.mailbox.mails == []


def test_a_wrong_password_is_a_delivery_error(starttls_server, authorities) -> None:
    sink = EmailSink(_config(starttls_server.port, authorities[0].ca_file), "records", password="wrong-password",
                     clock=Clock())
    with pytest.raises(DeliveryError, match="login refused") as caught:
        sink.send([_alarm(41)])
    assert "wrong-password" not in str(caught.value)
    assert starttls_server.mailbox.mails == []
    # Nothing was mailed, so nothing holds the next try back.
    sink._password = PASSWORD  # the operator fixed the password file
    sink.send([_alarm(41)])
    assert len(wait_for(lambda: starttls_server.mailbox.mails, 10, "the mail")) == 1


def test_a_server_that_is_down_is_a_delivery_error(authorities) -> None:
    sink = EmailSink(_config(_free_port(), authorities[0].ca_file), "records", password=PASSWORD, clock=Clock())
    with pytest.raises(DeliveryError):
        sink.send([_alarm(41)])


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_an_untrusted_server_certificate_is_a_delivery_error(starttls_server, tls_server, authorities,
                                                             security) -> None:
    server = starttls_server if security == "starttls" else tls_server
    sink = EmailSink(_config(server.port, authorities[1].ca_file, security=security), "records", password=PASSWORD,
                     clock=Clock())
    with pytest.raises(DeliveryError, match="not trusted"):
        sink.send([_alarm(41)])
    assert server.mailbox.mails == []


def test_a_server_without_starttls_is_refused(plain_server, authorities) -> None:
    sink = EmailSink(_config(plain_server.port, authorities[0].ca_file), "records", password=PASSWORD,
                     clock=Clock())
    with pytest.raises(DeliveryError, match="STARTTLS"):
        sink.send([_alarm(41)])
    assert plain_server.mailbox.mails == []


def test_a_closed_sink_refuses_and_close_is_idempotent(starttls_server, authorities) -> None:
    sink = EmailSink(_config(starttls_server.port, authorities[0].ca_file), "records", password=PASSWORD,
                     clock=Clock())
    sink.close()
    sink.close()
    with pytest.raises(DeliveryError):
        sink.send([_alarm(41)])
