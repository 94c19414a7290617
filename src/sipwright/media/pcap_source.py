"""RTP to replay from a capture file, as SIPp's ``play_pcap_audio`` does.

:func:`read_pcap_rtp` reads a pcap/pcapng file with dpkt, keeps the UDP datagrams that
parse as RTP, and returns the largest stream (by SSRC): each packet's payload, payload
type, marker and its offset in time and in RTP timestamp from the stream's first
packet, so a sender can replay the payloads with the original timing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sipwright.media.errors import MediaError
from sipwright.media.rtp import RtpPacket, is_rtcp

__all__ = ["PcapPacket", "PcapStream", "read_pcap_rtp"]

_ETHERNET, _NULL, _RAW, _LINUX_SLL, _LOOP, _RAW_IP = 1, 0, 101, 113, 108, 12


@dataclass(frozen=True, slots=True)
class PcapPacket:
    offset: float  # seconds after the stream's first packet
    timestamp_offset: int  # RTP timestamp units after the first packet's
    payload_type: int
    marker: bool
    payload: bytes


@dataclass(frozen=True, slots=True)
class PcapStream:
    ssrc: int
    packets: tuple[PcapPacket, ...]

    @property
    def payload_types(self) -> set[int]:
        return {p.payload_type for p in self.packets}

    @property
    def duration(self) -> float:
        return self.packets[-1].offset if self.packets else 0.0


# dpkt is imported where a capture is read: every command imports this module for
# its types, few read captures, and dpkt costs ~30 ms of start-up.


def _ip_of(link: int, frame: bytes) -> Any:
    import dpkt  # noqa: PLC0415 - see above

    if link == _ETHERNET:
        return dpkt.ethernet.Ethernet(frame).data
    if link == _LINUX_SLL:
        return dpkt.sll.SLL(frame).data
    if link in (_NULL, _LOOP):
        return dpkt.loopback.Loopback(frame).data
    if link in (_RAW, _RAW_IP):
        return dpkt.ip6.IP6(frame) if frame[:1] and frame[0] >> 4 == 6 else dpkt.ip.IP(frame)
    raise MediaError(f"link type {link} is not supported (Ethernet, SLL, loopback, raw IP)")


def _reader(handle: Any, path: Path) -> Any:
    import dpkt  # noqa: PLC0415 - see above

    try:
        return dpkt.pcap.Reader(handle)
    except ValueError:
        handle.seek(0)
    try:
        return dpkt.pcapng.Reader(handle)
    except ValueError:
        raise MediaError(f"{path}: not a pcap or pcapng file") from None


def read_pcap_rtp(path: Path) -> PcapStream:
    """The largest RTP stream of a capture; MediaError if there is none or no file."""
    import dpkt  # noqa: PLC0415 - see above

    streams: dict[int, list[tuple[float, RtpPacket]]] = defaultdict(list)
    try:
        with path.open("rb") as handle:
            reader = _reader(handle, path)
            link = reader.datalink()
            for when, frame in reader:
                try:
                    ip = _ip_of(link, frame)
                except (dpkt.dpkt.UnpackError, dpkt.dpkt.NeedData, IndexError):
                    continue
                udp = getattr(ip, "data", None)
                if not isinstance(udp, dpkt.udp.UDP) or is_rtcp(bytes(udp.data)):
                    continue
                try:
                    packet = RtpPacket.parse(bytes(udp.data))
                except MediaError:
                    continue
                streams[packet.ssrc].append((float(when), packet))
    except OSError as error:
        raise MediaError(f"{path}: {error.strerror or error}") from None
    except (dpkt.dpkt.NeedData, dpkt.dpkt.UnpackError) as error:
        raise MediaError(f"{path}: truncated or damaged capture ({error})") from None
    if not streams:
        raise MediaError(f"{path}: no RTP packets in the capture")
    ssrc, packets = max(streams.items(), key=lambda item: len(item[1]))
    first_time, first = packets[0]
    return PcapStream(
        ssrc,
        tuple(
            PcapPacket(
                max(0.0, when - first_time),
                (p.timestamp - first.timestamp) & 0xFFFFFFFF,
                p.payload_type,
                p.marker,
                p.payload,
            )
            for when, p in packets
        ),
    )
