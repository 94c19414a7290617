"""Receiver statistics of RFC 3550 Appendix A, with time as a parameter.

:class:`ReceiverStats` keeps the extended sequence number (A.1), loss (A.3), the
interarrival jitter (§6.4.1, A.8) and the last SR heard (for LSR/DLSR), and makes
report blocks; :func:`round_trip_time` turns a report block about us into an RTT
(§6.4.1, "delay since last SR").  Times are seconds; ``wall`` is Unix time, which is
what NTP timestamps carry (§4).
"""

from __future__ import annotations

from dataclasses import dataclass

from sipwright.media.rtcp import ReportBlock

__all__ = [
    "ReceiverStats",
    "SenderStats",
    "ntp_from_unix",
    "ntp_middle",
    "round_trip_time",
]

_NTP_EPOCH = 2208988800  # seconds from 1900-01-01 (NTP) to 1970-01-01 (Unix)
_MAX_DROPOUT = 3000  # A.1: a jump this far ahead is still in sequence
_MAX_MISORDER = 100  # A.1: this far behind is reordering, anything else a restart
_SEQ_MOD = 1 << 16
_DUP_WINDOW = 1024  # duplicates are noticed among this many recent sequence numbers


def ntp_from_unix(wall: float) -> int:
    """The 64-bit NTP timestamp (§4) for a Unix time."""
    seconds = int(wall)
    return ((seconds + _NTP_EPOCH) << 32) | int((wall - seconds) * (1 << 32))


def ntp_middle(ntp: int) -> int:
    """The middle 32 bits of an NTP timestamp, the unit of LSR (§6.4.1)."""
    return (ntp >> 16) & 0xFFFFFFFF


def round_trip_time(block: ReportBlock, wall: float) -> float | None:
    """§6.4.1: RTT = A - LSR - DLSR, A being when the report arrived; None without LSR."""
    if block.lsr == 0:
        return None
    arrived = ntp_middle(ntp_from_unix(wall))
    rtt = (arrived - block.lsr - block.dlsr) & 0xFFFFFFFF
    if rtt > 0x80000000:  # clocks a little off: a negative RTT is no RTT
        return None
    return rtt / 65536.0


@dataclass(slots=True)
class SenderStats:
    """What we sent: the SR sender info (§6.4.1)."""

    packets: int = 0
    octets: int = 0  # payload octets, as the SR counts them

    def sent(self, payload_size: int) -> None:
        self.packets += 1
        self.octets += payload_size


