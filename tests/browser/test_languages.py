"""The admin page in Bahasa Indonesia and in English (issue 15), in headless Chromium against ``kunci demo``.

One demo per language (``[site] language`` set in its ``kunci.toml``, so the login page speaks it too), one
after the other. For each language:

- the main admin tasks as one flow, as a person would do them: log in, choose the login's language with the
  page's own language form, add a person, enrol a finger with the simulated sensor's Touch/Lift buttons, open
  the door on the virtual door panel with the PIN shown once, find the entry in the log by the person's name,
  export the log as CSV and read it back with :mod:`csv`;
- every page (the admin's and the auditor's) at 375 px without sideways scrolling, and on a desktop;
- in Indonesian: ``<html lang="id">`` and none of the menu's and buttons' English words on any page.

Elements are found by their role and their visible words in that language, read from the one catalogue
(``controller/translations/id/LC_MESSAGES/messages.po``), so the test follows the catalogue and proves the page
speaks the language. Words still shown in English (or missing from the catalogue) do not stop the flow: they are
collected and listed when the test fails at its end. Screenshots: ``test-artifacts/browser/<lang>-task-<step>.png``,
``<lang>-phone-<page>.png`` and ``<lang>-desktop-<page>.png``.
"""

from __future__ import annotations

import csv
import io
import re
import time
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from controller.config import default_config_text
from controller.i18n import LANGUAGE_NAMES, TRANSLATIONS_DIR
from tests.browser.test_browser import ARTIFACTS, Demo, browser  # noqa: F401 (the browser fixture)

# ruff: noqa: F811 (the browser fixture imported above is the tests' parameter)
pytestmark = [pytest.mark.browser, pytest.mark.slow]

LANGS = ["id", "en"]
PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1280, "height": 900}
#: Pages no menu link leads to directly, by role (as in test_phone_layout.py).
EXTRA = {"admin": ["/people/new", "/people/U0001", "/people/import", "/people/U0001/finger", "/account/password",
                   "/no-such-page"],
         "auditor": ["/account/password", "/people"]}  # /people: the auditor's 403 page
#: Words of the menu and of common buttons an Indonesian page must not show in English any more.
ENGLISH_WORDS = ["Dashboard", "People", "Groups", "Schedules", "Holidays", "Visitors", "Entry log", "Alarms",
                 "Access review", "Staff", "Settings", "Door panel", "Password and language", "Log out", "Save",
                 "Add a person", "Cancel", "Delete", "Change password", "Log in", "Show", "Clear filters"]
ENGLISH_RE = re.compile(r"(?<![\w.])(" + "|".join(re.escape(w) for w in ENGLISH_WORDS) + r")(?![\w])")
#: States a page shows on their own (a door, a lockout, a person): in Indonesian never left in English.
ENGLISH_STATES = ["locked", "unlocked", "open", "closed", "held open", "forced open", "unknown", "none", "active",
                  "suspended", "revoked", "yes", "no", "never", "any", "off", "on"]
#: The text nodes of the page that are one of ENGLISH_STATES (codes, as in ``<code>``, excepted).
STATES_JS = """states => {
  const found = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.textContent.trim();
    if (states.includes(text) && !node.parentElement.closest('code, .codes, script, style, option[value]')) {
      found.push(text);
    }
  }
  return found;
}"""


def read_catalogue() -> dict[str, str]:
    """msgid -> Indonesian, for the translated, non-fuzzy entries of the catalogue."""
    with open(Path(TRANSLATIONS_DIR) / "id" / "LC_MESSAGES" / "messages.po", "rb") as f:
        catalogue = read_po(f)
    return {m.id: m.string for m in catalogue
            if isinstance(m.id, str) and m.id and isinstance(m.string, str) and m.string and not m.fuzzy}


