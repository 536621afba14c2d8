"""Minimisation of archived events (docs/backup.md): what an archive line never keeps.

Events carry person codes only (never names, by construction).
Digit runs that look like card or identity numbers - 13 or more digits, optionally
separated by single spaces or dashes (Luhn-valid or not), US SSN-like
``123-45-6789`` and UK NINO-like ``AB123456C`` - are replaced by ``#`` in the
free-text fields ``detail`` and ``actor``. Pure functions over text.
"""

from __future__ import annotations

import json
import re
from typing import Any

from controller.canonical import canonical_json

# 13+ digits, single space/dash separators allowed (card numbers, 16-digit national IDs, long account numbers).
_LONG_DIGITS = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,}(?![0-9])")
_SSN_LIKE = re.compile(r"(?<![0-9])[0-9]{3}-[0-9]{2}-[0-9]{4}(?![0-9])")
_NINO_LIKE = re.compile(r"(?<![A-Za-z0-9])[A-CEGHJ-PR-TW-Za-ceghj-pr-tw-z]{2}[0-9]{6}[A-Da-d](?![A-Za-z0-9])")


def _hash_out(match: re.Match[str]) -> str:
    return re.sub(r"[0-9A-Za-z]", "#", match.group(0))


def mask_text(text: str) -> str:
    """``text`` with card/identity-number-like runs replaced by ``#`` (separators kept)."""
    for pattern in (_LONG_DIGITS, _SSN_LIKE, _NINO_LIKE):
        text = pattern.sub(_hash_out, text)
    return text


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        text = str(value)
        masked = mask_text(text)
        return value if masked == text else masked
    if isinstance(value, list):
        return [_mask_value(v) for v in value]
    if isinstance(value, dict):
        return {mask_text(str(k)): _mask_value(v) for k, v in value.items()}
    return value


def mask_detail(detail: str | None) -> str | None:
    """The stored detail JSON text with numbers masked; the same text object when nothing changed.

    Works on the parsed JSON so the result stays valid JSON (a long integer becomes
    a string of ``#``); text that is not JSON is masked as plain text.
    """
    if detail is None:
        return None
    try:
        parsed = json.loads(detail)
    except ValueError:
        masked_text = mask_text(detail)
        return detail if masked_text == detail else masked_text
    masked = _mask_value(parsed)
    if masked == parsed:
        return detail
    return canonical_json(masked)
