"""Finger enrolment with the page's own Touch/Lift buttons and the virtual door panel's dots and outcomes
(issue 15 item 6), in headless Chromium against ``kunci demo`` (simulated hardware).

Screenshots go to ``test-artifacts/browser/``.
"""

from __future__ import annotations

import re
import time

# ruff: noqa: F811 (the fixtures imported below are the tests' parameters)
from tests.browser.test_browser import browser, demo, login, page, shot, wait_for_text  # noqa: F401 (fixtures)


def _add_person(page, demo, name: str) -> tuple[str, str]:
    page.goto(demo.url + "/people/new")
    page.get_by_label("Name (optional, shown to admins only)").fill(name)
    page.get_by_label("Confidentiality agreement signed on").fill(time.strftime("%Y-%m-%d"))
    page.get_by_role("button", name="Add and issue a PIN").click()
    pin = page.locator("p.pin").inner_text().strip()
    code = re.search(r"U\d{4,}", page.get_by_role("heading").first.inner_text()).group(0)
    return code, pin


def _states(page) -> dict[str, str]:
    return {li.get_attribute("data-step"): li.get_attribute("data-state") or ""
            for li in page.locator("ol.steps li[data-step]").all()}


def _expect_states(page, **wanted: str) -> None:
    """Wait until each named step shows its state (the page's script sets them after the server's message)."""
    from playwright.sync_api import expect

    for step, state in wanted.items():
        expect(page.locator(f"ol.steps li[data-step='{step}']")).to_have_attribute("data-state", state, timeout=30_000)


def test_enrol_with_the_pages_touch_and_lift_buttons_then_a_failure_offers_start_again(page, demo):
    login(page, demo)
    code, _pin = _add_person(page, demo, "Enrol Tester")
    page.goto(demo.url + f"/people/{code}/finger")
    page.get_by_role("button", name="Start enrolment").click()
    wait_for_text(page, "#enrol-message", "place the finger")
    _expect_states(page, place_finger="current")
    assert "done" not in _states(page).values()
    shot(page, "enrol-01-place")

    page.get_by_role("button", name="Touch the sensor").click()
    wait_for_text(page, "#enrol-message", "lift the finger", timeout_s=30)
    _expect_states(page, place_finger="done", lift_finger="current")  # 'Lift' must not tick before the lift
    shot(page, "enrol-02-lift")

    page.get_by_role("button", name="Lift your finger").click()
    wait_for_text(page, "#enrol-message", "same finger again", timeout_s=30)
    _expect_states(page, lift_finger="done", place_again="current")
    assert _states(page)["storing"] == ""

    page.get_by_role("button", name="Touch the sensor").click()
    wait_for_text(page, "#enrol-message", "fingerprint stored", timeout_s=30)
    _expect_states(page, place_finger="done", lift_finger="done", place_again="done", storing="done")
    assert not page.get_by_role("button", name="Start again").is_visible()
    assert not page.get_by_role("button", name="Touch the sensor").is_visible()
    shot(page, "enrol-03-stored")
    page.locator("form[action*='/finger/sim/lift'] button").evaluate("b => b.form.requestSubmit()")  # release it

    # The same person's simulated finger again: the sensor already holds it, so the enrolment fails.
    page.goto(demo.url + f"/people/{code}/finger")
    page.get_by_role("button", name="Start enrolment").click()
    wait_for_text(page, "#enrol-message", "place the finger")
    page.get_by_role("button", name="Touch the sensor").click()
    wait_for_text(page, "#enrol-result", "failed: .*already enrolled", timeout_s=30)
    again = page.get_by_role("button", name="Start again")
    assert again.is_visible()
    shot(page, "enrol-04-failed-start-again")
    page.locator("form[action*='/finger/sim/lift'] button").evaluate("b => b.form.requestSubmit()")
    again.click()
    wait_for_text(page, "#enrol-message", "place the finger|contacting")
    assert page.get_by_role("button", name="Touch the sensor").is_visible()


def _press(panel, keys: str) -> None:
    for key in keys:
        panel.get_by_role("button", name=f"Key {key}", exact=True).click()


def _wait_dots(panel, count: int) -> None:
    deadline = time.monotonic() + 20
    while panel.locator("#panel-dots").get_attribute("data-count") != str(count):
        assert time.monotonic() < deadline, f"the panel never showed {count} dots"
        panel.wait_for_timeout(100)


def _wait_feedback_over(panel) -> None:
    """Until the keypad's feedback (the buzzer) has ended and the relay is off again."""
    panel.wait_for_function(
        "() => document.getElementById('buzzer').dataset.on === 'no'"
        " && /off/.test(document.getElementById('st-relay').textContent)", timeout=30_000)


def test_the_panel_shows_dots_and_says_granted_wrong_pin_and_locked_out_until(page, demo):
    login(page, demo)
    code, pin = _add_person(page, demo, "Panel Tester")
    page.goto(demo.url + "/panel")
    wait_for_text(page, "#st-door", "closed|open|locked")

    _press(page, pin[:3])
    _wait_dots(page, 3)
    dots = page.locator("#panel-dots").inner_text()
    assert dots == "\u25cf" * 3 and not re.search(r"\d", dots), "dots, never the digits"
    shot(page, "panel-01-dots")
    _press(page, pin[3:] + "#")
    wait_for_text(page, "#panel-outcome", "^granted$", timeout_s=60)
    _wait_dots(page, 0)
    assert pin not in page.locator("main").inner_text()
    shot(page, "panel-02-granted")

    wrong = "000000" if pin != "000000" else "111111"
    _wait_feedback_over(page)
    _press(page, wrong + "#")
    wait_for_text(page, "#panel-outcome", "^refused: wrong PIN$", timeout_s=60)
    shot(page, "panel-03-wrong-pin")

    for _ in range(2):  # pin.lockout_after_failures is 3 in the demo
        _wait_feedback_over(page)  # keys typed while the refusal beeps are not read
        page.locator("#panel-outcome").evaluate("el => { el.removeAttribute('data-result'); el.textContent = ''; }")
        _press(page, wrong + "#")
        page.wait_for_function("() => document.getElementById('panel-outcome').hasAttribute('data-result')",
                               timeout=60_000)
    text = wait_for_text(page, "#panel-outcome", r"^locked out until \d\d:\d\d$", timeout_s=60)
    assert re.search(r"until \d\d:\d\d", page.locator("#st-lockout").inner_text())
    shot(page, "panel-04-locked-out")
    assert code not in text
