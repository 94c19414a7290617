"""``--pcap FILE``: the SIP messages we sent and received as a capture file.

sipwright sees messages, not packets, so the link, IP and transport headers are
synthesized: Ethernet (locally administered MACs), IPv4 or IPv6 from the flow's
addresses, and UDP, or TCP with sequence numbers that continue from segment to
segment and a three-way handshake at the start of each connection, so that
tshark's TCP analysis finds no gaps.  TLS and WebSocket messages are written as
the plain SIP they carried, on TCP.  Checksums are computed (dpkt does it when the
checksum field is 0).
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import dpkt

from sipwright.net.endpoint import MessageLog

__all__ = ["PacketSynthesizer", "PcapWriter"]

# RFC 7042 §2.1: the "locally administered" bit (0x02) marks made-up addresses.
_MAC_LOCAL = b"\x02\x00\x00\x00\x00\x01"
_MAC_REMOTE = b"\x02\x00\x00\x00\x00\x02"
# Segments no larger than a typical Ethernet MSS, as a real stack would send them.
_MSS = 1460

Address = tuple[str, int]


@dataclass(slots=True)
class _TcpState:
    seq: dict[Address, int]  # next sequence number sent by each side


class PacketSynthesizer:
    """Turns (source, destination, payload) into Ethernet frames; sans-I/O."""

    def __init__(self) -> None:
        self._tcp: dict[frozenset[Address], _TcpState] = {}

    def udp(self, source: Address, destination: Address, payload: bytes) -> list[bytes]:
        segment = dpkt.udp.UDP(sport=source[1], dport=destination[1], data=payload)
        segment.ulen = len(segment)
        return [self._frame(source, destination, dpkt.ip.IP_PROTO_UDP, segment)]

    def tcp(self, source: Address, destination: Address, payload: bytes) -> list[bytes]:
        """Frames for ``payload`` on the connection source<->destination; the first
        message of a connection is preceded by SYN, SYN-ACK, ACK (RFC 9293 §3.5)."""
        key = frozenset((source, destination))
        frames: list[bytes] = []
        state = self._tcp.get(key)
        if state is None:
            state = _TcpState({source: 1000, destination: 5000})
            self._tcp[key] = state
            frames.append(self._segment(state, source, destination, dpkt.tcp.TH_SYN, b""))
            state.seq[source] += 1
            flags = dpkt.tcp.TH_SYN | dpkt.tcp.TH_ACK
            frames.append(self._segment(state, destination, source, flags, b""))
            state.seq[destination] += 1
            frames.append(self._segment(state, source, destination, dpkt.tcp.TH_ACK, b""))
        for start in range(0, max(len(payload), 1), _MSS):
            chunk = payload[start : start + _MSS]
            flags = dpkt.tcp.TH_ACK | dpkt.tcp.TH_PUSH
            frames.append(self._segment(state, source, destination, flags, chunk))
            state.seq[source] += len(chunk)
        return frames

    def _segment(
        self, state: _TcpState, source: Address, destination: Address, flags: int, data: bytes
    ) -> bytes:
        ack = state.seq[destination] if flags & dpkt.tcp.TH_ACK else 0
        segment = dpkt.tcp.TCP(
            sport=source[1],
            dport=destination[1],
            seq=state.seq[source],
            ack=ack,
            flags=flags,
            win=65535,
            data=data,
        )
        return self._frame(source, destination, dpkt.ip.IP_PROTO_TCP, segment)

    def _frame(
        self, source: Address, destination: Address, proto: int, segment: dpkt.Packet
    ) -> bytes:
        src = ipaddress.ip_address(source[0].strip("[]"))
        dst = ipaddress.ip_address(destination[0].strip("[]"))
        packet: dpkt.Packet
        if src.version == 6 or dst.version == 6:
            src6 = src if src.version == 6 else ipaddress.IPv6Address(f"::ffff:{src}")
            dst6 = dst if dst.version == 6 else ipaddress.IPv6Address(f"::ffff:{dst}")
            packet = dpkt.ip6.IP6(
                src=src6.packed, dst=dst6.packed, nxt=proto, hlim=64, data=segment
            )
            packet.plen = len(bytes(segment))
            # dpkt computes the transport checksum over the IPv6 pseudo-header here.
            ether_type = dpkt.ethernet.ETH_TYPE_IP6
        else:
            packet = dpkt.ip.IP(src=src.packed, dst=dst.packed, p=proto, ttl=64, data=segment)
            packet.len = len(packet)
            ether_type = dpkt.ethernet.ETH_TYPE_IP
        frame = dpkt.ethernet.Ethernet(
            src=_MAC_LOCAL, dst=_MAC_REMOTE, type=ether_type, data=packet
        )
        return bytes(frame)


class PcapWriter:
    """A classic pcap file (Ethernet link type) of every message logged to it."""

    def __init__(self, path: Path) -> None:
        self._file: BinaryIO = path.open("wb")
        self._writer = dpkt.pcap.Writer(self._file, linktype=dpkt.pcap.DLT_EN10MB)
        self._packets = PacketSynthesizer()

    def __call__(self, entry: MessageLog) -> None:
        if entry.direction == "sent":
            source, destination = entry.local, entry.remote
        else:
            source, destination = entry.remote, entry.local
        self.write_payload(entry.transport, source, destination, entry.data)

    def write_payload(
        self,
        transport: str,
        source: Address,
        destination: Address,
        payload: bytes,
        timestamp: float | None = None,
    ) -> None:
        """One message from ``source`` to ``destination``; UDP, else TCP segments."""
        when = time.time() if timestamp is None else timestamp
        if transport == "udp":
            frames = self._packets.udp(source, destination, payload)
        else:
            frames = self._packets.tcp(source, destination, payload)
        for frame in frames:
            self._writer.writepkt(frame, ts=when)
        self._file.flush()  # an interrupted run keeps what it captured

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
