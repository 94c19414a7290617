"""A caller and a callee for the simulated network: the basic call of RFC 3665
§3.1 (INVITE, 100, 180, 200, ACK, BYE, 200) driven through the real transaction
and dialog machines of ``sipwright.sip``.

This is what ``sipwright demo`` and ``bench/core.py`` run; it is deliberately
small (no SDP negotiation beyond a fixed offer/answer, no authentication).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from sipwright.sim.network import Address, SimEndpoint, SimNetwork
from sipwright.sip.answer_retransmit import AckTimeout, AnswerRetransmitter
from sipwright.sip.builders import build_request, new_tag
from sipwright.sip.dialog import Dialog, dialog_id_for_incoming
from sipwright.sip.dialog_set import UacDialogSet
from sipwright.sip.message import Request, Response, make_response
from sipwright.sip.transaction import (
    Event,
    ResponseReceived,
    TimedOut,
    Transaction,
    TransportFailed,
)
from sipwright.sip.transaction_client import (
    InviteClientTransaction,
    NonInviteClientTransaction,
    make_cancel,
)
from sipwright.sip.transaction_server import InviteServerTransaction, NonInviteServerTransaction

__all__ = ["CallRecord", "Callee", "Caller"]

_SDP = (
    b"v=0\r\no=- 1 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
    b"m=audio {port} RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n"
)


@dataclass(slots=True)
class CallRecord:
    """What happened to one call, with virtual timestamps (seconds)."""

    number: int
    call_id: str
    started: float
    ringing: float | None = None
    answered: float | None = None
    ended: float | None = None
    final_status: int | None = None
    bye_status: int | None = None
    cancelled: float | None = None
    cancel_status: int | None = None
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.final_status == 200 and self.bye_status == 200 and self.error is None

    @property
    def setup_time(self) -> float | None:
        return None if self.answered is None else self.answered - self.started

    @property
    def post_dial_delay(self) -> float | None:
        return None if self.ringing is None else self.ringing - self.started


@dataclass(slots=True)
class _OutgoingCall:
    record: CallRecord
    invite: Request
    dialogs: UacDialogSet
    dialog: Dialog | None = None
    ack: Request | None = None


class _TimerQueue:
    """TU-level timers (call hold time, 2xx retransmission) in one heap."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[float], None]]] = []
        self._seq = itertools.count()

    def at(self, deadline: float, action: Callable[[float], None]) -> None:
        heapq.heappush(self._heap, (deadline, next(self._seq), action))

    def next(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def run_due(self, now: float) -> None:
        while self._heap and self._heap[0][0] <= now:
            _, _, action = heapq.heappop(self._heap)
            action(now)


class Caller(SimEndpoint):
    """Places calls to ``target`` and hangs up after ``hold`` virtual seconds."""

    def __init__(
        self,
        network: SimNetwork,
        address: Address,
        target: Address,
        *,
        hold: float = 0.0,
        cancel_after: float | None = None,
    ) -> None:
        super().__init__(network, address)
        self.target = target
        self.hold = hold
        self.cancel_after = cancel_after
        self.records: list[CallRecord] = []
        self._calls: dict[str, _OutgoingCall] = {}
        self._timers = _TimerQueue()
        self._numbers = itertools.count(1)

    @property
    def active(self) -> int:
        return len(self._calls)

    def schedule(self, count: int, rate: float, start: float = 0.0) -> None:
        """Place ``count`` calls at ``rate`` calls per virtual second."""
        for i in range(count):
            self._timers.at(start + i / rate, self.place_call)

    def place_call(self, now: float) -> None:
        host, port = self.address
        number = next(self._numbers)
        invite = build_request(
            "INVITE",
            f"sip:service@{self.target[0]}:{self.target[1]}",
            from_=f"<sip:caller@{host}:{port}>",
            to=f"<sip:service@{self.target[0]}:{self.target[1]}>",
            call_id=f"{number}-{new_tag()}@{host}",
            via_host=host,
            via_port=port,
            contact=f"<sip:caller@{host}:{port}>",
            body=_SDP.replace(b"{host}", host.encode()).replace(b"{port}", b"6000"),
            content_type="application/sdp",
        )
        record = CallRecord(number=number, call_id=invite.call_id, started=now)
        self.records.append(record)
        call = _OutgoingCall(record, invite, UacDialogSet(invite))
        self._calls[record.call_id] = call
        self.start(InviteClientTransaction(invite), self.target, now)
        if self.cancel_after is not None:
            self._timers.at(now + self.cancel_after, lambda at: self._cancel(call, at))

    def on_event(self, txn: Transaction, event: Event, now: float) -> None:
        call = self._calls.get(txn.request.call_id)
        if call is None:
            return
        if isinstance(event, ResponseReceived):
            response = event.response
            if txn.request.method == "INVITE":
                self._invite_response(call, response, now)
            elif txn.request.method == "CANCEL" and response.status >= 200:
                call.record.cancel_status = response.status
            elif txn.request.method == "BYE" and response.status >= 200:
                call.record.bye_status = response.status
                self._finish(call, now)
        elif isinstance(event, TimedOut | TransportFailed):
            what = event.timer if isinstance(event, TimedOut) else event.reason
            call.record.error = f"{txn.request.method} timed out (timer {what})"
            self._finish(call, now)

    def _invite_response(self, call: _OutgoingCall, response: Response, now: float) -> None:
        record = call.record
        outcome = call.dialogs.receive_response(response, now)
        if response.status < 200:
            if response.status >= 180 and record.ringing is None:
                record.ringing = now
            return
        if response.status >= 300:
            record.final_status = response.status
            self._finish(call, now)
            return
        dialog = outcome.dialog
        if dialog is None:
            return
        if call.ack is not None:
            # A retransmitted 2xx: the ACK is re-sent by the TU (§13.2.2.4).
            again = dialog.ack_for_retransmission(response)
            if again is not None:
                self.send(again, self.target)
            return
        record.final_status = response.status
        record.answered = now
        call.dialog = dialog
        host, port = self.address
        call.ack = dialog.create_ack(via_host=host, via_port=port)
        self.send(call.ack, self.target)
        self._timers.at(now + self.hold, lambda at: self._hang_up(call, at))

    def _cancel(self, call: _OutgoingCall, now: float) -> None:
        # §9.1: CANCEL only while no final response has arrived; a provisional one
        # must have been received first so the server has the transaction.
        record = call.record
        if record.final_status is not None or record.call_id not in self._calls:
            return
        record.cancelled = now
        self.start(NonInviteClientTransaction(make_cancel(call.invite)), self.target, now)

    def _hang_up(self, call: _OutgoingCall, now: float) -> None:
        if call.dialog is None or call.record.call_id not in self._calls:
            return
        host, port = self.address
        bye = call.dialog.create_request("BYE", via_host=host, via_port=port)
        self.start(NonInviteClientTransaction(bye), self.target, now)

    def _finish(self, call: _OutgoingCall, now: float) -> None:
        call.record.ended = now
        self._calls.pop(call.record.call_id, None)

    def tu_next_timer(self) -> float | None:
        return self._timers.next()

    def on_timer(self, now: float) -> None:
        self._timers.run_due(now)


@dataclass(slots=True)
class _IncomingCall:
    invite_txn: InviteServerTransaction
    dialog: Dialog
    answer: Response | None = None
    retransmitter: AnswerRetransmitter | None = None
    source: Address = ("", 0)
    acked: bool = False
    ended: bool = False


@dataclass(slots=True)
class CalleeStats:
    invites: int = 0
    answered: int = 0
    acked: int = 0
    ack_timeouts: int = 0
    byes: int = 0
    cancelled: int = 0
    unknown_dialog: int = 0
    by_method: dict[str, int] = field(default_factory=dict)


class Callee(SimEndpoint):
    """Answers every INVITE: 100 at once, 180, then after ``ring`` seconds a 200 with
    SDP, or the final ``code`` given (486 for a busy callee, RFC 3665 §3.3).  With
    ``ring=None`` it never answers, so callers must CANCEL (RFC 3665 §3.8)."""

    def __init__(
        self, network: SimNetwork, address: Address, *, ring: float | None = 0.0, code: int = 200
    ) -> None:
        super().__init__(network, address)
        self.ring = ring
        self.code = code
        self.stats = CalleeStats()
        self._calls: dict[str, _IncomingCall] = {}
        self._timers = _TimerQueue()

    def on_request(self, request: Request, src: Address, now: float) -> None:
        method = request.method
        self.stats.by_method[method] = self.stats.by_method.get(method, 0) + 1
        if method == "INVITE":
            self._invite(request, src, now)
        elif method == "ACK":
            self._ack(request)
        elif method == "CANCEL":
            self._cancel(request, src, now)
        else:
            self._in_dialog(request, src, now)

    def _invite(self, request: Request, src: Address, now: float) -> None:
        self.stats.invites += 1
        txn = InviteServerTransaction(request, now, auto_trying=None)
        self.accept(txn, src, now)
        txn.send_response(make_response(request, 100), now)
        ringing = make_response(request, 180, to_tag=new_tag())
        host, port = self.address
        ringing.headers.add("Contact", f"<sip:service@{host}:{port}>")
        dialog = Dialog.from_uas(request, ringing)
        call = _IncomingCall(invite_txn=txn, dialog=dialog, source=src)
        self._calls[request.call_id] = call
        txn.send_response(ringing, now)
        self.drain(txn, now)
        if self.ring is not None:
            self._timers.at(now + self.ring, lambda at: self._answer(call, ringing, at))

    def _cancel(self, cancel: Request, src: Address, now: float) -> None:
        txn = NonInviteServerTransaction(cancel, now)
        self.accept(txn, src, now)
        invite_txn = self.table.match_cancel_target(cancel)
        call = self._calls.get(cancel.call_id)
        if invite_txn is None or call is None or call.answer is not None:
            # §9.2: nothing to cancel (unknown, or already answered): 481.
            txn.send_response(make_response(cancel, 481), now)
            self.drain(txn, now)
            return
        txn.send_response(make_response(cancel, 200), now)
        self.drain(txn, now)
        self.stats.cancelled += 1
        terminated = make_response(invite_txn.request, 487, to_tag=call.dialog.local_tag)
        call.dialog.response_sent(terminated)
        call.answer = terminated
        invite_txn.send_response(terminated, now)
        self.drain(invite_txn, now)
        del self._calls[cancel.call_id]

    def _answer(self, call: _IncomingCall, ringing: Response, now: float) -> None:
        if call.answer is not None:
            return  # cancelled meanwhile
        request = call.invite_txn.request
        if self.code >= 300:
            failure = make_response(request, self.code, to_tag=ringing.to_tag)
            call.dialog.response_sent(failure)
            call.answer = failure
            call.invite_txn.send_response(failure, now)
            self.drain(call.invite_txn, now)
            del self._calls[request.call_id]
            return
        answer = make_response(request, 200, to_tag=ringing.to_tag)
        host, port = self.address
        answer.headers.add("Contact", f"<sip:service@{host}:{port}>")
        answer.set_body(
            _SDP.replace(b"{host}", host.encode()).replace(b"{port}", b"7000"), "application/sdp"
        )
        call.dialog.response_sent(answer)
        call.answer = answer
        self.stats.answered += 1
        call.invite_txn.send_response(answer, now)
        self.drain(call.invite_txn, now)
        # RFC 6026: the TU, not the transaction, retransmits the 2xx until the ACK.
        call.retransmitter = AnswerRetransmitter(answer, now)
        self._timers.at(now, lambda at: self._retransmit(call, at))

    def _retransmit(self, call: _IncomingCall, now: float) -> None:
        retransmitter = call.retransmitter
        if retransmitter is None or not retransmitter.active:
            return
        retransmitter.handle_timer(now)
        for message in retransmitter.messages_to_send():
            self.send(message, call.source)
        if isinstance(retransmitter.next_event(), AckTimeout):
            self.stats.ack_timeouts += 1
            return
        deadline = retransmitter.next_timer()
        if deadline is not None:
            self._timers.at(deadline, lambda at: self._retransmit(call, at))

    def _ack(self, ack: Request) -> None:
        call = self._calls.get(ack.call_id)
        if call is None or call.retransmitter is None:
            self.stats.unknown_dialog += 1
            return
        if not call.acked:
            call.acked = True
            self.stats.acked += 1
        call.retransmitter.ack_received()

    def _in_dialog(self, request: Request, src: Address, now: float) -> None:
        txn = NonInviteServerTransaction(request, now)
        self.accept(txn, src, now)
        call = self._calls.get(request.call_id)
        if call is None or dialog_id_for_incoming(request) != call.dialog.id:
            self.stats.unknown_dialog += 1
            txn.send_response(make_response(request, 481), now)
            self.drain(txn, now)
            return
        status = call.dialog.receive_request(request) or 200
        if request.method == "BYE" and status == 200:
            self.stats.byes += 1
            call.ended = True
            if call.retransmitter is not None:
                call.retransmitter.stop()
            del self._calls[request.call_id]
        txn.send_response(make_response(request, status), now)
        self.drain(txn, now)

    def on_event(self, txn: Transaction, event: Event, now: float) -> None:
        if txn.request.method == "INVITE" and hasattr(event, "request"):
            # RFC 6026 §7.1: an ACK absorbed by the INVITE transaction in "Accepted".
            self._ack(event.request)

    def tu_next_timer(self) -> float | None:
        return self._timers.next()

    def on_timer(self, now: float) -> None:
        self._timers.run_due(now)
