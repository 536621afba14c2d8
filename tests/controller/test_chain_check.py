"""The chain check over plain sqlite3 (the CLI's fast path) agrees with the session path on real SQLite files,
the batched check agrees with the row-by-row walk, the kept-head reading agrees with controller.store.anchor,
and doctor's tail check (issue 12, "Fast CLI")."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from controller.ops.doctor_findings import Status
from controller.ops.doctor_services import check_audit
from controller.paths import DataDir
from controller.store import anchor, audit, chain_check
from controller.store.audit_verify import ARCHIVED_EVENT, verify
from controller.store.chain_check import SqliteReader
from controller.store.db import make_engine, session_factory, upgrade_database
from controller.store.keys import create_secrets, load_audit_key
from controller.store.models import Event

KEY = b"c" * 32
N = 23


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[DataDir, object]]:
    """A data directory with secrets, a migrated database and an engine on it."""
    datadir = DataDir(tmp_path / "data")
    datadir.root.mkdir()
    create_secrets(datadir)
    engine = make_engine(f"sqlite:///{datadir.db_file}")
    upgrade_database(engine)
    yield datadir, engine
    engine.dispose()


def _fill(engine: object, key: bytes, n: int = N) -> None:
    with session_factory(engine)() as session, session.begin():  # type: ignore[arg-type]
        for i in range(n):
            audit.append(session, key, "access.granted", method="pin", user=f"U{i % 7 + 1:04d}", door="main",
                         detail={"i": i} if i % 3 else None, score=i if i % 5 == 0 else None)


def _sql(db: Path, *statements: str) -> None:
    with sqlite3.connect(db) as conn:
        for statement in statements:
            conn.execute(statement)
    conn.close()


def _both(engine: object, db: Path, key: bytes = KEY, **kwargs: object) -> chain_check.VerifyResult:
    """The session path and the sqlite3 path, each at several batch sizes: all results equal; one returned."""
    results = []
    for batch in (1, 4, 5000):
        with session_factory(engine, readonly=True)() as session, session.begin():  # type: ignore[arg-type]
            results.append(verify(session, key, batch=batch, **kwargs))  # type: ignore[arg-type]
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
        try:
            results.append(chain_check.verify_chain(SqliteReader(conn), key, batch=batch, **kwargs))  # type: ignore[arg-type]
        finally:
            conn.close()
    assert all(r == results[0] for r in results), results
    return results[0]


def test_good_chain(site) -> None:
    datadir, engine = site
    _fill(engine, KEY)
    result = _both(engine, datadir.db_file)
    assert result.ok and result.checked == N and result.head_seq == N


def test_altered_row(site) -> None:
    datadir, engine = site
    _fill(engine, KEY)
    _sql(datadir.db_file, "UPDATE events SET door = 'back' WHERE seq = 9")
    result = _both(engine, datadir.db_file)
    assert not result.ok and result.first_bad_seq == 9 and "does not match its MAC" in result.problem
    assert result.checked == 8


def test_deleted_middle_row(site) -> None:
    datadir, engine = site
    _fill(engine, KEY)
    _sql(datadir.db_file, "DELETE FROM events WHERE seq = 12")
    result = _both(engine, datadir.db_file)
    assert result.first_bad_seq == 12 and result.problem == "seq 12 is missing (deleted)"


def test_reordered_rows(site) -> None:
    datadir, engine = site
    _fill(engine, KEY)
    _sql(datadir.db_file, "UPDATE events SET seq = seq + 1000 WHERE seq IN (6, 7)",
         "UPDATE events SET seq = 7 WHERE seq = 1006", "UPDATE events SET seq = 6 WHERE seq = 1007")
    result = _both(engine, datadir.db_file)
    assert result.first_bad_seq == 6 and "out of order" in result.problem


def test_deleted_tail_against_the_anchor(site) -> None:
    datadir, engine = site
    _fill(engine, KEY)
    with session_factory(engine)() as session:
        kept = audit.head(session)
    _sql(datadir.db_file, f"DELETE FROM events WHERE seq > {N - 3}")
    result = _both(engine, datadir.db_file, anchor=kept)
    assert result.first_bad_seq == N - 2 and "log truncated" in result.problem
    assert _both(engine, datadir.db_file, anchor=(5, "00" * 32)).problem.endswith("(log rewritten)")


def test_unsealed_foreign_row(site) -> None:
    datadir, engine = site
    _fill(engine, KEY)
    _sql(datadir.db_file, "INSERT INTO events (time, type, actor) VALUES ('2026-01-01T00:00:00Z', 'door.opened', 'x')")
    result = _both(engine, datadir.db_file)
    assert not result.ok and result.pending == 1 and result.checked == N
    assert "not sealed" in result.unsealed[0] and "1 unsealed event" in result.problem


def _prune(engine: object, db: Path, keep_after: int) -> None:
    """Seal an ``admin.events_archived`` event naming seq ``keep_after``, then delete seqs up to it."""
    with session_factory(engine)() as session, session.begin():  # type: ignore[arg-type]
        mac = session.execute(select(Event.mac).where(Event.seq == keep_after)).scalar_one()
        audit.append(session, KEY, ARCHIVED_EVENT, actor="cli", detail={"end_seq": keep_after, "end_mac": mac.hex()})
    _sql(db, f"DELETE FROM events WHERE seq <= {keep_after}")


def test_archived_pruned_start(site) -> None:
    datadir, engine = site
    _fill(engine, KEY)
    _prune(engine, datadir.db_file, 10)
    result = _both(engine, datadir.db_file)
    assert result.ok and result.checked == N + 1 - 10
    _sql(datadir.db_file, "UPDATE events SET door = 'x' WHERE seq = 11")
    assert _both(engine, datadir.db_file).first_bad_seq == 11


def test_batches_agree_with_the_row_by_row_walk(site) -> None:
    """Every single-row edit or deletion: the batched check names the same link as a walk of one row at a time."""
    datadir, engine = site
    _fill(engine, KEY, 12)
    conn = sqlite3.connect(datadir.db_file)
    pristine = conn.execute(chain_check.ROWS_SQL, {"after": 0}).fetchall()
    conn.close()
    edits: list[Callable[[list], list]] = []
    for i in range(12):
        edits.append(lambda rows, i=i: rows[:i] + [(*rows[i][:5], "edited", *rows[i][6:])] + rows[i + 1:])
        edits.append(lambda rows, i=i: rows[:i] + rows[i + 1:])
        edits.append(lambda rows, i=i: rows[:i] + [(rows[i][0], None, *rows[i][2:])] + rows[i + 1:])
    for edit in edits:
        rows = edit(list(pristine))
        reference = chain_check._start_walk(None)
        try:
            chain_check._walk_rows(KEY, rows, None, reference, None)
            expected = (None, None, reference.checked)
        except chain_check._Broken as broken:
            expected = (broken.seq, broken.problem, reference.checked)
        for size in (1, 3, 5, 100):
            batches = [rows[k:k + size] for k in range(0, len(rows), size)]
            assert chain_check.walk_chain(KEY, batches) == expected


def test_canonical_is_one_definition() -> None:
    event = {"seq": 3, "time": "t", "type": "door.opened", "reason": None, "method": None, "user": "U0001",
             "door": "main", "actor": None, "score": 7, "detail": '{"a":1}'}
    assert audit.canonical(event) == chain_check.canonical_fields([event[f] for f in chain_check.FIELDS])
    assert audit.GENESIS_MAC is chain_check.GENESIS_MAC


def test_kept_head_reading_agrees_with_the_anchor_module(site) -> None:
    datadir, engine = site
    assert chain_check.newest_kept(datadir.anchor_file) is None and anchor.newest(datadir) is None
    _fill(engine, KEY, 6)
    with session_factory(engine)() as session:
        anchor.record_head(datadir, session)
    with datadir.anchor_file.open("a") as fh:
        fh.write("seq=99 mac=zz partial")  # a torn last line is skipped by both
    kept = chain_check.newest_kept(datadir.anchor_file)
    same = anchor.newest(datadir)
    assert kept is not None and same is not None and (kept.seq, kept.mac, kept.time) == (same.seq, same.mac, same.time)

    def both(head: anchor.Head) -> str | None:
        with session_factory(engine, readonly=True)() as session:
            expected = anchor.compare(session, head)
        conn = sqlite3.connect(datadir.db_file)
        try:
            got = chain_check.compare_kept(SqliteReader(conn), chain_check.KeptHead(head.seq, head.mac, head.time))
        finally:
            conn.close()
        assert got == expected
        return got

    assert both(anchor.Head(kept.seq, kept.mac, kept.time)) is None
    assert "another event there" in both(anchor.Head(kept.seq, "ab" * 32, kept.time))
    _sql(datadir.db_file, "DELETE FROM events WHERE seq = 6")
    assert "the log ends at 5" in both(anchor.Head(6, kept.mac, kept.time))


def test_doctor_checks_the_newest_events_and_says_so(site) -> None:
    datadir, engine = site
    key = load_audit_key(datadir)
    _fill(engine, key, 20)
    finding = check_audit(engine, datadir, newest=5)
    assert finding.status == Status.OK
    assert "newest 5 of 20 events verified; run `kunci audit verify` for the whole chain" in str(finding.message)
    whole = check_audit(engine, datadir, newest=50)
    assert whole.status == Status.OK and "20 events" in str(whole.message) and "newest" not in str(whole.message)
    _sql(datadir.db_file, "UPDATE events SET door = 'x' WHERE seq = 3")  # outside the tail: doctor's bound
    assert check_audit(engine, datadir, newest=5).status == Status.OK
    _sql(datadir.db_file, "UPDATE events SET door = 'x' WHERE seq = 18")
    broken = check_audit(engine, datadir, newest=5)
    assert broken.status == Status.FAIL and "BROKEN at seq 18" in str(broken.message)


def test_doctor_tail_fails_a_truncation_against_the_anchor_file(site) -> None:
    datadir, engine = site
    key = load_audit_key(datadir)
    _fill(engine, key, 20)
    with session_factory(engine)() as session:
        anchor.record_head(datadir, session)
    _sql(datadir.db_file, "DELETE FROM events WHERE seq > 17")
    finding = check_audit(engine, datadir, newest=5)
    assert finding.status == Status.FAIL and "truncated/rewritten" in str(finding.message)


def test_doctor_on_the_sqlite_file_agrees_without_sqlalchemy(site) -> None:
    """``kunci doctor`` on a plain data directory reads the file with sqlite3 (no SQLAlchemy import): the
    same findings as the engine path for an intact chain, a rewritten event and a truncation."""
    from controller.ops.doctor_services import check_sqlite_file

    datadir, engine = site
    key = load_audit_key(datadir)
    _fill(engine, key, 20)
    with session_factory(engine)() as session:
        anchor.record_head(datadir, session)
    database, audit_finding = check_sqlite_file(datadir)
    assert database.status == Status.OK and "integrity ok, schema revision" in str(database.message)
    assert audit_finding.status == Status.OK and "20 events" in str(audit_finding.message)
    _sql(datadir.db_file, "UPDATE events SET door = 'x' WHERE seq = 18")
    broken = check_sqlite_file(datadir)[1]
    assert broken.status == Status.FAIL and "BROKEN at seq 18" in str(broken.message)
    assert broken.message == check_audit(engine, datadir).message
    _sql(datadir.db_file, "DELETE FROM events WHERE seq > 17")
    truncated = check_sqlite_file(datadir)[1]
    assert truncated.status == Status.FAIL and "truncated/rewritten" in str(truncated.message)


def test_kunci_doctor_imports_no_sqlalchemy_on_a_plain_data_directory(site) -> None:
    import subprocess
    import sys

    datadir, _engine = site
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "controller", "doctor", "--data", str(datadir.root)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert "audit:" in proc.stdout, proc.stdout + proc.stderr
    assert "sqlalchemy" not in proc.stderr
