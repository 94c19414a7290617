"""Registration (RFC 3261 §10): REGISTER with digest retry, refresh before expiry,
unregister on exit, GRUU (RFC 5627) when the registrar offers one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sipwright.net.address import Destination, Flow
from sipwright.sip.builders import build_request, new_call_id, new_tag
from sipwright.sip.errors import ParseError
from sipwright.sip.message import Request, Response
from sipwright.sip.uri import SipURI, parse_uri

if TYPE_CHECKING:
    from sipwright.ua.agent import Agent

__all__ = ["Registration", "RegistrationFailed"]


class RegistrationFailed(Exception):
    def __init__(self, response: Response | None, reason: str = "") -> None:
        self.response = response
        self.status = response.status if response is not None else None
        text = f"{response.status} {response.reason}" if response is not None else reason
        super().__init__(f"registration failed: {text}")


class Registration:
    """One binding of our contact at one registrar."""

    def __init__(
        self,
        agent: Agent,
        registrar: str,
        user: str | None,
        expires: int,
        *,
        extra_contacts: Sequence[str] = (),
    ) -> None:
        uri = parse_uri(registrar)
        if not isinstance(uri, SipURI):
            raise ValueError(f"registrar must be a sip: or sips: URI, not {registrar!r}")
        self.agent = agent
        self.registrar = uri
        self.aor = f"sip:{user or 'sipwright'}@{uri.host}"
        self.requested = expires
        # More bindings for the same AOR in the same REGISTER (§10.2.1.2: several
        # Contact values), e.g. a desk phone and a soft client.
        self.extra_contacts = list(extra_contacts)
        self.bindings: list[str] = []
        self.expires: int | None = None  # what the registrar granted
        self.contact: str | None = None
        self.gruu: str | None = None
        self.response: Response | None = None
        # The flow (connection) the binding was made over: on TCP/TLS/WS the registrar
        # sends our incoming requests back along it (RFC 5626 §3, RFC 5923).
        self.flow: Flow | None = None
        self.call_id = new_call_id()
        self.tag = new_tag()
        self.cseq = 0
        self._refresher: asyncio.Task[None] | None = None

    async def register(self, *, refresh: bool = True, expires: int | None = None) -> Response:
        wanted = self.requested if expires is None else expires
        response = await self._send(wanted)
        if response.status in (401, 407):
            challenge = response
            response = await self._send(wanted, challenge)
        self.response = response
        if not 200 <= response.status < 300:
            raise RegistrationFailed(response)
        if wanted == 0:
            self.expires = 0
            return response
        self.expires = self._granted(response, wanted)
        with contextlib.suppress(ParseError):
            self.bindings = [str(binding.uri) for binding in response.contacts]
        self.gruu = self._gruu(response)
        if refresh and self.expires and self._refresher is None:
            self._refresher = asyncio.create_task(self._refresh_loop())
        return response

    def keep(self) -> None:
        """Stop refreshing and leave the binding at the registrar until it expires
        (the agent will not unregister it on exit)."""
        if self._refresher is not None:
            self._refresher.cancel()
            self._refresher = None
        with contextlib.suppress(ValueError):
            self.agent.registrations.remove(self)

    async def unregister(self) -> Response:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
            self._refresher = None
        response = await self.register(refresh=False, expires=0)
        with contextlib.suppress(ValueError):
            self.agent.registrations.remove(self)
        return response

    async def _refresh_loop(self) -> None:
        # Refresh ahead of expiry: half-way for short bindings, 10 % early otherwise
        # (RFC 3261 §10.2.4 leaves the margin to the UA; RFC 5626 §4.2.1 uses 10 %).
        while self.expires:
            delay = self.expires / 2 if self.expires < 60 else self.expires * 0.9
            await asyncio.sleep(delay)
            await self.register(refresh=False)

    async def _send(self, expires: int, challenge: Response | None = None) -> Response:
        self.cseq += 1
        cseq = self.cseq
        agent = self.agent

        def make(destination: Destination) -> Request:
            host, port, contact = agent.local_parts(destination)
            self.contact = contact
            request = build_request(
                "REGISTER",
                self.registrar,
                from_=f"<{self.aor}>;tag={self.tag}",
                to=f"<{self.aor}>",
                call_id=self.call_id,
                cseq=cseq,
                via_transport=destination.transport.upper(),
                via_host=host,
                via_port=port,
                contact=contact,
                extra_headers=[
                    ("Expires", str(expires)),
                    ("Supported", "gruu, path, outbound"),
                    ("User-Agent", agent.user_agent),
                ],
            )
            for extra in self.extra_contacts:
                request.headers.add("Contact", extra if extra.startswith("<") else f"<{extra}>")
            agent.finish_via(request, destination)
            if challenge is not None:
                agent.authorize(request, challenge, str(self.registrar))
            return request

        handle, response, _ = await agent.send(make, self.registrar)
        self.flow = handle.flow
        return response

    def _granted(self, response: Response, asked: int) -> int:
        """§10.2.4: the expiry of our binding in the 200, else its Expires, else ours."""
        ours = self.contact or ""
        try:
            for binding in response.contacts:
                if str(binding.uri) in ours:
                    value = binding.params.get("expires")
                    if value is not None and value.isdigit():
                        return int(value)
        except ParseError:
            pass
        header = response.headers.first("Expires")
        return int(header) if header and header.isdigit() else asked

    def _gruu(self, response: Response) -> str | None:
        """RFC 5627 §5.2: pub-gruu on our Contact in the 200, when offered."""
        with contextlib.suppress(ParseError):
            for binding in response.contacts:
                value = binding.params.get("pub-gruu")
                if value:
                    return value.strip('"')
        return None
