"""Send fuzz cases over UDP, each followed by an OPTIONS liveness ping.

A target that stops answering the ping (after retransmissions, as RFC 3261
§17.1.2.2 Timer E would do, but over a shorter total time) is taken as crashed
or wedged; the run stops there and reports the last cases sent, since the one
that killed it may have needed a few predecessors.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from sipwright.diag.fuzz_mutator import FuzzCase, make_case
from sipwright.diag.udp_client import UdpClient
from sipwright.net.endpoint import MessageLog
from sipwright.sip.builders import build_request, new_tag
from sipwright.sip.errors import ParseError
from sipwright.sip.message import Response, parse_message
from sipwright.sip.uri import SipURI

__all__ = ["CaseResult", "FuzzReport", "base_message", "run_fuzz"]

_SDP = (
    "v=0\r\no=fuzz 1 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
    "m=audio 9 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n"
)
KEEP_LAST = 5


@dataclass(frozen=True, slots=True)
class CaseResult:
    case: FuzzCase
    alive: bool
    response: int | None  # status of a response to the case itself, if any


@dataclass(slots=True)
class FuzzReport:
    sent: int = 0
    alive: bool = True
    statuses: Counter[int] = field(default_factory=Counter)
    last: deque[FuzzCase] = field(default_factory=lambda: deque(maxlen=KEEP_LAST))
    elapsed: float = 0.0


def base_message(
    method: str, target: SipURI, local: tuple[str, int], seed: int, number: int
) -> bytes:
    """The valid request case ``number`` mutates; Call-ID and branch derive from
    (seed, number) so a replay from the same local address sends the same bytes."""
    host, port = local
    body = _SDP.format(host=host).encode() if method == "INVITE" else b""
    request = build_request(
        method,
        target,
        from_=f"<sip:fuzz@{host}>;tag=fuzz{seed}",
        to=f"<{target}>",
        call_id=f"fuzz-{seed}-{number}@{host}",
        branch=f"z9hG4bK-fuzz-{seed}-{number}",
        via_host=host,
        via_port=port,
        contact=f"<sip:fuzz@{host}:{port}>",
        body=body,
        content_type="application/sdp" if body else None,
    )
    return bytes(request)


class _Pinger:
    """Matches responses to the liveness pings and to the fuzz cases by Call-ID."""

    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Future[Response]] = {}
        self.case_status: dict[str, int] = {}

    def on_datagram(self, data: bytes) -> None:
        try:
            message = parse_message(data, strict=False, lazy=True)
            if not isinstance(message, Response):
                return
            call_id = message.call_id
        except ParseError:
            return
        future = self.waiting.get(call_id)
        if future is not None and not future.done() and message.status >= 200:
            future.set_result(message)
        elif call_id.startswith("fuzz-") and message.status >= 200:
            self.case_status.setdefault(call_id, message.status)


async def _ping(
    client: UdpClient, pinger: _Pinger, target: SipURI, number: int, timeout: float
) -> bool:
    host, port = client.local
    call_id = f"live-{number}-{new_tag()}@{host}"
    ping = bytes(
        build_request(
            "OPTIONS",
            target,
            from_=f"<sip:fuzz@{host}>",
            to=f"<{target}>",
            call_id=call_id,
            via_host=host,
            via_port=port,
        )
    )
    future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
    pinger.waiting[call_id] = future
    deadline = time.monotonic() + timeout
    interval = 0.25
    try:
        while (remaining := deadline - time.monotonic()) > 0:
            client.send(ping)
            try:
                await asyncio.wait_for(asyncio.shield(future), min(interval, remaining))
            except TimeoutError:
                interval *= 2  # §17.1.2.2: Timer E doubles
                continue
            return True
        return False
    finally:
        pinger.waiting.pop(call_id, None)
        future.cancel()


async def run_fuzz(
    target: SipURI,
    remote: tuple[str, int],
    *,
    method: str,
    seed: int,
    numbers: Iterable[int],
    mutations: Sequence[str],
    duration: float | None = None,
    liveness_timeout: float = 3.0,
    local_host: str = "127.0.0.1",
    local_port: int = 0,
    trace: Callable[[MessageLog], None] | None = None,
    on_case: Callable[[CaseResult], None] | None = None,
) -> FuzzReport:
    pinger = _Pinger()
    client = UdpClient(remote, pinger.on_datagram, trace=trace)
    await client.open(local_host, local_port)
    report = FuzzReport()
    started = time.monotonic()
    try:
        if not await _ping(client, pinger, target, -1, liveness_timeout):
            report.alive = False  # dead (or not there) before the first case
            return report
        for number in numbers:
            if duration is not None and time.monotonic() - started >= duration:
                break
            base = base_message(method, target, client.local, seed, number)
            case = make_case(base, seed, number, mutations)
            client.send(case.data)
            report.sent += 1
            report.last.append(case)
            alive = await _ping(client, pinger, target, number, liveness_timeout)
            status = pinger.case_status.pop(f"fuzz-{seed}-{number}@{client.local[0]}", None)
            if status is not None:
                report.statuses[status] += 1
            if on_case is not None:
                on_case(CaseResult(case, alive, status))
            if not alive:
                report.alive = False
                break
    finally:
        report.elapsed = time.monotonic() - started
        client.close()
    return report
