"""``kunci init``, ``kunci db upgrade``, ``kunci audit verify|head`` through the real CLI entry point."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from controller.store.audit import SealerLock, append, record
from controller.cli import main
from controller.store.db import head_revision, make_engine, session_factory
from controller.store.keys import load_audit_key, load_pepper
from controller.paths import DataDir


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def site(tmp_path: Path, capsys) -> DataDir:
    dd = DataDir(tmp_path / "site")
    assert _run(capsys, "init", "--data", str(dd.root))[0] == 0
    return dd


def test_init_creates_everything_with_safe_permissions(tmp_path: Path, capsys) -> None:
    dd = DataDir(tmp_path / "new")
    code, out, _ = _run(capsys, "init", "--data", str(dd.root))
    assert code == 0
    for path in (dd.root, dd.secrets_dir, dd.pepper_file, dd.audit_key_file, dd.run_dir, dd.config_file):
        assert f"created {path}" in out
    assert f"database: created (revision {head_revision()})" in out
    assert dd.root.stat().st_mode & 0o777 == 0o750
    assert dd.secrets_dir.stat().st_mode & 0o777 == 0o700
    assert dd.db_file.stat().st_mode & 0o777 == 0o640
    assert len(load_pepper(dd)) == len(load_audit_key(dd)) == 32
    con = sqlite3.connect(dd.db_file)
    assert con.execute("SELECT name, mode FROM doors").fetchall() == [("main", "pin_or_finger")]
    con.close()


def test_init_is_idempotent_and_keeps_secrets_and_config(site: DataDir, capsys) -> None:
    pepper, key = site.pepper_file.read_bytes(), site.audit_key_file.read_bytes()
    site.config_file.write_text('[site]\nname = "Vault"\n')
    code, out, _ = _run(capsys, "init", "--data", str(site.root))
    assert code == 0
    assert "created" not in out
    assert f"database: up to date (revision {head_revision()})" in out
    assert site.pepper_file.read_bytes() == pepper and site.audit_key_file.read_bytes() == key
    assert site.config_file.read_text() == '[site]\nname = "Vault"\n'


def test_init_uses_the_environment_variable(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("KUNCI_DATA", str(tmp_path / "env-site"))
    assert _run(capsys, "init")[0] == 0
    assert (tmp_path / "env-site" / "kunci.db").exists()


def test_init_refuses_a_non_database_file_and_leaves_it(tmp_path: Path, capsys) -> None:
    dd = DataDir(tmp_path / "site")
    dd.root.mkdir()
    dd.db_file.write_text("my thesis, not a database\n")
    code, _, err = _run(capsys, "init", "--data", str(dd.root))
    assert code == 1
    assert "not a SQLite database" in err and "Traceback" not in err
    assert dd.db_file.read_text() == "my thesis, not a database\n"


def test_init_reports_bad_config(site: DataDir, capsys) -> None:
    site.config_file.write_text("[store]\nbusy_timeout_ms = 'soon'\n")
    code, _, err = _run(capsys, "init", "--data", str(site.root))
    assert code == 2 and "busy_timeout_ms" in err


def test_db_upgrade(site: DataDir, capsys, tmp_path: Path) -> None:
    code, out, _ = _run(capsys, "db", "upgrade", "--data", str(site.root))
    assert code == 0 and f"up to date (revision {head_revision()})" in out
    code, _, err = _run(capsys, "db", "upgrade", "--data", str(tmp_path / "nowhere"))
    assert code == 1 and "kunci init" in err


def _events(dd: DataDir, sealed: int, unsealed: int) -> None:
    engine = make_engine(dd.default_db_url)
    key = load_audit_key(dd)
    with session_factory(engine)() as s, s.begin():
        for i in range(sealed):
            append(s, key, "access.granted", method="pin", user=f"U{i + 1:04d}", door="main")
        for _ in range(unsealed):
            record(s, "admin.login", actor="alice")
    engine.dispose()


def test_audit_verify_ok_and_head_matches(site: DataDir, capsys) -> None:
    _events(site, 7, 0)
    code, out, _ = _run(capsys, "audit", "verify", "--data", str(site.root))
    assert code == 0
    assert "audit chain OK: 7 events, head seq=7 mac=" in out
    mac = out.split("mac=")[1].split()[0]
    code, out, _ = _run(capsys, "audit", "head", "--data", str(site.root))
    assert code == 0 and out.strip() == f"head seq=7 mac={mac}"
    code, out, _ = _run(capsys, "audit", "verify", "--data", str(site.root), "--anchor", f"7:{mac}")
    assert code == 0
    anchor_file = site.root / "kept-off-device.txt"
    anchor_file.write_text(f"7:{mac}\n")
    code, out, _ = _run(capsys, "audit", "verify", "--data", str(site.root), "--anchor-from", str(anchor_file))
    assert code == 0
    anchor_file.write_text(f"# kunci events export; anchor seq=8 mac={mac}; exported_at=2026-01-01T00:00:00Z\n")
    code, out, _ = _run(capsys, "audit", "verify", "--data", str(site.root), "--anchor-from", str(anchor_file))
    assert code == 1 and "truncated" in out


def test_audit_verify_never_seals_and_names_unsealed_rows(site: DataDir, capsys) -> None:
    _events(site, 5, 2)
    before = sqlite3.connect(site.db_file).execute("SELECT count(*) FROM events WHERE seq IS NULL").fetchone()
    code, out, _ = _run(capsys, "audit", "verify", "--data", str(site.root))
    assert code == 1
    assert "sealed 2" not in out
    assert "ERROR: event id 6 (admin.login" in out and "ERROR: event id 7 (admin.login" in out
    assert "not sealed" in out and "BROKEN" in out
    after = sqlite3.connect(site.db_file).execute("SELECT count(*) FROM events WHERE seq IS NULL").fetchone()
    assert before == after == (2,)  # verification wrote nothing


def test_audit_verify_on_empty_log(site: DataDir, capsys) -> None:
    code, out, _ = _run(capsys, "audit", "verify", "--data", str(site.root))
    assert code == 0 and f"audit chain OK: 0 events, head seq=0 mac={'0' * 64}" in out


def test_audit_verify_reports_unsealed_rows_while_the_daemon_holds_the_lock(site: DataDir, capsys) -> None:
    _events(site, 3, 2)
    with SealerLock(site):
        code, out, _ = _run(capsys, "audit", "verify", "--data", str(site.root))
    assert code == 1
    assert "2 unsealed events" in out


def test_audit_verify_reports_a_row_inserted_with_a_seq(site: DataDir, capsys) -> None:
    _events(site, 4, 0)
    con = sqlite3.connect(site.db_file)
    con.execute("INSERT INTO events (seq, mac, time, type, actor) VALUES (5, zeroblob(32), "
                "'2026-01-01T00:00:00.000000Z', 'admin.user_resumed', 'auditor')")
    con.commit()
    con.close()
    code, out, _ = _run(capsys, "audit", "verify", "--data", str(site.root))
    assert code == 1 and "BROKEN at seq 5" in out and "admin.user_resumed" in out


def test_audit_verify_reports_a_tampered_row(site: DataDir, capsys) -> None:
    _events(site, 6, 0)
    con = sqlite3.connect(site.db_file)
    con.execute("UPDATE events SET user_code = 'U0999' WHERE seq = 4")
    con.commit()
    con.close()
    code, out, _ = _run(capsys, "audit", "verify", "--data", str(site.root))
    assert code == 1
    assert out.startswith("audit chain BROKEN at seq 4: ")


def test_audit_verify_with_anchor_detects_truncation(site: DataDir, capsys) -> None:
    _events(site, 6, 0)
    _, out, _ = _run(capsys, "audit", "head", "--data", str(site.root))
    anchor = out.strip().replace("head ", "")  # "seq=6 mac=HEX" is accepted as is
    con = sqlite3.connect(site.db_file)
    con.execute("DELETE FROM events WHERE seq >= 5")
    con.commit()
    con.close()
    assert _run(capsys, "audit", "verify", "--data", str(site.root))[0] == 0
    code, out, _ = _run(capsys, "audit", "verify", "--data", str(site.root), "--anchor", anchor)
    assert code == 1 and "BROKEN at seq 5" in out and "truncated" in out


@pytest.mark.parametrize("anchor", ["12", "x:" + "0" * 64, "3:abc", "3:" + "zz" * 32])
def test_audit_verify_rejects_malformed_anchor(site: DataDir, capsys, anchor: str) -> None:
    code, _, err = _run(capsys, "audit", "verify", "--data", str(site.root), "--anchor", anchor)
    assert code == 2 and "--anchor" in err


def test_audit_verify_refuses_unsafe_key(site: DataDir, capsys) -> None:
    site.audit_key_file.chmod(0o644)
    code, _, err = _run(capsys, "audit", "verify", "--data", str(site.root))
    assert code == 1 and f"chmod 600 {site.audit_key_file}" in err


@pytest.mark.parametrize("loss", ["deleted", "zero-length"])
def test_init_refuses_to_recreate_a_lost_database_unless_asked(site: DataDir, capsys, loss: str) -> None:
    site.db_file.unlink()
    if loss == "zero-length":
        site.db_file.write_bytes(b"")
    code, out, err = _run(capsys, "init", "--data", str(site.root))
    assert code == 1 and "Restore the newest backup" in err and "docs/backup.md" in err
    assert "created" not in out.replace(f"created {site.root}", "")
    code, _, err = _run(capsys, "db", "upgrade", "--data", str(site.root))
    assert code == 1 and "initialised data directory" in err
    code, _, err = _run(capsys, "audit", "verify", "--data", str(site.root))
    assert code == 1 and "initialised data directory" in err
    site.anchor_dir.mkdir()
    site.anchor_file.write_text(f"seq=3 mac={'ab' * 32} time=2026-01-01T00:00:00.000000Z\n")
    code, out, _ = _run(capsys, "init", "--new-database", "--data", str(site.root))
    assert code == 0 and "NEW, EMPTY database" in out
    assert not site.anchor_file.exists() and (site.anchor_dir / "heads.before-new-database").exists()
    assert _run(capsys, "audit", "verify", "--data", str(site.root))[0] == 0
