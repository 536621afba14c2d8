"""The daemon's alert destinations: one delivery worker per configured destination, their cursors, the door's
state for MQTT, the Prometheus metrics, and ``kunci alert test`` (docs/alerts.md).

Everything here that touches the database runs on the loop thread (the daemon is the only writer): the
workers report their progress as :class:`controller.alerts.worker.Progress` items on the daemon's queue, and
:meth:`Alerts.progress` keeps the cursor; :meth:`Alerts.tick` persists cursors that moved (at most once a
second) and publishes the door's state when it changed. A destination that cannot be set up (a secret file
with a loose mode, a bad certificate file) is logged and shown in ``kunci status``; the door works on.
"""

from __future__ import annotations

import logging
import queue
from datetime import date, datetime
from datetime import time as dt_time
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from controller.alerts.message import Message
from controller.alerts.secret_file import read_secret
from controller.alerts.worker import DeliveryWorker, DestinationState, Progress
from controller.core.vocabulary import ALARM_EVENTS, AlarmKind, EventType
from controller.errors import ConfigError, KunciError
from controller.i18n import T
from controller.store import audit, models
from controller.timefmt import iso_utc, parse_iso_utc, utcnow

if TYPE_CHECKING:
    from controller.daemon.loop import Daemon

log = logging.getLogger(__name__)

#: How often moved cursors are written and the door's state compared, seconds.
PERSIST_SECONDS = 1.0
#: Destinations that also receive the live door state and the heartbeat with the log's head.
LIVE = frozenset({"mqtt"})


