"""A fake ZhianTec/R30x/AS608 fingerprint sensor behind a pseudo-terminal.

:class:`PtySensorSimulator` opens a pty pair, keeps the slave side open (so the
fake never spins on EIO while the host reopens the port) and answers, from a
thread on the master side, every instruction pyfingerprint 1.5 sends, with the
real packet format, data packets for template and image transfer included.
The unmodified library (and so :class:`drivers.fingerprint.PyFingerprintSensor`)
opens :attr:`PtySensorSimulator.port` as if it were ``/dev/serial0``.

Only loaded on request (``simulated = true`` or tests); the daemon runs it in
process and stores its flash in ``DATA/sim/``.

Fingers are string labels. The template of a label is deterministic (``KSIM``,
then SHA-256 filler, 512 bytes), so searching, matching and RegModel behave
naturally: the same label matches itself with a reproducible score of 150..249
(:meth:`PtySensorSimulator.expected_score`), different labels never match.

Fault controls (plain attributes, set from the test thread):

* ``mute`` — read and log commands but never answer.
* ``delays`` — ``{instruction: seconds}`` to wait before answering.
* ``garbage_before_next`` — bytes written just before the next reply.
* ``corrupt_next`` — the next reply has a wrong checksum (``True``, or a count of replies).
* ``truncate_next`` — only the first N bytes of the next reply are sent.
* ``fault_on`` — instruction the ``*_next`` faults wait for (``None``: the next reply of any command).
* ``fail_next`` — ``{instruction: code}``: answer that instruction once with that confirmation code.
* :meth:`unplug` / :meth:`replug` — see below.

Unplug and replug: :attr:`port` is a symlink in a private directory pointing at
the current ``/dev/pts/N`` (like a udev ``/dev/serial/by-id`` link). ``unplug()``
closes both sides of the pty and removes the link: the host's open port fails
at once (reads/writes raise, as with a USB adapter pulled out) and reopening
the port fails with "no such file". ``replug()`` creates a fresh pty behind the
same link, like a power-cycled module (char buffers empty, password not yet
verified), so a host that reconnects by path recovers.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import select
import shutil
import tempfile
import threading
import time
import tty
from dataclasses import dataclass
from pathlib import Path

from drivers.fingerprint_protocol import (
    PACKET_SIZES,
    PID_COMMAND,
    PID_DATA,
    PID_END,
    FrameError,
    Packet,
    PacketParser,
    build_ack,
    build_data_packets,
)

log = logging.getLogger(__name__)

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


class PtySensorSimulator:
    """A fake fingerprint module on a pty that pyfingerprint 1.5 talks to unmodified.

    Wiring: ``start()`` opens the pty and the answering thread; give :attr:`port`
    to the adapter; drive the glass with :meth:`place_finger` / :meth:`remove_finger`;
    ``stop()`` (or the context manager) ends it. All controls are thread-safe.

    :param flash_dir: directory holding one file per stored template
        (``slot-0005.tpl``), loaded at start so a restarted daemon finds its
        enrolments; ``None`` (default) keeps templates in memory only.
    :param capacity: number of template slots, default 300 (AS608).
    :param password: the module password (32-bit), default 0. When non-zero, every
        command before a successful VfyPwd is answered with 0x21, as real modules do.
    :param address: the module address (32-bit), default ``0xFFFFFFFF``; packets to
        another address are ignored.
    :param packet_size_code: 0..3 for 32/64/128/256-byte data packets, default 2 (128).
    """

    def __init__(
        self,
        flash_dir: Path | None = None,
        capacity: int = 300,
        password: int = 0,
        address: int = 0xFFFFFFFF,
        packet_size_code: int = 2,
    ) -> None:
        if not 1 <= capacity <= 1024:
            raise ValueError("capacity must be 1..1024 (four index pages of 256)")
        if packet_size_code not in range(4):
            raise ValueError("packet_size_code must be 0..3")
        self.flash_dir = Path(flash_dir) if flash_dir is not None else None
        self.capacity = capacity
        self.password = password & 0xFFFFFFFF
        self.address = address & 0xFFFFFFFF
        self.packet_size_code = packet_size_code
        self.security_level = 3
        self.baud_code = 6  # x 9600 = 57600

        # Fault controls (documented in the module docstring).
        self.mute = False
        self.delays: dict[int, float] = {}
        self.garbage_before_next: bytes = b""
        self.corrupt_next: bool | int = False
        self.truncate_next: int | None = None
        self.fault_on: int | None = None
        self.fail_next: dict[int, int] = {}

        self._lock = threading.RLock()
        self._templates: dict[int, bytes] = {}
        self._finger: tuple[str, str] | None = None  # (label, quality) on the glass
        self._image: tuple[str, str] | None = None
        self._charbuf: dict[int, bytes | None] = {1: None, 2: None}
        self._verified = False
        self._download_buffer: int | None = None  # DownChar in progress: target buffer
        self._download_data = bytearray()
        self._commands: list[SimCommand] = []
        self._rng_state = 0x4B554E43  # "KUNC"
        self.frame_errors = 0

        self._master: int | None = None
        self._slave: int | None = None
        self._parser = PacketParser()
        self._link_dir: str | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake_r, self._wake_w = -1, -1
        self._requests: list[str] = []
        self._request_done = threading.Condition(self._lock)

    # ----------------------------------------------------------------- lifecycle

    @property
    def port(self) -> str:
        """Path to open as the serial port (a stable symlink to the current pty slave)."""
        if self._link_dir is None:
            raise RuntimeError("simulator not started")
        return os.path.join(self._link_dir, "ttySIM0")

    @property
    def plugged(self) -> bool:
        """True while the pty exists (between ``start``/``replug`` and ``unplug``/``stop``)."""
        return self._master is not None

    def start(self) -> PtySensorSimulator:
        """Load the flash, open the pty and start answering. Returns ``self``."""
        if self._thread is not None:
            return self
        self._load_flash()
        self._link_dir = tempfile.mkdtemp(prefix="kunci-simsensor-")
        self._wake_r, self._wake_w = os.pipe()
        self._plug()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="kunci-sim-sensor", daemon=True)
        self._thread.start()
        log.info("simulated fingerprint sensor on %s (capacity %d)", self.port, self.capacity)
        return self

    def stop(self) -> None:
        """Stop answering, close the pty and remove the port link (idempotent)."""
        if self._thread is None:
            return
        self._stop.set()
        self._wake()
        self._thread.join(timeout=5)
        self._thread = None
        self._unplug_fds()
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self._wake_r = self._wake_w = -1
        if self._link_dir is not None:
            shutil.rmtree(self._link_dir, ignore_errors=True)
            self._link_dir = None

    def __enter__(self) -> PtySensorSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def unplug(self) -> None:
        """Pull the cable: close the pty and remove the port link (the host's port fails at once)."""
        self._request("unplug")

    def replug(self) -> None:
        """Plug back in: a fresh pty behind the same :attr:`port`, like a power-cycled module."""
        self._request("replug")

    # ----------------------------------------------------------------- test controls

    def place_finger(self, label: str, quality: str = "good") -> None:
        """Put finger ``label`` on the glass.

        :param quality: ``"good"`` (default), ``"unreadable"`` (GenImg 0x03),
            ``"messy"`` (Img2Tz 0x06), ``"few_features"`` (0x07) or ``"invalid"`` (0x15).
        """
        if quality not in QUALITY_CODES:
            raise ValueError(f"unknown quality {quality!r}")
        with self._lock:
            self._finger = (label, quality)

    def remove_finger(self) -> None:
        """Lift the finger off the glass."""
        with self._lock:
            self._finger = None

    def store(self, slot: int, label_or_template: str | bytes) -> None:
        """Put a template straight into flash ``slot`` (a label's template, or raw bytes)."""
        data = template_for(label_or_template) if isinstance(label_or_template, str) else bytes(label_or_template)
        with self._lock:
            self._write_slot(slot, data)

    @property
    def templates(self) -> dict[int, bytes]:
        """A copy of the flash: ``{slot: template}``."""
        with self._lock:
            return dict(self._templates)

    @property
    def commands(self) -> list[SimCommand]:
        """A copy of the command log, oldest first."""
        with self._lock:
            return list(self._commands)

    def instructions(self) -> list[int]:
        """Instruction codes received so far, oldest first."""
        return [c.instruction for c in self.commands]

    def clear_log(self) -> None:
        """Forget the command log."""
        with self._lock:
            self._commands.clear()

    @staticmethod
    def template_for(label: str) -> bytes:
        """The template finger ``label`` produces (see :func:`template_for`)."""
        return template_for(label)

    @staticmethod
    def expected_score(label: str) -> int:
        """The score a search reports when finger ``label`` matches its own template."""
        return score_for(template_for(label))

    # ----------------------------------------------------------------- pty plumbing

    def _plug(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # anything before pyserial's open() must not be echoed or translated
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self._parser = PacketParser()
        link = self.port
        tmp = link + ".new"
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        os.symlink(os.ttyname(slave), tmp)
        os.replace(tmp, link)
        with self._lock:
            self._charbuf = {1: None, 2: None}
            self._image = None
            self._verified = False
            self._download_buffer = None

    def _unplug_fds(self) -> None:
        if self._link_dir is not None:
            try:
                os.unlink(self.port)
            except FileNotFoundError:
                pass
        for fd in (self._master, self._slave):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._master = self._slave = None

    def _wake(self) -> None:
        if self._wake_w >= 0:
            try:
                os.write(self._wake_w, b"!")
            except OSError:
                pass

    def _request(self, what: str) -> None:
        if self._thread is None:
            raise RuntimeError("simulator not started")
        with self._lock:
            self._requests.append(what)
        self._wake()
        with self._request_done:
            if not self._request_done.wait_for(lambda: what not in self._requests, timeout=5):
                raise RuntimeError(f"simulator did not {what} in time")

    def _serve_requests(self) -> None:
        with self._lock:
            requests, self._requests = list(self._requests), []
        for what in requests:
            if what == "unplug" and self._master is not None:
                self._unplug_fds()
                log.info("simulated sensor unplugged")
            elif what == "replug" and self._master is None:
                self._plug()
                log.info("simulated sensor replugged on %s", os.readlink(self.port))
        with self._request_done:
            self._request_done.notify_all()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._serve_requests()
                fds = [self._wake_r] + ([self._master] if self._master is not None else [])
                readable, _, _ = select.select(fds, [], [], 0.2)
                if self._wake_r in readable:
                    os.read(self._wake_r, 64)
                if self._master is None or self._master not in readable:
                    continue
                try:
                    data = os.read(self._master, 4096)
                except BlockingIOError:
                    continue
                except OSError as exc:
                    if exc.errno == errno.EIO:  # no slave open right now
                        time.sleep(0.02)
                        continue
                    raise
                for item in self._parser.feed(data):
                    self._handle(item)
            except Exception:  # the fake must survive anything a test throws at it
                log.exception("simulated sensor loop error")
                time.sleep(0.05)

    def _send(self, data: bytes) -> None:
        """Write all of ``data`` to the master, giving up if unplugged or stopped."""
        view = memoryview(data)
        while view and self._master is not None and not self._stop.is_set():
            try:
                n = os.write(self._master, view)
                view = view[n:]
            except BlockingIOError:
                select.select([], [self._master], [], 0.1)
            except OSError as exc:
                log.debug("simulated sensor write failed: %s", exc)
                return

    # ----------------------------------------------------------------- protocol

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

    # ----------------------------------------------------------------- flash

    def _slot_file(self, slot: int) -> Path:
        assert self.flash_dir is not None
        return self.flash_dir / f"slot-{slot:04d}.tpl"

    def _load_flash(self) -> None:
        if self.flash_dir is None:
            return
        self.flash_dir.mkdir(parents=True, exist_ok=True)
        for path in sorted(self.flash_dir.glob("slot-*.tpl")):
            try:
                slot = int(path.stem.split("-", 1)[1])
            except ValueError:
                continue
            if 0 <= slot < self.capacity:
                self._templates[slot] = path.read_bytes()
        log.debug("simulated flash: %d templates loaded from %s", len(self._templates), self.flash_dir)

    def _write_slot(self, slot: int, data: bytes) -> None:
        if not 0 <= slot < self.capacity:
            raise ValueError(f"slot {slot} outside 0..{self.capacity - 1}")
        self._templates[slot] = bytes(data)
        if self.flash_dir is not None:
            self.flash_dir.mkdir(parents=True, exist_ok=True)
            tmp = self._slot_file(slot).with_suffix(".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, self._slot_file(slot))

    def _erase_slot(self, slot: int) -> None:
        self._templates.pop(slot, None)
        if self.flash_dir is not None:
            try:
                self._slot_file(slot).unlink()
            except FileNotFoundError:
                pass


_HANDLERS = {
    GEN_IMG: PtySensorSimulator._gen_img,
    IMG2TZ: PtySensorSimulator._img2tz,
    MATCH: PtySensorSimulator._match,
    SEARCH: PtySensorSimulator._search,
    REG_MODEL: PtySensorSimulator._reg_model,
    STORE: PtySensorSimulator._store,
    LOAD_CHAR: PtySensorSimulator._load_char,
    UP_CHAR: PtySensorSimulator._up_char,
    DOWN_CHAR: PtySensorSimulator._down_char,
    UP_IMAGE: PtySensorSimulator._up_image,
    DELETE: PtySensorSimulator._delete,
    EMPTY: PtySensorSimulator._empty,
    SET_SYS_PARA: PtySensorSimulator._set_sys_para,
    READ_SYS_PARA: PtySensorSimulator._read_sys_para,
    SET_PWD: PtySensorSimulator._set_pwd,
    VFY_PWD: PtySensorSimulator._vfy_pwd,
    GET_RANDOM: PtySensorSimulator._random,
    SET_ADDR: PtySensorSimulator._set_addr,
    TEMPLATE_COUNT: PtySensorSimulator._template_count,
    READ_INDEX: PtySensorSimulator._read_index,
}
