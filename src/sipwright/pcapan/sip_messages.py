"""SIP messages out of captured packets: UDP datagrams as they are, TCP streams
reassembled (sequence order, retransmissions dropped) and split by Content-Length
(RFC 3261 §18.3), with the CRLF keep-alives of RFC 5626 §4.4.1 skipped.
"""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from dataclasses import dataclass

import dpkt

from sipwright.pcapan.capture import Packet
from sipwright.sip.errors import ParseError
from sipwright.sip.message import Request, Response, parse_message

__all__ = ["SipPacket", "sip_messages"]

# A start line: a request (method SP Request-URI SP SIP-Version) or a status line.
_START_RE = re.compile(rb"(?:SIP/2\.0 [0-9]{3}|[A-Za-z]+ \S+ SIP/2\.0\r?\n)")
_LENGTH_RE = re.compile(rb"\r?\n(?:content-length|l)[ \t]*:[ \t]*([0-9]{1,9})", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class SipPacket:
    """One SIP message as seen on the wire."""

    number: int  # frame number of the packet that completed it
    time: float
    transport: str
    source: tuple[str, int]
    destination: tuple[str, int]
    raw: bytes
    message: Request | Response

    @property
    def label(self) -> str:
        message = self.message
        if isinstance(message, Request):
            return message.method
        try:
            method = message.cseq.method
        except ParseError:
            method = "?"
        return f"{message.status} {message.reason} ({method})".replace("  ", " ")

    @property
    def short_label(self) -> str:
        """The method, or status and reason: what a ladder arrow carries."""
        message = self.message
        if isinstance(message, Request):
            return message.method
        return f"{message.status} {message.reason}".strip()

    @property
    def call_id(self) -> str:
        try:
            return self.message.call_id
        except ParseError:
            return ""


def _parse(raw: bytes, stream: bool) -> Request | Response | None:
    if not _START_RE.match(raw):
        return None
    try:
        return parse_message(raw, strict=False, lazy=True, stream=stream)
    except ParseError:
        return None


@dataclass(slots=True)
class _Stream:
    segments: dict[int, tuple[bytes, float, int]]  # seq -> (data, time, frame number)
    isn: int | None = None


def _tcp_messages(packets: list[Packet]) -> list[SipPacket]:
    streams: dict[tuple[tuple[str, int], tuple[str, int]], _Stream] = defaultdict(
        lambda: _Stream({})
    )
    for packet in packets:
        stream = streams[(packet.source, packet.destination)]
        if packet.flags & dpkt.tcp.TH_SYN:
            stream.isn = (packet.seq + 1) & 0xFFFFFFFF
        if packet.payload:
            # a retransmission keeps the first copy (same sequence number)
            stream.segments.setdefault(packet.seq, (packet.payload, packet.time, packet.number))
    found: list[SipPacket] = []
    for (source, destination), stream in streams.items():
        if not stream.segments:
            continue
        start = stream.isn if stream.isn is not None else min(stream.segments)
        data = bytearray()
        offsets: list[int] = []  # where each segment starts in ``data``
        stamps: list[tuple[float, int]] = []
        # order by distance from the start, so a sequence-number wrap is handled
        for seq in sorted(stream.segments, key=lambda s: (s - start) & 0xFFFFFFFF):
            payload, time, number = stream.segments[seq]
            relative = (seq - start) & 0xFFFFFFFF
            if relative > len(data):
                break  # a gap: segments missing from the capture; stop at it
            fresh = payload[len(data) - relative :]
            if not fresh:
                continue
            offsets.append(len(data))
            stamps.append((time, number))
            data += fresh
        found.extend(_split_stream(bytes(data), offsets, stamps, source, destination))
    return found


def _split_stream(
    data: bytes,
    offsets: list[int],
    stamps: list[tuple[float, int]],
    source: tuple[str, int],
    destination: tuple[str, int],
) -> list[SipPacket]:
    found: list[SipPacket] = []
    position = 0
    while position < len(data):
        while data.startswith(b"\r\n", position):
            position += 2
        end = data.find(b"\r\n\r\n", position)
        if end < 0 or not _START_RE.match(data, position):
            break  # not SIP (TLS, WebSocket, ...) or the stream ends inside headers
        match = _LENGTH_RE.search(data, position, end)
        total = end + 4 + (int(match.group(1)) if match else 0)
        if total > len(data):
            break
        raw = data[position:total]
        message = _parse(raw, stream=True)
        if message is not None:
            # complete when the last of its segments arrived (they may come out of order)
            first = bisect.bisect_right(offsets, position) - 1
            last = bisect.bisect_right(offsets, total - 1) - 1
            time, number = max(stamps[first : last + 1])
            found.append(SipPacket(number, time, "tcp", source, destination, raw, message))
        position = total
    return found


def sip_messages(packets: list[Packet]) -> list[SipPacket]:
    """Every SIP message in the capture, in time order."""
    found: list[SipPacket] = []
    for packet in packets:
        if packet.transport == "udp" and packet.payload:
            message = _parse(packet.payload, stream=False)
            if message is not None:
                found.append(
                    SipPacket(
                        packet.number,
                        packet.time,
                        "udp",
                        packet.source,
                        packet.destination,
                        packet.payload,
                        message,
                    )
                )
    found.extend(_tcp_messages([p for p in packets if p.transport == "tcp"]))
    found.sort(key=lambda item: (item.time, item.number))
    return found
