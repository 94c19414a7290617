"""RTP for SIPp scenarios: ``<exec play_pcap_audio="file.pcap"/>``,
``<exec rtp_stream="file.wav,loops,payload"/>`` (and ``pause``/``resume``) and RTP
echo (``-rtp_echo``, ``<exec rtp_echo="startaudio...">``, ``<rtp_echo value="1"/>``).

``rtp_stream`` sends the file's octets as they are, as SIPp does: 8-bit G.711 audio
(payload type 0, PCMU, by default, or 8, PCMA), 160 octets every 20 ms, the data
chunk of a WAV file or the whole of a raw one, ``loops`` times (-1: until the call
ends).

As in SIPp, a playback is fire-and-forget: it sends the RTP of the capture to the
audio address of the SDP last received in the call (``c=`` and ``m=audio``), paced
by the capture's own packet times, while the scenario goes on.  The packets keep
the capture's payload type, marker and timestamp steps under a fresh SSRC and
sequence (RFC 3550 §5.1: a new source).  Echo sends every datagram that reaches
the media port back where it came from.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from sipwright.media.errors import MediaError
from sipwright.media.pacer import PacerJob, pacer_for
from sipwright.media.pcap_source import PcapStream, read_pcap_rtp
from sipwright.media.rtp import pack_header

__all__ = [
    "RemoteMedia",
    "ScenarioMedia",
    "StreamRequest",
    "load_capture",
    "parse_stream",
    "remote_audio",
    "stream_audio",
]

RemoteMedia = tuple[str, int]
_CONNECTION_RE = re.compile(rb"^c=IN IP[46] (\S+)", re.MULTILINE)
_AUDIO_RE = re.compile(rb"^m=audio (\d+) ", re.MULTILINE)
_VIDEO_RE = re.compile(rb"^m=video (\d+) ", re.MULTILINE)
_MEDIA_RE = re.compile(rb"^m=", re.MULTILINE)


def remote_audio(raw: bytes, *, video: bool = False) -> RemoteMedia | None:
    """The audio (or video) address of the SDP in a SIP message (media-level c= wins
    over the session-level one, RFC 4566 §5.7), or None without such a stream."""
    _, _, body = raw.partition(b"\r\n\r\n")
    audio = (_VIDEO_RE if video else _AUDIO_RE).search(body)
    if audio is None or int(audio.group(1)) == 0:
        return None
    section_end = _MEDIA_RE.search(body, audio.end())
    section = body[audio.start() : section_end.start() if section_end else len(body)]
    connection = _CONNECTION_RE.search(section) or _CONNECTION_RE.search(body)
    if connection is None:
        return None
    return connection.group(1).decode("ascii", "replace"), int(audio.group(1))


@functools.lru_cache(maxsize=16)
def load_capture(path: str) -> PcapStream:
    """A capture's RTP, read once (when the scenario loads) for every playback."""
    return read_pcap_rtp(Path(path))


STREAM_PAYLOADS = {0: 160, 8: 160}  # payload type -> octets per 20 ms packet


@dataclass(frozen=True)
class StreamRequest:
    path: str
    loops: int = 1  # -1: until the call ends
    payload_type: int = 0


def parse_stream(value: str) -> StreamRequest:
    """``file[,loops[,payload]]`` of rtp_stream; raises MediaError."""
    parts = [part.strip() for part in value.split(",")]
    try:
        loops = int(parts[1]) if len(parts) > 1 and parts[1] else 1
        payload = int(parts[2]) if len(parts) > 2 and parts[2] else 0
    except ValueError:
        raise MediaError(f"rtp_stream {value!r}: loops and payload are numbers") from None
    if payload not in STREAM_PAYLOADS:
        raise MediaError(f"rtp_stream {value!r}: payload type {payload} (0 PCMU or 8 PCMA)")
    return StreamRequest(parts[0], loops, payload)


