"""Phone layout: every admin page at 375 x 740 px fits the screen, with a menu that folds away.

Drives Debian's chromium against its own ``kunci demo`` (fixtures from ``test_browser.py``). For an
admin and for an auditor it visits every page the menu links to plus the pages reached from them
(new person, a person, import, finger enrolment, password, the error pages) and asserts that none
scrolls sideways: ``scrollWidth <= innerWidth + 1``. Wide tables either become cards or scroll
inside their own box; the chart scales to its box. A forced door raises an alarm whose Acknowledge
button must be on screen. Each page's screenshot goes to ``test-artifacts/browser/phone-<page>.png``.
"""

from __future__ import annotations

import re

import pytest

from tests.browser.test_browser import ARTIFACTS, browser, demo, login, wait_for_text  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PHONE = {"width": 375, "height": 740}

#: Pages a menu link does not lead to directly, by role.
ADMIN_EXTRA = ["/login", "/people/new", "/people/U0001", "/people/import", "/people/U0001/finger",
               "/account/password", "/no-such-page"]
AUDITOR_EXTRA = ["/account/password", "/people"]  # /people: the 403 page


def phone(browser, **options):  # noqa: F811 (the browser fixture)
    context = browser.new_context(ignore_https_errors=True, viewport=PHONE, **options)
    page = context.new_page()
    page.set_default_timeout(20_000)
    return context, page


