"""The transport layer of RFC 3261 §18 over asyncio: UDP sockets and TCP/TLS
connections, both ways.

It moves bytes and frames them; it knows nothing of transactions.  Every message
received (and every one that fails to parse) is handed up with the ``Flow`` it came
on, so the layer above can answer along the same path.  Connections are kept in a
pool keyed by remote address and by the aliases peers announce (RFC 5923), so a
request to a peer we already have a connection with reuses it, whichever side
opened it.  That is what lets a registered agent receive its calls on the very
connection it registered on.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from websockets.asyncio.server import Server as WsServer

from sipwright.net.address import Connection, Destination, Flow, strip_brackets
from sipwright.net.websocket import connect_websocket, serve_websocket
from sipwright.sip.errors import ParseError
from sipwright.sip.framing import KeepAlivePing, KeepAlivePong, StreamFramer
from sipwright.sip.message import Request, Response, parse_message

__all__ = ["StreamConnection", "TransportError", "TransportLayer", "TransportStats", "UdpFlow"]

log = logging.getLogger(__name__)

Deliver = Callable[[Request | Response, Flow], None]
Reject = Callable[[bytes, ParseError, Flow], None]

# RFC 3261 §18.1.1: a request within 200 octets of the path MTU should go over a
# congestion-controlled transport; we only warn, since testers need to send big ones.
MAX_DATAGRAM = 65507
_FLOWS_KEPT = 4096  # UDP peers whose flow object a socket keeps for reuse


class TransportError(OSError):
    """A message could not be sent: connection refused, TLS handshake failed, ..."""


@dataclass(slots=True)
class TransportStats:
    received: int = 0
    sent: int = 0
    malformed: int = 0
    keepalives: int = 0
    connections_opened: int = 0
    connections_accepted: int = 0
    send_errors: int = 0
    by_transport: dict[str, int] = field(default_factory=dict)


class UdpFlow:
    """A UDP socket and one remote address: responses go back from the same socket,
    so they leave from the port the request reached (symmetric, RFC 3581)."""

    __slots__ = ("_socket", "remote")

    transport = "udp"

    def __init__(self, sock: UdpSocket, remote: tuple[str, int]) -> None:
        self._socket = sock
        self.remote = remote

    @property
    def local(self) -> tuple[str, int]:
        return self._socket.local

    @property
    def is_open(self) -> bool:
        transport = self._socket._transport
        return transport is not None and not transport.is_closing()

    def send(self, data: bytes) -> None:
        # Straight to the loop's transport (UdpSocket.sendto, one call less): every
        # message of a load run comes through here.
        transport = self._socket._transport
        if transport is None:
            raise TransportError(f"UDP socket {self._socket.local} is closed")
        transport.sendto(data, self.remote)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, UdpFlow)
            and other._socket is self._socket
            and other.remote == self.remote
        )

    def __hash__(self) -> int:
        return hash((id(self._socket), self.remote))

    def __repr__(self) -> str:
        return f"<udp {self.local} <-> {self.remote}>"


class UdpSocket(asyncio.DatagramProtocol):
    def __init__(self, layer: TransportLayer) -> None:
        self._layer = layer
        self._transport: asyncio.DatagramTransport | None = None
        self.local: tuple[str, int] = ("", 0)
        # The flow of each peer address seen, as the loop gives it: one object per
        # peer, not one per datagram (flows are immutable and compare by value).
        self._flows: dict[object, UdpFlow] = {}

    @property
    def is_open(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # CPython's selector datagram transport does not subclass DatagramTransport.
        self._transport = cast(asyncio.DatagramTransport, transport)
        sockname = transport.get_extra_info("sockname")
        self.local = (sockname[0], sockname[1])

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        if data in (b"\r\n\r\n", b"\r\n"):
            # RFC 5626 §4.4.2 uses STUN on UDP, but many UAs send CRLF: ignore it.
            self._layer.stats.keepalives += 1
            return
        flow = self._flows.get(addr)
        if flow is None:
            if len(self._flows) >= _FLOWS_KEPT:  # bounded: addresses come from the network
                self._flows.clear()
            flow = self._flows[addr] = UdpFlow(self, (str(addr[0]), int(addr[1])))
        self._layer._received(data, flow, stream=False)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable and friends: the transaction's timers handle it.
        log.debug("udp %s: %s", self.local, exc)

    def sendto(self, data: bytes, remote: tuple[str, int]) -> None:
        if self._transport is None:
            raise TransportError(f"UDP socket {self.local} is closed")
        self._transport.sendto(data, remote)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class StreamConnection(asyncio.Protocol):
    """One TCP or TLS connection, framed by Content-Length (§18.3)."""

    def __init__(self, layer: TransportLayer, transport_name: str, *, outgoing: bool) -> None:
        self._layer = layer
        self.transport = transport_name
        self.outgoing = outgoing
        self._transport: asyncio.Transport | None = None
        self._framer = StreamFramer(
            max_header_bytes=layer.max_header_bytes, max_body_bytes=layer.max_body_bytes
        )
        self.local: tuple[str, int] = ("", 0)
        self.remote: tuple[str, int] = ("", 0)
        self.closed = asyncio.get_running_loop().create_future()

    @property
    def is_open(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's stream transports do not subclass asyncio.Transport.
        self._transport = cast(asyncio.Transport, transport)
        sockname = transport.get_extra_info("sockname")
        peername = transport.get_extra_info("peername")
        self.local = (sockname[0], sockname[1])
        self.remote = (peername[0], peername[1])
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._layer._connection_made(self)

    def data_received(self, data: bytes) -> None:
        try:
            items = self._framer.feed(data)
        except ParseError as error:
            # The stream position is lost: say why if we can, then close (§18.3).
            self._layer.stats.malformed += 1
            log.info("%s: closing connection: %s", self, error)
            self._layer._reject(data, error, self)
            self.close()
            return
        for item in items:
            if isinstance(item, KeepAlivePing):
                self._layer.stats.keepalives += 1
                self.send(b"\r\n")  # RFC 5626 §4.4.1 pong
            elif isinstance(item, KeepAlivePong):
                self._layer.stats.keepalives += 1
            else:
                self._layer._deliver(item, self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._layer._connection_lost(self)
        if not self.closed.done():
            self.closed.set_result(None)

    def send(self, data: bytes) -> None:
        if self._transport is None or self._transport.is_closing():
            raise TransportError(f"{self.transport} connection to {self.remote} is closed")
        self._transport.write(data)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def __repr__(self) -> str:
        return f"<{self.transport} {self.local} <-> {self.remote}>"


class TransportLayer:
    """Listeners, the connection pool, and sending to a ``Destination``."""

    def __init__(
        self,
        deliver: Deliver,
        reject: Reject,
        *,
        client_ssl: ssl.SSLContext | None = None,
        max_header_bytes: int = 65536,
        max_body_bytes: int = 1 << 20,
        connect_timeout: float = 5.0,
        lazy: bool = False,
    ) -> None:
        # lazy: validate only what routing needs (start line, Via, CSeq, Call-ID...),
        # for the load engine's hot path; headers are checked when read.
        self.lazy = lazy
        self._deliver_up = deliver
        self._reject_up = reject
        self.client_ssl = client_ssl
        self.max_header_bytes = max_header_bytes
        self.max_body_bytes = max_body_bytes
        self.connect_timeout = connect_timeout
        self.stats = TransportStats()
        self._udp: list[UdpSocket] = []
        self._servers: list[tuple[str, asyncio.Server]] = []
        self._connections: dict[tuple[str, str, int], Connection] = {}
        self._connecting: dict[tuple[str, str, int], asyncio.Future[Connection]] = {}
        self._all: set[Connection] = set()
        self._ws_servers: list[WsServer] = []
        self.listening: list[Destination] = []

    # --- listening -----------------------------------------------------------------------

    async def listen(
        self,
        transport: str,
        host: str,
        port: int = 0,
        *,
        ssl_context: ssl.SSLContext | None = None,
        reuse_port: bool = False,
    ) -> Destination:
        """Listen on ``transport`` at ``host:port`` (0: any free port); returns where.

        ``reuse_port``: SO_REUSEPORT, so that several worker processes share the port
        (the kernel spreads datagrams and connections over them by address hash)."""
        loop = asyncio.get_running_loop()
        host = strip_brackets(host)
        if transport == "udp":
            _, protocol = await loop.create_datagram_endpoint(
                lambda: UdpSocket(self), local_addr=(host, port), reuse_port=reuse_port or None
            )
            self._udp.append(protocol)
            where = Destination("udp", host, protocol.local[1])
        elif transport in ("ws", "wss"):
            if transport == "wss" and ssl_context is None:
                raise ValueError("a WSS listener needs a certificate (ssl_context)")
            ws_server = await serve_websocket(self, transport, host, port, ssl_context)
            self._ws_servers.append(ws_server)
            where = Destination(transport, host, ws_server.sockets[0].getsockname()[1])
        elif transport in ("tcp", "tls"):
            if transport == "tls" and ssl_context is None:
                raise ValueError("a TLS listener needs a certificate (ssl_context)")
            server = await loop.create_server(
                lambda: StreamConnection(self, transport, outgoing=False),
                host,
                port,
                ssl=ssl_context if transport == "tls" else None,
                reuse_address=True,
                reuse_port=reuse_port or None,
            )
            self._servers.append((transport, server))
            where = Destination(transport, host, server.sockets[0].getsockname()[1])
        else:
            raise ValueError(f"cannot listen on {transport!r} here")
        self.listening.append(where)
        return where

    def local_for(self, transport: str, family_of: str) -> Destination | None:
        """Our listening address for ``transport`` in the address family of the
        host ``family_of`` (for Via sent-by and Contact)."""
        want_v6 = ":" in family_of
        for where in self.listening:
            if where.transport == transport and (":" in where.host) == want_v6:
                return where
        return None

    # --- sending -------------------------------------------------------------------------

    async def send(self, data: bytes, destination: Destination) -> Flow:
        """Send to ``destination``, reusing a connection or socket; returns the flow."""
        flow = await self.flow_to(destination)
        self.send_on(flow, data)
        return flow

    async def flow_to(self, destination: Destination) -> Flow:
        if destination.transport == "udp":
            return UdpFlow(await self._udp_socket(destination.host), destination.address)
        return await self._connection(destination)

    def send_on(self, flow: Flow, data: bytes) -> None:
        try:
            flow.send(data)
        except (OSError, RuntimeError) as error:
            self.stats.send_errors += 1
            raise TransportError(str(error)) from error
        self.stats.sent += 1

    def connection_for(self, destination: Destination) -> Connection | None:
        """An open connection to ``destination`` (by address or announced alias)."""
        key = (destination.transport, destination.host, destination.port)
        connection = self._connections.get(key)
        return connection if connection is not None and connection.is_open else None

    def add_alias(self, connection: Connection, host: str, port: int) -> None:
        """RFC 5923: the peer says this connection also reaches ``host:port``."""
        self._connections[(connection.transport, strip_brackets(host), port)] = connection

    async def _udp_socket(self, host: str) -> UdpSocket:
        want_v6 = ":" in host
        for sock in self._udp:
            if sock.is_open and (":" in sock.local[0]) == want_v6:
                return sock
        # No listener of that family: an ephemeral socket (responses come back to it).
        await self.listen("udp", "::" if want_v6 else "0.0.0.0", 0)
        return self._udp[-1]

    async def _connection(self, destination: Destination) -> Connection:
        existing = self.connection_for(destination)
        if existing is not None:
            return existing
        key = (destination.transport, destination.host, destination.port)
        pending = self._connecting.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Connection] = loop.create_future()
        self._connecting[key] = future
        try:
            if destination.transport in ("ws", "wss"):
                connection = await connect_websocket(self, destination, self.client_ssl)
                self._connections[key] = connection
                future.set_result(connection)
                return connection
            context = None
            if destination.transport == "tls":
                context = self.client_ssl or ssl.create_default_context()
            _, stream = await asyncio.wait_for(
                loop.create_connection(
                    lambda: StreamConnection(self, destination.transport, outgoing=True),
                    destination.host,
                    destination.port,
                    ssl=context,
                ),
                self.connect_timeout,
            )
        except TransportError as error:
            future.set_exception(error)
            future.exception()
            raise
        except (OSError, TimeoutError, ssl.SSLError) as error:
            self.stats.send_errors += 1
            failure = TransportError(f"cannot connect to {destination}: {error}")
            future.set_exception(failure)
            future.exception()  # retrieved: waiters get it through shield
            raise failure from error
        finally:
            self._connecting.pop(key, None)
        self._connections[key] = stream
        future.set_result(stream)
        return stream

    # --- from the protocols --------------------------------------------------------------

    def _connection_made(self, connection: Connection) -> None:
        self._all.add(connection)
        if connection.outgoing:
            self.stats.connections_opened += 1
        else:
            self.stats.connections_accepted += 1
        self._connections[(connection.transport, connection.remote[0], connection.remote[1])] = (
            connection
        )

    def _connection_lost(self, connection: Connection) -> None:
        self._all.discard(connection)
        for key in [k for k, c in self._connections.items() if c is connection]:
            del self._connections[key]

    def _received(self, data: bytes, flow: Flow, *, stream: bool) -> None:
        try:
            message = parse_message(data, stream=stream, lazy=self.lazy)
        except ParseError as error:
            self.stats.malformed += 1
            self._reject(data, error, flow)
            return
        self._deliver(message, flow)

    def _deliver(self, message: Request | Response, flow: Flow) -> None:
        self.stats.received += 1
        transport = flow.transport
        self.stats.by_transport[transport] = self.stats.by_transport.get(transport, 0) + 1
        self._deliver_up(message, flow)

    def _reject(self, data: bytes, error: ParseError, flow: Flow) -> None:
        self._reject_up(data, error, flow)

    # --- shutting down -------------------------------------------------------------------

    async def close(self) -> None:
        for sock in self._udp:
            sock.close()
        for connection in list(self._all):
            connection.close()
        for _, server in self._servers:
            server.close()
        for ws_server in self._ws_servers:
            ws_server.close()
        for _, server in self._servers:
            await server.wait_closed()
        for ws_server in self._ws_servers:
            await ws_server.wait_closed()
        self._ws_servers.clear()
        waits = [c.closed for c in list(self._all)]
        if waits:
            await asyncio.wait(waits, timeout=1.0)
        self._udp.clear()
        self._servers.clear()
        self._connections.clear()
        self.listening.clear()