class ReceiverStats:
    """Reception statistics for one source (RFC 3550 A.1, A.3, A.8)."""

    def __init__(self, clock_rate: int = 8000) -> None:
        self.clock_rate = clock_rate
        self.ssrc: int | None = None
        self.packets = 0  # every packet, duplicates and restarts included
        self.octets = 0
        self.received = 0  # A.1 "received": packets counted toward loss
        self.duplicates = 0
        self.base_seq = 0
        self.max_seq = 0
        self.cycles = 0
        self._bad_seq = _SEQ_MOD + 1
        self._expected_prior = 0
        self._received_prior = 0
        self._transit: float | None = None
        self.jitter = 0.0  # in timestamp units, as RTCP carries it
        self.max_jitter = 0.0
        self._last_sr: tuple[int, float] | None = None  # (middle 32 NTP bits, arrived)
        # Recent extended sequence numbers, slot = number modulo the window: a fixed
        # size however long the call (a set of every number would grow 50 a second).
        self._seen = [-1] * _DUP_WINDOW

    def _init_seq(self, seq: int) -> None:
        self.base_seq = seq
        self.max_seq = seq
        self.cycles = 0
        self.received = 0
        self._expected_prior = 0
        self._received_prior = 0
        self._bad_seq = _SEQ_MOD + 1
        self._seen = [-1] * _DUP_WINDOW

    def receive(
        self, ssrc: int, seq: int, timestamp: int, arrival: float, size: int, *, timed: bool = True
    ) -> bool:
        """Count one packet arriving at ``arrival`` (seconds, any monotonic clock).

        ``timed=False`` leaves the jitter alone: RFC 4733 events keep the timestamp of
        the event start, so they say nothing about transit time (RFC 3550 A.8 wants
        packets sampled at the media clock).  Returns False for a packet A.1 rejects
        (a big jump, until the next packet confirms the new sequence).
        """
        self.packets += 1
        self.octets += size
        if self.ssrc != ssrc:  # a new source (or a restart with a new SSRC): start over
            self.ssrc = ssrc
            self._init_seq(seq)
            self._transit = None
        else:
            delta = (seq - self.max_seq) % _SEQ_MOD
            if 0 < delta < _MAX_DROPOUT:
                if seq < self.max_seq:
                    self.cycles += _SEQ_MOD  # wrapped around
                self.max_seq = seq
            elif delta >= _SEQ_MOD - _MAX_MISORDER or delta == 0:
                pass  # reordered or duplicate: counted, max unchanged
            elif seq == self._bad_seq:
                self._init_seq(seq)  # two in a row after a jump: the sender restarted
                self._transit = None
            else:
                self._bad_seq = (seq + 1) % _SEQ_MOD
                return False
        extended = self._extend(seq)
        slot = extended % _DUP_WINDOW
        if self._seen[slot] == extended:
            self.duplicates += 1
        else:
            self._seen[slot] = extended
        self.received += 1
        if timed:
            self._jitter(timestamp, arrival)
        return True

    def _extend(self, seq: int) -> int:
        """The extended sequence number of ``seq`` near the current maximum."""
        extended = self.cycles + seq
        if seq > self.max_seq and seq - self.max_seq > _SEQ_MOD // 2:
            extended -= _SEQ_MOD  # a late packet from before the last wrap
        return extended

    def _jitter(self, timestamp: int, arrival: float) -> None:
        # A.8: J += (|D| - J) / 16, D the change in relative transit time.
        transit = arrival * self.clock_rate - timestamp
        if self._transit is not None:
            delta = transit - self._transit
            # The RTP timestamp may have wrapped between the two packets.
            delta = (delta + (1 << 31)) % (1 << 32) - (1 << 31)
            self.jitter += (abs(delta) - self.jitter) / 16.0
            self.max_jitter = max(self.max_jitter, self.jitter)
        self._transit = transit

    @property
    def extended_max(self) -> int:
        return self.cycles + self.max_seq

    @property
    def expected(self) -> int:
        """A.3: highest extended sequence number minus the first, plus one."""
        return 0 if self.ssrc is None else self.extended_max - self.base_seq + 1

    @property
    def lost(self) -> int:
        """A.3 cumulative loss: expected minus received (negative with duplicates)."""
        return self.expected - self.received

    @property
    def loss_fraction(self) -> float:
        expected = self.expected
        return max(0.0, self.lost / expected) if expected else 0.0

    @property
    def jitter_seconds(self) -> float:
        return self.jitter / self.clock_rate

    def sender_report(self, ntp: int, wall: float) -> None:
        """Note an SR from this source: its time is the next report's LSR (§6.4.1)."""
        self._last_sr = (ntp_middle(ntp), wall)

    def report_block(self, wall: float) -> ReportBlock | None:
        """A reception report for this source, resetting the interval counters (A.3)."""
        if self.ssrc is None:
            return None
        expected = self.expected
        expected_interval = expected - self._expected_prior
        received_interval = self.received - self._received_prior
        self._expected_prior = expected
        self._received_prior = self.received
        lost_interval = expected_interval - received_interval
        fraction = 0
        if expected_interval > 0 and lost_interval > 0:
            fraction = min(255, (lost_interval << 8) // expected_interval)
        lsr = dlsr = 0
        if self._last_sr is not None:
            lsr, arrived = self._last_sr
            dlsr = int(max(0.0, wall - arrived) * 65536)
        return ReportBlock(
            self.ssrc,
            fraction,
            self.lost,
            self.extended_max & 0xFFFFFFFF,
            int(self.jitter),
            lsr,
            dlsr,
        )
