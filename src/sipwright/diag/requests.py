"""One out-of-dialog request with full control over its header fields.

``Agent.request`` covers the common case; diagnostics need to set Max-Forwards
(traceroute), leave out the Contact (a REGISTER query, RFC 3261 §10.2.3) or keep
Call-ID and CSeq across several requests (usrloc, §10.2: one Call-ID per
registrar, CSeq increasing).  Digest challenges (401/407) are answered once.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from sipwright.net.address import Destination
from sipwright.sip.builders import build_request, new_call_id, new_tag
from sipwright.sip.message import Request, Response
from sipwright.sip.uri import SipURI, parse_uri
from sipwright.ua import Agent

__all__ = ["Dialogless", "Exchange"]


@dataclass(frozen=True, slots=True)
class Exchange:
    """A request and its final response, with the round-trip time in ms."""

    request: Request
    response: Response
    rtt_ms: float
    challenged: bool = False


@dataclass(slots=True)
class Dialogless:
    """Requests sharing one Call-ID, From tag and CSeq space (RFC 3261 §8.1.1)."""

    agent: Agent
    uri: str
    to: str | None = None
    aor: str | None = None  # From (and To, unless ``to``) for REGISTER-like requests
    call_id: str = field(default_factory=new_call_id)
    tag: str = field(default_factory=new_tag)
    cseq: int = 0

    @property
    def target(self) -> SipURI:
        parsed = parse_uri(self.uri)
        if not isinstance(parsed, SipURI):
            raise ValueError(f"not a sip: or sips: URI: {self.uri!r}")
        return parsed

    async def send(
        self,
        method: str,
        *,
        max_forwards: int = 70,
        headers: Sequence[tuple[str, str]] = (),
        contacts: Sequence[str] | None = None,
        body: bytes = b"",
        content_type: str | None = None,
    ) -> Exchange:
        """Send ``method``; ``contacts=None`` writes our own Contact, ``[]`` none."""
        target = self.target
        agent = self.agent
        to = self.to or f"<{self.aor or target.without_params('transport')}>"
        from_ = f"<{self.aor or agent.aor(target.host)}>;tag={self.tag}"
        challenge: Response | None = None

        def make(destination: Destination) -> Request:
            host, port, contact = agent.local_parts(destination)
            request = build_request(
                method,
                target,
                from_=from_,
                to=to,
                call_id=self.call_id,
                cseq=self.cseq,
                via_transport=destination.transport.upper(),
                via_host=host,
                via_port=port,
                contact=contact if contacts is None else None,
                max_forwards=max_forwards,
                extra_headers=[*headers, ("User-Agent", agent.user_agent)],
                body=body,
                content_type=content_type,
            )
            for value in contacts or ():
                request.headers.add("Contact", value)
            agent.finish_via(request, destination)
            if challenge is not None:
                agent.authorize(request, challenge, str(target))
            return request

        self.cseq += 1
        started = time.perf_counter()
        _, response, request = await agent.send(make, target)
        if response.status in (401, 407) and agent.credentials is not None:
            challenge = response
            self.cseq += 1
            started = time.perf_counter()
            _, response, request = await agent.send(make, target)
            return Exchange(request, response, (time.perf_counter() - started) * 1000, True)
        return Exchange(request, response, (time.perf_counter() - started) * 1000)
