"""The callee's retransmission of a 2xx to INVITE until the ACK comes (§13.3.1.4).

A 2xx to INVITE ends the INVITE server transaction's part in reliability: since
RFC 6026 the transaction sits in "Accepted" and only absorbs retransmitted INVITEs,
while the UAS core (the TU) keeps sending the 2xx, because the ACK that stops it is
end to end and may travel a different path (§13.3.1.4, RFC 6026 §7.1).  That is this
class.  The first copy of the 2xx goes out through the server transaction; this
object sends the retransmissions: after T1, then at intervals doubling up to T2
(T1, 2*T1, 4*T1, ..., T2, T2, ...), until ``ack_received``.  Without an ACK after
64*T1 it gives up and reports ``AckTimeout``: the dialog is confirmed but the
session should be ended with a BYE (§13.3.1.4).

Sans-I/O like the rest of the package: the caller feeds ``now`` to
``handle_timer`` whenever ``next_timer`` falls due, sends what
``messages_to_send`` returns and reads events with ``next_event``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from sipwright.sip.message import Request, Response

__all__ = ["T1", "T2", "AckTimeout", "AnswerRetransmitter"]

# §17.1.1.1 defaults: T1 is the RTT estimate, T2 the longest retransmit interval
# (§17.1.2.2 applies the same cap to non-INVITE requests).
T1 = 0.5
T2 = 4.0


@dataclass(frozen=True, slots=True)
class AckTimeout:
    """No ACK came for ``response`` within 64*T1: the UAS should send BYE (§13.3.1.4)."""

    response: Response


class AnswerRetransmitter:
    """Retransmits one 2xx to INVITE on the T1/T2 schedule of §13.3.1.4.

    ``now`` is when the first copy was sent (by the server transaction); pass
    ``send_first=True`` to have this object queue that first copy too.
    """

    __slots__ = ("_deadline", "_events", "_interval", "_next_at", "_outbox", "_t2", "response")

    def __init__(
        self,
        response: Response,
        now: float,
        *,
        t1: float = T1,
        t2: float = T2,
        send_first: bool = False,
    ) -> None:
        if not (response.is_success and response.cseq.method == "INVITE"):
            raise ValueError(f"only a 2xx to INVITE is retransmitted by the UAS core: {response}")
        self.response = response
        self._t2 = t2
        self._interval = t1
        self._next_at: float | None = now + t1
        # §13.3.1.4: the server gives up 64*T1 after the first transmission.
        self._deadline: float | None = now + 64 * t1
        self._outbox: list[Response] = [response] if send_first else []
        self._events: deque[AckTimeout] = deque()

    @property
    def active(self) -> bool:
        """Still waiting for the ACK (neither acknowledged, stopped nor timed out)."""
        return self._deadline is not None

    def matches(self, ack: Request) -> bool:
        """Whether ``ack`` acknowledges this 2xx (§13.3.1.4, §12.2.2).

        An ACK for a 2xx is matched end to end: same dialog (Call-ID and tags, the
        ACK's From/To being our To/From) and the INVITE's CSeq number.
        """
        if ack.method != "ACK":
            return False
        response = self.response
        return (
            ack.call_id == response.call_id
            and ack.from_tag == response.from_tag
            and ack.to_tag == response.to_tag
            and ack.cseq.number == response.cseq.number
        )

    def ack_received(self) -> None:
        """The ACK arrived: no more retransmissions, no timeout."""
        self.stop()

    def stop(self) -> None:
        """Stop for another reason (the dialog ended, the transport failed ...)."""
        self._next_at = None
        self._deadline = None

    def next_timer(self) -> float | None:
        """When ``handle_timer`` must be called next, or ``None`` when done."""
        if self._deadline is None:
            return None
        if self._next_at is None or self._deadline <= self._next_at:
            return self._deadline
        return self._next_at

    def handle_timer(self, now: float) -> None:
        """Retransmit if due; time out if 64*T1 have passed."""
        if self._deadline is None:
            return
        if now >= self._deadline:
            self._next_at = None
            self._deadline = None
            self._events.append(AckTimeout(self.response))
            return
        if self._next_at is None or now < self._next_at:
            return
        self._outbox.append(self.response)
        # §13.3.1.4: the interval doubles each time, capped at T2.
        self._interval = min(self._interval * 2, self._t2)
        self._next_at += self._interval
        if self._next_at <= now:
            # Called late (a busy loop): one copy now, not a burst of the missed ones.
            self._next_at = now + self._interval

    def messages_to_send(self) -> list[Response]:
        """The copies of the 2xx due since the last call (the same object each time)."""
        out, self._outbox = self._outbox, []
        return out

    def next_event(self) -> AckTimeout | None:
        return self._events.popleft() if self._events else None

    @property
    def events(self) -> list[AckTimeout]:
        """The pending events, without consuming them."""
        return list(self._events)
