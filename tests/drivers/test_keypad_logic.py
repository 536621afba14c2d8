"""Pure keypad logic: matrix debouncing and ghost rejection, level debouncing, Wiegand decoding."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.keypad_logic import (
    LevelDebouncer,
    MatrixDebouncer,
    WiegandCard,
    WiegandDecoder,
    decode_card_frame,
)

NONE: frozenset[str] = frozenset()


def keys_from(scans: list[frozenset[str]], debounce_scans: int = 3) -> list[str]:
    deb = MatrixDebouncer(debounce_scans)
    out = []
    for i, scan in enumerate(scans):
        key = deb.feed(scan, i * 0.01)
        if key is not None:
            out.append(key)
    return out


def s(*keys: str) -> frozenset[str]:
    return frozenset(keys)


# ---------------------------------------------------------------- matrix debouncer

@pytest.mark.parametrize(
    ("name", "scans", "expected"),
    [
        ("single key", [s("5")] * 3 + [NONE] * 3, ["5"]),
        ("too short a press is no key", [s("5")] * 2 + [NONE] * 5, []),
        ("held key never repeats", [s("5")] * 50 + [NONE] * 3, ["5"]),
        ("press chatter collapses to one key", [s("1"), NONE, s("1"), NONE, s("1"), s("1"), s("1"), s("1")], ["1"]),
        (
            "release chatter collapses to one key",
            [s("1")] * 4 + [NONE, s("1"), NONE, NONE, s("1"), s("1"), s("1"), NONE, NONE, NONE],
            ["1"],
        ),
        ("same key again after a full release", [s("7")] * 3 + [NONE] * 3 + [s("7")] * 3, ["7", "7"]),
        ("release shorter than debounce: no repeat", [s("7")] * 3 + [NONE] * 2 + [s("7")] * 3, ["7"]),
        ("two keys down: nothing", [s("1", "2")] * 10 + [NONE] * 3, []),
        ("ghost 1,2,4 reads 5 too: nothing", [s("1", "2", "4", "5")] * 10 + [NONE] * 3, []),
        (
            "key left down after a combo is not accepted",
            [s("1", "2")] * 5 + [s("2")] * 10 + [NONE] * 3,
            [],
        ),
        (
            "combo while a key is being debounced cancels it",
            [s("1"), s("1"), s("1", "2"), s("1"), s("1"), s("1"), NONE, NONE, NONE],
            [],
        ),
        ("new key accepted after combo fully released", [s("1", "2")] * 3 + [NONE] * 3 + [s("3")] * 3, ["3"]),
        (
            "typing a PIN with clean releases",
            [scan for k in "123456#" for scan in [s(k)] * 4 + [NONE] * 4],
            list("123456#"),
        ),
    ],
)
def test_matrix_debouncer(name: str, scans: list[frozenset[str]], expected: list[str]) -> None:
    assert keys_from(scans) == expected, name


def test_matrix_debouncer_remembers_when_the_key_went_down() -> None:
    deb = MatrixDebouncer(3)
    deb.feed(s("9"), 1.00)
    deb.feed(s("9"), 1.01)
    assert deb.candidate_since == pytest.approx(1.00)
    assert deb.feed(s("9"), 1.02) == "9"


def test_matrix_debouncer_rejects_zero_scans() -> None:
    with pytest.raises(ValueError):
        MatrixDebouncer(0)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.frozensets(st.sampled_from(list("123456789*0#")), max_size=4),
        max_size=60,
    ),
    st.integers(min_value=1, max_value=4),
)
def test_matrix_debouncer_never_yields_while_several_keys_down(scans: list[frozenset[str]], n: int) -> None:
    deb = MatrixDebouncer(n)
    run = 0  # consecutive scans showing exactly this same single key
    for i, scan in enumerate(scans):
        run = (run + 1 if i and scans[i - 1] == scan else 1) if len(scan) == 1 else 0
        key = deb.feed(scan, i * 0.01)
        if key is not None:
            assert scan == {key}
            assert run >= n


# ---------------------------------------------------------------- level debouncer

@pytest.mark.parametrize(("glitch_s", "reported"), [(0.3, False), (0.5, True)])
def test_level_debouncer_reports_only_persistent_changes(glitch_s: float, reported: bool) -> None:
    deb = LevelDebouncer(False, 0.4, now=0.0)
    seen = [deb.update(True, 1.0)]
    seen += [deb.poll(1.0 + i * 0.01) for i in range(1, round(glitch_s * 100))]
    seen.append(deb.update(False, 1.0 + glitch_s))
    assert seen.count(True) == (1 if reported else 0)
    # Back to the old level: a glitch leaves nothing behind; a real change is undone only after the delay.
    assert deb.poll(1.0 + glitch_s + 0.39) is None
    assert deb.poll(1.0 + glitch_s + 0.41) is (False if reported else None)
    assert deb.level is False


def test_level_debouncer_zero_delay_reports_at_once() -> None:
    deb = LevelDebouncer(True, 0.0, now=0.0)
    assert deb.update(False, 0.5) is False


# ---------------------------------------------------------------- Wiegand

def bits_of(value: int, width: int) -> list[int]:
    return [(value >> (width - 1 - i)) & 1 for i in range(width)]


def feed(dec: WiegandDecoder, bits: list[int], start: float, interval: float = 0.002) -> float:
    t = start
    for b in bits:
        dec.add_bit(b, t)
        t += interval
    return t - interval


def card26(facility: int, number: int, *, break_parity: str = "") -> list[int]:
    payload = bits_of(facility, 8) + bits_of(number, 16)
    even = sum(payload[:12]) % 2
    odd = 1 - sum(payload[12:]) % 2
    if break_parity == "even":
        even ^= 1
    if break_parity == "odd":
        odd ^= 1
    return [even, *payload, odd]


def card34(facility: int, number: int) -> list[int]:
    payload = bits_of(facility, 16) + bits_of(number, 16)
    return [sum(payload[:16]) % 2, *payload, 1 - sum(payload[16:]) % 2]


@pytest.mark.parametrize(
    ("key", "value"),
    [(str(d), d) for d in range(10)] + [("*", 0xA), ("#", 0xB)],
)
def test_wiegand_4bit_keys(key: str, value: int) -> None:
    dec = WiegandDecoder(bits=4, gap_ms=25)
    last = feed(dec, bits_of(value, 4), 10.0)
    assert dec.poll(last + 0.010) == []  # frame still open inside the gap
    assert dec.poll(last + 0.026) == [key]
    assert dec.pending == 0


@pytest.mark.parametrize(
    ("key", "value"),
    [("5", 0b1010_0101), ("0", 0b1111_0000), ("9", 0b0110_1001), ("*", 0b0101_1010), ("#", 0b0100_1011)],
)
def test_wiegand_8bit_keys(key: str, value: int) -> None:
    dec = WiegandDecoder(bits=8)
    last = feed(dec, bits_of(value, 8), 0.0)
    assert dec.poll(last + 0.03) == [key]
    assert not dec.rejected


@pytest.mark.parametrize(
    ("bits", "frame", "reason"),
    [
        (8, bits_of(0b1011_0101, 8), "bad_complement"),
        (8, bits_of(0b0000_0000, 8), "bad_complement"),
        (4, bits_of(0b101, 3), "bad_length"),
        (4, bits_of(0b10101, 5), "bad_length"),
        (8, bits_of(0b0101, 4), "bad_length"),
        (4, bits_of(0xC, 4), "bad_value"),
        (8, bits_of(0b0011_1100, 8), "bad_value"),
        (4, card26(12, 345, break_parity="even"), "bad_parity"),
        (4, card26(12, 345, break_parity="odd"), "bad_parity"),
    ],
)
def test_wiegand_rejects_bad_frames(bits: int, frame: list[int], reason: str) -> None:
    dec = WiegandDecoder(bits=bits)
    last = feed(dec, frame, 0.0)
    assert dec.poll(last + 1.0) == []
    assert dec.rejected == {reason: 1}
    assert not dec.cards


def test_wiegand_26bit_card() -> None:
    dec = WiegandDecoder(bits=4)
    last = feed(dec, card26(123, 45678), 0.0)
    assert dec.poll(last + 0.05) == []
    assert list(dec.cards) == [WiegandCard(facility=123, number=45678, bits=26)]


def test_wiegand_34bit_card() -> None:
    assert decode_card_frame(card34(4321, 65000)) == WiegandCard(4321, 65000, 34)


def test_wiegand_two_frames_separated_by_a_gap_decode_separately() -> None:
    dec = WiegandDecoder(bits=4, gap_ms=25)
    feed(dec, bits_of(1, 4), 0.0)
    last = feed(dec, bits_of(0xB, 4), 0.100)  # both queued before anyone polled
    assert dec.poll(last + 0.03) == ["1", "#"]


def test_wiegand_frames_closer_than_the_gap_merge_and_are_rejected() -> None:
    dec = WiegandDecoder(bits=4, gap_ms=25)
    feed(dec, bits_of(1, 4), 0.0)
    last = feed(dec, bits_of(2, 4), 0.010)
    assert dec.poll(last + 0.03) == []
    assert dec.rejected == {"bad_length": 1}


def test_wiegand_out_of_order_ticks_are_sorted() -> None:
    dec = WiegandDecoder(bits=8)
    frame = bits_of(0b1010_0101, 8)  # "5"
    ticked = [(i * 0.001, b) for i, b in enumerate(frame)]
    # D1 callbacks delivered before D0 callbacks: all ones first, then all zeros.
    for t, b in [tb for tb in ticked if tb[1] == 1] + [tb for tb in ticked if tb[1] == 0]:
        dec.add_bit(b, t, received_at=1.0)
    assert dec.poll(1.03) == ["5"]


def test_wiegand_gap_uses_receive_time_not_tick_time() -> None:
    dec = WiegandDecoder(bits=4, gap_ms=25)
    for i, b in enumerate(bits_of(7, 4)):
        dec.add_bit(b, 1000.0 + i * 0.001, received_at=5.0)  # backend ticks on another clock
    assert dec.poll(5.02) == []
    assert dec.poll(5.03) == ["7"]


def test_wiegand_noise_flood_is_capped() -> None:
    dec = WiegandDecoder(bits=4, max_pending_bits=64)
    last = feed(dec, [1] * 100, 0.0, interval=0.0001)
    assert dec.pending == 64
    assert dec.rejected["overflow"] == 36
    assert dec.poll(last + 1) == []


@pytest.mark.parametrize("bits", [2, 26])
def test_wiegand_decoder_rejects_unsupported_key_format(bits: int) -> None:
    with pytest.raises(ValueError):
        WiegandDecoder(bits=bits)
