"""A client and a server transaction layer over a lossy datagram link, on a fake clock.

The loop always jumps to the earliest thing that can happen (a datagram arriving,
a transaction timer, a scheduled TU action), so minutes of SIP time run in
milliseconds.  Losses are drawn from ``random.Random(1234)``: every run drops the
same datagrams, and the retransmission rules of RFC 3261 §17 must carry every
exchange through.  Each test runs many transactions at once on one link, so that
the loss pattern certainly hits requests, responses and ACKs.

Under another seed a transaction may legitimately fail (e.g. the 200 and all its
retransmissions lost before Timer F): 30% loss leaves roughly a 1% chance per
transaction.  With seed 1234 every one of them must get through.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from sipwright.sip.builders import new_branch
from sipwright.sip.headers import Headers
from sipwright.sip.message import Request, Response, make_response, parse_message
from sipwright.sip.transaction import (
    Event,
    ResponseReceived,
    State,
    TimedOut,
    Transaction,
    TransactionTerminated,
)
from sipwright.sip.transaction_client import InviteClientTransaction, NonInviteClientTransaction
from sipwright.sip.transaction_server import InviteServerTransaction, NonInviteServerTransaction
from sipwright.sip.transaction_table import TransactionTable

T1, T2 = 0.5, 4.0
LATENCY = 0.02  # one-way delay of the simulated link
LOSS = 0.3
CALLS = 25  # concurrent transactions per test

ClientTxn = InviteClientTransaction | NonInviteClientTransaction


def make_request(method: str, n: int = 0) -> Request:
    headers = Headers(
        [
            ("Via", f"SIP/2.0/UDP 192.0.2.1:5060;branch={new_branch()}"),
            ("Max-Forwards", "70"),
            ("From", f"<sip:alice@example.com>;tag=a{n}"),
            ("To", "<sip:bob@example.com>"),
            ("Call-ID", f"loss-{n}@192.0.2.1"),
            ("CSeq", f"1 {method}"),
            ("Contact", "<sip:alice@192.0.2.1:5060>"),
            ("Content-Length", "0"),
        ]
    )
    return Request(headers=headers, method=method, uri="sip:bob@example.com")


@dataclass
class Simulation:
    """Two transaction tables joined by a link that drops with probability ``loss``."""

    loss: float
    seed: int = 1234
    # TU script of the server: (delay after the request arrived, status) pairs.
    answers: tuple[tuple[float, int], ...] = ()
    now: float = 0.0
    client: TransactionTable = field(default_factory=TransactionTable)
    server: TransactionTable = field(default_factory=TransactionTable)
    # The wire: (arrival, seq, destination side, datagram).
    wire: list[tuple[float, int, str, bytes]] = field(default_factory=list)
    tu_actions: list[tuple[float, int, Callable[[], None]]] = field(default_factory=list)
    sent: dict[Transaction, list[tuple[float, str]]] = field(default_factory=dict)
    events: dict[Transaction, list[tuple[float, Event]]] = field(default_factory=dict)
    history: dict[Transaction, list[State]] = field(default_factory=dict)
    server_txns: list[Transaction] = field(default_factory=list)
    dropped: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.seq = itertools.count()

    # --- plumbing ------------------------------------------------------------------

    def flush(self, txn: Transaction, side: str) -> None:
        """Put what ``txn`` wants to send on the wire; collect its events and states."""
        for message in txn.messages_to_send():
            data = bytes(message)
            first_line = data.split(b"\r\n", 1)[0].decode()
            self.sent.setdefault(txn, []).append((self.now, first_line))
            if self.rng.random() < self.loss:
                self.dropped += 1
                continue
            destination = "server" if side == "client" else "client"
            heapq.heappush(self.wire, (self.now + LATENCY, next(self.seq), destination, data))
        while (event := txn.next_event()) is not None:
            self.events.setdefault(txn, []).append((self.now, event))
        states = self.history.setdefault(txn, [])
        if not states or states[-1] is not txn.state:
            states.append(txn.state)

    def later(self, delay: float, action: Callable[[], None]) -> None:
        heapq.heappush(self.tu_actions, (self.now + delay, next(self.seq), action))

    def start(self, txn: ClientTxn, delay: float = 0.0) -> None:
        def go() -> None:
            self.history[txn] = [txn.state]
            self.client.add(txn)
            txn.start(self.now)
            self.flush(txn, "client")

        self.later(delay, go)

    def deliver(self, side: str, data: bytes) -> None:
        message = parse_message(data)
        if isinstance(message, Response):
            assert side == "client"
            found = self.client.match_response(message)
            if found is not None:
                found.receive(message, self.now)
                self.flush(found, "client")
            return
        assert side == "server"
        txn = self.server.match_request(message)
        if txn is not None:
            txn.receive(message, self.now)
            self.flush(txn, "server")
            return
        assert message.method != "ACK", "an ACK for a non-2xx must match its INVITE"
        new: InviteServerTransaction | NonInviteServerTransaction
        if message.method == "INVITE":
            new = InviteServerTransaction(message, self.now)
        else:
            new = NonInviteServerTransaction(message, self.now)
        self.server.add(new)
        self.server_txns.append(new)
        self.flush(new, "server")
        for delay, status in self.answers:
            response = make_response(message, status, to_tag=None if status == 100 else "b1")

            def answer(txn: Transaction = new, response: Response = response) -> None:
                assert isinstance(txn, InviteServerTransaction | NonInviteServerTransaction)
                txn.send_response(response, self.now)
                self.flush(txn, "server")

            self.later(delay, answer)

    def run(self, limit: float = 300.0) -> None:
        """Advance to the earliest pending thing until nothing is pending."""
        while True:
            candidates = [
                t
                for t in (
                    self.wire[0][0] if self.wire else None,
                    self.tu_actions[0][0] if self.tu_actions else None,
                    self.client.next_timer(),
                    self.server.next_timer(),
                )
                if t is not None
            ]
            if not candidates:
                return
            now = min(candidates)
            assert self.now <= now <= limit
            self.now = now
            while self.wire and self.wire[0][0] <= now:
                _, _, side, data = heapq.heappop(self.wire)
                self.deliver(side, data)
            while self.tu_actions and self.tu_actions[0][0] <= now:
                heapq.heappop(self.tu_actions)[2]()
            for side, table in (("client", self.client), ("server", self.server)):
                for txn in table.handle_timer(now):
                    self.flush(txn, side)

    # --- what the tests look at ----------------------------------------------------

    def send_times(self, txn: Transaction, prefix: str) -> list[float]:
        return [t for t, line in self.sent.get(txn, []) if line.startswith(prefix)]

    def tu_events(self, txn: Transaction) -> list[Event]:
        return [e for _, e in self.events.get(txn, [])]

    def statuses(self, txn: Transaction) -> list[int]:
        return [e.response.status for e in self.tu_events(txn) if isinstance(e, ResponseReceived)]


def gaps(times: list[float]) -> list[float]:
    return [round(b - a, 9) for a, b in itertools.pairwise(times)]


def assert_all_terminated(sim: Simulation) -> None:
    """Every timer ran out: both sides ended, nothing armed, tables empty after cleanup."""
    assert sim.client.next_timer() is None and sim.server.next_timer() is None
    for table in (sim.client, sim.server):
        assert all(txn.terminated for txn in table.transactions())
        table.remove_terminated()
        assert len(table) == 0


def start_calls(sim: Simulation, method: str) -> list[ClientTxn]:
    txns: list[ClientTxn] = []
    for n in range(CALLS):
        request = make_request(method, n)
        txn: ClientTxn
        if method == "INVITE":
            txn = InviteClientTransaction(request)
        else:
            txn = NonInviteClientTransaction(request)
        sim.start(txn, delay=n * 0.137)
        txns.append(txn)
    return txns


@pytest.mark.parametrize(
    ("method", "answers"),
    [
        ("OPTIONS", ((0.0, 200),)),
        # A slow registrar: 100 at once, 200 after 6 s, so the client sits in
        # "Proceeding" and retransmits every T2 (§17.1.2.2).
        ("REGISTER", ((0.0, 100), (6.0, 200))),
    ],
)
def test_non_invite_survives_30_percent_loss(
    method: str, answers: tuple[tuple[float, int], ...]
) -> None:
    sim = Simulation(loss=LOSS, answers=answers)
    txns = start_calls(sim, method)
    sim.run()
    assert sim.dropped > 0
    assert len(sim.server_txns) == CALLS  # each retransmission matched its transaction
    for server_txn in sim.server_txns:
        assert sim.history[server_txn][-2:] == [State.COMPLETED, State.TERMINATED]
    retransmitted = 0
    for txn in txns:
        assert sim.statuses(txn)[-1] == 200
        assert sim.statuses(txn).count(200) == 1  # copies of the final are absorbed
        assert sim.history[txn][-2:] == [State.COMPLETED, State.TERMINATED]
        assert TimedOut("F") not in sim.tu_events(txn)
        sends = sim.send_times(txn, method)
        retransmitted += len(sends) - 1
        assert all(gap <= T2 for gap in gaps(sends))  # §17.1.2.2: never above T2
        if method == "OPTIONS":  # only "Trying": exactly the doubling series
            assert gaps(sends) == [0.5, 1.0, 2.0, *[4.0] * 7][: len(sends) - 1]
    assert retransmitted > 0
    assert_all_terminated(sim)


def test_invite_with_486_survives_30_percent_loss() -> None:
    sim = Simulation(loss=LOSS, answers=((0.3, 180), (2.0, 486)))
    txns = start_calls(sim, "INVITE")
    sim.run()
    assert sim.dropped > 0
    assert len(sim.server_txns) == CALLS
    for txn in txns:
        assert sim.statuses(txn)[-1] == 486 and sim.statuses(txn).count(486) == 1
        assert sim.history[txn][-2:] == [State.COMPLETED, State.TERMINATED]
        assert isinstance(txn, InviteClientTransaction) and txn.ack is not None
    resent_finals = 0
    for server_txn in sim.server_txns:
        # The ACK got through (first time or answering a Timer G retransmission).
        assert sim.history[server_txn][-3:] == [
            State.COMPLETED,
            State.CONFIRMED,
            State.TERMINATED,
        ]
        assert TimedOut("H") not in sim.tu_events(server_txn)
        finals = sim.send_times(server_txn, "SIP/2.0 486")
        resent_finals += len(finals) - 1
        assert all(gap <= T2 for gap in gaps(finals))  # Timer G is capped at T2
    assert resent_finals > 0  # some 486 or ACK was lost and Timer G repaired it
    acks = sum(len(sim.send_times(txn, "ACK")) for txn in txns)
    assert acks > CALLS  # a retransmitted 486 is ACKed again (§17.1.1.2)
    assert_all_terminated(sim)


@pytest.mark.parametrize(
    ("method", "timer", "retransmissions"),
    [
        ("INVITE", "B", [0.5, 1.0, 2.0, 4.0, 8.0, 16.0]),
        ("OPTIONS", "F", [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0]),
    ],
)
def test_total_loss_times_out_at_64_t1(
    method: str, timer: str, retransmissions: list[float]
) -> None:
    sim = Simulation(loss=1.0)
    txn: ClientTxn
    if method == "INVITE":
        txn = InviteClientTransaction(make_request(method))
    else:
        txn = NonInviteClientTransaction(make_request(method))
    sim.start(txn)
    sim.run()
    assert sim.events[txn] == [(64 * T1, TimedOut(timer)), (64 * T1, TransactionTerminated())]
    sends = sim.send_times(txn, method)
    assert sends[0] == 0.0 and gaps(sends) == retransmissions
    assert sim.server_txns == [] and sim.dropped == len(sends)
    assert_all_terminated(sim)