@functools.lru_cache(maxsize=16)
def stream_audio(path: str) -> bytes:
    """The octets rtp_stream sends: a WAV's data chunk, or the whole raw file."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise MediaError(f"rtp_stream {path}: {error.strerror or error}") from None
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        at = 12
        while at + 8 <= len(data):
            size = int.from_bytes(data[at + 4 : at + 8], "little")
            if data[at : at + 4] == b"data":
                data = data[at + 8 : at + 8 + size]
                break
            at += 8 + size + (size & 1)
    if not data:
        raise MediaError(f"rtp_stream {path}: no audio in the file")
    return data


class _Socket(asyncio.DatagramProtocol):
    def __init__(self, echo: bool) -> None:
        self.echo = echo
        self.transport: asyncio.DatagramTransport | None = None
        self.echoed = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        if self.echo and self.transport is not None:
            self.transport.sendto(data, addr)
            self.echoed += 1

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP port unreachable from a peer that is not listening (yet)


class _Outgoing:
    """One RTP stream in flight (a playback or an rtp_stream), sent from pacer jobs.

    A fresh source (RFC 3550 §5.1): random SSRC, sequence and timestamp base."""

    def __init__(self, media: ScenarioMedia, what: str, remote: RemoteMedia) -> None:
        self.media = media
        self.what = what
        self.remote = remote
        self.ssrc = random.getrandbits(32)
        self.sequence = random.getrandbits(16)
        self.base = random.getrandbits(32)
        self.job: PacerJob | None = None

    def send(self, payload_type: int, marker: bool, timestamp: int, payload: bytes) -> bool:
        """One packet; False (the error noted) when the socket refuses it."""
        header = pack_header(
            payload_type, marker, self.sequence, (self.base + timestamp) & 0xFFFFFFFF, self.ssrc
        )
        self.sequence = (self.sequence + 1) & 0xFFFF
        try:
            self.media.sendto(header + payload, self.remote)
        except OSError as error:
            self.media.errors.append(f"{self.what}: {error}")
            return False
        self.media.packets_sent += 1
        return True


class _Playback(_Outgoing):
    """play_pcap_audio/video: the capture's packets at their captured offsets."""

    def __init__(self, media: ScenarioMedia, path: str, stream: PcapStream, remote: RemoteMedia):
        super().__init__(media, f"play_pcap_audio {path}", remote)
        self.stream = stream
        self.next = 0
        self.start = 0.0

    def tick(self, deadline: float, now: float) -> float | None:
        packets = self.stream.packets
        packet = packets[self.next]
        if not self.send(packet.payload_type, packet.marker, packet.timestamp_offset,
                         packet.payload):  # fmt: skip
            return None
        self.next += 1
        return self.start + packets[self.next].offset if self.next < len(packets) else None


class _AudioStream(_Outgoing):
    """rtp_stream: the file's octets, 160 every 20 ms, ``loops`` times (-1: forever)."""

    def __init__(self, media: ScenarioMedia, call_id: str, request: StreamRequest,
                 audio: bytes, remote: RemoteMedia) -> None:  # fmt: skip
        super().__init__(media, f"rtp_stream {request.path}", remote)
        self.call_id = call_id
        self.request = request
        self.audio = audio
        self.offset = 0
        self.loops = request.loops
        self.stamp = 0
        self.fill = b"\xff" if request.payload_type == 0 else b"\xd5"  # coded silence

    def tick(self, deadline: float, now: float) -> float | None:
        # Absolute deadlines (20 ms apart): no drift over long streams.  A paused
        # stream keeps its place in the file and its clock.
        following = deadline + 0.020
        if self.call_id in self.media.paused:
            return following
        size = STREAM_PAYLOADS[self.request.payload_type]
        chunk = self.audio[self.offset : self.offset + size]
        self.offset += size
        if self.offset >= len(self.audio):
            self.offset = 0
            if self.loops > 0:
                self.loops -= 1
        if not self.send(
            self.request.payload_type, False, self.stamp, chunk.ljust(size, self.fill)
        ):
            return None
        self.stamp += size
        return following if self.loops != 0 else None


