"""Client transactions: INVITE (RFC 3261 §17.1.1, RFC 6026 §8.4) and non-INVITE
(§17.1.2), plus the two requests a UAC derives from an INVITE: the ACK for a
non-2xx final response (§17.1.1.3) and CANCEL (§9.1).

Usage::

    txn = NonInviteClientTransaction(request)
    txn.start(now)                  # the request is now in messages_to_send()
    ...
    txn.receive(response, now)      # responses the table matched to it
    txn.handle_timer(now)           # whenever now >= txn.next_timer()
    for msg in txn.messages_to_send(): send(bytes(msg))
    while (event := txn.next_event()) is not None: ...
"""

from __future__ import annotations

from types import MappingProxyType
from typing import ClassVar

from sipwright.sip.errors import ParseError, ProtocolError
from sipwright.sip.headers import Headers
from sipwright.sip.message import Request, Response
from sipwright.sip.transaction import (
    Effect,
    Input,
    State,
    StateTimers,
    TimerConfig,
    TimerTable,
    Transaction,
    Transition,
    TransitionTable,
    client_key,
)

__all__ = [
    "ClientTransaction",
    "InviteClientTransaction",
    "NonInviteClientTransaction",
    "make_cancel",
    "make_non_2xx_ack",
]

_PASS_UP = (Effect.PASS_UP,)
_TERMINATE_ON_FAILURE = Transition(State.TERMINATED, (Effect.REPORT_FAILURE,))
# §17.1.2.2: a non-INVITE transaction treats 2xx and 3xx-6xx finals alike.
_FINAL_NON_INVITE = Transition(State.COMPLETED, _PASS_UP)


def _response_input(status: int) -> Input | None:
    if 100 <= status < 200:
        return "1xx"
    if 200 <= status < 300:
        return "2xx"
    if 300 <= status < 700:
        return "300-699"
    return None  # not a status code of §21: nothing a transaction can act on


class _ClientTransaction(Transaction):
    """The request goes out on ``start``; responses come in through ``receive``."""

    __slots__ = ("_started",)

    def __init__(
        self,
        request: Request,
        initial: State,
        *,
        reliable: bool = False,
        config: TimerConfig | None = None,
    ) -> None:
        key = client_key(request)
        if not key.branch:
            # §8.1.1.7: the branch is how responses find their transaction (§17.1.3).
            raise ProtocolError("a client transaction needs a branch in its top Via")
        if request.method == "ACK":
            raise ProtocolError("an ACK has no client transaction (§17)")
        super().__init__(request, key, initial, reliable=reliable, config=config or TimerConfig())
        self._started = False

    def start(self, now: float) -> None:
        """Send the request and start the timers of the initial state."""
        if self._started:
            raise ProtocolError("transaction already started")
        self._started = True
        self._outbox.append(self.request)
        self._enter(self._state, now)
        self._finish(now)

    def receive(self, response: Response, now: float) -> None:
        """A response that matched this transaction (``TransactionTable.match_response``)."""
        kind = _response_input(response.status)
        if kind is not None and self._started and self._dispatch(kind, response, now):
            self.last_response = response
        self._finish(now)

    def _retransmit(self) -> None:
        self._outbox.append(self.request)


class InviteClientTransaction(_ClientTransaction):
    """RFC 3261 Figure 5 as corrected by RFC 6026 Figure 5 (§8.4).

    A 2xx moves the transaction to "Accepted" instead of ending it, so that 2xx
    retransmissions and 2xx from other forks still reach the TU (which ACKs them,
    §13.2.2.4) until Timer M fires.  A 3xx-6xx is acknowledged by the transaction
    itself, once for each copy that arrives (§17.1.1.2).
    """

    __slots__ = ("ack",)

    def __init__(
        self, request: Request, *, reliable: bool = False, config: TimerConfig | None = None
    ) -> None:
        if request.method != "INVITE":
            raise ProtocolError("InviteClientTransaction needs an INVITE")
        super().__init__(request, State.CALLING, reliable=reliable, config=config)
        self.ack: Request | None = None  # the last ACK the transaction generated

    TRANSITIONS: ClassVar[TransitionTable] = MappingProxyType(
        {
            (State.CALLING, "timer A"): Transition(None, (Effect.RETRANSMIT, Effect.BACKOFF)),
            (State.CALLING, "timer B"): Transition(State.TERMINATED, (Effect.TIMEOUT,)),
            (State.CALLING, "1xx"): Transition(State.PROCEEDING, _PASS_UP),
            (State.CALLING, "2xx"): Transition(State.ACCEPTED, _PASS_UP),
            (State.CALLING, "300-699"): Transition(
                State.COMPLETED, (Effect.SEND_ACK, Effect.PASS_UP)
            ),
            (State.CALLING, "transport error"): _TERMINATE_ON_FAILURE,
            # §17.1.1.2: every provisional response in "Proceeding" goes up, copies too.
            (State.PROCEEDING, "1xx"): Transition(None, _PASS_UP),
            (State.PROCEEDING, "2xx"): Transition(State.ACCEPTED, _PASS_UP),
            (State.PROCEEDING, "300-699"): Transition(
                State.COMPLETED, (Effect.SEND_ACK, Effect.PASS_UP)
            ),
            (State.PROCEEDING, "transport error"): _TERMINATE_ON_FAILURE,
            # §17.1.1.2: a retransmitted final response is ACKed again, not passed up.
            (State.COMPLETED, "300-699"): Transition(None, (Effect.SEND_ACK,)),
            (State.COMPLETED, "timer D"): Transition(State.TERMINATED),
            (State.COMPLETED, "transport error"): _TERMINATE_ON_FAILURE,
            # RFC 6026 §8.4: further 2xx go up to the TU; Timer M ends the absorption.
            (State.ACCEPTED, "2xx"): Transition(None, _PASS_UP),
            (State.ACCEPTED, "timer M"): Transition(State.TERMINATED),
        }
    )
    TIMERS: ClassVar[TimerTable] = MappingProxyType(
        {
            State.CALLING: StateTimers(arm=("timer A", "timer B")),
            # §17.1.1.2: no retransmission and no Timer B once a provisional arrived; the
            # TU (CANCEL) or a proxy's Timer C bounds "Proceeding".
            State.PROCEEDING: StateTimers(),
            State.COMPLETED: StateTimers(arm=("timer D",)),
            State.ACCEPTED: StateTimers(arm=("timer M",)),
        }
    )

    def _apply_special(
        self, effect: Effect, message: Request | Response | None, now: float
    ) -> None:
        if effect is Effect.SEND_ACK and isinstance(message, Response):
            self.ack = make_non_2xx_ack(self.request, message)
            self._outbox.append(self.ack)
        else:
            super()._apply_special(effect, message, now)


