"""People at scale (issue 12 item 6): search as you type (JSON) and the streamed export of everybody, admins only."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import pytest

from controller.store import people, people_search
from controller.store.db import session_factory

from web_support import events, get, post


def _add_people(engine: Any, names: list[str | None]) -> list[str]:
    """Store people directly (as if added before the web ran); their codes in order."""
    with session_factory(engine)() as db:
        codes = [people.add_user(db, name=n, agreement_signed_on=date(2026, 1, 1), actor="cli").code for n in names]
        db.commit()
    return codes


def test_search_finds_a_code_prefix_and_a_name_fragment(admin: Any, engine: Any) -> None:
    codes = _add_people(engine, [f"Person {i}" for i in range(30)] + ["Ada Lovelace", "Grace Hopper"])
    by_code = get(admin, "/people/search.json", query_string={"q": codes[12].lower()}).get_json()
    assert by_code["ok"] and [p["code"] for p in by_code["people"]] == [codes[12]]
    assert by_code["people"][0]["name"] == "Person 12" and by_code["people"][0]["url"] == f"/people/{codes[12]}"
    by_name = get(admin, "/people/search.json", query_string={"q": "OVELA"}).get_json()
    assert [(p["code"], p["name"]) for p in by_name["people"]] == [(codes[30], "Ada Lovelace")]
    assert by_name["more"] is False


def test_search_answers_a_screenful_and_says_there_are_more(admin: Any, engine: Any) -> None:
    _add_people(engine, [f"Person {i}" for i in range(people_search.SEARCH_LIMIT + 5)])
    answer = get(admin, "/people/search.json", query_string={"q": "U00"}).get_json()
    assert len(answer["people"]) == people_search.SEARCH_LIMIT and answer["more"] is True
    assert get(admin, "/people/search.json", query_string={"q": "nobody like this"}).get_json()["people"] == []


@pytest.mark.parametrize(("q", "message"), [("", "Search is required"), ("x" * 121, "too long"),
                                             ("a\nb", "control characters")])
def test_search_refuses_a_bad_term(admin: Any, q: str, message: str) -> None:
    r = get(admin, "/people/search.json", query_string={"q": q})
    assert r.status_code == 400 and message in r.get_json()["error"]


@pytest.mark.parametrize("q", ["%", "_", "\\", "' OR 1=1--"])
def test_search_wildcards_are_plain_characters(admin: Any, engine: Any, q: str) -> None:
    _add_people(engine, ["Ada Lovelace", None])
    assert get(admin, "/people/search.json", query_string={"q": q}).get_json()["people"] == []


def test_a_code_prefix_is_served_by_the_code_index(engine: Any) -> None:
    with session_factory(engine)() as db:
        stmt = people_search.code_prefix_query("U004", people_search.SEARCH_LIMIT)
        sql = str(stmt.compile(engine, compile_kwargs={"literal_binds": True}))
        plan = " ".join(str(row[-1]) for row in db.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
    assert plan.startswith("SEARCH users USING INDEX") and "(code>? AND code<?)" in plan, plan


@pytest.mark.parametrize("path", ["/people/search.json?q=Ada", "/people/export.csv"])
def test_auditors_get_neither_search_nor_export(auditor: Any, engine: Any, daemon: Any, path: str) -> None:
    _add_people(engine, ["Ada Lovelace"])
    r = get(auditor, path)
    assert r.status_code == 403 and "Lovelace" not in r.get_data(as_text=True)
    assert "Content-Disposition" not in r.headers
    assert events(engine, "admin.people_exported") == []
    assert events(engine, "admin.forbidden")[-1].actor == "bob"


def test_export_streams_every_person_escaped_and_is_logged_first(admin: Any, engine: Any) -> None:
    added = post(admin, "/people/new", {"name": "Ada Lovelace", "agreement_signed_on": "2026-01-05"})
    assert added.status_code == 303  # through the daemon: with a PIN
    names = [f"Person {i}" for i in range(298)] + ["=HYPERLINK(\"http://x\")", "@SUM(A1)"]
    codes = ["U0001", *_add_people(engine, names)]
    r = get(admin, "/people/export.csv", buffered=False)
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert r.headers["Content-Disposition"].startswith('attachment; filename="kunci-people-')
    logged = events(engine, "admin.people_exported")
    assert len(logged) == 1 and logged[0].actor == "alice" and logged[0].seq is not None, "logged before any row"
    chunks = list(r.response)
    r.close()
    assert len(chunks) >= 2, "streamed in chunks, not built whole"
    text = "".join(c.decode() if isinstance(c, bytes) else c for c in chunks)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(people_search.EXPORT_COLUMNS)
    assert [row[0] for row in rows[1:]] == codes
    column = {name: i for i, name in enumerate(people_search.EXPORT_COLUMNS)}
    assert [rows[1][column[c]] for c in ("name", "status", "pin", "fingers")] == ["Ada Lovelace", "active", "yes", "0"]
    assert [rows[2][column[c]] for c in ("name", "pin", "agreement_signed_on")] == ["Person 0", "no", "2026-01-01"]
    assert rows[-2][1] == "'=HYPERLINK(\"http://x\")" and rows[-1][1] == "'@SUM(A1)"


def test_no_people_export_without_its_log_entry(admin: Any, engine: Any, daemon: Any) -> None:
    _add_people(engine, ["Ada Lovelace"])
    daemon.close()
    r = get(admin, "/people/export.csv")
    assert r.status_code == 503 and "nothing was exported" in r.get_data(as_text=True)
    assert "Lovelace" not in r.get_data(as_text=True)


def test_the_export_takes_no_parameters(admin: Any, engine: Any) -> None:
    r = get(admin, "/people/export.csv", query_string={"filename": "../../etc/passwd"})
    assert r.status_code == 400 and "Content-Disposition" not in r.headers
    assert events(engine, "admin.people_exported") == []
