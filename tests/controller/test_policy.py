"""Pure access policy: every reason code, the check order, dates and schedules in the site timezone."""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from controller.core import policy
from controller.core.policy import (
    Context,
    Decision,
    DoorMode,
    DoorView,
    Facts,
    Method,
    Reason,
    Rule,
    Schedule,
    Subject,
    Window,
    schedule_allows,
)

UTC = timezone.utc
LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")

#: Wednesday 17 June 2026, 12:00 UTC (13:00 in London, 08:00 in New York).
WED_NOON = datetime(2026, 6, 17, 12, 0, tzinfo=UTC)

OFFICE = Schedule(tuple(Window(d, 8 * 60, 18 * 60) for d in range(5)))  # Mon-Fri 08:00-18:00
DAILY = Schedule(tuple(Window(d, 8 * 60, 18 * 60) for d in range(7)))  # every day 08:00-18:00
ALL_DAY = Schedule(tuple(Window(d, 0, 1440) for d in range(7)))


def person(
    status: str = "active",
    valid_from: date | None = None,
    valid_until: date | None = None,
    schedule: Schedule | None = None,
    mode_override: DoorMode | None = None,
) -> Subject:
    return Subject("U0001", status, valid_from, valid_until, schedule, mode_override)


def door(mode: DoorMode = DoorMode.PIN_OR_FINGER, lockdown: bool = False) -> DoorView:
    return DoorView("main", mode, lockdown)


def ctx(tz: ZoneInfo = LONDON, **kw: object) -> Context:
    return Context(tz, **kw)  # type: ignore[arg-type]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def decide(method: Method, subject: Subject | None, view: DoorView, now: datetime, context: Context,
           **facts: object) -> Decision:
    """policy.decide on the facts of one attempt (the extra facts default to a quiet door)."""
    return policy.decide(Facts(method, subject, view, now, context, **facts))  # type: ignore[arg-type]


def test_reason_codes_are_the_public_contract() -> None:
    assert {r.value for r in Reason} == {
        "granted", "unknown_credential", "suspended", "revoked", "not_yet_valid", "expired",
        "outside_schedule", "locked_out", "second_factor_required", "lockdown", "clock_untrusted",
        "method_not_allowed", "log_unavailable", "holiday", "second_person_required", "escort_required",
        "door_not_allowed", "site_stale",
    }


# One row per reason code: (method, subject, door, now, context) -> reason.
REASONS = [
    ("granted", Method.PIN, person(), door(), WED_NOON, ctx(), Reason.GRANTED),
    ("unknown_credential", Method.PIN, None, door(), WED_NOON, ctx(), Reason.UNKNOWN_CREDENTIAL),
    ("suspended", Method.PIN, person("suspended"), door(), WED_NOON, ctx(), Reason.SUSPENDED),
    ("unknown_status_is_denied", Method.PIN, person("pending"), door(), WED_NOON, ctx(), Reason.SUSPENDED),
    ("revoked", Method.FINGER, person("revoked"), door(), WED_NOON, ctx(), Reason.REVOKED),
    ("not_yet_valid", Method.PIN, person(valid_from=date(2026, 6, 18)), door(), WED_NOON, ctx(), Reason.NOT_YET_VALID),
    ("expired", Method.PIN, person(valid_until=date(2026, 6, 16)), door(), WED_NOON, ctx(), Reason.EXPIRED),
    ("outside_schedule", Method.PIN, person(schedule=OFFICE), door(), utc(2026, 6, 17, 17, 0), ctx(), Reason.OUTSIDE_SCHEDULE),
    ("locked_out", Method.PIN, person(), door(), WED_NOON, ctx(locked_out=True), Reason.LOCKED_OUT),
    ("second_factor_required", Method.PIN, person(), door(DoorMode.PIN_AND_FINGER), WED_NOON, ctx(), Reason.SECOND_FACTOR_REQUIRED),
    ("lockdown", Method.PIN, person(), door(lockdown=True), WED_NOON, ctx(), Reason.LOCKDOWN),
    ("clock_untrusted", Method.PIN, person(schedule=OFFICE), door(), WED_NOON, ctx(clock_trusted=False), Reason.CLOCK_UNTRUSTED),
    ("method_not_allowed", Method.FINGER, person(), door(DoorMode.PIN), WED_NOON, ctx(), Reason.METHOD_NOT_ALLOWED),
]


@pytest.mark.parametrize(("method", "subject", "view", "now", "context", "reason"),
                         [r[1:] for r in REASONS], ids=[r[0] for r in REASONS])
def test_every_reason_code(method, subject, view, now, context, reason) -> None:
    decision = decide(method, subject, view, now, context)
    assert decision == Decision(reason is Reason.GRANTED, reason)
    assert decision.reason == reason.value  # a plain string for the event log