class ScenarioMedia:
    """The RTP side of one engine: streams in flight and the echo socket.

    Every stream goes out of one UDP socket, the media port's ([media_ip]:[media_port],
    which the scenario's SDP announces, so a peer that latches sends back there) or,
    when that port is taken, any port.  Packets are sent from jobs of the loop's
    :class:`~sipwright.media.pacer.Pacer`: no task per playback."""

    def __init__(self, media_ip: str, echo_port: int) -> None:
        self.media_ip = media_ip
        self.echo_port = echo_port
        self._echo: _Socket | None = None
        self._media_port: _Socket | None = None  # bound to [media_ip]:[media_port]
        self._sender: asyncio.DatagramTransport | None = None
        self._opening: asyncio.Task[None] | None = None
        self._waiting: list[tuple[_Playback | _AudioStream, float]] = []
        self._jobs: set[PacerJob] = set()
        self._streams: dict[str, _AudioStream] = {}  # call-id -> rtp_stream
        self.paused: set[str] = set()
        self.packets_sent = 0
        self.errors: list[str] = []

    async def set_echo(self, on: bool) -> None:
        """Echo RTP arriving at [media_ip]:[media_port] (SIPp's -rtp_echo)."""
        if on and self._echo is None:
            if self._opening is not None and not self._opening.done():
                await asyncio.shield(self._opening)  # it may be binding the media port
            if self._media_port is None:  # (playbacks may have opened it already)
                loop = asyncio.get_running_loop()
                transport, protocol = await loop.create_datagram_endpoint(
                    lambda: _Socket(echo=True), local_addr=(self.media_ip, self.echo_port)
                )
                self._media_port = protocol
                if self._sender is None:
                    self._sender = transport
            self._echo = self._media_port
            self._echo.echo = True
        elif self._echo is not None:
            self._echo.echo = on

    def sendto(self, packet: bytes, remote: RemoteMedia) -> None:
        if self._sender is None:
            raise OSError("the media socket is closed")
        self._sender.sendto(packet, remote)

    async def _open(self) -> None:
        """The sending socket: the media port when it is free, any port otherwise."""
        loop = asyncio.get_running_loop()
        try:
            for port in (self.echo_port, 0):
                try:
                    transport, protocol = await loop.create_datagram_endpoint(
                        lambda: _Socket(echo=False), local_addr=(self.media_ip, port)
                    )
                except OSError:
                    if port == 0:
                        raise
                else:
                    self._sender = transport
                    if port:
                        self._media_port = protocol
                    break
        except OSError as error:
            self.errors += [f"{outgoing.what}: {error}" for outgoing, _ in self._waiting]
            self._waiting.clear()
            return
        waiting, self._waiting = self._waiting, []
        for outgoing, first in waiting:
            self._schedule(outgoing, first)

    def _begin(self, outgoing: _Playback | _AudioStream, first: float) -> None:
        """Send from ``first`` on (monotonic), once the socket is open."""
        if self._sender is not None:
            self._schedule(outgoing, first)
            return
        self._waiting.append((outgoing, first))
        if self._opening is None:
            self._opening = asyncio.ensure_future(self._open())

    def _schedule(self, outgoing: _Playback | _AudioStream, first: float) -> None:
        def tick(deadline: float, now: float) -> float | None:
            following = outgoing.tick(deadline, now)
            if following is None:
                self._jobs.discard(job)
            return following

        job = pacer_for().add(tick, first)
        outgoing.job = job
        self._jobs.add(job)

    def play(self, path: str, remote: RemoteMedia) -> None:
        try:
            stream = load_capture(path)
        except MediaError as error:
            self.errors.append(f"play_pcap_audio {path}: {error}")
            return
        if not stream.packets:
            return
        playback = _Playback(self, path, stream, remote)
        playback.start = time.monotonic()
        self._begin(playback, playback.start + stream.packets[0].offset)

    def stream(self, call_id: str, request: StreamRequest, remote: RemoteMedia) -> None:
        self.stop(call_id)
        try:
            audio = stream_audio(request.path)
        except MediaError as error:
            self.errors.append(str(error))
            return
        if request.loops == 0:
            return
        outgoing = _AudioStream(self, call_id, request, audio, remote)
        self._streams[call_id] = outgoing
        self._begin(outgoing, time.monotonic())

    def pause(self, call_id: str) -> None:
        self.paused.add(call_id)

    def resume(self, call_id: str) -> None:
        self.paused.discard(call_id)

    def stop(self, call_id: str) -> None:
        """The call ended: its rtp_stream stops."""
        outgoing = self._streams.pop(call_id, None)
        if outgoing is not None:
            self._waiting = [(o, first) for o, first in self._waiting if o is not outgoing]
            if outgoing.job is not None:
                outgoing.job.cancel()
                self._jobs.discard(outgoing.job)
        self.paused.discard(call_id)

    async def close(self) -> None:
        for call_id in list(self._streams):
            self.stop(call_id)
        for job in self._jobs:
            job.cancel()
        self._jobs.clear()
        self._waiting.clear()
        if self._opening is not None and not self._opening.done():
            self._opening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._opening
        if self._sender is not None:
            self._sender.close()
            self._sender = None
        if self._media_port is not None and self._media_port.transport is not None:
            self._media_port.transport.close()
        self._echo = self._media_port = None
