"""Errors raised by the sans-I/O SIP core.

Modelled on h11's ``ProtocolError``: every error carries the status code a server
would answer with (RFC 3261 §21) so that the network layer can reply without
guessing, and the offending line so that a tester sees what the peer sent.
"""

from __future__ import annotations

__all__ = ["ParseError", "ProtocolError"]


class ParseError(ValueError):
    """Bytes or text that do not follow the grammar (RFC 3261 §25, RFC 4566, ...).

    ``status_hint`` is the response code a UAS should send (400, 413, 505, ...);
    ``line`` is the offending line as text (decoded with surrogateescape for any
    non-UTF-8 octets), or ``None`` when the problem is not tied to one line.
    """

    def __init__(self, message: str, status_hint: int = 400, line: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_hint = status_hint
        self.line = line

    def __str__(self) -> str:
        if self.line is None:
            return self.message
        return f"{self.message}: {self.line!r}"


class ProtocolError(RuntimeError):
    """A state machine was asked to do something RFC 3261 does not allow."""