# The first failing check wins.
ORDER = [
    ("lockdown_beats_locked_out", Method.PIN, None, door(lockdown=True), ctx(locked_out=True), Reason.LOCKDOWN),
    ("locked_out_beats_unknown", Method.PIN, None, door(), ctx(locked_out=True), Reason.LOCKED_OUT),
    ("locked_out_beats_revoked", Method.PIN, person("revoked"), door(), ctx(locked_out=True), Reason.LOCKED_OUT),
    ("revoked_beats_expired", Method.PIN, person("revoked", valid_until=date(2020, 1, 1)), door(), ctx(), Reason.REVOKED),
    ("suspended_beats_not_yet_valid", Method.PIN, person("suspended", valid_from=date(2030, 1, 1)), door(), ctx(), Reason.SUSPENDED),
    ("expired_beats_clock_untrusted", Method.PIN, person(valid_until=date(2020, 1, 1)), door(), ctx(clock_trusted=False), Reason.EXPIRED),
    ("clock_untrusted_beats_schedule", Method.PIN, person(schedule=Schedule(())), door(), ctx(clock_trusted=False), Reason.CLOCK_UNTRUSTED),
    ("schedule_beats_mode", Method.FINGER, person(schedule=Schedule(())), door(DoorMode.PIN), ctx(), Reason.OUTSIDE_SCHEDULE),
    ("schedule_beats_second_factor", Method.PIN, person(schedule=Schedule(())), door(DoorMode.PIN_AND_FINGER), ctx(), Reason.OUTSIDE_SCHEDULE),
    ("remote_ignores_lockout", Method.REMOTE, None, door(), ctx(locked_out=True), Reason.GRANTED),
    ("remote_ignores_mode", Method.REMOTE, None, door(DoorMode.PIN_AND_FINGER), ctx(clock_trusted=False), Reason.GRANTED),
    ("remote_refused_by_lockdown", Method.REMOTE, None, door(lockdown=True), ctx(), Reason.LOCKDOWN),
]


@pytest.mark.parametrize(("method", "subject", "view", "context", "reason"),
                         [r[1:] for r in ORDER], ids=[r[0] for r in ORDER])
def test_check_order(method, subject, view, context, reason) -> None:
    assert decide(method, subject, view, WED_NOON, context).reason == reason


# Validity dates are local dates in the site timezone; valid_until is inclusive through 23:59:59.
DATES = [
    ("until_last_second_bst", LONDON, dict(valid_until=date(2026, 6, 30)), utc(2026, 6, 30, 22, 59, 59), Reason.GRANTED),
    ("until_next_local_day_bst", LONDON, dict(valid_until=date(2026, 6, 30)), utc(2026, 6, 30, 23, 0, 0), Reason.EXPIRED),
    ("until_last_second_est", NEW_YORK, dict(valid_until=date(2026, 1, 15)), utc(2026, 1, 16, 4, 59, 59), Reason.GRANTED),
    ("until_next_local_day_est", NEW_YORK, dict(valid_until=date(2026, 1, 15)), utc(2026, 1, 16, 5, 0, 0), Reason.EXPIRED),
    ("from_local_midnight_bst", LONDON, dict(valid_from=date(2026, 7, 1)), utc(2026, 6, 30, 23, 0, 0), Reason.GRANTED),
    ("from_before_local_midnight", LONDON, dict(valid_from=date(2026, 7, 1)), utc(2026, 6, 30, 22, 59, 59), Reason.NOT_YET_VALID),
    ("from_utc_date_is_not_local_date", NEW_YORK, dict(valid_from=date(2026, 7, 1)), utc(2026, 7, 1, 3, 0), Reason.NOT_YET_VALID),
    ("until_29_feb_last_second", LONDON, dict(valid_until=date(2028, 2, 29)), utc(2028, 2, 29, 23, 59, 59), Reason.GRANTED),
    ("until_29_feb_then_1_march", LONDON, dict(valid_until=date(2028, 2, 29)), utc(2028, 3, 1, 0, 0, 0), Reason.EXPIRED),
    ("from_29_feb", LONDON, dict(valid_from=date(2028, 2, 29)), utc(2028, 2, 28, 23, 59, 59), Reason.NOT_YET_VALID),
    ("single_day_pass", LONDON, dict(valid_from=date(2026, 6, 17), valid_until=date(2026, 6, 17)), WED_NOON, Reason.GRANTED),
]


@pytest.mark.parametrize(("tz", "dates", "now", "reason"), [r[1:] for r in DATES], ids=[r[0] for r in DATES])
def test_validity_dates_in_site_timezone(tz, dates, now, reason) -> None:
    assert decide(Method.PIN, person(**dates), door(), now, ctx(tz)).reason == reason


