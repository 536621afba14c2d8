"""The entry log and the dashboard in sentences (issue 15 item 1): names for admins only, codes always beside
them, alarm rows marked by text and colour, and the log's search by a person's name (admins) or code (everyone)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from controller.store import audit
from controller.store.db import session_factory
from controller.store.models import User

from web_support import events, get

KEY = bytes(range(32))
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)
RINA, BUDI = "Rina Hartono", "Budi Santoso"


def _seed(engine: Any) -> None:
    """Rina (U0002) opens with a PIN and is refused once; Budi (U0003) opens once; an unknown PIN; a forced door."""
    with session_factory(engine)() as db:
        db.add_all([User(code="U0002", display_name=RINA, status="active"),
                    User(code="U0003", display_name=BUDI, status="active")])
        db.flush()
        audit.record(db, "access.granted", method="pin", user="U0002", door="main", time=T0)
        audit.record(db, "access.denied", reason="outside_schedule", method="pin", user="U0002", door="main",
                     time=T0 + timedelta(hours=1))
        audit.record(db, "access.granted", method="finger", user="U0003", door="main", time=T0 + timedelta(hours=2))
        audit.record(db, "access.denied", reason="unknown_credential", method="pin", door="main",
                     time=T0 + timedelta(hours=3))
        audit.record(db, "door.forced", door="main", time=T0 + timedelta(hours=4))
        audit.record(db, "alarm.raised", detail={"alarm": "door_forced"}, time=T0 + timedelta(hours=4))
        audit.seal_pending(db, KEY)
        db.commit()


def _rows(page: str) -> list[str]:
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in page else ""
    return re.findall(r"<tr([^>]*)>(.*?)</tr>", body, re.S)


def test_admin_reads_sentences_with_names_and_the_codes_stay(admin: Any, engine: Any) -> None:
    _seed(engine)
    page = get(admin, "/log").get_data(as_text=True)
    assert f"{RINA} (U0002) opened main with PIN" in page
    assert f"{RINA} (U0002) refused: outside their schedule" in page
    assert f"{BUDI} (U0003) opened main with fingerprint" in page
    assert "Unknown PIN refused (wrong PIN)" in page
    assert "access.denied · reason outside_schedule · method pin · person U0002" in page  # the exact codes


def test_auditor_reads_codes_only_in_sentences_and_on_the_dashboard(auditor: Any, engine: Any) -> None:
    _seed(engine)
    for path in ("/log", "/", "/dashboard/live", "/alarms"):
        page = get(auditor, path).get_data(as_text=True)
        assert RINA not in page and BUDI not in page and "Rina" not in page, path
    page = get(auditor, "/log").get_data(as_text=True)
    assert "U0002 opened main with PIN" in page and "U0002 refused: outside their schedule" in page


def test_admin_dashboard_names_the_person(admin: Any, engine: Any) -> None:
    _seed(engine)
    assert f"{BUDI} (U0003) opened main with fingerprint" in get(admin, "/").get_data(as_text=True)


def test_alarm_rows_are_marked_with_text_and_a_class(admin: Any, engine: Any) -> None:
    _seed(engine)
    rows = _rows(get(admin, "/log").get_data(as_text=True))
    marked = [cells for attrs, cells in rows if "alert-row" in attrs]
    assert len(marked) == 2
    assert all("⚠</span> Alarm</strong>" in cells for cells in marked)
    assert any("Alarm: door forced open" in cells for cells in marked)
    assert any("Door forced open" in cells for cells in marked)
    routine = [cells for attrs, cells in rows if "alert-row" not in attrs]
    assert len(routine) >= 4 and not any("Alarm</strong>" in cells for cells in routine)


@pytest.mark.parametrize("term", ["rina", "Hartono", "U0002", "u00"])
def test_admin_finds_a_persons_entries_by_name_or_code(admin: Any, engine: Any, term: str) -> None:
    _seed(engine)
    page = get(admin, "/log", query_string={"q": term}).get_data(as_text=True)
    texts = [cells for _, cells in _rows(page)]
    if term == "u00":  # a code prefix: both people
        assert len(texts) == 3
    else:
        assert len(texts) == 2 and all("U0002" in t for t in texts)
        assert f"Entries of 1 person: {RINA} (U0002)." in " ".join(page.split())
    assert not any("Unknown PIN refused" in t or "Door forced open" in t for t in texts)


def test_auditor_cannot_find_entries_by_name_only_by_code(auditor: Any, engine: Any) -> None:
    _seed(engine)
    page = get(auditor, "/log", query_string={"q": "Rina"}).get_data(as_text=True)
    assert _rows(page) == [] and "auditors can search person codes only" in page
    assert "U0002" not in page.split("<main", 1)[1].split("</form>", 1)[1]
    page = get(auditor, "/log", query_string={"q": "U0002"}).get_data(as_text=True)
    rows = _rows(page)
    assert len(rows) == 2 and all("U0002" in cells for _, cells in rows) and RINA not in page


def test_search_is_capped_and_says_so(admin: Any, engine: Any, monkeypatch: Any) -> None:
    _seed(engine)
    monkeypatch.setattr("webadmin.views.log.SEARCH_PEOPLE", 1)
    page = " ".join(get(admin, "/log", query_string={"q": "o"}).get_data(as_text=True).split())
    assert "More than 1 people match; only the first 1 are searched" in page
    assert len(_rows(page)) == 2  # Rina's entries only: the first match in id order


@pytest.mark.parametrize(
    ("term", "message"),
    [("x" * 121, "Search people is too long: at most 120 characters"),
     ("Ri\x1b[31mna", "Search people must be one line without control characters"),
     ("Ri\nna", "Search people must be one line without control characters")],
)
def test_bad_search_is_a_form_error_and_nothing_else(admin: Any, engine: Any, term: str, message: str) -> None:
    _seed(engine)
    before = len(events(engine))
    r = get(admin, "/log", query_string={"q": term})
    page = r.get_data(as_text=True)
    assert r.status_code == 400 and message in page
    assert _rows(page) == [] and "Export these events" not in page
    assert len(events(engine)) == before
