"""RTP packets (RFC 3550 §5.1): parse and build the fixed header, CSRCs, extension."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from sipwright.media.errors import MediaError

__all__ = ["RtpPacket", "is_rtcp", "pack_header", "read_packet"]

_HEADER = struct.Struct("!BBHII")
_PLAIN = 0x80  # first octet of V=2 with no padding, no extension and no CSRC


def is_rtcp(data: bytes) -> bool:
    """RFC 5761 §4: RTCP packet types 192-223 fall where RTP has M+PT 192-223 (PT 64-95),
    payload types no one uses for RTP, so the second octet tells them apart."""
    return len(data) >= 2 and 192 <= data[1] <= 223


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """One RTP packet; ``bytes(packet)`` serializes it, :meth:`parse` reads one."""

    payload_type: int
    sequence_number: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrc: tuple[int, ...] = ()
    extension: tuple[int, bytes] | None = None  # (profile-defined 16 bits, data)
    padding: int = 0  # padding octets to add/that were removed (§5.1 P bit)

    def __post_init__(self) -> None:
        if not 0 <= self.payload_type <= 127:
            raise MediaError(f"RTP payload type {self.payload_type} is not 0-127")
        if not 0 <= self.sequence_number <= 0xFFFF:
            raise MediaError(f"RTP sequence number {self.sequence_number} is not 16 bits")
        if not 0 <= self.timestamp <= 0xFFFFFFFF or not 0 <= self.ssrc <= 0xFFFFFFFF:
            raise MediaError("RTP timestamp and SSRC are 32-bit unsigned")
        if len(self.csrc) > 15:
            raise MediaError("at most 15 CSRCs fit the CC field")
        if self.extension is not None and len(self.extension[1]) % 4:
            raise MediaError("an RTP header extension is a whole number of 32-bit words")
        if not 0 <= self.padding <= 255:
            raise MediaError("RTP padding is 0-255 octets")

    def __bytes__(self) -> bytes:
        first = 0x80 | (0x20 if self.padding else 0) | len(self.csrc)
        if self.extension is not None:
            first |= 0x10
        second = (0x80 if self.marker else 0) | self.payload_type
        parts = [_HEADER.pack(first, second, self.sequence_number, self.timestamp, self.ssrc)]
        parts += [struct.pack("!I", c) for c in self.csrc]
        if self.extension is not None:
            profile, data = self.extension
            parts.append(struct.pack("!HH", profile, len(data) // 4) + data)
        parts.append(self.payload)
        if self.padding:
            parts.append(bytes(self.padding - 1) + bytes([self.padding]))
        return b"".join(parts)

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        """Parse one packet; :class:`MediaError` says what is wrong with a bad one."""
        if len(data) < 12:
            raise MediaError(f"RTP packet of {len(data)} octets is shorter than 12")
        first, second, seq, ts, ssrc = _HEADER.unpack_from(data)
        if first >> 6 != 2:
            raise MediaError(f"RTP version {first >> 6}, expected 2")
        count = first & 0x0F
        pos = 12 + 4 * count
        if len(data) < pos:
            raise MediaError("RTP packet truncated inside its CSRC list")
        csrc = struct.unpack_from(f"!{count}I", data, 12)
        extension = None
        if first & 0x10:  # §5.3.1: 16-bit profile field, 16-bit length in words
            if len(data) < pos + 4:
                raise MediaError("RTP packet truncated inside its header extension")
            profile, words = struct.unpack_from("!HH", data, pos)
            end = pos + 4 + 4 * words
            if len(data) < end:
                raise MediaError("RTP header extension longer than the packet")
            extension = (profile, bytes(data[pos + 4 : end]))
            pos = end
        stop = len(data)
        padding = 0
        if first & 0x20:  # §5.1: the last octet counts the padding, itself included
            padding = data[-1]
            if padding == 0 or stop - padding < pos:
                raise MediaError("RTP padding count is 0 or longer than the payload")
            stop -= padding
        return cls(
            second & 0x7F,
            seq,
            ts,
            ssrc,
            bytes(data[pos:stop]),
            marker=bool(second & 0x80),
            csrc=tuple(csrc),
            extension=extension,
            padding=padding,
        )


def pack_header(payload_type: int, marker: bool, sequence: int, timestamp: int, ssrc: int) -> bytes:
    """The 12-octet fixed header of a packet with no CSRC or extension (§5.1): what a
    media pump sends 50 times a second per stream, without building an RtpPacket.
    The caller keeps the fields in range (sequence 16 bits, timestamp/SSRC 32 bits)."""
    return _HEADER.pack(_PLAIN, payload_type | (0x80 if marker else 0), sequence, timestamp, ssrc)


def read_packet(data: bytes) -> tuple[int, bool, int, int, int, bytes]:
    """(payload type, marker, sequence, timestamp, SSRC, payload) of one packet.

    The common case, a bare 12-octet header, is read with one unpack; anything else
    (CSRCs, an extension, padding, a bad version) goes through :meth:`RtpPacket.parse`,
    which also says what is wrong (:class:`MediaError`)."""
    if len(data) >= 12 and data[0] == _PLAIN:
        _, second, seq, ts, ssrc = _HEADER.unpack_from(data)
        return second & 0x7F, second >= 0x80, seq, ts, ssrc, data[12:]
    packet = RtpPacket.parse(data)
    return (packet.payload_type, packet.marker, packet.sequence_number, packet.timestamp,
            packet.ssrc, packet.payload)  # fmt: skip