# Schedules: wall time in the site timezone; end exclusive; DST both ways; midnight.
SCHEDULES = [
    # window edges (London summer: local = UTC + 1)
    ("start_inclusive", OFFICE, LONDON, utc(2026, 6, 17, 7, 0, 0), True),
    ("before_start", OFFICE, LONDON, utc(2026, 6, 17, 6, 59, 59), False),
    ("last_second_inside", OFFICE, LONDON, utc(2026, 6, 17, 16, 59, 59), True),
    ("end_exclusive", OFFICE, LONDON, utc(2026, 6, 17, 17, 0, 0), False),
    ("weekend_denied", OFFICE, LONDON, utc(2026, 6, 20, 12, 0), False),
    # midnight: a window to 1440 covers 23:59:59; two windows bridge midnight
    ("to_midnight_last_second", Schedule((Window(2, 22 * 60, 1440),)), UTC, utc(2026, 6, 17, 23, 59, 59), True),
    ("midnight_is_next_day", Schedule((Window(2, 22 * 60, 1440),)), UTC, utc(2026, 6, 18, 0, 0, 0), False),
    ("bridge_before_midnight", Schedule((Window(2, 22 * 60, 1440), Window(3, 0, 120))), UTC, utc(2026, 6, 17, 23, 30), True),
    ("bridge_after_midnight", Schedule((Window(2, 22 * 60, 1440), Window(3, 0, 120))), UTC, utc(2026, 6, 18, 1, 30), True),
    ("bridge_end", Schedule((Window(2, 22 * 60, 1440), Window(3, 0, 120))), UTC, utc(2026, 6, 18, 2, 0), False),
    ("start_at_midnight", Schedule((Window(3, 0, 60),)), UTC, utc(2026, 6, 18, 0, 0, 0), True),
    # London spring forward, Sunday 29 March 2026 01:00 UTC (01:00 GMT -> 02:00 BST)
    ("london_sat_before_gmt_0759", DAILY, LONDON, utc(2026, 3, 28, 7, 59, 59), False),
    ("london_sat_before_gmt_0800", DAILY, LONDON, utc(2026, 3, 28, 8, 0), True),
    ("london_spring_day_bst_0800", DAILY, LONDON, utc(2026, 3, 29, 7, 0), True),
    ("london_spring_day_bst_0759", DAILY, LONDON, utc(2026, 3, 29, 6, 59, 59), False),
    ("london_spring_day_bst_1759", DAILY, LONDON, utc(2026, 3, 29, 16, 59, 59), True),
    ("london_spring_day_bst_1800", DAILY, LONDON, utc(2026, 3, 29, 17, 0), False),
    ("london_skipped_hour_window_before", Schedule((Window(6, 60, 120),)), LONDON, utc(2026, 3, 29, 0, 59, 59), False),
    ("london_skipped_hour_window_after", Schedule((Window(6, 60, 120),)), LONDON, utc(2026, 3, 29, 1, 0), False),
    # London fall back, Sunday 25 October 2026 01:00 UTC (02:00 BST -> 01:00 GMT): 01:xx happens twice
    ("london_repeated_hour_first", Schedule((Window(6, 60, 120),)), LONDON, utc(2026, 10, 25, 0, 30), True),
    ("london_repeated_hour_second", Schedule((Window(6, 60, 120),)), LONDON, utc(2026, 10, 25, 1, 30), True),
    ("london_after_repeated_hour", Schedule((Window(6, 60, 120),)), LONDON, utc(2026, 10, 25, 2, 0), False),
    ("london_before_repeated_hour", Schedule((Window(6, 60, 120),)), LONDON, utc(2026, 10, 24, 23, 59, 59), False),
    ("london_sat_before_fall_bst_0800", DAILY, LONDON, utc(2026, 10, 24, 7, 0), True),
    ("london_fall_day_gmt_0759", DAILY, LONDON, utc(2026, 10, 25, 7, 59, 59), False),
    ("london_fall_day_gmt_0800", DAILY, LONDON, utc(2026, 10, 25, 8, 0), True),
    # New York spring forward, Sunday 8 March 2026 07:00 UTC (02:00 EST -> 03:00 EDT)
    ("ny_sat_est_0759", DAILY, NEW_YORK, utc(2026, 3, 7, 12, 59, 59), False),
    ("ny_sat_est_0800", DAILY, NEW_YORK, utc(2026, 3, 7, 13, 0), True),
    ("ny_spring_day_edt_0800", DAILY, NEW_YORK, utc(2026, 3, 8, 12, 0), True),
    ("ny_spring_day_edt_0759", DAILY, NEW_YORK, utc(2026, 3, 8, 11, 59, 59), False),
    ("ny_spring_day_edt_1800", DAILY, NEW_YORK, utc(2026, 3, 8, 22, 0), False),
    ("ny_skipped_hour_before", Schedule((Window(6, 120, 180),)), NEW_YORK, utc(2026, 3, 8, 6, 59, 59), False),
    ("ny_skipped_hour_after", Schedule((Window(6, 120, 180),)), NEW_YORK, utc(2026, 3, 8, 7, 0), False),
    # New York fall back, Sunday 1 November 2026 06:00 UTC (02:00 EDT -> 01:00 EST)
    ("ny_repeated_hour_first", Schedule((Window(6, 60, 120),)), NEW_YORK, utc(2026, 11, 1, 5, 30), True),
    ("ny_repeated_hour_second", Schedule((Window(6, 60, 120),)), NEW_YORK, utc(2026, 11, 1, 6, 30), True),
    ("ny_after_repeated_hour", Schedule((Window(6, 60, 120),)), NEW_YORK, utc(2026, 11, 1, 7, 0), False),
    ("ny_fall_day_est_0800", DAILY, NEW_YORK, utc(2026, 11, 1, 13, 0), True),
    ("ny_fall_day_est_0759", DAILY, NEW_YORK, utc(2026, 11, 1, 12, 59, 59), False),
    # weekday is the local weekday: Wednesday 23:30 in New York is Thursday in UTC
    ("local_weekday_not_utc_weekday", Schedule((Window(2, 23 * 60, 1440),)), NEW_YORK, utc(2026, 6, 18, 3, 30), True),
]


