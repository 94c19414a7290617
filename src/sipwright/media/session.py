"""One call's RTP session: the asyncio pumps around the media algorithms.

A UDP socket pair (RTP on an even port, RTCP on the next, RFC 3550 §11) bound to our
address.  Symmetric RTP (RFC 4961): we send from the socket we receive on.  Latching
("comedia"): once the peer's first packet arrives we send to where it came from,
whatever its SDP said, which is what gets media through NATs and SBCs.

This module receives (SRTP, RTP, DTMF detection, the recording of what arrives) and
owns the sockets; sending is :class:`~sipwright.media.rtp_sender.RtpSender`'s and
the RTCP reports are :class:`~sipwright.media.rtcp_reporter.RtcpReporter`'s, whose
timer runs here (a report every ~5 s, and one with BYE when the session stops).
Both timers are jobs of the loop's :class:`~sipwright.media.pacer.Pacer`: a session
has no task of its own.  Received packets are only decoded when something listens to
the audio (a recording, in-band DTMF detection).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np

from sipwright.media.call_stats import DetectedDigit, MediaStats
from sipwright.media.codecs import AudioCodec
from sipwright.media.dtmf import EventReceiver, ToneDetector
from sipwright.media.errors import MediaError
from sipwright.media.g711 import CODECS_BY_PT
from sipwright.media.pacer import PacerJob, pacer_for
from sipwright.media.pcap_source import PcapStream
from sipwright.media.quality import estimate
from sipwright.media.rtcp_reporter import RtcpReporter
from sipwright.media.rtp import is_rtcp, read_packet
from sipwright.media.rtp_sender import RtpSender
from sipwright.media.sources import AudioSource
from sipwright.media.srtp import SrtpContext
from sipwright.media.stats import ReceiverStats
from sipwright.media.wav import WavWriter

__all__ = ["MediaSession", "StreamParams"]

Address = tuple[str, int]
_MAX_GAP = 8000 * 5  # fill at most 5 s of missing audio with silence in recordings


@dataclass(frozen=True, slots=True)
class StreamParams:
    """What offer/answer decided for the stream (RFC 3264)."""

    codec: AudioCodec
    remote: Address | None  # None: nothing to send to until the peer's packets latch us
    remote_rtcp: Address | None = None
    dtmf_payload_type: int | None = None
    srtp: SrtpContext | None = None
    ptime_ms: int = 20
    send: bool = True  # False for recvonly/inactive directions


class _Socket(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Callable[[bytes, tuple[str | int, ...]], None]) -> None:
        self.on_datagram = on_datagram
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.on_datagram(data, addr)  # made an Address only when it is latched

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP port unreachable before the peer listens: not our problem


class MediaSession:
    """RTP + RTCP for one call: send a source, receive, record, detect DTMF, measure."""

    def __init__(
        self,
        host: str,
        *,
        source: AudioSource | PcapStream | None = None,
        echo: bool = False,
        record_received: Path | None = None,
        record_sent: Path | None = None,
        detect_inband: bool = True,
        cname: str = "sipwright",
        latch: bool = True,
    ) -> None:
        self.host = host
        self.source = source if source is not None else AudioSource()
        self.echo = echo
        self.latch = latch
        self.cname = cname.encode()
        self._stats = MediaStats()
        self._rx = ReceiverStats()
        self.sender = RtpSender(self, self.source, self._stats)
        self.reporter = RtcpReporter(self.sender.ssrc, self.cname, self._rx,
                                     self.sender.counters, self._stats)  # fmt: skip
        self._events = EventReceiver()
        self._inband = ToneDetector() if detect_inband else None
        self._record_paths = (record_received, record_sent)
        self._writers: list[WavWriter | None] = [None, None]
        self._next_ts: int | None = None  # where the received recording continues
        self._decoders: dict[int, AudioCodec] = dict(CODECS_BY_PT)
        self._ticks_per_sample = 1  # RTP clock units per 8 kHz sample (Opus: 6)
        self._digits: asyncio.Queue[DetectedDigit] = asyncio.Queue()
        self.on_digit: Callable[[DetectedDigit], None] | None = None
        self.params: StreamParams | None = None
        self._remote: Address | None = None
        self._remote_rtcp: Address | None = None
        self._latched = False
        self._rtp: _Socket | None = None
        self._rtcp: _Socket | None = None
        self._report_job: PacerJob | None = None
        self.port = 0
        self.stopped = False

    # --- life cycle ----------------------------------------------------------------

    async def open(self, attempts: int = 50) -> int:
        """Bind RTP on an even port and RTCP on the next one; returns the RTP port."""
        loop = asyncio.get_running_loop()
        for _ in range(attempts):
            rtp_transport, rtp = await loop.create_datagram_endpoint(
                lambda: _Socket(self._on_rtp), local_addr=(self.host, 0)
            )
            port = int(rtp_transport.get_extra_info("sockname")[1])
            if port % 2 == 0 and port < 65535:
                try:
                    _, rtcp_socket = await loop.create_datagram_endpoint(
                        lambda: _Socket(self._on_rtcp), local_addr=(self.host, port + 1)
                    )
                except OSError:
                    pass
                else:
                    self._rtp, self._rtcp, self.port = rtp, rtcp_socket, port
                    self._stats.local_address = f"{self.host}:{port}"
                    return port
            rtp_transport.close()
        raise OSError(f"no free even/odd UDP port pair on {self.host}")

    def start(self, params: StreamParams) -> None:
        """Start sending and reporting with what offer/answer decided."""
        received, sent = self._record_paths
        rate = 8000
        self._writers = [
            WavWriter(received, rate) if received is not None else None,
            WavWriter(sent, rate) if sent is not None else None,
        ]
        self.sender.record_sent = self._record_sent if sent is not None else None
        self.update(params)
        if not self.echo:
            self.sender.start()
        first = time.monotonic() + self.reporter.next_interval()
        self._report_job = pacer_for().add(self._report_tick, first)

    def update(self, params: StreamParams) -> None:
        """New parameters (a re-INVITE): keep a latched address unless the peer moved."""
        old = self.params
        self.params = params
        if not self._latched or (old is not None and old.remote != params.remote):
            self._remote = params.remote
            self._latched = False
        if params.remote_rtcp is not None:
            self._remote_rtcp = params.remote_rtcp
        elif params.remote is not None:
            self._remote_rtcp = (params.remote[0], params.remote[1] + 1)
        self._stats.codec = params.codec.name
        # G.711 always decodes (a peer may switch law without asking); the chosen codec
        # keeps its own, stateful, decoder under its negotiated payload type.
        self._decoders = {**CODECS_BY_PT, params.codec.payload_type: params.codec}
        self._rx.clock_rate = params.codec.clock_rate
        self._ticks_per_sample = max(1, params.codec.clock_rate // 8000)
        self._stats.srtp_suite = params.srtp.suite if params.srtp else None

    def close(self) -> None:
        """RTCP BYE (§6.6), then close the sockets and recordings (at once)."""
        if self.stopped:
            return
        self.stopped = True
        self.sender.stop()
        if self._report_job is not None:
            self._report_job.cancel()
        if self.params is not None:
            self.send_report(bye=True)
        for sock in (self._rtp, self._rtcp):
            if sock is not None and sock.transport is not None:
                sock.transport.close()
        for writer in self._writers:
            if writer is not None:
                writer.close()

    async def stop(self) -> None:
        """:meth:`close` (kept awaitable: callers need not know there is nothing to await)."""
        self.close()

    # --- sending (RtpLink for the sender) --------------------------------------------

    def can_send(self) -> bool:
        params = self.params
        return (
            params is not None
            and params.send
            and self._remote is not None
            and (self._rtp is not None and self._rtp.transport is not None)
        )

    def transmit(self, packet: bytes) -> None:
        params = self.params
        if params is None or self._remote is None or self._rtp is None:
            return
        if params.srtp is not None:
            packet = params.srtp.protect(packet)
        if self._rtp.transport is not None:
            self._rtp.transport.sendto(packet, self._remote)

    @property
    def ssrc(self) -> int:
        return self.sender.ssrc

    @property
    def played(self) -> asyncio.Event:
        """Set once a finite source (WAV, pcap) has been sent."""
        return self.sender.played

    async def send_dtmf(
        self, digits: str, *, mode: str = "rfc4733", duration_ms: int = 100, gap_ms: int = 100
    ) -> None:
        """Queue ``digits`` as RFC 4733 events or in-band tones; returns once sent."""
        await self.sender.send_dtmf(digits, mode=mode, duration_ms=duration_ms, gap_ms=gap_ms)

    # --- receiving -------------------------------------------------------------------

    def _on_rtp(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        params = self.params
        if params is None:
            return
        if params.srtp is not None:
            plain = params.srtp.unprotect(data)
            self._stats.srtp_auth_failures = params.srtp.counters.auth_failures
            if plain is None:
                return
            data = plain
        if is_rtcp(data):
            return
        try:
            pt, marker, seq, ts, ssrc, payload = read_packet(data)
        except MediaError:
            self._stats.malformed += 1
            return
        if self.latch and not self._latched:
            self._latched = True
            self._remote = (str(addr[0]), int(addr[1]))
        is_event = pt == params.dtmf_payload_type
        self._rx.receive(ssrc, seq, ts, time.monotonic(), len(payload), timed=not is_event)
        if is_event:
            with contextlib.suppress(MediaError):
                digit = self._events.receive(ts, payload)
                if digit is not None:
                    self.detected(digit, "rfc4733")
            return
        codec = self._decoders.get(pt)
        if codec is None:
            return
        if self.echo:
            self.sender.send(pt, payload, marker, ts)
        if self._writers[0] is None and self._inband is None:
            return  # nobody listens: no need to decode
        try:
            samples = codec.decode(payload)
        except MediaError:
            self._stats.malformed += 1
            return
        self._record(ts, samples)
        if self._inband is not None:
            for digit in self._inband.feed(samples):
                self.detected(digit, "inband")

    def _record(self, timestamp: int, samples: np.ndarray) -> None:
        """Received audio in timestamp order: lost packets become silence."""
        writer = self._writers[0]
        if writer is None:
            return
        ticks = self._ticks_per_sample
        if self._next_ts is not None:
            gap = (timestamp - self._next_ts) & 0xFFFFFFFF
            if gap >= 0x80000000:
                return  # late or duplicate: that stretch is written already
            if gap // ticks < _MAX_GAP:  # a bigger jump is a new stream: just carry on
                writer.write(np.zeros(gap // ticks, dtype=np.int16))
        writer.write(samples)
        self._next_ts = (timestamp + len(samples) * ticks) & 0xFFFFFFFF

    def _record_sent(self, samples: np.ndarray) -> None:
        writer = self._writers[1]
        if writer is not None:
            writer.write(samples)

    def detected(self, digit: str, method: str) -> None:
        """A digit arrived (from RTP here, or from SIP INFO via the call)."""
        found = DetectedDigit(digit, asyncio.get_running_loop().time(), method)
        self._stats.digits.append(found)
        self._digits.put_nowait(found)
        if self.on_digit is not None:
            self.on_digit(found)

    async def dtmf(self) -> AsyncIterator[DetectedDigit]:
        """Each digit as it is detected, whichever way it came."""
        while True:
            yield await self._digits.get()

    # --- RTCP ------------------------------------------------------------------------

    def _on_rtcp(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        params = self.params
        if params is None:
            return
        if params.srtp is not None:
            plain = params.srtp.unprotect_rtcp(data)
            if plain is None:
                return
            data = plain
        if self.reporter.receive(data, time.time()) and self.latch:
            self._remote_rtcp = (str(addr[0]), int(addr[1]))

    def send_report(self, bye: bool = False) -> None:
        """An RTCP compound packet now (SR or RR, SDES, and BYE when asked)."""
        params = self.params
        if params is None or self._remote_rtcp is None or self._rtcp is None:
            return
        data = self.reporter.build(time.time(), self.sender.timestamp, bye=bye)
        if params.srtp is not None:
            data = params.srtp.protect_rtcp(data)
        if self._rtcp.transport is not None:
            self._rtcp.transport.sendto(data, self._remote_rtcp)
            self._stats.rtcp_sent += 1

    def _report_tick(self, deadline: float, now: float) -> float:
        self.send_report()
        return now + self.reporter.next_interval()

    # --- figures ---------------------------------------------------------------------

    @property
    def stats(self) -> MediaStats:
        stats = self._stats
        rx = self._rx
        stats.remote_address = (
            "" if self._remote is None else f"{self._remote[0]}:{self._remote[1]}"
        )
        sent = self.sender.counters
        stats.packets_sent, stats.bytes_sent = sent.packets, sent.octets
        stats.packets_received, stats.bytes_received = rx.packets, rx.octets
        stats.packets_expected, stats.packets_lost = rx.expected, max(0, rx.lost)
        stats.loss = rx.loss_fraction
        stats.jitter_ms = rx.jitter_seconds * 1000
        stats.max_jitter_ms = rx.max_jitter / 8.0
        rtt = self.reporter.rtt
        stats.rtt_ms = None if rtt is None else rtt * 1000
        if rx.packets:
            quality = estimate(stats.loss, stats.jitter_ms, stats.rtt_ms)
            stats.r_factor, stats.mos = quality.r, quality.mos
        return stats
