"""Bahasa Indonesia on the door panel, finger enrolment, people import, password, confirmation and dashboard unlock
pages, and in the page scripts: the pages answer in Indonesian with none of their English left, and every word a
script shows (panel.js, enrol.js, people_search.js) comes from the page's JSON block, not from the script."""

from __future__ import annotations

import html
import io
import json
import re
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from web_support import csrf_token, get, post

from controller.store import people
from controller.store.db import session_factory

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "webadmin" / "static"

#: English words of these pages that must not be left on them in Indonesian (the room name, person names and
#: codes are data; "Keypad", "LED", "PIN", "CSV" and "Buzzer" read the same in both languages).
ENGLISH = {"the", "and", "or", "of", "to", "your", "Your", "door", "Door", "finger", "Finger", "fingerprint", "Press",
           "press", "Lift", "Touch", "Place", "Another", "Send", "Type", "several", "keys", "Open", "Close", "exit",
           "switch", "Green", "Red", "state", "Strike", "relay", "lockout", "Simulated", "hardware",
           "Enrol", "Start", "enrolment", "again", "Back", "Cancel", "change", "nothing", "Change", "password",
           "Password", "Current", "New", "least", "characters", "Import", "people", "file", "Check", "header", "Bad",
           "Line", "lines", "Download", "Unlocks", "Unlock", "Entries", "hour", "hours", "unknown",
           "locked", "energised", "none", "active", "digits", "typed", "Granted", "Refused", "refused", "wrong",
           "Checking", "Done", "stored", "failed", "Nobody", "matches", "search", "Virtual", "panel", "sensor's"}
#: Technical strings the scripts may hold (element ids, attribute values, protocol words).
_JS_TECHNICAL = {"use strict", "Accept", "Escape", "POST"}
_SCRIPT = re.compile(r"<script\b[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)
_JSON_BLOCK = re.compile(r'<script type="application/json" id="([^"]+)">(.*?)</script>', re.DOTALL)
_READ_ATTRS = re.compile(r'\b(?:title|placeholder|aria-label|alt)="([^"]*)"')


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, str):
        yield value


def _json_blocks(page: str) -> dict[str, Any]:
    return {name: json.loads(body) for name, body in _JSON_BLOCK.findall(page)}


def _visible(page: str) -> str:
    """What a person reads: text, the attributes read aloud, and the words the page hands to its scripts."""
    texts = [s for block in _json_blocks(page).values() for s in _strings(block)]
    body = re.sub(r"<head>.*?</head>", " ", page, flags=re.DOTALL)
    texts += _READ_ATTRS.findall(body)
    texts.append(re.sub(r"<[^>]+>", " ", _SCRIPT.sub(" ", body)))
    return html.unescape(" ".join(texts))


def _english_left(page: str) -> list[str]:
    return sorted({w for w in re.findall(r"[A-Za-z][A-Za-z']*", _visible(page)) if w in ENGLISH})


def _indonesian(admin: Any) -> Any:
    assert post(admin, "/account/language", {"language": "id"}).status_code == 303
    return admin


def _person(engine: Any) -> str:
    with session_factory(engine)() as db:
        code = people.add_user(db, name="Rina Hartono", agreement_signed_on=date(2026, 1, 1), actor="cli").code
        db.commit()
    return str(code)


def _page(admin: Any, path: str, status: int = 200) -> str:
    reply = get(admin, path)
    page = reply.get_data(as_text=True)
    assert reply.status_code == status, path
    assert 'lang="id"' in page and "%(" not in page and "{{" not in page, path
    return page


def test_the_door_panel_reads_in_indonesian(admin: Any) -> None:
    page = _page(_indonesian(admin), "/panel")
    assert _english_left(page) == []
    for words in ("Panel pintu virtual", "Status pintu", "terkunci", "Belum ada angka yang diketik", "Tombol 5",
                  "Jari A", "Angkat jari", "Buka sakelar antibongkar"):
        assert words in page
    texts = _json_blocks(page)["panel-texts"]
    assert texts["reasons"]["unknown_credential"]["pin"] == "PIN salah"
    assert texts["locked_out_until"] == "Diblokir sampai {time}" and texts["refused_because"] == "Ditolak: {reason}"


def test_the_door_panel_keeps_its_english(admin: Any) -> None:
    page = get(admin, "/panel").get_data(as_text=True)
    texts = _json_blocks(page)["panel-texts"]
    assert texts["granted"] == "Granted" and texts["locked_out_until"] == "Locked out until {time}"
    assert texts["reasons"]["unknown_credential"] == {"pin": "wrong PIN", "finger": "finger not recognised"}
    assert ">No digits typed<" in page and 'aria-label="Key 5"' in page


