"""The simulated fingerprint module's vocabulary: instruction and confirmation codes, finger templates.

Shared by the pty simulator (:mod:`drivers.sim_sensor`, which re-exports every name) and the tests that
fault particular instructions (hardware.md §1.2).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

__all__ = [
    "BAD_POSITION",
    "COMMUNICATION_ERROR",
    "DELETE",
    "DELETE_FAIL",
    "DOWN_CHAR",
    "EMPTY",
    "ENROLL_MISMATCH",
    "GEN_IMG",
    "GET_RANDOM",
    "IMAGE_BYTES",
    "IMAGE_FAIL",
    "IMG2TZ",
    "INVALID_REGISTER",
    "LOAD_CHAR",
    "MATCH",
    "MUST_VERIFY_PASSWORD",
    "NOT_FOUND",
    "NO_FINGER",
    "NO_MATCH",
    "OK",
    "QUALITY_CODES",
    "READ_INDEX",
    "READ_SYS_PARA",
    "READ_TEMPLATE_FAIL",
    "REG_MODEL",
    "SEARCH",
    "SET_ADDR",
    "SET_PWD",
    "SET_SYS_PARA",
    "STORE",
    "TEMPLATE_BYTES",
    "TEMPLATE_COUNT",
    "UP_CHAR",
    "UP_CHAR_FAIL",
    "UP_IMAGE",
    "UP_IMAGE_FAIL",
    "VFY_PWD",
    "WRONG_PASSWORD",
    "SimCommand",
    "score_for",
    "template_for",
]

#: Size of a simulated template (ZFM-20/R307 size).
TEMPLATE_BYTES = 512
#: Image size pyfingerprint 1.5 hard-codes: 256 x 288 pixels, 4 bits each.
IMAGE_BYTES = 256 * 288 // 2

# Instruction codes (hardware.md §1.2).
GEN_IMG = 0x01
IMG2TZ = 0x02
MATCH = 0x03
SEARCH = 0x04
REG_MODEL = 0x05
STORE = 0x06
LOAD_CHAR = 0x07
UP_CHAR = 0x08
DOWN_CHAR = 0x09
UP_IMAGE = 0x0A
DELETE = 0x0C
EMPTY = 0x0D
SET_SYS_PARA = 0x0E
READ_SYS_PARA = 0x0F
SET_PWD = 0x12
VFY_PWD = 0x13
GET_RANDOM = 0x14
SET_ADDR = 0x15
TEMPLATE_COUNT = 0x1D
READ_INDEX = 0x1F

# Confirmation codes.
OK = 0x00
COMMUNICATION_ERROR = 0x01
NO_FINGER = 0x02
IMAGE_FAIL = 0x03
NO_MATCH = 0x08
NOT_FOUND = 0x09
ENROLL_MISMATCH = 0x0A
BAD_POSITION = 0x0B
READ_TEMPLATE_FAIL = 0x0C
UP_CHAR_FAIL = 0x0D
UP_IMAGE_FAIL = 0x0F
DELETE_FAIL = 0x10
WRONG_PASSWORD = 0x13
INVALID_REGISTER = 0x1A
MUST_VERIFY_PASSWORD = 0x21

#: ``quality`` values of :meth:`PtySensorSimulator.place_finger` and what they cause.
QUALITY_CODES = {
    "good": (OK, OK),  # (GenImg code, Img2Tz code)
    "unreadable": (IMAGE_FAIL, OK),
    "messy": (OK, 0x06),
    "few_features": (OK, 0x07),
    "invalid": (OK, 0x15),
}


@dataclass(frozen=True, slots=True)
class SimCommand:
    """One command the fake received: ``t`` (monotonic s), ``instruction``, ``params``, and the
    confirmation ``code`` it answered (``None`` when muted or unplugged)."""

    t: float
    instruction: int
    params: bytes
    code: int | None


def template_for(label: str) -> bytes:
    """The deterministic 512-byte template the fake extracts from finger ``label``."""
    out = bytearray(b"KSIM")
    counter = 0
    while len(out) < TEMPLATE_BYTES:
        out += hashlib.sha256(f"{label}\x00{counter}".encode()).digest()
        counter += 1
    return bytes(out[:TEMPLATE_BYTES])


def score_for(template: bytes) -> int:
    """Match score the fake reports when ``template`` matches itself: 150..249, reproducible."""
    return 150 + (hashlib.sha256(template).digest()[0] % 100)
