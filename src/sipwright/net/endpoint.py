"""A SIP endpoint on real sockets: the transport layer, the transaction table and
one timer loop, driving the sans-I/O core (in the spirit of aioquic's asyncio
adapter: it only moves bytes and re-arms one ``loop.call_at``).

The transaction user (``ua.Agent``, a load scenario, a test) sends requests with
``request()`` and gets a ``ClientTransactionHandle`` to await responses from; new
incoming requests reach its ``on_request`` callback with their flow, and it answers
them through a ``ServerTransactionHandle``.  Malformed requests get a 400 with a
Warning naming the problem; malformed responses are dropped; both are counted and
the endpoint keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol, cast

from sipwright.net.address import Connection, Destination, Flow, format_host
from sipwright.net.transport_layer import TransportError, TransportLayer
from sipwright.sip.errors import ParseError
from sipwright.sip.headers import parse_via
from sipwright.sip.message import Request, Response, make_response, parse_message
from sipwright.sip.transaction import (
    RequestReceived,
    ResponseReceived,
    TimedOut,
    TimerConfig,
    Transaction,
    TransactionTerminated,
    TransportFailed,
)
from sipwright.sip.transaction_client import (
    ClientTransaction,
    InviteClientTransaction,
    NonInviteClientTransaction,
)
from sipwright.sip.transaction_server import (
    InviteServerTransaction,
    NonInviteServerTransaction,
    ServerTransaction,
)
from sipwright.sip.transaction_table import TransactionTable

__all__ = [
    "ClientTransactionHandle",
    "MessageLog",
    "ServerTransactionHandle",
    "SipEndpoint",
    "TimerSource",
    "TransactionTimeout",
]

log = logging.getLogger(__name__)


class TransactionTimeout(TimeoutError):
    """No final response before Timer B/F (RFC 3261 §17.1.1.2, §17.1.2.2)."""


@dataclass(frozen=True, slots=True)
class MessageLog:
    """One message sent or received, for ``-v`` and ``--trace`` (JSON lines)."""

    time: float
    direction: str  # "sent" | "received"
    transport: str
    local: tuple[str, int]
    remote: tuple[str, int]
    data: bytes


class ClientTransactionHandle:
    """The TU's view of a client transaction: responses as they arrive."""

    def __init__(self, txn: ClientTransaction, flow: Flow) -> None:
        self.txn = txn
        self.flow = flow
        self._queue: asyncio.Queue[Response | BaseException | None] = asyncio.Queue()
        self.final: Response | None = None

    def _push(self, item: Response | BaseException | None) -> None:
        if isinstance(item, Response) and item.status >= 200 and self.final is None:
            self.final = item
        self._queue.put_nowait(item)

    async def responses(self) -> AsyncIterator[Response]:
        """Every response passed up (provisional, final, 2xx retransmissions of an
        INVITE in "Accepted"); ends when the transaction terminates."""
        while True:
            item = await self._queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    async def final_response(self) -> Response:
        """The first final response; ``TransactionTimeout`` or ``TransportError``."""
        async for response in self.responses():
            if response.status >= 200:
                return response
        if self.final is not None:
            return self.final
        raise TransactionTimeout(f"{self.txn.request.method}: transaction ended without answer")


class ServerTransactionHandle:
    """The TU's view of a server transaction: send responses along the request's flow."""

    def __init__(self, endpoint: SipEndpoint, txn: ServerTransaction, flow: Flow) -> None:
        self._endpoint = endpoint
        self.txn = txn
        self.flow = flow
        self.request = txn.request
        self.acks: asyncio.Queue[Request] = asyncio.Queue()

    def respond(self, response: Response) -> None:
        self.txn.send_response(response, self._endpoint.now())
        self._endpoint._drain(self.txn)

    def reply(self, status: int, reason: str = "", *, to_tag: str | None = None) -> Response:
        response = make_response(self.request, status, reason, to_tag=to_tag)
        self.respond(response)
        return response


class TimerSource(Protocol):
    """A timer-driven piece of the TU (2xx retransmission, §13.3.1.4) that shares the
    endpoint's single timer loop instead of sleeping in a task of its own."""

    def next_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> None: ...


