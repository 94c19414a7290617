"""RTP for SIPp scenarios: ``<exec play_pcap_audio="file.pcap"/>`` and RTP echo
(``-rtp_echo``, ``<exec rtp_echo="startaudio...">``, ``<rtp_echo value="1"/>``).

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
from pathlib import Path
from typing import cast

from sipwright.media.errors import MediaError
from sipwright.media.pcap_source import PcapStream, read_pcap_rtp
from sipwright.media.rtp import RtpPacket

__all__ = ["RemoteMedia", "ScenarioMedia", "remote_audio"]

RemoteMedia = tuple[str, int]
_CONNECTION_RE = re.compile(rb"^c=IN IP[46] (\S+)", re.MULTILINE)
_AUDIO_RE = re.compile(rb"^m=audio (\d+) ", re.MULTILINE)
_MEDIA_RE = re.compile(rb"^m=", re.MULTILINE)


def remote_audio(raw: bytes) -> RemoteMedia | None:
    """The audio address of the SDP in a SIP message (media-level c= wins over the
    session-level one, RFC 4566 §5.7), or None without an audio stream."""
    _, _, body = raw.partition(b"\r\n\r\n")
    audio = _AUDIO_RE.search(body)
    if audio is None or int(audio.group(1)) == 0:
        return None
    section_end = _MEDIA_RE.search(body, audio.end())
    section = body[audio.start() : section_end.start() if section_end else len(body)]
    connection = _CONNECTION_RE.search(section) or _CONNECTION_RE.search(body)
    if connection is None:
        return None
    return connection.group(1).decode("ascii", "replace"), int(audio.group(1))


@functools.lru_cache(maxsize=16)
def _capture(path: str) -> PcapStream:
    return read_pcap_rtp(Path(path))


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

    def __init__(self, media_ip: str, echo_port: int | None) -> None:
        self.media_ip = media_ip
        self.echo_port = echo_port
        self._echo: _Socket | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.packets_sent = 0
        self.errors: list[str] = []

    @staticmethod
    def check_capture(path: str) -> None:
        """Read the capture now, so that a bad file fails when the scenario loads."""
        _capture(path)

    async def start(self) -> None:
        if self.echo_port is not None:
            await self.set_echo(True)

    async def set_echo(self, on: bool) -> None:
        """Echo RTP arriving at [media_ip]:[media_port] (SIPp's -rtp_echo)."""
        if on and self._echo is None and self.echo_port is not None:
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
            stream = _capture(path)
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

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._echo is not None and self._echo.transport is not None:
            self._echo.transport.close()
            self._echo = None
