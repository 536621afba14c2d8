"""Browser tests: Playwright driving Debian's chromium against a real ``kunci demo``.

The demo runs as a subprocess exactly as a newcomer starts it (simulated hardware, daemon and
HTTPS admin web); its banner gives the URL, the admin login and the demo person's PIN. The
test walks what the issue asks a person to be able to do in a minute: log in, add a person
(PIN shown once), enrol a finger from the page, open the door with the virtual keypad, find the
event in the entry log and export it as CSV. Screenshots go to ``test-artifacts/browser/``.

Skips when chromium is missing, except with ``KUNCI_REQUIRE_BROWSER=1`` (set by ``.ci/run``),
where a missing browser is a failure.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from controller.cli.demo_cmd import STOP_TIMEOUT_SECONDS
from controller.slow_stop import ABORT_SECONDS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

if CHROMIUM is None:
    if os.environ.get("KUNCI_REQUIRE_BROWSER") == "1":
        pytest.fail("chromium is required for the browser tests (KUNCI_REQUIRE_BROWSER=1)", pytrace=False)
    pytest.skip("chromium is not installed (apt-get install chromium)", allow_module_level=True)


class Demo:
    """A running ``kunci demo`` and what its banner told us."""

    def __init__(self, data: Path, *extra: str) -> None:
        self.data = data
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "controller", "demo", "--data", str(data), "--port", "0", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.banner = self._read_banner()
        # Keep reading what the demo prints (its daemon's and web's log lines): a pipe nobody drains fills
        # up and then blocks the daemon's next log line, and with it the door loop.
        self.output: list[str] = []
        self._drainer = threading.Thread(target=self._drain, name="demo-output", daemon=True)
        self._drainer.start()
        self.url = re.search(r"Admin web\s+(https://\S+)", self.banner).group(1).rstrip("/")
        self.admin_password = re.search(r"demo / (\S+)", self.banner).group(1)
        self.auditor_password = re.search(r"auditor / (\S+)", self.banner).group(1)

    def _read_banner(self) -> str:
        lines: list[str] = []
        deadline = time.monotonic() + 60
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("Ctrl-C stops"):
                return "".join(lines)
        self.stop()
        raise AssertionError("kunci demo printed no banner:\n" + "".join(lines))

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)

    def kunci(self, *args: str) -> str:
        out = subprocess.run([sys.executable, "-m", "controller", *args, "--data", str(self.data)],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout

    def stop(self) -> int:
        """Ctrl-C and wait: longer than the demo waits for its children (and their stacks after SIGABRT), so a
        stuck child's stacks are in :attr:`output` when this returns."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_SECONDS + ABORT_SECONDS + 15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def assert_stops_cleanly(self) -> None:
        """Ctrl-C; the demo must exit 0 (else the failure shows its last output, with any stuck child's stacks)."""
        code = self.stop()
        self._drainer.join(timeout=10)  # the demo has ended: its output ends too
        assert code == 0, (f"kunci demo did not stop cleanly on Ctrl-C (exit {code}); its last output:\n"
                           + "".join(self.output[-120:]))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    running = Demo(tmp_path_factory.mktemp("browser") / "kunci-demo")
    yield running
    running.assert_stops_cleanly()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 900},
                                  accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    yield pg
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}-final.png"), full_page=True)
    context.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def login(page, demo: Demo, username: str = "demo", password: str | None = None) -> None:
    page.goto(demo.url + "/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password or demo.admin_password)
    page.get_by_role("button", name=re.compile("log in", re.I)).click()
    page.wait_for_url(re.compile(r"/$|/dashboard"))


def wait_for_text(page, selector: str, pattern: str, timeout_s: float = 20) -> str:
    deadline = time.monotonic() + timeout_s
    text = ""
    while time.monotonic() < deadline:
        text = page.locator(selector).inner_text()
        if re.search(pattern, text, re.I):
            return text
        page.wait_for_timeout(200)
    raise AssertionError(f"{selector} never matched {pattern!r}; last text {text!r}")


def test_a_newcomer_adds_a_person_enrols_a_finger_opens_the_door_and_finds_it_in_the_log(page, demo, browser):
    login(page, demo)
    shot(page, "01-dashboard")
    assert page.get_by_role("heading", name="Dashboard").is_visible()

    # Add a person: the PIN is shown once.
    page.goto(demo.url + "/people/new")
    page.get_by_label("Name (optional, shown to admins only)").fill("Browser Tester")
    page.get_by_label("Confidentiality agreement signed on").fill(time.strftime("%Y-%m-%d"))
    page.get_by_role("button", name="Add and issue a PIN").click()
    pin = page.locator("p.pin").inner_text().strip()
    code = re.search(r"U\d{4,}", page.get_by_role("heading").first.inner_text()).group(0)
    assert re.fullmatch(r"\d{6}", pin)
    shot(page, "02-pin-shown-once")
    page.reload()  # post/redirect/get: a reload shows nothing and adds nobody
    assert "PIN already shown" in page.content() and pin not in page.content()
    page.goto(demo.url + f"/people/{code}")
    assert pin not in page.content(), "the PIN must never be shown again"

    # Enrol a finger from the page, touching the simulated sensor from the virtual panel in a second tab.
    page.goto(demo.url + f"/people/{code}/finger")
    page.get_by_role("button", name="Start enrolment").click()
    panel = page.context.new_page()
    panel.goto(demo.url + "/panel")
    wait_for_text(page, "#enrol-message", "place the finger")
    panel.get_by_role("button", name="Finger B").click()
    wait_for_text(page, "#enrol-message", "lift|same finger")
    wait_for_text(page, "#enrol-message", "same finger", timeout_s=30)
    panel.get_by_role("button", name="Finger B").click()
    wait_for_text(page, "#enrol-message", "fingerprint stored|enrolled", timeout_s=30)
    shot(page, "03-finger-enrolled")

    # Open the door with the virtual keypad: the relay is energised and the green LED lights.
    panel.wait_for_timeout(1500)  # let finger B's touch end (the sim lifts it after a second)
    for key in pin + "#":
        panel.get_by_role("button", name=f"Key {key}", exact=True).click()
    wait_for_text(panel, "#st-relay", "energised", timeout_s=60)  # seven web round trips on a loaded box
    shot(panel, "04-door-open-from-panel")

    # The finger opens it too.
    panel.wait_for_timeout(6000)  # relock after the unlock time
    wait_for_text(panel, "#st-relay", "off")
    panel.get_by_role("button", name="Finger B").click()
    wait_for_text(panel, "#st-relay", "energised", timeout_s=60)
    panel.close()

    # Find the events in the entry log.
    page.goto(demo.url + f"/log?user={code}")
    table = page.locator("table").first.inner_text()
    assert "access.granted" in table and code in table and "pin" in table and "finger" in table
    assert "Browser Tester" in table, "an admin reads the entry as a sentence with the person's name"
    shot(page, "05-entry-log")

    # Export CSV: the column names first (the anchor names the last column), the grant is in it, no name.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="CSV").click()
    path = download_info.value.path()
    text = Path(path).read_text(encoding="utf-8")
    reader = csv.DictReader(io.StringIO(text))
    assert (reader.fieldnames or [])[:3] == ["seq", "time", "type"]
    assert (reader.fieldnames or [""])[-1].startswith("kunci anchor seq=")
    assert any(row["type"] == "access.granted" and row["user"] == code for row in reader)
    assert "Browser Tester" not in text
    assert download_info.value.suggested_filename.endswith(".csv")


def test_the_auditor_sees_the_log_but_not_people_or_names(page, demo):
    login(page, demo, "auditor", demo.auditor_password)
    page.goto(demo.url + "/log")
    assert page.get_by_role("heading", name=re.compile("log", re.I)).first.is_visible()
    assert "Demo Person" not in page.locator("main").inner_text(), "auditors read codes, never names"
    response = page.goto(demo.url + "/people")
    assert response.status == 403
    shot(page, "06-auditor-refused")


def test_the_people_search_lists_matches_as_you_type(page, demo):
    from playwright.sync_api import expect

    from controller.cli.demo_cmd import DEMO_PERSON_NAME

    login(page, demo)
    page.goto(demo.url + "/people")
    fragment = DEMO_PERSON_NAME.split()[-1][1:4].lower()  # a piece from inside the name ("ers")
    page.get_by_label("Search by code or name").press_sequentially(fragment, delay=40)
    results = page.locator("#live-results")
    expect(results).to_contain_text(DEMO_PERSON_NAME)  # Playwright waits for the debounced fetch
    link = results.get_by_role("link", name=re.compile(r"^U\d{4,}$")).first
    code = link.inner_text()
    assert page.url.endswith("/people"), "found without submitting the form"
    shot(page, "07-people-search-as-you-type")
    link.click()
    page.wait_for_url(re.compile(f"/people/{code}$"))


def test_wrong_pins_on_the_panel_lock_the_keypad(page, demo):
    login(page, demo)
    page.goto(demo.url + "/panel")
    for _ in range(3):
        page.get_by_label("Type several keys").fill("000000#")
        page.get_by_role("button", name="Send keys").click()
        page.wait_for_timeout(300)
    wait_for_text(page, "#st-lockout", "active")
    assert "locked" in page.locator("#st-relay").inner_text()
    shot(page, "07-keypad-locked-out")


def test_an_admin_starts_a_lockdown_from_the_dashboard_sees_the_red_banner_and_ends_it(page, demo, tmp_path):
    login(page, demo)
    page.locator("#f-lockdown-reason").fill("fire drill in the records room")
    page.get_by_label(re.compile("I confirm: refuse every")).check()
    page.get_by_role("button", name="Start lockdown").click()
    page.wait_for_url(re.compile(r"/$"))
    banner = page.locator("#lockdown-banner")
    assert "LOCKDOWN" in banner.inner_text() and "fire drill in the records room" in banner.inner_text()
    color = banner.evaluate("el => getComputedStyle(el).backgroundColor")
    assert color == "rgb(176, 13, 13)", color  # red
    assert "ON: every credential is refused" in page.locator("#door-lockdown").inner_text()
    page.screenshot(path=str(tmp_path / "lockdown-banner.png"), full_page=True)
    shot(page, "09-lockdown-banner")
    page.goto(demo.url + "/log")
    assert page.locator("#lockdown-banner").is_visible(), "the banner is on every staff page"
    page.goto(demo.url + "/")
    page.locator("#f-lockdown-end-reason").fill("drill over")
    page.get_by_role("button", name="End lockdown").click()
    page.wait_for_url(re.compile(r"/$"))
    assert "Lockdown ended" in page.locator("main").inner_text()
    assert page.locator("#lockdown-banner").count() == 0
    assert page.locator("#door-lockdown").inner_text().strip() == "off"
    page.screenshot(path=str(tmp_path / "lockdown-ended.png"), full_page=True)


def test_the_pages_fit_a_phone_screen(browser, demo):
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 375, "height": 740},
                                  is_mobile=True)
    pg = context.new_page()
    try:
        login(pg, demo)
        for path in ("/", "/people", "/log", "/panel"):
            pg.goto(demo.url + path)
            overflow = pg.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            shot(pg, f"08-phone{path.replace('/', '-') or '-dashboard'}")
            assert overflow <= 1, f"{path} scrolls sideways on a phone ({overflow}px)"
    finally:
        context.close()
