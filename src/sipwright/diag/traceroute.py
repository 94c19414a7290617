"""SIP traceroute (sipsak -T): OPTIONS with Max-Forwards 0, 1, 2, ...

RFC 3261 §16.3 step 2: a proxy that receives a request with Max-Forwards 0 answers
483 Too Many Hops (OPTIONS may be answered by the proxy itself instead, §16.3).
So the request with Max-Forwards N dies at hop N+1, and each 483 names one proxy
on the path; the first other final response comes from the target (or from the
element that refused to route further), which ends the trace.  Proxies that
record-route show in the Record-Route of the final response (§16.6 step 4), and
the Via received/rport parameters are the only addresses a hop reveals, so we
print the Server/User-Agent/Warning header fields that identify it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sipwright.diag.requests import Dialogless
from sipwright.net.transport_layer import TransportError
from sipwright.sip.errors import ParseError
from sipwright.ua import Agent, CallFailed

__all__ = ["Hop", "traceroute"]

TOO_MANY_HOPS = 483


@dataclass(frozen=True, slots=True)
class Hop:
    """What answered the request sent with ``max_forwards``."""

    max_forwards: int
    status: int | None  # None: nothing answered in time
    reason: str
    rtt_ms: float | None
    identity: str  # Server, User-Agent or Warning text, "" when none
    record_route: tuple[str, ...] = ()

    @property
    def is_final(self) -> bool:
        """The trace stops here: the target (or a refusing element) answered."""
        return self.status is not None and self.status != TOO_MANY_HOPS


async def traceroute(
    agent: Agent, uri: str, *, max_hops: int = 30, timeout: float = 5.0
) -> AsyncIterator[Hop]:
    """One ``Hop`` per Max-Forwards value, until a final answer or ``max_hops``."""
    requests = Dialogless(agent, uri)
    for max_forwards in range(max_hops + 1):
        try:
            exchange = await asyncio.wait_for(
                requests.send("OPTIONS", max_forwards=max_forwards, headers=[("Accept", "*/*")]),
                timeout,
            )
        except (TimeoutError, CallFailed, TransportError) as error:
            reason = str(error) or f"no answer within {timeout:g} s"
            yield Hop(max_forwards, None, reason, None, "")
            continue
        response = exchange.response
        identity = (
            response.headers.first("Server")
            or response.headers.first("User-Agent")
            or response.headers.first("Warning")
            or ""
        )
        try:
            route = tuple(str(entry) for entry in response.record_routes)
        except ParseError:
            route = tuple(response.headers.values("Record-Route"))
        hop = Hop(max_forwards, response.status, response.reason, exchange.rtt_ms, identity, route)
        yield hop
        if hop.is_final:
            return
