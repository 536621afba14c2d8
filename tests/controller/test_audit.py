"""The audit chain: sealing, verification against raw-SQL tampering, anchors, the sealer lock, concurrency."""

from __future__ import annotations

import hashlib
import hmac
import json
import multiprocessing
import sqlite3
import tracemalloc
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import select

from controller.store import audit
from controller.store.audit import SealerLock, append, canonical, event_json, head, record, seal_pending
from controller.store.audit_verify import verify
from controller.store.db import make_engine, session_factory, upgrade_database
from controller.errors import InvalidInput, StoreError
from controller.store.models import Event, User
from controller.paths import DataDir

KEY = b"k" * 32
T0 = datetime(2026, 11, 29, 10, 2, 16, 123456, tzinfo=timezone.utc)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "kunci.db"
    eng = make_engine(f"sqlite:///{path}")
    upgrade_database(eng)
    eng.dispose()
    return path


@pytest.fixture
def engine(db_path: Path):
    eng = make_engine(f"sqlite:///{db_path}")
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine):
    with session_factory(engine)() as s:
        yield s


def _fill(session, n: int) -> None:
    for i in range(n):
        append(session, KEY, "access.granted", method="pin", user=f"U{i + 1:04d}", door="main", time=T0)
    session.commit()


def _raw(db_path: Path, *sql: str) -> None:
    """Tamper as someone with the sqlite3 CLI would: plain SQL, no Kunci code."""
    con = sqlite3.connect(db_path)
    for stmt in sql:
        con.execute(stmt)
    con.commit()
    con.close()


