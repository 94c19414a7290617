"""Two media sessions talking over loopback: audio, latching, DTMF, SRTP, RTCP, recording.

Every wait here is bounded by ``asyncio.wait_for``; nothing asserts timings.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import numpy as np
import pytest

from sipwright.media import MediaError
from sipwright.media.g711 import ALAW, ULAW
from sipwright.media.pcap_source import read_pcap_rtp
from sipwright.media.session import MediaSession, StreamParams
from sipwright.media.sources import SamplesSource, ToneSource
from sipwright.media.srtp import SrtpContext
from sipwright.media.wav import read_wav

HOST = "127.0.0.1"
G711A_PCAP = Path("/usr/share/sip-tester/g711a.pcap")


async def wait_until(check: object, timeout: float = 5.0) -> None:
    async def poll() -> None:
        while not check():  # type: ignore[operator]
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


async def pair(
    a: MediaSession, b: MediaSession, *, srtp: tuple[SrtpContext, SrtpContext] | None = None
) -> None:
    await a.open()
    await b.open()
    a.start(StreamParams(ULAW, (HOST, b.port), dtmf_payload_type=101, srtp=srtp and srtp[0]))
    # b knows no address: it latches onto a's packets (comedia).
    b.start(StreamParams(ULAW, None, dtmf_payload_type=101, srtp=srtp and srtp[1]))


@pytest.mark.asyncio
async def test_audio_both_ways_with_latching_and_recording(tmp_path: Path) -> None:
    a = MediaSession(HOST, source=ToneSource(1000), record_sent=tmp_path / "a_sent.wav")
    b = MediaSession(HOST, source=ToneSource(440), record_received=tmp_path / "b_got.wav")
    try:
        await pair(a, b)
        await wait_until(lambda: a.stats.packets_received >= 10 and b.stats.packets_received >= 25)
        assert b.stats.remote_address == f"{HOST}:{a.port}"  # latched
    finally:
        await a.stop()
        await b.stop()
    got = read_wav(tmp_path / "b_got.wav")
    sent = read_wav(tmp_path / "a_sent.wav")
    assert len(got) >= 25 * 160
    assert np.array_equal(got, ULAW.decode(ULAW.encode(sent[: len(got)])))
    stats = b.stats
    assert stats.codec == "PCMU" and stats.loss == 0.0 and stats.packets_lost == 0
    assert stats.mos is not None and stats.mos > 4.0
    assert stats.bytes_received == stats.packets_received * 160  # payload octets, as SRs count


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", ["rfc4733", "inband"])
async def test_dtmf_is_detected(mode: str) -> None:
    a, b = MediaSession(HOST), MediaSession(HOST)
    try:
        await pair(a, b)
        await asyncio.wait_for(a.send_dtmf("1234#*", mode=mode), 10)
        await wait_until(lambda: len(b.stats.digits) >= 6)
        await asyncio.sleep(0.1)  # anything extra (a retransmitted end) would show now
    finally:
        await a.stop()
        await b.stop()
    assert "".join(d.digit for d in b.stats.digits) == "1234#*"
    assert {d.method for d in b.stats.digits} == {mode}
    with pytest.raises(MediaError, match="not started"):
        await MediaSession(HOST).send_dtmf("1")


@pytest.mark.asyncio
@pytest.mark.parametrize("suite", ["AES_CM_128_HMAC_SHA1_80", "AEAD_AES_256_GCM"])
async def test_srtp_decrypts_and_a_wrong_key_counts_failures(suite: str) -> None:
    length = {"AES_CM_128_HMAC_SHA1_80": 30, "AEAD_AES_256_GCM": 44}[suite]
    key_a, key_b = os.urandom(length), os.urandom(length)
    a, b = MediaSession(HOST, source=ToneSource(1000)), MediaSession(HOST)
    try:
        await pair(a, b, srtp=(SrtpContext(suite, key_a, key_b), SrtpContext(suite, key_b, key_a)))
        await wait_until(lambda: b.stats.packets_received >= 10)
        assert b.stats.srtp_auth_failures == 0 and b.stats.srtp_suite == suite
    finally:
        await a.stop()
        await b.stop()
    c = MediaSession(HOST, source=ToneSource(1000))
    d = MediaSession(HOST)
    try:
        wrong = os.urandom(length)
        await pair(c, d, srtp=(SrtpContext(suite, key_a, key_b), SrtpContext(suite, key_b, wrong)))
        await wait_until(lambda: d.stats.srtp_auth_failures >= 10)
        assert d.stats.packets_received == 0
    finally:
        await c.stop()
        await d.stop()


@pytest.mark.asyncio
async def test_wav_source_echo_and_pcap_replay(tmp_path: Path) -> None:
    samples = (np.sin(np.arange(1600) / 3) * 6000).astype(np.int16)
    a = MediaSession(HOST, source=SamplesSource(samples), record_received=tmp_path / "echo.wav")
    b = MediaSession(HOST, echo=True)
    try:
        await pair(a, b)
        await asyncio.wait_for(a.played.wait(), 5)
        await wait_until(lambda: a.stats.packets_received >= 10)
    finally:
        await a.stop()
        await b.stop()
    echoed = read_wav(tmp_path / "echo.wav")
    assert np.array_equal(echoed[:1600], ULAW.decode(ULAW.encode(samples)))
    if not G711A_PCAP.exists():
        pytest.skip("sip-tester not installed (make test installs it)")
    stream = read_pcap_rtp(G711A_PCAP)
    short = type(stream)(stream.ssrc, stream.packets[:20])
    c = MediaSession(HOST, source=short)
    d = MediaSession(HOST, record_received=tmp_path / "pcap.wav")
    try:
        await c.open()
        await d.open()
        c.start(StreamParams(ALAW, (HOST, d.port)))
        d.start(StreamParams(ALAW, None))
        await asyncio.wait_for(c.played.wait(), 5)
        await wait_until(lambda: d.stats.packets_received >= 20)
    finally:
        await c.stop()
        await d.stop()
    expected = np.concatenate([ALAW.decode(p.payload) for p in short.packets])
    assert np.array_equal(read_wav(tmp_path / "pcap.wav"), expected)


@pytest.mark.asyncio
async def test_rtcp_reports_flow_and_bye_is_sent() -> None:
    a, b = MediaSession(HOST), MediaSession(HOST)
    try:
        await pair(a, b)
        await wait_until(lambda: b.stats.packets_received >= 5)
        a.send_report()  # an SR now rather than in ~2.5 s
        await wait_until(lambda: b.stats.rtcp_received >= 1)
        b.send_report()  # an RR with LSR/DLSR: gives a its round-trip time
        await wait_until(lambda: a.stats.rtt_ms is not None)
        rtt = a.stats.rtt_ms
        assert rtt is not None and 0 <= rtt < 1000
        assert a.stats.remote_loss == 0.0
    finally:
        await a.stop()
        await wait_until(lambda: b.stats.rtcp_received >= 2)  # the BYE compound
        await b.stop()
