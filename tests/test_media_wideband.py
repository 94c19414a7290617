"""Opus and G.722 (through PyAV) and the resampling between them and our 8 kHz path:
the coders on their own, then calls between two Agents that negotiate them.

The interop with an independent implementation is in tests/test_baresip.py."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from sipwright.media.av_codecs import G722Codec, OpusCodec
from sipwright.media.codecs import codec_problem, make_codec
from sipwright.media.errors import MediaError
from sipwright.media.g711 import ULAW
from sipwright.media.resample import Resampler
from sipwright.media.sources import ToneSource
from sipwright.media.wav import read_wav
from sipwright.ua import Agent, IncomingCall, MediaOptions, OutgoingCall
from test_media_calls import connect


def spectrum_peak(samples: npt.NDArray[np.int16], rate: int) -> float:
    data = samples.astype(np.float64)
    power = np.abs(np.fft.rfft(data * np.hanning(len(data))))
    return float(np.argmax(power) * rate / len(data))


def rms(samples: npt.NDArray[np.int16]) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))


def tone(frequency: float, count: int, rate: int = 8000) -> npt.NDArray[np.int16]:
    return (10000 * np.sin(2 * np.pi * frequency * np.arange(count) / rate)).astype(np.int16)


# --- resampling ------------------------------------------------------------------------


@pytest.mark.parametrize("factor", [2, 6])
def test_frame_by_frame_equals_all_at_once(factor: int) -> None:
    """The filter's history joins frames: cutting the stream changes nothing."""
    signal = tone(1000, 8000)
    whole = Resampler(factor, up=True)(signal)
    framed = Resampler(factor, up=True)
    pieces = np.concatenate([framed(signal[i : i + 160]) for i in range(0, 8000, 160)])
    assert np.array_equal(whole, pieces)
    down_whole = Resampler(factor, up=False)(whole)
    down = Resampler(factor, up=False)
    step = 160 * factor
    down_pieces = np.concatenate([down(whole[i : i + step]) for i in range(0, len(whole), step)])
    assert np.array_equal(down_whole, down_pieces)
    assert len(down_pieces) == 8000


@pytest.mark.parametrize("factor", [2, 6])
def test_up_and_down_keep_frequency_and_level_and_leave_no_images(factor: int) -> None:
    signal = tone(1000, 8000)
    wide = Resampler(factor, up=True)(signal)
    assert spectrum_peak(wide, 8000 * factor) == pytest.approx(1000, abs=2)
    assert rms(wide[400:]) == pytest.approx(rms(signal), rel=0.02)
    # The image of 1 kHz around 8 kHz (at 7 kHz) must be far below the tone: -50 dB.
    power = np.abs(np.fft.rfft(wide.astype(np.float64) * np.hanning(len(wide))))
    bin_hz = 8000 * factor / len(wide)
    assert power[int(7000 / bin_hz)] < power[int(1000 / bin_hz)] * 10 ** (-50 / 20)
    back = Resampler(factor, up=False)(wide)
    assert spectrum_peak(back, 8000) == pytest.approx(1000, abs=2)
    assert rms(back[400:]) == pytest.approx(rms(signal), rel=0.02)


def test_down_sampling_removes_what_8_khz_cannot_carry() -> None:
    """A 10 kHz tone at 48 kHz would fold to 2 kHz without the low-pass."""
    high = tone(10000, 48000, rate=48000)
    assert rms(Resampler(6, up=False)(high)[200:]) < rms(high) * 0.01


def test_a_bad_factor_is_refused() -> None:
    with pytest.raises(ValueError, match="positive integer"):
        Resampler(0, up=True)


