"""Opus (RFC 7587) and G.722 (RFC 3551 §4.5.2) through PyAV, FFmpeg's bindings.

Optional: PyAV comes with ``pip install 'sipwright[codecs]'`` (its wheels carry
FFmpeg with libopus); without it these codecs are refused with that hint and G.711
works as before.

Both are stateful (Opus predicts from past frames, G.722 is ADPCM), so every media
session gets its own instance: one encoder for what it sends, one decoder for what it
receives.  The rest of sipwright's audio path is 8 kHz: frames are up-sampled to the
codec's rate before encoding and decoded audio is brought back down
(:class:`~sipwright.media.resample.Resampler`).  The RTP clock is the codec's
(48 kHz for Opus, RFC 7587 §4.1), except that G.722's is 8 kHz although it samples
at 16 kHz, an error frozen into RFC 3551 §4.5.2 for compatibility.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import numpy.typing as npt

from sipwright.media.errors import MediaError
from sipwright.media.resample import Resampler

__all__ = ["AV_MISSING", "G722Codec", "OpusCodec", "av_available"]

Samples = npt.NDArray[np.int16]
AV_MISSING = "Opus and G.722 need PyAV: pip install 'sipwright[codecs]'"

av: Any  # the module, typed loosely: its stubs lack the audio attributes used here
try:
    av = importlib.import_module("av")
except ImportError:  # pragma: no cover - the tests run with the codecs extra
    av = None


def av_available() -> bool:
    return av is not None


class _AvCodec:
    """A PyAV encoder/decoder pair at ``rate`` Hz, fed and read at 8 kHz."""

    def __init__(
        self,
        name: str,
        *,
        payload_type: int,
        clock_rate: int,
        rate: int,
        coder: str,
        options: dict[str, str] | None = None,
    ) -> None:
        if av is None:
            raise MediaError(AV_MISSING)
        self.name = name
        self.payload_type = payload_type
        self.clock_rate = clock_rate
        self.rate = rate
        self._coder = coder
        self._options = options or {}
        self._encoder: Any = None  # opened at the first frame: its size sets the ptime
        self._decoder: Any = None
        self._up = Resampler(rate // 8000, up=True)
        self._down = Resampler(rate // 8000, up=False)
        self._pts = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(payload_type={self.payload_type})"

    def _open_encoder(self, samples: int) -> Any:
        encoder = av.CodecContext.create(self._coder, "w")
        encoder.sample_rate = self.rate
        encoder.layout = "mono"
        encoder.format = "s16"
        encoder.options = {**self._options, **self._frame_options(samples)}
        encoder.open()
        return encoder

    def _frame_options(self, samples: int) -> dict[str, str]:
        return {}

    def encode(self, samples: npt.ArrayLike) -> bytes:
        """One frame of 8 kHz samples; b"" while the encoder is still filling up."""
        pcm = np.asarray(samples, dtype=np.int16)
        if self._encoder is None:
            self._encoder = self._open_encoder(len(pcm))
        wide = self._up(pcm)
        frame = av.AudioFrame.from_ndarray(wide.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self.rate
        frame.pts = self._pts
        self._pts += len(wide)
        try:
            return b"".join(bytes(packet) for packet in self._encoder.encode(frame))
        except av.FFmpegError as error:
            raise MediaError(f"{self.name} encoder: {error}") from None

    def decode(self, data: bytes) -> Samples:
        """One RTP payload to 8 kHz samples; MediaError when it does not decode."""
        if self._decoder is None:
            self._decoder = av.CodecContext.create(self._coder_for_decoding(), "r")
            self._decoder.sample_rate = self.rate
            self._decoder.layout = "mono"
        try:
            frames = self._decoder.decode(av.Packet(data))
        except av.FFmpegError as error:
            raise MediaError(f"{self.name} payload does not decode: {error}") from None
        parts = [_mono_pcm(frame) for frame in frames]
        if not parts:
            return np.zeros(0, dtype=np.int16)
        return self._down(np.concatenate(parts))

    def _coder_for_decoding(self) -> str:
        return self._coder

    def transcode(self, data: bytes, source: Any) -> bytes:
        return self.encode(source.decode(data))


def _mono_pcm(frame: Any) -> npt.NDArray[np.float64]:
    """A decoded frame as one channel in 16-bit units, whatever FFmpeg's layout."""
    array = np.asarray(frame.to_ndarray(), dtype=np.float64)
    channels = len(frame.layout.channels)
    if not frame.format.is_planar:  # interleaved: one row, channels side by side
        array = array.reshape(-1, channels).T
    if frame.format.name.startswith(("flt", "dbl")):
        array = array * 32767
    mono: npt.NDArray[np.float64] = array.mean(axis=0)
    return mono


class OpusCodec(_AvCodec):
    """Opus, mono at 48 kHz in a dynamic payload type ("opus/48000/2", RFC 7587 §7)."""

    def __init__(self, payload_type: int = 111, bitrate: int = 32000) -> None:
        super().__init__(
            "opus", payload_type=payload_type, clock_rate=48000, rate=48000, coder="libopus",
            options={"b": str(bitrate), "application": "voip"},
        )  # fmt: skip

    def _frame_options(self, samples: int) -> dict[str, str]:
        # libopus takes 2.5-60 ms frames; the first frame's size is the ptime.
        return {"frame_duration": f"{samples / 8:g}"}

    def _coder_for_decoding(self) -> str:
        return "opus"  # FFmpeg's own decoder


class G722Codec(_AvCodec):
    """G.722 at 64 kbit/s: static payload type 9, 16 kHz audio, an 8 kHz RTP clock."""

    def __init__(self, payload_type: int = 9) -> None:
        super().__init__(
            "G722", payload_type=payload_type, clock_rate=8000, rate=16000, coder="g722"
        )
