"""The fast paths that let one core carry hundreds of streams: the shared pacer,
coded frames handed out by sources, the one-unpack RTP reader, the bounded
duplicate window.  Each must give exactly what the slow path gives."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import numpy as np
import pytest

from sipwright.media.errors import MediaError
from sipwright.media.g711 import ALAW, ULAW, G711Codec
from sipwright.media.pacer import Pacer
from sipwright.media.rtp import RtpPacket, pack_header, read_packet
from sipwright.media.sources import AudioSource, SamplesSource, ToneSource
from sipwright.media.stats import ReceiverStats
from sipwright.scenario.sippxml.scenario_media import ScenarioMedia


@pytest.mark.parametrize("frequency", [1000.0, 440.0, 1001.5])
@pytest.mark.parametrize("codec", [ULAW, ALAW])
def test_coded_tone_frames_equal_coding_the_samples(frequency: float, codec: G711Codec) -> None:
    slow, fast = ToneSource(frequency), ToneSource(frequency)
    for _ in range(120):  # past the period of every tone here, so the cache is used
        assert fast.encoded(160, codec) == codec.encode(slow.read(160))


def test_silence_and_wav_frames_equal_coding_the_samples() -> None:
    assert AudioSource().encoded(160, ULAW) == ULAW.encode(np.zeros(160, np.int16))
    samples = (np.arange(1000) * 37 % 20000 - 10000).astype(np.int16)
    for loop in (False, True):
        slow, fast = SamplesSource(samples, loop=loop), SamplesSource(samples, loop=loop)
        for _ in range(10):  # 1,600 samples: past the end (silence, or round again)
            assert fast.encoded(160, ALAW) == ALAW.encode(slow.read(160))
            assert fast.finished == slow.finished
    assert not SamplesSource(samples, loop=True).finished


def test_read_packet_agrees_with_the_full_parser() -> None:
    plain = pack_header(8, True, 65535, 0xFFFFFFFF, 0x12345678) + b"\xd5" * 160
    assert read_packet(plain) == (8, True, 65535, 0xFFFFFFFF, 0x12345678, b"\xd5" * 160)
    full = RtpPacket(0, 7, 8, 9, b"abc", csrc=(1, 2), extension=(0xBEDE, b"\0" * 4), padding=3)
    assert read_packet(bytes(full)) == (0, False, 7, 8, 9, b"abc")
    assert bytes(RtpPacket(8, 1, 2, 3, b"x", marker=True)) == pack_header(8, True, 1, 2, 3) + b"x"
    with pytest.raises(MediaError, match="version"):
        read_packet(b"\x40" + bytes(11))


def test_duplicates_are_noticed_within_the_window_and_memory_stays_bounded() -> None:
    rx = ReceiverStats()
    for seq in range(5000):
        rx.receive(1, seq & 0xFFFF, seq * 160, seq * 0.02, 160)
    rx.receive(1, 4990, 4990 * 160, 100.0, 160)
    assert rx.duplicates == 1
    assert rx.lost == -1  # A.3: a duplicate makes the cumulative loss negative
    assert len(rx._seen) == 1024  # the bound is the point


@pytest.mark.asyncio
async def test_pacer_runs_due_jobs_in_deadline_order_until_they_finish() -> None:
    pacer = Pacer(asyncio.get_running_loop())
    ran: list[tuple[str, float, float]] = []
    start = time.monotonic()

    def every(name: str, period: float, times: int) -> object:
        left = [times]

        def job(deadline: float, now: float) -> float | None:
            ran.append((name, deadline, now))
            left[0] -= 1
            return deadline + period if left[0] else None

        return job

    pacer.add(every("a", 0.010, 5), start + 0.005)  # type: ignore[arg-type]
    pacer.add(every("b", 0.015, 3), start)  # type: ignore[arg-type]
    cancelled = pacer.add(every("c", 0.010, 100), start + 0.002)  # type: ignore[arg-type]
    cancelled.cancel()
    await asyncio.sleep(0.12)
    assert [name for name, _, _ in ran].count("a") == 5
    assert [name for name, _, _ in ran].count("b") == 3
    assert "c" not in [name for name, _, _ in ran]
    deadlines = [deadline for _, deadline, _ in ran]
    assert deadlines == sorted(deadlines)
    assert all(now >= deadline - 0.0011 for _, deadline, now in ran)  # at most EARLY early
    assert len(pacer) == 0


@pytest.mark.asyncio
async def test_a_failing_job_is_dropped_and_the_others_go_on() -> None:
    loop = asyncio.get_running_loop()
    errors: list[str] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context["message"]))
    pacer = Pacer(loop)
    count = [0]

    def broken(deadline: float, now: float) -> float | None:
        raise RuntimeError("boom")

    def steady(deadline: float, now: float) -> float | None:
        count[0] += 1
        return deadline + 0.005 if count[0] < 4 else None

    start = time.monotonic()
    pacer.add(broken, start)
    pacer.add(steady, start)
    await asyncio.sleep(0.06)
    assert count[0] == 4
    assert errors == ["media pacer job failed"]


@pytest.mark.asyncio
async def test_scenario_playback_leaves_from_the_media_port_which_also_echoes() -> None:
    """SIPp's play_pcap_audio sends from [media_port], where -rtp_echo answers: a peer
    that latches sends back to the port our SDP announced.  Both share one socket."""
    capture = "/usr/share/sip-tester/g711a.pcap"
    if not Path(capture).exists():
        pytest.skip("sip-tester (SIPp's g711a.pcap) is not installed")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        media_port = probe.getsockname()[1]
    media = ScenarioMedia("127.0.0.1", media_port)
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.settimeout(5)
    try:
        media.play(capture, ("127.0.0.1", sink.getsockname()[1]))
        first, source = await asyncio.to_thread(sink.recvfrom, 2048)
        assert source == ("127.0.0.1", media_port)
        assert read_packet(first)[0] == 8  # PCMA, as captured
        await media.set_echo(True)  # the playback's socket takes the echo on
        sink.sendto(b"\x80\x08hello", ("127.0.0.1", media_port))
        for _ in range(500):  # playback packets (236 in all) and the echo share the socket
            data, source = await asyncio.to_thread(sink.recvfrom, 2048)
            if data == b"\x80\x08hello":
                break
        assert data == b"\x80\x08hello" and source == ("127.0.0.1", media_port)
    finally:
        await media.close()
        sink.close()
    assert media.errors == []
    assert media.packets_sent > 0
