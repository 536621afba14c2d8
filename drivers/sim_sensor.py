"""A fake ZhianTec/R30x/AS608 fingerprint sensor behind a pseudo-terminal.

:class:`PtySensorSimulator` opens a pty pair, keeps the slave side open (so the
fake never spins on EIO while the host reopens the port) and answers, from a
thread on the master side, every instruction pyfingerprint 1.5 sends, with the
real packet format, data packets for template and image transfer included.
The unmodified library (and so :class:`drivers.fingerprint.PyFingerprintSensor`)
opens :attr:`PtySensorSimulator.port` as if it were ``/dev/serial0``.

Only loaded on request (``simulated = true`` or tests); the daemon runs it in
process and stores its flash in ``DATA/sim/``. This module is the transport (the pty,
its thread, unplug/replug) and the test controls; the module's answers are in
:mod:`drivers.sim_sensor_protocol`, its flash in :mod:`drivers.sim_sensor_flash`, and
the instruction and confirmation codes in :mod:`drivers.sim_sensor_codes` (re-exported
here).

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
import logging
import os
import select
import shutil
import tempfile
import threading
import time
import tty
from pathlib import Path

from drivers.fingerprint_protocol import PacketParser
from drivers.sim_sensor_codes import *  # re-exported: tests fault instructions by these names
from drivers.sim_sensor_codes import QUALITY_CODES, SimCommand, score_for, template_for
from drivers.sim_sensor_flash import FlashStore
from drivers.sim_sensor_protocol import SensorProtocol

log = logging.getLogger(__name__)


class PtySensorSimulator(SensorProtocol, FlashStore):
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
        self._requests: list[tuple[int, str]] = []  # (ticket, what): unplug/replug asked of the simulator thread
        self._tickets = 0  # the last ticket given out
        self._served = 0  # the last ticket whose request is done
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
            self._tickets += 1
            ticket = self._tickets
            self._requests.append((ticket, what))
        self._wake()
        with self._request_done:
            # Done when the simulator thread *finished* it, not when it took it off the list (it may still
            # be making the new pty: a caller opening the port then would not find it).
            if not self._request_done.wait_for(lambda: self._served >= ticket, timeout=30):
                raise RuntimeError(f"simulator did not {what} in time")

    def _serve_requests(self) -> None:
        with self._lock:
            requests, self._requests = list(self._requests), []
        for _ticket, what in requests:
            if what == "unplug" and self._master is not None:
                self._unplug_fds()
                log.info("simulated sensor unplugged")
            elif what == "replug" and self._master is None:
                self._plug()
                log.info("simulated sensor replugged on %s", os.readlink(self.port))
        with self._request_done:
            if requests:
                self._served = max(self._served, requests[-1][0])
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
