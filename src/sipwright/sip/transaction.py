"""SIP transactions (RFC 3261 §17 with the RFC 6026 corrections): the shared pieces.

A transaction is a sans-I/O state machine in the style of aioquic: the caller feeds
it messages (``receive``) and the passage of time (``handle_timer``), and drains
what it produced: ``messages_to_send()`` for the wire, ``next_event()`` for the
transaction user (TU).  ``next_timer()`` tells the caller when to call back.  Time
is always the ``now`` argument; nothing here reads a clock.

Each concrete machine (``transaction_client``, ``transaction_server``) is described
by two tables, so that it reads like the RFC figures:

* ``TRANSITIONS[(state, input)] -> Transition(target, effects)``: what an input does
  in a state.  An input with no entry is absorbed: RFC 3261 §17 discards whatever
  its figures do not mention (e.g. a response retransmission in "Completed").  An
  input coming from the TU with no entry is a TU bug and raises ``ProtocolError``.
* ``TIMERS[state] -> StateTimers(arm, keep)``: the timers started on entering a
  state and those that survive the change; every other timer is cancelled.

This module holds the timer configuration, the events, the transaction keys and the
base class that runs both tables.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar, Literal, NamedTuple, cast

from sipwright.sip.errors import ParseError, ProtocolError
from sipwright.sip.headers import Via
from sipwright.sip.message import Request, Response
from sipwright.sip.uri import SipURI, parse_uri, unescape

__all__ = [
    "MAGIC_COOKIE",
    "Effect",
    "Event",
    "Input",
    "Key",
    "LegacyKey",
    "RequestReceived",
    "ResponseReceived",
    "State",
    "StateTimers",
    "TimedOut",
    "TimerConfig",
    "TimerName",
    "TimerTable",
    "Transaction",
    "TransactionKey",
    "TransactionTerminated",
    "Transition",
    "TransitionTable",
    "TransportFailed",
    "client_key",
    "has_rfc3261_branch",
    "server_key",
    "timer_value",
    "uri_identity",
    "via_identity",
]

# §8.1.1.7: a branch starting with this cookie was built by an RFC 3261 element and is
# unique per transaction, so it alone (with sent-by and method) identifies one.
MAGIC_COOKIE = "z9hG4bK"


@dataclass(frozen=True, slots=True)
class TimerConfig:
    """T1 (RTT estimate), T2 (retransmit cap for non-INVITE) and T4 (max network
    lifetime of a message), RFC 3261 §17.1.1.1 and Table 4.  Everything else derives."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0

    def __post_init__(self) -> None:
        if not (self.t1 > 0 and self.t2 >= self.t1 and self.t4 >= 0):
            raise ValueError("timer values need 0 < T1 <= T2 and T4 >= 0")


class State(enum.Enum):
    """The state names of RFC 3261 §17 Figures 5-8 and RFC 6026 §7.1/§8.4."""

    CALLING = "Calling"
    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    ACCEPTED = "Accepted"
    TERMINATED = "Terminated"


# Timer inputs are named as the RFC names the timers; "timer 100" is the §17.2.1 rule
# that an INVITE server transaction answers 100 Trying if the TU has not within 200 ms.
TimerName = Literal[
    "timer A",
    "timer B",
    "timer D",
    "timer E",
    "timer F",
    "timer G",
    "timer H",
    "timer I",
    "timer J",
    "timer K",
    "timer L",
    "timer M",
    "timer 100",
]
Input = Literal[
    "1xx",  # a provisional response arrived (client)
    "2xx",
    "300-699",
    "request",  # a retransmission of the request that created the server transaction
    "ACK",
    "TU 1xx",  # the TU passes a response down (server)
    "TU 2xx",
    "TU 300-699",
    "transport error",
    TimerName,
]


