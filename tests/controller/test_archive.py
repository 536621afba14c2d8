"""Retention archives on real SQLite files (issue 6 part 3; docs/backup.md "Retention and archives")."""

from __future__ import annotations

import gzip
import json
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from controller.ops import archive, archive_format, archive_mask, archive_verify

from controller.store import audit, audit_verify, keys
from controller.cli import main
from controller.store.db import open_database, session_factory
from controller.errors import InvalidInput
from controller.paths import DataDir
from controller.site.join import replace_section

NOW = datetime.now(timezone.utc)
CARD = "4539 1488 0343 6467"  # 16-digit Luhn-valid test number
CARD_DIGITS = CARD.replace(" ", "")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def site(tmp_path: Path, capsys):
    """DATA with 30 sealed events: 20 of them 10 days old (one with a card number), 10 of them 1 hour old."""
    data = tmp_path / "site"
    assert run(capsys, "init", "--data", str(data))[0] == 0
    datadir = DataDir(data)
    key = keys.load_audit_key(datadir)
    engine = open_database(datadir)
    try:
        with session_factory(engine)() as session, session.begin():
            for i in range(20):
                detail = {"note": f"card {CARD} presented"} if i == 5 else {"i": i}
                if i == 6:
                    detail = {"id": int(CARD_DIGITS), "ssn": "123-45-6789"}
                audit.append(session, key, "access.denied", reason="unknown_credential", method="pin",
                             door="main", detail=detail, time=NOW - timedelta(days=10, minutes=60 - i))
            for i in range(10):
                audit.append(session, key, "access.granted", reason="granted", method="pin", user="U0001",
                             door="main", time=NOW - timedelta(hours=1, minutes=30 - i))
    finally:
        engine.dispose()
    return data


def verify_cli(capsys, data: Path) -> tuple[int, str]:
    rc, out, err = run(capsys, "audit", "verify", "--data", str(data))
    assert "Traceback" not in err
    return rc, out


def archive_files(data: Path) -> list[Path]:
    return [p for _f, _l, p in archive_format.list_archives(data / "archive")]