@pytest.mark.parametrize(("schedule", "tz", "now", "allowed"), [r[1:] for r in SCHEDULES], ids=[r[0] for r in SCHEDULES])
def test_schedule_in_site_timezone(schedule, tz, now, allowed) -> None:
    expected = Reason.GRANTED if allowed else Reason.OUTSIDE_SCHEDULE
    assert decide(Method.PIN, person(schedule=schedule), door(), now, ctx(tz)).reason == expected


HOLIDAYS = [
    # 29 February 2028 is a Tuesday
    ("holiday_29_feb_denied", ALL_DAY, LONDON, frozenset({date(2028, 2, 29)}), utc(2028, 2, 29, 12, 0), Reason.HOLIDAY),
    ("day_after_holiday", ALL_DAY, LONDON, frozenset({date(2028, 2, 29)}), utc(2028, 3, 1, 0, 0), Reason.GRANTED),
    ("holiday_allowed", Schedule(ALL_DAY.windows, allow_on_holidays=True), LONDON, frozenset({date(2028, 2, 29)}),
     utc(2028, 2, 29, 12, 0), Reason.GRANTED),
    ("allowed_holiday_still_uses_windows", Schedule(OFFICE.windows, allow_on_holidays=True), LONDON,
     frozenset({date(2028, 2, 29)}), utc(2028, 2, 29, 20, 0), Reason.OUTSIDE_SCHEDULE),
    # holiday by local date: 22:00 on 25 Dec in New York is already 26 Dec in UTC
    ("holiday_local_date_evening", ALL_DAY, NEW_YORK, frozenset({date(2026, 12, 25)}), utc(2026, 12, 26, 3, 0), Reason.HOLIDAY),
    ("eve_in_new_york", ALL_DAY, NEW_YORK, frozenset({date(2026, 12, 25)}), utc(2026, 12, 25, 3, 0), Reason.GRANTED),
    ("holiday_ignored_without_schedule", None, LONDON, frozenset({date(2028, 2, 29)}), utc(2028, 2, 29, 12, 0), Reason.GRANTED),
]


@pytest.mark.parametrize(("schedule", "tz", "holidays", "now", "reason"), [r[1:] for r in HOLIDAYS], ids=[r[0] for r in HOLIDAYS])
def test_holidays(schedule, tz, holidays, now, reason) -> None:
    assert decide(Method.PIN, person(schedule=schedule), door(), now, ctx(tz, holidays=holidays)).reason == reason


UNTRUSTED = [
    ("unrestricted_allowed", person(), True, Reason.GRANTED),
    ("unrestricted_allowed_untrusted", person(), False, Reason.GRANTED),
    ("schedule_denied", person(schedule=ALL_DAY), False, Reason.CLOCK_UNTRUSTED),
    ("valid_from_denied", person(valid_from=date(2020, 1, 1)), False, Reason.CLOCK_UNTRUSTED),
    ("valid_until_denied", person(valid_until=date(2030, 1, 1)), False, Reason.CLOCK_UNTRUSTED),
    ("restricted_trusted_allowed", person(schedule=ALL_DAY, valid_until=date(2030, 1, 1)), True, Reason.GRANTED),
]


@pytest.mark.parametrize(("subject", "trusted", "reason"), [r[1:] for r in UNTRUSTED], ids=[r[0] for r in UNTRUSTED])
def test_untrusted_clock_denies_only_restricted_subjects(subject, trusted, reason) -> None:
    assert decide(Method.PIN, subject, door(), WED_NOON, ctx(clock_trusted=trusted)).reason == reason


G, SF, NA = Reason.GRANTED, Reason.SECOND_FACTOR_REQUIRED, Reason.METHOD_NOT_ALLOWED
MODES = [
    (DoorMode.PIN, Method.PIN, G), (DoorMode.PIN, Method.FINGER, NA),
    (DoorMode.PIN, Method.PIN_AND_FINGER, G), (DoorMode.PIN, Method.REMOTE, G),
    (DoorMode.FINGER, Method.PIN, NA), (DoorMode.FINGER, Method.FINGER, G),
    (DoorMode.FINGER, Method.PIN_AND_FINGER, G), (DoorMode.FINGER, Method.REMOTE, G),
    (DoorMode.PIN_OR_FINGER, Method.PIN, G), (DoorMode.PIN_OR_FINGER, Method.FINGER, G),
    (DoorMode.PIN_OR_FINGER, Method.PIN_AND_FINGER, G), (DoorMode.PIN_OR_FINGER, Method.REMOTE, G),
    (DoorMode.PIN_AND_FINGER, Method.PIN, SF), (DoorMode.PIN_AND_FINGER, Method.FINGER, SF),
    (DoorMode.PIN_AND_FINGER, Method.PIN_AND_FINGER, G), (DoorMode.PIN_AND_FINGER, Method.REMOTE, G),
]


