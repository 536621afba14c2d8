"""Canonical JSON: the one text form of a JSON value that is hashed, MAC'd or compared byte for byte.

Keys sorted, no spaces (``","`` and ``":"`` separators), every non-ASCII character escaped
(``ensure_ascii``): ``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)``.
The audit chain MACs events in this form (docs/internals.md "Events and the audit chain": the formula
is a public contract and must never change), event ``detail`` is stored in it, and archive lines and
headers and backup headers are written in it. Like ``timefmt``, this module sits at the top of
``controller`` and imports nothing from Kunci, so every layer may use it.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["canonical_bytes", "canonical_json"]


#: The encoder ``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)`` builds on
#: every call, built once (the audit chain encodes one event per MAC: a million in ``kunci audit verify``).
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def canonical_json(value: Any) -> str:
    """``value`` as canonical JSON text (ASCII only). Raises ``TypeError``/``ValueError`` as ``json.dumps``."""
    return _ENCODER.encode(value)


def canonical_bytes(value: Any) -> bytes:
    """:func:`canonical_json` as ASCII bytes: what a MAC or a digest covers."""
    return canonical_json(value).encode("ascii")
