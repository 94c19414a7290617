"""Finding the transaction a message belongs to (RFC 3261 §17.1.3, §17.2.3, §9.2),
and one timer loop over all transactions.

``TransactionTable`` keeps client transactions by (branch, CSeq method) and server
transactions by (branch, sent-by, method), with ACK folded onto INVITE.  Requests
whose top Via carries no usable RFC 3261 branch are matched by the RFC 2543 rules,
through a small index on (Call-ID, CSeq number).

Timers: each transaction reports every change of its next deadline to the table it
was added to, and the table keeps a heap of ``(deadline, seq, txn)``.  Entries are
never removed from the middle of the heap; one whose deadline is no longer the
transaction's current one is skipped when it reaches the top (lazy invalidation),
and the heap is rebuilt when stale entries outnumber live ones.  So ``next_timer``
is O(1) amortised and a timer firing costs O(log n), for any number of transactions.
"""

from __future__ import annotations

import heapq
import itertools

from sipwright.sip.errors import ParseError, ProtocolError
from sipwright.sip.message import Request, Response
from sipwright.sip.transaction import (
    LegacyKey,
    Transaction,
    TransactionKey,
    client_key,
    server_key,
)
from sipwright.sip.transaction_client import (
    ClientTransaction,
    InviteClientTransaction,
    NonInviteClientTransaction,
)
from sipwright.sip.transaction_server import InviteServerTransaction, ServerTransaction

__all__ = ["TransactionTable"]

_CLIENT_TYPES = (InviteClientTransaction, NonInviteClientTransaction)
# Rebuild the heap when it holds this many times more entries than live deadlines.
_STALE_FACTOR = 4
_MIN_COMPACT = 64


