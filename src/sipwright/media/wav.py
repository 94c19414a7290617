"""WAV files (16-bit PCM) in and out, through the standard :mod:`wave` module.

:func:`read_wav` gives mono 8 kHz samples whatever the file's rate and channel count
(channels averaged, rate changed by linear interpolation); :class:`WavWriter` writes
a recording as it goes, so an interrupted call still leaves a valid file up to there.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt

from sipwright.media.errors import MediaError

__all__ = ["WavWriter", "read_wav", "resample", "write_wav"]

Samples = npt.NDArray[np.int16]


def resample(samples: npt.ArrayLike, rate: int, target: int = 8000) -> Samples:
    """Linear-interpolation resampling, with a moving-average low-pass when going down
    (enough for test prompts and tones; not for hi-fi)."""
    data = np.asarray(samples, dtype=np.float64)
    if rate == target or len(data) == 0:
        return np.asarray(data, dtype=np.int16)
    if rate > target:
        width = round(rate / target) | 1  # odd, so the filter adds no delay
        if width > 1:  # crude anti-aliasing: average over about one output sample
            data = np.convolve(data, np.ones(width) / width, mode="same")
    count = int(len(data) * target / rate)
    positions = np.arange(count) * (rate / target)
    out: npt.NDArray[np.float64] = np.interp(positions, np.arange(len(data)), data)
    return np.clip(np.round(out), -32768, 32767).astype(np.int16)


def read_wav(path: Path, rate: int = 8000) -> Samples:
    """Mono 16-bit samples at ``rate`` from a 16-bit PCM WAV; MediaError names the file."""
    try:
        with wave.open(str(path), "rb") as wav:
            width = wav.getsampwidth()
            channels = wav.getnchannels()
            source_rate = wav.getframerate()
            frames = wav.readframes(wav.getnframes())
    except (OSError, EOFError, wave.Error) as error:
        raise MediaError(f"{path}: cannot read as WAV: {error}") from None
    if width != 2:
        raise MediaError(f"{path}: {8 * width}-bit samples; only 16-bit PCM WAV is read")
    data = np.frombuffer(frames, dtype="<i2")
    if channels > 1:
        data = data[: len(data) // channels * channels].reshape(-1, channels).mean(axis=1)
    return resample(data, source_rate, rate)


def write_wav(path: Path, samples: npt.ArrayLike, rate: int = 8000) -> None:
    with WavWriter(path, rate) as writer:
        writer.write(samples)


class WavWriter:
    """A mono 16-bit WAV written frame by frame (the header is fixed up at close)."""

    def __init__(self, path: Path, rate: int = 8000) -> None:
        self.path = path
        try:
            self._file = path.open("wb")
        except OSError as error:
            raise MediaError(f"{path}: cannot write: {error.strerror or error}") from None
        self._wav = wave.open(self._file, "wb")  # noqa: SIM115
        self._wav.setnchannels(1)
        self._wav.setsampwidth(2)
        self._wav.setframerate(rate)
        self.frames = 0
        self.closed = False

    def write(self, samples: npt.ArrayLike) -> None:
        data = np.asarray(samples, dtype=np.int16)
        self._wav.writeframes(data.astype("<i2").tobytes())
        self.frames += len(data)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._wav.close()
            self._file.close()

    def __enter__(self) -> WavWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
