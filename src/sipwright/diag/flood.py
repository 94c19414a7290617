"""Flood (sipsak -F): send N requests at a fixed rate, count what comes back.

No transaction layer: every request is sent once (a flood measures what the target
does under load, retransmissions would only blur it), and a request without a
final response after the timeout counts as timed out.  An INVITE answered with a
final response is acknowledged (RFC 3261 §17.1.1.3 for non-2xx, §13.2.2.4 for
2xx) and a 2xx is followed by a BYE, so the flood leaves no calls up.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from sipwright.diag.udp_client import UdpClient
from sipwright.net.endpoint import MessageLog
from sipwright.sip.builders import build_request, new_branch, new_tag
from sipwright.sip.errors import ParseError
from sipwright.sip.message import Request, Response, parse_message
from sipwright.sip.uri import SipURI

__all__ = ["FloodPlan", "FloodStats", "run_flood"]

_SDP = (
    "v=0\r\no=sipwright 1 1 IN IP4 {host}\r\ns=flood\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
    "m=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


@dataclass(frozen=True, slots=True)
class FloodPlan:
    """How much to send: ``count`` requests and/or for ``duration`` seconds, whichever
    ends first (at least one must be given), at ``rate`` per second."""

    method: str
    rate: float
    count: int | None
    duration: float | None
    timeout: float

    def __post_init__(self) -> None:
        if self.count is None and self.duration is None:
            raise ValueError("a flood needs --count or --duration")
        if self.count is not None and self.count < 1:
            raise ValueError("--count must be at least 1")
        if self.duration is not None and self.duration <= 0:
            raise ValueError("--duration must be positive")
        if not 0 < self.rate <= 100_000:
            raise ValueError("--rate must be in (0, 100000]")
        if self.method not in ("OPTIONS", "INVITE"):
            raise ValueError("--method must be OPTIONS or INVITE")

    def due(self, elapsed: float) -> int:
        """How many requests should have been sent after ``elapsed`` seconds."""
        if self.duration is not None and elapsed >= self.duration:
            wanted = math.ceil(self.duration * self.rate)
        else:
            wanted = int(elapsed * self.rate) + 1
        return wanted if self.count is None else min(wanted, self.count)

    def finished(self, sent: int, elapsed: float) -> bool:
        if self.count is not None and sent >= self.count:
            return True
        return self.duration is not None and elapsed >= self.duration and sent >= self.due(elapsed)


@dataclass(slots=True)
class FloodStats:
    """Counts and response times of one flood; plain data for text and JSON output."""

    sent: int = 0
    answered: int = 0
    provisional: int = 0
    timeouts: int = 0
    unparsable: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    rtts_ms: list[float] = field(default_factory=list)
    elapsed: float = 0.0

    def as_dict(self) -> dict[str, object]:
        rtts = self.rtts_ms
        return {
            "sent": self.sent,
            "answered": self.answered,
            "timeouts": self.timeouts,
            "provisional": self.provisional,
            "unparsable": self.unparsable,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "elapsed_s": round(self.elapsed, 3),
            "rate_sent": round(self.sent / self.elapsed, 1) if self.elapsed else None,
            "rtt_ms": None
            if not rtts
            else {
                "min": round(min(rtts), 3),
                "avg": round(statistics.fmean(rtts), 3),
                "max": round(max(rtts), 3),
                "stddev": round(statistics.pstdev(rtts), 3),
            },
        }


class _Flood:
    def __init__(self, plan: FloodPlan, target: SipURI, client: UdpClient) -> None:
        self.plan = plan
        self.target = target
        self.client = client
        self.stats = FloodStats()
        self.pending: dict[str, tuple[float, Request]] = {}
        self.all_answered = asyncio.Event()

    def request(self, number: int) -> Request:
        host, port = self.client.local
        body = _SDP.format(host=host).encode() if self.plan.method == "INVITE" else b""
        return build_request(
            self.plan.method,
            self.target,
            from_=f"<sip:flood@{host}>;tag={new_tag()}",
            to=f"<{self.target}>",
            call_id=f"flood-{number}-{new_tag()}@{host}",
            via_host=host,
            via_port=port,
            contact=f"<sip:flood@{host}:{port}>",
            body=body,
            content_type="application/sdp" if body else None,
        )

    def on_datagram(self, data: bytes) -> None:
        try:
            message = parse_message(data, strict=False, lazy=True)
        except ParseError:
            self.stats.unparsable += 1
            return
        if not isinstance(message, Response):
            return  # a request from the target (a BYE of a call we flooded): ignored
        try:
            call_id, method = message.call_id, message.cseq.method
        except ParseError:
            self.stats.unparsable += 1
            return
        entry = self.pending.get(call_id)
        if entry is None or method != self.plan.method:
            return  # a retransmission, or the answer to our ACK/BYE
        if message.status < 200:
            self.stats.provisional += 1
            return
        started, request = self.pending.pop(call_id)
        self.stats.answered += 1
        self.stats.statuses[message.status] += 1
        self.stats.rtts_ms.append((time.perf_counter() - started) * 1000)
        if self.plan.method == "INVITE":
            self._acknowledge(request, message)
        if not self.pending:
            self.all_answered.set()

    def _acknowledge(self, invite: Request, response: Response) -> None:
        to = response.headers.first("To") or ""
        host, port = self.client.local
        success = 200 <= response.status < 300
        try:
            remote = response.contacts[0].uri if success and response.contacts else self.target
        except ParseError:
            remote = self.target
        for method, cseq in (("ACK", 1), ("BYE", 2)) if success else (("ACK", 1),):
            branch = new_branch() if success else (invite.via.branch or new_branch())
            request = build_request(
                method,
                remote if success else self.target,
                from_=invite.headers.first("From") or "",
                to=to,
                call_id=invite.call_id,
                cseq=cseq,
                via_host=host,
                via_port=port,
                branch=branch,
            )
            self.client.send(bytes(request))


async def run_flood(
    plan: FloodPlan,
    target: SipURI,
    remote: tuple[str, int],
    *,
    local_host: str = "127.0.0.1",
    trace: Callable[[MessageLog], None] | None = None,
) -> FloodStats:
    """Send the flood and wait up to ``plan.timeout`` for the last answers."""
    flood: _Flood | None = None

    def deliver(data: bytes) -> None:
        if flood is not None:
            flood.on_datagram(data)

    client = UdpClient(remote, deliver, trace=trace)
    await client.open(local_host)
    flood = _Flood(plan, target, client)
    stats = flood.stats
    started = time.perf_counter()
    try:
        while not plan.finished(stats.sent, time.perf_counter() - started):
            due = plan.due(time.perf_counter() - started)
            while stats.sent < due:
                stats.sent += 1
                request = flood.request(stats.sent)
                flood.pending[request.call_id] = (time.perf_counter(), request)
                flood.all_answered.clear()
                client.send(bytes(request))
            await asyncio.sleep(min(0.01, 1 / plan.rate))
        if flood.pending:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(flood.all_answered.wait(), plan.timeout)
        stats.timeouts = len(flood.pending)
        stats.elapsed = time.perf_counter() - started
    finally:
        client.close()
    return stats