class Words:
    """The page's words in one language (from the catalogue), and what the page showed otherwise."""

    def __init__(self, lang: str, catalogue: dict[str, str]) -> None:
        self.lang = lang
        self.catalogue = catalogue
        self.problems: list[str] = []

    def problem(self, text: str) -> None:
        if text not in self.problems:
            self.problems.append(text)

    def english(self, msgid: str, **values: object) -> str:
        return msgid % values if values else msgid

    def __call__(self, msgid: str, **values: object) -> str:
        """``msgid`` in this language (Flask-Babel's ``%(name)s`` placeholders filled in)."""
        text = msgid
        if self.lang != "en":
            text = self.catalogue.get(msgid, "")
            if not text:  # translated since the catalogue was read? (helpers translate while tests run)
                self.catalogue.update(read_catalogue())
                text = self.catalogue.get(msgid, "")
            if not text:
                self.problem(f"no translation in the catalogue: {msgid!r}")
                text = msgid
        return text % values if values else text

    def role(self, scope, role: str, msgid: str, **values: object):
        """The element of ``role`` named ``msgid`` in this language; if only its English name is on the page,
        that one (noted as a problem), so the flow goes on and every English leftover is listed at the end."""
        name = self(msgid, **values)
        found = scope.get_by_role(role, name=name, exact=True)
        english = self.english(msgid, **values)
        if self.lang != "en" and name != english and found.count() == 0:
            fallback = scope.get_by_role(role, name=english, exact=True)
            if fallback.count():
                self.problem(f"{role} shown in English: {english!r} (expected {name!r})")
                return fallback
        return found

    def label(self, scope, msgid: str, **values: object):
        """The form field labelled ``msgid`` in this language (English fallback as in :meth:`role`)."""
        name = self(msgid, **values)
        found = scope.get_by_label(name)
        english = self.english(msgid, **values)
        if self.lang != "en" and name != english and found.count() == 0 and scope.get_by_label(english).count():
            self.problem(f"field label shown in English: {english!r} (expected {name!r})")
            return scope.get_by_label(english)
        return found

    def says(self, locator, msgid: str, **values: object) -> None:
        """Note a problem unless ``locator``'s text contains ``msgid`` in this language."""
        text = locator.inner_text()
        name, english = self(msgid, **values), self.english(msgid, **values)
        if name not in text:
            shown = "in English" if english in text else "not at all"
            self.problem(f"text shown {shown}: {english!r} (expected {name!r}; the element says {text[:120]!r})")

    def assert_spoken(self) -> None:
        assert not self.problems, f"the page does not fully speak {LANGUAGE_NAMES[self.lang]}:\n" + "\n".join(
            f"- {p}" for p in self.problems)


@pytest.fixture(scope="module", params=LANGS)
def site(request, tmp_path_factory):
    """A ``kunci demo`` whose ``[site] language`` is the parameter, with a schedule, a group and a holiday."""
    lang = request.param
    data = tmp_path_factory.mktemp(f"languages-{lang}") / "kunci-demo"
    data.mkdir(mode=0o750)
    config, simulated = re.subn(r"(?m)^simulated = false$", "simulated = true", default_config_text())
    config, language = re.subn(r'(?m)^language = "en"$', f'language = "{lang}"', config)
    assert simulated == 1 and language == 1, "the default kunci.toml changed: update this fixture"
    (data / "kunci.toml").write_text(config, encoding="utf-8")
    (data / "kunci.toml").chmod(0o640)
    catalogue = read_catalogue()  # what the demo's web loads as it starts
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KUNCI_LANG", "en")  # the demo's banner (CLI) stays English for Demo's parser; the web follows the site
        running = Demo(data)
        running.kunci("schedule", "add", "office-hours", "--window", "mon-fri 08:00-18:00")
        running.kunci("group", "add", "archivists", "--schedule", "office-hours")
        running.kunci("holiday", "add", "2031-08-17", "--name", "Independence Day")
    running.lang = lang
    running.catalogue = catalogue
    yield running
    running.assert_stops_cleanly()


