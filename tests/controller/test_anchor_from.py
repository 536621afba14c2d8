"""``kunci audit verify --anchor-from FILE`` (issue 14 item 5): heads published off the device, collected by an
auditor in any of the formats the destinations deliver, prove that the log was neither truncated nor
rewritten after them. The parser (every format, skipped and bad lines) and the check on real SQLite files."""

from __future__ import annotations

import io
import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from controller.alerts.message import Message
from controller.cli import main
from controller.errors import InvalidInput
from controller.paths import DataDir
from controller.store import anchor, audit, chain_heads, keys
from controller.store.audit_verify import SessionReader
from controller.store.chain_check import SqliteReader
from controller.store.chain_heads import check_heads, parse_collected
from controller.store.db import open_database, session_factory
from tests.controller.test_chain_check import KEY, _fill, _sql, site  # noqa: F401  (site is a fixture)

MAC = "ab" * 32
MESSAGE = json.dumps(Message(id=7, kind="alarm", type="door.forced", time="2026-12-01T22:10:00Z", door="main",
                             seq=5, head=(5, MAC), body={"alarm": "door_forced"}).as_dict())


def _heads(text: str) -> list[tuple[int, str]]:
    return [(h.seq, h.mac) for h in parse_collected(text, "heads.txt").heads]


@pytest.mark.parametrize("line", [
    MESSAGE,                                                    # a webhook body
    f"kunci/main/alarm {MESSAGE}",                              # mosquitto_sub -v
    f'kunci/main/head {{"seq": 5, "mac": "{MAC}"}}',
    f'{{"seq": 5, "mac": "{MAC.upper()}"}}',
    chain_heads.MAIL_HEAD_LINE.format(seq=5, mac=MAC),          # the alarm e-mail's line
    f"log head: seq 5, mac {MAC}",                              # as the e-mail sink words it today
    f"seq=5 mac={MAC} time=2026-12-01T22:10:00.123456Z",        # a copy of DATA/anchor/heads
    f"head seq=5 mac={MAC}",                                    # kunci audit head
    f"5:{MAC}",
])
def test_every_published_format_gives_the_head(line: str) -> None:
    assert _heads(f"# collected by the auditor\n\n  {line}  \n") == [(5, MAC)]


def test_exports_give_their_anchor_and_nothing_else() -> None:
    csv_export = f'"# kunci events export; anchor seq=5 mac={MAC}; exported_at=2026-01-01T00:00:00Z"\nseq,time\n1,x\n'
    json_export = json.dumps({"anchor": {"seq": 5, "mac": MAC}, "columns": ["seq"]}) + '\n{"seq": 1, "time": "x"}\n'
    assert _heads(csv_export) == _heads(json_export) == [(5, MAC)]


def test_messages_without_a_head_are_skipped_and_counted() -> None:
    state = json.dumps(Message(id=1, kind="state", type="door.state", time="t", door="main").as_dict())
    text = "\n".join([
        "# heads of December",
        f"kunci/main/head {MESSAGE}",
        "kunci/main/availability offline",                      # the last will
        "homeassistant/binary_sensor/kunci-main/lock/config",   # an empty retained message
        f"kunci/main/state {state}",                            # retained state, "head": null
        '{"door": "main", "locked": true}',
        "",
        chain_heads.MAIL_HEAD_LINE.format(seq=9, mac="cd" * 32),
    ])
    collected = parse_collected(text, "heads.txt")
    assert [(h.seq, h.line) for h in collected.heads] == [(5, 2), (9, 8)]
    assert collected.skipped == 4


@pytest.mark.parametrize(("line", "words"), [
    ("hello auditor", "holds no anchor head"),
    ("Log head: seq=5 mac=zz", "64 hexadecimal characters"),
    (f"Log head: seq=-5 mac={MAC}", "must not be negative"),
    (f'{{"head": {{"seq": -1, "mac": "{MAC}"}}}}', "must not be negative"),
    (f'{{"head": {{"seq": 5, "mac": "{MAC[:-2]}"}}}}', "64 hexadecimal characters"),
    ('{"seq": 5}', "a seq without its mac"),
    (f'{{"seq": 5, "mac": "{MAC}"', "not valid JSON"),
    ("kunci/main/head not-json", "holds no anchor head"),
    ("[5]", "holds no anchor head"),
    ("seq=99 mac=zz partial", "holds no anchor head"),          # a torn anchor-file line
])
def test_a_bad_line_is_an_error_naming_file_and_line(line: str, words: str) -> None:
    with pytest.raises(InvalidInput, match=words) as raised:
        parse_collected(f"{MESSAGE}\n# fine so far\n{line}\n{MESSAGE}\n", "heads.txt")
    assert "heads.txt line 3" in str(raised.value)


