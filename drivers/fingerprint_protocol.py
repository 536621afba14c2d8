"""Packet encoding and a stream-safe packet parser for ZhianTec/R30x/AS608 sensors.

Pure helpers, no I/O: the pty simulator (:mod:`drivers.sim_sensor`) uses them to
read the host's commands and to build its replies; the robust reader of the
adapter (:mod:`drivers.fingerprint`) uses :class:`PacketParser` to frame the
sensor's replies. Packet layout (big-endian)::

    EF 01 | address:4 | PID:1 | length:2 | payload:length-2 | checksum:2

``length`` counts the payload plus the two checksum bytes; ``checksum`` is
``(PID + len_hi + len_lo + sum(payload)) & 0xFFFF``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from drivers.errors import SensorProtocolError

log = logging.getLogger(__name__)

#: Start code of every packet.
HEADER = b"\xef\x01"
#: Address a factory-fresh module answers to.
DEFAULT_ADDRESS = 0xFFFFFFFF

PID_COMMAND = 0x01
PID_DATA = 0x02
PID_ACK = 0x07
PID_END = 0x08
KNOWN_PIDS = frozenset({PID_COMMAND, PID_DATA, PID_ACK, PID_END})

#: Header, address, PID and length: the bytes before the payload.
FRAME_PREFIX_BYTES = 9
#: The shortest packet on the wire: an ack carrying only its confirmation code.
MIN_PACKET_BYTES = 12
#: Largest ``length`` field accepted: a 256-byte data payload plus the checksum.
MAX_LENGTH = 256 + 2
#: Data packet payload size for each packet-size code of ReadSysPara / SetSysPara register 6.
PACKET_SIZES = (32, 64, 128, 256)


def checksum(pid: int, payload: bytes) -> int:
    """Return the 16-bit checksum of a packet with ``pid`` and ``payload``."""
    length = len(payload) + 2
    return (pid + (length >> 8) + (length & 0xFF) + sum(payload)) & 0xFFFF


def build_packet(pid: int, payload: bytes, address: int = DEFAULT_ADDRESS) -> bytes:
    """Encode one packet.

    :param pid: packet identifier (``PID_COMMAND``, ``PID_DATA``, ``PID_ACK``, ``PID_END``).
    :param payload: instruction/confirmation code and data, at most ``MAX_LENGTH - 2`` bytes.
    :param address: 32-bit module address, default ``0xFFFFFFFF``.
    """
    payload = bytes(payload)
    if len(payload) > MAX_LENGTH - 2:
        raise ValueError(f"payload of {len(payload)} bytes is too long for one packet")
    length = len(payload) + 2
    return (
        HEADER
        + (address & 0xFFFFFFFF).to_bytes(4, "big")
        + bytes((pid & 0xFF,))
        + length.to_bytes(2, "big")
        + payload
        + checksum(pid, payload).to_bytes(2, "big")
    )


def build_ack(code: int, data: bytes = b"", address: int = DEFAULT_ADDRESS) -> bytes:
    """Encode an acknowledge packet: confirmation ``code`` (0 = OK) followed by ``data``."""
    return build_packet(PID_ACK, bytes((code,)) + bytes(data), address)


def build_command(instruction: int, params: bytes = b"", address: int = DEFAULT_ADDRESS) -> bytes:
    """Encode a command packet: ``instruction`` code followed by its ``params``."""
    return build_packet(PID_COMMAND, bytes((instruction,)) + bytes(params), address)


def build_data_packets(data: bytes, packet_size: int = 128, address: int = DEFAULT_ADDRESS) -> bytes:
    """Encode ``data`` as DATA packets of ``packet_size`` bytes, the last one as END.

    Empty ``data`` gives a single empty END packet.
    """
    data = bytes(data)
    chunks = [data[i : i + packet_size] for i in range(0, len(data), packet_size)] or [b""]
    out = bytearray()
    for i, chunk in enumerate(chunks):
        out += build_packet(PID_END if i == len(chunks) - 1 else PID_DATA, chunk, address)
    return bytes(out)


@dataclass(frozen=True, slots=True)
class Packet:
    """One well-formed packet: ``pid``, ``payload`` (without checksum) and the ``address`` it carried."""

    pid: int
    payload: bytes
    address: int = DEFAULT_ADDRESS

    def encode(self) -> bytes:
        """Return the packet's bytes on the wire."""
        return build_packet(self.pid, self.payload, self.address)

    @property
    def code(self) -> int:
        """First payload byte: the instruction of a command, the confirmation code of an ack (-1 if empty)."""
        return self.payload[0] if self.payload else -1


