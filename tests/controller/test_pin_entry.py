"""PIN entry buffer (T1.1-T1.5): what a person at the keypad gets for each key sequence."""

from __future__ import annotations

import pytest

from controller.core.pin_entry import Cleared, Invalid, PinEntry, Submitted, TimedOut


def type_keys(entry: PinEntry, keys: str, t0: float = 0.0, gap: float = 0.3) -> list[object]:
    """Press ``keys`` one by one ``gap`` seconds apart; return the non-None results."""
    results = []
    for i, key in enumerate(keys):
        result = entry.feed(key, t0 + i * gap)
        if result is not None:
            results.append(result)
    return results


@pytest.mark.parametrize(("keys", "expected"), [
    ("123456#", [Submitted("123456")]),
    ("000123#", [Submitted("000123")]),  # T1.5 leading zeros kept
    ("123#", [Submitted("123")]),  # T1.2 short PIN is submitted (and simply fails the lookup)
    ("#", [Invalid("empty")]),  # T1.1
    ("12*#", [Cleared(), Invalid("empty")]),  # T1.3 '*' clears
    ("12*3456#", [Cleared(), Submitted("3456")]),
    ("12A3456#", [Invalid("bad_key"), Submitted("3456")]),  # T1.3 letters rejected and clear
    ("1B#", [Invalid("bad_key"), Invalid("empty")]),
    ("C", [Invalid("bad_key")]),
    ("D123#", [Invalid("bad_key"), Submitted("123")]),
    ("12#34#", [Submitted("12"), Submitted("34")]),
    ("123456789012#", [Submitted("123456789012")]),  # exactly max_digits
    ("1234567890123#", [Invalid("too_long"), Invalid("too_long")]),  # T1.2 13 digits
    ("1234567890123456#", [Invalid("too_long"), Invalid("too_long")]),
    ("1234567890123*55#", [Invalid("too_long"), Cleared(), Submitted("55")]),
])
def test_key_sequences(keys: str, expected: list[object]) -> None:
    assert type_keys(PinEntry(), keys) == expected


def test_leading_zeros_make_a_different_pin() -> None:
    a = type_keys(PinEntry(), "000123#")
    b = type_keys(PinEntry(), "123#")
    assert a == [Submitted("000123")] and b == [Submitted("123")] and a != b


def test_empty_submit_is_not_a_guess() -> None:
    entry = PinEntry()
    result = entry.feed("#", 0.0)
    assert isinstance(result, Invalid) and not isinstance(result, Submitted)
    assert result.reason == "empty"
    assert not entry.pending


def test_ten_thousand_presses_without_submit() -> None:
    entry = PinEntry(max_digits=12)
    results = type_keys(entry, "7" * 10_000, gap=0.05)
    assert results == [Invalid("too_long")]  # one rejection, the rest ignored
    assert entry.digit_count == 0 and entry.pending
    assert entry.feed("#", 10_000 * 0.05) == Invalid("too_long")  # never submitted
    assert not entry.pending
    assert type_keys(entry, "4321#", t0=600.0) == [Submitted("4321")]  # usable again


def test_overflow_ends_at_timeout() -> None:
    entry = PinEntry(max_digits=4, inter_digit_timeout_seconds=5.0)
    assert type_keys(entry, "12345") == [Invalid("too_long")]
    assert entry.poll(1.2 + 5.01) == TimedOut()
    assert type_keys(entry, "99#", t0=10.0) == [Submitted("99")]


def test_split_entry_across_timeout_fails() -> None:
    # T1.4: "123" then a pause longer than 5 s then "456#": only "456" is submitted.
    entry = PinEntry(inter_digit_timeout_seconds=5.0)
    type_keys(entry, "123", t0=0.0)
    assert entry.feed("4", 0.6 + 5.01) is None
    assert type_keys(entry, "56#", t0=6.0) == [Submitted("456")]


def test_gap_exactly_at_timeout_keeps_entry() -> None:
    entry = PinEntry(inter_digit_timeout_seconds=5.0)
    entry.feed("1", 0.0)
    entry.feed("2", 5.0)
    assert entry.poll(10.0) is None
    assert entry.feed("#", 10.0) == Submitted("12")


def test_poll_reports_timeout_once() -> None:
    entry = PinEntry(inter_digit_timeout_seconds=5.0)
    type_keys(entry, "12", t0=100.0)
    assert entry.pending
    assert entry.poll(104.0) is None
    assert entry.poll(105.4) == TimedOut()
    assert not entry.pending
    assert entry.poll(200.0) is None
    assert entry.feed("#", 200.0) == Invalid("empty")


def test_poll_without_entry_is_quiet() -> None:
    entry = PinEntry()
    assert entry.poll(0.0) is None and entry.poll(1e6) is None


def test_digits_never_appear_in_repr() -> None:
    entry = PinEntry()
    type_keys(entry, "987654")
    assert "987654" not in repr(entry)
    result = entry.feed("#", 3.0)
    assert result == Submitted("987654")
    assert "987654" not in repr(result) and "987654" not in str(result)


@pytest.mark.parametrize(("max_digits", "timeout"), [(0, 5.0), (12, 0.0), (12, -1.0)])
def test_bad_parameters_are_refused(max_digits: int, timeout: float) -> None:
    with pytest.raises(ValueError):
        PinEntry(max_digits, timeout)
