"""The simulated module's protocol: how it answers each packet pyfingerprint 1.5 sends (hardware.md §1.2).

A mixin of :class:`drivers.sim_sensor.PtySensorSimulator` (which owns the pty and the state these
methods read and change: templates, char buffers, the finger on the glass, the fault controls).
:meth:`SensorProtocol._handle` takes one parsed packet (commands, and the data packets of a DownChar),
applies the fault controls (mute, delays, forced codes, garbage, bad checksum, truncation) and sends
the reply; :meth:`SensorProtocol._dispatch` computes the answer of one instruction.
"""

from __future__ import annotations

import threading
import time

from drivers.fingerprint_protocol import (
    PACKET_SIZES,
    PID_COMMAND,
    PID_DATA,
    PID_END,
    FrameError,
    Packet,
    build_ack,
    build_data_packets,
)
from drivers.sim_sensor_codes import (
    BAD_POSITION,
    COMMUNICATION_ERROR,
    DELETE,
    DELETE_FAIL,
    DOWN_CHAR,
    EMPTY,
    ENROLL_MISMATCH,
    GEN_IMG,
    GET_RANDOM,
    IMAGE_BYTES,
    IMG2TZ,
    INVALID_REGISTER,
    LOAD_CHAR,
    MATCH,
    MUST_VERIFY_PASSWORD,
    NO_FINGER,
    NO_MATCH,
    NOT_FOUND,
    OK,
    QUALITY_CODES,
    READ_INDEX,
    READ_SYS_PARA,
    READ_TEMPLATE_FAIL,
    REG_MODEL,
    SEARCH,
    SET_ADDR,
    SET_PWD,
    SET_SYS_PARA,
    STORE,
    TEMPLATE_COUNT,
    UP_CHAR,
    UP_CHAR_FAIL,
    UP_IMAGE,
    UP_IMAGE_FAIL,
    VFY_PWD,
    WRONG_PASSWORD,
    SimCommand,
    score_for,
    template_for,
)


