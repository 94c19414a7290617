"""G.711, DTMF (RFC 4733, INFO, in-band), WAV, pcap sources, SRTP and the E-model."""

from __future__ import annotations

import os
import wave
from pathlib import Path

import numpy as np
import pytest

from sipwright.media import MediaError
from sipwright.media.dtmf import (
    DIGITS,
    EventReceiver,
    TelephoneEvent,
    ToneDetector,
    event_packets,
    format_dtmf_relay,
    parse_dtmf_relay,
    tone,
)
from sipwright.media.g711 import ALAW, ULAW, alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from sipwright.media.pcap_source import read_pcap_rtp
from sipwright.media.quality import estimate, mos_from_r, r_factor
from sipwright.media.rtp import RtpPacket
from sipwright.media.srtp import SRTP_SUITES, SrtpContext
from sipwright.media.wav import WavWriter, read_wav, resample, write_wav

SIPP_PCAPS = Path("/usr/share/sip-tester")

# --- G.711 --------------------------------------------------------------------------


def test_g711_known_code_words() -> None:
    # Values of the reference g711.c: zero, -1, the extremes, a few decodes.
    assert ulaw_encode([0, -1, 32767, -32768]) == bytes([0xFF, 0x7E, 0x80, 0x00])
    assert alaw_encode([0, -1, 32767, -32768]) == bytes([0xD5, 0x55, 0xAA, 0x2A])
    assert ulaw_decode(bytes([0xFF, 0x80, 0x00, 0xEF])).tolist() == [0, 32124, -32124, 132]
    assert alaw_decode(bytes([0xD5, 0xAA, 0x2A, 0x55])).tolist() == [8, 32256, -32256, -8]


@pytest.mark.parametrize(("encode", "decode", "codes"), [
    (ulaw_encode, ulaw_decode, [c for c in range(256) if c != 0x7F]),  # 0x7F is -0
    (alaw_encode, alaw_decode, list(range(256))),
])  # fmt: skip
def test_g711_code_words_survive_a_round_trip(encode, decode, codes) -> None:  # type: ignore[no-untyped-def]
    data = bytes(codes)
    assert encode(decode(data)) == data


