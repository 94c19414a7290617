"""What a session sends: 20 ms frames of 16-bit samples from silence, a tone or a WAV.

Sources are plain pull objects (``read(count)``); the session paces them.  RTP replayed
from a pcap is not a sample source (its payloads go out as captured), see
:mod:`sipwright.media.pcap_source`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["AudioSource", "SamplesSource", "SilenceSource", "ToneSource"]

Samples = npt.NDArray[np.int16]


class AudioSource:
    """Silence forever; subclasses produce something to hear."""

    finished = False  # True once a finite source has played everything

    def read(self, count: int) -> Samples:
        return np.zeros(count, dtype=np.int16)


SilenceSource = AudioSource


class ToneSource(AudioSource):
    """A continuous sine (phase kept across frames), e.g. 1 kHz test tone."""

    def __init__(self, frequency: float = 1000.0, level: float = 0.3, rate: int = 8000) -> None:
        self.step = 2 * np.pi * frequency / rate
        self.amplitude = level * 32767
        self.position = 0

    def read(self, count: int) -> Samples:
        n = np.arange(self.position, self.position + count)
        self.position += count
        wave: npt.NDArray[np.float64] = np.sin(n * self.step) * self.amplitude
        return wave.astype(np.int16)


class SamplesSource(AudioSource):
    """Samples (a WAV file's) once, then silence; or over and over with ``loop``."""

    def __init__(self, samples: Samples, *, loop: bool = False) -> None:
        self.samples = np.asarray(samples, dtype=np.int16)
        self.loop = loop and len(self.samples) > 0
        self.position = 0

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
