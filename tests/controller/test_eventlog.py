"""Event queries (filters, keyset pages, index use) and exports (formula escaping T6.12, anchor, no names T6.20)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from controller.errors import InvalidInput
from controller.store import audit, chain_heads, eventlog, people
from controller.store.db import make_engine, session_factory, upgrade_database

T0 = datetime(2026, 2, 1, 8, 0, tzinfo=UTC)
KEY = bytes(range(32))


@pytest.fixture
def engine(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'kunci.db'}")
    upgrade_database(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine):
    with session_factory(engine)() as s:
        yield s


def seed(session) -> None:
    """40 events, one a minute: granted/denied for U0001..U0004, plus door events; sealed."""
    for i in range(40):
        when = T0 + timedelta(minutes=i)
        user = f"U000{i % 4 + 1}"
        if i % 5 == 0:
            audit.record(session, "access.denied", reason="unknown_credential", method="pin", door="main", time=when)
        elif i % 5 == 1:
            audit.record(session, "access.denied", reason="outside_schedule", method="finger", user=user,
                         door="main", score=88, time=when)
        elif i % 5 == 4:
            audit.record(session, "door.opened", door="main", time=when)
        else:
            audit.record(session, "access.granted", reason="granted", method="pin", user=user, door="main", time=when)
    audit.seal_pending(session, KEY)
    session.commit()


def test_filters(session) -> None:
    seed(session)
    all_events = eventlog.query_events(session, limit=100)
    assert len(all_events) == 40
    assert [e.id for e in all_events] == sorted((e.id for e in all_events), reverse=True)  # newest first
    denied = eventlog.query_events(session, result="denied", limit=100)
    assert len(denied) == 16 and {e.type for e in denied} == {"access.denied"}
    granted = eventlog.query_events(session, result="granted", limit=100)
    assert len(granted) == 16
    mine = eventlog.query_events(session, user="U0002", limit=100)
    assert mine and {e.user_code for e in mine} == {"U0002"}
    window = eventlog.query_events(session, since=T0 + timedelta(minutes=10), until=T0 + timedelta(minutes=20))
    assert [e.time for e in window][-1] == "2026-02-01T08:10:00.000000Z" and len(window) == 10
    by_reason = eventlog.query_events(session, reason="outside_schedule", method="finger", limit=100)
    assert len(by_reason) == 8 and {e.score for e in by_reason} == {88}
    assert len(eventlog.query_events(session, type="door.opened", limit=100)) == 8
    assert len(eventlog.query_events(session, type="access.*", limit=100)) == 32
    assert eventlog.query_events(session, user="' OR 1=1--") == []  # data, not SQL
    with pytest.raises(InvalidInput):
        eventlog.query_events(session, result="maybe")
    with pytest.raises(InvalidInput):
        eventlog.query_events(session, limit=0)


def test_keyset_pages_cover_everything_once(session) -> None:
    seed(session)
    seen: list[int] = []
    before = None
    while True:
        page = eventlog.query_events(session, result="denied", before_id=before, limit=3)
        if not page:
            break
        seen += [e.id for e in page]
        before = page[-1].id
    assert len(seen) == len(set(seen)) == 16
    assert seen == sorted(seen, reverse=True)


def test_iter_events_streams_in_batches(session) -> None:
    seed(session)
    streamed = list(eventlog.iter_events(session, eventlog.EventFilter(result="granted"), batch_size=4))
    assert len(streamed) == 16 and [e.id for e in streamed] == sorted(e.id for e in streamed)
    newest = list(eventlog.iter_events(session, oldest_first=False, batch_size=7, limit=10))
    assert [e.id for e in newest] == [e.id for e in eventlog.query_events(session, limit=10)]


def _plan(session, engine, **filters) -> str:
    stmt = eventlog.build_query(eventlog.EventFilter(**filters), before_id=10**9).limit(50)
    sql = str(stmt.compile(engine, compile_kwargs={"literal_binds": True}))
    return " | ".join(row[-1] for row in session.execute(text("EXPLAIN QUERY PLAN " + sql)))


@pytest.mark.parametrize(
    "filters, index",
    [
        ({}, "INTEGER PRIMARY KEY"),
        ({"user": "U0001"}, "ix_events_user_code_id"),
        ({"result": "denied"}, "ix_events_type_id"),
        ({"type": "admin.*"}, "ix_events_type_id"),
        ({"user": "U0001", "since": T0}, "ix_events_user_code_id"),
        ({"since": T0, "until": T0 + timedelta(days=1)}, "ix_events_time"),
    ],
)
def test_queries_use_an_index(session, engine, filters, index) -> None:
    seed(session)
    plan = _plan(session, engine, **filters)
    assert index in plan, plan
    assert "SCAN events" not in plan, plan  # never a full table scan


@pytest.mark.parametrize(
    "value, cell",
    [
        ('=HYPERLINK("http://x?"&A1)', '\'=HYPERLINK("http://x?"&A1)'),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\tleading tab", "'\tleading tab"),
        ("\rleading cr", "'\rleading cr"),
        ("U0001", "U0001"),
        ("a=b", "a=b"),
        (None, ""),
        (42, "42"),
    ],
)
def test_csv_cell_escapes_formulas(value, cell) -> None:
    assert eventlog.csv_cell(value) == cell


def _named_people(session) -> None:
    people.add_user(session, name="Siti Rahmawati", agreement_signed_on=date(2026, 1, 2), actor="cli",
                    today=date(2026, 2, 1))
    people.add_user(session, name="Budi Santoso", agreement_signed_on=date(2026, 1, 2), actor="cli",
                    today=date(2026, 2, 1))


def test_csv_export_has_anchor_columns_escaping_and_no_names(session) -> None:
    _named_people(session)
    seed(session)
    # An actor that looks like a formula (hostile config or future input) is neutralised.
    audit.record(session, "admin.login_failed", actor="=cmd|' /C calc'!A0", time=T0 + timedelta(hours=1))
    audit.seal_pending(session, KEY)
    audit.record(session, "admin.logout", actor="unsealed", time=T0 + timedelta(hours=1))  # not sealed yet
    session.commit()
    head = audit.head(session)
    out = io.StringIO()
    count = eventlog.export_csv(session, out, anchor=head, now=T0 + timedelta(hours=2))
    text_out = out.getvalue()
    assert not text_out.startswith("#")
    reader = csv.DictReader(io.StringIO(text_out))
    columns = list(reader.fieldnames or ())
    # The real column names first, then one column whose name is the anchor (rows leave it empty).
    assert tuple(columns[:-1]) == eventlog.EXPORT_COLUMNS
    assert columns[-1] == (f"kunci anchor seq={head[0]} mac={head[1]} exported_at=2026-02-01T10:00:00.000000Z "
                           "unsealed_left_out=1")
    rows = list(reader)
    assert count == len(rows) == 43
    assert rows[0]["seq"] == "1" and rows[0]["type"] == "admin.user_added" and rows[0]["user"] == "U0001"
    assert rows[-1]["actor"] == "'=cmd|' /C calc'!A0" and rows[-1]["seq"] == "43"
    assert all(row[columns[-1]] == "" for row in rows)
    assert "unsealed" not in {row["actor"] for row in rows}  # the unsealed row is left out
    assert "Siti" not in text_out and "Budi" not in text_out


def test_export_header_names_filters_and_reads_back_as_the_anchor(session) -> None:
    seed(session)
    head = audit.head(session)
    out = io.StringIO()
    eventlog.export_csv(session, out, eventlog.EventFilter(result="denied", user="U0002"), anchor=head,
                        now=T0 + timedelta(hours=2))
    first = out.getvalue().splitlines()[0]
    assert first.endswith(" unsealed_left_out=0 filters result=denied user=U0002")
    collected = chain_heads.parse_collected(out.getvalue(), "export.csv")
    assert [(h.seq, h.mac) for h in collected.heads] == [head]


def test_json_export_has_anchor_first_and_filters(session) -> None:
    _named_people(session)
    seed(session)
    head = audit.head(session)
    out = io.StringIO()
    count = eventlog.export_json(session, out, eventlog.EventFilter(result="denied"), anchor=head)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines[0]["anchor"] == {"seq": head[0], "mac": head[1]}
    assert lines[0]["filters"] == {"result": "denied"} and lines[0]["unsealed_left_out"] == 0
    assert count == len(lines) - 1 == 16
    assert all(set(line) == set(eventlog.EXPORT_COLUMNS) for line in lines[1:])
    assert [line["seq"] for line in lines[1:]] == sorted(line["seq"] for line in lines[1:])  # chain order
    assert "Siti" not in out.getvalue() and "Budi" not in out.getvalue()


def test_export_of_empty_log_has_zero_anchor(session) -> None:
    out = io.StringIO()
    assert eventlog.export_json(session, out, anchor=audit.head(session)) == 0
    assert json.loads(out.getvalue())["anchor"] == {"seq": 0, "mac": "00" * 32}


def test_json_export_leaves_out_unsealed_events_and_counts_them(session) -> None:
    seed(session)
    audit.record(session, "access.denied", reason="unknown_credential", method="pin", door="main", time=T0)
    session.commit()
    out = io.StringIO()
    count = eventlog.export_json(session, out, eventlog.EventFilter(result="denied"), anchor=audit.head(session))
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines[0]["unsealed_left_out"] == 1
    assert count == 16 and all(line["seq"] is not None for line in lines[1:])