class TransactionTable:
    """All transactions of one SIP element (a UA, a proxy, a load generator)."""

    __slots__ = (
        "_clients",
        "_deadline",
        "_heap",
        "_legacy",
        "_seq",
        "_servers",
        "_terminated",
    )

    def __init__(self) -> None:
        self._clients: dict[TransactionKey, ClientTransaction] = {}
        self._servers: dict[TransactionKey, ServerTransaction] = {}
        # RFC 2543 peers: server transactions by (Call-ID, CSeq number); the rest of
        # the §17.2.3 comparison runs over the few that share those.
        self._legacy: dict[tuple[str, int], list[ServerTransaction]] = {}
        self._heap: list[tuple[float, int, Transaction]] = []
        self._deadline: dict[Transaction, float] = {}  # the live heap entry of each txn
        self._seq = itertools.count()  # tie-breaker: transactions are never compared
        self._terminated: dict[Transaction, None] = {}  # an insertion-ordered set

    def __len__(self) -> int:
        return len(self._clients) + len(self._servers) + sum(map(len, self._legacy.values()))

    def transactions(self) -> list[Transaction]:
        out: list[Transaction] = [*self._clients.values(), *self._servers.values()]
        for group in self._legacy.values():
            out.extend(group)
        return out

    # --- membership ------------------------------------------------------------------

    def add(self, txn: ClientTransaction | ServerTransaction) -> None:
        """Track ``txn`` (before or after ``start``); its timers join the table's."""
        key = txn.key
        if isinstance(txn, _CLIENT_TYPES):
            assert isinstance(key, TransactionKey)  # client keys are always RFC 3261
            self._check_free(self._clients.get(key), key)
            self._clients[key] = txn
        elif isinstance(key, TransactionKey):
            self._check_free(self._servers.get(key), key)
            self._servers[key] = txn
        else:
            group = self._legacy.setdefault((key.call_id, key.cseq_number), [])
            if any(other.key == key and not other.terminated for other in group):
                raise ProtocolError(f"a live transaction already has the key {key}")
            group.append(txn)
        txn._attach(self._on_change)
        self._on_change(txn)

    @staticmethod
    def _check_free(existing: Transaction | None, key: TransactionKey) -> None:
        # A terminated transaction no longer exists for matching (§17.1.1.2: it is
        # destroyed on entering "Terminated"), so a new one may take its key.
        if existing is not None and not existing.terminated:
            raise ProtocolError(f"a live transaction already has the key {key}")

    def remove(self, txn: Transaction) -> None:
        """Forget ``txn`` (whatever its state) and its timers."""
        key = txn.key
        if isinstance(key, LegacyKey):
            group = self._legacy.get((key.call_id, key.cseq_number), [])
            if txn in group:
                group.remove(txn)
            if not group:
                self._legacy.pop((key.call_id, key.cseq_number), None)
        elif isinstance(txn, _CLIENT_TYPES):
            if self._clients.get(key) is txn:
                del self._clients[key]
        elif self._servers.get(key) is txn:
            del self._servers[key]
        txn._attach(None)
        self._deadline.pop(txn, None)  # its heap entries are now stale
        self._terminated.pop(txn, None)

    def remove_terminated(self) -> list[Transaction]:
        """Forget every transaction that reached "Terminated"; returns them (drain their
        last messages and events first, or use the returned list to do it)."""
        done = list(self._terminated)
        for txn in done:
            self.remove(txn)
        return done

    # --- matching --------------------------------------------------------------------

    def match_response(self, response: Response) -> ClientTransaction | None:
        """§17.1.3: the client transaction whose branch and CSeq method the response
        carries (a CANCEL's response finds the CANCEL, not its INVITE)."""
        try:
            key = client_key(response)
        except ParseError:
            return None
        txn = self._clients.get(key)
        return None if txn is None or txn.terminated else txn

    def match_request(self, request: Request) -> ServerTransaction | None:
        """§17.2.3: the server transaction a retransmitted request or an ACK belongs
        to; None means a new request (create a server transaction) or an ACK for a 2xx
        (pass it to the TU: it has its own branch, §17)."""
        try:
            key = server_key(request)
        except ParseError:
            return None
        if isinstance(key, TransactionKey):
            txn = self._servers.get(key)
            return None if txn is None or txn.terminated else txn
        return self._match_legacy(key, is_ack=request.method == "ACK")

    def match_cancel_target(self, cancel: Request) -> InviteServerTransaction | None:
        """§9.2: the INVITE server transaction a CANCEL cancels: the one the CANCEL
        would match if its method were INVITE (same branch and sent-by, or, for RFC
        2543 peers, same Request-URI, tags, Call-ID, CSeq number and top Via)."""
        if cancel.method != "CANCEL":
            return None
        try:
            key = server_key(cancel, method="INVITE")
        except ParseError:
            return None
        if isinstance(key, TransactionKey):
            txn = self._servers.get(key)
        else:
            txn = self._match_legacy(key, is_ack=False)
        if isinstance(txn, InviteServerTransaction) and not txn.terminated:
            return txn
        return None

    def _match_legacy(self, key: LegacyKey, *, is_ack: bool) -> ServerTransaction | None:
        """§17.2.3, the RFC 2543 rules.  A request matches when Request-URI, To tag,
        From tag, Call-ID, CSeq and top Via equal those of the transaction's request.
        An ACK matches the INVITE on all but the To tag, which must be the one of the
        response the server sent (that tag tells the ACK for a 2xx from the ACK for a
        non-2xx at a proxy)."""
        for txn in self._legacy.get((key.call_id, key.cseq_number), ()):
            theirs = txn.key
            if txn.terminated or not isinstance(theirs, LegacyKey):
                continue
            if (theirs.request_uri, theirs.from_tag, theirs.via, theirs.method) != (
                key.request_uri,
                key.from_tag,
                key.via,
                key.method,
            ):
                continue
            if is_ack:
                sent = txn.last_response
                if sent is not None and sent.to_tag == key.to_tag:
                    return txn
            elif theirs.to_tag == key.to_tag:
                return txn
        return None

    # --- one timer loop for all ------------------------------------------------------

    def next_timer(self) -> float | None:
        """The earliest deadline over all transactions, or None."""
        heap = self._heap
        deadline_of = self._deadline
        while heap:
            deadline, _, txn = heap[0]
            if deadline_of.get(txn) == deadline:
                return deadline
            heapq.heappop(heap)  # stale: the transaction moved or left
        return None

    def handle_timer(self, now: float) -> list[Transaction]:
        """Fire every due timer; returns the transactions that had one, whose
        ``messages_to_send()`` and ``next_event()`` the caller then drains."""
        heap = self._heap
        deadline_of = self._deadline
        fired: list[Transaction] = []
        while heap and heap[0][0] <= now:
            deadline, _, txn = heapq.heappop(heap)
            if deadline_of.get(txn) != deadline:
                continue
            del deadline_of[txn]  # consumed; _on_change files the next one
            txn.handle_timer(now)
            fired.append(txn)
        return fired

    def _on_change(self, txn: Transaction) -> None:
        deadline = txn.next_timer()
        if deadline != self._deadline.get(txn):
            if deadline is None:
                del self._deadline[txn]
            else:
                self._deadline[txn] = deadline
                heapq.heappush(self._heap, (deadline, next(self._seq), txn))
                if len(self._heap) > max(_MIN_COMPACT, _STALE_FACTOR * len(self._deadline)):
                    self._compact()
        if txn.terminated:
            self._terminated[txn] = None

    def _compact(self) -> None:
        seq = self._seq
        self._heap = [(d, next(seq), t) for t, d in self._deadline.items()]
        heapq.heapify(self._heap)
