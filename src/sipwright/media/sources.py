"""What a session sends: 20 ms frames of 16-bit samples from silence, a tone or a WAV.

Sources are plain pull objects (``read(count)``); the session paces them.  A sender
that does not record what it sends asks for coded frames instead
(``encoded(count, codec)``): silence, tones and WAV files code their audio once and
hand out slices, which is what lets one core carry hundreds of streams.  RTP replayed
from a pcap is not a sample source (its payloads go out as captured), see
:mod:`sipwright.media.pcap_source`.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from sipwright.media.g711 import G711Codec

__all__ = ["AudioSource", "SamplesSource", "SilenceSource", "ToneSource"]

Samples = npt.NDArray[np.int16]


class AudioSource:
    """Silence forever; subclasses produce something to hear."""

    finished = False  # True once a finite source has played everything

    def read(self, count: int) -> Samples:
        return np.zeros(count, dtype=np.int16)

    def encoded(self, count: int, codec: G711Codec) -> bytes:
        """The next ``count`` samples, coded: what :meth:`read` gives, without samples."""
        return bytes((codec.silence,)) * count


SilenceSource = AudioSource


class ToneSource(AudioSource):
    """A continuous sine (phase kept across frames), e.g. 1 kHz test tone."""

    _CACHE = 512  # coded frames kept per tone (a 1 kHz tone in 20 ms frames needs 1)

    def __init__(self, frequency: float = 1000.0, level: float = 0.3, rate: int = 8000) -> None:
        self.step = 2 * np.pi * frequency / rate
        self.amplitude = level * 32767
        self.position = 0
        # sin(2 pi f n / rate) repeats every rate / gcd(f, rate) samples when f is whole:
        # positions are kept modulo that, so a long call loses no precision and frames
        # repeat exactly (and can be coded once).
        whole = float(frequency).is_integer() and frequency > 0
        self.period = rate // math.gcd(int(frequency), rate) if whole else 0
        self._coded: dict[tuple[int, int, int], bytes] = {}

    def read(self, count: int) -> Samples:
        n = np.arange(self.position, self.position + count)
        self.position += count
        if self.period:
            self.position %= self.period
        wave: npt.NDArray[np.float64] = np.sin(n * self.step) * self.amplitude
        return wave.astype(np.int16)

    def encoded(self, count: int, codec: G711Codec) -> bytes:
        if not self.period:
            return codec.encode(self.read(count))
        key = (codec.payload_type, self.position, count)
        frame = self._coded.get(key)
        if frame is None:
            frame = codec.encode(self.read(count))
            if len(self._coded) < self._CACHE:
                self._coded[key] = frame
        else:
            self.position = (self.position + count) % self.period
        return frame


class SamplesSource(AudioSource):
    """Samples (a WAV file's) once, then silence; or over and over with ``loop``."""

    def __init__(self, samples: Samples, *, loop: bool = False) -> None:
        self.samples = np.asarray(samples, dtype=np.int16)
        self.loop = loop and len(self.samples) > 0
        self.position = 0
        self._coded: dict[int, bytes] = {}

    def read(self, count: int) -> Samples:
        out = np.zeros(count, dtype=np.int16)
        filled = 0
        while filled < count and (self.loop or self.position < len(self.samples)):
            if self.position >= len(self.samples):
                self.position = 0
            take = min(count - filled, len(self.samples) - self.position)
            out[filled : filled + take] = self.samples[self.position : self.position + take]
            filled += take
            self.position += take
        self.finished = not self.loop and self.position >= len(self.samples)
        return out

    def encoded(self, count: int, codec: G711Codec) -> bytes:
        # G.711 codes each sample on its own, so slices of the coded file are the
        # coded slices: the file is coded once per codec.
        coded = self._coded.get(codec.payload_type)
        if coded is None:
            coded = self._coded[codec.payload_type] = codec.encode(self.samples)
        out = bytearray()
        while len(out) < count and (self.loop or self.position < len(coded)):
            if self.position >= len(coded):
                self.position = 0
            take = min(count - len(out), len(coded) - self.position)
            out += coded[self.position : self.position + take]
            self.position += take
        self.finished = not self.loop and self.position >= len(coded)
        return bytes(out) + bytes((codec.silence,)) * (count - len(out))
