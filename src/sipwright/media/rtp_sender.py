"""The sending half of a media session, driven by the loop's :class:`Pacer`.

:class:`RtpSender` numbers our packets (random initial sequence number, timestamp and
SSRC, RFC 3550 §5.1), sends one every ptime against absolute deadlines (start +
n * ptime), so that scheduling delays never accumulate into drift, and sends either
an audio source, a pcap's packets with their captured spacing (as SIPp's
play_pcap_audio does), or DTMF queued in between: RFC 4733 events (all packets of
one event share its start timestamp, §2.5.1.2) or in-band tones.  Where the bytes
go (SRTP, the socket, the latched address) is the session's business: the
:class:`RtpLink` it hands over.

Each packet is sent from a pacer job, not a task of its own (see
:mod:`sipwright.media.pacer`), and counts as late when it leaves more than 5 ms
after its deadline, by the clock read just before it is sent.
"""

from __future__ import annotations

import asyncio
import collections
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import numpy as np

from sipwright.media.call_stats import MediaStats
from sipwright.media.dtmf import event_packets, tone
from sipwright.media.errors import MediaError
from sipwright.media.g711 import CODECS_BY_PT, G711Codec
from sipwright.media.pacer import PacerJob, pacer_for
from sipwright.media.pcap_source import PcapStream
from sipwright.media.rtp import pack_header
from sipwright.media.sources import AudioSource
from sipwright.media.stats import SenderStats

if TYPE_CHECKING:
    from sipwright.media.session import StreamParams

__all__ = ["RtpLink", "RtpSender"]

_LATE = 0.005  # a packet sent this late (s) counts as a late send

RecordSent = Callable[[np.ndarray], None]


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
        record_sent: RecordSent | None = None,
    ) -> None:
        self.link = link
        self.source = source
        self.stats = stats
        self.record_sent = record_sent  # None: nobody records, frames may stay coded
        self.ssrc = random.getrandbits(32)
        self.sequence = random.getrandbits(16)
        self.timestamp = random.getrandbits(32)
        self.counters = SenderStats()
        self.played = asyncio.Event()  # a finite source (WAV, pcap) has been sent
        self._dtmf_packets: collections.deque[tuple[bool, bytes] | None] = collections.deque()
        self._tones: collections.deque[np.ndarray] = collections.deque()
        self._dtmf_idle = asyncio.Event()
        self._dtmf_idle.set()
        self._job: PacerJob | None = None
        self._event_ts: int | None = None  # the RFC 4733 event being sent
        self._pcap_start = 0.0
        self._pcap_next = 0
        self._pcap_base = 0

    def send(self, payload_type: int, payload: bytes, marker: bool, timestamp: int) -> None:
        """One packet now (also used to echo what we receive)."""
        if not payload or not self.link.can_send():  # b"": an encoder still filling up
            return
        header = pack_header(payload_type, marker, self.sequence, timestamp & 0xFFFFFFFF, self.ssrc)
        self.sequence = (self.sequence + 1) & 0xFFFF
        self.link.transmit(header + payload)
        self.counters.sent(len(payload))

    def start(self) -> None:
        """Start sending the source (the session has its parameters)."""
        if self._job is not None:
            return
        now = time.monotonic()
        if isinstance(self.source, PcapStream):
            if not self.source.packets:
                self.played.set()
                return
            self._pcap_start, self._pcap_next, self._pcap_base = now, 0, self.timestamp
            self._job = pacer_for().add(self._pcap_tick, now + self.source.packets[0].offset)
        else:
            self._job = pacer_for().add(self._audio_tick, now)

    def stop(self) -> None:
        """No more packets; release anyone waiting in :meth:`send_dtmf`."""
        if self._job is not None:
            self._job.cancel()
            self._job = None
        self._dtmf_idle.set()

    def _params(self) -> StreamParams:
        params = self.link.params
        assert params is not None, "the session starts the sender once it has parameters"
        return params

    def _audio_tick(self, deadline: float, now: float) -> float:
        """One ptime of the source (or of queued DTMF); returns the next deadline."""
        if now - deadline > _LATE:
            self.stats.late_sends += 1
        params = self._params()  # a re-INVITE may change the codec
        codec = params.codec
        step = 8 * params.ptime_ms  # samples of our 8 kHz audio
        record = self.record_sent
        samples: np.ndarray | None = None
        if self._dtmf_packets:
            item = self._dtmf_packets.popleft()
            if item is None:  # the pause between two digits
                self._event_ts = None
                samples = np.zeros(step, dtype=np.int16)
                self.send(codec.payload_type, codec.encode(samples), False, self.timestamp)
            else:
                marker, payload = item
                if self._event_ts is None:
                    self._event_ts = self.timestamp  # §2.5.1.2: all packets share the start
                self.send(params.dtmf_payload_type or 101, payload, marker, self._event_ts)
                samples = np.zeros(step, dtype=np.int16) if record is not None else None
        else:
            self._event_ts = None
            source = self.source
            assert isinstance(source, AudioSource)
            if self._tones:
                samples = self._tones.popleft()
                payload = codec.encode(samples)
            elif record is None and isinstance(codec, G711Codec):
                payload = source.encoded(step, codec)
            else:
                samples = source.read(step)
                payload = codec.encode(samples)
            if source.finished:
                self.played.set()
            self.send(codec.payload_type, payload, False, self.timestamp)
        if not self._dtmf_packets and not self._tones:
            self._dtmf_idle.set()
        if record is not None and samples is not None:
            record(samples)
        self.timestamp = (self.timestamp + codec.clock_rate * params.ptime_ms // 1000) & 0xFFFFFFFF
        return deadline + params.ptime_ms / 1000

    def _pcap_tick(self, deadline: float, now: float) -> float | None:
        """Replay one captured payload; the next one is due at its captured offset."""
        if now - deadline > _LATE:
            self.stats.late_sends += 1
        stream = self.source
        assert isinstance(stream, PcapStream)
        packet = stream.packets[self._pcap_next]
        params = self._params()
        payload, payload_type = packet.payload, packet.payload_type
        recorded = CODECS_BY_PT.get(payload_type)
        codec = params.codec
        if recorded is not None:  # captured G.711: sent as is, or in the call's codec
            payload, payload_type = codec.transcode(payload, recorded), codec.payload_type
            if self.record_sent is not None:
                self.record_sent(recorded.decode(packet.payload))
        # The capture's timestamps count 8 kHz samples; the call's clock may be faster.
        offset = packet.timestamp_offset * max(1, codec.clock_rate // 8000)
        self.timestamp = (self._pcap_base + offset) & 0xFFFFFFFF
        self.send(payload_type, payload, packet.marker, self.timestamp)
        self._pcap_next += 1
        if self._pcap_next == len(stream.packets):
            self._job = None
            self.played.set()
            return None
        return self._pcap_start + stream.packets[self._pcap_next].offset

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