def new_page(browser, viewport: dict[str, int]):
    context = browser.new_context(ignore_https_errors=True, viewport=viewport, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    return context, page


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def log_in(page, site, words: Words, username: str, password: str) -> None:
    page.goto(site.url + "/login")
    words.label(page, "Username").fill(username)
    words.label(page, "Password").first.fill(password)
    words.role(page, "button", "Log in").click()
    page.wait_for_url(re.compile(r"/$"))


def choose_language(page, site, words: Words, lang: str) -> None:
    """Choose the login's page language with the language form of "Password and language"."""
    if not page.url.endswith("/account/password"):
        page.goto(site.url + "/account/password")
    words.label(page, "Language of the admin page for your login").select_option(label=LANGUAGE_NAMES[lang])
    words.role(page, "button", "Save language").click()
    page.wait_for_url(re.compile(r"/account/password\?language=saved$"))
    assert page.locator("html").get_attribute("lang") == lang


def test_the_main_admin_tasks_in_the_logins_language(browser, site):
    """Log in, choose the language, add a person, enrol a finger, open the door, find it in the log, export CSV."""
    from playwright.sync_api import expect

    lang = site.lang
    words = Words(lang, site.catalogue)
    other = "en" if lang == "id" else "id"
    name = "Rina Wulandari" if lang == "id" else "Robin Fletcher"
    (ARTIFACTS / f"{lang}-task-failed.png").unlink(missing_ok=True)
    context, page = new_page(browser, DESKTOP)
    try:
        log_in(page, site, words, "demo", site.admin_password)
        assert page.locator("html").get_attribute("lang") == lang, "the site's language is the default"
        expect(words.role(page, "heading", "Dashboard")).to_be_visible()
        shot(page, f"{lang}-task-01-dashboard")

        # The language form, as a person uses it: to the other language and back.
        words.role(page.locator("#site-menu"), "link", "Password and language").click()
        page.wait_for_url(re.compile(r"/account/password$"))
        choose_language(page, site, words, other)
        choose_language(page, site, Words(other, site.catalogue), lang)
        words.says(page.locator("p.flash.ok[role=status]"), "The admin page is now shown in %(language)s for your login.",
                   language=LANGUAGE_NAMES[lang])
        shot(page, f"{lang}-task-02-language-saved")

        # Add a person: the PIN is shown once.
        words.role(page.locator("#site-menu"), "link", "People").click()
        page.wait_for_url(re.compile(r"/people$"))
        words.role(page.locator("main"), "link", "Add a person").click()
        page.wait_for_url(re.compile(r"/people/new$"))
        words.label(page, "Name (optional, shown to admins only)").fill(name)
        words.label(page, "Confidentiality agreement signed on").fill(time.strftime("%Y-%m-%d"))
        shot(page, f"{lang}-task-03-add-person")
        words.role(page, "button", "Add and issue a PIN").click()
        pin = page.locator("p.pin").inner_text().strip()
        heading = page.get_by_role("heading", level=1)
        code = re.search(r"U\d{4,}", heading.inner_text()).group(0)
        assert re.fullmatch(r"\d{6}", pin)
        words.says(heading, "New person %(code)s", code=code)
        shot(page, f"{lang}-task-04-pin-shown-once")

        # Enrol a finger with the simulated sensor's Touch and Lift buttons on the enrolment page.
        words.role(page, "link", "Done: go to %(code)s", code=code).click()
        page.wait_for_url(re.compile(f"/people/{code}$"))
        words.role(page, "link", "Enrol a finger").click()
        page.wait_for_url(re.compile(f"/people/{code}/finger$"))
        words.role(page, "button", "Start enrolment").click()
        step = page.locator("ol.steps li[data-step]")
        expect(page.locator("li[data-step=place_finger]")).to_have_attribute("data-state", "current", timeout=30_000)
        words.says(page.locator("ol.steps"), "Place the finger on the sensor.")
        words.says(page.locator("#enrol-message"), "Place the finger on the sensor.")
        words.role(page, "button", "Touch the sensor").click()
        expect(page.locator("li[data-step=lift_finger]")).to_have_attribute("data-state", "current", timeout=30_000)
        words.says(page.locator("#enrol-message"), "Lift the finger.")
        words.role(page, "button", "Lift your finger").click()
        expect(page.locator("li[data-step=place_again]")).to_have_attribute("data-state", "current", timeout=30_000)
        words.says(page.locator("#enrol-message"), "Place the same finger again.")
        words.role(page, "button", "Touch the sensor").click()
        expect(page.locator("#enrol-result")).to_be_visible(timeout=30_000)
        assert {s.get_attribute("data-state") for s in step.all()} == {"done"}, page.locator("#enrol").inner_text()
        words.says(page.locator("#enrol-message"), "Fingerprint stored.")
        slot = re.search(r"\d+", page.locator("#enrol-result").inner_text())
        assert slot, "the page tells the sensor slot the finger is stored in"
        words.says(page.locator("#enrol-result"), "Done: stored in sensor slot %(slot)s.", slot=slot.group(0))
        shot(page, f"{lang}-task-05-finger-enrolled")
        with page.expect_response(lambda r: "/finger/sim/lift" in r.url):  # take the finger off the sensor
            page.locator("form[action*='/finger/sim/lift'] button").evaluate("b => b.form.requestSubmit()")

        # Open the door on the virtual door panel with the PIN shown once (the keys show their digits).
        with page.expect_response(lambda r: r.url.endswith("/status.json")):  # the panel knows the last decision
            words.role(page.locator("#site-menu"), "link", "Door panel").click()
        expect(words.role(page, "heading", "Virtual door panel")).to_be_visible()
        # Keys typed while the keypad's feedback still sounds (the enrolment's beeps) are not read: wait it out.
        page.wait_for_function("() => document.getElementById('buzzer').dataset.on === 'no'", timeout=30_000)
        for key in pin + "#":
            page.locator(".keypad button").filter(has_text=re.compile(f"^{re.escape(key)}$")).click()
        outcome = page.locator("#panel-outcome")
        expect(outcome).to_have_attribute("data-result", "granted", timeout=60_000)
        words.says(outcome, "Granted")
        relay = page.locator("#st-relay").inner_text()
        if relay not in (words("energised (unlocked)"), words("off (locked)")):
            words.problem(f"the panel's relay state is not in {LANGUAGE_NAMES[lang]}: {relay!r}")
        shot(page, f"{lang}-task-06-door-opened-on-the-panel")

        # Find the entry in the entry log by the person's name.
        words.role(page.locator("#site-menu"), "link", "Entry log").click()
        page.wait_for_url(re.compile(r"/log$"))
        words.label(page, "Find a person (name or code)").fill(name)
        words.role(page, "button", "Show").click()
        page.wait_for_url(re.compile(r"/log\?.*q="))
        found = page.locator("#search-result")
        assert name in found.inner_text() and code in found.inner_text(), found.inner_text()
        words.says(found, "Entries of %(count)s person:", count=1)
        granted = page.locator("table.events tr.granted").filter(has_text=code)
        expect(granted.first).to_be_visible()
        assert name in granted.first.inner_text(), "an admin reads the entry with the person's name"
        shot(page, f"{lang}-task-07-log-found-by-name")

        # Export the log as CSV with the page's link and read it back: machine columns, the grant, no name.
        with page.expect_download() as download_info:
            page.locator("p.exports").get_by_role("link", name="CSV", exact=True).click()
        text = Path(download_info.value.path()).read_text(encoding="utf-8")
        rows = list(csv.reader(io.StringIO(text)))
        assert rows and rows[0][:3] == ["seq", "time", "type"], rows[:1]
        records = list(csv.DictReader(io.StringIO(text)))
        assert any(r["type"] == "access.granted" and r["user"] == code for r in records), text[-2000:]
        assert name not in text, "the export carries codes, not names"
        assert download_info.value.suggested_filename.endswith(".csv")
        shot(page, f"{lang}-task-08-after-csv-export")
    except Exception:
        shot(page, f"{lang}-task-failed")
        print("".join(site.output[-40:]))
        raise
    finally:
        context.close()
    words.assert_spoken()


def overflow(page) -> int:
    """How many pixels the page scrolls sideways (0 when it fits)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "dashboard"


def visit_every_page(browser, site, viewport: dict[str, int], kind: str) -> dict[str, dict]:
    """Log in as the admin and as the auditor (each in the site's language), open every page of the menu and
    the extra ones; screenshot ``<lang>-<kind>-<role>-<page>.png``. Returns per page: overflow, lang, English."""
    lang = site.lang
    words = Words(lang, site.catalogue)
    seen: dict[str, dict] = {}

    def look(page, key: str) -> None:
        body = page.locator("body").inner_text()
        seen[key] = {"overflow": overflow(page), "lang": page.locator("html").get_attribute("lang"),
                     "english": sorted(set(ENGLISH_RE.findall(body)) | set(page.evaluate(STATES_JS, ENGLISH_STATES)))}
        shot(page, f"{lang}-{kind}-{key}")

    for role, username, password in (("admin", "demo", site.admin_password),
                                     ("auditor", "auditor", site.auditor_password)):
        context, page = new_page(browser, viewport)
        try:
            if role == "admin":
                page.goto(site.url + "/login")
                look(page, "login")
            log_in(page, site, words, username, password)
            choose_language(page, site, words, lang)
            menu = page.locator("#site-menu nav a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
            toggle = words.role(page, "button", "Menu")
            if toggle.is_visible():  # a phone: the longer Indonesian menu words, opened
                toggle.click()
                look(page, f"{role}-menu-open")
            for path in dict.fromkeys([h for h in menu if h.startswith("/")] + EXTRA[role]):
                page.goto(site.url + path)
                look(page, f"{role}-{slug(path)}")
        finally:
            context.close()
    seen["words"] = {"problems": words.problems}
    return seen


def test_every_page_fits_a_phone_without_sideways_scrolling(browser, site):
    seen = visit_every_page(browser, site, PHONE, "phone")
    seen.pop("words")
    for key in ("login", "admin-dashboard", "admin-people", "admin-log", "admin-panel", "admin-settings",
                "admin-groups", "admin-schedules", "admin-holidays", "admin-staff", "auditor-log", "auditor-audit"):
        assert key in seen, f"{key} was not visited: {sorted(seen)}"
    too_wide = {key: page["overflow"] for key, page in seen.items() if page["overflow"] > 1}
    assert not too_wide, f"pages that scroll sideways at 375 px in {site.lang} (px too wide): {too_wide}"


def test_every_page_on_a_desktop_is_in_the_language(browser, site):
    """Desktop screenshots; every page says ``<html lang>``; in Indonesian no menu or button word in English."""
    seen = visit_every_page(browser, site, DESKTOP, "desktop")
    problems = seen.pop("words")["problems"]
    wrong_lang = {key: page["lang"] for key, page in seen.items() if page["lang"] != site.lang}
    assert not wrong_lang, f"pages whose <html lang> is not {site.lang!r}: {wrong_lang}"
    if site.lang == "id":
        english = {key: page["english"] for key, page in seen.items() if page["english"]}
        assert not english and not problems, (
            f"English words on Indonesian pages: {english}; elements in English: {problems}")
