"""The daemon's alert side (controller/daemon/alerts.py, controller/alerts/worker.py, controller/alerts/outbox.py)
on a real SQLite file: the log read as the outbox, the worker's order and retries against a destination that
fails, the backlog bound, the cursor kept across a restart, a secret file others can read, and the daily
summary mailed through a real SMTP server (aiosmtpd) when the site's day turns on the stepped daemon's clock.
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import threading
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pytest

from controller.alerts.message import DeliveryError, Message
from controller.alerts.outbox import Reader
from controller.alerts.worker import DeliveryWorker, Progress
from controller.config.schema import EmailConfig, OutboxConfig, WebhookConfig
from controller.core.vocabulary import ALARM_EVENTS, AlarmKind, EventType
from tests import polling
from tests.alerts.broker import free_port
from tests.controller.daemon_harness import prepare_datadir
from tests.controller.stepped import SteppedDaemon, stepped_config

DEADLINE = 30.0


class Destination:
    """A destination in the test's hands: records what it took; ``down`` makes it refuse every batch."""

    name = "webhook"

    def __init__(self) -> None:
        self.got: list[Message] = []
        self.down = False
        self.closed = 0
        self.lock = threading.Lock()

    def send(self, batch: Sequence[Message]) -> None:
        if self.down:
            raise DeliveryError("receiver down")
        with self.lock:
            self.got.extend(batch)

    def seqs(self) -> list[int]:
        with self.lock:
            return [m.seq for m in self.got if m.seq is not None]

    def close(self) -> None:
        self.closed += 1


@pytest.fixture
def stepped(tmp_path_factory: pytest.TempPathFactory):
    datadir = prepare_datadir(tmp_path_factory.mktemp("a") / "d")
    opened: list[SteppedDaemon] = []

    def start(**config_changes) -> SteppedDaemon:
        config = dataclasses.replace(stepped_config(), **config_changes)
        door = SteppedDaemon(datadir, config)
        opened.append(door)
        return door

    yield datadir, start
    for door in opened:
        try:
            door.close()
        except Exception:  # noqa: BLE001 - already closed by the test
            pass


def forced_doors(door: SteppedDaemon, times: int) -> None:
    for _ in range(times):
        door.door(True)
        door.advance(0.1)
        door.door(False)
        door.advance(0.1)


def test_the_log_is_the_outbox_alarms_carry_their_own_head(stepped) -> None:
    datadir, start = stepped
    door = start()
    forced_doors(door, 1)
    reader = Reader(datadir.db_file, ALARM_EVENTS, "main")
    try:
        alarms = reader.after(0, 10)
        assert [(m.kind, m.type, m.body["alarm"]) for m in alarms] == [("alarm", "alarm.raised", "door_forced"),
                                                                      ("alarm", "alarm.cleared", "door_forced")]
        con = sqlite3.connect(datadir.db_file)
        mac = con.execute("SELECT mac FROM events WHERE seq = ?", (alarms[0].seq,)).fetchone()[0]
        con.close()
        assert alarms[0].head == (alarms[0].seq, bytes(mac).hex())
        everything = Reader(datadir.db_file, None, "main")
        assert [m.type for m in everything.after(0, 100)][-4:] == ["door.forced", "alarm.raised", "door.closed",
                                                                   "alarm.cleared"]
        assert reader.backlog(alarms[-1].seq).depth == 0 and reader.backlog(alarms[0].seq).depth == 1
        everything.close()
    finally:
        reader.close()
        door.close()


def test_a_worker_delivers_in_order_retries_the_whole_batch_and_moves_its_cursor_only_after(stepped) -> None:
    datadir, start = stepped
    door = start()
    forced_doors(door, 3)  # three alarms raised (reopened) and cleared... all sealed
    reports: list[Progress] = []
    sink = Destination()
    sink.down = True
    worker = DeliveryWorker(sink, datadir.db_file, 0, types=None, door="main", report=reports.append,
                            max_rows=10_000, retry_max_seconds=1)
    worker.start()
    try:
        polling.wait_for(lambda: any(not r.ok for r in reports), DEADLINE, "a failure reported")
        assert sink.seqs() == [] and worker.cursor == 0 and reports[0].error == "receiver down"
        sink.down = False
        head = Reader(datadir.db_file, None, "main").head()
        polling.wait_for(lambda: worker.cursor == head[0], DEADLINE, "the backlog delivered")
        assert sink.seqs() == list(range(1, head[0] + 1))  # every event, in order, from the first
        assert reports[-1].ok and reports[-1].backlog.depth == 0
    finally:
        worker.close()
        door.close()
    assert sink.closed == 1


