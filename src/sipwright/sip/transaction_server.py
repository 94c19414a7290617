"""Server transactions: INVITE (RFC 3261 §17.2.1, RFC 6026 §7.1) and non-INVITE
(§17.2.2).

A server transaction is created from the request that did not match any existing
one (``TransactionTable.match_request``); the TU answers through ``send_response``
and retransmissions of the request (and ACKs) are fed to ``receive``::

    txn = InviteServerTransaction(invite, now)
    txn.send_response(make_response(invite, 180, to_tag=tag), now)
    ...
    txn.receive(retransmitted_invite_or_ack, now)
"""

from __future__ import annotations

from types import MappingProxyType
from typing import ClassVar

from sipwright.sip.errors import ProtocolError
from sipwright.sip.message import Request, Response, make_response
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
    server_key,
)

__all__ = ["InviteServerTransaction", "NonInviteServerTransaction", "ServerTransaction"]

_SEND = (Effect.SEND,)
_RETRANSMIT = (Effect.RETRANSMIT,)
_ABSORB = Transition(None)
_TERMINATE_ON_FAILURE = Transition(State.TERMINATED, (Effect.REPORT_FAILURE,))


def _tu_input(status: int) -> Input:
    if 100 <= status < 200:
        return "TU 1xx"
    if 200 <= status < 300:
        return "TU 2xx"
    if 300 <= status < 700:
        return "TU 300-699"
    raise ProtocolError(f"status {status} is not a SIP response code (§21)")


class _ServerTransaction(Transaction):
    """Created from a received request; responses come from the TU."""

    __slots__ = ()

    def __init__(
        self,
        request: Request,
        initial: State,
        *,
        reliable: bool = False,
        config: TimerConfig | None = None,
    ) -> None:
        if request.method == "ACK":
            # §17: an ACK that matches no transaction (the ACK for a 2xx) goes to the TU.
            raise ProtocolError("an ACK has no server transaction of its own")
        super().__init__(
            request, server_key(request), initial, reliable=reliable, config=config or TimerConfig()
        )

    def receive(self, request: Request, now: float) -> None:
        """A retransmission of the request, or an ACK, that matched this transaction
        (``TransactionTable.match_request``)."""
        if request.method == "ACK":
            self._dispatch("ACK", request, now)
        elif request.method == self.request.method:
            self._dispatch("request", request, now)
        self._finish(now)

    def send_response(self, response: Response, now: float) -> None:
        """The TU's response; raises ``ProtocolError`` where the RFC allows none (a
        provisional after a final, a final in "Confirmed", ...)."""
        self._dispatch(_tu_input(response.status), response, now)
        self._finish(now)

    def _send(self, response: Response) -> None:
        self.last_response = response
        self._outbox.append(response)
        # §17.2.1: the automatic 100 Trying is only for a TU that stays silent.
        self._timers.pop("timer 100", None)

    def _retransmit(self) -> None:
        if self.last_response is not None:
            self._outbox.append(self.last_response)

    def _apply_special(
        self, effect: Effect, message: Request | Response | None, now: float
    ) -> None:
        if effect is Effect.SEND and isinstance(message, Response):
            self._send(message)
        else:
            super()._apply_special(effect, message, now)


