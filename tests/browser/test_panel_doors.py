"""The virtual door panel and the group door checkboxes with two doors (issue 16), in headless Chromium against
the real ``kunci demo --doors 2`` (simulated doors ``main`` and ``vault``).

The demo's configuration is written before it starts with a long unlock (30 s, the most allowed), so "the vault is unlocked
while main stays locked" is read while the vault's relay is certainly still on, not raced against a timer.
Screenshots go to ``test-artifacts/browser/`` (panel-two-doors.png, and at 375 px panel-two-doors-phone.png).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

# ruff: noqa: F811 (the fixtures imported below are the tests' parameters)
from tests.browser.test_browser import ARTIFACTS, Demo, browser, login, shot, wait_for_text  # noqa: F401

#: Seconds a grant keeps the strike unlocked in this demo (long enough to look at both doors meanwhile).
UNLOCK_SECONDS = 30


@pytest.fixture(scope="module")
def demo2(tmp_path_factory: pytest.TempPathFactory):
    from controller.config import default_config_text

    data = tmp_path_factory.mktemp("browser-doors") / "kunci-demo"
    data.mkdir(mode=0o750)
    text = default_config_text().replace("\nsimulated = false\n", "\nsimulated = true\n")
    for key in ("unlock_seconds", "extended_unlock_seconds", "max_unlock_seconds"):
        text, n = re.subn(rf"(?m)^{key} = [0-9.]+$", f"{key} = {UNLOCK_SECONDS}.0", text, count=1)
        assert n == 1, key
    (data / "kunci.toml").write_text(text, encoding="utf-8")
    (data / "kunci.toml").chmod(0o640)
    running = Demo(data, "--doors", "2")
    yield running
    running.assert_stops_cleanly()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    yield pg
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}-final.png"), full_page=True)
    context.close()


def _pin(demo: Demo) -> str:
    return re.search(r"Person\s+U\d+ with PIN (\d+)", demo.banner).group(1)


def _press(page, keys: str) -> None:
    for key in keys:
        page.get_by_role("button", name=f"Key {key}", exact=True).click()


def _status(page, demo: Demo, door: str | None = None) -> dict:
    url = demo.url + "/status.json" + (f"?door={door}" if door else "")
    return page.evaluate("url => fetch(url, {credentials: 'same-origin'}).then(r => r.json())", url)


def _door(status: dict, name: str) -> dict:
    return next(d for d in status["status"]["doors"] if d["name"] == name)


def _quiet(page) -> None:
    """Until the keypad's feedback (the buzzer) has ended: keys typed while it beeps are not read."""
    page.wait_for_function("() => document.getElementById('buzzer').dataset.on === 'no'", timeout=30_000)


def test_a_pin_typed_at_the_vault_opens_the_vault_and_main_stays_locked(page, demo2, browser):
    assert "--door vault" in demo2.banner  # the demo says how to reach the second door
    login(page, demo2)
    page.goto(demo2.url + "/panel")
    tabs = page.get_by_role("navigation", name="Doors")
    assert tabs.get_by_role("link").all_inner_texts() == ["Door main", "Door vault"]
    assert tabs.get_by_role("link", name="Door main").get_attribute("aria-current") == "page"
    tabs.get_by_role("link", name="Door vault").click()
    page.wait_for_url(re.compile(r"/panel\?door=vault$"))
    assert tabs.get_by_role("link", name="Door vault").get_attribute("aria-current") == "page"
    wait_for_text(page, "#st-door", "^locked$")
    assert page.locator("#h-state").inner_text() == "Door vault: state"

    _quiet(page)
    _press(page, _pin(demo2) + "#")
    wait_for_text(page, "#panel-outcome", "^granted$", timeout_s=60)
    wait_for_text(page, "#st-relay", "energised", timeout_s=30)
    wait_for_text(page, "#st-door", "^unlocked$", timeout_s=30)
    page.wait_for_function("() => document.getElementById('led-green').dataset.on === 'yes'", timeout=30_000)
    shot(page, "panel-two-doors")

    # Meanwhile main is locked: in the daemon's status, and on main's panel (which shows no decision).
    both = _status(page, demo2)
    assert (_door(both, "vault")["relay"], _door(both, "vault")["state"]) == (True, "unlocked")
    assert (_door(both, "main")["relay"], _door(both, "main")["state"]) == (False, "locked")
    assert _status(page, demo2, "main")["last_access"] is None
    vault = _status(page, demo2, "vault")["last_access"]
    assert (vault["result"], vault["method"]) == ("granted", "pin")
    page.get_by_role("navigation", name="Doors").get_by_role("link", name="Door main").click()
    page.wait_for_url(re.compile(r"/panel\?door=main$"))
    wait_for_text(page, "#st-relay", "off")
    assert page.locator("#st-door").inner_text() == "locked" and page.locator("#panel-outcome").is_hidden()
    assert page.locator("#led-green").get_attribute("data-on") == "no"
    shot(page, "panel-two-doors-main")

    # The same panel at phone width: the door links and the keypad fit, nothing scrolls sideways.
    phone = browser.new_context(ignore_https_errors=True, viewport={"width": 375, "height": 800})
    small = phone.new_page()
    try:
        login(small, demo2)
        small.goto(demo2.url + "/panel?door=vault")
        wait_for_text(small, "#st-relay", "energised", timeout_s=30)
        assert small.evaluate("() => document.documentElement.scrollWidth") <= 375
        box = small.get_by_role("navigation", name="Doors").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375
        shot(small, "panel-two-doors-phone")
    finally:
        phone.close()


