"""DTMF three ways: RFC 4733 telephone events, SIP INFO bodies, and in-band tones.

:func:`event_packets` makes the RTP payloads of one RFC 4733 event (the end packet
sent three times, §2.5.1.4); :class:`EventReceiver` turns received payloads back into
digits, once per event whatever the retransmissions (§2.5.1.3 says all packets of an
event share its timestamp).  :class:`ToneDetector` finds in-band digits with the
Goertzel algorithm (evaluated as single-bin DFTs over blocks, in numpy), and
:func:`tone` generates them (ITU-T Q.23 frequencies).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sipwright.media.errors import MediaError

__all__ = [
    "DIGITS",
    "EventReceiver",
    "TelephoneEvent",
    "ToneDetector",
    "event_packets",
    "format_dtmf_relay",
    "parse_dtmf_relay",
    "tone",
]

#: RFC 4733 §3.2: events 0-9, * (10), # (11), A-D (12-15).
DIGITS = "0123456789*#ABCD"
_ROWS = (697.0, 770.0, 852.0, 941.0)
_COLS = (1209.0, 1336.0, 1477.0, 1633.0)
_KEYPAD = ("123A", "456B", "789C", "*0#D")


def _event_code(digit: str) -> int:
    code = DIGITS.find(digit.upper())
    if len(digit) != 1 or code < 0:
        raise MediaError(f"{digit!r} is not a DTMF digit (0-9 * # A-D)")
    return code


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """The 4-octet payload of RFC 4733 §2.3: event, E bit, volume, duration."""

    event: int
    end: bool = False
    volume: int = 10  # -dBm0, 0-63
    duration: int = 0  # in timestamp units since the event started

    def __bytes__(self) -> bytes:
        flags = (0x80 if self.end else 0) | (self.volume & 0x3F)
        return struct.pack("!BBH", self.event, flags, min(self.duration, 0xFFFF))

    @classmethod
    def parse(cls, payload: bytes) -> TelephoneEvent:
        if len(payload) < 4:
            raise MediaError(f"telephone-event payload of {len(payload)} octets, expected 4")
        event, flags, duration = struct.unpack_from("!BBH", payload)
        return cls(event, bool(flags & 0x80), flags & 0x3F, duration)

    @property
    def digit(self) -> str | None:
        return DIGITS[self.event] if self.event < len(DIGITS) else None


def event_packets(
    digit: str, *, duration_ms: int = 100, ptime_ms: int = 20, clock_rate: int = 8000
) -> list[tuple[bool, bytes]]:
    """(marker, payload) of each packet of one event, one per packet interval.

    §2.5.1.2: the first packet has the marker bit; every packet carries the duration
    so far.  §2.5.1.4: the final packet, with the E bit, is sent three times.
    """
    code = _event_code(digit)
    step = clock_rate * ptime_ms // 1000
    total = clock_rate * duration_ms // 1000
    packets: list[tuple[bool, bytes]] = []
    elapsed = step
    while elapsed < total:
        packets.append((not packets, bytes(TelephoneEvent(code, duration=elapsed))))
        elapsed += step
    final = bytes(TelephoneEvent(code, end=True, duration=total))
    packets += [(not packets, final), (False, final), (False, final)]
    return packets


class EventReceiver:
    """Turns RFC 4733 payloads into digits, each event once.

    An event is known by its RTP timestamp (§2.5.1.3); a new timestamp is a new event,
    so the retransmitted end packets and a lost first packet change nothing.
    """

    def __init__(self) -> None:
        self._last_timestamp: int | None = None

    def receive(self, timestamp: int, payload: bytes) -> str | None:
        event = TelephoneEvent.parse(payload)
        if timestamp == self._last_timestamp or event.digit is None:
            return None
        self._last_timestamp = timestamp
        return event.digit


def tone(
    digit: str, duration_ms: int = 100, *, rate: int = 8000, level: float = 0.25
) -> npt.NDArray[np.int16]:
    """The two-frequency tone of ``digit``; ``level`` is each sine's peak / full scale."""
    code = _event_code(digit)
    key = DIGITS[code]
    row = next(i for i, keys in enumerate(_KEYPAD) if key in keys)
    col = _KEYPAD[row].index(key)
    t = np.arange(rate * duration_ms // 1000) / rate
    wave = np.sin(2 * np.pi * _ROWS[row] * t) + np.sin(2 * np.pi * _COLS[col] * t)
    return (wave * level * 32767).astype(np.int16)


class ToneDetector:
    """In-band DTMF: the Goertzel power of the 8 DTMF frequencies per 205-sample block.

    A digit is reported once when the same key wins two blocks in a row (about 50 ms,
    above Q.24's 40 ms minimum) and again only after a block without it.  A block wins
    when one row and one column tone hold most of its energy and each is strong
    enough on its own (tolerating twist).
    """

    BLOCK = 205  # the classic N for 8 kHz: bins land near all 8 frequencies

    def __init__(self, rate: int = 8000, min_level: float = 200.0) -> None:
        n = np.arange(self.BLOCK)
        freqs = np.array(_ROWS + _COLS)
        # The Goertzel filter's output power equals the DFT bin power at f; computing
        # the bins as one matrix product avoids a per-sample Python loop.
        self._basis = np.exp(-2j * np.pi * np.outer(freqs, n) / rate)
        self._min_energy = (min_level**2) * self.BLOCK
        self._pending = np.zeros(0, dtype=np.float64)
        self._last: str | None = None
        self._candidate: str | None = None

    def _classify(self, block: npt.NDArray[np.float64]) -> str | None:
        energy = float(np.dot(block, block))
        if energy < self._min_energy:
            return None
        power = np.abs(self._basis @ block) ** 2 * (2.0 / self.BLOCK)
        share = power / energy
        row = int(np.argmax(share[:4]))
        col = int(np.argmax(share[4:]))
        rows = np.sort(share[:4])
        cols = np.sort(share[4:])
        if share[row] < 0.15 or share[4 + col] < 0.15 or share[row] + share[4 + col] < 0.6:
            return None
        if rows[-2] > 0.2 * rows[-1] or cols[-2] > 0.2 * cols[-1]:
            return None  # a second strong tone in the group: speech or noise
        return _KEYPAD[row][col]

    def feed(self, samples: npt.ArrayLike) -> list[str]:
        """Digits completed by ``samples`` (16-bit PCM at ``rate``)."""
        data = np.concatenate((self._pending, np.asarray(samples, dtype=np.float64)))
        whole = len(data) // self.BLOCK * self.BLOCK
        self._pending = data[whole:]
        found: list[str] = []
        for block in data[:whole].reshape(-1, self.BLOCK):
            key = self._classify(block)
            if key is None:
                self._last = self._candidate = None
            elif key == self._candidate and key != self._last:
                found.append(key)
                self._last = key
            else:
                self._candidate = key
        return found


_RELAY_SIGNAL = re.compile(r"^\s*signal\s*=\s*(\S+)", re.IGNORECASE | re.MULTILINE)
_RELAY_DURATION = re.compile(r"^\s*duration\s*=\s*(\d+)", re.IGNORECASE | re.MULTILINE)


def format_dtmf_relay(digit: str, duration_ms: int = 100) -> bytes:
    """An ``application/dtmf-relay`` INFO body (the de-facto format of Cisco/SIPp)."""
    key = DIGITS[_event_code(digit)]
    return f"Signal={key}\r\nDuration={duration_ms}\r\n".encode()


def parse_dtmf_relay(body: bytes) -> str | None:
    """The digit of an ``application/dtmf-relay`` body (``Signal=5``), or None."""
    match = _RELAY_SIGNAL.search(body.decode("utf-8", "replace"))
    if match is None:
        return None
    value = match.group(1)
    if value.isdigit() and len(value) == 2 and int(value) < len(DIGITS):  # Signal=10, 11
        return DIGITS[int(value)]
    return value.upper() if len(value) == 1 and value.upper() in DIGITS else None
