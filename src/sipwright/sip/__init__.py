"""Sans-I/O SIP: messages, URIs, headers, digest auth, SDP, transactions, dialogs.

Nothing in this package imports asyncio or socket, or reads the clock: time is an
argument (``now``) and I/O is the caller's job.
"""

from sipwright.sip.errors import ParseError, ProtocolError

__all__ = ["ParseError", "ProtocolError"]