def timer_value(timer: TimerName, config: TimerConfig, reliable: bool) -> float | None:
    """The initial value of a timer (RFC 3261 Table 4, RFC 6026 §7.1/§8.4), or None
    when the timer is not used at all on this kind of transport."""
    t1 = config.t1
    match timer:
        case "timer A" | "timer E" | "timer G":
            # §17.1.1.2, §17.1.2.2, §17.2.1: retransmissions only on unreliable transports.
            return None if reliable else t1
        case "timer B" | "timer F" | "timer H" | "timer L" | "timer M":
            # Transaction timeouts; L and M (RFC 6026) absorb stray INVITE/2xx copies,
            # which can arrive over any transport (forking proxies), so never zero.
            return 64 * t1
        case "timer D":
            # §17.1.1.2: "at least 32 seconds" so the ACK answers every retransmission
            # of the final response, which the server sends for up to 64*T1 (Timer H).
            return 0.0 if reliable else max(32.0, 64 * t1)
        case "timer I" | "timer K":
            # §17.2.1 / §17.1.2.2: T4 lets stray copies drain from the network.
            return 0.0 if reliable else config.t4
        case "timer J":
            return 0.0 if reliable else 64 * t1  # §17.2.2
        case "timer 100":
            return None  # not a Table 4 timer: the server transaction sets it itself


# --- events for the TU -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    """A response the client transaction passes up (§17.1.1.2, §17.1.2.2)."""

    response: Response


@dataclass(frozen=True, slots=True)
class RequestReceived:
    """A request the server transaction passes up: an ACK in "Accepted" (RFC 6026 §7.1)."""

    request: Request


@dataclass(frozen=True, slots=True)
class TimedOut:
    """Timer B or F (no final response) or H (no ACK for a non-2xx final) fired."""

    timer: str


@dataclass(frozen=True, slots=True)
class TransportFailed:
    """The transport reported a failure for this transaction (§17.1.4, §17.2.4)."""

    reason: str


@dataclass(frozen=True, slots=True)
class TransactionTerminated:
    """The transaction reached "Terminated"; the table may forget it."""


Event = ResponseReceived | RequestReceived | TimedOut | TransportFailed | TransactionTerminated


# --- transaction keys --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TransactionKey:
    """RFC 3261 key: branch and method (§17.1.3), plus sent-by on the server (§17.2.3).

    ``method`` is INVITE for an ACK (it belongs to the INVITE's transaction) and
    ``sent_by`` is empty for client keys, where the branch was generated locally.
    """

    branch: str
    method: str
    sent_by: str = ""


@dataclass(frozen=True, slots=True)
class LegacyKey:
    """The RFC 2543 identity used when the top Via has no usable branch (§17.2.3).

    ``request_uri`` and ``via`` are normalised (case-insensitive parts lowered,
    parameters sorted) as the comparison rules of §19.1.4 and §20.42 ask.
    """

    request_uri: str
    to_tag: str | None
    from_tag: str | None
    call_id: str
    cseq_number: int
    via: str
    method: str


Key = TransactionKey | LegacyKey


def has_rfc3261_branch(via: Via) -> bool:
    """The cookie and something after it.  RFC 4475 §3.2.1 (badbranch) shows a branch
    that is *only* the cookie; it identifies nothing, so such a request falls back to
    the RFC 2543 rules like one without the cookie."""
    branch = via.branch
    return (
        branch is not None and branch.startswith(MAGIC_COOKIE) and len(branch) > len(MAGIC_COOKIE)
    )


def client_key(message: Request | Response) -> TransactionKey:
    """§17.1.3: the top Via branch and the CSeq method.  The method is needed because a
    CANCEL shares its INVITE's branch (§9.1) but is a transaction of its own."""
    return TransactionKey(message.via.branch or "", message.cseq.method)


def server_key(request: Request, method: str | None = None) -> Key:
    """§17.2.3 key of ``request``; ``method`` overrides the request's own (the CANCEL
    target look-up asks "which INVITE has this identity?", §9.2)."""
    via = request.via
    method = method or request.method
    if method == "ACK":  # §17.2.3: an ACK matches the INVITE that created the transaction
        method = "INVITE"
    if has_rfc3261_branch(via):
        return TransactionKey(via.branch or "", method, _sent_by(via))
    return LegacyKey(
        request_uri=uri_identity(request.uri),
        to_tag=request.to_tag,
        from_tag=request.from_tag,
        call_id=request.call_id,
        cseq_number=request.cseq.number,
        via=via_identity(via),
        method=method,
    )


def _sent_by(via: Via) -> str:
    host = via.host.lower()  # host names compare case-insensitively (§19.1.4)
    return host if via.port is None else f"{host}:{via.port}"


