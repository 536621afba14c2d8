"""controller.canonical: the one canonical JSON form (sorted keys, compact, ASCII)."""

from __future__ import annotations

import json

import pytest

from controller.canonical import canonical_bytes, canonical_json


def test_keys_are_sorted_at_every_depth_and_nothing_is_spaced() -> None:
    assert canonical_json({"b": 1, "a": {"d": [1, 2], "c": None}}) == '{"a":{"c":null,"d":[1,2]},"b":1}'


def test_non_ascii_is_escaped_so_the_bytes_are_ascii() -> None:
    assert canonical_bytes({"name": "Zoë ✓"}) == b'{"name":"Zo\\u00eb \\u2713"}'


@pytest.mark.parametrize(
    "value",
    [{"seq": 1, "time": "2026-11-29T10:02:16.123456Z", "detail": '{"a":1}'}, [1, "x", None], "plain", 3.5],
)
def test_it_is_the_documented_formula(value: object) -> None:
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    assert canonical_json(value) == expected
    assert canonical_bytes(value) == expected.encode("ascii")


def test_a_value_json_cannot_write_is_refused() -> None:
    with pytest.raises(TypeError):
        canonical_json({"when": object()})
