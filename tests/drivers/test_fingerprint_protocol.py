"""Packet encoding and the stream-safe parser shared by the sensor adapter and the simulator."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.errors import SensorProtocolError
from drivers.fingerprint_protocol import (
    PID_ACK,
    PID_COMMAND,
    PID_DATA,
    PID_END,
    FrameError,
    Packet,
    PacketParser,
    build_ack,
    build_command,
    build_data_packets,
    build_packet,
    parse_packet,
)


@pytest.mark.parametrize(
    ("encoded", "expected_hex"),
    [
        (build_command(0x13, b"\x00\x00\x00\x00"), "EF01FFFFFFFF010007130000000000 1B"),
        (build_ack(0x00), "EF01FFFFFFFF0700030000 0A"),
        (build_command(0x01), "EF01FFFFFFFF0100030100 05"),
        (build_ack(0x02), "EF01FFFFFFFF0700030200 0C"),
        (build_command(0x04, bytes.fromhex("01000003E8")), "EF01FFFFFFFF010008040100 0003E800F9"),
        (build_ack(0x00, bytes.fromhex("00050096")), "EF01FFFFFFFF070007000005009600A9"),
    ],
)
def test_known_packets_match_the_datasheet_examples(encoded: bytes, expected_hex: str) -> None:
    assert encoded == bytes.fromhex(expected_hex.replace(" ", ""))


def test_parse_round_trip_keeps_pid_payload_and_address() -> None:
    raw = build_packet(PID_DATA, b"\x01\x02\x03", address=0x12345678)
    assert parse_packet(raw) == Packet(PID_DATA, b"\x01\x02\x03", 0x12345678)
    assert Packet(PID_DATA, b"\x01\x02\x03", 0x12345678).encode() == raw


@pytest.mark.parametrize(
    "raw",
    [
        build_ack(0)[:-1] + b"\x00",  # checksum wrong
        build_ack(0)[:-3],  # truncated
        b"\x55" + build_ack(0),  # garbage in front
        build_ack(0) + build_ack(0),  # two packets
    ],
)
def test_parse_packet_rejects_anything_but_one_clean_packet(raw: bytes) -> None:
    with pytest.raises(SensorProtocolError):
        parse_packet(raw)


def test_byte_by_byte_feed_keeps_a_lone_trailing_ef() -> None:
    parser = PacketParser()
    raw = build_command(0x13, b"\x00\x00\x00\x00")
    got: list = []
    for b in raw:
        got += parser.feed(bytes((b,)))
    assert got == [Packet(PID_COMMAND, b"\x13\x00\x00\x00\x00")]
    assert parser.pending == 0 and parser.discarded == 0


def test_garbage_before_a_packet_is_skipped_and_counted() -> None:
    parser = PacketParser()
    assert parser.feed(b"\x55\x00\xef") == []
    assert parser.pending == 1  # the 0xEF may start a header
    assert parser.feed(build_ack(0)[1:]) == [Packet(PID_ACK, b"\x00")]
    assert parser.discarded == 2


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (b"\xef\x01\xff\xff\xff\xff\x07\xff\xff", "length"),  # length 65535
        (b"\xef\x01\xff\xff\xff\xff\x07\x00\x00", "length"),  # length 0
        (b"\xef\x01\xff\xff\xff\xff\x55\x00\x03", "pid"),
        (build_ack(0)[:-1] + b"\x0b", "checksum"),
    ],
)
def test_bad_frames_are_reported_and_the_next_packet_still_found(bad: bytes, reason: str) -> None:
    parser = PacketParser()
    items = parser.feed(bad + build_ack(0x09))
    assert [i.reason for i in items if isinstance(i, FrameError)] == [reason]
    assert [i for i in items if isinstance(i, Packet)] == [Packet(PID_ACK, b"\x09")]
    assert parser.pending == 0


def test_truncated_packet_followed_by_a_real_one_recovers_the_real_one() -> None:
    parser = PacketParser()
    real = build_ack(0x00, b"\x00\x05\x00\x96")
    items = parser.feed(real[:10] + real)
    assert items[-1] == Packet(PID_ACK, b"\x00\x00\x05\x00\x96")
    assert any(isinstance(i, FrameError) for i in items)


def test_data_packets_split_by_size_and_end_with_end_packet() -> None:
    data = bytes(range(256)) * 2
    parser = PacketParser()
    packets = parser.feed(build_data_packets(data, 128))
    assert [p.pid for p in packets] == [PID_DATA, PID_DATA, PID_DATA, PID_END]
    assert b"".join(p.payload for p in packets) == data


def test_payload_too_long_for_one_packet_is_refused() -> None:
    with pytest.raises(ValueError):
        build_packet(PID_DATA, bytes(257))


@settings(max_examples=300, deadline=None, database=None)
@given(
    payloads=st.lists(st.binary(min_size=1, max_size=64), min_size=1, max_size=5),
    noise=st.lists(st.binary(max_size=20).filter(lambda b: b"\xef\x01" not in b and not b.endswith(b"\xef")), min_size=6, max_size=6),
    cuts=st.lists(st.integers(min_value=1, max_value=40), max_size=30),
)
def test_any_fragmentation_with_noise_between_packets_yields_every_packet(
    payloads: list[bytes], noise: list[bytes], cuts: list[int]
) -> None:
    stream = b"".join(noise[i] + build_ack(0, p) for i, p in enumerate(payloads)) + noise[-1]
    parser = PacketParser()
    got: list = []
    pos = 0
    for cut in cuts:
        got += parser.feed(stream[pos : pos + cut])
        pos += cut
    got += parser.feed(stream[pos:])
    assert got == [Packet(PID_ACK, b"\x00" + p) for p in payloads]


@settings(max_examples=300, deadline=None, database=None)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_never_crash_and_the_buffer_stays_bounded(data: bytes) -> None:
    parser = PacketParser()
    for item in parser.feed(data):
        assert isinstance(item, (Packet, FrameError))
    assert parser.pending <= 9 + 258