class NonInviteClientTransaction(_ClientTransaction):
    """RFC 3261 Figure 6 (§17.1.2.2): Trying -> Proceeding -> Completed -> Terminated.

    Timer E doubles from T1 up to T2 in "Trying" and fires every T2 in "Proceeding";
    Timer F (64*T1) bounds both states; Timer K (T4, or 0 on a reliable transport)
    absorbs response retransmissions in "Completed".
    """

    __slots__ = ()

    def __init__(
        self, request: Request, *, reliable: bool = False, config: TimerConfig | None = None
    ) -> None:
        if request.method == "INVITE":
            raise ProtocolError("an INVITE needs an InviteClientTransaction")
        super().__init__(request, State.TRYING, reliable=reliable, config=config)

    TRANSITIONS: ClassVar[TransitionTable] = MappingProxyType(
        {
            (State.TRYING, "timer E"): Transition(None, (Effect.RETRANSMIT, Effect.BACKOFF_CAPPED)),
            (State.TRYING, "timer F"): Transition(State.TERMINATED, (Effect.TIMEOUT,)),
            (State.TRYING, "1xx"): Transition(State.PROCEEDING, _PASS_UP),
            (State.TRYING, "2xx"): _FINAL_NON_INVITE,
            (State.TRYING, "300-699"): _FINAL_NON_INVITE,
            (State.TRYING, "transport error"): _TERMINATE_ON_FAILURE,
            (State.PROCEEDING, "timer E"): Transition(None, (Effect.RETRANSMIT, Effect.REARM_T2)),
            (State.PROCEEDING, "timer F"): Transition(State.TERMINATED, (Effect.TIMEOUT,)),
            (State.PROCEEDING, "1xx"): Transition(None, _PASS_UP),
            (State.PROCEEDING, "2xx"): _FINAL_NON_INVITE,
            (State.PROCEEDING, "300-699"): _FINAL_NON_INVITE,
            (State.PROCEEDING, "transport error"): _TERMINATE_ON_FAILURE,
            (State.COMPLETED, "timer K"): Transition(State.TERMINATED),
        }
    )
    TIMERS: ClassVar[TimerTable] = MappingProxyType(
        {
            State.TRYING: StateTimers(arm=("timer E", "timer F")),
            State.PROCEEDING: StateTimers(keep=frozenset({"timer E", "timer F"})),
            State.COMPLETED: StateTimers(arm=("timer K",)),
        }
    )


ClientTransaction = InviteClientTransaction | NonInviteClientTransaction


# --- requests derived from an INVITE -----------------------------------------------


def _copy_request(invite: Request, method: str, to: str) -> Request:
    """The headers ACK (§17.1.1.3) and CANCEL (§9.1) share with their INVITE: the same
    Request-URI, Call-ID, From and CSeq number, only the INVITE's top Via (so the same
    branch: the ACK joins the INVITE's transaction, the CANCEL is matched to it), and
    the INVITE's Route set so they follow the INVITE's path.  Values are copied as
    written so that a peer comparing them textually sees no difference."""
    vias = invite.headers.values("Via")
    call_id = invite.headers.first("Call-ID")
    from_ = invite.headers.first("From")
    if not vias or call_id is None or from_ is None:
        raise ParseError("the INVITE lacks Via, Call-ID or From", 400)
    headers = Headers([("Via", vias[0])])
    for route in invite.headers.get_all("Route"):
        headers.add("Route", route)
    headers.add("Max-Forwards", "70")  # §8.1.1.6
    headers.add("From", from_)
    headers.add("To", to)
    headers.add("Call-ID", call_id)
    headers.add("CSeq", f"{invite.cseq.number} {method}")
    headers.add("Content-Length", "0")
    return Request(headers=headers, method=method, uri=invite.uri)


def make_non_2xx_ack(invite: Request, response: Response) -> Request:
    """The ACK an INVITE client transaction sends for a 3xx-6xx (§17.1.1.3).

    The To header comes from the response, because it carries the tag the server
    added and the ACK must match the server's transaction and its response.
    """
    to = response.headers.first("To")
    if to is None:
        raise ParseError("the response lacks To", 400)
    return _copy_request(invite, "ACK", to)


def make_cancel(invite: Request) -> Request:
    """A CANCEL for ``invite`` (§9.1): To as in the INVITE (with no tag from any
    response), CSeq number of the INVITE with method CANCEL, same single Via."""
    to = invite.headers.first("To")
    if to is None:
        raise ParseError("the INVITE lacks To", 400)
    return _copy_request(invite, "CANCEL", to)
