"""Calls (and other dialogs or transactions) in a capture, grouped by Call-ID.

The final status is that of the last request of the first method sent with this
Call-ID (the INVITE or REGISTER after a 401/407 challenge, §22.2).  For an INVITE
also PDD (post-dial delay: first INVITE to the first 180/183, else to the final
response) and duration (2xx to the first BYE, or to the end of the capture).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sipwright.pcapan.sip_messages import SipPacket
from sipwright.sip.errors import ParseError
from sipwright.sip.message import Request, Response

__all__ = ["CallSummary", "summarize_calls"]


@dataclass(frozen=True, slots=True)
class CallSummary:
    call_id: str
    method: str  # of the first request
    from_: str
    to: str
    start: float
    messages: int
    final_status: int | None
    final_reason: str
    pdd: float | None  # seconds
    duration: float | None  # seconds of an answered call
    transports: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {
            "call_id": self.call_id,
            "method": self.method,
            "from": self.from_,
            "to": self.to,
            "start": round(self.start, 6),
            "messages": self.messages,
            "final_status": self.final_status,
            "final_reason": self.final_reason,
            "pdd_s": None if self.pdd is None else round(self.pdd, 6),
            "duration_s": None if self.duration is None else round(self.duration, 6),
            "transports": list(self.transports),
        }


def _uri(packet: SipPacket, name: str) -> str:
    try:
        address = packet.message.from_ if name == "From" else packet.message.to
    except ParseError:
        return packet.message.headers.first(name) or ""
    return str(address.uri)


def _cseq(packet: SipPacket) -> tuple[int, str] | None:
    try:
        cseq = packet.message.cseq
    except ParseError:
        return None
    return cseq.number, cseq.method


def _summarize(call_id: str, packets: list[SipPacket], capture_end: float) -> CallSummary:
    first_request = next((p for p in packets if isinstance(p.message, Request)), packets[0])
    method = first_request.message.method if isinstance(first_request.message, Request) else "?"
    start = packets[0].time
    final: Response | None = None
    final_time: float | None = None
    early: float | None = None
    bye: float | None = None
    invite_sent: float | None = None
    if method == "INVITE":
        invite_cseqs = [_cseq(p) for p in packets if isinstance(p.message, Request)]
        last_invite = max((c for c in invite_cseqs if c and c[1] == "INVITE"), default=None)
        for packet in packets:
            message = packet.message
            if isinstance(message, Request):
                if message.method == "INVITE" and invite_sent is None:
                    invite_sent = packet.time
                if message.method == "BYE" and bye is None:
                    bye = packet.time
                continue
            if _cseq(packet) != last_invite:
                continue
            if message.status in (180, 183) and early is None:
                early = packet.time
            if message.status >= 200 and final is None:
                final, final_time = message, packet.time
    else:
        # the last request of that method (a REGISTER after its 401, §22.2)
        cseqs = [_cseq(p) for p in packets if isinstance(p.message, Request)]
        last = max((c for c in cseqs if c and c[1] == method), default=None)
        for packet in packets:
            if (
                isinstance(packet.message, Response)
                and packet.message.status >= 200
                and final is None
                and _cseq(packet) == last
            ):
                final, final_time = packet.message, packet.time
    pdd = None
    if invite_sent is not None:
        answer = early if early is not None else final_time
        pdd = None if answer is None else answer - invite_sent
    duration = None
    if method == "INVITE" and final is not None and final.is_success and final_time is not None:
        duration = (bye if bye is not None else capture_end) - final_time
    return CallSummary(
        call_id=call_id,
        method=method,
        from_=_uri(first_request, "From"),
        to=_uri(first_request, "To"),
        start=start,
        messages=len(packets),
        final_status=None if final is None else final.status,
        final_reason="" if final is None else final.reason,
        pdd=pdd,
        duration=duration,
        transports=tuple(sorted({p.transport for p in packets})),
    )


def summarize_calls(messages: Iterable[SipPacket]) -> list[CallSummary]:
    """One summary per Call-ID, in order of first appearance."""
    groups: dict[str, list[SipPacket]] = {}
    end = 0.0
    for packet in messages:
        groups.setdefault(packet.call_id, []).append(packet)
        end = max(end, packet.time)
    return [_summarize(call_id, packets, end) for call_id, packets in groups.items()]
