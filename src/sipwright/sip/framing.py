"""Message framing on stream transports (TCP, TLS): RFC 3261 §18.3.

A stream carries messages back to back; the header block ends at the first empty
line and Content-Length (mandatory on streams) says how long the body is.  Bytes
arrive in arbitrary chunks, so ``StreamFramer.feed`` buffers and hands back every
complete message.  Between messages a peer may send CRLF keep-alives (RFC 5626
§4.4.1: a double CRLF "ping" that we answer with a single CRLF "pong").

The buffer is bounded: a peer that sends a huge header block or announces a huge
body gets a ``ParseError`` with status 413 instead of our memory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sipwright.sip.errors import ParseError
from sipwright.sip.message import Request, Response, parse_message

__all__ = ["KeepAlivePing", "KeepAlivePong", "StreamFramer"]


@dataclass(frozen=True, slots=True)
class KeepAlivePing:
    """The peer sent CRLFCRLF (RFC 5626 §4.4.1); answer with ``b"\\r\\n"``."""


@dataclass(frozen=True, slots=True)
class KeepAlivePong:
    """The peer sent a lone CRLF: the answer to our own ping."""


_CONTENT_LENGTH_RE = re.compile(rb"\r?\n(?:content-length|l)[ \t]*:[ \t]*([0-9]+)", re.IGNORECASE)


class StreamFramer:
    """Splits a byte stream into SIP messages and keep-alives."""

    def __init__(
        self,
        *,
        max_header_bytes: int = 65536,
        max_body_bytes: int = 1 << 20,
        lazy: bool = False,
    ) -> None:
        self._buffer = bytearray()
        self._max_header = max_header_bytes
        self._max_body = max_body_bytes
        self._lazy = lazy
        # True when the buffer ended right after a CRLF reported as a pong.
        self._lone_crlf = False

    @property
    def buffered(self) -> int:
        """Octets received but not yet part of a complete message."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Request | Response | KeepAlivePing | KeepAlivePong]:
        """Add received octets; return the messages (and keep-alives) now complete.

        Raises ``ParseError`` for a message that cannot be framed (413 when a limit
        is passed, 400 otherwise); the connection should then be closed, since the
        stream position is lost (§18.3).
        """
        self._buffer += data
        out: list[Request | Response | KeepAlivePing | KeepAlivePong] = []
        buffer = self._buffer
        while buffer:
            # Keep-alives live only between messages (RFC 5626 §4.4.1).
            if buffer[0] in b"\r\n":
                if buffer.startswith(b"\r\n\r\n"):
                    del buffer[:4]
                    out.append(KeepAlivePing())
                elif buffer.startswith(b"\r\n"):
                    del buffer[:2]
                    if self._lone_crlf:
                        # The second half of a ping that arrived split in two; its
                        # first half was reported as a pong, which is harmless.
                        out.append(KeepAlivePing())
                        self._lone_crlf = False
                    else:
                        out.append(KeepAlivePong())
                        self._lone_crlf = not buffer or buffer == b"\r"
                    continue
                elif len(buffer) == 1 and buffer[0] == 13:
                    break  # a CR whose LF has not arrived yet
                else:
                    del buffer[:1]  # a stray LF or CR
                self._lone_crlf = False
                continue
            self._lone_crlf = False
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > self._max_header:
                    raise ParseError("header block too large", 413)
                break
            head_end = end + 4
            if head_end > self._max_header:
                raise ParseError("header block too large", 413)
            match = _CONTENT_LENGTH_RE.search(buffer, 0, end)
            if match is None:
                raise ParseError("missing Content-Length on a stream transport", 400)
            digits = match.group(1)
            # a huge number of digits is a huge body (and int() refuses > 4300 digits)
            length = int(digits) if len(digits.lstrip(b"0")) <= 12 else self._max_body + 1
            if length > self._max_body:
                raise ParseError("body too large", 413, digits[:20].decode())
            total = head_end + length
            if len(buffer) < total:
                break
            chunk = bytes(buffer[:total])
            del buffer[:total]
            out.append(parse_message(chunk, stream=True, lazy=self._lazy))
        return out