class Alerts:
    """The alert side of daemon ``d`` (built at start-up, closed at stop)."""

    def __init__(self, d: Daemon) -> None:
        self.d = d
        self.workers: dict[str, DeliveryWorker] = {}
        self.states: dict[str, DestinationState] = {}
        self.errors: dict[str, str] = {}  # destinations that could not be set up, and why
        self.metrics: Any = None
        self._server: Any = None
        self._dirty: set[str] = set()
        self._next_persist = 0.0
        self._poked_at = -1
        self._state: dict[str, Any] | None = None
        self._state_seen = -1
        self._summary_day: date | None = None

    # -- start and stop --------------------------------------------------------------------------

    def start(self) -> None:
        config = self.d.config
        if config.metrics.enabled:
            self._start_metrics()
        wanted = [name for name in ("mqtt", "webhook", "email") if getattr(config, name).enabled]
        if not wanted:
            return
        session = self.d.journal.session
        cursors = {row.destination: row for row in session.scalars(select(models.OutboxCursor))}
        head = audit.head(session)
        start_at = head[0] if head is not None else 0
        types = None if config.outbox.events == "all" else ALARM_EVENTS
        for name in wanted:
            try:
                sink = self._sink(name)
            except (ConfigError, KunciError, OSError, ValueError) as exc:
                self.errors[name] = str(exc)[:300]
                log.error("alert destination %s not started: %s", name, exc)
                continue
            row = cursors.get(name)
            cursor = row.seq if row is not None else start_at  # a new destination starts now, not at seq 1
            state = DestinationState(cursor)
            if row is not None:
                state.last_success, state.last_error, state.last_error_at = (row.last_success_at, row.last_error,
                                                                             row.last_error_at)
                state.failures, state.dropped = row.failures, row.dropped
            else:
                self._dirty.add(name)
            self.states[name] = state
            self.workers[name] = DeliveryWorker(
                sink, self.d.datadir.db_file, cursor, types=types, door=config.door.name, report=self.d.queue.put,
                max_rows=config.outbox.max_rows, retry_max_seconds=config.outbox.retry_max_seconds,
                live=name in LIVE, heartbeat_seconds=config.outbox.heartbeat_seconds)
        self._persist()
        for worker in self.workers.values():
            worker.start()
        log.info("alert destinations: %s", ", ".join(self.workers) or "none")

    def _secret(self, setting: str, value: str) -> str | None:
        return read_secret(setting, value, self.d.datadir.root) if value else None

    def _sink(self, name: str) -> Any:
        config = self.d.config
        if name == "mqtt":
            from controller.alerts.mqtt import MqttSink

            return MqttSink(config.mqtt, config.door.name,
                            password=self._secret("mqtt.password_file", config.mqtt.password_file))
        if name == "webhook":
            from controller.alerts.webhook import WebhookSink

            secret = self._secret("webhook.secret_file", config.webhook.secret_file) or ""
            return WebhookSink(config.webhook, secret.encode("utf-8"))
        from controller.alerts.email import EmailSink

        return EmailSink(config.email, config.door.name,
                         password=self._secret("email.password_file", config.email.password_file))

    def _start_metrics(self) -> None:
        from controller.alerts.metrics import DoorMetrics, MetricsServer

        config = self.d.config.metrics
        self.metrics = DoorMetrics()
        try:
            token = self._secret("metrics.token_file", config.token_file)
            self._server = MetricsServer(config, self.metrics, token=token)
            self._server.start()
            log.info("metrics on %s", self._server.url)
        except (ConfigError, KunciError, OSError) as exc:
            self.errors["metrics"] = str(exc)[:300]
            self._server = None
            log.error("metrics endpoint not started: %s", exc)

    def close(self) -> None:
        """Stop the workers (each finishes or fails its batch), write their cursors, stop the metrics server.
        Called at the daemon's stop, after its loop ended: the workers' last reports are taken off the queue."""
        for worker in self.workers.values():
            worker.close()
        while True:
            try:
                item = self.d.queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, Progress):
                self.progress(item)
        if self._dirty:
            self._persist()
        if self._server is not None:
            self._server.close()
            self._server = None

    # -- on the loop thread ------------------------------------------------------------------------

    def on_stored(self, type: str) -> None:
        if self.metrics is not None:
            self.metrics.event(type)

    def decided(self, seconds: float) -> None:
        """A decision was applied ``seconds`` after its input (the newest access event says which)."""
        if self.metrics is not None and self.d.journal.last_access is not None:
            type, method, reason = self.d.journal.last_access
            granted = type == EventType.ACCESS_GRANTED
            self.metrics.decision(method or "", "granted" if granted else "denied", "" if granted else reason or "",
                                  seconds)

    def after_turn(self) -> None:
        """After each turn of the loop: wake the workers if events were stored since the last time."""
        count = self.d.journal.sealed_count
        if count != self._poked_at:
            self._poked_at = count
            for worker in self.workers.values():
                worker.poke()

    def progress(self, item: Progress) -> None:
        state = self.states.get(item.destination)
        if state is None:
            return
        now = iso_utc(utcnow())
        state.cursor = item.cursor
        state.depth, state.oldest = item.backlog.depth, item.backlog.oldest
        if item.ok:
            state.last_success = now
        else:
            state.failures += 1
            state.last_error, state.last_error_at = item.error, now
        if item.dropped:
            state.dropped += item.dropped
            self.d.journal.raise_alarm(AlarmKind.OUTBOX_OVERFLOW, f"{item.destination}: {item.dropped} routine "
                                       "events skipped (alarms kept)")
        self._dirty.add(item.destination)

    def tick(self, t: float) -> None:
        if t < self._next_persist:
            return
        self._next_persist = t + PERSIST_SECONDS
        if self._dirty:
            self._persist()
        if self.workers or self.metrics is not None:
            self._publish_state()
        if "email" in self.workers and self.d.config.email.daily_summary:
            self._daily_summary()

    def _daily_summary(self) -> None:
        """Once the site's day turned: yesterday's events counted by type and the open alarms, as one mail."""
        tz = self.d.access.tz
        today = self.d.wall().astimezone(tz).date()
        if self._summary_day is None or today == self._summary_day:
            self._summary_day = self._summary_day or today
            return
        day, self._summary_day = self._summary_day, today
        start = datetime.combine(day, dt_time(0), tz)
        end = datetime.combine(today, dt_time(0), tz)
        session = self.d.journal.session
        counts = dict(session.execute(
            select(models.Event.type, func.count()).where(models.Event.time >= iso_utc(start),
                                                          models.Event.time < iso_utc(end))
            .group_by(models.Event.type).order_by(models.Event.type)).all())
        alarms = sorted({a.kind for a in self.d.journal.active_alarms()})
        head = audit.head(session)
        self.workers["email"].add(Message(id=0, kind="summary", type="summary.daily", time=iso_utc(utcnow()),
                                          door=self.d.config.door.name, head=head,
                                          body={"day": day.isoformat(), "events": counts, "open_alarms": alarms}))

    def _persist(self) -> None:
        session = self.d.journal.session
        for name in sorted(self._dirty):
            state = self.states[name]
            row = session.get(models.OutboxCursor, name) or models.OutboxCursor(destination=name)
            row.seq, row.updated_at = state.cursor, iso_utc(utcnow())
            row.last_success_at, row.last_error, row.last_error_at = (state.last_success, state.last_error,
                                                                      state.last_error_at)
            row.failures, row.dropped = state.failures, state.dropped
            session.add(row)
        try:
            self.d.journal.commit_change()
            self._dirty.clear()
        except Exception as exc:  # noqa: BLE001 - the cursors are written again next second
            log.warning("could not store the alert cursors: %s", str(exc).splitlines()[0])

    def _publish_state(self) -> None:
        d = self.d
        changed = d.journal.sealed_count != self._state_seen or self._state is None
        if changed:  # alarms and the head move only with stored events: read them only then
            self._state_seen = d.journal.sealed_count
            alarms = sorted({a.kind for a in d.journal.active_alarms() if a.cleared_at is None})
        else:
            alarms = self._state["alarms"]
        if not d.journal.available and AlarmKind.LOG_UNAVAILABLE not in alarms:  # cannot be sealed: said live
            alarms = sorted([*alarms, str(AlarmKind.LOG_UNAVAILABLE)])
        state = {"locked": not d.hw.relay.is_unlocked, "open": bool(d.door.door_open),
                 "lockdown": bool(d.access.site.door.lockdown), "mode": str(d.access.site.door.mode),
                 "alarms": alarms}
        if state != self._state:
            self._state = state
            for name, worker in self.workers.items():
                if name in LIVE:
                    worker.set_state(state)
        if self.metrics is not None:
            m = self.metrics
            m.door(state["locked"], state["open"], state["lockdown"], state["mode"])
            m.alarms(alarms)
            if d.config.sensor.enabled:
                m.sensor(d.sensor_state == "ok")
            lockout = d.access.keypad_lockout
            now = d.wall()
            m.lockout("keypad", lockout.is_locked(now, d.clock()))
            m.lockout("finger", d.access.finger_lockout.is_locked(now, d.clock()))
            head = audit.head(d.journal.session) if changed and d.journal.available else None
            if head is not None:
                m.head(head[0])
            for name, st in self.states.items():
                age = 0.0 if st.oldest is None else max(0.0, (utcnow() - parse_iso_utc(st.oldest)).total_seconds())
                success = None if st.last_success is None else parse_iso_utc(st.last_success).timestamp()
                m.outbox(name, st.depth, age, success, st.failures)

    # -- commands ----------------------------------------------------------------------------------

    def test(self, actor: str) -> dict[str, Any]:
        """``kunci alert test``: seal an ``alert.test_sent`` event; every destination delivers it like an alarm."""
        if not self.workers:
            reasons = "; ".join(f"{k}: {v}" for k, v in self.errors.items())
            if reasons:
                raise KunciError(T("no alert destination is running ({reasons})", reasons=reasons))
            raise KunciError(T("no alert destination is running: enable [mqtt], [webhook] or [email] in kunci.toml"))
        if not self.d.journal.write(EventType.ALERT_TEST, actor=actor, detail={"destinations": sorted(self.workers)}):
            raise KunciError(T("the test alarm could not be stored (the event log refuses writes)"))
        self.after_turn()
        head = audit.head(self.d.journal.session)
        return {"destinations": sorted(self.workers), "seq": head[0] if head is not None else None}

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, state in self.states.items():
            worker = self.workers.get(name)
            out[name] = {**state.as_dict(), "running": bool(worker and worker.alive)}
        for name, error in self.errors.items():
            out[name] = {"running": False, "setup_error": error}
        return out

