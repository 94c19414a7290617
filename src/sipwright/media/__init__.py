"""Media: RTP/RTCP (RFC 3550), G.711, RFC 4733 DTMF, SDES-SRTP, WAV and pcap sources.

The algorithms are plain synchronous classes that take time as an argument; only
:mod:`sipwright.media.session` (receiving, RTCP timer) and :mod:`sipwright.media.rtp_sender`
(paced sending) run asyncio pumps around them.
"""

from sipwright.media.errors import MediaError

__all__ = ["MediaError"]
