"""Encrypted backups end to end on real data directories (issue 6 part 2; docs/backup.md)."""

from __future__ import annotations

import hashlib
import io
import re
import sqlite3
import sys
from pathlib import Path

import pytest

from controller.store import audit, audit_verify, keys, pins
from controller.store.audit import SealerLock
from controller.ops.backup_format import BackupError, parse_header
from controller.ops.restore import restore_backup
from controller.cli import main
from controller.store.db import open_database, session_factory
from controller.store.models import FingerCredential, User
from controller.paths import DataDir
from drivers.sim_sensor import template_for

PASS = "correct horse battery staple"
KEY_PASS = "a different long passphrase"
NAME = "Zelda Q. Recordkeeper"
PIN_LINE = re.compile(r"^(U\d{4,})  PIN (\d{6})  ")


def run(capsys, monkeypatch, *argv: str, stdin: str | None = None) -> tuple[int, str, str]:
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("kunci: error: ") and "Traceback" not in err, err
    return lines[0]


def tree_hashes(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root`` (what 'nothing changed' means)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def site(tmp_path: Path, capsys, monkeypatch):
    """An initialised DATA with two people (PINs known), a finger mapping and simulated flash."""
    data = tmp_path / "site"
    assert run(capsys, monkeypatch, "init", "--data", str(data))[0] == 0
    people = {}
    for name in (NAME, "B. Second"):
        rc, out, err = run(capsys, monkeypatch, "user", "add", "--name", name, "--agreement-signed", "today",
                           "--data", str(data))
        assert rc == 0, err
        m = PIN_LINE.match(out.strip())
        people[m.group(1)] = m.group(2)
    datadir = DataDir(data)
    engine = open_database(datadir)
    try:
        with session_factory(engine)() as session, session.begin():
            user = session.query(User).filter_by(code="U0001").one()
            session.add(FingerCredential(user_id=user.id, slot=7, state="active"))
            audit.seal_pending(session, keys.load_audit_key(datadir))
    finally:
        engine.dispose()
    flash = data / "sim" / "sensor"
    flash.mkdir(parents=True)
    (flash / "slot-0007.tpl").write_bytes(template_for("alice-right-index"))
    return data, people


def make_backup(capsys, monkeypatch, data: Path, dest: Path) -> Path:
    rc, out, err = run(capsys, monkeypatch, "backup", "create", str(dest), "--passphrase-stdin", "--data", str(data),
                       stdin=PASS + "\n")
    assert rc == 0, err
    assert "backup written" in out and PASS not in out + err
    return dest


def export_keyfile(capsys, monkeypatch, data: Path, dest: Path) -> Path:
    rc, _out, err = run(capsys, monkeypatch, "backup", "export-keys", str(dest), "--passphrase-stdin",
                        "--data", str(data), stdin=KEY_PASS + "\n")
    assert rc == 0, err
    return dest


def test_restore_onto_fresh_data_dir(tmp_path, capsys, monkeypatch, site) -> None:
    data, people = site
    backup = make_backup(capsys, monkeypatch, data, tmp_path / "site.kbk")
    keyfile = export_keyfile(capsys, monkeypatch, data, tmp_path / "site.keys")
    fresh = tmp_path / "fresh"
    rc, out, err = run(capsys, monkeypatch, "backup", "import-keys", str(keyfile), "--passphrase-stdin",
                       "--data", str(fresh), stdin=KEY_PASS + "\n")
    assert rc == 0, err
    rc, out, err = run(capsys, monkeypatch, "backup", "restore", str(backup), "--passphrase-stdin",
                       "--data", str(fresh), stdin=PASS + "\n")
    assert rc == 0, err
    assert "audit chain OK" in out and NAME not in out
    assert (fresh / "sim" / "sensor" / "slot-0007.tpl").read_bytes() == template_for("alice-right-index")
    assert (fresh / "kunci.toml").read_bytes() == (data / "kunci.toml").read_bytes()
    datadir = DataDir(fresh)
    engine = open_database(datadir)
    try:
        with session_factory(engine, readonly=True)() as session, session.begin():
            pepper = keys.load_pepper(datadir)
            for code, pin in people.items():
                user = pins.find_user_by_pin(session, pepper, pin)
                assert user is not None and user.code == code
            finger = session.query(FingerCredential).filter_by(slot=7).one()
            assert finger.user.code == "U0001" and finger.state == "active"
            types = [e.type for e in session.query(audit.Event).order_by(audit.Event.seq)]
            assert types.count("admin.user_added") == 2 and types[-1] == "admin.backup_restored"
            assert audit_verify.verify(session, keys.load_audit_key(datadir)).ok
    finally:
        engine.dispose()
    # the fresh directory still completes with kunci init afterwards (idempotent)
    assert run(capsys, monkeypatch, "init", "--data", str(fresh))[0] == 0
    assert run(capsys, monkeypatch, "audit", "verify", "--data", str(fresh))[0] == 0


def test_backup_created_event_is_recorded(tmp_path, capsys, monkeypatch, site) -> None:
    data, _ = site
    make_backup(capsys, monkeypatch, data, tmp_path / "b.kbk")
    with sqlite3.connect(data / "kunci.db") as conn:
        assert conn.execute("SELECT count(*) FROM events WHERE type = 'admin.backup_created'").fetchone()[0] == 1


def test_restore_without_keys_warns_fail_closed(tmp_path, capsys, monkeypatch, site) -> None:
    data, people = site
    backup = make_backup(capsys, monkeypatch, data, tmp_path / "b.kbk")
    fresh = tmp_path / "nokeys"
    rc, out, err = run(capsys, monkeypatch, "backup", "restore", str(backup), "--passphrase-stdin",
                       "--data", str(fresh), stdin=PASS + "\n")
    assert rc == 0, err
    assert "PIN is refused (fail closed)" in out and "import-keys" in out
    assert "audit chain OK" not in out
    # a new site's pepper (kunci init) is not the backup's: PINs fail closed, and we say so
    assert run(capsys, monkeypatch, "init", "--data", str(fresh))[0] == 0
    datadir = DataDir(fresh)
    engine = open_database(datadir)
    try:
        with session_factory(engine, readonly=True)() as session, session.begin():
            for pin in people.values():
                assert pins.find_user_by_pin(session, keys.load_pepper(datadir), pin) is None
    finally:
        engine.dispose()


@pytest.mark.parametrize("passphrase", ["wrong passphrase here", PASS + "x"])
def test_wrong_passphrase_changes_nothing(tmp_path, capsys, monkeypatch, site, passphrase) -> None:
    data, _ = site
    backup = make_backup(capsys, monkeypatch, data, tmp_path / "b.kbk")
    before = tree_hashes(data)
    rc, out, err = run(capsys, monkeypatch, "backup", "restore", str(backup), "--passphrase-stdin", "--force",
                       "--data", str(data), stdin=passphrase + "\n")
    assert rc == 1
    line = one_error_line(err)
    assert "wrong passphrase" in line and passphrase not in line
    assert tree_hashes(data) == before


def _flip(blob: bytes, where: str) -> bytes:
    header = parse_header(blob)
    positions = {
        "magic": 0,
        "header": len(header.aad) - 5,
        "kdf_salt": blob.index(b'"salt":"') + 10,
        "ciphertext_middle": len(header.aad) + header.length // 2,
        "tag": len(blob) - 3,
    }
    pos = positions[where]
    return blob[:pos] + bytes([blob[pos] ^ 0x01]) + blob[pos + 1 :]


@pytest.mark.parametrize("where", ["magic", "header", "kdf_salt", "ciphertext_middle", "tag"])
def test_one_flipped_byte_is_refused(tmp_path, capsys, monkeypatch, site, where) -> None:
    data, _ = site
    backup = make_backup(capsys, monkeypatch, data, tmp_path / "b.kbk")
    backup.write_bytes(_flip(backup.read_bytes(), where))
    before = tree_hashes(data)
    rc, _out, err = run(capsys, monkeypatch, "backup", "restore", str(backup), "--passphrase-stdin", "--force",
                        "--data", str(data), stdin=PASS + "\n")
    assert rc == 1
    one_error_line(err)
    assert tree_hashes(data) == before


@pytest.mark.parametrize("keep", [0, 5, 20, -1, -17])
def test_truncated_file_is_refused(tmp_path, capsys, monkeypatch, site, keep) -> None:
    data, _ = site
    backup = make_backup(capsys, monkeypatch, data, tmp_path / "b.kbk")
    blob = backup.read_bytes()
    backup.write_bytes(blob[:keep] if keep >= 0 else blob[:keep])
    before = tree_hashes(data)
    rc, _out, err = run(capsys, monkeypatch, "backup", "restore", str(backup), "--passphrase-stdin", "--force",
                        "--data", str(data), stdin=PASS + "\n")
    assert rc == 1
    line = one_error_line(err)
    assert "truncated" in line or "not a Kunci backup" in line
    assert tree_hashes(data) == before


def test_wrong_version_and_foreign_file_are_refused(tmp_path, capsys, monkeypatch, site) -> None:
    data, _ = site
    backup = make_backup(capsys, monkeypatch, data, tmp_path / "b.kbk")
    blob = bytearray(backup.read_bytes())
    blob[12] = 9
    backup.write_bytes(bytes(blob))
    rc, _out, err = run(capsys, monkeypatch, "backup", "restore", str(backup), "--passphrase-stdin",
                        "--data", str(data), stdin=PASS + "\n")
    assert rc == 1 and "format version 9" in one_error_line(err)
    foreign = tmp_path / "notes.txt"
    foreign.write_text("hello")
    rc, _out, err = run(capsys, monkeypatch, "backup", "restore", str(foreign), "--passphrase-stdin",
                        "--data", str(data), stdin=PASS + "\n")
    assert rc == 1 and "not a Kunci backup" in one_error_line(err)


def test_key_file_is_not_a_backup_and_needs_its_own_passphrase(tmp_path, capsys, monkeypatch, site) -> None:
    data, _ = site
    keyfile = export_keyfile(capsys, monkeypatch, data, tmp_path / "k.keys")
    rc, _out, err = run(capsys, monkeypatch, "backup", "restore", str(keyfile), "--passphrase-stdin",
                        "--data", str(data), stdin=KEY_PASS + "\n")
    assert rc == 1 and "key file" in one_error_line(err)
    rc, _out, err = run(capsys, monkeypatch, "backup", "import-keys", str(keyfile), "--passphrase-stdin",
                        "--data", str(tmp_path / "x"), stdin=PASS + "\n")
    assert rc == 1 and "wrong passphrase" in one_error_line(err)
    assert not (tmp_path / "x").exists()
    # keys that differ from those in place are not replaced without --force
    other = tmp_path / "other"
    assert run(capsys, monkeypatch, "init", "--data", str(other))[0] == 0
    rc, _out, err = run(capsys, monkeypatch, "backup", "import-keys", str(keyfile), "--passphrase-stdin",
                        "--data", str(other), stdin=KEY_PASS + "\n")
    assert rc == 1 and "--force" in one_error_line(err)
    rc, _out, err = run(capsys, monkeypatch, "backup", "import-keys", str(keyfile), "--passphrase-stdin", "--force",
                        "--data", str(other), stdin=KEY_PASS + "\n")
    assert rc == 0, err
    assert keys.load_pepper(DataDir(other)) == keys.load_pepper(DataDir(data))
    assert list((other / "secrets").glob("pepper.before-import-*"))


def test_short_or_missing_passphrase_is_refused(tmp_path, capsys, monkeypatch, site) -> None:
    data, _ = site
    for text in ("\n", "short1234\n", ""):
        rc, _out, err = run(capsys, monkeypatch, "backup", "create", str(tmp_path / "b.kbk"), "--passphrase-stdin",
                            "--data", str(data), stdin=text)
        assert rc == 1, err
        one_error_line(err)
    assert not (tmp_path / "b.kbk").exists()


GUESSABLE = ["password1234", "Password2026!", "qwertyuiopasdf", "123456789012", "aaaaaaaaaaaaaaaa", "abcabcabcabc"]


@pytest.mark.parametrize("passphrase", GUESSABLE)
@pytest.mark.parametrize("action", ["create", "export-keys"])
def test_guessable_passphrase_is_refused_with_the_reason_and_writes_nothing(
    tmp_path, capsys, monkeypatch, site, action: str, passphrase: str
) -> None:
    data, _ = site
    before = tree_hashes(data)
    dest = tmp_path / "new.kbk"
    rc, _out, err = run(capsys, monkeypatch, "backup", action, str(dest), "--passphrase-stdin", "--data", str(data),
                        stdin=passphrase + "\n")
    line = one_error_line(err)
    assert rc == 1 and "the passphrase is too easy to guess: " in line
    assert re.search(r"common|[Rr]epeats|pattern|words", line)  # says why (zxcvbn's warning)
    assert passphrase not in line
    assert not dest.exists() and tree_hashes(data) == before


def test_an_old_file_with_a_guessable_passphrase_can_still_be_opened(tmp_path, capsys, monkeypatch, site) -> None:
    """The strength rule applies to new files; a backup made before it must stay restorable."""
    from controller.ops import backup, backup_format, backup_payload

    data, _ = site
    dest = tmp_path / "old.kbk"
    monkeypatch.setattr(backup, "check_new_passphrase", backup_format.check_passphrase)  # as before the rule
    backup.create_backup(DataDir(data), dest, "password1234")
    monkeypatch.undo()
    plaintext = backup_format.open_sealed(dest.read_bytes(), "password1234", backup_format.CONTENT_DATA)
    assert backup_payload.unpack(plaintext, tmp_path / "db.tmp", dest.name).manifest["counts"]["users"] == 2
    with pytest.raises(BackupError, match="too easy to guess"):
        backup.create_backup(DataDir(data), tmp_path / "again.kbk", "password1234")


def test_existing_backup_file_is_never_overwritten(tmp_path, capsys, monkeypatch, site) -> None:
    data, _ = site
    dest = tmp_path / "b.kbk"
    dest.write_bytes(b"precious")
    rc, _out, err = run(capsys, monkeypatch, "backup", "create", str(dest), "--passphrase-stdin",
                        "--data", str(data), stdin=PASS + "\n")
    assert rc == 1 and "already exists" in one_error_line(err)
    assert dest.read_bytes() == b"precious"


@pytest.mark.parametrize("kdf", ["scrypt", "argon2id"])
def test_no_name_digest_or_template_in_clear(tmp_path, capsys, monkeypatch, site, kdf) -> None:
    data, people = site
    dest = tmp_path / f"b-{kdf}.kbk"
    rc, _out, err = run(capsys, monkeypatch, "backup", "create", str(dest), "--kdf", kdf, "--passphrase-stdin",
                        "--data", str(data), stdin=PASS + "\n")
    assert rc == 0, err
    raw = dest.read_bytes()
    assert parse_header(raw).kdf["name"] == kdf
    with sqlite3.connect(data / "kunci.db") as conn:
        digests = [bytes(r[0]) for r in conn.execute("SELECT digest FROM pin_credentials")]
    assert len(digests) == 2
    needles = [NAME.encode(), NAME.encode("utf-16-le"), b"Zelda", template_for("alice-right-index"),
               template_for("alice-right-index")[:32], b"SQLite format 3", PASS.encode()]
    for digest in digests:
        needles += [digest, digest.hex().encode(), digest.hex().upper().encode()]
    for pin in people.values():
        needles.append(f'"{pin}"'.encode())
    for needle in needles:
        assert needle not in raw
    assert keys.load_pepper(DataDir(data)) not in raw and keys.load_audit_key(DataDir(data)) not in raw


def test_restore_older_backup_lists_and_reapplies_later_revocations(tmp_path, capsys, monkeypatch, site) -> None:
    data, people = site
    backup = make_backup(capsys, monkeypatch, data, tmp_path / "old.kbk")
    assert run(capsys, monkeypatch, "user", "revoke", "U0001", "--data", str(data))[0] == 0
    assert run(capsys, monkeypatch, "user", "suspend", "U0002", "--data", str(data))[0] == 0
    rc, out, err = run(capsys, monkeypatch, "user", "reset-pin", "U0002", "--data", str(data))
    assert rc == 0, err
    new_pin = PIN_LINE.match(out.strip()).group(2)

    # an existing site database is only replaced with --force
    rc, _out, err = run(capsys, monkeypatch, "backup", "restore", str(backup), "--passphrase-stdin",
                        "--data", str(data), stdin=PASS + "\n")
    assert rc == 1 and "--force" in one_error_line(err)

    rc, out, err = run(capsys, monkeypatch, "backup", "restore", str(backup), "--passphrase-stdin", "--force",
                       "--data", str(data), stdin=PASS + "\n")
    assert rc == 0, err
    assert "changes made after the backup (re-applied)" in out
    assert re.search(r"U0001\s+revoked", out) and re.search(r"U0002\s+suspended", out)
    assert re.search(r"U0002\s+pin_reset", out)
    assert NAME not in out and "B. Second" not in out
    assert list(data.glob("kunci.db.before-restore-*"))
    datadir = DataDir(data)
    engine = open_database(datadir)
    try:
        with session_factory(engine, readonly=True)() as session, session.begin():
            pepper = keys.load_pepper(datadir)
            status = {u.code: u.status for u in session.query(User)}
            assert status == {"U0001": "revoked", "U0002": "suspended"}
            # the old PIN of U0002 (reset after the backup) no longer matches anyone; the new one does
            assert pins.find_user_by_pin(session, pepper, people["U0002"]) is None
            assert pins.find_user_by_pin(session, pepper, new_pin).code == "U0002"
            reapplied = session.query(audit.Event).filter_by(type="admin.restore_reapplied").all()
            assert {(e.user_code) for e in reapplied} == {"U0001", "U0002"}
            assert audit_verify.verify(session, keys.load_audit_key(datadir)).ok
    finally:
        engine.dispose()


def test_no_reapply_only_lists(tmp_path, capsys, monkeypatch, site) -> None:
    data, _ = site
    backup = make_backup(capsys, monkeypatch, data, tmp_path / "old.kbk")
    assert run(capsys, monkeypatch, "user", "revoke", "U0001", "--data", str(data))[0] == 0
    rc, out, err = run(capsys, monkeypatch, "backup", "restore", str(backup), "--passphrase-stdin", "--force",
                       "--no-reapply", "--data", str(data), stdin=PASS + "\n")
    assert rc == 0, err
    assert "NOT re-applied" in out and re.search(r"U0001\s+revoked", out)


def test_restore_refused_while_daemon_holds_the_sealer_lock(tmp_path, capsys, monkeypatch, site) -> None:
    data, _ = site
    backup = make_backup(capsys, monkeypatch, data, tmp_path / "b.kbk")
    before = tree_hashes(data)
    lock = SealerLock(DataDir(data))
    assert lock.try_acquire()
    try:
        rc, _out, err = run(capsys, monkeypatch, "backup", "restore", str(backup), "--passphrase-stdin", "--force",
                            "--data", str(data), stdin=PASS + "\n")
        assert rc == 1 and "daemon is running" in one_error_line(err)
        with pytest.raises(BackupError, match="daemon is running"):
            restore_backup(DataDir(data), backup, PASS, force=True)
    finally:
        lock.release()
    after = tree_hashes(data)
    after.pop("run/daemon.lock", None)
    before.pop("run/daemon.lock", None)
    assert after == before


def test_backup_while_a_writer_is_active_is_consistent(tmp_path, site) -> None:
    """The snapshot is one read transaction: taken between two commits of another connection."""
    from controller.ops.backup import snapshot_database

    data, _ = site
    writer = sqlite3.connect(data / "kunci.db")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO events (time, type) VALUES ('2026-01-01T00:00:00.000000Z', 'test.uncommitted')")
    image = snapshot_database(data / "kunci.db")
    writer.rollback()
    writer.close()
    conn = sqlite3.connect(":memory:")
    conn.deserialize(image)
    assert conn.execute("SELECT count(*) FROM events WHERE type = 'test.uncommitted'").fetchone()[0] == 0
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _seal_with_anchor(datadir: DataDir, n: int) -> None:
    """``n`` events sealed and committed the daemon's way: each commit appends its head to the anchor file."""
    from controller.store.anchor import AnchorWriter

    engine = open_database(datadir)
    writer = AnchorWriter(datadir)
    try:
        with session_factory(engine)() as session:
            writer.attach(session)
            for _ in range(n):
                audit.append(session, keys.load_audit_key(datadir), "door.opened", door="main")
                session.commit()
    finally:
        writer.close()
        engine.dispose()


def test_the_anchor_file_is_backed_up_and_restored_with_the_database(tmp_path, capsys, monkeypatch, site) -> None:
    from controller.store import anchor

    data, _ = site
    datadir = DataDir(data)
    _seal_with_anchor(datadir, 3)
    kept = anchor.newest(datadir)
    backup = make_backup(capsys, monkeypatch, data, tmp_path / "anchored.kbk")
    _seal_with_anchor(datadir, 4)  # events after the backup: the anchor moves on
    newer = anchor.newest(datadir)
    assert newer.seq > kept.seq
    rc, out, err = run(capsys, monkeypatch, "backup", "restore", str(backup), "--passphrase-stdin", "--force",
                       "--data", str(data), stdin=PASS + "\n")
    assert rc == 0, err
    heads = anchor.read_heads(datadir.anchor_file)
    assert (kept.seq, kept.mac) in [(h.seq, h.mac) for h in heads]  # the backup's own heads came back
    old = list(datadir.anchor_dir.glob("heads.before-restore-*"))
    assert len(old) == 1 and anchor.read_heads(old[0])[-1].seq == newer.seq  # the replaced file is kept
    rc, out, err = run(capsys, monkeypatch, "audit", "verify", "--data", str(data))
    assert rc == 0, out + err
    assert f"anchor file: newest head seq={heads[-1].seq}" in out