def test_a_file_without_heads_is_an_error() -> None:
    with pytest.raises(InvalidInput, match="holds no anchor head"):
        parse_collected("# nothing yet\n\n", "heads.txt")


# --- The check on a real database ----------------------------------------------------------------------


def _stored(db: Path, seq: int) -> str:
    with sqlite3.connect(db) as conn:
        mac = bytes(conn.execute("SELECT mac FROM events WHERE seq = ?", (seq,)).fetchone()[0]).hex()
    conn.close()
    return mac


def _check(engine: object, db: Path, text: str) -> chain_heads.HeadsCheck:
    """The sqlite3 path and the session path agree; one result returned."""
    heads = parse_collected(text, "heads.txt").heads
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        fast = check_heads(SqliteReader(conn), heads)
    finally:
        conn.close()
    with session_factory(engine, readonly=True)() as session, session.begin():  # type: ignore[arg-type]
        assert check_heads(SessionReader(session), heads) == fast
    return fast


def test_heads_held_by_the_log_are_ok(site) -> None:  # noqa: F811
    datadir, engine = site
    _fill(engine, KEY)
    text = "\n".join(f"{seq}:{_stored(datadir.db_file, seq)}" for seq in (3, 9, 23, 9))
    result = _check(engine, datadir.db_file, text + f"\n0:{'0' * 64}\n")
    assert result.ok and result.checked == 4 and result.newest == 23


def test_a_head_after_the_end_is_a_truncation(site) -> None:  # noqa: F811
    datadir, engine = site
    _fill(engine, KEY)
    text = f"20:{_stored(datadir.db_file, 20)}\n22:{_stored(datadir.db_file, 22)}\n"
    _sql(datadir.db_file, "DELETE FROM events WHERE seq > 19")
    result = _check(engine, datadir.db_file, text)
    assert result.problems == ("truncated: the log ends at seq 19 but a head published at seq 22 exists",)


def test_a_head_with_another_mac_is_a_rewrite(site) -> None:  # noqa: F811
    datadir, engine = site
    _fill(engine, KEY)
    text = f"4:{_stored(datadir.db_file, 4)}\n8:{MAC}\n{chain_heads.MAIL_HEAD_LINE.format(seq=12, mac=MAC)}\n"
    result = _check(engine, datadir.db_file, text)
    rewritten = "rewritten: event seq 8 differs from the head published for it (2 published heads differ, seq 8..12)"
    assert result.problems == (rewritten,)


class CountingReader(SqliteReader):
    """Counts the queries of the check."""

    queries = 0

    def all(self, sql: str, params):  # type: ignore[no-untyped-def, override]
        CountingReader.queries += 1
        return super().all(sql, params)


