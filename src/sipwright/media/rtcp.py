"""RTCP packets (RFC 3550 §6.4-6.6): SR, RR, SDES and BYE, alone or in compounds.

Each packet is a frozen dataclass; ``bytes(packet)`` serializes it and
:func:`parse_compound` splits a compound packet (§6.1) into them.  Packet types we do
not model (APP, feedback, XR) come back as :class:`UnknownRtcp` so nothing is lost.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from sipwright.media.errors import MediaError

__all__ = [
    "Bye",
    "ReceiverReport",
    "ReportBlock",
    "RtcpPacket",
    "Sdes",
    "SenderReport",
    "UnknownRtcp",
    "build_compound",
    "parse_compound",
]

SR, RR, SDES, BYE = 200, 201, 202, 203
CNAME = 1  # SDES item type (§6.5.1)
_BLOCK = struct.Struct("!IBBHIIII")  # ssrc, fraction, lost(24 bits split), ...


def _header(count: int, packet_type: int, body: bytes) -> bytes:
    """§6.4.1 common header: V=2, P=0, count, PT, length in 32-bit words minus one."""
    if len(body) % 4:
        raise MediaError("an RTCP packet is a whole number of 32-bit words")
    return struct.pack("!BBH", 0x80 | count, packet_type, len(body) // 4) + body


@dataclass(frozen=True, slots=True)
class ReportBlock:
    """One reception report (§6.4.1): what we heard from ``ssrc``."""

    ssrc: int
    fraction_lost: int  # lost/expected since the last report, as a fraction of 256
    packets_lost: int  # cumulative, signed 24 bits (duplicates can make it negative)
    highest_sequence: int  # extended highest sequence number received
    jitter: int  # interarrival jitter in timestamp units (§6.4.1, A.8)
    lsr: int = 0  # middle 32 bits of the last SR's NTP timestamp, 0 if none
    dlsr: int = 0  # delay since that SR in 1/65536 s

    def __bytes__(self) -> bytes:
        lost = max(-0x800000, min(0x7FFFFF, self.packets_lost)) & 0xFFFFFF
        return _BLOCK.pack(
            self.ssrc,
            self.fraction_lost & 0xFF,
            lost >> 16,
            lost & 0xFFFF,
            self.highest_sequence & 0xFFFFFFFF,
            self.jitter & 0xFFFFFFFF,
            self.lsr & 0xFFFFFFFF,
            self.dlsr & 0xFFFFFFFF,
        )

    @classmethod
    def parse(cls, data: bytes, offset: int) -> ReportBlock:
        ssrc, fraction, high, low, seq, jitter, lsr, dlsr = _BLOCK.unpack_from(data, offset)
        lost = (high << 16) | low
        if lost & 0x800000:
            lost -= 0x1000000
        return cls(ssrc, fraction, lost, seq, jitter, lsr, dlsr)


@dataclass(frozen=True, slots=True)
class SenderReport:
    ssrc: int
    ntp_timestamp: int  # 64-bit NTP time (§4)
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: tuple[ReportBlock, ...] = ()

    def __bytes__(self) -> bytes:
        body = struct.pack(
            "!IQIII",
            self.ssrc,
            self.ntp_timestamp,
            self.rtp_timestamp & 0xFFFFFFFF,
            self.packet_count & 0xFFFFFFFF,
            self.octet_count & 0xFFFFFFFF,
        )
        return _header(len(self.reports), SR, body + b"".join(map(bytes, self.reports)))


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    ssrc: int
    reports: tuple[ReportBlock, ...] = ()

    def __bytes__(self) -> bytes:
        body = struct.pack("!I", self.ssrc) + b"".join(map(bytes, self.reports))
        return _header(len(self.reports), RR, body)


@dataclass(frozen=True, slots=True)
class Sdes:
    """Source descriptions (§6.5): (ssrc, ((item type, value), ...)) per chunk."""

    chunks: tuple[tuple[int, tuple[tuple[int, bytes], ...]], ...]

    def cname(self, ssrc: int) -> bytes | None:
        for source, items in self.chunks:
            if source == ssrc:
                return next((value for kind, value in items if kind == CNAME), None)
        return None

    def __bytes__(self) -> bytes:
        body = b""
        for ssrc, items in self.chunks:
            chunk = struct.pack("!I", ssrc)
            for kind, value in items:
                chunk += bytes([kind, len(value)]) + value
            # The item list ends with a null octet, then pads to a 32-bit boundary.
            chunk += bytes(4 - len(chunk) % 4)
            body += chunk
        return _header(len(self.chunks), SDES, body)


@dataclass(frozen=True, slots=True)
class Bye:
    sources: tuple[int, ...]
    reason: bytes = b""

    def __bytes__(self) -> bytes:
        body = b"".join(struct.pack("!I", s) for s in self.sources)
        if self.reason:
            text = bytes([len(self.reason)]) + self.reason
            body += text + bytes(-len(text) % 4)
        return _header(len(self.sources), BYE, body)


@dataclass(frozen=True, slots=True)
class UnknownRtcp:
    packet_type: int
    count: int
    body: bytes

    def __bytes__(self) -> bytes:
        return _header(self.count, self.packet_type, self.body)


RtcpPacket = SenderReport | ReceiverReport | Sdes | Bye | UnknownRtcp


def _blocks(data: bytes, offset: int, count: int, end: int) -> tuple[ReportBlock, ...]:
    if offset + 24 * count > end:
        raise MediaError("RTCP report blocks run past the packet")
    return tuple(ReportBlock.parse(data, offset + 24 * i) for i in range(count))


def _sdes(data: bytes, count: int) -> Sdes:
    chunks = []
    pos = 0
    for _ in range(count):
        if pos + 4 > len(data):
            raise MediaError("SDES chunk truncated")
        (ssrc,) = struct.unpack_from("!I", data, pos)
        pos += 4
        items = []
        while pos < len(data) and data[pos] != 0:
            if pos + 2 > len(data) or pos + 2 + data[pos + 1] > len(data):
                raise MediaError("SDES item truncated")
            size = data[pos + 1]
            items.append((data[pos], bytes(data[pos + 2 : pos + 2 + size])))
            pos += 2 + size
        if pos >= len(data):
            raise MediaError("SDES chunk without its terminating null octet")
        pos += 4 - pos % 4  # the null terminator and padding to the next word
        chunks.append((ssrc, tuple(items)))
    return Sdes(tuple(chunks))


def _parse_one(packet_type: int, count: int, body: bytes) -> RtcpPacket:
    if packet_type == SR:
        if len(body) < 24:
            raise MediaError("RTCP SR shorter than its sender info")
        ssrc, ntp, rtp_ts, packets, octets = struct.unpack_from("!IQIII", body)
        blocks = _blocks(body, 24, count, len(body))
        return SenderReport(ssrc, ntp, rtp_ts, packets, octets, blocks)
    if packet_type == RR:
        if len(body) < 4:
            raise MediaError("RTCP RR without its SSRC")
        (ssrc,) = struct.unpack_from("!I", body)
        return ReceiverReport(ssrc, _blocks(body, 4, count, len(body)))
    if packet_type == SDES:
        return _sdes(body, count)
    if packet_type == BYE:
        if len(body) < 4 * count:
            raise MediaError("RTCP BYE truncated")
        sources = struct.unpack_from(f"!{count}I", body)
        rest = body[4 * count :]
        reason = bytes(rest[1 : 1 + rest[0]]) if rest else b""
        return Bye(tuple(sources), reason)
    return UnknownRtcp(packet_type, count, bytes(body))


def parse_compound(data: bytes) -> list[RtcpPacket]:
    """Split and parse a compound RTCP packet (§6.1); :class:`MediaError` if malformed."""
    packets: list[RtcpPacket] = []
    pos = 0
    if len(data) < 4:
        raise MediaError(f"RTCP packet of {len(data)} octets is shorter than 4")
    while pos < len(data):
        if pos + 4 > len(data):
            raise MediaError("trailing octets after the last RTCP packet")
        first, packet_type, words = struct.unpack_from("!BBH", data, pos)
        if first >> 6 != 2:
            raise MediaError(f"RTCP version {first >> 6}, expected 2")
        end = pos + 4 + 4 * words
        if end > len(data):
            raise MediaError("RTCP length field runs past the datagram")
        body = data[pos + 4 : end]
        if first & 0x20:  # padding, only allowed on the last packet (§6.4.1)
            if not body or body[-1] > len(body):
                raise MediaError("bad RTCP padding")
            body = body[: len(body) - body[-1]]
        packets.append(_parse_one(packet_type, first & 0x1F, bytes(body)))
        pos = end
    return packets


def build_compound(packets: Sequence[RtcpPacket]) -> bytes:
    """§6.1: a compound packet is the packets back to back (SR/RR first, then SDES)."""
    return b"".join(bytes(packet) for packet in packets)
