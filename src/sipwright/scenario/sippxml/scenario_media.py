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
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from sipwright.media.errors import MediaError
from sipwright.media.pcap_source import PcapStream, read_pcap_rtp
from sipwright.media.rtp import RtpPacket

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


class ScenarioMedia:
    """The RTP side of one engine: playbacks in flight and the echo socket."""

    def __init__(self, media_ip: str, echo_port: int) -> None:
        self.media_ip = media_ip
        self.echo_port = echo_port
        self._echo: _Socket | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._streams: dict[str, asyncio.Task[None]] = {}  # call-id -> rtp_stream
        self._paused: set[str] = set()
        self.packets_sent = 0
        self.errors: list[str] = []

    async def set_echo(self, on: bool) -> None:
        """Echo RTP arriving at [media_ip]:[media_port] (SIPp's -rtp_echo)."""
        if on and self._echo is None:
            loop = asyncio.get_running_loop()
            _, protocol = await loop.create_datagram_endpoint(
                lambda: _Socket(echo=True), local_addr=(self.media_ip, self.echo_port)
            )
            self._echo = protocol
        elif self._echo is not None:
            self._echo.echo = on

    def play(self, path: str, remote: RemoteMedia) -> None:
        task = asyncio.ensure_future(self._play(path, remote))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _play(self, path: str, remote: RemoteMedia) -> None:
        loop = asyncio.get_running_loop()
        try:
            stream = load_capture(path)
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Socket(echo=False), local_addr=(self.media_ip, 0)
            )
        except (OSError, MediaError) as error:
            self.errors.append(f"play_pcap_audio {path}: {error}")
            return
        ssrc = random.getrandbits(32)
        sequence = random.getrandbits(16)
        base = random.getrandbits(32)
        start = loop.time()
        try:
            for number, packet in enumerate(stream.packets):
                delay = start + packet.offset - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                rtp = RtpPacket(
                    payload_type=packet.payload_type,
                    sequence_number=(sequence + number) & 0xFFFF,
                    timestamp=(base + packet.timestamp_offset) & 0xFFFFFFFF,
                    ssrc=ssrc,
                    payload=packet.payload,
                    marker=packet.marker,
                )
                transport.sendto(bytes(rtp), remote)
                self.packets_sent += 1
        except OSError as error:
            self.errors.append(f"play_pcap_audio {path}: {error}")
        finally:
            transport.close()

    def stream(self, call_id: str, request: StreamRequest, remote: RemoteMedia) -> None:
        self.stop(call_id)
        task = asyncio.ensure_future(self._stream(call_id, request, remote))
        self._streams[call_id] = task

    def pause(self, call_id: str) -> None:
        self._paused.add(call_id)

    def resume(self, call_id: str) -> None:
        self._paused.discard(call_id)

    def stop(self, call_id: str) -> None:
        """The call ended: its rtp_stream stops."""
        task = self._streams.pop(call_id, None)
        if task is not None:
            task.cancel()
        self._paused.discard(call_id)

    async def _stream(self, call_id: str, request: StreamRequest, remote: RemoteMedia) -> None:
        loop = asyncio.get_running_loop()
        try:
            audio = stream_audio(request.path)
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Socket(echo=False), local_addr=(self.media_ip, 0)
            )
        except (OSError, MediaError) as error:
            self.errors.append(str(error))
            return
        size = STREAM_PAYLOADS[request.payload_type]
        ssrc, sequence, stamp = random.getrandbits(32), random.getrandbits(16), 0
        base = random.getrandbits(32)
        start, number, offset, loops = loop.time(), 0, 0, request.loops
        try:
            while loops != 0:
                # Absolute deadlines (20 ms apart): no drift over long streams.
                delay = start + number * 0.020 - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                number += 1
                if call_id in self._paused:
                    continue
                chunk = audio[offset : offset + size]
                offset += size
                if offset >= len(audio):
                    offset, loops = 0, loops - 1 if loops > 0 else loops
                chunk = chunk.ljust(size, b"\xff" if request.payload_type == 0 else b"\xd5")
                rtp = RtpPacket(
                    payload_type=request.payload_type,
                    sequence_number=(sequence + number) & 0xFFFF,
                    timestamp=(base + stamp) & 0xFFFFFFFF,
                    ssrc=ssrc,
                    payload=chunk,
                )
                stamp += size
                transport.sendto(bytes(rtp), remote)
                self.packets_sent += 1
        except OSError as error:
            self.errors.append(f"rtp_stream {request.path}: {error}")
        finally:
            transport.close()

    async def close(self) -> None:
        for call_id in list(self._streams):
            self.stop(call_id)
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._echo is not None and self._echo.transport is not None:
            self._echo.transport.close()
            self._echo = None