def test_chain_follows_the_documented_formula(session) -> None:
    e1 = append(session, KEY, "daemon.started", actor="daemon", time=T0)
    e2 = append(session, KEY, "access.denied", reason="unknown_credential", method="pin", door="main", time=T0)
    session.commit()
    body1 = {"seq": 1, "time": "2026-11-29T10:02:16.123456Z", "type": "daemon.started", "reason": None,
             "method": None, "user": None, "door": None, "actor": "daemon", "score": None, "detail": None}
    raw1 = json.dumps(body1, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    assert canonical(e1) == raw1
    mac1 = hmac.new(KEY, bytes(32) + raw1, hashlib.sha256).digest()
    assert e1.mac == mac1
    assert e2.mac == hmac.new(KEY, mac1 + canonical(e2), hashlib.sha256).digest()
    assert head(session) == (2, e2.mac.hex())


def test_a_row_the_sealer_did_not_write_is_never_chained_in(session) -> None:
    assert head(session) is None
    r1 = record(session, "admin.user_added", user="U0001", actor="alice", detail={"group": "staff"})
    r2 = record(session, "admin.pin_reset", user="U0001", actor="cli")
    assert (r1.seq, r1.mac, r2.seq) == (None, None, None)
    a = append(session, KEY, "access.granted", method="pin", user="U0001", door="main")
    session.commit()
    assert (r1.seq, r2.seq, a.seq) == (None, None, 1)  # the foreign rows stay unsealed
    result = verify(session, KEY)
    assert not result.ok and result.pending == 2 and result.head_seq == 1


def test_in_the_sealers_session_every_record_is_sealed_as_written(session) -> None:
    audit.seal_as_written(session, KEY)
    r1 = record(session, "admin.user_added", user="U0001", actor="alice")
    a = append(session, KEY, "access.granted", method="pin", user="U0001", door="main")
    r2 = record(session, "admin.pin_reset", user="U0001", actor="cli")
    session.commit()
    assert (r1.seq, a.seq, r2.seq) == (1, 2, 3)
    rows = session.execute(select(Event.id, Event.seq).order_by(Event.id)).all()
    assert [r.seq for r in rows] == [1, 2, 3]  # seq order == id order
    result = verify(session, KEY)
    assert result.ok and result.checked == 3 and result.pending == 0 and result.head_seq == 3


def test_seal_pending_counts_and_continues_the_chain(session) -> None:
    _fill(session, 3)
    for _ in range(audit.SEAL_BATCH + 7):
        record(session, "admin.login", actor="alice")
    assert verify(session, KEY).pending == audit.SEAL_BATCH + 7
    assert seal_pending(session, KEY) == audit.SEAL_BATCH + 7
    assert seal_pending(session, KEY) == 0
    session.commit()
    result = verify(session, KEY)
    assert result.ok and result.checked == audit.SEAL_BATCH + 10 and result.pending == 0


def test_record_takes_user_objects_and_stores_codes_never_names(session) -> None:
    user = User(code="U0042", display_name="Siti Rahmawati")
    session.add(user)
    session.flush()
    ev = record(session, "admin.user_suspended", user=user, actor="alice")
    assert ev.user_code == "U0042"
    assert "Siti" not in canonical(ev).decode()


def test_detail_must_be_an_object(session) -> None:
    with pytest.raises(InvalidInput):
        record(session, "tamper", detail=["x"])  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        record(session, "tamper", detail={"when": object()})
    with pytest.raises(InvalidInput):
        record(session, "")


def test_event_json_has_public_fields_and_optional_extras(session) -> None:
    plain = append(session, KEY, "door.opened", door="main", time=T0)
    rich = append(session, KEY, "access.granted", method="finger", user="U0007", door="main", score=87,
                  actor="daemon", detail={"slot": 3}, time=T0)
    assert event_json(plain) == {"seq": 1, "time": "2026-11-29T10:02:16.123456Z", "type": "door.opened",
                                 "reason": None, "method": None, "user": None, "door": "main"}
    assert event_json(rich) == {"seq": 2, "time": "2026-11-29T10:02:16.123456Z", "type": "access.granted",
                                "reason": None, "method": "finger", "user": "U0007", "door": "main",
                                "actor": "daemon", "score": 87, "detail": {"slot": 3}}


def test_edited_row_is_named_by_seq(session, db_path: Path) -> None:
    _fill(session, 10)
    _raw(db_path, "UPDATE events SET reason = 'expired', type = 'access.denied' WHERE seq = 6")
    session.expire_all()
    result = verify(session, KEY)
    assert not result.ok and result.first_bad_seq == 6 and "altered" in result.problem
    assert result.checked == 5


def test_edited_detail_is_detected(session, db_path: Path) -> None:
    append(session, KEY, "tamper", detail={"active": True})
    append(session, KEY, "tamper", detail={"active": False})
    session.commit()
    _raw(db_path, """UPDATE events SET detail = '{"active":true}' WHERE seq = 2""")
    assert verify(session, KEY).first_bad_seq == 2


def test_deleted_middle_row_is_reported_as_a_gap(session, db_path: Path) -> None:
    _fill(session, 10)
    _raw(db_path, "DELETE FROM events WHERE seq = 4")
    result = verify(session, KEY)
    assert not result.ok and result.first_bad_seq == 4 and "missing" in result.problem


def test_deleted_first_row_is_reported(session, db_path: Path) -> None:
    _fill(session, 3)
    _raw(db_path, "DELETE FROM events WHERE seq = 1")
    assert verify(session, KEY).first_bad_seq == 1


def test_reordered_rows_are_reported(session, db_path: Path) -> None:
    _fill(session, 10)
    _raw(
        db_path,
        "UPDATE events SET seq = 999999 WHERE seq = 5",
        "UPDATE events SET seq = 5 WHERE seq = 6",
        "UPDATE events SET seq = 6 WHERE seq = 999999",
    )
    result = verify(session, KEY)
    assert not result.ok and result.first_bad_seq == 5 and "reordered" in result.problem


def test_rows_recomputed_without_the_key_are_detected(session, db_path: Path) -> None:
    """An attacker who edits a row and recomputes its MAC with a guessed key still breaks the chain."""
    _fill(session, 4)
    session.expire_all()
    row = session.scalars(select(Event).where(Event.seq == 2)).one()
    row.user_code = "U9999"
    forged = audit.chain_mac(b"g" * 32, bytes.fromhex("00" * 32), row).hex()
    session.rollback()
    _raw(db_path, f"UPDATE events SET user_code = 'U9999', mac = x'{forged}' WHERE seq = 2")
    assert verify(session, KEY).first_bad_seq == 2


def test_wrong_key_fails_at_seq_1(session) -> None:
    _fill(session, 2)
    assert verify(session, b"x" * 32).first_bad_seq == 1


def test_T7_3_truncated_tail_detected_only_against_an_anchor(session, db_path: Path) -> None:
    _fill(session, 10)
    anchor = head(session)
    assert anchor is not None and anchor[0] == 10
    session.commit()  # end the (write) transaction head() began, as any finished command does
    _raw(db_path, "DELETE FROM events WHERE seq > 7")
    assert verify(session, KEY).ok  # what remains is a valid chain: undetectable on its own
    result = verify(session, KEY, anchor=anchor)
    assert not result.ok and result.first_bad_seq == 8 and "truncated" in result.problem
    assert result.head_seq == 7


def test_anchor_with_a_different_mac_is_reported(session) -> None:
    _fill(session, 5)
    seq, mac = head(session)
    assert verify(session, KEY, anchor=(seq, mac.upper())).ok
    result = verify(session, KEY, anchor=(3, "00" * 32))
    assert not result.ok and result.first_bad_seq == 3 and "anchor" in result.problem


def test_verify_streams_in_batches_with_bounded_memory(session, engine) -> None:
    """Verification streams the rows in seq order in batches (one cursor, ``fetchmany``); memory does not grow
    with the number of rows."""
    n = 20_000
    prev = audit.GENESIS_MAC
    rows = []
    for seq in range(1, n + 1):
        ev = {"seq": seq, "time": "2026-11-29T10:02:16.123456Z", "type": "access.granted", "reason": None,
              "method": "pin", "user": f"U{seq % 9000 + 1:04d}", "door": "main", "actor": None, "score": None,
              "detail": None}
        prev = audit.chain_mac(KEY, prev, ev)
        rows.append((seq, prev, ev["time"], ev["type"], ev["method"], ev["user"], ev["door"]))
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO events (seq, mac, time, type, method, user_code, door) VALUES (?, ?, ?, ?, ?, ?, ?)", rows
        )
    del rows
    selects: list[str] = []
    listener = lambda *a: selects.append(a[2]) if "FROM events" in a[2] else None  # noqa: E731
    sa_event.listen(engine, "before_cursor_execute", listener)
    tracemalloc.start()
    try:
        result = verify(session, KEY, batch=1000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        sa_event.remove(engine, "before_cursor_execute", listener)
    assert result.ok and result.checked == n and result.head_seq == n
    assert peak < 4_000_000, peak  # all 20,000 rows at once would need far more
    assert sum("seq > " in s and "ORDER BY seq" in s for s in selects) == 1  # one streamed walk, not n queries


def test_sealer_lock_is_exclusive(tmp_path: Path) -> None:
    dd = DataDir(tmp_path)
    first, second = SealerLock(dd), SealerLock(dd)
    assert first.try_acquire() and first.held
    assert not second.try_acquire()
    with pytest.raises(StoreError, match="daemon"):
        with second:
            pass
    first.release()
    first.release()  # idempotent
    with second:
        assert second.held
        assert not SealerLock(dd).try_acquire()
    assert not second.held
    assert dd.daemon_lock_file.exists()


def _lock_holder(root: str, ready, stop) -> None:
    with SealerLock(DataDir(Path(root))):
        ready.set()
        stop.wait(10)


def test_sealer_lock_held_by_another_process(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    ready, stop = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_lock_holder, args=(str(tmp_path), ready, stop))
    proc.start()
    try:
        assert ready.wait(10)
        assert not SealerLock(DataDir(tmp_path)).try_acquire()
    finally:
        stop.set()
        proc.join(10)
    assert SealerLock(DataDir(tmp_path)).try_acquire()  # freed when the holder exits
