"""SIP over WebSocket (RFC 7118) with the ``websockets`` library.

Each WebSocket message carries exactly one SIP message (RFC 7118 §5.1), so framing
is the WebSocket's: a message is parsed like a datagram.  The ``sip`` subprotocol is
required both ways (§4.1).  A connection behaves like a TCP/TLS one for the
transport layer: it joins the same pool, so requests to a peer reuse it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from typing import TYPE_CHECKING

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.typing import Subprotocol

from sipwright.net.address import Destination, format_host

if TYPE_CHECKING:
    from sipwright.net.transport_layer import TransportLayer

__all__ = ["WebSocketConnection", "connect_websocket", "serve_websocket"]

log = logging.getLogger(__name__)

SIP = Subprotocol("sip")


class WebSocketConnection:
    """One SIP-over-WebSocket connection; ``send`` queues, a writer task sends."""

    def __init__(
        self,
        layer: TransportLayer,
        socket: ClientConnection | ServerConnection,
        transport: str,
        *,
        outgoing: bool,
    ) -> None:
        self._layer = layer
        self._socket = socket
        self.transport = transport
        self.outgoing = outgoing
        local = socket.local_address
        remote = socket.remote_address
        self.local: tuple[str, int] = (str(local[0]), int(local[1]))
        self.remote: tuple[str, int] = (str(remote[0]), int(remote[1]))
        self._outbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._open = True
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        loop = asyncio.get_running_loop()
        self._writer = loop.create_task(self._write())
        self._reader: asyncio.Task[None] | None = None

    def start_reading(self) -> None:
        self._reader = asyncio.get_running_loop().create_task(self.read())

    @property
    def is_open(self) -> bool:
        return self._open

    def send(self, data: bytes) -> None:
        from sipwright.net.transport_layer import TransportError  # noqa: PLC0415 - cycle

        if not self._open:
            raise TransportError(f"{self.transport} connection to {self.remote} is closed")
        self._outbox.put_nowait(data)

    def close(self) -> None:
        if self._open:
            self._open = False
            self._outbox.put_nowait(None)

    async def _write(self) -> None:
        try:
            while (data := await self._outbox.get()) is not None:
                # SIP is text; a message with non-UTF-8 octets goes as binary (§5.1).
                try:
                    await self._socket.send(data.decode("utf-8"))
                except UnicodeDecodeError:
                    await self._socket.send(data)
        except ConnectionClosed:
            pass
        finally:
            self._open = False
            with contextlib.suppress(Exception):
                await self._socket.close()

    async def read(self) -> None:
        """Hand every received message to the transport layer until the end."""
        try:
            async for message in self._socket:
                data = message.encode("utf-8") if isinstance(message, str) else message
                if data.strip(b"\r\n") == b"":
                    self._layer.stats.keepalives += 1
                    continue
                self._layer._received(data, self, stream=False)
        except ConnectionClosed:
            pass
        finally:
            self._open = False
            self._outbox.put_nowait(None)
            self._layer._connection_lost(self)
            if not self.closed.done():
                self.closed.set_result(None)

    def __repr__(self) -> str:
        return f"<{self.transport} {self.local} <-> {self.remote}>"


async def serve_websocket(
    layer: TransportLayer, transport: str, host: str, port: int, ssl_context: ssl.SSLContext | None
) -> Server:
    async def handler(socket: ServerConnection) -> None:
        if socket.subprotocol != SIP:
            await socket.close(1002, "the sip subprotocol is required (RFC 7118 §4.1)")
            return
        connection = WebSocketConnection(layer, socket, transport, outgoing=False)
        layer._connection_made(connection)
        await connection.read()

    return await serve(
        handler,
        host,
        port,
        subprotocols=[SIP],
        ssl=ssl_context if transport == "wss" else None,
        compression=None,
        ping_interval=None,
    )


async def connect_websocket(
    layer: TransportLayer, destination: Destination, ssl_context: ssl.SSLContext | None
) -> WebSocketConnection:
    scheme = "wss" if destination.transport == "wss" else "ws"
    uri = f"{scheme}://{format_host(destination.host)}:{destination.port}/"
    from sipwright.net.transport_layer import TransportError  # noqa: PLC0415 - cycle

    try:
        socket = await connect(
            uri,
            subprotocols=[SIP],
            ssl=(ssl_context or ssl.create_default_context()) if scheme == "wss" else None,
            compression=None,
            ping_interval=None,
            proxy=None,
            open_timeout=layer.connect_timeout,
        )
    except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as error:
        raise TransportError(f"cannot connect to {destination}: {error}") from error
    if socket.subprotocol != SIP:
        await socket.close()
        raise TransportError(f"{destination} did not accept the sip subprotocol")
    connection = WebSocketConnection(layer, socket, destination.transport, outgoing=True)
    layer._connection_made(connection)
    connection.start_reading()
    return connection
