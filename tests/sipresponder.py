"""A tiny SIP responder on a loopback UDP socket, in a thread, for CLI tests that
need something to answer (without starting a process).  It answers every request
with ``status`` (200 by default) using sipwright's own parser, and records what it
received.  ``echo_messages``: a MESSAGE is also sent back (as a new MESSAGE) to
the address it came from.  ``stop_after=N``: after N datagrams it closes its socket,
like a target that crashed.  Stop it with ``close()`` or use it as a context manager."""

from __future__ import annotations

import socket
import threading
import uuid
from typing import Self

from sipwright.sip.errors import ParseError
from sipwright.sip.message import Request, make_response, parse_message

__all__ = ["SipResponder"]


class SipResponder:
    def __init__(
        self, status: int = 200, *, echo_messages: bool = False, stop_after: int | None = None
    ) -> None:
        self.status = status
        self.received: list[bytes] = []
        self.echo_messages = echo_messages
        self.stop_after = stop_after
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.settimeout(0.1)
        self.port: int = self._socket.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def uri(self) -> str:
        return f"sip:127.0.0.1:{self.port}"

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, address = self._socket.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            self.received.append(data)
            if self.stop_after is not None and len(self.received) >= self.stop_after:
                self._socket.close()
                return
            try:
                message = parse_message(data)
            except ParseError:
                continue
            if not isinstance(message, Request) or message.method == "ACK":
                continue
            response = make_response(message, self.status, to_tag="responder")
            response.headers.add("Server", "sipwright-test-responder")
            self._socket.sendto(bytes(response), address)
            if self.echo_messages and message.method == "MESSAGE":
                # to the original sender (the last Via), not to a proxy on the way
                sender = message.vias[-1]
                where = (sender.received or sender.host, sender.rport or sender.port or 5060)
                self._socket.sendto(_echo(message, self.port), where)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._socket.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _echo(message: Request, port: int) -> bytes:
    """A new MESSAGE to the sender (To = its From) carrying "echo: <text>"."""
    body = b"echo: " + message.body
    head = (
        "MESSAGE sip:sender@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{uuid.uuid4().hex[:12]}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:echo@127.0.0.1:{port}>;tag=echo\r\n"
        f"To: {message.from_.without_tag()}\r\n"
        f"Call-ID: {uuid.uuid4().hex}@127.0.0.1\r\n"
        "CSeq: 1 MESSAGE\r\n"
        "Content-Type: text/plain\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body
