"""The keypad key alphabet: the one definition of which keys exist and what each one means.

Every place that accepts, reports or checks a key uses these names: the matrix and Wiegand drivers
(``KeyPressed.key``), the Wiegand codec and its simulator, the configuration check of ``keypad.keys``,
the PIN entry buffer (:mod:`controller.core.pin_entry`: digits append, ``*`` clears, ``#`` submits, a
letter is rejected) and the ``sim.press`` command with ``kunci sim press``. It lives in ``drivers``
because drivers never import ``controller``; the controller imports it from here. Pure data, no I/O.
"""

from __future__ import annotations

__all__ = [
    "CLEAR_KEY",
    "DIGIT_KEYS",
    "KEYS_TEXT",
    "LETTER_KEYS",
    "MAX_TYPED_KEYS",
    "REQUIRED_KEYS",
    "SUBMIT_KEY",
    "VALID_KEYS",
    "WIEGAND_KEY_VALUES",
    "WIEGAND_VALUE_KEYS",
    "is_key_sequence",
]

#: The ten digit keys: a PIN is made of these.
DIGIT_KEYS = "0123456789"
#: Clears the entry being typed.
CLEAR_KEY = "*"
#: Submits the entry being typed.
SUBMIT_KEY = "#"
#: Function keys some keypads carry; a PIN never contains them (the entry is rejected).
LETTER_KEYS = "ABCD"
#: Keys every keypad needs, each exactly once on a matrix keypad (digits, clear, submit).
REQUIRED_KEYS = DIGIT_KEYS + CLEAR_KEY + SUBMIT_KEY
#: Every key a keypad may carry and report (``KeyPressed.key``, a ``keypad.keys`` label).
VALID_KEYS = frozenset(REQUIRED_KEYS + LETTER_KEYS)
#: :data:`VALID_KEYS` for people, in error messages.
KEYS_TEXT = "0-9 * # A B C D"
#: Longest key sequence one simulated ``press`` may type.
MAX_TYPED_KEYS = 64

#: 4-bit value -> key in the Wiegand keypad formats (the low nibble of the 8-bit format); 0xC-0xF are no key.
WIEGAND_VALUE_KEYS: dict[int, str] = {**{n: str(n) for n in range(10)}, 0xA: CLEAR_KEY, 0xB: SUBMIT_KEY}
#: Key -> 4-bit value, the inverse of :data:`WIEGAND_VALUE_KEYS`.
WIEGAND_KEY_VALUES: dict[str, int] = {key: value for value, key in WIEGAND_VALUE_KEYS.items()}


def is_key_sequence(keys: str, max_keys: int = MAX_TYPED_KEYS) -> bool:
    """True if ``keys`` is 1 to ``max_keys`` characters, each a key of :data:`VALID_KEYS` (case matters:
    callers upper-case what a person typed first)."""
    return 1 <= len(keys) <= max_keys and all(k in VALID_KEYS for k in keys)