def test_a_group_ticked_for_the_vault_only_is_refused_at_main_and_the_log_names_the_door(page, demo2):
    login(page, demo2)
    page.goto(demo2.url + "/groups")
    page.get_by_label("Group name").fill("Vault crew")
    page.get_by_role("button", name="Add group").click()
    doors = page.get_by_role("group", name="Doors Vault crew may open")
    doors.get_by_label("vault").check()
    doors.locator("xpath=..").get_by_role("button", name="Save").click()
    page.wait_for_load_state()
    doors = page.get_by_role("group", name="Doors Vault crew may open")
    assert doors.get_by_label("vault").is_checked() and not doors.get_by_label("main").is_checked()

    page.goto(demo2.url + "/people/new")
    page.get_by_label("Name (optional, shown to admins only)").fill("Vera Vault")
    page.get_by_label("Group").select_option("Vault crew")
    page.get_by_label("Confidentiality agreement signed on").fill(time.strftime("%Y-%m-%d"))
    page.get_by_role("button", name="Add and issue a PIN").click()
    pin = page.locator("p.pin").inner_text().strip()
    code = re.search(r"U\d{4,}", page.get_by_role("heading").first.inner_text()).group(0)

    page.goto(demo2.url + "/panel?door=main")
    wait_for_text(page, "#st-door", "locked|open")
    _quiet(page)
    _press(page, pin + "#")
    wait_for_text(page, "#panel-outcome", "^refused: the person's group does not grant this door$", timeout_s=60)
    shot(page, "panel-two-doors-not-allowed")
    main = _status(page, demo2, "main")["last_access"]
    assert (main["result"], main["reason"]) == ("denied", "door_not_allowed")

    page.goto(demo2.url + "/panel?door=vault")
    wait_for_text(page, "#st-door", "locked|open")
    _quiet(page)
    _press(page, pin + "#")
    wait_for_text(page, "#panel-outcome", "^granted$", timeout_s=60)

    page.goto(demo2.url + "/log")
    rows = page.locator("table.events tbody tr", has_text=code)
    refused = rows.filter(has=page.locator("td.door", has_text=re.compile("^main$")))
    assert refused.count() == 1
    assert re.search(r"Vera Vault \(U\d+\) refused: not allowed at this door", refused.inner_text())
    assert "reason door_not_allowed" in refused.inner_text()
    opened = rows.filter(has=page.locator("td.door", has_text=re.compile("^vault$")))
    assert opened.count() == 1
    assert page.locator("table.events thead").get_by_role("columnheader", name="Door").count() == 1
    shot(page, "log-two-doors")
    page.goto(demo2.url + "/log?door=main")
    assert page.locator("table.events tbody tr", has_text=code).count() == 1
    assert Path(ARTIFACTS / "panel-two-doors.png").exists()
