"""The site admin page in headless Chromium: the real ``kunci site web`` process on a real PostgreSQL site.

The site is made as an operator makes it (``controller.site.setup.init_site``: site.toml, the pepper and the
database password in SITE/secrets, the schema migrated), seeded with two controllers in two rooms, groups and
staff logins (``tests/site_web/conftest.py``), then ``kunci site web --site DIR --port 0`` serves it over HTTPS.
In English and in Bahasa Indonesia (the login's own choice, made with the page's language button): log in, add a
person in a group, read the PIN shown once, find the person in the list, look at the groups and the doors and
controllers pages. Screenshots: ``test-artifacts/browser/site-<lang>-<step>.png``.

Skips like the other browser tests without chromium (fails with ``KUNCI_REQUIRE_BROWSER=1``), and like the site
tests without PostgreSQL (fails with ``KUNCI_REQUIRE_POSTGRES``).
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.polling import wait_for
from tests.browser.test_browser import ARTIFACTS, browser  # noqa: F401 (the browser fixture; skips without chromium)
from tests.site.conftest import site_db  # noqa: F401 (the fixture)
from tests.site_web.conftest import HASHER, PASSWORD, seed

# ruff: noqa: F811 (the fixtures imported above are the tests' parameters)
pytestmark = [pytest.mark.browser, pytest.mark.slow]


class SitePage:
    """A running ``kunci site web`` and its URL."""

    def __init__(self, site: Path, port_file: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "controller", "site", "web", "--site", str(site),
                                      "--port", "0", "--port-file", str(port_file)],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            wait_for(lambda: self.proc.poll() is not None or port_file.exists(), timeout=60, what="kunci site web")
        except AssertionError:
            pass  # said just below, with what the process printed
        if not port_file.exists():
            self.stop()
            raise AssertionError("kunci site web did not start:\n" + (self.proc.stdout.read() or ""))
        self.url = f"https://127.0.0.1:{int(port_file.read_text())}"

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture
def site_page(site_db: Any, tmp_path: Path) -> Iterator[SitePage]:
    from controller.site.service import SiteService
    from controller.site.setup import init_site

    directory = tmp_path / "site"
    init_site(directory, site_db.settings(), site_db.password)
    seed(SiteService.for_site(directory, hasher=HASHER))
    running = SitePage(directory, tmp_path / "port")
    yield running
    assert running.stop() == 0, "kunci site web did not stop cleanly on Ctrl-C"


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"site-{name}.png"), full_page=True)


@pytest.mark.parametrize("lang", ["en", "id"])
def test_an_admin_logs_in_adds_a_person_in_a_group_reads_the_pin_and_finds_the_person(site_page: SitePage,
                                                                                     browser: Any, lang: str) -> None:
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        page.goto(site_page.url + "/login")
        shot(page, f"{lang}-01-login")
        page.locator("#f-username").fill("boss")
        page.locator("#f-password").fill(PASSWORD)
        page.locator("main button[type=submit]").click()
        page.wait_for_url(re.compile(r"/people/$"))
        if lang == "id":
            page.get_by_role("button", name="Bahasa Indonesia").click()
            page.wait_for_url(re.compile(r"/people/$"))
            assert page.locator("html").get_attribute("lang") == "id"
            assert page.get_by_role("heading", level=1).inner_text() == "Personel di lokasi"
        else:
            assert page.get_by_role("heading", level=1).inner_text() == "People of the site"

        page.goto(site_page.url + "/people/new")
        page.locator("#f-name").fill(f"Browser Tester {lang}")
        page.locator("#f-group").select_option("clerks")
        page.locator("main form button[type=submit]").click()
        page.wait_for_url(re.compile(r"/people/pin-once/"))
        pin = page.locator("#pin").inner_text().strip()
        code = re.search(r"U\d{4,}", page.get_by_role("heading", level=1).inner_text()).group(0)
        assert re.fullmatch(r"\d{6}", pin)
        shot(page, f"{lang}-02-pin-shown-once")
        page.reload()
        assert pin not in page.content()

        page.goto(site_page.url + "/people/?q=" + f"tester {lang}")
        table = page.locator("#people").inner_text()
        assert code in table and f"Browser Tester {lang}" in table and "clerks" in table and pin not in table
        shot(page, f"{lang}-03-people")
        page.goto(site_page.url + "/groups/")
        shot(page, f"{lang}-04-groups")
        page.goto(site_page.url + "/doors/")
        assert "c1" in page.locator("#controllers").inner_text()
        shot(page, f"{lang}-05-doors")
        page.goto(site_page.url + "/events/")
        shot(page, f"{lang}-06-events")

        page.set_viewport_size({"width": 375, "height": 740})  # a phone: no page scrolls sideways
        for step, path in (("people", "/people/"), ("groups", "/groups/"), ("doors", "/doors/")):
            page.goto(site_page.url + path)
            assert page.evaluate("document.documentElement.scrollWidth") <= 375, path
            shot(page, f"{lang}-07-phone-{step}")
    finally:
        context.close()
