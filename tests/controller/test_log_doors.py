"""``kunci log --door`` and the log table's DOOR column with several doors (issue 16)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.cli import main
from controller.paths import DataDir
from controller.store import audit, eventlog, keys, reader
from controller.store.db import open_database, session_factory


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _record(d: Path, *doors: str) -> None:
    engine = open_database(DataDir(d))
    with session_factory(engine)() as session, session.begin():
        for door in doors:
            audit.record(session, "access.denied", reason="unknown_credential", method="pin", door=door)
        audit.seal_pending(session, keys.load_audit_key(DataDir(d)))
    engine.dispose()


@pytest.fixture
def data(tmp_path: Path, capsys) -> Path:
    d = tmp_path / "data"
    assert run(capsys, "init", "--data", str(d))[0] == 0
    return d


def test_one_door_keeps_the_table_without_a_door_column(capsys, data: Path) -> None:
    _record(data, "main", "main")
    rc, out, _err = run(capsys, "log", "--type", "access.*", "--data", str(data))
    assert rc == 0 and "DOOR" not in out.splitlines()[0] and "ACTOR" in out.splitlines()[0]
    assert "main" not in out


def test_several_doors_show_the_door_column_and_filter_by_door(capsys, data: Path) -> None:
    _record(data, "main", "vault", "vault")
    rc, out, _err = run(capsys, "log", "--type", "access.*", "--data", str(data))
    header, *rows = out.splitlines()
    assert rc == 0 and header.split()[:8] == ["SEQ", "TIME", "(UTC)", "TYPE", "REASON", "METHOD", "USER", "DOOR"]
    assert [r.split()[-2] for r in rows] == ["vault", "vault", "main"]
    rc, out, _err = run(capsys, "log", "--door", "vault", "--data", str(data))
    assert rc == 0 and out.count("access.denied") == 2 and "main" not in out
    rc, out, _err = run(capsys, "log", "--door", "side", "--data", str(data))
    assert out.strip() == "no events match"
    rc, out, _err = run(capsys, "log", "--door", "vault", "--format", "json", "--data", str(data))
    lines = [json.loads(line) for line in out.splitlines()]
    assert [e["door"] for e in lines[1:]] == ["vault", "vault"]


def test_the_door_filter_is_the_same_in_the_reader_and_the_event_log(data: Path) -> None:
    _record(data, "main", "vault", "main")
    engine = open_database(DataDir(data))
    with session_factory(engine)() as session:
        orm = [e.id for e in eventlog.iter_events(session, eventlog.EventFilter(door="main"), oldest_first=False)]
    engine.dispose()
    with reader.connect(DataDir(data)) as conn:
        raw = [row[0] for row in reader.newest_events(conn, reader.EventQuery(door="main"), 50)]
    assert orm == raw and len(raw) == 2
    assert eventlog.EventFilter(door="vault").as_dict() == {"door": "vault"}
