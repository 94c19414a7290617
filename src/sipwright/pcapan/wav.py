"""G.711 RTP payloads to a WAV file (16-bit PCM, 8 kHz mono).

The expansion follows ITU-T G.711 (µ-law: bias 0x84, sign-magnitude with segment
and mantissa; A-law: even bits inverted with 0x55), done once per octet value into
a 256-entry table.
"""

from __future__ import annotations

import struct
import wave
from collections.abc import Iterable
from pathlib import Path

__all__ = ["ALAW", "ULAW", "write_wav"]


def _ulaw(octet: int) -> int:
    value = ~octet & 0xFF
    magnitude = (((value & 0x0F) << 3) + 0x84) << ((value & 0x70) >> 4)
    return 0x84 - magnitude if value & 0x80 else magnitude - 0x84


def _alaw(octet: int) -> int:
    value = octet ^ 0x55
    segment = (value & 0x70) >> 4
    magnitude = (value & 0x0F) << 4
    magnitude = magnitude + 8 if segment == 0 else (magnitude + 0x108) << (segment - 1)
    return magnitude if value & 0x80 else -magnitude


ULAW = tuple(_ulaw(octet) for octet in range(256))
ALAW = tuple(_alaw(octet) for octet in range(256))
TABLES = {0: ULAW, 8: ALAW}  # RFC 3551 static payload types PCMU, PCMA


def write_wav(path: Path, payload_type: int, payloads: Iterable[bytes]) -> int:
    """Decode G.711 ``payloads`` (in play-out order) into ``path``; samples written."""
    table = TABLES[payload_type]
    samples = [table[octet] for payload in payloads for octet in payload]
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    return len(samples)
