"""drivers.keys: the one key alphabet, and the places that must agree with it."""

from __future__ import annotations

import pytest

from drivers import keys
from drivers.keypad_logic import decode_key_frame
from drivers.sim_gpio import encode_key_frame


@pytest.mark.parametrize(
    ("typed", "ok"),
    [
        ("123456#", True),
        ("*", True),
        ("ABCD", True),
        ("0" * keys.MAX_TYPED_KEYS, True),
        ("", False),
        ("0" * (keys.MAX_TYPED_KEYS + 1), False),
        ("12a", False),  # callers upper-case first
        ("12 3", False),
        ("E", False),
        ("١٢٣", False),  # digits of another script are not keys
    ],
)
def test_a_typed_sequence_is_valid_only_in_the_alphabet(typed: str, ok: bool) -> None:
    assert keys.is_key_sequence(typed) is ok


def test_every_required_key_is_valid_and_letters_are_not_required() -> None:
    assert set(keys.REQUIRED_KEYS) <= keys.VALID_KEYS
    assert not set(keys.LETTER_KEYS) & set(keys.REQUIRED_KEYS)
    assert keys.VALID_KEYS == set("0123456789*#ABCD")


@pytest.mark.parametrize("key", sorted(keys.WIEGAND_KEY_VALUES))
@pytest.mark.parametrize("bits", [4, 8])
def test_every_wiegand_key_survives_a_round_trip(key: str, bits: int) -> None:
    assert decode_key_frame(encode_key_frame(key, bits), bits) == key


def test_wiegand_carries_exactly_the_required_keys() -> None:
    assert set(keys.WIEGAND_KEY_VALUES) == set(keys.REQUIRED_KEYS)
