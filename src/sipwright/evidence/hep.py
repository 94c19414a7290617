"""HEPv3 (the Homer Encapsulation Protocol): mirror every SIP message to a Homer
capture server over UDP (``--hep HOST:PORT``).

A HEPv3 packet is the magic ``HEP3``, its total length (16 bits) and a list of
chunks, each ``vendor-id (16) | type-id (16) | length (16, header included) |
value`` in network byte order (HEP3 specification, sipcapture.org).  The encoder
and decoder are plain functions; ``HepSender`` only owns a UDP socket.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
import time
from dataclasses import dataclass

from sipwright.net.endpoint import MessageLog

__all__ = ["HepError", "HepPacket", "HepSender", "decode_hep", "encode_hep"]

MAGIC = b"HEP3"
# Chunk types of the generic vendor (0), HEP3 specification §"Chunk types".
IP_FAMILY = 1
IP_PROTOCOL = 2
IPV4_SOURCE = 3
IPV4_DESTINATION = 4
IPV6_SOURCE = 5
IPV6_DESTINATION = 6
SOURCE_PORT = 7
DESTINATION_PORT = 8
TIMESTAMP_SECONDS = 9
TIMESTAMP_MICROSECONDS = 10
PROTOCOL_TYPE = 11
CAPTURE_AGENT_ID = 12
AUTH_KEY = 14
PAYLOAD = 15
CORRELATION_ID = 17

FAMILY_IPV4 = 2  # AF_INET as HEP writes it
FAMILY_IPV6 = 10  # AF_INET6 (Linux value, as HEP writes it)
PROTOCOL_SIP = 1
_TRANSPORT_PROTOCOL = {"udp": 17, "tcp": 6, "tls": 6, "ws": 6, "wss": 6}


class HepError(ValueError):
    """Bytes that are not a well-formed HEPv3 packet."""


@dataclass(frozen=True, slots=True)
class HepPacket:
    """What one HEPv3 packet carries (the fields sipwright writes)."""

    source: tuple[str, int]
    destination: tuple[str, int]
    timestamp: float
    payload: bytes
    ip_protocol: int = 17
    protocol_type: int = PROTOCOL_SIP
    agent_id: int | None = None
    password: str | None = None
    correlation_id: str | None = None


def _chunk(kind: int, value: bytes) -> bytes:
    return struct.pack("!HHH", 0, kind, 6 + len(value)) + value


def encode_hep(packet: HepPacket) -> bytes:
    source = ipaddress.ip_address(packet.source[0].strip("[]"))
    destination = ipaddress.ip_address(packet.destination[0].strip("[]"))
    if source.version != destination.version:
        raise ValueError("source and destination must both be IPv4 or both IPv6")
    v6 = source.version == 6
    seconds = int(packet.timestamp)
    micros = round((packet.timestamp - seconds) * 1_000_000) % 1_000_000
    chunks = [
        _chunk(IP_FAMILY, bytes([FAMILY_IPV6 if v6 else FAMILY_IPV4])),
        _chunk(IP_PROTOCOL, bytes([packet.ip_protocol])),
        _chunk(IPV6_SOURCE if v6 else IPV4_SOURCE, source.packed),
        _chunk(IPV6_DESTINATION if v6 else IPV4_DESTINATION, destination.packed),
        _chunk(SOURCE_PORT, struct.pack("!H", packet.source[1])),
        _chunk(DESTINATION_PORT, struct.pack("!H", packet.destination[1])),
        _chunk(TIMESTAMP_SECONDS, struct.pack("!I", seconds)),
        _chunk(TIMESTAMP_MICROSECONDS, struct.pack("!I", micros)),
        _chunk(PROTOCOL_TYPE, bytes([packet.protocol_type])),
    ]
    if packet.agent_id is not None:
        chunks.append(_chunk(CAPTURE_AGENT_ID, struct.pack("!I", packet.agent_id)))
    if packet.password is not None:
        chunks.append(_chunk(AUTH_KEY, packet.password.encode()))
    if packet.correlation_id is not None:
        chunks.append(_chunk(CORRELATION_ID, packet.correlation_id.encode()))
    chunks.append(_chunk(PAYLOAD, packet.payload))
    body = b"".join(chunks)
    total = 6 + len(body)
    if total > 0xFFFF:
        raise ValueError(f"message too large for one HEP packet ({total} octets)")
    return MAGIC + struct.pack("!H", total) + body


def decode_hep(data: bytes) -> HepPacket:
    """Parse one HEPv3 packet; ``HepError`` names what is wrong."""
    if len(data) < 6 or data[:4] != MAGIC:
        raise HepError("not a HEPv3 packet (no HEP3 magic)")
    (total,) = struct.unpack_from("!H", data, 4)
    if total != len(data):
        raise HepError(f"HEP length says {total} octets, packet has {len(data)}")
    fields: dict[int, bytes] = {}
    offset = 6
    while offset < total:
        if offset + 6 > total:
            raise HepError(f"truncated chunk header at offset {offset}")
        vendor, kind, length = struct.unpack_from("!HHH", data, offset)
        if length < 6 or offset + length > total:
            raise HepError(f"chunk {kind} at offset {offset} has bad length {length}")
        if vendor == 0:
            fields[kind] = data[offset + 6 : offset + length]
        offset += length
    try:
        v6 = fields[IP_FAMILY] == bytes([FAMILY_IPV6])
        src_key, dst_key = (
            (IPV6_SOURCE, IPV6_DESTINATION) if v6 else (IPV4_SOURCE, IPV4_DESTINATION)
        )
        source = str(ipaddress.ip_address(fields[src_key]))
        destination = str(ipaddress.ip_address(fields[dst_key]))
        (sport,) = struct.unpack("!H", fields[SOURCE_PORT])
        (dport,) = struct.unpack("!H", fields[DESTINATION_PORT])
        (seconds,) = struct.unpack("!I", fields[TIMESTAMP_SECONDS])
        (micros,) = struct.unpack("!I", fields[TIMESTAMP_MICROSECONDS])
        payload = fields[PAYLOAD]
    except (KeyError, struct.error, ValueError) as error:
        raise HepError(f"missing or malformed HEP chunk: {error}") from None
    agent = fields.get(CAPTURE_AGENT_ID)
    password = fields.get(AUTH_KEY)
    correlation = fields.get(CORRELATION_ID)
    return HepPacket(
        source=(source, sport),
        destination=(destination, dport),
        timestamp=seconds + micros / 1_000_000,
        payload=payload,
        ip_protocol=fields.get(IP_PROTOCOL, b"\x11")[0],
        protocol_type=fields.get(PROTOCOL_TYPE, b"\x01")[0],
        agent_id=struct.unpack("!I", agent)[0] if agent and len(agent) == 4 else None,
        password=password.decode("utf-8", "replace") if password is not None else None,
        correlation_id=correlation.decode("utf-8", "replace") if correlation else None,
    )


class HepSender:
    """``--hep``: sends a HEPv3 copy of each logged message to a collector (UDP).

    A collector that is down must not stop the test: send errors are counted.
    """

    def __init__(
        self, host: str, port: int, *, agent_id: int | None = None, password: str | None = None
    ) -> None:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        family, _, _, _, address = infos[0]
        self._address = address
        self._socket = socket.socket(family, socket.SOCK_DGRAM)
        self._socket.setblocking(False)
        self.agent_id = agent_id
        self.password = password
        self.sent = 0
        self.errors = 0

    def __call__(self, entry: MessageLog) -> None:
        if entry.direction == "sent":
            source, destination = entry.local, entry.remote
        else:
            source, destination = entry.remote, entry.local
        self.send(entry.transport, source, destination, entry.data)

    def send(
        self, transport: str, source: tuple[str, int], destination: tuple[str, int], data: bytes
    ) -> None:
        packet = HepPacket(
            source=source,
            destination=destination,
            timestamp=time.time(),
            payload=data,
            ip_protocol=_TRANSPORT_PROTOCOL.get(transport, 17),
            agent_id=self.agent_id,
            password=self.password,
            correlation_id=_call_id(data),
        )
        try:
            self._socket.sendto(encode_hep(packet), self._address)
        except (OSError, ValueError):
            self.errors += 1
            return
        self.sent += 1

    def close(self) -> None:
        self._socket.close()


def _call_id(data: bytes) -> str | None:
    """The Call-ID, as Homer correlates on it (cheap scan, no full parse)."""
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() in (b"call-id", b"i"):
            return value.strip().decode("utf-8", "replace")
    return None