# --- the coders ------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "clock"), [("opus", 48000), ("g722", 8000)])
def test_a_tone_survives_the_codec(name: str, clock: int) -> None:
    encoder, decoder = make_codec(name), make_codec(name)
    assert encoder is not decoder  # stateful: one instance per stream
    assert encoder.clock_rate == clock
    source = ToneSource(1000)
    payloads = [encoder.encode(source.read(160)) for _ in range(50)]
    assert all(payloads) and all(len(p) < 320 for p in payloads)  # compressed frames
    out = np.concatenate([decoder.decode(p) for p in payloads])
    assert len(out) == 8000
    assert spectrum_peak(out[800:], 8000) == pytest.approx(1000, abs=3)
    assert rms(out[800:]) == pytest.approx(0.3 * 32767 / np.sqrt(2), rel=0.1)


def test_g722_is_64_kbit_and_static_payload_type_9() -> None:
    codec = G722Codec()
    assert codec.payload_type == 9 and codec.name == "G722"
    assert len(codec.encode(np.zeros(160, np.int16))) == 160  # 20 ms at 64 kbit/s


def test_garbage_does_not_decode_quietly() -> None:
    with pytest.raises(MediaError, match="does not decode"):
        OpusCodec().decode(b"\xff" * 3)


def test_codec_names() -> None:
    assert make_codec("PCMU") is ULAW  # G.711 is stateless and shared
    assert make_codec("opus", 109).payload_type == 109
    assert codec_problem("Opus") is None and codec_problem("g722") is None
    assert codec_problem("speex") == "codec 'speex' is not one of pcmu, pcma, g722, opus"
    with pytest.raises(MediaError, match="speex"):
        make_codec("speex")


# --- calls ----------------------------------------------------------------------------


async def call_with(codec: str, tmp_path: Path) -> tuple[OutgoingCall, IncomingCall, Path]:
    """alice (1 kHz tone, RFC 4733 '7') calls bob (records) with only ``codec`` offered."""
    recording = tmp_path / f"{codec}.wav"
    caller = MediaOptions(codecs=(codec,), source=ToneSource(1000))
    callee = MediaOptions(codecs=("PCMU", codec), record_received=recording)
    async with Agent("sip:bob@127.0.0.1:0") as bob, Agent("sip:alice@127.0.0.1:0") as alice:
        call, incoming = await connect(alice, bob, caller, callee)
        await asyncio.sleep(0.5)  # some audio before the digit (not a timing check)
        await asyncio.wait_for(call.send_dtmf("7", "rfc4733"), 10)
        assert incoming.media is not None

        async def enough() -> None:
            while incoming.media is not None and incoming.media.stats.packets_received < 60:
                await asyncio.sleep(0.02)

        await asyncio.wait_for(enough(), 5)
        await call.hangup()
        await incoming.wait_ended(5)
    return call, incoming, recording


@pytest.mark.asyncio
@pytest.mark.parametrize(("codec", "sdp_name"), [("opus", "opus"), ("G722", "G722")])
async def test_call_negotiates_and_carries_a_wideband_codec(
    codec: str, sdp_name: str, tmp_path: Path
) -> None:
    call, incoming, recording = await call_with(codec, tmp_path)
    assert call.remote_sdp is not None and incoming.remote_sdp is not None
    offered = incoming.remote_sdp.media[0].codecs
    answered = call.remote_sdp.media[0].codecs
    assert offered[0].encoding == sdp_name
    assert answered[0].encoding == sdp_name  # bob's PCMU was not offered
    if sdp_name == "opus":
        assert (answered[0].clock_rate, answered[0].channels) == (48000, 2)  # RFC 7587 §7
    for record in (call.record, incoming.record):
        assert record.media is not None and record.media.codec == sdp_name
        assert record.media.packets_received > 0 and record.media.malformed == 0
    assert incoming.record.media is not None and incoming.record.media.loss == 0
    assert [d.digit for d in incoming.record.digits] == ["7"]
    got = read_wav(recording)
    assert len(got) >= 8000 * 0.8  # about a second of audio or more
    steady = got[len(got) // 4 :]
    assert spectrum_peak(steady, 8000) == pytest.approx(1000, abs=5)
    assert rms(steady) > 3000  # the tone, not silence
