"""The e-mail destination: alarms mailed through an SMTP server, grouped and rate-limited.

:class:`EmailSink` is a :class:`~controller.alerts.message.Sink` built from ``[email]``
(:class:`~controller.config.schema.EmailConfig`) and the password the caller read from ``password_file``.
Only messages of kind ``alarm`` and ``test`` (and ``summary`` when ``daily_summary`` is on) are mailed; the
others in a batch count as delivered without a mail.

Grouping and the hourly limit (docs/alerts.md "E-mail"), so a flapping input cannot send hundreds of mails:
the first alarm after a quiet period is mailed at once; alarms within ``group_seconds`` of the previous alarm
mail wait and go out together in one mail when that window ends; no more than ``max_per_hour`` mails (any
kind) leave in any rolling hour. When a batch must wait, :meth:`EmailSink.send` raises :class:`Deferred` with
the time to try again, so nothing counts as delivered before the server accepted it: the worker keeps the
batch, adds what arrives meanwhile and calls ``send`` again at ``retry_at``; that call mails the whole batch in
one mail. The times of sent mails are kept in memory only: after a restart the limit starts afresh.
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
import time
from collections import deque
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from controller.alerts.message import ConnectionlessSink, DeliveryError, Message
from controller.config.schema import EmailConfig
from controller.errors import ConfigError
from controller.i18n import T

logger = logging.getLogger(__name__)

#: Message kinds that become mail (``summary`` only with ``daily_summary``); the rest are passed over.
ALARM_KINDS = frozenset({"alarm", "test"})
SUMMARY_KIND = "summary"
#: How long one SMTP step (connect, each command) may take, in seconds.
SMTP_TIMEOUT_SECONDS = 20.0
#: The rolling window of ``max_per_hour``, in seconds.
HOUR_SECONDS = 3600.0


class Deferred(DeliveryError):
    """Not a failure: the batch must wait (grouping window or hourly limit) until ``retry_at``.

    ``retry_at`` is unix time in seconds. The worker keeps the batch (nothing was delivered), waits until then
    and calls ``send`` again with everything that accumulated meanwhile.
    """

    def __init__(self, retry_at: float, reason: str) -> None:
        super().__init__(f"e-mail: {reason}; next mail at {formatdate(retry_at, usegmt=True)}")
        self.retry_at = retry_at


def _label(text: str) -> str:
    """``door.forced`` or ``door_forced`` -> ``door forced`` (for a subject line)."""
    return text.replace(".", " ").replace("_", " ")


def _describe(message: Message) -> str:
    """What one message is about, for a subject: the alarm kind from the body when present, else the type."""
    if message.kind == "test":
        return "test alarm"
    alarm = message.body.get("alarm")
    if isinstance(alarm, str) and alarm:
        return _label(alarm) + (" cleared" if message.type.endswith("cleared") else "")
    return _label(message.type)


def _value(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(", ", ": "))


def _entry(message: Message) -> list[str]:
    """One message in the mail's text: time, type, seq, every code of its body, and the log head."""
    seq = "-" if message.seq is None else str(message.seq)
    lines = [f"{message.time}  {message.type}  seq {seq}"]
    for key, value in message.body.items():
        if isinstance(value, dict):
            lines.append(f"  {key}:")
            lines.extend(f"    {inner}: {_value(item)}" for inner, item in value.items())
        else:
            lines.append(f"  {key}: {_value(value)}")
    if message.head is not None:
        lines.append(f"Log head: seq={message.head[0]} mac={message.head[1]}")  # kunci audit verify --anchor-from
    return lines


def _subject(door: str, alarms: Sequence[Message], summaries: Sequence[Message]) -> str:
    if not alarms:
        return f"[Kunci] {door}: daily summary"
    what = _describe(alarms[0]) if len(alarms) == 1 else f"{len(alarms)} alarms"
    return f"[Kunci] {door}: {what}" + (" and the daily summary" if summaries else "")