def via_identity(via: Via) -> str:
    """A Via value normalised for equality: protocol and host case folded, parameter
    names folded and their order ignored (§7.3.1, §20.42)."""
    params = "".join(sorted(f";{k.lower()}={v or ''}" for k, v in via.params))
    return f"{via.protocol}/{via.transport} {_sent_by(via)}{params}"


def uri_identity(text: str) -> str:
    """A Request-URI normalised for equality in the spirit of §19.1.4: scheme, host
    and parameters case-insensitive, escapes resolved, parameter order ignored."""
    try:
        uri = parse_uri(text)
    except ParseError:
        return text
    if not isinstance(uri, SipURI):
        return str(uri)
    user = "" if uri.user is None else unescape(uri.user)
    params = "".join(sorted(f";{k.lower()}={(v or '').lower()}" for k, v in uri.params))
    port = "" if uri.port is None else f":{uri.port}"
    headers = "" if uri.headers is None else f"?{unescape(uri.headers)}"
    return f"{uri.scheme}:{user}@{uri.host.lower()}{port}{params}{headers}"


# --- the state machine runner ------------------------------------------------------


class Effect(enum.Enum):
    """What a transition does, in the vocabulary of the RFC figures."""

    PASS_UP = enum.auto()  # hand the message to the TU as an event
    SEND = enum.auto()  # the TU's response goes on the wire and becomes last_response
    RETRANSMIT = enum.auto()  # the request again (client) / the last response (server)
    SEND_ACK = enum.auto()  # §17.1.1.3: the transaction's own ACK for a non-2xx final
    SEND_TRYING = enum.auto()  # §17.2.1: the automatic 100 Trying
    BACKOFF = enum.auto()  # re-arm the timer that fired at twice its interval (Timer A)
    BACKOFF_CAPPED = enum.auto()  # the same, capped at T2 (Timer E in Trying, Timer G)
    REARM_T2 = enum.auto()  # re-arm at T2 (Timer E in Proceeding, §17.1.2.2)
    TIMEOUT = enum.auto()  # tell the TU that the timer that fired is a timeout
    REPORT_FAILURE = enum.auto()  # tell the TU about a transport error


class Transition(NamedTuple):
    target: State | None  # None: stay in the same state
    effects: tuple[Effect, ...] = ()


class StateTimers(NamedTuple):
    arm: tuple[TimerName, ...] = ()  # started on entering the state
    keep: frozenset[TimerName] = frozenset()  # left running from the previous state


_NO_TIMERS = StateTimers()
TransitionTable = Mapping[tuple[State, Input], Transition]
TimerTable = Mapping[State, StateTimers]