@dataclass(frozen=True, slots=True)
class FrameError:
    """Something that started like a packet but is not one.

    ``reason`` is ``"checksum"``, ``"length"`` or ``"pid"``; ``raw`` the bytes
    examined. The parser has already skipped the start code and resynchronised.
    """

    reason: str
    raw: bytes


def parse_packet(data: bytes) -> Packet:
    """Decode exactly one packet from ``data``; raise :class:`SensorProtocolError` otherwise."""
    parser = PacketParser()
    items = parser.feed(data)
    if len(items) != 1 or parser.pending or parser.discarded:
        raise SensorProtocolError("not exactly one packet")
    item = items[0]
    if isinstance(item, FrameError):
        raise SensorProtocolError(f"bad packet ({item.reason})")
    return item


class PacketParser:
    """Frames packets out of a byte stream that may arrive in arbitrary fragments.

    :meth:`feed` takes whatever was read and returns the complete packets found
    so far (and :class:`FrameError` entries for rejected frames), keeping any
    incomplete packet — including a trailing lone ``0xEF`` — for the next call.
    Bytes before a start code are skipped (counted in :attr:`discarded`). A
    frame with a bad checksum, an unknown PID or an absurd length is reported
    and only its start code is dropped, so a real packet hidden behind a false
    start is still found (sync is never lost for more than one frame).

    :param max_length: largest ``length`` field accepted, default :data:`MAX_LENGTH` (258).
    """

    def __init__(self, max_length: int = MAX_LENGTH) -> None:
        self._buf = bytearray()
        self._max_length = max_length
        #: Bytes thrown away so far because they were not part of any packet.
        self.discarded = 0

    @property
    def pending(self) -> int:
        """Number of buffered bytes not yet returned as a packet."""
        return len(self._buf)

    def clear(self) -> None:
        """Forget any buffered partial packet (e.g. after flushing the serial input)."""
        self._buf.clear()

    def feed(self, data: bytes) -> list[Packet | FrameError]:
        """Add ``data`` to the stream and return every packet (or frame error) completed by it."""
        buf = self._buf
        buf += data
        out: list[Packet | FrameError] = []
        while True:
            start = buf.find(HEADER)
            if start < 0:
                # Keep a trailing 0xEF: it may be the first half of a start code.
                keep = 1 if buf.endswith(HEADER[:1]) else 0
                self.discarded += len(buf) - keep
                del buf[: len(buf) - keep]
                return out
            if start:
                self.discarded += start
                del buf[:start]
            if len(buf) < FRAME_PREFIX_BYTES:
                return out
            pid = buf[6]
            length = int.from_bytes(buf[7:9], "big")
            if pid not in KNOWN_PIDS:
                out.append(self._reject("pid", FRAME_PREFIX_BYTES))
                continue
            if length < 2 or length > self._max_length:
                out.append(self._reject("length", FRAME_PREFIX_BYTES))
                continue
            total = FRAME_PREFIX_BYTES + length
            if len(buf) < total:
                return out
            payload = bytes(buf[FRAME_PREFIX_BYTES : total - 2])
            received = int.from_bytes(buf[total - 2 : total], "big")
            if received != checksum(pid, payload):
                out.append(self._reject("checksum", total))
                continue
            out.append(Packet(pid, payload, int.from_bytes(buf[2:6], "big")))
            del buf[:total]

    def _reject(self, reason: str, examined: int) -> FrameError:
        raw = bytes(self._buf[:examined])
        log.debug("rejected frame (%s), %d bytes examined", reason, examined)
        # Drop only the start code: a genuine packet may begin inside the rejected frame.
        del self._buf[: len(HEADER)]
        self.discarded += len(HEADER)
        return FrameError(reason, raw)
