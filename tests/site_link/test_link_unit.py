"""The site link's thread logic without a server: a fake site connection, the real loop-side commands on a real
door database from the migrations, and an injected clock (no sleeps, no timing)."""

from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from controller.config import parse_config
from controller.core.vocabulary import AlarmKind, EventType
from controller.site.link import RETRY_MAX_SECONDS, UPLOAD_ROWS, LoopSide, SiteLink, conninfo
from controller.store import audit
from controller.store.audit import seal_as_written
from controller.store.db import make_engine, session_factory, upgrade_database
from controller.store.models import Event, SiteSync, User

KEY = bytes(range(32, 64))
NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
CONFIG = parse_config({"simulated": True, "site_link": {
    "enabled": True, "controller": "a", "host": "db.example", "user": "kunci_ctl_a", "max_stale_seconds": 600}})


class FakeSite:
    """What the controller's role sees of the site: its feed rows, its events, its check-ins."""

    def __init__(self) -> None:
        self.feed: list[tuple] = []
        self.events: dict[int, dict] = {}
        self.inserts = 0
        self.checkins: list[tuple] = []
        self.down = False
        self.notified = False

    def add(self, revision: int, op: str, key: str, **payload) -> None:
        self.feed.append((revision, op, key, payload))


class FakeConn:
    def __init__(self, site: FakeSite) -> None:
        self.site = site
        self.closed = False

    def _check(self) -> None:
        if self.site.down or self.closed:
            raise OSError("server closed the connection unexpectedly")

    def execute(self, sql: str, params: tuple = ()):
        self._check()
        if sql.startswith("LISTEN"):
            return SimpleNamespace(fetchone=lambda: None)
        if "my_controller_id" in sql:
            return SimpleNamespace(fetchone=lambda: (7,))
        if "controller_checkin" in sql:
            self.site.checkins.append(params)
            return SimpleNamespace(fetchone=lambda: (7,))
        if "FROM kunci.events" in sql:
            _cid, first, last = params
            rows = [(seq, e["mac"]) for seq, e in self.site.events.items() if first <= seq <= last]
            return SimpleNamespace(fetchall=lambda: rows)
        if "FROM kunci.feed" in sql:
            after, limit = params
            rows = [r for r in sorted(self.site.feed) if r[0] > after][:limit]
            return SimpleNamespace(fetchall=lambda: rows)
        raise AssertionError(sql)

    @contextmanager
    def transaction(self):
        self._check()
        yield

    @contextmanager
    def cursor(self):
        site = self.site

        class Cursor:
            def executemany(self, sql: str, rows: list[tuple]) -> None:
                assert "ON CONFLICT (controller_id, seq) DO NOTHING" in sql
                site.inserts += 1
                for row in rows:
                    assert row[0] == 7
                    site.events.setdefault(row[1], {"type": row[3], "mac": row[-1]})

        yield Cursor()

    def notifies(self, timeout: float, stop_after: int):
        self._check()
        if self.site.notified:
            self.site.notified = False
            yield SimpleNamespace(channel="kunci_feed", payload="7:1")

    def close(self) -> None:
        self.closed = True


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def door(tmp_path: Path):
    """A door database and a stand-in for the daemon's loop (the real loop-side commands run on it)."""
    db_file = tmp_path / "kunci.db"
    engine = make_engine(f"sqlite:///{db_file}")
    upgrade_database(engine)
    session = session_factory(engine)()
    seal_as_written(session, KEY)
    alarms: list[tuple] = []
    journal = SimpleNamespace(session=session, commit_change=session.commit,
                              raise_alarm=lambda kind, detail=None: alarms.append(("raised", kind)),
                              clear_alarm=lambda kind: alarms.append(("cleared", kind)))
    refreshed: list[datetime] = []
    d = SimpleNamespace(journal=journal, config=CONFIG, wall=lambda: NOW,
                        access=SimpleNamespace(refresh_site=refreshed.append))
    side = LoopSide(d)
    yield SimpleNamespace(db_file=db_file, session=session, alarms=alarms, refreshed=refreshed,
                          submit=lambda name, params: side.run(name, params))
    session.close()
    engine.dispose()