def test_archive_moves_old_prefix_and_everything_verifies(capsys, site: Path) -> None:
    rc, out, err = run(capsys, "audit", "archive", "--before", (NOW - timedelta(days=5)).date().isoformat(),
                       "--data", str(site))
    assert rc == 0, err
    assert "archived 20 events (seq 1..20, 2 masked)" in out
    files = archive_files(site)
    assert [p.name for p in files] == ["events-0000000001-0000000020.jsonl.gz"]
    with sqlite3.connect(site / "kunci.db") as conn:
        seqs = [r[0] for r in conn.execute("SELECT seq FROM events ORDER BY seq")]
        last_type = conn.execute("SELECT type, detail FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    assert seqs == list(range(21, 32))  # 10 recent + admin.events_archived
    assert last_type[0] == "admin.events_archived"
    with gzip.open(files[0], "rt") as fh:
        header = json.loads(fh.readline())
    assert header["start"] == {"seq": 0, "mac": audit.GENESIS_MAC.hex()}
    assert header["end"]["seq"] == 20 and json.loads(last_type[1])["end_mac"] == header["end"]["mac"]

    # the live log verifies from the archive's end anchor (explicitly, and by default via the archived event)
    datadir = DataDir(site)
    key = keys.load_audit_key(datadir)
    engine = open_database(datadir)
    try:
        with session_factory(engine, readonly=True)() as session, session.begin():
            assert audit_verify.verify(session, key, start=(20, header["end"]["mac"])).ok
            assert audit_verify.verify(session, key).ok
            assert not audit_verify.verify(session, key, start=(0, audit.GENESIS_MAC.hex())).ok
            full = archive_verify.verify_all(session, key, data_archive := site / "archive")
            assert full.ok and full.archived_events == 20 and full.live.checked == 11
            assert data_archive.is_dir()
    finally:
        engine.dispose()
    rc, out = verify_cli(capsys, site)
    assert rc == 0, out
    assert "archives OK: 1 files, 20 events (seq 1..20, 2 masked)" in out and "audit chain OK: 11 events" in out


def test_second_archive_chains_to_the_first_and_middle_deletion_is_detected(capsys, site: Path) -> None:
    datadir = DataDir(site)
    key = keys.load_audit_key(datadir)
    engine = open_database(datadir)
    try:
        first = archive.archive_events(engine, key, site / "archive", NOW - timedelta(days=10, minutes=50), now=NOW)
        second = archive.archive_events(engine, key, site / "archive", NOW - timedelta(days=10, minutes=45), now=NOW)
        third = archive.archive_events(engine, key, site / "archive", NOW - timedelta(days=6), now=NOW)
    finally:
        engine.dispose()
    assert (first.first_seq, first.last_seq) == (1, 10)
    assert (second.first_seq, second.last_seq) == (11, 15)
    assert (third.first_seq, third.last_seq) == (16, 20)
    assert verify_cli(capsys, site)[0] == 0
    second.path.unlink()
    rc, out = verify_cli(capsys, site)
    assert rc == 1
    assert f"BROKEN in archive {third.path.name}" in out and "does not match the end anchor" in out
    # deleting the first archive is reported too
    site_b = site
    first.path.unlink()
    rc, out = verify_cli(capsys, site_b)
    assert rc == 1 and "the first archive was deleted" in out


def test_edited_archive_line_is_reported_with_file_and_seq(capsys, site: Path) -> None:
    assert run(capsys, "audit", "archive", "--before", (NOW - timedelta(days=5)).isoformat(),
               "--data", str(site))[0] == 0
    path = archive_files(site)[0]
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    event = json.loads(lines[3])  # seq 3
    event["reason"] = "granted"
    lines[3] = json.dumps(event)
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    rc, out = verify_cli(capsys, site)
    assert rc == 1
    assert f"BROKEN in archive {path.name} at seq 3" in out


def test_edited_masked_line_is_detected(capsys, site: Path) -> None:
    assert run(capsys, "audit", "archive", "--before", (NOW - timedelta(days=5)).isoformat(),
               "--data", str(site))[0] == 0
    path = archive_files(site)[0]
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    event = json.loads(lines[6])  # seq 6, masked
    assert event["masked"] == ["detail"]
    event["user"] = "U0042"
    lines[6] = json.dumps(event)
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    rc, out = verify_cli(capsys, site)
    assert rc == 1 and "at seq 6" in out and "masked" in out


def test_deleted_live_prefix_without_archive_is_detected(capsys, site: Path) -> None:
    assert run(capsys, "audit", "archive", "--before", (NOW - timedelta(days=5)).isoformat(),
               "--data", str(site))[0] == 0
    with sqlite3.connect(site / "kunci.db") as conn:
        conn.execute("DELETE FROM events WHERE seq IN (21, 22)")
    rc, out = verify_cli(capsys, site)
    assert rc == 1 and "seqs 21..22 are missing" in out
    for path in archive_files(site):
        path.unlink()
    rc, out = verify_cli(capsys, site)
    assert rc == 1 and "no archive" in out


def test_masking_of_card_and_id_numbers(site: Path, capsys) -> None:
    assert run(capsys, "audit", "archive", "--before", (NOW - timedelta(days=5)).isoformat(),
               "--data", str(site))[0] == 0
    raw = gzip.decompress(archive_files(site)[0].read_bytes()).decode()
    assert CARD not in raw and CARD_DIGITS not in raw and "123-45-6789" not in raw
    assert "#### #### #### ####" in raw and "###-##-####" in raw
    assert archive_mask.mask_text("pin attempt 1234, time 2026-01-31T10:00:00Z") == \
        "pin attempt 1234, time 2026-01-31T10:00:00Z"
    assert archive_mask.mask_text("NIK 3201234567890001 ok") == "NIK ################ ok"
    assert archive_mask.mask_text("nino AB123456C") == "nino #########"
    assert archive_mask.mask_detail('{"n":1234567890123}') == '{"n":"#############"}'
    unchanged = '{"i":3}'
    assert archive_mask.mask_detail(unchanged) is unchanged


def test_120_hour_floor_is_respected(capsys, site: Path, tmp_path: Path) -> None:
    # a cut-off of "tomorrow" still keeps everything younger than 120 hours
    rc, out, err = run(capsys, "audit", "archive", "--before", (NOW + timedelta(days=1)).date().isoformat(),
                       "--data", str(site))
    assert rc == 0, err
    assert "moved back to now - 120 hours" in out and "archived 20 events" in out
    with sqlite3.connect(site / "kunci.db") as conn:
        assert conn.execute("SELECT count(*) FROM events WHERE type = 'access.granted'").fetchone()[0] == 10
    assert archive.cutoff_for(NOW, before=None, retention_days=1) == (NOW - archive.MIN_AGE, True)
    assert archive.cutoff_for(NOW, before=None, retention_days=0) == (None, False)
    assert archive.cutoff_for(NOW, before=None, retention_days=30) == (NOW - timedelta(days=30), False)
    engine = open_database(DataDir(site))
    try:
        with pytest.raises(InvalidInput, match="120 hours"):
            archive.archive_events(engine, keys.load_audit_key(DataDir(site)), site / "archive",
                                   NOW - timedelta(hours=119), now=NOW)
    finally:
        engine.dispose()


def test_retention_days_zero_keeps_everything(capsys, site: Path) -> None:
    rc, out, _ = run(capsys, "audit", "archive", "--data", str(site))
    assert rc == 0 and "nothing archived" in out
    assert not archive_files(site)


def test_retention_days_from_config(capsys, site: Path) -> None:
    cfg = site / "kunci.toml"
    text = cfg.read_text()
    assert "retention_days = 0" in text
    cfg.write_text(text.replace("retention_days = 0", "retention_days = 7"))
    rc, out, err = run(capsys, "audit", "archive", "--data", str(site))
    assert rc == 0, err
    assert "archived 20 events" in out


def test_refused_while_daemon_runs_and_while_a_foreign_row_is_in_the_log(capsys, site: Path) -> None:
    datadir = DataDir(site)
    lock = audit.SealerLock(datadir)
    assert lock.try_acquire()
    try:
        rc, _out, err = run(capsys, "audit", "archive", "--before", "2000-01-01", "--data", str(site))
        assert rc == 1 and "daemon is running" in err
    finally:
        lock.release()
    engine = open_database(datadir)
    try:
        with session_factory(engine)() as session, session.begin():
            # a row written outside the daemon (another process): never sealed, so nothing is archived
            audit.record(session, "admin.user_added", user="U0009", actor="web", time=NOW - timedelta(days=30))
    finally:
        engine.dispose()
    before = (site / "kunci.db").stat().st_size
    rc, _out, err = run(capsys, "audit", "archive", "--before", (NOW - timedelta(days=5)).isoformat(),
                        "--data", str(site))
    assert rc == 1 and "not sealed" in err and "nothing archived" in err
    assert not archive_files(site) and (site / "kunci.db").stat().st_size == before
    with sqlite3.connect(site / "kunci.db") as conn:
        assert conn.execute("SELECT seq FROM events WHERE user_code = 'U0009'").fetchone()[0] is None
    assert verify_cli(capsys, site)[0] == 1


def _copy_db(src: Path, dst: Path) -> None:
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    a.close()
    b.close()


def test_interrupted_archive_run_is_tolerated_and_finished(capsys, site: Path, tmp_path: Path) -> None:
    """Archive file fsynced and renamed, but the DB transaction never committed (crash in between)."""
    saved = tmp_path / "before.db"
    _copy_db(site / "kunci.db", saved)
    heads = site / "anchor" / "heads"
    saved_heads = heads.read_bytes() if heads.exists() else None  # written after the commit: never happened
    assert run(capsys, "audit", "archive", "--before", (NOW - timedelta(days=5)).isoformat(),
               "--data", str(site))[0] == 0
    _copy_db(saved, site / "kunci.db")  # the live log as if the commit had not happened
    if saved_heads is None:
        heads.unlink()
    else:
        heads.write_bytes(saved_heads)
    with sqlite3.connect(site / "kunci.db") as conn:
        assert conn.execute("SELECT min(seq), max(seq) FROM events").fetchone() == (1, 30)
    rc, out = verify_cli(capsys, site)
    assert rc == 0, out
    assert "20 archived events are still in the live log" in out
    rc, out, err = run(capsys, "audit", "archive", "--before", (NOW - timedelta(days=5)).isoformat(),
                       "--data", str(site))
    assert rc == 0, err
    assert "removed 20 events already archived" in out
    assert "no sealed events older than" in out
    assert verify_cli(capsys, site)[0] == 0
    with sqlite3.connect(site / "kunci.db") as conn:
        assert conn.execute("SELECT min(seq) FROM events").fetchone()[0] == 21
    datadir = DataDir(site)
    engine = open_database(datadir)
    try:
        with session_factory(engine, readonly=True)() as session, session.begin():
            assert audit_verify.verify(session, keys.load_audit_key(datadir)).ok  # start anchor from the recorded event
    finally:
        engine.dispose()


def test_verify_with_exported_anchor_inside_archive(capsys, site: Path) -> None:
    with sqlite3.connect(site / "kunci.db") as conn:
        mac = bytes(conn.execute("SELECT mac FROM events WHERE seq = 12").fetchone()[0]).hex()
    assert run(capsys, "audit", "archive", "--before", (NOW - timedelta(days=5)).isoformat(),
               "--data", str(site))[0] == 0
    rc, out, _ = run(capsys, "audit", "verify", "--anchor", f"12:{mac}", "--data", str(site))
    assert rc == 0, out
    rc, out, _ = run(capsys, "audit", "verify", "--anchor", f"12:{'0' * 64}", "--data", str(site))
    assert rc == 1 and "anchor" in out


def test_backup_carries_archives_and_restored_site_verifies(capsys, monkeypatch, site: Path, tmp_path: Path) -> None:
    import io
    import sys

    assert run(capsys, "audit", "archive", "--before", (NOW - timedelta(days=5)).isoformat(),
               "--data", str(site))[0] == 0
    for argv, text in (
        (("backup", "create", str(tmp_path / "b.kbk"), "--data", str(site)), "backup passphrase 1\n"),
        (("backup", "export-keys", str(tmp_path / "k.kbk"), "--data", str(site)), "key file passphrase\n"),
        (("backup", "import-keys", str(tmp_path / "k.kbk"), "--data", str(tmp_path / "new")), "key file passphrase\n"),
        (("backup", "restore", str(tmp_path / "b.kbk"), "--data", str(tmp_path / "new")), "backup passphrase 1\n"),
    ):
        monkeypatch.setattr(sys, "stdin", io.StringIO(text))
        rc, out, err = run(capsys, *argv, "--passphrase-stdin")
        assert rc == 0, err
    assert [p.name for p in archive_files(tmp_path / "new")] == [p.name for p in archive_files(site)]
    rc, out = verify_cli(capsys, tmp_path / "new")
    assert rc == 0 and "archives OK: 1 files, 20 events" in out, out


def test_a_controller_linked_to_a_site_archives_only_what_the_site_received(capsys, site: Path) -> None:
    """With [site_link] enabled, events after site_sync.uploaded_seq stay in the live log however old they
    are: the site's copy of the chain must never have a gap (docs/site.md)."""
    with sqlite3.connect(site / "kunci.db") as conn:
        conn.execute("INSERT OR REPLACE INTO site_sync (id, revision, uploaded_seq) VALUES (1, 0, 12)")
    config = site / "kunci.toml"
    config.write_text(replace_section(config.read_text(), '[site_link]\nenabled = true\ncontroller = "alpha"\n'
                                      'host = "127.0.0.1"\nuser = "kunci_ctl_alpha"\nsslmode = "disable"\n'))
    before = (NOW - timedelta(days=5)).date().isoformat()
    rc, out, err = run(capsys, "audit", "archive", "--before", before, "--data", str(site))
    assert rc == 0, err
    assert "archived 12 events (seq 1..12" in out
    with sqlite3.connect(site / "kunci.db") as conn:
        assert conn.execute("SELECT min(seq) FROM events").fetchone()[0] == 13  # 13..20 are old, not yet uploaded
