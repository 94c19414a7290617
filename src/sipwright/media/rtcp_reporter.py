"""Our half of RTCP for one RTP stream, with time as a parameter (RFC 3550 §6).

:class:`RtcpReporter` builds the compound packets we send (SR when we have sent RTP,
else RR; always with SDES CNAME, §6.1; BYE when the session ends, §6.6), reads the
peer's reports into round-trip time, the loss and jitter it sees of our stream
(§6.4), and says when the next report is due: ~5 s, the first one at half that,
each randomised to 0.5-1.5 times so that participants do not synchronise (§6.2,
§6.3.5).  The socket and the timer that call it live in the media session.
"""

from __future__ import annotations

import random

from sipwright.media import rtcp
from sipwright.media.call_stats import MediaStats
from sipwright.media.errors import MediaError
from sipwright.media.stats import ReceiverStats, SenderStats, ntp_from_unix, round_trip_time

__all__ = ["RTCP_INTERVAL", "RtcpReporter"]

RTCP_INTERVAL = 5.0  # §6.2: the recommended minimum interval


class RtcpReporter:
    """Reports about one stream: ``build`` what to send, ``receive`` what came."""

    def __init__(
        self,
        ssrc: int,
        cname: bytes,
        received: ReceiverStats,
        sent: SenderStats,
        stats: MediaStats,
        *,
        interval: float = RTCP_INTERVAL,
    ) -> None:
        self.ssrc = ssrc
        self.cname = cname
        self.received = received
        self.sent = sent
        self.stats = stats
        self.interval = interval
        self.rtt: float | None = None  # seconds, from the peer's last report about us
        self._reports_scheduled = 0

    def next_interval(self) -> float:
        """Seconds until the next report: randomised (§6.3.5), the first one sooner (§6.2)."""
        base = self.interval / 2 if self._reports_scheduled == 0 else self.interval
        self._reports_scheduled += 1
        return base * random.uniform(0.5, 1.5)

    def build(self, wall: float, rtp_timestamp: int, *, bye: bool = False) -> bytes:
        """A compound packet: SR or RR, SDES CNAME, and BYE if ``bye`` (§6.1)."""
        block = self.received.report_block(wall)
        blocks = (block,) if block is not None else ()
        report: rtcp.RtcpPacket
        if self.sent.packets:
            report = rtcp.SenderReport(
                self.ssrc, ntp_from_unix(wall), rtp_timestamp, self.sent.packets,
                self.sent.octets, blocks,
            )  # fmt: skip
        else:
            report = rtcp.ReceiverReport(self.ssrc, blocks)
        packets: list[rtcp.RtcpPacket] = [report, rtcp.Sdes(((self.ssrc, ((1, self.cname),)),))]
        if bye:
            packets.append(rtcp.Bye((self.ssrc,)))
        return rtcp.build_compound(packets)

    def receive(self, data: bytes, wall: float) -> bool:
        """A (decrypted) compound packet from the peer; False when it is malformed.

        An SR gives the LSR/DLSR we send back (§6.4.1); a report block about our SSRC
        gives the RTT and what the peer sees of our stream."""
        try:
            packets = rtcp.parse_compound(data)
        except MediaError:
            self.stats.malformed += 1
            return False
        self.stats.rtcp_received += 1
        for packet in packets:
            if isinstance(packet, rtcp.SenderReport):
                self.received.sender_report(packet.ntp_timestamp, wall)
            if isinstance(packet, rtcp.SenderReport | rtcp.ReceiverReport):
                for block in packet.reports:
                    if block.ssrc == self.ssrc:
                        rtt = round_trip_time(block, wall)
                        self.rtt = rtt if rtt is not None else self.rtt
                        self.stats.remote_loss = block.fraction_lost / 256
                        self.stats.remote_jitter_ms = block.jitter / 8.0
        return True
