"""The 3PCC twin link: SIPp's control connection between the instances of a third
party call control test (``-3pcc host:port``).

It is a TCP connection carrying the rendered ``<sendCmd>`` texts, each ended by an
ESC octet (0x1b), as SIPp writes them; the receiver finds the call by the text's
``Call-ID`` line.  The instance whose first twin command is ``<recvCmd>`` listens
(and must start first); the one whose first is ``<sendCmd>`` connects.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable

__all__ = ["TwinError", "TwinLink", "command_call_id", "is_abort"]

_DELIMITER = b"\x1b"
_MAX_COMMAND = 1 << 20  # a command is a SIP fragment; a megabyte without ESC is junk
_CALL_ID_RE = re.compile(r"^[ \t]*(?:call-id|i)[ \t]*:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)
_ABORT_RE = re.compile(r"internal-cmd:[ \t]*abort_call[ \t]*[\r\n]")

# SIPp's "3pcc_abort" message: sent to the twin when a call ends badly.
ABORT_TEMPLATE = "call-id: {call_id}\r\ninternal-cmd: abort_call\r\n\r\n"


class TwinError(Exception):
    """The twin could not be reached or listened for."""


def command_call_id(text: str) -> str | None:
    """The Call-ID a twin command is for (SIPp matches ``Call-ID:`` or ``i:``)."""
    match = _CALL_ID_RE.search(text)
    return match.group(1) if match else None


def is_abort(text: str) -> bool:
    """True for SIPp's internal ``abort_call`` command."""
    return _ABORT_RE.search(text) is not None


class TwinLink:
    """One 3PCC control connection; ``deliver`` gets each command's text."""

    def __init__(
        self, deliver: Callable[[str], None], closed: Callable[[], None] = lambda: None
    ) -> None:
        self._deliver = deliver
        self._closed = closed
        self._writer: asyncio.StreamWriter | None = None
        self._server: asyncio.Server | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._pending: list[bytes] = []
        self.closed_by_peer = False

    @property
    def connected(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    async def connect(self, host: str, port: int) -> None:
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError as error:
            raise TwinError(f"-3pcc {host}:{port}: cannot connect to the twin: {error}") from None
        self._attach(reader, writer)

    async def listen(self, host: str, port: int) -> None:
        try:
            self._server = await asyncio.start_server(self._accepted, host, port)
        except OSError as error:
            raise TwinError(f"-3pcc {host}:{port}: cannot listen for the twin: {error}") from None

    def send(self, text: str) -> bool:
        """Queue one command; False when no twin is (or will be) connected."""
        data = text.encode("utf-8", "surrogateescape") + _DELIMITER
        if self._writer is None:
            if self._server is None:
                return False
            self._pending.append(data)  # the twin has not connected yet
            return True
        if self._writer.is_closing():
            return False
        self._writer.write(data)
        return True

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await self._writer.wait_closed()
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader_task

    def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._writer is not None:
            writer.close()  # one twin only, as SIPp
            return
        self._attach(reader, writer)

    def _attach(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        for data in self._pending:
            writer.write(data)
        self._pending.clear()
        self._reader_task = asyncio.ensure_future(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        buffer = b""
        try:
            while chunk := await reader.read(65536):
                buffer += chunk
                *commands, buffer = buffer.split(_DELIMITER)
                for command in commands:
                    text = command.decode("utf-8", "surrogateescape")
                    if text.strip():
                        self._deliver(text)
                if len(buffer) > _MAX_COMMAND:
                    break
        except (OSError, ConnectionError):
            pass
        self.closed_by_peer = True
        self._closed()