class SipEndpoint:
    """Sockets + transactions + one timer loop for one SIP element."""

    def __init__(
        self,
        *,
        timers: TimerConfig | None = None,
        client_ssl: ssl.SSLContext | None = None,
        on_request: Callable[[Request, Flow], None] | None = None,
        trace: Callable[[MessageLog], None] | None = None,
        user_agent: str = "sipwright",
    ) -> None:
        self.timers = timers or TimerConfig()
        self.transports = TransportLayer(
            self._on_message, self._on_malformed, client_ssl=client_ssl
        )
        self.table = TransactionTable()
        self.on_request = on_request
        self.trace = trace
        self.user_agent = user_agent
        self.malformed_requests = 0
        self.malformed_responses = 0
        self.stray_responses = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._flows: dict[Transaction, Flow] = {}
        self._clients: dict[Transaction, ClientTransactionHandle] = {}
        self._servers: dict[Transaction, ServerTransactionHandle] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._sources: set[TimerSource] = set()

    # --- life cycle --------------------------------------------------------------------

    async def listen(
        self, transport: str, host: str, port: int = 0, *, ssl_context: ssl.SSLContext | None = None
    ) -> Destination:
        self._loop = asyncio.get_running_loop()
        return await self.transports.listen(transport, host, port, ssl_context=ssl_context)

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for handle in self._clients.values():
            handle._push(None)
        await self.transports.close()

    def now(self) -> float:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop.time()

    def local_address(self, transport: str, toward: str) -> tuple[str, int]:
        """Host and port for Via/Contact when talking ``transport`` toward ``toward``."""
        where = self.transports.local_for(transport, toward)
        if where is None:
            raise TransportError(f"not listening on {transport} for {toward}")
        host = where.host
        if host in ("0.0.0.0", "::"):
            host = "::1" if ":" in toward else "127.0.0.1"
        return (format_host(host), where.port)

    # --- sending -----------------------------------------------------------------------

    async def request(self, request: Request, destination: Destination) -> ClientTransactionHandle:
        """Start a client transaction for ``request`` toward ``destination``."""
        reliable = destination.reliable
        txn: ClientTransaction
        if request.method == "INVITE":
            txn = InviteClientTransaction(request, reliable=reliable, config=self.timers)
        else:
            txn = NonInviteClientTransaction(request, reliable=reliable, config=self.timers)
        flow = await self.transports.flow_to(destination)
        handle = ClientTransactionHandle(txn, flow)
        self.table.add(txn)
        self._flows[txn] = flow
        self._clients[txn] = handle
        txn.start(self.now())
        self._drain(txn)
        return handle

    async def send_stateless(self, message: Request | Response, destination: Destination) -> Flow:
        """Send without a transaction: the ACK for a 2xx (§13.2.2.4) and 2xx copies."""
        flow = await self.transports.flow_to(destination)
        self.send_on(flow, message)
        return flow

    def send_on(self, flow: Flow, message: Request | Response) -> None:
        data = bytes(message)
        if self.trace is not None:
            self.trace(
                MessageLog(self.now(), "sent", flow.transport, flow.local, flow.remote, data)
            )
        self.transports.send_on(flow, data)

    def accept(self, request: Request, flow: Flow) -> ServerTransactionHandle:
        """Create the server transaction for a new request (not for ACK)."""
        now = self.now()
        reliable = flow.transport != "udp"
        txn: ServerTransaction
        if request.method == "INVITE":
            txn = InviteServerTransaction(
                request, now, reliable=reliable, config=self.timers, auto_trying=0.2
            )
        else:
            txn = NonInviteServerTransaction(request, now, reliable=reliable, config=self.timers)
        handle = ServerTransactionHandle(self, txn, flow)
        self.table.add(txn)
        self._flows[txn] = flow
        self._servers[txn] = handle
        self._drain(txn)
        return handle

    def find_invite(self, cancel: Request) -> ServerTransactionHandle | None:
        """The INVITE server transaction a CANCEL targets (§9.2)."""
        txn = self.table.match_cancel_target(cancel)
        return None if txn is None else self._servers.get(txn)

    # --- receiving ---------------------------------------------------------------------

    def _on_message(self, message: Request | Response, flow: Flow) -> None:
        if self.trace is not None:
            self.trace(
                MessageLog(
                    self.now(), "received", flow.transport, flow.local, flow.remote, bytes(message)
                )
            )
        now = self.now()
        if isinstance(message, Response):
            client = self.table.match_response(message)
            if client is None:
                self.stray_responses += 1  # §18.1.2: discard silently
                return
            client.receive(message, now)
            self._drain(client)
            return
        self._stamp_via(message, flow)
        server = self.table.match_request(message)
        if server is not None:
            server.receive(message, now)
            self._drain(server)
            return
        if self.on_request is None:
            if message.method != "ACK":
                self.accept(message, flow).reply(501 if message.method != "OPTIONS" else 200)
            return
        self.on_request(message, flow)

    def _stamp_via(self, request: Request, flow: Flow) -> None:
        """§18.2.1 and RFC 3581 §4: note the source address in the top Via, so
        responses carry it; RFC 5923: learn an alias for a stream connection."""
        values = request.headers.values("Via")
        if not values:
            return
        via = parse_via(values[0])
        host, port = flow.remote
        if via.host.strip("[]") != host:
            via = via.with_param("received", host)
        if "rport" in via.params and via.params.get("rport") is None:
            via = via.with_param("rport", str(port))
        if flow.transport != "udp" and "alias" in via.params:
            self.transports.add_alias(cast(Connection, flow), via.host, via.port or 5060)
        if str(via) != values[0]:
            rest = values[1:]
            request.headers.remove("Via")
            request.headers.prepend("Via", ", ".join([str(via), *rest]) if rest else str(via))

    def _on_malformed(self, data: bytes, error: ParseError, flow: Flow) -> None:
        try:
            partial = parse_message(data, strict=False, lazy=True)
        except ParseError:
            partial = None
        if not isinstance(partial, Request):
            self.malformed_responses += 1
            log.info("dropped malformed message from %s: %s", flow.remote, error)
            return
        self.malformed_requests += 1
        log.info("malformed request from %s: %s", flow.remote, error)
        if partial.method == "ACK":
            return
        try:
            response = make_response(partial, error.status_hint)
        except ParseError:
            return  # not even Via/CSeq to answer with
        response.headers.add("Warning", f'399 sipwright "{_quote_safe(str(error))}"')
        with contextlib.suppress(TransportError):
            self.send_on(flow, response)

    # --- driving the core --------------------------------------------------------------

    def _drain(self, txn: Transaction) -> None:
        flow = self._flows.get(txn)
        if flow is not None:
            for message in txn.messages_to_send():
                try:
                    self.send_on(flow, message)
                except TransportError as error:
                    txn.transport_error(self.now(), str(error))
        while (event := txn.next_event()) is not None:
            client = self._clients.get(txn)
            if client is not None:
                if isinstance(event, ResponseReceived):
                    client._push(event.response)
                elif isinstance(event, TimedOut):
                    client._push(
                        TransactionTimeout(
                            f"{txn.request.method}: no final response (timer {event.timer})"
                        )
                    )
                elif isinstance(event, TransportFailed):
                    client._push(TransportError(event.reason))
                elif isinstance(event, TransactionTerminated):
                    client._push(None)
                continue
            server = self._servers.get(txn)
            if server is not None and isinstance(event, RequestReceived):
                server.acks.put_nowait(event.request)
        if txn.terminated:
            self._flows.pop(txn, None)
            self._clients.pop(txn, None)
            self._servers.pop(txn, None)
            self.table.remove(txn)
        self._rearm()

    def add_timer_source(self, source: TimerSource) -> None:
        self._sources.add(source)
        self._rearm()

    def remove_timer_source(self, source: TimerSource) -> None:
        self._sources.discard(source)

    def _rearm(self) -> None:
        deadline = self.table.next_timer()
        for source in self._sources:
            other = source.next_timer()
            if other is not None and (deadline is None or other < deadline):
                deadline = other
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = deadline
        if deadline is not None:
            loop = self._loop or asyncio.get_running_loop()
            self._timer = loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        now = self.now()
        for txn in self.table.handle_timer(now):
            self._drain(txn)
        for source in list(self._sources):
            deadline = source.next_timer()
            if deadline is None:
                self._sources.discard(source)
            elif deadline <= now:
                source.handle_timer(now)
        self._rearm()


def _quote_safe(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', "'").replace("\r", " ").replace("\n", " ")[:200]
