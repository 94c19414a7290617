"""RTP streams in a capture: per SSRC, packets, loss and interarrival jitter
(RFC 3550 §6.4.1 and appendix A.3, A.8), and RFC 4733 telephone events.

Which UDP datagrams are RTP: those to or from an address an SDP in the capture
announced (m= port at the c= address), or, with no SDP at all, any datagram that
parses as RTP version 2 with a payload type outside the RTCP range (RFC 5761 §4).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sipwright.pcapan.capture import Packet
from sipwright.pcapan.sip_messages import SipPacket
from sipwright.sip.errors import ParseError

__all__ = [
    "DtmfEvent",
    "MediaInfo",
    "RtpHeader",
    "RtpStream",
    "analyze_rtp",
    "media_from_sdp",
    "parse_rtp",
]

# RFC 3551 table 4/5: static payload types and their RTP clock rates.
STATIC_CLOCK = {0: 8000, 3: 8000, 4: 8000, 5: 8000, 8: 8000, 9: 8000, 13: 8000, 18: 8000}
STATIC_NAMES = {0: "PCMU", 3: "GSM", 4: "G723", 8: "PCMA", 9: "G722", 13: "CN", 18: "G729"}
# RFC 4733 §3.2: events 0-9, *, #, A-D, flash.
EVENT_NAMES = "0123456789*#ABCD"


@dataclass(frozen=True, slots=True)
class RtpHeader:
    """RFC 3550 §5.1."""

    marker: bool
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes


def parse_rtp(data: bytes) -> RtpHeader | None:
    """The RTP header of ``data``, or None when it is not plausibly RTP."""
    if len(data) < 12 or data[0] >> 6 != 2:
        return None
    first, second, sequence, timestamp, ssrc = struct.unpack_from("!BBHII", data)
    payload_type = second & 0x7F
    if 72 <= payload_type <= 79:  # RTCP packet types 200-207 with the marker bit
        return None
    offset = 12 + 4 * (first & 0x0F)
    if first & 0x10:  # header extension, RFC 3550 §5.3.1
        if len(data) < offset + 4:
            return None
        offset += 4 + 4 * struct.unpack_from("!H", data, offset + 2)[0]
    end = len(data)
    if first & 0x20:  # padding: the last octet counts them
        end -= data[-1]
    if offset > end:
        return None
    return RtpHeader(bool(second & 0x80), payload_type, sequence, timestamp, ssrc, data[offset:end])


@dataclass(slots=True)
class MediaInfo:
    """What the SDP of the capture says about payload types and media addresses."""

    addresses: set[tuple[str, int]] = field(default_factory=set)
    encodings: dict[int, tuple[str, int]] = field(default_factory=dict)  # pt -> (name, rate)
    crypto: dict[tuple[str, int], list[str]] = field(default_factory=dict)  # address -> lines


def media_from_sdp(messages: Iterable[SipPacket]) -> MediaInfo:
    info = MediaInfo()
    for packet in messages:
        message = packet.message
        try:
            content_type = (message.content_type or "").lower()
        except ParseError:
            continue
        if not message.body or "application/sdp" not in content_type:
            continue
        _read_sdp(message.body.decode("utf-8", "replace"), info)
    return info


def _read_sdp(text: str, info: MediaInfo) -> None:
    # Read line by line (RFC 8866 §5): session c= applies to every m= without its own.
    session_host = ""
    host = ""
    port: int | None = None
    for line in text.replace("\r\n", "\n").split("\n"):
        kind, _, value = line.partition("=")
        if kind == "c":
            parts = value.split()
            if len(parts) >= 3:
                if port is None:
                    session_host = parts[2].split("/")[0]
                host = parts[2].split("/")[0]
                if port is not None:
                    info.addresses.add((host, port))
        elif kind == "m":
            parts = value.split()
            port = int(parts[1].split("/")[0]) if len(parts) > 1 and parts[1].isdigit() else 0
            host = session_host
            if host and port:
                info.addresses.add((host, port))
        elif kind == "a" and value.startswith("rtpmap:"):
            number, _, encoding = value[7:].partition(" ")
            name, _, rest = encoding.partition("/")
            rate = rest.split("/")[0]
            if number.isdigit() and rate.isdigit():
                info.encodings[int(number)] = (name, int(rate))
        elif kind == "a" and value.startswith("crypto:") and port:
            info.crypto.setdefault((host, port), []).append(value[7:])


@dataclass(frozen=True, slots=True)
class DtmfEvent:
    digit: str
    start: float  # capture time of the first packet
    duration_ms: float
    rtp_timestamp: int


@dataclass(slots=True)
class RtpStream:
    source: tuple[str, int]
    destination: tuple[str, int]
    ssrc: int
    payload_types: dict[int, int] = field(default_factory=dict)  # pt -> packets
    packets: int = 0
    first_time: float = 0.0
    last_time: float = 0.0
    expected: int = 0
    lost: int = 0
    duplicates: int = 0
    jitter_ms: float = 0.0
    max_jitter_ms: float = 0.0
    events: list[DtmfEvent] = field(default_factory=list)

    @property
    def payload_type(self) -> int:
        """The most used payload type that is not telephone-event."""
        return max(self.payload_types, key=lambda pt: self.payload_types[pt])

    def as_dict(self) -> dict[str, object]:
        return {
            "source": f"{self.source[0]}:{self.source[1]}",
            "destination": f"{self.destination[0]}:{self.destination[1]}",
            "ssrc": f"0x{self.ssrc:08x}",
            "payload_types": {str(k): v for k, v in sorted(self.payload_types.items())},
            "packets": self.packets,
            "expected": self.expected,
            "lost": self.lost,
            "duplicates": self.duplicates,
            "loss_percent": round(100 * self.lost / self.expected, 2) if self.expected else 0.0,
            "jitter_ms": round(self.jitter_ms, 3),
            "max_jitter_ms": round(self.max_jitter_ms, 3),
            "duration_s": round(self.last_time - self.first_time, 3),
            "dtmf": "".join(event.digit for event in self.events),
        }


def _is_event(payload_type: int, header: RtpHeader, info: MediaInfo) -> bool:
    encoding = info.encodings.get(payload_type)
    if encoding is not None:
        return encoding[0].lower() == "telephone-event"
    # no SDP for it: a dynamic type carrying 4-octet event blocks (RFC 4733 §2.3)
    return (
        96 <= payload_type <= 127
        and len(header.payload) % 4 == 0
        and len(header.payload) > 0
        and header.payload[0] <= 16
    )


def _clock(payload_type: int, info: MediaInfo) -> int:
    encoding = info.encodings.get(payload_type)
    if encoding is not None:
        return encoding[1]
    return STATIC_CLOCK.get(payload_type, 8000)


def analyze_rtp(
    packets: Sequence[Packet], info: MediaInfo, *, sdp_seen: bool = False
) -> list[RtpStream]:
    """The RTP streams (per source, destination and SSRC), in order of appearance."""
    streams: dict[tuple[tuple[str, int], tuple[str, int], int], RtpStream] = {}
    state: dict[int, _StreamState] = {}
    for packet in packets:
        if packet.transport != "udp":
            continue
        if sdp_seen and not (
            packet.source in info.addresses or packet.destination in info.addresses
        ):
            continue
        header = parse_rtp(packet.payload)
        if header is None:
            continue
        key = (packet.source, packet.destination, header.ssrc)
        stream = streams.get(key)
        if stream is None:
            stream = streams[key] = RtpStream(packet.source, packet.destination, header.ssrc)
            stream.first_time = packet.time
            state[id(stream)] = _StreamState()
        stream.packets += 1
        stream.last_time = packet.time
        stream.payload_types[header.payload_type] = (
            stream.payload_types.get(header.payload_type, 0) + 1
        )
        state[id(stream)].add(stream, header, packet.time, info)
    result = list(streams.values())
    for stream in result:
        state[id(stream)].finish(stream)
    return result


@dataclass(slots=True)
class _StreamState:
    """RFC 3550 A.1/A.3 sequence bookkeeping and A.8 jitter, plus open events."""

    base: int | None = None
    highest: int = 0  # extended highest sequence number
    seen: set[int] = field(default_factory=set)  # extended sequence numbers
    duplicates: int = 0
    transit: float | None = None
    jitter: float = 0.0
    media_type: int | None = None
    events: dict[int, tuple[int, float, int, int]] = field(default_factory=dict)

    def add(self, stream: RtpStream, header: RtpHeader, time: float, info: MediaInfo) -> None:
        if self.base is None:
            self.base = self.highest = extended = header.sequence
        else:
            cycles = self.highest & ~0xFFFF
            candidate = cycles | header.sequence
            # pick the extended number closest to the highest seen (wrap either way)
            if candidate - self.highest > 0x8000:
                candidate -= 0x10000
            elif self.highest - candidate > 0x8000:
                candidate += 0x10000
            self.highest = max(self.highest, candidate)
            extended = candidate
        if extended in self.seen:
            # a duplicate (RFC 4733 §2.5.1.4 sends the end of an event three times
            # with the same sequence number)
            self.duplicates += 1
        self.seen.add(extended)
        if _is_event(header.payload_type, header, info):
            self._event(header, time, _clock(header.payload_type, info))
            return
        if self.media_type is None:
            self.media_type = header.payload_type
        if header.payload_type != self.media_type:
            return
        clock = _clock(header.payload_type, info)
        transit = time * clock - header.timestamp
        if self.transit is not None:
            delta = abs(transit - self.transit)
            self.jitter += (delta - self.jitter) / 16  # A.8: J += (|D| - J) / 16
            stream.max_jitter_ms = max(stream.max_jitter_ms, self.jitter * 1000 / clock)
        self.transit = transit
        stream.jitter_ms = self.jitter * 1000 / clock

    def _event(self, header: RtpHeader, time: float, clock: int) -> None:
        # RFC 4733 §2.3: event, E|R|volume, duration; one event per RTP timestamp
        payload = header.payload
        event = payload[0]
        duration = struct.unpack_from("!H", payload, 2)[0]
        known = self.events.get(header.timestamp)
        start = known[1] if known else time
        longest = max(duration, known[2] if known else 0)
        self.events[header.timestamp] = (event, start, longest, clock)

    def finish(self, stream: RtpStream) -> None:
        if self.base is not None:
            stream.expected = self.highest - self.base + 1
            stream.lost = max(0, stream.expected - len(self.seen))
            stream.duplicates = self.duplicates
        for timestamp, (event, start, duration, clock) in sorted(
            self.events.items(), key=lambda item: item[1][1]
        ):
            digit = EVENT_NAMES[event] if event < len(EVENT_NAMES) else f"<{event}>"
            stream.events.append(DtmfEvent(digit, start, duration * 1000 / clock, timestamp))
        # the stream's payload type is the media one when there is media
        if self.media_type is not None and len(stream.payload_types) > 1:
            count = stream.payload_types.pop(self.media_type)
            stream.payload_types = {self.media_type: count, **stream.payload_types}