def test_finger_enrolment_reads_in_indonesian(admin: Any, engine: Any, daemon: Any) -> None:
    code = _person(engine)
    _indonesian(admin)
    start = _page(admin, f"/people/{code}/finger")
    assert "Mulai pendaftaran" in start and _english_left(start) == []

    gate = threading.Event()

    def enroll(req: Any, progress: Any) -> Any:
        progress("place_finger")
        assert gate.wait(10)
        return {"slot": 3}

    daemon.handlers["finger.enroll"] = enroll
    try:
        r = post(admin, f"/people/{code}/finger/enroll")
        assert r.status_code == 303
        page = _page(admin, r.headers["Location"])
    finally:
        gate.set()
    assert _english_left(page) == []
    for words in ("Letakkan jari di sensor.", "Sentuh sensor", "Angkat jari Anda", "Mulai lagi"):
        assert words in page
    texts = _json_blocks(page)["enrol-texts"]
    assert texts["steps"]["lift_finger"] == "Angkat jari." and texts["failed"] == "Pendaftaran gagal: {error}."


def test_people_import_reads_in_indonesian(admin: Any) -> None:
    _indonesian(admin)
    page = _page(admin, "/people/import")
    assert "Impor personel" in page and "Periksa berkas" in page and _english_left(page) == []
    bad = post(admin, "/people/import", {"file": (io.BytesIO(b"name,group\nAda,Night Shift\n"), "p.csv")},
               content_type="multipart/form-data").get_data(as_text=True)
    assert "Baris bermasalah" in bad and re.search(r"Baris 2:", bad)
    good = post(admin, "/people/import", {"file": (io.BytesIO(b"name,agreement_signed_on\nAda,2026-01-02\n"), "p.csv")},
                content_type="multipart/form-data").get_data(as_text=True)
    assert "semua baris benar" in good and "Impor 1 personel" in good and ">Batal<" in good
    assert _english_left(good) == []
    key = re.search(r'name="key" value="([^"]+)"', good).group(1)
    confirmed = post(admin, "/people/import/confirm", {"key": key}, token=csrf_token(admin, "/"))
    assert confirmed.status_code == 303
    done = _page(admin, confirmed.headers["Location"])
    assert "1 personel telah ditambahkan" in done and "Unduh PIN mereka (CSV)" in done
    assert _english_left(done) == []
    gone = _page(admin, confirmed.headers["Location"], status=410)
    assert "Impor ini sudah dilakukan" in gone and _english_left(gone) == []


def test_password_page_reads_in_indonesian(admin: Any) -> None:
    page = _page(_indonesian(admin), "/account/password")
    for words in ("Ubah kata sandi Anda", "Kata sandi saat ini", "Ulangi kata sandi baru", "Minimal 12 karakter"):
        assert words in page
    assert _english_left(page) == []


def test_confirmation_page_reads_in_indonesian(admin: Any, engine: Any) -> None:
    code = _person(engine)
    page = _page(_indonesian(admin), f"/people/{code}/finger/delete")
    assert "Batal: jangan ubah apa pun" in page and "Cancel: change nothing" not in page


def test_dashboard_unlock_and_chart_read_in_indonesian(admin: Any) -> None:
    page = _page(_indonesian(admin), "/")
    for words in ("Kata sandi Anda", "Buka kunci pintu", "Jumlah masuk per jam selama 72 jam terakhir"):
        assert words in page
    for english in ("Unlocks the door once", "Your password", "Unlock the door", "Entries per hour"):
        assert english not in page


def test_people_search_words_come_from_the_page(admin: Any) -> None:
    texts = _json_blocks(_page(_indonesian(admin), "/people"))["live-results-texts"]
    assert texts["nobody"] == "Tidak ada yang cocok dengan “{term}”."
    assert texts["status"]["suspended"] == "ditangguhkan"


def _code(script: str) -> str:
    """The script without its comments."""
    source = (STATIC / script).read_text(encoding="utf-8")
    return re.sub(r"//[^\n]*", " ", re.sub(r"/\*.*?\*/", " ", source, flags=re.DOTALL))


@pytest.mark.parametrize("script", sorted(p.name for p in STATIC.glob("*.js")))
def test_a_script_holds_no_english(script: str) -> None:
    for literal in re.findall(r'"((?:[^"\\]|\\.)*)"', _code(script)):
        english = re.search(r"[A-Za-z]{2,}\s+[A-Za-z]", literal) or re.fullmatch(r"[A-Z][a-z]+", literal)
        assert not english or literal in _JS_TECHNICAL, f"{script}: English words in the script: {literal!r}"


@pytest.mark.parametrize(("script", "path", "block"), [
    ("panel.js", "/panel", "panel-texts"),
    ("enrol.js", None, "enrol-texts"),
    ("people_search.js", "/people", "live-results-texts"),
])
def test_a_script_finds_its_words_on_the_page(admin: Any, engine: Any, daemon: Any, script: str, path: str | None,
                                              block: str) -> None:
    if path is None:  # the enrolment page shows its words only while an enrolment runs
        daemon.handlers["finger.enroll"] = lambda req, progress: {"slot": 1}
        path = post(admin, f"/people/{_person(engine)}/finger/enroll").headers["Location"]
    texts = _json_blocks(get(admin, path).get_data(as_text=True))[block]
    code = _code(script)
    asked = set(re.findall(r'\bsay\("([a-z_]+)"', code))
    asked |= {k for pair in re.findall(r'say\([\w.]+ \? "([a-z_]+)" : "([a-z_]+)"', code) for k in pair}
    assert asked and not asked - set(texts), f"{script} asks for words the page does not give"