def overflow(page) -> int:
    """How many pixels the page scrolls sideways (0 when it fits)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def shot_name(role: str, path: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "dashboard"
    return f"phone-{role}-{slug}"


def menu_paths(page, base_url: str) -> list[str]:
    """The paths of the main menu's links (opening the menu first), so a page added to it is checked too."""
    page.get_by_role("button", name="Menu").click()
    hrefs = page.locator("#site-menu nav a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    page.get_by_role("button", name="Menu").click()
    return [h for h in hrefs if h.startswith("/")]


def check_pages(page, demo, role: str, extra: list[str]) -> dict[str, int]:  # noqa: F811
    paths = list(dict.fromkeys(menu_paths(page, demo.url) + extra))
    widths = {}
    for path in paths:
        if path == "/login":
            continue
        page.goto(demo.url + path)
        widths[path] = overflow(page)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{shot_name(role, path)}.png"), full_page=True)
    return widths


@pytest.fixture(scope="module")
def stocked(demo):  # noqa: F811
    """The demo with a schedule, a group and a holiday, so their tables have rows to lay out."""
    demo.kunci("schedule", "add", "office-hours", "--window", "mon-fri 08:00-18:00", "--window", "sat 09:00-13:00")
    demo.kunci("group", "add", "archivists", "--schedule", "office-hours")
    demo.kunci("holiday", "add", "2031-08-17", "--name", "Independence Day")
    return demo


def test_every_admin_page_fits_a_phone_without_sideways_scrolling(browser, stocked):  # noqa: F811
    context, page = phone(browser)
    try:
        page.goto(stocked.url + "/login")
        login_overflow = overflow(page)
        page.screenshot(path=str(ARTIFACTS / "phone-login.png"), full_page=True)
        login(page, stocked)
        widths = check_pages(page, stocked, "admin", ADMIN_EXTRA)
    finally:
        context.close()
    assert login_overflow <= 1, f"the login page scrolls sideways by {login_overflow}px"
    for path in ("/", "/people", "/groups", "/schedules", "/holidays", "/log", "/audit", "/review", "/visitors",
                 "/settings", "/staff", "/panel"):
        assert path in widths, f"{path} is not in the menu any more: {sorted(widths)}"
    too_wide = {path: px for path, px in widths.items() if px > 1}
    assert not too_wide, f"pages that scroll sideways on a phone (px too wide): {too_wide}"


def test_every_auditor_page_fits_a_phone_without_sideways_scrolling(browser, demo):  # noqa: F811
    context, page = phone(browser)
    try:
        login(page, demo, "auditor", demo.auditor_password)
        widths = check_pages(page, demo, "auditor", AUDITOR_EXTRA)
    finally:
        context.close()
    assert {"/", "/log", "/audit", "/review"} <= set(widths)
    too_wide = {path: px for path, px in widths.items() if px > 1}
    assert not too_wide, f"pages that scroll sideways on a phone (px too wide): {too_wide}"


def test_the_menu_folds_into_one_line_and_opens_with_its_button_or_the_keyboard(browser, demo):  # noqa: F811
    context, page = phone(browser)
    try:
        login(page, demo)
        toggle = page.get_by_role("button", name="Menu")
        menu = page.locator("#site-menu")
        header_height = page.locator("header.top").bounding_box()["height"]
        assert header_height <= 60, f"the closed menu's header is {header_height}px high (one line is enough)"
        assert toggle.get_attribute("aria-expanded") == "false" and not menu.is_visible()

        toggle.click()
        assert toggle.get_attribute("aria-expanded") == "true"
        assert page.get_by_role("link", name="Entry log", exact=True).is_visible()
        assert page.get_by_role("button", name="Log out").is_visible()
        assert overflow(page) <= 1
        links_height = page.locator("#site-menu nav ul").bounding_box()["height"]
        nav_height = page.locator("#site-menu nav").bounding_box()["height"]
        assert nav_height <= links_height + 2, f"the open menu has {nav_height - links_height:.0f}px of empty space"
        page.screenshot(path=str(ARTIFACTS / "phone-menu-open.png"))
        toggle.click()
        assert toggle.get_attribute("aria-expanded") == "false" and not menu.is_visible()

        toggle.focus()
        page.keyboard.press("Enter")
        assert menu.is_visible()
        page.keyboard.press("Escape")
        assert not menu.is_visible() and toggle.get_attribute("aria-expanded") == "false"
        assert page.evaluate("document.activeElement.classList.contains('nav-toggle')")
        page.keyboard.press("Space")
        assert menu.is_visible()
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "Dashboard", "the menu follows its button"
    finally:
        context.close()


def test_without_javascript_the_menu_stays_open(browser, demo):  # noqa: F811
    context, page = phone(browser, java_script_enabled=False)
    try:
        login(page, demo)
        assert page.get_by_role("link", name="Entry log", exact=True).is_visible()
        assert not page.locator("button.nav-toggle").is_visible()
        assert overflow(page) <= 1
        page.screenshot(path=str(ARTIFACTS / "phone-menu-without-javascript.png"))
    finally:
        context.close()


def test_a_forced_door_alarm_can_be_acknowledged_on_a_phone(browser, demo):  # noqa: F811
    demo.kunci("sim", "door", "open")  # no grant: the daemon raises door_forced
    demo.kunci("sim", "door", "close")
    context, page = phone(browser)
    try:
        login(page, demo)
        wait_for_text(page, "#live", "door forced")
        button = page.get_by_role("button", name="Acknowledge").first
        box = button.bounding_box()
        width = page.evaluate("window.innerWidth")
        assert box is not None and 0 <= box["x"] and box["x"] + box["width"] <= width, (
            f"the Acknowledge button is off screen: {box} in a {width}px window")
        assert overflow(page) <= 1
        button.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "phone-alarm-acknowledge.png"))
        button.click()
        page.wait_for_load_state()
        assert page.get_by_role("button", name="Acknowledge").count() == 0, "acknowledged from the phone"
    finally:
        context.close()


def test_the_chart_fits_its_box_and_shows_the_latest_hour(browser, demo):  # noqa: F811
    context, page = phone(browser)
    try:
        login(page, demo)
        figure = page.locator("figure.chart").bounding_box()
        svg = page.locator("figure.chart svg").bounding_box()
        width = page.evaluate("window.innerWidth")
        assert svg["x"] >= figure["x"] and svg["x"] + svg["width"] <= figure["x"] + figure["width"] + 0.5
        assert figure["x"] + figure["width"] <= width
        # The last hour's slot ends at the plot's right edge: the whole plot is on screen, not scrolled off.
        plot_right = page.locator("figure.chart line.axis").bounding_box()
        assert plot_right["x"] + plot_right["width"] <= width
    finally:
        context.close()