def test_g711_error_stays_within_the_segment_step() -> None:
    samples = np.arange(-32768, 32768, 7, dtype=np.int16)
    for codec in (ULAW, ALAW):
        back = codec.decode(codec.encode(samples)).astype(np.int32)
        error = np.abs(back - samples)
        # Logarithmic: about 1/32 of the magnitude at most, plus the top segment's clip.
        assert np.all(error <= np.maximum(np.abs(samples.astype(np.int32)) // 16, 16) + 700)
        assert codec.decode(bytes([codec.silence])).tolist() in ([0], [8])


def test_g711_transcode_between_laws() -> None:
    samples = (np.sin(np.arange(160) / 5) * 10000).astype(np.int16)
    mu = ULAW.encode(samples)
    assert ULAW.transcode(mu, ULAW) == mu
    a = ALAW.transcode(mu, ULAW)
    assert np.max(np.abs(ALAW.decode(a).astype(int) - samples)) < 400


# --- DTMF ---------------------------------------------------------------------------


def test_telephone_event_payload() -> None:
    event = TelephoneEvent(11, end=True, volume=10, duration=800)
    assert bytes(event) == bytes([11, 0x8A, 0x03, 0x20])
    assert TelephoneEvent.parse(bytes(event)) == event and event.digit == "#"
    with pytest.raises(MediaError):
        TelephoneEvent.parse(b"\x01")


def test_event_packets_mark_first_and_repeat_the_end() -> None:
    packets = event_packets("5", duration_ms=100)
    markers = [m for m, _ in packets]
    events = [TelephoneEvent.parse(p) for _, p in packets]
    assert markers == [True] + [False] * (len(packets) - 1)
    assert [e.end for e in events] == [False] * 4 + [True] * 3
    assert [e.duration for e in events] == [160, 320, 480, 640, 800, 800, 800]
    with pytest.raises(MediaError, match="not a DTMF digit"):
        event_packets("x")


def test_event_receiver_reports_each_event_once() -> None:
    receiver = EventReceiver()
    got = []
    for start, digit in ((1000, "1"), (3000, "1"), (5000, "#")):
        for _, payload in event_packets(digit)[1:]:  # the first packet lost
            found = receiver.receive(start, payload)
            if found:
                got.append(found)
    assert got == ["1", "1", "#"]


@pytest.mark.parametrize("name", ["dtmf_2833_1.pcap", "dtmf_2833_pound.pcap"])
def test_event_receiver_on_sipp_captures(name: str) -> None:
    path = SIPP_PCAPS / name
    if not path.exists():
        pytest.skip("sip-tester not installed (make test installs it)")
    stream = read_pcap_rtp(path)
    receiver = EventReceiver()
    digits = [receiver.receive(p.timestamp_offset, p.payload) for p in stream.packets]
    assert [d for d in digits if d] == ["1" if "1" in name else "#"]


def test_tone_detector_finds_every_key_through_g711() -> None:
    gap = np.zeros(640, dtype=np.int16)
    signal = np.concatenate([np.concatenate((tone(d, 80), gap)) for d in DIGITS])
    signal = ALAW.decode(ALAW.encode(signal))
    detector = ToneDetector()
    found: list[str] = []
    for start in range(0, len(signal), 160):  # fed as 20 ms frames
        found += detector.feed(signal[start : start + 160])
    assert "".join(found) == DIGITS


def test_tone_detector_ignores_noise_silence_and_single_tones() -> None:
    rng = np.random.default_rng(7)
    detector = ToneDetector()
    assert detector.feed(rng.normal(0, 4000, 16000).astype(np.int16)) == []
    assert detector.feed(np.zeros(8000, dtype=np.int16)) == []
    t = np.arange(8000) / 8000
    assert detector.feed((np.sin(2 * np.pi * 697 * t) * 9000).astype(np.int16)) == []
    assert detector.feed(tone("5", 20)) == []  # too short to count (Q.24)


def test_dtmf_relay_bodies() -> None:
    assert format_dtmf_relay("#", 160) == b"Signal=#\r\nDuration=160\r\n"
    assert parse_dtmf_relay(b"Signal= 5\r\nDuration=100\r\n") == "5"
    assert parse_dtmf_relay(b"signal=11\r\n") == "#"
    assert parse_dtmf_relay(b"Signal=x\r\n") is None
    assert parse_dtmf_relay(b"nothing") is None


# --- WAV ----------------------------------------------------------------------------


def test_wav_round_trip_and_resampling(tmp_path: Path) -> None:
    samples = (np.sin(np.arange(8000) * 2 * np.pi * 440 / 8000) * 8000).astype(np.int16)
    path = tmp_path / "a.wav"
    write_wav(path, samples)
    assert np.array_equal(read_wav(path), samples)
    # A 16 kHz stereo file comes back as 8 kHz mono of the same duration and tone.
    stereo = tmp_path / "stereo16k.wav"
    t = np.arange(16000) / 16000
    left = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)
    with wave.open(str(stereo), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(np.column_stack((left, left)).astype("<i2").tobytes())
    mono = read_wav(stereo)
    assert len(mono) == 8000
    assert np.max(np.abs(mono[100:-100].astype(int) - samples[100:-100])) < 300
    assert len(resample(np.zeros(441), 44100)) == 80


def test_wav_writer_is_valid_while_growing(tmp_path: Path) -> None:
    path = tmp_path / "rec.wav"
    with WavWriter(path) as writer:
        for _ in range(5):
            writer.write(np.full(160, 100, dtype=np.int16))
    assert writer.frames == 800
    assert read_wav(path).tolist() == [100] * 800


@pytest.mark.parametrize(
    ("content", "words"),
    [(None, "cannot read"), (b"RIFF....WAVEjunk", "cannot read"), ("8bit", "8-bit")],
)
def test_wav_bad_input_is_one_clear_error(tmp_path: Path, content: object, words: str) -> None:
    path = tmp_path / "bad.wav"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content == "8bit":
        with wave.open(str(path), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(1)
            wav.setframerate(8000)
            wav.writeframes(b"\x80" * 80)
    with pytest.raises(MediaError, match=words) as caught:
        read_wav(path)
    assert str(path) in str(caught.value)
    with pytest.raises(MediaError, match="cannot write"):
        WavWriter(tmp_path / "no" / "such" / "dir.wav")


# --- pcap ---------------------------------------------------------------------------


def test_pcap_source_reads_sipp_g711a() -> None:
    path = SIPP_PCAPS / "g711a.pcap"
    if not path.exists():
        pytest.skip("sip-tester not installed (make test installs it)")
    stream = read_pcap_rtp(path)
    assert stream.payload_types == {8}
    assert len(stream.packets) == 236
    assert {len(p.payload) for p in stream.packets} == {240}
    offsets = [p.timestamp_offset for p in stream.packets]
    assert offsets == list(range(0, 236 * 240, 240))
    assert 6.5 < stream.duration < 7.5


def test_pcap_source_errors(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match=r"missing\.pcap"):
        read_pcap_rtp(tmp_path / "missing.pcap")
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"not a capture at all" * 4)
    with pytest.raises(MediaError, match="not a pcap"):
        read_pcap_rtp(junk)
    # A valid pcap holding one UDP datagram that is not RTP.
    import dpkt

    empty = tmp_path / "nortp.pcap"
    with empty.open("wb") as handle:
        writer = dpkt.pcap.Writer(handle, linktype=dpkt.pcap.DLT_RAW)
        udp = dpkt.udp.UDP(sport=1, dport=2, data=b"hello")
        udp.ulen = len(udp)
        ip = dpkt.ip.IP(src=b"\x7f\0\0\1", dst=b"\x7f\0\0\1", p=17, data=udp)
        ip.len = len(ip)
        writer.writepkt(bytes(ip), ts=1.0)
    with pytest.raises(MediaError, match="no RTP packets"):
        read_pcap_rtp(empty)


# --- SRTP ---------------------------------------------------------------------------


@pytest.mark.parametrize("suite", sorted(SRTP_SUITES))
def test_srtp_both_ways_and_auth_failures(suite: str) -> None:
    length = SRTP_SUITES[suite][1]
    ours, theirs = os.urandom(length), os.urandom(length)
    alice = SrtpContext(suite, ours, theirs)
    bob = SrtpContext(suite, theirs, ours)
    packet = bytes(RtpPacket(0, 1, 160, 42, b"\xff" * 160))
    protected = alice.protect(packet)
    assert protected != packet and bob.unprotect(protected) == packet
    rtcp = bytes.fromhex("80c90001000004d2")
    assert bob.unprotect_rtcp(alice.protect_rtcp(rtcp)) == rtcp
    mallory = SrtpContext(suite, theirs, os.urandom(length))
    assert mallory.unprotect(protected) is None
    assert mallory.unprotect_rtcp(alice.protect_rtcp(rtcp)) is None
    assert mallory.counters.auth_failures == 1 and mallory.counters.rtcp_auth_failures == 1
    assert bob.counters.auth_failures == 0


def test_srtp_refuses_bad_keys() -> None:
    with pytest.raises(MediaError, match="30-byte"):
        SrtpContext("AES_CM_128_HMAC_SHA1_80", b"short", bytes(30))
    with pytest.raises(MediaError, match="not supported"):
        SrtpContext("F8_128_HMAC_SHA1_80", bytes(30), bytes(30))


# --- quality ------------------------------------------------------------------------


def test_e_model_for_g711() -> None:
    assert r_factor(0.0, 0.0) == pytest.approx(93.2)
    assert mos_from_r(93.2) == pytest.approx(4.41, abs=0.01)
    assert r_factor(0.01, 0.0) < r_factor(0.0, 0.0)
    assert r_factor(0.0, 300.0) < r_factor(0.0, 100.0) < r_factor(0.0, 0.0)
    # G.113 Appendix I: Ie,eff of G.711 with PLC at 1 % random loss is about 3.6.
    assert 93.2 - r_factor(0.01, 0.0) == pytest.approx(95 / 26.1, abs=0.01)
    assert mos_from_r(-5) == 1.0 and mos_from_r(120) == 4.5
    good, bad = estimate(0.0, 1.0, 20.0), estimate(0.1, 40.0, 400.0)
    assert good.mos > 4.3
    assert bad.mos < 3.0