class Transaction:
    """What the four RFC 3261 machines share: the timers, the queues and the runner.

    Subclasses provide ``TRANSITIONS`` and ``TIMERS`` and the effects that need their
    own data (``_retransmit`` and ``_apply_special``).
    """

    __slots__ = (
        "_events",
        "_failure",
        "_intervals",
        "_outbox",
        "_state",
        "_timers",
        "_watcher",
        "config",
        "key",
        "last_response",
        "reliable",
        "request",
    )

    TRANSITIONS: ClassVar[TransitionTable] = MappingProxyType({})
    TIMERS: ClassVar[TimerTable] = MappingProxyType({})

    def __init__(
        self, request: Request, key: Key, state: State, *, reliable: bool, config: TimerConfig
    ) -> None:
        self.request = request
        self.key = key
        self.reliable = reliable
        self.config = config
        self.last_response: Response | None = None
        self._state = state
        self._timers: dict[TimerName, float] = {}  # armed timer -> absolute deadline
        self._intervals: dict[TimerName, float] = {}  # current interval of backoff timers
        self._outbox: list[Request | Response] = []
        self._events: deque[Event] = deque()
        self._failure = ""
        self._watcher: Callable[[Transaction], None] | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.request.method} {self._state.value}>"

    @property
    def state(self) -> State:
        return self._state

    @property
    def terminated(self) -> bool:
        return self._state is State.TERMINATED

    # --- the caller's side -----------------------------------------------------------

    def next_timer(self) -> float | None:
        """Absolute time of the earliest armed timer, or None when none is armed."""
        timers = self._timers
        if not timers:
            return None
        return min(timers.values())

    def handle_timer(self, now: float) -> None:
        """Fire every timer due at ``now`` (in deadline order)."""
        self._finish(now)

    def transport_error(self, now: float, reason: str = "transport error") -> None:
        """The transport could not deliver a message of this transaction (§17.1.4,
        §17.2.4, e.g. ICMP unreachable or a failed TCP connect)."""
        self._failure = reason
        self._dispatch("transport error", None, now)
        self._finish(now)

    def messages_to_send(self) -> list[Request | Response]:
        """Drain the messages that must go on the wire now, oldest first."""
        out = self._outbox
        self._outbox = []
        return out

    def next_event(self) -> Event | None:
        """The next event for the TU, or None."""
        return self._events.popleft() if self._events else None

    # --- the runner ------------------------------------------------------------------

    def _dispatch(self, kind: Input, message: Request | Response | None, now: float) -> bool:
        """Run the transition for ``kind``; False when the input was absorbed."""
        rule = self.TRANSITIONS.get((self._state, kind))
        if rule is None:
            if kind.startswith("TU "):
                raise ProtocolError(f"{kind} response not allowed in state {self._state.value}")
            return False  # absorbed: the RFC figures define no reaction
        for effect in rule.effects:
            self._apply(effect, kind, message, now)
        if rule.target is not None and rule.target is not self._state:
            self._enter(rule.target, now)
        return True

    def _enter(self, state: State, now: float) -> None:
        spec = self.TIMERS.get(state, _NO_TIMERS)
        timers = self._timers
        for name in [name for name in timers if name not in spec.keep]:
            del timers[name]
        for name in spec.arm:
            value = timer_value(name, self.config, self.reliable)
            if value is not None:
                self._intervals[name] = value
                timers[name] = now + value
        self._state = state
        if state is State.TERMINATED:
            timers.clear()
            self._events.append(TransactionTerminated())

    def _run_due(self, now: float) -> None:
        timers = self._timers
        while timers:
            name = min(timers, key=timers.__getitem__)
            if timers[name] > now:
                return
            del timers[name]
            self._dispatch(name, None, now)

    def _finish(self, now: float) -> None:
        """End of every entry point: fire what is due (zero-length timers on reliable
        transports fire here, in the same call) and tell the table the new deadline."""
        if self._timers:
            self._run_due(now)
        if self._watcher is not None:
            self._watcher(self)

    def _apply(
        self, effect: Effect, kind: Input, message: Request | Response | None, now: float
    ) -> None:
        match effect:
            case Effect.PASS_UP:
                if isinstance(message, Response):
                    self._events.append(ResponseReceived(message))
                elif isinstance(message, Request):
                    self._events.append(RequestReceived(message))
            case Effect.RETRANSMIT:
                self._retransmit()
            case Effect.BACKOFF | Effect.BACKOFF_CAPPED | Effect.REARM_T2:
                self._rearm(effect, kind, now)
            case Effect.TIMEOUT:
                self._events.append(TimedOut(kind.removeprefix("timer ")))
            case Effect.REPORT_FAILURE:
                self._events.append(TransportFailed(self._failure))
            case _:
                self._apply_special(effect, message, now)

    def _rearm(self, effect: Effect, kind: Input, now: float) -> None:
        name = cast(TimerName, kind)  # only timer inputs carry these effects
        t2 = self.config.t2
        interval = self._intervals.get(name, self.config.t1)
        if effect is Effect.BACKOFF:
            interval *= 2  # Timer A: §17.1.1.2 doubles it with no T2 cap
        elif effect is Effect.BACKOFF_CAPPED:
            interval = min(interval * 2, t2)  # Timer E (§17.1.2.2), Timer G (§17.2.1)
        else:
            interval = t2
        self._intervals[name] = interval
        self._timers[name] = now + interval

    def _retransmit(self) -> None:
        raise NotImplementedError

    def _apply_special(
        self, effect: Effect, message: Request | Response | None, now: float
    ) -> None:
        raise ProtocolError(f"{type(self).__name__} has no effect {effect.name}")

    def _attach(self, watcher: Callable[[Transaction], None] | None) -> None:
        """Let a ``TransactionTable`` hear about every change of the next deadline."""
        self._watcher = watcher
