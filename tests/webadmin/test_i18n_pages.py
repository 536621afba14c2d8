"""Bahasa Indonesia on the admin page: ``site.language`` and each login's own choice (the catalogue's own
checks are in tests/test_i18n_catalogue.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po
from web_support import ADMIN, AUDITOR, HASHER, get, login, new_client, post

from controller.config import Config, SiteConfig
from controller.i18n import TRANSLATIONS_DIR
from webadmin import create_app

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = TRANSLATIONS_DIR / "id" / "LC_MESSAGES"
_LANG = re.compile(r'<html lang="([a-z]+)">')


def _po() -> Any:
    with open(CATALOGUE / "messages.po", "rb") as f:
        return read_po(f, locale="id")


def _translations(catalog: Any) -> dict[Any, Any]:
    return {m.id: m.string for m in catalog if m.id}


@pytest.mark.parametrize(("language", "lang", "words", "not_words"), [
    ("id", "id", ["Masuk", "Nama pengguna", "Kata sandi", "Langsung ke isi"], ["Log in</h1>", "Username"]),
    ("en", "en", ["Log in", "Username", "Skip to content"], ["Masuk", "Nama pengguna"]),
])
def test_login_page_follows_site_language(data_dir: Path, engine: Any, sock_dir: Path, language: str, lang: str,
                                          words: list[str], not_words: list[str]) -> None:
    config = Config(simulated=True, site=SiteConfig(name="Records room 2", language=language))
    app = create_app(data_dir, test_config={"TESTING": True, "KUNCI_CONFIG": config,
                                            "KUNCI_SOCKET_PATH": sock_dir / "control.sock", "KUNCI_HASHER": HASHER})
    body = get(new_client(app), "/login").get_data(as_text=True)
    assert _LANG.search(body).group(1) == lang
    for word in words:
        assert word in body
    for word in not_words:
        assert word not in body


def test_login_switches_to_indonesian_for_itself_only(app: Any, admin: Any, auditor: Any) -> None:
    before = get(admin, "/").get_data(as_text=True)
    assert 'lang="en"' in before and ">Entry log</a>" in before

    r = post(admin, "/account/language", {"language": "id"})
    assert r.status_code == 303
    page = get(admin, r.headers["Location"]).get_data(as_text=True)
    assert "Bahasa Indonesia" in page and "kini ditampilkan" in page

    mine = get(admin, "/").get_data(as_text=True)
    assert _LANG.search(mine).group(1) == "id"
    for word in (">Dasbor<", ">Personel<", ">Log masuk</a>", ">Keluar<", "Alarm aktif", "Kejadian terakhir"):
        assert word in mine
    assert ">Entry log</a>" not in mine

    other = get(auditor, "/").get_data(as_text=True)
    assert _LANG.search(other).group(1) == "en"
    assert ">Entry log</a>" in other and ">Log out<" in other and "Log masuk" not in other
    assert app.extensions["kunci"].web_store.language(ADMIN) == "id"
    assert app.extensions["kunci"].web_store.language(AUDITOR) is None

    # The choice belongs to the login: a new session of the same account starts in Indonesian.
    again = new_client(app)
    assert login(again).status_code == 303
    assert ">Dasbor<" in get(again, "/").get_data(as_text=True)

    assert post(admin, "/account/language", {"language": "en"}).status_code == 303
    assert ">Entry log</a>" in get(admin, "/").get_data(as_text=True)


@pytest.mark.parametrize("value", ["fr", "", "ID", "id; DROP TABLE staff_language"])
def test_bad_language_is_refused_and_nothing_stored(app: Any, admin: Any, value: str) -> None:
    r = post(admin, "/account/language", {"language": value})
    assert r.status_code == 400
    body = r.get_data(as_text=True)
    assert 'role="alert"' in body and "Language" in body and ("must be one of: en, id" in body or "required" in body)
    assert app.extensions["kunci"].web_store.language(ADMIN) is None
    assert 'lang="en"' in get(admin, "/").get_data(as_text=True)


def test_event_sentence_in_indonesian() -> None:
    """The log's sentence templates and labels go through the gettext they are given."""
    from types import SimpleNamespace

    from babel.support import Translations

    from webadmin import labels

    with open(CATALOGUE / "messages.mo", "rb") as f:
        translations = Translations(f)

    def gettext(text: str, **values: Any) -> str:
        found = translations.gettext(text)
        return found % values if values else found

    event = SimpleNamespace(type="access.granted", reason="granted", method="pin", user_code="U0002", actor=None,
                            detail=None, door="main")
    assert labels.sentence(event, "Rina Hartono", "main", gettext=gettext) == "Rina Hartono (U0002) membuka pintu main dengan PIN"
    assert labels.sentence(event, "Rina Hartono", "main") == "Rina Hartono (U0002) opened main with PIN"
    refused = SimpleNamespace(type="access.denied", reason="outside_schedule", method="pin", user_code="U0002",
                              actor=None, detail=None, door="main")
    assert labels.sentence(refused, None, "main", gettext=gettext) == "U0002 ditolak: di luar jadwalnya"


def test_the_translated_pages_render_in_indonesian_without_leftover_placeholders(admin: Any) -> None:
    """Every page translated so far answers in Indonesian and no ``%(name)s`` or template braces leak through."""
    assert post(admin, "/account/language", {"language": "id"}).status_code == 303
    for path, word in (("/", "Alarm aktif"), ("/log", "Cari"), ("/people", "Personel"), ("/people/new", "Nama"),
                       ("/alarms", "Riwayat alarm")):
        reply = get(admin, path)
        page = reply.get_data(as_text=True)
        assert reply.status_code == 200, path
        assert word in page and 'lang="id"' in page, path
        assert "%(" not in page and "{{" not in page and "{%" not in page, path
