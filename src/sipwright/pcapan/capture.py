"""Reading capture files into transport-layer packets.

Classic pcap (both byte orders, micro- and nanosecond timestamps) is read with a
few lines of ``struct`` so a truncated file is noticed exactly; pcapng goes through
``dpkt.pcapng``.  Link layers: Ethernet (with 802.1Q tags), Linux cooked v1/v2,
BSD loopback, raw IP; IPv4 and IPv6; UDP and TCP.  IP fragments are skipped.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import dpkt

__all__ = ["CaptureError", "Packet", "read_packets"]


class CaptureError(Exception):
    """A capture that cannot be read; the message names the file and the problem."""


@dataclass(frozen=True, slots=True)
class Packet:
    """One UDP datagram or TCP segment."""

    number: int  # frame number, 1-based as in Wireshark
    time: float
    transport: str  # "udp" | "tcp"
    source: tuple[str, int]
    destination: tuple[str, int]
    payload: bytes
    seq: int = 0  # TCP only
    flags: int = 0  # TCP only


# LINKTYPE_* values of the tcpdump.org registry.
ETHERNET = 1
NULL = 0
LOOP = 108
RAW = 101
RAW_BSD = (12, 14)
LINUX_SLL = 113
LINUX_SLL2 = 276
IPV4 = 228
IPV6 = 229
_PCAP_MAGIC = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
_PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"


def _frames_pcap(handle: BinaryIO, name: str) -> Iterator[tuple[int, float, bytes]]:
    header = handle.read(24)
    order, unit = _PCAP_MAGIC[header[:4]]
    if len(header) < 24:
        raise CaptureError(f"{name}: truncated pcap file header")
    linktype = struct.unpack(order + "I", header[20:24])[0] & 0x0FFFFFFF
    number = 0
    while record := handle.read(16):
        number += 1
        if len(record) < 16:
            raise CaptureError(f"{name}: truncated at packet {number} (record header)")
        seconds, fraction, caplen, _ = struct.unpack(order + "IIII", record)
        data = handle.read(caplen)
        if len(data) < caplen:
            raise CaptureError(
                f"{name}: truncated at packet {number} ({len(data)} of {caplen} octets)"
            )
        yield linktype, seconds + fraction * unit, data


def _frames_pcapng(handle: BinaryIO, name: str) -> Iterator[tuple[int, float, bytes]]:
    try:
        reader = dpkt.pcapng.Reader(handle)
        linktype = reader.datalink()
        for timestamp, data in reader:
            yield linktype, float(timestamp), bytes(data)
    except (ValueError, struct.error, dpkt.UnpackError) as error:
        raise CaptureError(f"{name}: truncated or malformed pcapng ({error})") from None


def _network_layer(linktype: int, data: bytes) -> dpkt.Packet | None:
    """The IP packet inside one frame, or None (ARP, not IP, ...)."""
    if linktype == ETHERNET:
        frame = dpkt.ethernet.Ethernet(data)
    elif linktype == LINUX_SLL:
        frame = dpkt.sll.SLL(data)
    elif linktype == LINUX_SLL2:
        frame = dpkt.sll2.SLL2(data)
    elif linktype in (NULL, LOOP):
        frame = dpkt.loopback.Loopback(data)
    elif linktype in (RAW, *RAW_BSD, IPV4, IPV6):
        version = data[0] >> 4 if data else 0
        if version == 4:
            return dpkt.ip.IP(data)
        return dpkt.ip6.IP6(data) if version == 6 else None
    else:
        raise ValueError(linktype)
    inner = frame.data
    return inner if isinstance(inner, dpkt.ip.IP | dpkt.ip6.IP6) else None


def _transport(number: int, time: float, ip: dpkt.Packet) -> Packet | None:
    if isinstance(ip, dpkt.ip.IP):
        if ip.mf or ip.offset:
            return None  # a fragment
        source = str(ipaddress.IPv4Address(ip.src))
        destination = str(ipaddress.IPv4Address(ip.dst))
    else:
        source = str(ipaddress.IPv6Address(ip.src))
        destination = str(ipaddress.IPv6Address(ip.dst))
    segment = ip.data
    if isinstance(segment, dpkt.udp.UDP):
        return Packet(
            number,
            time,
            "udp",
            (source, segment.sport),
            (destination, segment.dport),
            bytes(segment.data),
        )
    if isinstance(segment, dpkt.tcp.TCP):
        return Packet(
            number,
            time,
            "tcp",
            (source, segment.sport),
            (destination, segment.dport),
            bytes(segment.data),
            seq=segment.seq,
            flags=segment.flags,
        )
    return None


def read_packets(path: Path) -> list[Packet]:
    """Every UDP and TCP packet of the capture at ``path``, in file order."""
    name = str(path)
    try:
        handle = path.open("rb")
    except OSError as error:
        raise CaptureError(f"{name}: {error.strerror}") from None
    with handle:
        magic = handle.read(4)
        handle.seek(0)
        if magic in _PCAP_MAGIC:
            frames = _frames_pcap(handle, name)
        elif magic == _PCAPNG_MAGIC:
            frames = _frames_pcapng(handle, name)
        else:
            raise CaptureError(f"{name}: not a pcap or pcapng file")
        packets: list[Packet] = []
        for number, (linktype, time, data) in enumerate(frames, start=1):
            try:
                ip = _network_layer(linktype, data)
            except ValueError:
                raise CaptureError(f"{name}: unsupported link type {linktype}") from None
            except (dpkt.UnpackError, struct.error, IndexError):
                continue  # a frame too short for its headers
            if ip is None:
                continue
            packet = _transport(number, time, ip)
            if packet is not None:
                packets.append(packet)
    return packets
