"""The admin web's "Import people": upload and dry run (every bad line with its number, nothing changed),
confirm (one all-or-nothing ``user.import`` through the daemon's admin path), the PINs offered once as a
CSV download (post/redirect/get: a reload neither imports again nor shows the PINs again)."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from web_support import csrf_token, events, get, post

HEADER = "name,group,valid_from,valid_until,agreement_signed_on\n"
GOOD = HEADER + "Ada Lovelace,,,,2026-01-02\nBen Binder,,2026-01-01,2030-12-31,2026-01-03\n"
BAD = HEADER + "Ada Lovelace,,,,2026-01-02\nNo Group,Night Shift,,,2026-01-02\nCtl\x1bName,,,,2026-01-02\nLate,,,,\n"


def upload(client: Any, text: str, name: str = "people.csv") -> Any:
    return post(client, "/people/import", {"file": (io.BytesIO(text.encode()), name)},
                content_type="multipart/form-data")


def people_count(engine: Any) -> int:
    with engine.connect() as conn:
        return conn.exec_driver_sql("SELECT count(*) FROM users").scalar_one()


def test_the_people_page_links_to_the_import_and_auditors_cannot_use_it(admin: Any, auditor: Any) -> None:
    assert "/people/import" in get(admin, "/people").get_data(as_text=True)
    assert get(admin, "/people/import").status_code == 200
    assert get(auditor, "/people/import").status_code == 403
    assert upload(auditor, GOOD).status_code == 403


def test_a_bad_file_shows_every_bad_line_and_changes_nothing(admin: Any, engine: Any, daemon: Any) -> None:
    before = len(events(engine))
    r = upload(admin, BAD)
    body = r.get_data(as_text=True)
    assert r.status_code == 400
    assert re.findall(r"Line (\d+):", body) == ["3", "4", "5"]
    assert "Night Shift" in body and "control character" in body and "agreement" in body
    assert people_count(engine) == 0 and len(events(engine)) == before
    assert not daemon.sent("admin", op="user.import")


def test_an_upload_without_the_csrf_token_is_refused(admin: Any, engine: Any) -> None:
    r = admin.post("/people/import", data={"file": (io.BytesIO(GOOD.encode()), "p.csv")},
                   content_type="multipart/form-data", base_url="https://localhost")
    assert r.status_code == 400 and people_count(engine) == 0


def test_a_file_over_the_size_limit_is_refused(admin: Any, engine: Any) -> None:
    from controller.store.people_import import MAX_FILE_BYTES

    r = upload(admin, HEADER + "x" * (MAX_FILE_BYTES + 10))
    assert r.status_code in (400, 413) and people_count(engine) == 0


def test_check_confirm_and_download_the_pins_once(admin: Any, engine: Any, daemon: Any) -> None:
    r = upload(admin, GOOD)
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and "2</strong> people will be added" in body and people_count(engine) == 0
    key = re.search(r'name="key" value="([^"]+)"', body).group(1)
    token = csrf_token(admin, "/")
    confirmed = post(admin, "/people/import/confirm", {"key": key}, token=token)
    assert confirmed.status_code == 303
    assert people_count(engine) == 2
    added = events(engine, "admin.user_added")
    assert len(added) == 2 and all(e.actor == "alice" and e.seq is not None for e in added)
    # Posting the same confirmation again imports nothing.
    again = post(admin, "/people/import/confirm", {"key": key}, token=token)
    assert again.status_code == 410 and people_count(engine) == 2

    done = get(admin, confirmed.headers["Location"])
    page = done.get_data(as_text=True)
    assert done.status_code == 200 and "2 people were added" in page
    link = re.search(r'href="(/people/import/pins/[^"]+\.csv)"', page).group(1)
    assert get(admin, confirmed.headers["Location"]).status_code == 410  # reload: already shown
    pins = get(admin, link)
    assert pins.status_code == 200 and pins.headers["Cache-Control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(pins.get_data(as_text=True))))
    assert [r["name"] for r in rows] == ["Ada Lovelace", "Ben Binder"]
    assert all(re.fullmatch(r"\d{6}", r["pin"]) for r in rows)
    assert sorted(r["code"] for r in rows) == sorted(e.user_code for e in added)
    second = get(admin, link)
    assert second.status_code == 410 and rows[0]["pin"] not in second.get_data(as_text=True)
    assert all(r["pin"] not in (e.detail or "") for e in events(engine) for r in rows)