@pytest.mark.parametrize(("mode", "method", "reason"), MODES, ids=[f"{m.value}-{x.value}" for m, x, _ in MODES])
def test_door_mode_by_method(mode, method, reason) -> None:
    assert decide(method, person(), door(mode), WED_NOON, ctx()).reason == reason


@pytest.mark.parametrize(("mode", "method", "reason"), MODES, ids=[f"{m.value}-{x.value}" for m, x, _ in MODES])
def test_mode_override_replaces_door_mode(mode, method, reason) -> None:
    # The door says the opposite; the person's override wins.
    other = DoorMode.PIN_AND_FINGER if mode is not DoorMode.PIN_AND_FINGER else DoorMode.PIN_OR_FINGER
    assert decide(method, person(mode_override=mode), door(other), WED_NOON, ctx()).reason == reason


def test_strings_from_the_database_are_accepted() -> None:
    subject = Subject("U0002", "active", None, None, None, "pin_and_finger")  # type: ignore[arg-type]
    view = DoorView("main", "pin")  # type: ignore[arg-type]
    assert decide("pin", subject, view, WED_NOON, ctx()).reason == "second_factor_required"  # type: ignore[arg-type]


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError):
        decide(Method.PIN, person(), door(), datetime(2026, 6, 17, 12, 0), ctx())


@pytest.mark.parametrize(("local", "allowed"), [
    (datetime(2026, 3, 29, 1, 30), True),  # nonexistent in London, naive
    (datetime(2026, 3, 29, 1, 30, tzinfo=LONDON), True),  # nonexistent, aware
    (datetime(2026, 10, 25, 1, 30, tzinfo=LONDON, fold=0), True),  # ambiguous, first
    (datetime(2026, 10, 25, 1, 30, tzinfo=LONDON, fold=1), True),  # ambiguous, second
    (datetime(2026, 3, 29, 2, 0, tzinfo=LONDON), False),
])
def test_schedule_allows_reads_wall_fields_without_crashing(local, allowed) -> None:
    sunday_one_to_two = Schedule((Window(6, 60, 120),))
    assert schedule_allows(sunday_one_to_two, local, frozenset()) is allowed


@pytest.mark.parametrize(("weekday", "start", "end"), [
    (7, 0, 60), (-1, 0, 60), (0, -1, 60), (0, 1440, 1440), (0, 0, 0), (0, 0, 1441), (0, 600, 600), (0, 1200, 60),
])
def test_invalid_windows_are_refused(weekday, start, end) -> None:
    with pytest.raises(ValueError):
        Window(weekday, start, end)


@pytest.mark.parametrize(("granted", "reason"), [(True, "expired"), (False, "granted"), (False, "no_such_reason")])
def test_inconsistent_decisions_are_refused(granted, reason) -> None:
    with pytest.raises(ValueError):
        Decision(granted, reason)