class InviteServerTransaction(_ServerTransaction):
    """RFC 3261 Figure 7 as corrected by RFC 6026 Figure 7 (§7.1).

    A 3xx-6xx is retransmitted by the transaction (Timer G) until the ACK arrives
    ("Confirmed") or Timer H gives up.  A 2xx moves it to "Accepted": the TU owns
    2xx retransmission (§13.3.1.4) and passes each copy through ``send_response``;
    the transaction absorbs retransmitted INVITEs, which RFC 3261 would have taken
    for new requests, and passes ACKs up until Timer L fires.

    ``auto_trying`` is the delay before the automatic 100 Trying (§17.2.1: when the
    TU will not answer within 200 ms); None disables it, 0 sends it at once.
    """

    __slots__ = ()

    def __init__(
        self,
        request: Request,
        now: float,
        *,
        reliable: bool = False,
        config: TimerConfig | None = None,
        auto_trying: float | None = 0.2,
    ) -> None:
        if request.method != "INVITE":
            raise ProtocolError("InviteServerTransaction needs an INVITE")
        super().__init__(request, State.PROCEEDING, reliable=reliable, config=config)
        if auto_trying is not None:
            self._timers["timer 100"] = now + auto_trying
        self._finish(now)

    TRANSITIONS: ClassVar[TransitionTable] = MappingProxyType(
        {
            (State.PROCEEDING, "timer 100"): Transition(None, (Effect.SEND_TRYING,)),
            # §17.2.1: a retransmitted INVITE gets the most recent provisional response.
            (State.PROCEEDING, "request"): Transition(None, _RETRANSMIT),
            (State.PROCEEDING, "TU 1xx"): Transition(None, _SEND),
            (State.PROCEEDING, "TU 2xx"): Transition(State.ACCEPTED, _SEND),
            (State.PROCEEDING, "TU 300-699"): Transition(State.COMPLETED, _SEND),
            (State.PROCEEDING, "transport error"): _TERMINATE_ON_FAILURE,
            (State.COMPLETED, "request"): Transition(None, _RETRANSMIT),
            (State.COMPLETED, "timer G"): Transition(
                None, (Effect.RETRANSMIT, Effect.BACKOFF_CAPPED)
            ),
            (State.COMPLETED, "timer H"): Transition(State.TERMINATED, (Effect.TIMEOUT,)),
            (State.COMPLETED, "ACK"): Transition(State.CONFIRMED),
            (State.COMPLETED, "transport error"): _TERMINATE_ON_FAILURE,
            # "Confirmed" absorbs ACK and INVITE copies until Timer I.
            (State.CONFIRMED, "timer I"): Transition(State.TERMINATED),
            # RFC 6026 §7.1: the "Accepted" state.
            (State.ACCEPTED, "request"): _ABSORB,
            (State.ACCEPTED, "ACK"): Transition(None, (Effect.PASS_UP,)),
            (State.ACCEPTED, "TU 2xx"): Transition(None, _SEND),
            (State.ACCEPTED, "timer L"): Transition(State.TERMINATED),
            # The TU may be retransmitting a 2xx into a broken transport; it decides.
            (State.ACCEPTED, "transport error"): Transition(None, (Effect.REPORT_FAILURE,)),
        }
    )
    TIMERS: ClassVar[TimerTable] = MappingProxyType(
        {
            State.PROCEEDING: StateTimers(keep=frozenset({"timer 100"})),
            State.COMPLETED: StateTimers(arm=("timer G", "timer H")),
            State.CONFIRMED: StateTimers(arm=("timer I",)),
            State.ACCEPTED: StateTimers(arm=("timer L",)),
        }
    )

    def _apply_special(
        self, effect: Effect, message: Request | Response | None, now: float
    ) -> None:
        if effect is Effect.SEND_TRYING:
            self._send(make_response(self.request, 100))
        else:
            super()._apply_special(effect, message, now)


class NonInviteServerTransaction(_ServerTransaction):
    """RFC 3261 Figure 8 (§17.2.2): Trying -> Proceeding -> Completed -> Terminated.

    Request retransmissions are absorbed in "Trying" (the TU is still working; the
    client's Timer E retries), answered with the last provisional in "Proceeding" and
    with the final response in "Completed" until Timer J (64*T1, 0 when reliable).
    """

    __slots__ = ()

    def __init__(
        self,
        request: Request,
        now: float,
        *,
        reliable: bool = False,
        config: TimerConfig | None = None,
    ) -> None:
        if request.method in ("INVITE", "ACK"):
            raise ProtocolError(f"NonInviteServerTransaction cannot serve {request.method}")
        super().__init__(request, State.TRYING, reliable=reliable, config=config)
        self._finish(now)

    TRANSITIONS: ClassVar[TransitionTable] = MappingProxyType(
        {
            (State.TRYING, "TU 1xx"): Transition(State.PROCEEDING, _SEND),
            (State.TRYING, "TU 2xx"): Transition(State.COMPLETED, _SEND),
            (State.TRYING, "TU 300-699"): Transition(State.COMPLETED, _SEND),
            (State.PROCEEDING, "request"): Transition(None, _RETRANSMIT),
            (State.PROCEEDING, "TU 1xx"): Transition(None, _SEND),
            (State.PROCEEDING, "TU 2xx"): Transition(State.COMPLETED, _SEND),
            (State.PROCEEDING, "TU 300-699"): Transition(State.COMPLETED, _SEND),
            (State.PROCEEDING, "transport error"): _TERMINATE_ON_FAILURE,
            (State.COMPLETED, "request"): Transition(None, _RETRANSMIT),
            # §17.2.2: "Any other final responses passed by the TU ... MUST be discarded".
            (State.COMPLETED, "TU 2xx"): _ABSORB,
            (State.COMPLETED, "TU 300-699"): _ABSORB,
            (State.COMPLETED, "timer J"): Transition(State.TERMINATED),
            (State.COMPLETED, "transport error"): _TERMINATE_ON_FAILURE,
        }
    )
    TIMERS: ClassVar[TimerTable] = MappingProxyType(
        {State.COMPLETED: StateTimers(arm=("timer J",))}
    )


ServerTransaction = InviteServerTransaction | NonInviteServerTransaction