def _link(door, site: FakeSite, clock: Clock, sleeps: list[float] | None = None, **kwargs) -> SiteLink:
    def sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)
        clock.t += seconds

    link = SiteLink(CONFIG.site_link, door.db_file.parent, door.db_file, door.submit,
                    connect=lambda: FakeConn(site), clock=clock, wall=lambda: NOW, sleep=sleep, **kwargs)
    link._local = __import__("controller.site.link_local", fromlist=["LocalReader"]).LocalReader(door.db_file)
    link._remember_last_sync()
    return link


def _grant_vault(site: FakeSite) -> None:
    site.add(3, "group", "vault-staff", name="vault-staff", schedule=None, required_mode=None, two_person=False,
             doors=["main"])
    site.add(5, "person", "U0100", code="U0100", status="active", kind="staff", valid_from=None, valid_until=None,
             group="vault-staff", pin_digest="ab" * 32)


def test_a_step_applies_the_feed_in_order_and_uploads_the_sync_event(door) -> None:
    site, clock = FakeSite(), Clock()
    _grant_vault(site)
    link = _link(door, site, clock)
    link.step()
    assert link.status()["state"] == "connected" and link.revision == 5
    assert door.session.scalar(select(User.origin).where(User.code == "U0100")) == "site"
    assert door.refreshed == [NOW]  # the cached site facts were re-read for the next decision
    sync = door.session.scalars(select(Event).where(Event.type == EventType.ADMIN_SITE_SYNC)).one()
    assert json.loads(sync.detail) == {"from": 0, "to": 5, "changes": 2}
    assert [e["type"] for e in site.events.values()] == [EventType.ADMIN_SITE_SYNC]
    door.session.expire_all()
    assert door.session.get(SiteSync, 1).uploaded_seq == sync.seq == link.uploaded_seq
    assert site.checkins[-1] == (5, sync.seq)
    # a revocation arrives as one more row: applied once, nothing re-applied
    site.add(9, "person", "U0100", code="U0100", status="revoked", kind="staff", valid_from=None,
             valid_until=None, group="vault-staff", pin_digest=None)
    site.notified = True
    link.step()
    link.step()
    door.session.expire_all()
    assert door.session.scalar(select(User.status).where(User.code == "U0100")) == "revoked"
    assert [json.loads(e.detail)["to"] for e in door.session.scalars(
        select(Event).where(Event.type == EventType.ADMIN_SITE_SYNC))] == [5, 9]
    assert sorted(site.events) == list(range(1, len(site.events) + 1))  # every sealed event, once, in order


def test_a_long_log_goes_up_in_batches_in_seq_order(door) -> None:
    for _ in range(UPLOAD_ROWS * 2 + 3):
        audit.record(door.session, EventType.EXIT_REQUEST, door="main", time=NOW)
    door.session.commit()
    site, clock = FakeSite(), Clock()
    link = _link(door, site, clock)
    link.step()
    assert site.inserts == 3 and sorted(site.events) == list(range(1, UPLOAD_ROWS * 2 + 4))
    assert link.uploaded_seq == UPLOAD_ROWS * 2 + 3


def test_an_upload_repeated_after_a_lost_cursor_stores_nothing_twice(door) -> None:
    audit.record(door.session, EventType.EXIT_REQUEST, door="main", time=NOW)
    door.session.commit()
    site, clock = FakeSite(), Clock()
    link = _link(door, site, clock)
    link.step()
    door.session.get(SiteSync, 1).uploaded_seq = 0  # as if the daemon died before recording the cursor
    door.session.commit()
    link.step()
    assert sorted(site.events) == [1] and site.inserts == 2