# The rules that used to be decided outside policy (issue 11): tamper hold, minimum match score, the
# pairing of two factors, "no log, no entry", remote unlock. One row each: facts -> (reason, rule).
RULES = [
    ("tamper_hold_refuses_a_pin", Method.PIN, person(), door(), dict(tamper_hold=True), Reason.LOCKDOWN, Rule.TAMPER),
    ("tamper_hold_refuses_a_finger", Method.FINGER, person(), door(), dict(tamper_hold=True), Reason.LOCKDOWN, Rule.TAMPER),
    ("tamper_hold_refuses_unknown_too", Method.PIN, None, door(), dict(tamper_hold=True), Reason.LOCKDOWN, Rule.TAMPER),
    ("tamper_hold_beats_locked_out", Method.PIN, person(), door(), dict(tamper_hold=True, context=ctx(locked_out=True)),
     Reason.LOCKDOWN, Rule.TAMPER),
    ("door_lockdown_beats_tamper_hold", Method.PIN, person(), door(lockdown=True), dict(tamper_hold=True), Reason.LOCKDOWN, None),
    ("remote_not_refused_by_tamper_hold", Method.REMOTE, None, door(), dict(tamper_hold=True), Reason.GRANTED, None),
    ("score_below_minimum", Method.FINGER, None, door(), dict(score=40, min_match_score=60), Reason.UNKNOWN_CREDENTIAL,
     Rule.BELOW_MIN_SCORE),
    ("score_below_minimum_with_a_person", Method.FINGER, person(), door(), dict(score=59, min_match_score=60),
     Reason.UNKNOWN_CREDENTIAL, Rule.BELOW_MIN_SCORE),
    ("score_at_minimum", Method.FINGER, person(), door(), dict(score=60, min_match_score=60), Reason.GRANTED, None),
    ("locked_out_beats_low_score", Method.FINGER, person(), door(), dict(score=1, min_match_score=60, context=ctx(locked_out=True)),
     Reason.LOCKED_OUT, None),
    ("pin_has_no_score", Method.PIN, person(), door(), dict(min_match_score=60), Reason.GRANTED, None),
    ("two_factors_same_person", Method.PIN_AND_FINGER, person(), door(DoorMode.PIN_AND_FINGER),
     dict(first_factor="U0001", score=80, min_match_score=60), Reason.GRANTED, None),
    ("two_factors_of_different_people", Method.PIN_AND_FINGER, person(), door(DoorMode.PIN_AND_FINGER),
     dict(first_factor="U0002"), Reason.UNKNOWN_CREDENTIAL, Rule.FACTORS_OF_DIFFERENT_PEOPLE),
    ("different_people_beats_revoked", Method.PIN_AND_FINGER, person("revoked"), door(DoorMode.PIN_AND_FINGER),
     dict(first_factor="U0002"), Reason.UNKNOWN_CREDENTIAL, Rule.FACTORS_OF_DIFFERENT_PEOPLE),
    ("pairing_still_checks_the_person", Method.PIN_AND_FINGER, person("suspended"), door(DoorMode.PIN_AND_FINGER),
     dict(first_factor="U0001"), Reason.SUSPENDED, None),
    ("no_log_no_entry", Method.PIN, person(), door(), dict(log_available=False), Reason.LOG_UNAVAILABLE, None),
    ("no_log_entry_allowed_when_setting_off", Method.PIN, person(), door(), dict(log_available=False, no_log_no_entry=False),
     Reason.GRANTED, None),
    ("no_log_keeps_the_true_denial", Method.PIN, person("revoked"), door(), dict(log_available=False), Reason.REVOKED, None),
    ("no_log_unknown_stays_unknown", Method.PIN, None, door(), dict(log_available=False), Reason.UNKNOWN_CREDENTIAL, None),
    ("remote_without_log", Method.REMOTE, None, door(), dict(log_available=False), Reason.LOG_UNAVAILABLE, None),
    ("remote_without_log_setting_off", Method.REMOTE, None, door(), dict(log_available=False, no_log_no_entry=False),
     Reason.GRANTED, None),
    ("remote_lockdown_beats_no_log", Method.REMOTE, None, door(lockdown=True), dict(log_available=False), Reason.LOCKDOWN, None),
]


@pytest.mark.parametrize(("method", "subject", "view", "facts", "reason", "rule"), [r[1:] for r in RULES],
                         ids=[r[0] for r in RULES])
def test_every_rule_is_an_input_of_decide(method, subject, view, facts, reason, rule) -> None:
    facts = dict(facts)
    context = facts.pop("context", ctx())
    decision = decide(method, subject, view, WED_NOON, context, **facts)
    assert (decision.granted, decision.reason, decision.rule) == (reason is Reason.GRANTED, reason, rule)


def test_a_decision_names_only_known_rules() -> None:
    with pytest.raises(ValueError):
        Decision(False, Reason.LOCKDOWN, "because")


# -- records-room rules (issue 13): lockdown override group, two-person rule ---------------------------------

GUARDS = "guards"


def member(code: str = "U0001", group: str | None = None) -> Subject:
    return Subject(code, "active", None, None, None, None, group)


@pytest.mark.parametrize(("method", "subject", "reason"), [
    (Method.PIN, member(group=GUARDS), Reason.GRANTED),
    (Method.FINGER, member(group=GUARDS), Reason.GRANTED),
    (Method.PIN, member(group="staff"), Reason.LOCKDOWN),
    (Method.PIN, member(group=None), Reason.LOCKDOWN),
    (Method.PIN, None, Reason.LOCKDOWN),  # an unknown PIN is refused as lockdown, not told apart
    (Method.REMOTE, None, Reason.LOCKDOWN),  # a remote unlock never overrides a lockdown
])
def test_a_lockdown_admits_only_the_override_group(method, subject, reason) -> None:
    view = DoorView("main", DoorMode.PIN_OR_FINGER, lockdown=True, lockdown_override_group=GUARDS)
    assert decide(method, subject, view, WED_NOON, ctx()).reason == reason


def test_the_override_group_still_obeys_every_other_rule() -> None:
    view = DoorView("main", DoorMode.PIN_OR_FINGER, lockdown=True, lockdown_override_group=GUARDS)
    suspended = Subject("U0001", "suspended", None, None, None, None, GUARDS)
    assert decide(Method.PIN, suspended, view, WED_NOON, ctx()).reason == Reason.SUSPENDED
    assert decide(Method.PIN, member(group=GUARDS), view, WED_NOON, ctx(locked_out=True)).reason == Reason.LOCKED_OUT


