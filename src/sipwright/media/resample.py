"""Integer-ratio sample-rate conversion between the 8 kHz of sipwright's audio path
and the rates wideband codecs work at (G.722 16 kHz, Opus 48 kHz).

Sources, recordings and DTMF detection all work at 8 kHz; a codec that samples
faster gets its frames up-sampled (zeros stuffed between samples, then a low-pass)
and gives back down-sampled ones (a low-pass, then every n-th sample).  The low-pass
is a windowed-sinc FIR cutting just under the 8 kHz band's 4 kHz Nyquist limit, so
that interpolation leaves no images and decimation folds nothing back.  The filter's
history is kept from one frame to the next: consecutive 20 ms frames join without a
click.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["Resampler"]

Samples = npt.NDArray[np.int16]
_TAPS_PER_PHASE = 16  # filter length per output phase: ~70 dB of image rejection


class Resampler:
    """Converts a stream of frames by ``factor`` up (``up=True``) or down."""

    def __init__(self, factor: int, *, up: bool) -> None:
        if factor < 1:
            raise ValueError(f"resampling factor {factor} is not a positive integer")
        self.factor = factor
        self.up = up
        length = _TAPS_PER_PHASE * factor + 1
        middle = np.arange(length) - (length - 1) / 2
        cutoff = 0.45 / factor  # cycles per sample at the high rate: 0.9 of the low Nyquist
        taps = 2 * cutoff * np.sinc(2 * cutoff * middle) * np.hamming(length)
        taps /= taps.sum()
        # Zero-stuffing divides the signal's level by the factor: the filter puts it back.
        self._taps = taps * factor if up else taps
        self._history = np.zeros(length - 1)
        self._phase = 0  # where the next kept sample falls when decimating

    def __call__(self, samples: npt.NDArray[np.int16] | npt.NDArray[np.floating]) -> Samples:
        """The next frame converted; ``samples`` in 16-bit units (int or float)."""
        signal = np.asarray(samples, dtype=np.float64)
        if self.factor == 1:
            return _to_int16(signal)
        if self.up:
            stuffed = np.zeros(len(signal) * self.factor)
            stuffed[:: self.factor] = signal
            signal = stuffed
        buffer = np.concatenate((self._history, signal))
        filtered = np.convolve(buffer, self._taps, mode="valid")  # one output per input
        self._history = buffer[len(buffer) - len(self._history) :]
        if not self.up:
            filtered = filtered[self._phase :: self.factor]
            self._phase = (self._phase - len(signal)) % self.factor
        return _to_int16(filtered)


def _to_int16(signal: npt.NDArray[np.float64]) -> Samples:
    return np.clip(np.rint(signal), -32768, 32767).astype(np.int16)