class SensorProtocol:
    """Answers of the simulated module (mixin; the attributes are the simulator's)."""

    # State and helpers it uses, defined by the simulator: ``_lock``, ``_stop``, ``_templates``,
    # ``_charbuf``, ``_finger``, ``_image``, ``_commands``, the fault controls, ``_send`` (pty write),
    # and FlashStore's ``_write_slot`` / ``_erase_slot``.

    _lock: threading.RLock
    _stop: threading.Event
    _templates: dict[int, bytes]
    _charbuf: dict[int, bytes | None]
    _commands: list[SimCommand]

    def _handle(self, item: Packet | FrameError) -> None:
        if isinstance(item, FrameError):
            self.frame_errors += 1
            return
        if item.address != self.address:
            return  # a real module stays silent for another address
        if self._download_buffer is not None and item.pid in (PID_DATA, PID_END):
            self._download_data += item.payload
            if item.pid == PID_END:
                with self._lock:
                    self._charbuf[self._download_buffer] = bytes(self._download_data)
                self._download_buffer = None
            return
        self._download_buffer = None  # a command aborts a half-finished DownChar
        if item.pid != PID_COMMAND or not item.payload:
            return
        instruction, params = item.payload[0], item.payload[1:]
        if self.mute:
            self._log(instruction, params, None)
            return
        delay = self.delays.get(instruction, 0.0)
        if delay:
            self._stop.wait(delay)
        with self._lock:
            forced = self.fail_next.pop(instruction, None)
            if forced is not None:
                code, data, follow = forced, b"", b""
            elif self.password and not self._verified and instruction != VFY_PWD:
                code, data, follow = MUST_VERIFY_PASSWORD, b"", b""
            else:
                code, data, follow = self._dispatch(instruction, params)
        self._log(instruction, params, code)
        reply = build_ack(code, data, self.address) + follow
        if self.fault_on is None or self.fault_on == instruction:
            reply = self._apply_faults(reply)
        self._send(reply)

    def _apply_faults(self, reply: bytes) -> bytes:
        if self.corrupt_next:
            self.corrupt_next = int(self.corrupt_next) - 1
            ack_len = 9 + int.from_bytes(reply[7:9], "big")
            reply = reply[: ack_len - 1] + bytes(((reply[ack_len - 1] + 1) & 0xFF,)) + reply[ack_len:]
        if self.truncate_next is not None:
            reply = reply[: self.truncate_next]
            self.truncate_next = None
        if self.garbage_before_next:
            reply = self.garbage_before_next + reply
            self.garbage_before_next = b""
        return reply

    def _log(self, instruction: int, params: bytes, code: int | None) -> None:
        with self._lock:
            self._commands.append(SimCommand(time.monotonic(), instruction, bytes(params), code))

    def _dispatch(self, instruction: int, p: bytes) -> tuple[int, bytes, bytes]:
        """Answer one command: (confirmation code, ack data, bytes following the ack)."""
        handler = _HANDLERS.get(instruction)
        if handler is None:
            return COMMUNICATION_ERROR, b"", b""
        try:
            return handler(self, p)
        except IndexError:  # parameters missing
            return COMMUNICATION_ERROR, b"", b""

    def _data(self, payload: bytes) -> bytes:
        return build_data_packets(payload, PACKET_SIZES[self.packet_size_code], self.address)

    def _vfy_pwd(self, p: bytes) -> tuple[int, bytes, bytes]:
        self._verified = int.from_bytes(p[0:4], "big") == self.password
        return (OK if self._verified else WRONG_PASSWORD), b"", b""

    def _set_pwd(self, p: bytes) -> tuple[int, bytes, bytes]:
        self.password = int.from_bytes(p[0:4], "big")
        return OK, b"", b""

    def _set_addr(self, p: bytes) -> tuple[int, bytes, bytes]:
        self.address = int.from_bytes(p[0:4], "big")
        return OK, b"", b""

    def _set_sys_para(self, p: bytes) -> tuple[int, bytes, bytes]:
        register, value = p[0], p[1]
        if register == 4 and 1 <= value <= 12:
            self.baud_code = value
        elif register == 5 and 1 <= value <= 5:
            self.security_level = value
        elif register == 6 and 0 <= value <= 3:
            self.packet_size_code = value
        else:
            return INVALID_REGISTER, b"", b""
        return OK, b"", b""

    def _read_sys_para(self, p: bytes) -> tuple[int, bytes, bytes]:
        data = (
            (0).to_bytes(2, "big")  # status register
            + (9).to_bytes(2, "big")  # system id
            + self.capacity.to_bytes(2, "big")
            + self.security_level.to_bytes(2, "big")
            + self.address.to_bytes(4, "big")
            + self.packet_size_code.to_bytes(2, "big")
            + self.baud_code.to_bytes(2, "big")
        )
        return OK, data, b""

    def _template_count(self, p: bytes) -> tuple[int, bytes, bytes]:
        return OK, len(self._templates).to_bytes(2, "big"), b""

    def _read_index(self, p: bytes) -> tuple[int, bytes, bytes]:
        page = p[0]
        if page > 3:
            return COMMUNICATION_ERROR, b"", b""
        bitmap = bytearray(32)
        for slot in self._templates:
            if page * 256 <= slot < (page + 1) * 256:
                bit = slot - page * 256
                bitmap[bit // 8] |= 1 << (bit % 8)  # LSB first
        return OK, bytes(bitmap), b""

    def _gen_img(self, p: bytes) -> tuple[int, bytes, bytes]:
        if self._finger is None:
            return NO_FINGER, b"", b""
        code = QUALITY_CODES[self._finger[1]][0]
        if code == OK:
            self._image = self._finger
        return code, b"", b""

    def _img2tz(self, p: bytes) -> tuple[int, bytes, bytes]:
        buffer = p[0]
        if buffer not in (1, 2):
            return COMMUNICATION_ERROR, b"", b""
        if self._image is None:
            return 0x15, b"", b""
        code = QUALITY_CODES[self._image[1]][1]
        if code == OK:
            self._charbuf[buffer] = template_for(self._image[0])
        return code, b"", b""

    def _match(self, p: bytes) -> tuple[int, bytes, bytes]:
        a, b = self._charbuf[1], self._charbuf[2]
        if a is None or a != b:
            return NO_MATCH, b"", b""
        return OK, score_for(a).to_bytes(2, "big"), b""

    def _search(self, p: bytes) -> tuple[int, bytes, bytes]:
        buffer, start, count = p[0], int.from_bytes(p[1:3], "big"), int.from_bytes(p[3:5], "big")
        wanted = self._charbuf.get(buffer)
        if wanted is not None:
            for slot in sorted(self._templates):
                if start <= slot < min(start + count, self.capacity) and self._templates[slot] == wanted:
                    return OK, slot.to_bytes(2, "big") + score_for(wanted).to_bytes(2, "big"), b""
        return NOT_FOUND, b"", b""

    def _reg_model(self, p: bytes) -> tuple[int, bytes, bytes]:
        a, b = self._charbuf[1], self._charbuf[2]
        if a is None or a != b:
            return ENROLL_MISMATCH, b"", b""
        return OK, b"", b""

    def _store(self, p: bytes) -> tuple[int, bytes, bytes]:
        buffer, slot = p[0], int.from_bytes(p[1:3], "big")
        if buffer not in (1, 2) or slot >= self.capacity:
            return BAD_POSITION, b"", b""
        data = self._charbuf[buffer]
        if data is None:
            return COMMUNICATION_ERROR, b"", b""
        self._write_slot(slot, data)
        return OK, b"", b""

    def _load_char(self, p: bytes) -> tuple[int, bytes, bytes]:
        buffer, slot = p[0], int.from_bytes(p[1:3], "big")
        if buffer not in (1, 2) or slot >= self.capacity:
            return BAD_POSITION, b"", b""
        if slot not in self._templates:
            return READ_TEMPLATE_FAIL, b"", b""
        self._charbuf[buffer] = self._templates[slot]
        return OK, b"", b""

    def _up_char(self, p: bytes) -> tuple[int, bytes, bytes]:
        data = self._charbuf.get(p[0])
        if data is None:
            return UP_CHAR_FAIL, b"", b""
        return OK, b"", self._data(data)

    def _down_char(self, p: bytes) -> tuple[int, bytes, bytes]:
        if p[0] not in (1, 2):
            return 0x0E, b"", b""
        self._download_buffer = p[0]
        self._download_data = bytearray()
        return OK, b"", b""

    def _up_image(self, p: bytes) -> tuple[int, bytes, bytes]:
        if self._image is None:
            return UP_IMAGE_FAIL, b"", b""
        seed = template_for(self._image[0])
        pixels = (seed * (IMAGE_BYTES // len(seed) + 1))[:IMAGE_BYTES]
        return OK, b"", self._data(pixels)

    def _delete(self, p: bytes) -> tuple[int, bytes, bytes]:
        slot, count = int.from_bytes(p[0:2], "big"), int.from_bytes(p[2:4], "big")
        if slot + count > self.capacity:
            return DELETE_FAIL, b"", b""
        for s in range(slot, slot + count):
            self._erase_slot(s)
        return OK, b"", b""

    def _empty(self, p: bytes) -> tuple[int, bytes, bytes]:
        for slot in list(self._templates):
            self._erase_slot(slot)
        return OK, b"", b""

    def _random(self, p: bytes) -> tuple[int, bytes, bytes]:
        # xorshift32: reproducible, good enough for a fake.
        x = self._rng_state
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self._rng_state = x
        return OK, x.to_bytes(4, "big"), b""


_HANDLERS = {
    GEN_IMG: SensorProtocol._gen_img,
    IMG2TZ: SensorProtocol._img2tz,
    MATCH: SensorProtocol._match,
    SEARCH: SensorProtocol._search,
    REG_MODEL: SensorProtocol._reg_model,
    STORE: SensorProtocol._store,
    LOAD_CHAR: SensorProtocol._load_char,
    UP_CHAR: SensorProtocol._up_char,
    DOWN_CHAR: SensorProtocol._down_char,
    UP_IMAGE: SensorProtocol._up_image,
    DELETE: SensorProtocol._delete,
    EMPTY: SensorProtocol._empty,
    SET_SYS_PARA: SensorProtocol._set_sys_para,
    READ_SYS_PARA: SensorProtocol._read_sys_para,
    SET_PWD: SensorProtocol._set_pwd,
    VFY_PWD: SensorProtocol._vfy_pwd,
    GET_RANDOM: SensorProtocol._random,
    SET_ADDR: SensorProtocol._set_addr,
    TEMPLATE_COUNT: SensorProtocol._template_count,
    READ_INDEX: SensorProtocol._read_index,
}