@pytest.mark.parametrize(("partner", "reason"), [
    (None, Reason.SECOND_PERSON_REQUIRED),  # alone
    ("U0001", Reason.SECOND_PERSON_REQUIRED),  # the same person twice
    ("U0002", Reason.GRANTED),  # another person's valid credential is waiting
])
def test_a_two_person_door_opens_only_for_two_different_people(partner, reason) -> None:
    view = DoorView("main", DoorMode.PIN_OR_FINGER, two_person=True)
    assert decide(Method.PIN, member("U0001"), view, WED_NOON, ctx(), partner=partner).reason == reason


def test_the_two_person_rule_comes_after_every_rule_of_the_person() -> None:
    view = DoorView("main", DoorMode.PIN_OR_FINGER, two_person=True)
    assert decide(Method.PIN, person("revoked"), view, WED_NOON, ctx(), partner="U0002").reason == Reason.REVOKED
    assert decide(Method.PIN, None, view, WED_NOON, ctx()).reason == Reason.UNKNOWN_CREDENTIAL
    fingers_only = DoorView("main", DoorMode.FINGER, two_person=True)
    assert decide(Method.PIN, member(), fingers_only, WED_NOON, ctx()).reason == Reason.METHOD_NOT_ALLOWED


# -- visitors (issue 13 item 5): a validity that ends at an instant, an escort group ------------------------

HOSTS = "hosts"


def visitor(until: datetime | None = utc(2026, 6, 17, 15, 0), escort: str | None = None, **kw: object) -> Subject:
    return Subject("U0009", "active", None, None, None, None, None, until, escort, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("now", "reason"), [
    (utc(2026, 6, 17, 14, 59, 59), Reason.GRANTED),  # the last second of the visit
    (utc(2026, 6, 17, 15, 0), Reason.EXPIRED),  # the visit ends at valid_until_at
    (utc(2026, 6, 18, 9, 0), Reason.EXPIRED),
])
def test_a_visit_ends_at_an_instant(now, reason) -> None:
    assert decide(Method.PIN, visitor(), door(), now, ctx()).reason == reason


def test_a_visit_end_must_be_aware() -> None:
    with pytest.raises(ValueError):
        visitor(until=datetime(2026, 6, 17, 15, 0))


@pytest.mark.parametrize(("present", "reason"), [
    (frozenset(), Reason.ESCORT_REQUIRED),  # alone
    (frozenset({"cleaners"}), Reason.ESCORT_REQUIRED),  # someone of another group
    (frozenset({HOSTS}), Reason.GRANTED),  # a host presented within the window
    (frozenset({"cleaners", HOSTS}), Reason.GRANTED),
])
def test_an_escorted_visitor_opens_only_after_a_member_of_the_escort_group(present, reason) -> None:
    decision = decide(Method.PIN, visitor(escort=HOSTS), door(), WED_NOON, ctx(), escort_groups_present=present)
    assert decision == Decision(reason is Reason.GRANTED, reason)


def test_a_visitor_without_an_escort_group_needs_nobody() -> None:
    assert decide(Method.PIN, visitor(), door(), WED_NOON, ctx()).reason == Reason.GRANTED


ESCORT_ORDER = [
    ("expired_beats_escort", visitor(until=utc(2026, 6, 17, 11, 0), escort=HOSTS), door(), ctx(), Reason.EXPIRED),
    ("suspended_beats_escort", Subject("U0009", "suspended", None, None, None, None, None, None, HOSTS), door(), ctx(),
     Reason.SUSPENDED),
    ("schedule_beats_escort", Subject("U0009", "active", None, None, Schedule(()), None, None, None, HOSTS), door(),
     ctx(), Reason.OUTSIDE_SCHEDULE),
    ("clock_untrusted_beats_escort", visitor(escort=HOSTS), door(), ctx(clock_trusted=False), Reason.CLOCK_UNTRUSTED),
    ("escort_beats_mode", visitor(escort=HOSTS), door(DoorMode.FINGER), ctx(), Reason.ESCORT_REQUIRED),
    ("escort_beats_second_factor", visitor(escort=HOSTS), door(DoorMode.PIN_AND_FINGER), ctx(), Reason.ESCORT_REQUIRED),
    ("escort_beats_two_person", visitor(escort=HOSTS), DoorView("main", DoorMode.PIN, two_person=True), ctx(),
     Reason.ESCORT_REQUIRED),
]


@pytest.mark.parametrize(("subject", "view", "context", "reason"), [r[1:] for r in ESCORT_ORDER],
                         ids=[r[0] for r in ESCORT_ORDER])
def test_the_escort_rule_comes_after_the_person_and_before_the_mode(subject, view, context, reason) -> None:
    assert decide(Method.PIN, subject, view, WED_NOON, context).reason == reason


