"""The sending half of a media session: an asyncio pump around the media algorithms.

:class:`RtpSender` numbers our packets (random initial sequence number, timestamp and
SSRC, RFC 3550 §5.1), paces them every ptime against absolute deadlines (start +
n * ptime), so that scheduling delays never accumulate into drift, and sends either
an audio source, a pcap's packets with their captured spacing (as SIPp's
play_pcap_audio does), or DTMF queued in between: RFC 4733 events (all packets of
one event share its start timestamp, §2.5.1.2) or in-band tones.  Where the bytes
go (SRTP, the socket, the latched address) is the session's business: the
:class:`RtpLink` it hands over.
"""

from __future__ import annotations

import asyncio
import collections
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import numpy as np

from sipwright.media.call_stats import MediaStats
from sipwright.media.dtmf import event_packets, tone
from sipwright.media.errors import MediaError
from sipwright.media.g711 import CODECS_BY_PT
from sipwright.media.pcap_source import PcapStream
from sipwright.media.rtp import RtpPacket
from sipwright.media.sources import AudioSource
from sipwright.media.stats import SenderStats

if TYPE_CHECKING:
    from sipwright.media.session import StreamParams

__all__ = ["RtpLink", "RtpSender"]

_LATE = 0.005  # a packet sent this late (s) counts as a late send


class RtpLink(Protocol):
    """Where the sender's packets go: the session's current parameters and socket."""

    params: StreamParams | None

    def can_send(self) -> bool:
        """A peer address is known, the direction allows sending, the socket is open."""
        ...

    def transmit(self, packet: bytes) -> None:
        """Protect (SRTP) and send one serialized RTP packet to the peer."""
        ...


class RtpSender:
    """Our RTP stream: numbering, pacing, the source and DTMF."""

    def __init__(
        self,
        link: RtpLink,
        source: AudioSource | PcapStream,
        stats: MediaStats,
        record_sent: Callable[[np.ndarray], None],
    ) -> None:
        self.link = link
        self.source = source
        self.stats = stats
        self.record_sent = record_sent
        self.ssrc = random.getrandbits(32)
        self.sequence = random.getrandbits(16)
        self.timestamp = random.getrandbits(32)
        self.counters = SenderStats()
        self.played = asyncio.Event()  # a finite source (WAV, pcap) has been sent
        self._dtmf_packets: collections.deque[tuple[bool, bytes] | None] = collections.deque()
        self._tones: collections.deque[np.ndarray] = collections.deque()
        self._dtmf_idle = asyncio.Event()
        self._dtmf_idle.set()

    def send(self, payload_type: int, payload: bytes, marker: bool, timestamp: int) -> None:
        """One packet now (also used to echo what we receive)."""
        if not self.link.can_send():
            return
        timestamp &= 0xFFFFFFFF
        packet = RtpPacket(payload_type, self.sequence, timestamp, self.ssrc, payload, marker)
        self.sequence = (self.sequence + 1) & 0xFFFF
        self.link.transmit(bytes(packet))
        self.counters.sent(len(payload))

    def stop(self) -> None:
        """Release anyone waiting in :meth:`send_dtmf` (the session closed)."""
        self._dtmf_idle.set()

    async def _pace(self, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        delay = deadline - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        elif -delay > _LATE:
            self.stats.late_sends += 1

    def _params(self) -> StreamParams:
        params = self.link.params
        assert params is not None, "the session starts the sender once it has parameters"
        return params

    async def run(self) -> None:
        """The pump: the source (audio or pcap) until the session closes."""
        if isinstance(self.source, PcapStream):
            await self._play_pcap(self.source)
        else:
            await self._play(self.source)

    async def _play(self, source: AudioSource) -> None:
        params = self._params()
        step = 8000 * params.ptime_ms // 1000
        tick = params.ptime_ms / 1000
        deadline = asyncio.get_running_loop().time()
        event_ts: int | None = None
        while True:
            params = self._params()  # a re-INVITE may change the codec
            if self._dtmf_packets:
                item = self._dtmf_packets.popleft()
                samples = np.zeros(step, dtype=np.int16)
                if item is None:  # the pause between two digits
                    event_ts = None
                    payload = params.codec.encode(samples)
                    self.send(params.codec.payload_type, payload, False, self.timestamp)
                else:
                    marker, payload = item
                    if event_ts is None:
                        event_ts = self.timestamp  # §2.5.1.2: all packets share the start
                    self.send(params.dtmf_payload_type or 101, payload, marker, event_ts)
            else:
                event_ts = None
                if self._tones:
                    samples = self._tones.popleft()
                else:
                    samples = source.read(step)
                    if source.finished:
                        self.played.set()
                payload = params.codec.encode(samples)
                self.send(params.codec.payload_type, payload, False, self.timestamp)
            if not self._dtmf_packets and not self._tones:
                self._dtmf_idle.set()
            self.record_sent(samples)
            self.timestamp = (self.timestamp + step) & 0xFFFFFFFF
            deadline += tick
            await self._pace(deadline)

    async def _play_pcap(self, stream: PcapStream) -> None:
        """Replay captured payloads with their original spacing (SIPp play_pcap_audio)."""
        start = asyncio.get_running_loop().time()
        base = self.timestamp
        for packet in stream.packets:
            await self._pace(start + packet.offset)
            params = self._params()
            payload, payload_type = packet.payload, packet.payload_type
            recorded = CODECS_BY_PT.get(payload_type)
            if recorded is not None:  # G.711 of the other law: transcode
                payload = params.codec.transcode(payload, recorded)
                payload_type = params.codec.payload_type
                self.record_sent(params.codec.decode(payload))
            self.timestamp = (base + packet.timestamp_offset) & 0xFFFFFFFF
            self.send(payload_type, payload, packet.marker, self.timestamp)
        self.played.set()

    async def send_dtmf(
        self, digits: str, *, mode: str = "rfc4733", duration_ms: int = 100, gap_ms: int = 100
    ) -> None:
        """Queue ``digits`` as RFC 4733 events or in-band tones; returns once sent."""
        params = self.link.params
        if params is None:
            raise MediaError("the media session has not started")
        ticks = max(1, gap_ms // params.ptime_ms)
        step = 8000 * params.ptime_ms // 1000
        for digit in digits:
            if mode == "rfc4733":
                if params.dtmf_payload_type is None:
                    raise MediaError("the peer did not accept telephone-event (RFC 4733)")
                packets = event_packets(digit, duration_ms=duration_ms, ptime_ms=params.ptime_ms)
                self._dtmf_packets.extend([*packets, *([None] * ticks)])
            elif mode == "inband":
                signal = np.concatenate(
                    (tone(digit, duration_ms), np.zeros(ticks * step, np.int16))
                )
                signal = np.concatenate((signal, np.zeros(-len(signal) % step, np.int16)))
                self._tones.extend(signal.reshape(-1, step))
            else:
                raise MediaError(f"DTMF mode {mode!r} is not rfc4733 or inband")
            self._dtmf_idle.clear()
        await self._dtmf_idle.wait()