def test_past_the_bound_routine_events_are_skipped_and_alarms_kept(stepped) -> None:
    datadir, start = stepped
    door = start()
    forced_doors(door, 2)
    for _ in range(150):
        door.exit_button()
    reader = Reader(datadir.db_file, None, "main")
    try:
        head = reader.head()[0]
        cut, skipped, kept = reader.overflow(0, 100)
        assert head - cut == 100  # the newest 100 stay
        assert {m.type for m in kept} <= ALARM_EVENTS and [m.body.get("alarm") for m in kept
                                                            if m.type == EventType.ALARM_RAISED] == ["door_forced"] * 2
        assert skipped + len(kept) == cut
        assert reader.overflow(cut, 100) == (cut, 0, [])
    finally:
        reader.close()
        door.close()


def test_an_overflow_raises_its_alarm_and_the_cursor_survives_a_restart(stepped) -> None:
    datadir, start = stepped
    door = start()
    for _ in range(120):
        door.exit_button()
    door.close()
    # the destination enabled with a cursor far behind: rows for it, as a long outage leaves them
    con = sqlite3.connect(datadir.db_file)
    con.execute("INSERT INTO outbox_cursors (destination, seq, updated_at) VALUES ('webhook', 0, '2026-03-04T09:00:00Z')")
    con.commit()
    con.close()
    door = start(outbox=OutboxConfig(events="all", max_rows=100))
    sink = Destination()
    alerts = door.daemon.alerts
    worker = DeliveryWorker(sink, datadir.db_file, 0, types=None, door="main", report=door.daemon.queue.put,
                            max_rows=100, retry_max_seconds=1)
    alerts.workers["webhook"] = worker
    alerts.states["webhook"] = alerts_state(0)
    worker.start()
    polling.wait_for(lambda: door.daemon.queue.qsize() > 0 or sink.seqs(), DEADLINE, "a report")
    polling.wait_for(lambda: (door.advance(0.05), alerts.states["webhook"].dropped)[1], DEADLINE, "the overflow")
    assert AlarmKind.OUTBOX_OVERFLOW in {a["kind"] for a in door.status()["alarms"]}
    door.advance(1.1)  # the cursor is written at most once a second
    cursor = alerts.states["webhook"].cursor
    door.close()
    con = sqlite3.connect(datadir.db_file)
    row = con.execute("SELECT seq, dropped FROM outbox_cursors WHERE destination = 'webhook'").fetchone()
    con.close()
    assert row[0] >= cursor > 0 and row[1] > 0


def alerts_state(cursor: int):
    from controller.alerts.worker import DestinationState

    return DestinationState(cursor)


def test_a_secret_file_others_can_read_stops_that_destination_not_the_door(stepped) -> None:
    datadir, start = stepped
    secret = datadir.root / "secrets" / "hook.key"
    secret.write_text("s3cret")
    os.chmod(secret, 0o644)
    door = start(webhook=WebhookConfig(enabled=True, url="https://127.0.0.1:9/x", secret_file=str(secret)))
    alerts = door.status()["alerts"]
    assert alerts["webhook"]["running"] is False
    assert "mode 0644" in alerts["webhook"]["setup_error"] and "chmod 600" in alerts["webhook"]["setup_error"]
    with pytest.raises(Exception, match="no alert destination is running"):
        door.command("alert.test", actor="cli:test")
    forced_doors(door, 1)  # the door works on
    assert "door_forced" in {a["kind"] for a in door.status()["alarms"]}


def test_the_daily_summary_is_mailed_when_the_sites_day_turns(stepped) -> None:
    from aiosmtpd.controller import Controller

    mails: list[bytes] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: ANN001 - aiosmtpd's handler API
            mails.append(envelope.content)
            return "250 OK"

    port = free_port()
    smtp = Controller(Handler(), hostname="127.0.0.1", port=port)
    smtp.start()
    datadir, start = stepped
    try:
        door = start(email=EmailConfig(enabled=True, host="127.0.0.1", port=port, security="none",
                                       sender="door@example.org", recipients=("sec@example.org",),
                                       daily_summary=True, group_seconds=0))
        forced_doors(door, 1)
        polling.wait_for(lambda: mails, DEADLINE, "the door_forced alarm mail")
        door.advance(1.1)
        door.clock.jump_wall(timedelta(days=1))  # the site's day turns
        door.advance(1.1)
        polling.wait_for(lambda: [m for m in mails if b"daily summary" in m], DEADLINE, "the daily summary mail")
        summary = next(m for m in mails if b"daily summary" in m)
        assert b"door.forced" in summary and b"open_alarms" in summary and b"Log head: seq=" in summary
    finally:
        smtp.stop()