def test_thousands_of_heads_take_a_few_batched_queries(site) -> None:  # noqa: F811
    datadir, engine = site
    _fill(engine, KEY, 2400)
    with sqlite3.connect(datadir.db_file) as conn:
        rows = conn.execute("SELECT seq, mac FROM events ORDER BY seq").fetchall()
    conn.close()
    lines = [chain_heads.MAIL_HEAD_LINE.format(seq=seq, mac=bytes(mac).hex()) for seq, mac in rows]
    heads = parse_collected("\n".join(lines * 2), "heads.txt").heads
    assert len(heads) == 4800
    conn = sqlite3.connect(datadir.db_file)
    try:
        result = check_heads(CountingReader(conn), heads)
    finally:
        conn.close()
    assert result.ok and result.checked == 2400 and result.newest == 2400
    assert CountingReader.queries == 1 + -(-2400 // chain_heads.LOOKUP_BATCH)  # the end, then 500 seqs a query


def test_anchor_module_reads_the_newest_head_through_the_same_parser(tmp_path: Path) -> None:
    path = tmp_path / "heads.txt"
    path.write_text(f"{MESSAGE}\n9:{MAC}\nLog head: seq=7 mac={MAC}\n")
    assert anchor.read_anchor_file(path) == (9, MAC)


# --- The command -------------------------------------------------------------------------------------------


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def _init(capsys, root: Path, events: int, *, days_old: int = 0) -> DataDir:
    if not root.exists():
        assert _run(capsys, "init", "--data", str(root))[0] == 0
    datadir = DataDir(root)
    key = keys.load_audit_key(datadir)
    engine = open_database(datadir)
    when = datetime.now(UTC) - timedelta(days=days_old, hours=1)
    try:
        with session_factory(engine)() as session, session.begin():
            for i in range(events):
                audit.append(session, key, "access.granted", method="pin", user="U0001", door="main",
                             time=when + timedelta(seconds=i))
    finally:
        engine.dispose()
    return datadir


def test_verify_command_ok_truncated_and_bad_line(tmp_path: Path, capsys, monkeypatch) -> None:
    datadir = _init(capsys, tmp_path / "site", 6)
    heads = tmp_path / "heads.txt"
    heads.write_text(f"kunci/main/head {json.dumps({'seq': 5, 'mac': _stored(datadir.db_file, 5)})}\n"
                     "kunci/main/availability online\n"
                     f"Log head: seq=6 mac={_stored(datadir.db_file, 6)}\n")
    code, out, _ = _run(capsys, "audit", "verify", "--anchor-from", str(heads), "--data", str(datadir.root))
    assert code == 0, out
    assert (f"published heads OK: 2 heads from {heads} checked, 1 messages without a head skipped, newest seq=6: "
            "the log holds every event up to seq 6 that was published off the device") in out

    monkeypatch.setattr(sys, "stdin", io.StringIO(heads.read_text() + "garbage\n"))
    code, out, err = _run(capsys, "audit", "verify", "--anchor-from", "-", "--data", str(datadir.root))
    assert code == 2 and "standard input line 4: holds no anchor head" in err and "OK" not in out

    _sql(datadir.db_file, "DELETE FROM events WHERE seq = 6")
    code, out, _ = _run(capsys, "audit", "verify", "--anchor-from", str(heads), "--data", str(datadir.root))
    assert code == 1
    assert (f"audit chain BROKEN: truncated: the log ends at seq 5 but a head published at seq 6 exists "
            f"(published heads from {heads})") in out


def test_heads_in_the_archives_count_as_present(tmp_path: Path, capsys) -> None:
    datadir = _init(capsys, tmp_path / "site", 10, days_old=10)
    _init(capsys, datadir.root, 4)
    archived, live = _stored(datadir.db_file, 4), _stored(datadir.db_file, 12)
    cutoff = (datetime.now(UTC) - timedelta(days=6)).isoformat()
    assert _run(capsys, "audit", "archive", "--before", cutoff, "--data", str(datadir.root))[0] == 0
    heads = tmp_path / "heads.txt"
    heads.write_text(f"4:{archived}\n12:{live}\n")
    code, out, _ = _run(capsys, "audit", "verify", "--anchor-from", str(heads), "--data", str(datadir.root))
    assert code == 0, out
    assert "archives OK: 1 files" in out and "published heads OK: 2 heads" in out
    heads.write_text(f"4:{MAC}\n12:{live}\n")
    code, out, _ = _run(capsys, "audit", "verify", "--anchor-from", str(heads), "--data", str(datadir.root))
    assert code == 1 and "rewritten: event seq 4 differs from the head published for it" in out


#: Runs the real command in this interpreter, then says which heavy libraries it loaded.
PROBE = """
import sys
from controller.cli import main
code = main(["audit", "verify", "--data", sys.argv[1], "--anchor-from", sys.argv[2]])
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"sqlalchemy", "alembic", "flask"})
print("exit", code, "heavy", ",".join(heavy) or "none")
"""


def test_verify_with_collected_heads_imports_no_sqlalchemy(tmp_path: Path, capsys) -> None:
    datadir = _init(capsys, tmp_path / "site", 3)
    heads = tmp_path / "heads.txt"
    message = Message(id=1, kind="heartbeat", type="heartbeat", time="t", door="main",
                      head=(3, _stored(datadir.db_file, 3)))
    heads.write_text(json.dumps(message.as_dict()) + "\n")
    probe = subprocess.run([sys.executable, "-c", PROBE, str(datadir.root), str(heads)], capture_output=True,
                           text=True, timeout=120, check=False)
    assert probe.returncode == 0, probe.stderr
    assert "exit 0 heavy none" in probe.stdout, probe.stdout
