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
#: Its C scanner, also built once: ``JSONEncoder.encode`` makes a new one on every call, which was a third
#: of the cost of encoding one event. No circular-reference markers (shared between threads they would
#: not be safe; nothing Kunci encodes refers to itself). ``None`` when the C accelerator is missing.
_C_ENCODER = (json.encoder.c_make_encoder(None, _ENCODER.default, json.encoder.encode_basestring_ascii, None,
                                          ":", ",", True, False, True)
              if json.encoder.c_make_encoder is not None else None)


def canonical_json(value: Any) -> str:
    """``value`` as canonical JSON text (ASCII only). Raises ``TypeError``/``ValueError`` as ``json.dumps``."""
    if _C_ENCODER is None or isinstance(value, str):
        return _ENCODER.encode(value)
    return "".join(_C_ENCODER(value, 0))


def canonical_bytes(value: Any) -> bytes:
    """:func:`canonical_json` as ASCII bytes: what a MAC or a digest covers."""
    return canonical_json(value).encode("ascii")
