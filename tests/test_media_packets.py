"""RTP and RTCP packets (RFC 3550 §5.1, §6.4) and the receiver statistics of Appendix A."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from sipwright.media import MediaError
from sipwright.media.call_stats import MediaStats
from sipwright.media.rtcp import (
    Bye,
    ReceiverReport,
    ReportBlock,
    RtcpPacket,
    Sdes,
    SenderReport,
    UnknownRtcp,
    build_compound,
    parse_compound,
)
from sipwright.media.rtcp_reporter import RtcpReporter
from sipwright.media.rtp import RtpPacket, is_rtcp
from sipwright.media.stats import (
    ReceiverStats,
    SenderStats,
    ntp_from_unix,
    ntp_middle,
    round_trip_time,
)

# --- RTP ----------------------------------------------------------------------------


def test_rtp_round_trip_with_every_header_field() -> None:
    packet = RtpPacket(
        8, 65535, 0xFFFFFFF0, 0xDEADBEEF, b"\xd5" * 160, marker=True,
        csrc=(1, 2), extension=(0xBEDE, b"\x10\x01\x00\x00"), padding=4,
    )  # fmt: skip
    data = bytes(packet)
    assert data[0] == 0x80 | 0x20 | 0x10 | 2 and data[1] == 0x80 | 8
    assert len(data) == 12 + 8 + 8 + 160 + 4
    assert RtpPacket.parse(data) == packet


def test_rtp_known_bytes() -> None:
    data = bytes.fromhex("80000001000000a0000004d2") + b"\xff\xff"
    packet = RtpPacket.parse(data)
    assert (packet.payload_type, packet.sequence_number, packet.timestamp) == (0, 1, 160)
    assert (packet.ssrc, packet.payload, packet.marker) == (1234, b"\xff\xff", False)
    assert bytes(packet) == data


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"\x80\x00\x00", "shorter than 12"),
        (bytes.fromhex("400000010000000000000001"), "version 1"),
        (bytes.fromhex("830000010000000000000001") + b"\0" * 4, "CSRC"),
        (bytes.fromhex("900000010000000000000001") + b"\0\0", "extension"),
        (bytes.fromhex("900000010000000000000001") + b"\0\0\0\x05", "extension longer"),
        (bytes.fromhex("a00000010000000000000001") + b"\x00", "padding"),
        (bytes.fromhex("a00000010000000000000001") + b"\x09", "padding"),
    ],
)
def test_rtp_rejects_malformed(data: bytes, words: str) -> None:
    with pytest.raises(MediaError, match=words):
        RtpPacket.parse(data)


def test_rtp_refuses_impossible_values() -> None:
    with pytest.raises(MediaError):
        RtpPacket(128, 0, 0, 0)
    with pytest.raises(MediaError):
        RtpPacket(0, 70000, 0, 0)
    with pytest.raises(MediaError):
        RtpPacket(0, 0, 0, 0, extension=(1, b"abc"))


def test_rtcp_is_told_apart_from_rtp() -> None:
    assert is_rtcp(bytes(ReceiverReport(1)))
    assert not is_rtcp(bytes(RtpPacket(0, 1, 1, 1)))
    assert not is_rtcp(bytes(RtpPacket(8, 1, 1, 1, marker=True)))


# --- RTCP ---------------------------------------------------------------------------


def test_rtcp_compound_round_trip() -> None:
    block = ReportBlock(0x1111, 25, -3, 70000, 42, 0xAABBCCDD, 65536)
    packets: list[RtcpPacket] = [
        SenderReport(0x2222, ntp_from_unix(1_700_000_000.5), 160, 10, 1600, (block,)),
        ReceiverReport(0x2222, (block, ReportBlock(3, 0, 5, 9, 0))),
        Sdes(((0x2222, ((1, b"alice@example.com"), (6, b"sipwright"))), (7, ((1, b"x"),)))),
        Bye((0x2222,), b"call ended"),
        UnknownRtcp(204, 1, b"\0\0\0\1name"),
    ]
    data = build_compound(packets)
    assert len(data) % 4 == 0
    assert parse_compound(data) == packets
    assert parse_compound(data)[2].cname(7) == b"x"  # type: ignore[union-attr]


def test_rtcp_sender_report_known_layout() -> None:
    sr = bytes(SenderReport(1, (5 << 32) | 7, 2, 3, 4))
    header, ssrc, ntp, rest = "80c80006", "00000001", "0000000500000007", "000000020000000300000004"
    assert sr == bytes.fromhex(header + ssrc + ntp + rest)


@pytest.mark.parametrize(
    "data",
    [
        b"\x80\xc9",
        bytes.fromhex("80c90005000004d2"),  # length runs past the datagram
        bytes.fromhex("40c90001000004d2"),  # version 1
        bytes.fromhex("81c90001000004d2"),  # one report block announced, none there
        bytes.fromhex("80c90001000004d2ff"),  # trailing octet
        bytes.fromhex("81ca0001000004d2"),  # SDES chunk without its terminator
    ],
)
def test_rtcp_rejects_malformed(data: bytes) -> None:
    with pytest.raises(MediaError):
        parse_compound(data)


# --- statistics (RFC 3550 A.1, A.3, A.8) ---------------------------------------------


def test_loss_and_fraction_per_interval() -> None:
    stats = ReceiverStats()
    for seq in range(100):
        if seq % 10 != 3:  # lose 10 of 100
            stats.receive(7, seq, seq * 160, seq * 0.02, 160)
    assert (stats.expected, stats.received, stats.lost) == (100, 90, 10)
    block = stats.report_block(0.0)
    assert block is not None
    assert block.fraction_lost == (10 << 8) // 100
    assert block.packets_lost == 10 and block.highest_sequence == 99
    for seq in range(100, 120):
        stats.receive(7, seq, seq * 160, seq * 0.02, 160)
    second = stats.report_block(0.0)
    assert second is not None and second.fraction_lost == 0 and second.packets_lost == 10


def test_sequence_wrap_and_reordering() -> None:
    stats = ReceiverStats()
    order = [65533, 65534, 0, 65535, 1, 2, 2]  # reordered around the wrap, one duplicate
    for i, seq in enumerate(order):
        stats.receive(1, seq, i * 160, i * 0.02, 160)
    assert stats.extended_max == 65536 + 2
    assert stats.expected == 6
    assert stats.received == 7 and stats.duplicates == 1
    assert stats.lost == -1  # A.3: duplicates make loss negative


def test_restart_after_a_big_jump_needs_two_packets() -> None:
    stats = ReceiverStats()
    stats.receive(1, 10, 0, 0.0, 1)
    assert stats.receive(1, 20000, 0, 0.0, 1) is False
    assert stats.receive(1, 20001, 0, 0.0, 1) is True
    assert stats.base_seq == 20001 and stats.received == 1


def test_jitter_per_a8() -> None:
    stats = ReceiverStats()
    # Every other packet arrives 4 ms late: |D| alternates 32 timestamp units.
    for seq in range(2000):
        stats.receive(1, seq, seq * 160, seq * 0.02 + (0.004 if seq % 2 else 0.0), 160)
    assert stats.jitter == pytest.approx(32.0, rel=1e-3)
    assert stats.jitter_seconds == pytest.approx(0.004, rel=1e-3)
    steady = ReceiverStats()
    for seq in range(50):
        steady.receive(1, seq, (seq * 160 + 0xFFFFF000) & 0xFFFFFFFF, seq * 0.02, 160)
    assert steady.jitter == pytest.approx(0.0, abs=1e-6)  # the timestamp wrapped harmlessly


def test_rtt_from_lsr_and_dlsr() -> None:
    sent_at = 1_700_000_000.0
    ntp = ntp_from_unix(sent_at)
    peer = ReceiverStats()
    peer.receive(9, 1, 0, 0.0, 1)
    peer.sender_report(ntp, sent_at + 0.030)  # our SR took 30 ms to get there
    block = peer.report_block(sent_at + 0.530)  # the peer held it 500 ms
    assert block is not None and block.lsr == ntp_middle(ntp)
    assert block.dlsr == pytest.approx(0.5 * 65536, abs=1)
    rtt = round_trip_time(block, sent_at + 0.560)  # and its RR took 30 ms back
    assert rtt == pytest.approx(0.060, abs=0.001)
    assert round_trip_time(ReportBlock(1, 0, 0, 0, 0), sent_at) is None


def test_rtcp_reporters_exchange_sr_and_rr_on_a_clock_of_our_own() -> None:
    """Two reporters and no sockets: a's SR, b's RR 500 ms later, a gets its RTT."""
    a_sent, b_received = SenderStats(), ReceiverStats()
    a = RtcpReporter(0xA, b"a", ReceiverStats(), a_sent, MediaStats())
    b = RtcpReporter(0xB, b"b", b_received, SenderStats(), MediaStats())
    for seq in range(50):
        a_sent.sent(160)
        b_received.receive(0xA, seq, seq * 160, seq * 0.02, 160)
    b_received.receive(0xA, 60, 60 * 160, 1.2, 160)  # 50-59 lost: 10 of 61
    wall = 1_700_000_000.0
    sr = a.build(wall, rtp_timestamp=8000)
    kinds = [type(p) for p in parse_compound(sr)]
    assert kinds == [SenderReport, Sdes]  # §6.1: every compound carries SDES CNAME
    assert b.receive(sr, wall + 0.030)
    rr = b.build(wall + 0.530, rtp_timestamp=0)
    assert [type(p) for p in parse_compound(rr)] == [ReceiverReport, Sdes]
    assert a.receive(rr, wall + 0.560)
    assert a.rtt == pytest.approx(0.060, abs=0.001)
    assert a.stats.remote_loss == pytest.approx(10 / 61, abs=1 / 256)
    assert [type(p) for p in parse_compound(a.build(wall + 1, 0, bye=True))][-1] is Bye
    assert not a.receive(b"\x80\xc8\x00", wall) and a.stats.malformed == 1


def test_rtcp_interval_is_randomised_and_the_first_comes_sooner() -> None:
    reporter = RtcpReporter(1, b"x", ReceiverStats(), SenderStats(), MediaStats())
    first = reporter.next_interval()
    assert 1.25 <= first <= 3.75  # §6.2 half the interval, §6.3.5 times 0.5-1.5
    assert all(2.5 <= reporter.next_interval() <= 7.5 for _ in range(100))


# --- layering -----------------------------------------------------------------------

FORBIDDEN = {"asyncio", "socket", "selectors", "trio", "time", "threading"}
PUMPS = {"session.py", "rtp_sender.py", "pacer.py"}  # the only modules allowed to run asyncio


def test_media_algorithms_do_no_io() -> None:
    root = Path(__file__).resolve().parents[1] / "src" / "sipwright" / "media"
    offenders = []
    for path in sorted(root.glob("*.py")):
        if path.name in PUMPS:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert not offenders
    assert len(list(root.glob("*.py"))) >= 10
