"""The anchor file (controller/store/anchor.py): heads appended after each commit of sealed events, rotation,
the newest head, the comparison with the database, and what ``kunci audit verify`` makes of it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from controller.store import anchor, audit
from controller.cli import main
from controller.store.db import make_engine, open_database, session_factory
from controller.daemon.journal import Journal
from controller.store.keys import load_audit_key
from controller.paths import DataDir

KEY = b"k" * 32
MAC = "ab" * 32


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def site(tmp_path: Path, capsys) -> DataDir:
    dd = DataDir(tmp_path / "site")
    assert _run(capsys, "init", "--data", str(dd.root))[0] == 0
    return dd


def test_append_writes_one_line_per_head_and_newest_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "anchor" / "heads"
    assert anchor.newest(path) is None and not anchor.present(path)
    anchor.append(path, 1, bytes.fromhex(MAC))
    anchor.append(path, 2, "CD" * 32)
    heads = anchor.read_heads(path)
    assert [(h.seq, h.mac) for h in heads] == [(1, MAC), (2, "cd" * 32)]
    assert heads[0].time and heads[0].time.endswith("Z")
    assert (anchor.newest(path).seq, anchor.newest(path).mac) == (2, "cd" * 32)
    assert path.stat().st_mode & 0o777 == anchor.FILE_MODE
    assert path.parent.stat().st_mode & 0o777 == anchor.DIR_MODE


def test_a_partial_last_line_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "heads"
    anchor.append(path, 7, MAC)
    with path.open("a") as fh:
        fh.write("seq=8 mac=abab")  # a crash in the middle of a write
    assert anchor.newest(path).seq == 7


def test_rotation_keeps_the_previous_file_so_the_newest_head_is_always_there(tmp_path: Path) -> None:
    path = tmp_path / "heads"
    writer = anchor.AnchorWriter(path, rotate_bytes=300)
    for seq in range(1, 20):
        writer.append(seq, MAC)
        assert anchor.newest(path).seq == seq
    writer.close()
    previous = anchor.previous_path(path)
    assert previous.exists() and path.stat().st_size <= 300 + 120
    assert anchor.read_heads(previous)[-1].seq + 1 == anchor.read_heads(path)[0].seq
    # right after a rotation (the new file not written yet) the newest head is in heads.1
    path.unlink()
    assert anchor.newest(path).seq == anchor.read_heads(previous)[-1].seq


def test_the_writer_appends_after_each_commit_that_sealed_and_never_after_a_rollback(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'kunci.db'}")
    from controller.store.db import upgrade_database

    upgrade_database(engine)
    path = tmp_path / "heads"
    writer = anchor.AnchorWriter(path)
    session = session_factory(engine)()
    journal = Journal(session, KEY, "main", anchor=writer)
    assert journal.write("door.opened")
    assert journal.write("door.closed")
    assert [h.seq for h in anchor.read_heads(path)] == [1, 2]
    audit.append(session, KEY, "access.granted")
    session.rollback()
    session.commit()
    assert [h.seq for h in anchor.read_heads(path)] == [1, 2]
    audit.record(session, "admin.user_added", actor="cli")
    journal.commit_change()
    heads = anchor.read_heads(path)
    assert heads[-1].seq == 3 and heads[-1].mac == audit.head(session)[1]
    session.commit()  # a commit that sealed nothing appends nothing
    assert len(anchor.read_heads(path)) == 3
    session.close()
    writer.close()
    engine.dispose()


def test_record_head_for_maintenance_commands(site: DataDir) -> None:
    key = load_audit_key(site)
    engine = open_database(site)
    with session_factory(engine)() as session:
        assert anchor.record_head(site, session) is None  # empty log: nothing to record
        audit.append(session, key, "admin.user_added", actor="cli")
        session.commit()
        recorded = anchor.record_head(site, session)
        assert recorded is not None and recorded.seq == 1
        assert anchor.record_head(site, session) is None  # already the newest line
        assert anchor.newest(site).mac == audit.head(session)[1]
    engine.dispose()


def test_compare_names_truncation_and_rewriting(site: DataDir) -> None:
    key = load_audit_key(site)
    engine = open_database(site)
    with session_factory(engine)() as session:
        for _ in range(5):
            audit.append(session, key, "door.opened")
        session.commit()
        seq, mac = audit.head(session)
        assert anchor.compare(session, anchor.Head(seq, mac)) is None
        problem = anchor.compare(session, anchor.Head(9, mac, "2026-01-01T00:00:00.000000Z"))
        assert problem.startswith("truncated/rewritten: the anchor names seq 9") and "the log ends at 5" in problem
        problem = anchor.compare(session, anchor.Head(3, MAC))
        assert "another event there" in problem
    engine.dispose()


@pytest.mark.parametrize("text", [
    "seq=4 mac={mac} time=2026-01-01T00:00:00.000000Z\nseq=5 mac={mac} time=2026-01-01T00:00:01.000000Z\n",
    '"# kunci events export; anchor seq=5 mac={mac}; exported_at=2026-01-01T00:00:00Z"\nseq,time\n',
    '{{"anchor": {{"seq": 5, "mac": "{mac}"}}, "exported_at": "x"}}\n',
    "5:{mac}\n",
])
def test_read_anchor_file_accepts_heads_exports_and_seq_mac(tmp_path: Path, text: str) -> None:
    path = tmp_path / "a"
    path.write_text(text.format(mac=MAC))
    assert anchor.read_anchor_file(path) == (5, MAC)


def test_read_anchor_file_refuses_other_text(tmp_path: Path) -> None:
    path = tmp_path / "a"
    path.write_text("hello\n")
    with pytest.raises(ValueError, match="holds no anchor"):
        anchor.read_anchor_file(path)


def _sealed(site: DataDir, n: int, *, kind: str = "access.granted") -> None:
    key = load_audit_key(site)
    engine = open_database(site)
    writer = anchor.AnchorWriter(site)
    with session_factory(engine)() as session:
        writer.attach(session)
        for _ in range(n):
            audit.append(session, key, kind, method="pin", door="main")
            session.commit()
    writer.close()
    engine.dispose()


def test_plain_verify_detects_deleted_tail_against_the_anchor_file(site: DataDir, capsys) -> None:
    _sealed(site, 1, kind="daemon.started")
    _sealed(site, 19)
    code, out, _ = _run(capsys, "audit", "verify", "--data", str(site.root))
    assert code == 0 and "anchor file: newest head seq=20" in out
    with sqlite3.connect(site.db_file) as con:
        con.execute("DELETE FROM events WHERE seq > 10")
    code, out, _ = _run(capsys, "audit", "verify", "--data", str(site.root))
    assert code == 1
    assert "truncated/rewritten: the anchor names seq 20" in out and "the log ends at 10" in out


def test_plain_verify_fails_when_the_anchor_file_is_gone_after_the_daemon_ran(site: DataDir, capsys) -> None:
    _sealed(site, 1, kind="daemon.started")
    site.anchor_file.unlink()
    code, out, _ = _run(capsys, "audit", "verify", "--data", str(site.root))
    assert code == 1 and "anchor file" in out and "is missing" in out


def test_status_says_when_the_log_is_unavailable_and_how_many_events_wait() -> None:
    from controller.cli.status_cmd import log_line

    assert log_line({"log_available": True, "buffered_events": 0, "pending_events": 0}) == "log:      ok"
    down = log_line({"log_available": False, "buffered_events": 7, "pending_events": 0})
    assert "UNAVAILABLE" in down and "7 events waiting" in down
    assert "2 unsealed rows" in log_line({"log_available": True, "buffered_events": 0, "pending_events": 2})
    assert "anchor file cannot be written (No space left on device)" in log_line(
        {"log_available": True, "anchor_error": "No space left on device"})


def test_a_writer_that_cannot_write_logs_critically_once_and_recovers(tmp_path: Path, caplog) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    writer = anchor.AnchorWriter(blocker / "heads")
    with caplog.at_level("CRITICAL", logger="controller.store.anchor"):
        assert writer.append_logged(1, MAC) is False
        assert writer.append_logged(2, MAC) is False
    assert writer.error and len([r for r in caplog.records if r.levelname == "CRITICAL"]) == 1
    writer.path = tmp_path / "heads"
    assert writer.append_logged(3, MAC) is True and writer.error is None
    writer.close()


def test_an_unreadable_anchor_file_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    from controller.errors import StoreError

    path = tmp_path / "heads"
    anchor.append(path, 1, MAC)

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(StoreError, match="cannot read the anchor file .*Permission denied"):
        anchor.newest(path)