def test_offline_backs_off_raises_the_stale_alarm_and_clears_it_on_return(door) -> None:
    site, clock, sleeps = FakeSite(), Clock(), []
    site.down = True
    link = _link(door, site, clock, sleeps)
    for _ in range(8):
        link.step()
    assert link.status()["state"] == "offline" and "closed the connection" in link.status()["last_error"]
    assert sleeps == [1.0, 2.0, 4.0, 8.0, 16.0, RETRY_MAX_SECONDS, RETRY_MAX_SECONDS, RETRY_MAX_SECONDS]
    assert door.alarms == []  # 93 s offline: not yet stale (max_stale_seconds = 600)
    while clock.t - 1000.0 < 600:
        link.step()
    link.step()  # the first turn past max_stale_seconds
    assert door.alarms == [("raised", AlarmKind.SITE_STALE)] and link.status()["stale"]
    site.down = False
    link.step()
    assert door.alarms[-1] == ("cleared", AlarmKind.SITE_STALE) and link.status()["state"] == "connected"
    assert link.status()["stale_seconds"] == 0.0


def test_staleness_counts_from_the_last_sync_across_a_restart(door) -> None:
    door.session.add(SiteSync(id=1, revision=4, synced_at="2026-12-01T09:00:00.000000Z", uploaded_seq=0))
    door.session.commit()
    site, clock = FakeSite(), Clock()
    site.down = True
    link = _link(door, site, clock)
    assert link.stale_seconds() == pytest.approx(25 * 3600)
    link.step()
    assert door.alarms == [("raised", AlarmKind.SITE_STALE)]


def test_a_refused_batch_is_retried_and_named_in_the_status(door) -> None:
    site, clock = FakeSite(), Clock()
    site.add(1, "person", "U0100", code="U0100", status="active", kind="staff", valid_from=None,
             valid_until=None, group="nobody", pin_digest=None)
    link = _link(door, site, clock)
    link.step()
    status = link.status()
    assert status["state"] == "offline" and "group 'nobody' is not known here" in status["last_error"]
    assert status["revision"] == 0 and door.session.scalar(select(User)) is None


def test_a_code_held_by_a_local_person_is_named_in_the_status(door) -> None:
    door.session.add(User(code="U0100", status="active"))
    door.session.commit()
    site, clock = FakeSite(), Clock()
    _grant_vault(site)
    link = _link(door, site, clock)
    link.step()
    assert link.status()["conflicts"] == ["U0100"] and link.status()["revision"] == 5
    assert door.session.scalar(select(User.origin).where(User.code == "U0100")) == "local"


def test_conninfo_verifies_the_server_by_default() -> None:
    text = conninfo(CONFIG.site_link, "s3cret")
    assert "sslmode=verify-full" in text and "sslrootcert=system" in text and "password=s3cret" in text
    local = parse_config({"site_link": {"enabled": True, "controller": "a", "host": "127.0.0.1", "user": "u",
                                        "sslmode": "disable"}}).site_link
    assert "sslrootcert" not in conninfo(local, "x")


def test_a_quiet_feed_still_records_the_contact_so_a_restart_is_not_stale(door) -> None:
    door.session.add(SiteSync(id=1, revision=4, synced_at="2026-11-20T09:00:00.000000Z", uploaded_seq=0))
    door.session.commit()
    site, clock = FakeSite(), Clock()
    link = _link(door, site, clock)
    assert link.stale_seconds() > 86400  # twelve days since the last applied batch
    link.step()
    door.session.expire_all()
    assert door.session.get(SiteSync, 1).synced_at == "2026-12-02T10:00:00.000000Z"
    assert door.session.get(SiteSync, 1).revision == 4 and door.alarms == []
    restarted = _link(door, FakeSite(), clock)
    assert restarted.stale_seconds() == 0.0


def test_another_log_under_the_same_seqs_stops_uploads_loudly_but_not_the_feed(door) -> None:
    audit.record(door.session, EventType.EXIT_REQUEST, door="main", time=NOW)
    door.session.commit()
    site, clock = FakeSite(), Clock()
    site.events[1] = {"type": "exit.request", "mac": b"\x00" * 32}  # uploaded by a log this one replaced
    _grant_vault(site)
    link = _link(door, site, clock)
    link.step()
    status = link.status()
    assert "another event under seq 1" in status["upload_error"] and status["uploaded_seq"] == 0
    assert status["state"] == "connected" and status["revision"] == 5  # revocations still arrive
    assert site.events[1]["mac"] == b"\x00" * 32