def test_an_escorted_visitor_at_a_two_person_door_still_needs_a_second_person() -> None:
    view = DoorView("main", DoorMode.PIN, two_person=True)
    present = frozenset({HOSTS})
    assert decide(Method.PIN, visitor(escort=HOSTS), view, WED_NOON, ctx(),
                  escort_groups_present=present).reason == Reason.SECOND_PERSON_REQUIRED
    assert decide(Method.PIN, visitor(escort=HOSTS), view, WED_NOON, ctx(), escort_groups_present=present,
                  partner="U0001").reason == Reason.GRANTED


# -- required factors and the two-person rule per group (issue 13 item 1, 4) -----------------------------

def in_group(group_mode: DoorMode | None = None, two_person: bool = False) -> Subject:
    return Subject("U0001", "active", None, None, None, None, "vault", group_mode=group_mode,
                   group_two_person=two_person)


@pytest.mark.parametrize(("door_mode", "group_mode", "method", "reason"), [
    (DoorMode.PIN_OR_FINGER, DoorMode.PIN_AND_FINGER, Method.PIN, Reason.SECOND_FACTOR_REQUIRED),
    (DoorMode.PIN_OR_FINGER, DoorMode.PIN_AND_FINGER, Method.PIN_AND_FINGER, Reason.GRANTED),
    (DoorMode.PIN_OR_FINGER, DoorMode.FINGER, Method.PIN, Reason.METHOD_NOT_ALLOWED),
    (DoorMode.PIN_OR_FINGER, DoorMode.FINGER, Method.FINGER, Reason.GRANTED),
    (DoorMode.PIN, DoorMode.FINGER, Method.PIN, Reason.SECOND_FACTOR_REQUIRED),  # only both satisfy both
    (DoorMode.PIN, DoorMode.PIN_OR_FINGER, Method.FINGER, Reason.METHOD_NOT_ALLOWED),  # a laxer group loosens nothing
    (DoorMode.PIN_AND_FINGER, DoorMode.PIN, Method.PIN, Reason.SECOND_FACTOR_REQUIRED),
    (DoorMode.PIN_OR_FINGER, None, Method.PIN, Reason.GRANTED),
])
def test_the_stricter_of_the_door_mode_and_the_group_requirement_applies(door_mode, group_mode, method, reason):
    assert decide(method, in_group(group_mode), door(door_mode), WED_NOON, ctx()).reason == reason


def test_a_two_person_group_needs_a_second_person_at_any_door() -> None:
    plain = door(DoorMode.PIN_OR_FINGER)
    assert decide(Method.PIN, in_group(two_person=True), plain, WED_NOON, ctx()).reason == Reason.SECOND_PERSON_REQUIRED
    assert decide(Method.PIN, in_group(two_person=True), plain, WED_NOON, ctx(), partner="U0002").granted
    assert decide(Method.PIN, in_group(), plain, WED_NOON, ctx()).granted


# --- Several doors (issue 16): a group grants some doors of the controller; none listed = every door.


def granted_doors(doors: frozenset[str] | set[str] | None, status: str = "active", **kw: object) -> Subject:
    fields = {"valid_from": None, "valid_until": None, "schedule": None, **kw}
    return Subject("U0001", status, group="vault_staff", doors=doors, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(("doors", "door_name", "reason"), [
    (None, "main", Reason.GRANTED),  # no group rows: every door (the old behaviour)
    ({"main"}, "main", Reason.GRANTED),
    ({"main", "vault"}, "vault", Reason.GRANTED),
    ({"vault"}, "main", Reason.DOOR_NOT_ALLOWED),
    (frozenset(), "main", Reason.DOOR_NOT_ALLOWED),
], ids=["every_door", "listed", "one_of_two", "other_door", "empty_set_grants_nothing"])
def test_a_group_grants_only_its_doors(doors, door_name, reason) -> None:
    assert decide(Method.PIN, granted_doors(doors), DoorView(door_name, DoorMode.PIN_OR_FINGER), WED_NOON,
                  ctx()).reason == reason


def test_the_door_rule_comes_right_after_revoked_and_suspended() -> None:
    other = DoorView("main", DoorMode.PIN)
    assert decide(Method.PIN, granted_doors({"vault"}, "revoked"), other, WED_NOON, ctx()).reason == Reason.REVOKED
    assert decide(Method.PIN, granted_doors({"vault"}, "suspended"), other, WED_NOON, ctx()).reason == Reason.SUSPENDED
    expired = granted_doors({"vault"}, valid_until=date(2026, 1, 1))
    assert decide(Method.PIN, expired, other, WED_NOON, ctx()).reason == Reason.DOOR_NOT_ALLOWED
    assert decide(Method.FINGER, granted_doors({"vault"}), other, WED_NOON, ctx()).reason == Reason.DOOR_NOT_ALLOWED
    # a remote unlock is the admin's, not the person's: the door rule does not apply
    assert decide(Method.REMOTE, None, other, WED_NOON, ctx()).reason == Reason.GRANTED


def test_a_subjects_doors_are_a_frozenset() -> None:
    assert granted_doors(["main", "main"]).doors == frozenset({"main"})
