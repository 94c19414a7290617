"""The audio codecs a media session can use, by SDP encoding name.

G.711 (PCMU, PCMA) is built in and stateless: one shared object per law.  Opus and
G.722 come from :mod:`sipwright.media.av_codecs` when PyAV is installed; they keep
state, so :func:`make_codec` returns a fresh instance for every stream.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt

from sipwright.media.av_codecs import AV_MISSING, G722Codec, OpusCodec, av_available
from sipwright.media.errors import MediaError
from sipwright.media.g711 import CODECS_BY_NAME, G711Codec

__all__ = ["SUPPORTED", "AudioCodec", "codec_problem", "make_codec"]

Samples = npt.NDArray[np.int16]

#: Encoding names we can send and receive, lower case.
SUPPORTED = ("pcmu", "pcma", "g722", "opus")
_WIDEBAND = ("g722", "opus")


class AudioCodec(Protocol):
    """What a media session needs of a codec; audio in and out is 8 kHz."""

    @property
    def name(self) -> str: ...

    @property
    def payload_type(self) -> int: ...

    @property
    def clock_rate(self) -> int:
        """The RTP timestamp rate (RFC 3551 §4.5.2, RFC 7587 §4.1)."""
        ...

    def encode(self, samples: npt.ArrayLike) -> bytes: ...

    def decode(self, data: bytes) -> Samples: ...

    def transcode(self, data: bytes, source: G711Codec) -> bytes:
        """``data`` coded by ``source`` (a capture's G.711), coded for this codec."""
        ...


def codec_problem(name: str) -> str | None:
    """Why ``name`` cannot be used here, or None when it can."""
    lower = name.lower()
    if lower not in SUPPORTED:
        return f"codec {name!r} is not one of {', '.join(SUPPORTED)}"
    if lower in _WIDEBAND and not av_available():
        return AV_MISSING
    return None


def make_codec(name: str, payload_type: int | None = None) -> AudioCodec:
    """The codec for an SDP encoding name (and the payload type negotiated for it)."""
    lower = name.lower()
    problem = codec_problem(name)
    if problem is not None:
        raise MediaError(problem)
    if lower == "opus":
        return OpusCodec(111 if payload_type is None else payload_type)
    if lower == "g722":
        return G722Codec()
    return CODECS_BY_NAME[lower]
