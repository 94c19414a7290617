"""A simulated datagram network with a virtual clock, for running SIP elements
built on the sans-I/O core without sockets.

Time only moves when the loop says so: ``run`` jumps straight to the next
delivery or timer, so a 32-second Timer B costs microseconds, and a seeded loss
pattern makes every run reproducible (in the spirit of aioquic's tests).
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from sipwright.sip.errors import ParseError
from sipwright.sip.message import Request, Response, make_response, parse_message
from sipwright.sip.transaction import Event, Transaction
from sipwright.sip.transaction_table import TransactionTable

__all__ = ["Address", "NetworkStats", "SimEndpoint", "SimNetwork"]

Address = tuple[str, int]


@dataclass(slots=True)
class NetworkStats:
    sent: int = 0
    delivered: int = 0
    dropped: int = 0
    octets: int = 0


@dataclass(order=True, slots=True)
class _Delivery:
    at: float
    seq: int
    src: Address = field(compare=False)
    dst: Address = field(compare=False)
    data: bytes = field(compare=False)


class SimNetwork:
    """Delivers datagrams between endpoints after ``latency`` seconds, dropping a
    ``loss`` fraction of them chosen by a seeded random generator."""

    def __init__(self, *, latency: float = 0.001, loss: float = 0.0, seed: int = 0) -> None:
        self.latency = latency
        self.loss = loss
        self.now = 0.0
        self.stats = NetworkStats()
        # Sees every datagram (time, source, destination, octets, dropped?).
        self.tap: Callable[[float, Address, Address, bytes, bool], None] | None = None
        # Drops chosen datagrams on purpose (a test losing every ACK, say).
        self.drop_filter: Callable[[bytes], bool] | None = None
        self._random = random.Random(seed)
        self._queue: list[_Delivery] = []
        self._seq = itertools.count()
        self._endpoints: dict[Address, SimEndpoint] = {}

    def attach(self, endpoint: SimEndpoint) -> None:
        self._endpoints[endpoint.address] = endpoint

    def send(self, src: Address, dst: Address, data: bytes) -> None:
        self.stats.sent += 1
        self.stats.octets += len(data)
        dropped = (self.loss > 0 and self._random.random() < self.loss) or (
            self.drop_filter is not None and self.drop_filter(data)
        )
        if self.tap is not None:
            self.tap(self.now, src, dst, data, dropped)
        if dropped:
            self.stats.dropped += 1
            return
        heapq.heappush(
            self._queue, _Delivery(self.now + self.latency, next(self._seq), src, dst, data)
        )

    def run(self, *, until: float, stop: Callable[[], bool] | None = None) -> None:
        """Advance the clock event by event up to ``until`` (virtual seconds), or
        until ``stop()`` is true or nothing is left to happen."""
        endpoints = list(self._endpoints.values())
        while stop is None or not stop():
            timers = [t for t in (e.next_timer() for e in endpoints) if t is not None]
            next_timer = min(timers) if timers else None
            next_delivery = self._queue[0].at if self._queue else None
            candidates = [t for t in (next_timer, next_delivery) if t is not None]
            if not candidates:
                return
            at = min(candidates)
            if at > until:
                self.now = until
                return
            self.now = max(self.now, at)
            if next_delivery is not None and next_delivery <= at:
                delivery = heapq.heappop(self._queue)
                target = self._endpoints.get(delivery.dst)
                if target is not None:
                    self.stats.delivered += 1
                    target.datagram_received(delivery.data, delivery.src, self.now)
            else:
                for endpoint in endpoints:
                    deadline = endpoint.next_timer()
                    if deadline is not None and deadline <= self.now:
                        endpoint.handle_timer(self.now)


class SimEndpoint:
    """A SIP element on the simulated network: a transaction table, the matching of
    incoming messages (§17.1.3, §17.2.3), and hooks for the TU above it."""

    def __init__(self, network: SimNetwork, address: Address) -> None:
        self.network = network
        self.address = address
        self.table = TransactionTable()
        self.parse_errors = 0
        self._destinations: dict[Transaction, Address] = {}
        network.attach(self)

    # --- to be provided by the TU ------------------------------------------------------
    def on_request(self, request: Request, src: Address, now: float) -> None:
        """A request that matched no transaction (a new one, or an ACK for a 2xx)."""

    def on_event(self, txn: Transaction, event: Event, now: float) -> None:
        """An event a transaction passed up."""

    def on_stray_response(self, response: Response, now: float) -> None:
        """A response that matched no client transaction (§18.1.2: discarded)."""

    def on_timer(self, now: float) -> None:
        """TU timers (2xx retransmission, call hold time) that are due."""

    def tu_next_timer(self) -> float | None:
        return None

    # --- plumbing ------------------------------------------------------------------------
    def start(self, txn: Transaction, destination: Address, now: float) -> None:
        """Register a transaction and send its first message to ``destination``."""
        self.table.add(txn)  # type: ignore[arg-type]
        self._destinations[txn] = destination
        start = getattr(txn, "start", None)
        if start is not None:
            start(now)
        self.drain(txn, now)

    def send(self, message: Request | Response, destination: Address) -> None:
        self.network.send(self.address, destination, bytes(message))

    def drain(self, txn: Transaction, now: float) -> None:
        destination = self._destinations.get(txn)
        if destination is not None:
            for message in txn.messages_to_send():
                self.send(message, destination)
        while (event := txn.next_event()) is not None:
            self.on_event(txn, event, now)
        if txn.terminated:
            self._destinations.pop(txn, None)
            self.table.remove(txn)

    def datagram_received(self, data: bytes, src: Address, now: float) -> None:
        try:
            message = parse_message(data, lazy=True)
        except ParseError as error:
            self.parse_errors += 1
            self._reject(data, src, error)
            return
        if isinstance(message, Response):
            client = self.table.match_response(message)
            if client is None:
                self.on_stray_response(message, now)
                return
            client.receive(message, now)
            self.drain(client, now)
            return
        server = self.table.match_request(message)
        if server is not None:
            server.receive(message, now)
            self.drain(server, now)
            return
        self.on_request(message, src, now)

    def accept(self, txn: Transaction, src: Address, now: float) -> None:
        """Register a server transaction created for a new request from ``src``."""
        self.table.add(txn)  # type: ignore[arg-type]
        self._destinations[txn] = src
        self.drain(txn, now)

    def _reject(self, data: bytes, src: Address, error: ParseError) -> None:
        # A malformed request gets a 400 when it can be answered at all; a malformed
        # response is dropped (§16.3 spirit, RFC 4475 §3.1.2.19).
        try:
            request = parse_message(data, strict=False, lazy=True)
        except ParseError:
            return
        if isinstance(request, Request) and request.method != "ACK":
            try:
                response = make_response(request, error.status_hint)
            except ParseError:
                return
            response.headers.add("Warning", f'399 sipwright "{error.message}"')
            self.send(response, src)

    def next_timer(self) -> float | None:
        deadlines = [t for t in (self.table.next_timer(), self.tu_next_timer()) if t is not None]
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> None:
        for txn in self.table.handle_timer(now):
            self.drain(txn, now)
        self.on_timer(now)
