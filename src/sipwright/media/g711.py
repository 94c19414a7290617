"""G.711 µ-law (PCMU) and A-law (PCMA), vectorised with numpy lookup tables.

The tables are built once from the segment rules of ITU-T G.711 (as in the reference
``g711.c`` of Sun Microsystems): encoding looks up all 65536 16-bit samples, decoding
all 256 code words, so a 20 ms frame costs two numpy indexing operations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "ALAW",
    "CODECS_BY_NAME",
    "CODECS_BY_PT",
    "ULAW",
    "G711Codec",
    "alaw_decode",
    "alaw_encode",
    "ulaw_decode",
    "ulaw_encode",
]

Samples = npt.NDArray[np.int16]

_ALL = np.arange(-32768, 32768, dtype=np.int32)  # index i holds sample i - 32768
_CODES = np.arange(256, dtype=np.int32)


def _build_ulaw_encode() -> npt.NDArray[np.uint8]:
    # G.711 µ-law works on 14-bit magnitudes with a bias of 33 (0x84 >> 2).
    pcm = _ALL >> 2
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(pcm), 8159) + 0x21
    ends = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
    segment = np.searchsorted(ends, magnitude, side="left")
    code = (segment << 4) | ((magnitude >> (segment + 1)) & 0x0F)
    code = np.where(segment >= 8, 0x7F, code)  # beyond the last segment: clip
    return (code ^ mask).astype(np.uint8)


def _build_ulaw_decode() -> Samples:
    u = ~_CODES & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, 0x84 - t, t - 0x84).astype(np.int16)


def _build_alaw_encode() -> npt.NDArray[np.uint8]:
    # A-law works on 13-bit samples; negative ones are coded as one's complement.
    pcm = _ALL >> 3
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    magnitude = np.where(pcm >= 0, pcm, -pcm - 1)
    ends = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])
    segment = np.searchsorted(ends, magnitude, side="left")
    shift = np.where(segment < 2, 1, segment)
    code = np.where(segment >= 8, 0x7F, (segment << 4) | ((magnitude >> shift) & 0x0F))
    return (code ^ mask).astype(np.uint8)


def _build_alaw_decode() -> Samples:
    a = _CODES ^ 0x55
    segment = (a & 0x70) >> 4
    t = (a & 0x0F) << 4
    t = np.where(segment == 0, t + 8, t + 0x108)
    t = np.where(segment > 1, t << np.maximum(segment - 1, 0), t)
    return np.where(a & 0x80, t, -t).astype(np.int16)


_ULAW_ENCODE = _build_ulaw_encode()
_ULAW_DECODE = _build_ulaw_decode()
_ALAW_ENCODE = _build_alaw_encode()
_ALAW_DECODE = _build_alaw_decode()


def _index(samples: npt.ArrayLike) -> npt.NDArray[Any]:
    return np.asarray(samples, dtype=np.int16).astype(np.int32) + 32768


def ulaw_encode(samples: npt.ArrayLike) -> bytes:
    return bytes(_ULAW_ENCODE[_index(samples)])


def ulaw_decode(data: bytes) -> Samples:
    return _ULAW_DECODE[np.frombuffer(data, dtype=np.uint8)]


def alaw_encode(samples: npt.ArrayLike) -> bytes:
    return bytes(_ALAW_ENCODE[_index(samples)])


def alaw_decode(data: bytes) -> Samples:
    return _ALAW_DECODE[np.frombuffer(data, dtype=np.uint8)]


@dataclass(frozen=True, slots=True)
class G711Codec:
    """One G.711 variant: its RFC 3551 name and static payload type, and the coders."""

    name: str
    payload_type: int
    silence: int  # the code word for a zero sample
    clock_rate: int = 8000  # RTP timestamp units per second (RFC 3551 §4.5.14)

    def encode(self, samples: npt.ArrayLike) -> bytes:
        return ulaw_encode(samples) if self.payload_type == 0 else alaw_encode(samples)

    def decode(self, data: bytes) -> Samples:
        return ulaw_decode(data) if self.payload_type == 0 else alaw_decode(data)

    def transcode(self, data: bytes, source: G711Codec) -> bytes:
        """``data`` coded by ``source``, re-coded for us (for pcap payloads)."""
        return data if source == self else self.encode(source.decode(data))


ULAW = G711Codec("PCMU", 0, 0xFF)
ALAW = G711Codec("PCMA", 8, 0xD5)
CODECS_BY_NAME = {"pcmu": ULAW, "pcma": ALAW}
CODECS_BY_PT = {0: ULAW, 8: ALAW}