class EmailSink(ConnectionlessSink):
    """Mails alarms through ``config.host`` (STARTTLS, implicit TLS or, to a local relay only, plain SMTP).

    :param config: the ``[email]`` section.
    :param door: the door's name, shown in the subject and the text.
    :param password: the login password (read by the caller from ``password_file``); used when
        ``config.username`` is set.
    :param clock: unix time in seconds, for grouping, the hourly limit and the ``Date`` header (default
        :func:`time.time`; tests pass a fake).
    :raises ConfigError: ``ca_file`` cannot be loaded.
    """

    name = "email"

    def __init__(self, config: EmailConfig, door: str, *, password: str | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._config = config
        self._door = door
        self._password = password
        self._clock = clock
        try:
            # Verification is always on: ca_file, or the system's CAs.
            self._context = ssl.create_default_context(cafile=config.ca_file or None)
        except (OSError, ValueError) as exc:
            raise ConfigError([T("email.ca_file: cannot load {path}: {error}", path=config.ca_file,
                                 error=exc)]) from exc
        self._sent: deque[float] = deque()  # when each mail of the last hour left (memory only)
        self._last_alarm_mail: float | None = None
        self._closed = False

    def send(self, batch: Sequence[Message]) -> None:
        """Mail the batch's alarms (and summary) in one mail, or raise :class:`Deferred` if it must wait.

        :raises Deferred: within the grouping window of the previous alarm mail, or over ``max_per_hour``.
        :raises DeliveryError: the server could not be reached, refused the login or the mail, or its
            certificate is not trusted.
        """
        if self._closed:
            raise DeliveryError("e-mail: sink is closed")
        alarms = [m for m in batch if m.kind in ALARM_KINDS]
        summaries = [m for m in batch if m.kind == SUMMARY_KIND and self._config.daily_summary]
        if not alarms and not summaries:
            return
        now = self._clock()
        while self._sent and self._sent[0] <= now - HOUR_SECONDS:
            self._sent.popleft()
        if alarms and self._last_alarm_mail is not None and now < self._last_alarm_mail + self._config.group_seconds:
            window_end = self._last_alarm_mail + self._config.group_seconds
            raise Deferred(max(window_end, self._hour_free_at()), f"grouping alarms for {self._config.group_seconds} s")
        if len(self._sent) >= self._config.max_per_hour:
            raise Deferred(self._hour_free_at(), f"{self._config.max_per_hour} mails sent in the last hour")
        self._deliver(self._compose(alarms, summaries, now))
        self._sent.append(now)
        if alarms:
            self._last_alarm_mail = now
        logger.info("e-mail: mailed %d alarm(s), %d summary(ies) to %d recipient(s)", len(alarms), len(summaries),
                    len(self._config.recipients))

    def _hour_free_at(self) -> float:
        """When the next mail fits under ``max_per_hour`` (now, if it already does)."""
        excess = len(self._sent) - self._config.max_per_hour
        return 0.0 if excess < 0 else self._sent[excess] + HOUR_SECONDS

    def _compose(self, alarms: Sequence[Message], summaries: Sequence[Message], now: float) -> EmailMessage:
        mail = EmailMessage()
        mail["Subject"] = _subject(self._door, alarms, summaries)
        mail["From"] = self._config.sender
        mail["To"] = ", ".join(self._config.recipients)
        mail["Date"] = formatdate(now, usegmt=True)
        mail["Message-ID"] = make_msgid(domain=self._config.sender.rpartition("@")[2] or "kunci.invalid")
        seqs = [str(m.seq) for m in (*alarms, *summaries) if m.seq is not None]
        if seqs:
            mail["X-Kunci-Seq"] = ", ".join(seqs)
        lines = [f"Door: {self._door}",
                 ("Codes only: names stay on the controller. Times are UTC; each entry gives its log sequence "
                  "number and the log head (seq, mac) when it was queued."), ""]
        if alarms:
            lines += [f"{len(alarms)} alarm(s):", ""]
            for message in alarms:
                lines += [*_entry(message), ""]
        for message in summaries:
            lines += ["Daily summary:", "", *_entry(message), ""]
        mail.set_content("\n".join(lines), cte="8bit")  # no folding: each "Log head:" line stays one line
        return mail

    def _deliver(self, mail: EmailMessage) -> None:
        """Hand ``mail`` to the server; every network, TLS or SMTP failure becomes a DeliveryError."""
        config = self._config
        where = f"{config.host}:{config.port}"
        try:
            if config.security == "tls":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(config.host, config.port, timeout=SMTP_TIMEOUT_SECONDS,
                                                      context=self._context)
            else:
                smtp = smtplib.SMTP(config.host, config.port, timeout=SMTP_TIMEOUT_SECONDS)
            with smtp:
                if config.security == "starttls":
                    smtp.ehlo()
                    if not smtp.has_extn("starttls"):
                        raise DeliveryError(f"e-mail {where}: the server does not offer STARTTLS; "
                                            "not sending in clear")
                    smtp.starttls(context=self._context)
                    smtp.ehlo()
                if config.username:
                    smtp.login(config.username, self._password or "")
                refused = smtp.send_message(mail)
        except DeliveryError:
            raise
        except ssl.SSLCertVerificationError as exc:
            raise DeliveryError(f"e-mail {where}: server certificate not trusted ({exc.verify_message})") from exc
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"e-mail {where}: login refused ({exc.smtp_code})") from exc
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(f"e-mail {where}: server answered {exc.smtp_code}") from exc
        except (smtplib.SMTPException, OSError) as exc:  # ssl.SSLError and timeouts are OSErrors
            raise DeliveryError(f"e-mail {where}: {type(exc).__name__}: {str(exc)[:120]}") from exc
        if refused:
            logger.warning("e-mail: the server refused %d of %d recipient(s)", len(refused), len(config.recipients))
