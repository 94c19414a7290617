"""Mid-call signalling shared by both call directions: in-dialog requests with digest
retry, re-INVITE (hold/unhold, RFC 3264 §8.4) with the 491 glare back-off of
RFC 3261 §14.1, session timers (RFC 4028) and PRACK for reliable provisional
responses (RFC 3262)."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sipwright.net.address import Destination
from sipwright.net.transport_layer import TransportError
from sipwright.sip.dialog import Dialog
from sipwright.sip.errors import ParseError, ProtocolError
from sipwright.sip.message import Request, Response
from sipwright.sip.sdp import SessionDescription
from sipwright.sip.sdp_negotiation import hold, unhold
from sipwright.sip.uri import SipURI

if TYPE_CHECKING:
    from sipwright.ua.agent import Agent
    from sipwright.ua.record import CallRecord

__all__ = ["DialogRequests", "session_timer_of"]

_GLARE_ATTEMPTS = 3


def session_timer_of(message: Request | Response) -> tuple[int, str | None] | None:
    """Session-Expires (RFC 4028 §4): the interval and the refresher, if present."""
    value = message.headers.first("Session-Expires")
    if value is None:
        return None
    number, _, params = value.partition(";")
    if not number.strip().isdigit():
        return None
    refresher = None
    for param in params.split(";"):
        name, _, setting = param.partition("=")
        if name.strip().lower() == "refresher":
            refresher = setting.strip().lower()
    return int(number.strip()), refresher


class DialogRequests:
    """Sends requests inside one dialog on behalf of a call."""

    def __init__(self, agent: Agent, record: CallRecord) -> None:
        self.agent = agent
        self.record = record
        self.dialog: Dialog | None = None
        self.local_sdp: SessionDescription | None = None
        self.on_hold = False
        self.glare_retries = 0
        self._refresh: asyncio.Task[None] | None = None

    def _now(self) -> float:
        return self.agent.endpoint.now()

    async def send(
        self,
        method: str,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        headers: Sequence[tuple[str, str]] = (),
    ) -> tuple[Response, Request, Destination]:
        """One in-dialog request and its final response; a 401/407 is answered once
        with digest credentials (RFC 3261 §22.2: BYE and re-INVITE may be challenged)."""
        dialog = self.dialog
        if dialog is None:
            raise ProtocolError(f"no dialog to send {method} in")
        agent = self.agent
        challenge: Response | None = None
        for _ in range(2):
            sent: list[tuple[Request, Destination]] = []

            def make(
                destination: Destination,
                challenge: Response | None = challenge,
                sent: list[tuple[Request, Destination]] = sent,
            ) -> Request:
                host, port, _ = agent.local_parts(destination)
                request = dialog.create_request(
                    method,
                    via_host=host,
                    via_port=port,
                    via_transport=destination.transport.upper(),
                    body=body,
                    content_type=content_type,
                    extra_headers=headers,
                )
                agent.finish_via(request, destination)
                if challenge is not None:
                    agent.authorize(request, challenge, request.uri)
                self.record.note(self._now(), "sent", f"{request.method} {request.uri}")
                sent.append((request, destination))
                return request

            target = dialog.remote_target
            if not isinstance(target, SipURI):
                raise ProtocolError("the remote target is not a SIP URI")
            route = [str(r) for r in dialog.route_set]
            _, response, _ = await agent.send(make, target, route=route)
            self.record.note(
                self._now(), "received", f"{response.status} {response.reason} ({method})"
            )
            dialog.receive_response(response)
            request, destination = sent[-1]
            if response.status in (401, 407) and challenge is None and agent.credentials:
                challenge = response
                continue
            return response, request, destination
        return response, request, destination

    async def reinvite(self, offer: SessionDescription) -> Response:
        """A re-INVITE with ``offer``; ACKed on 2xx; on 491 retried after the §14.1
        back-off (2.1-4 s for the Call-ID owner, 0-2 s for the other side)."""
        dialog = self.dialog
        if dialog is None:
            raise ProtocolError("no dialog for a re-INVITE")
        for _ in range(_GLARE_ATTEMPTS):
            response, request, destination = await self.send(
                "INVITE", body=bytes(offer), content_type="application/sdp"
            )
            if 200 <= response.status < 300:
                await self._ack(dialog, request, destination)
                self.local_sdp = offer
                return response
            if response.status != 491:
                return response
            self.glare_retries += 1
            low, high = (2.1, 4.0) if dialog.is_caller else (0.0, 2.0)
            await asyncio.sleep(random.uniform(low, high) * self.agent.endpoint.timers.t1 / 0.5)
        return response

    async def _ack(self, dialog: Dialog, invite: Request, destination: Destination) -> None:
        host, port, _ = self.agent.local_parts(destination)
        ack = dialog.create_ack(
            invite.cseq.number,
            via_host=host,
            via_port=port,
            via_transport=destination.transport.upper(),
        )
        self.agent.finish_via(ack, destination)
        self.record.note(self._now(), "sent", f"ACK {ack.uri}")
        with contextlib.suppress(TransportError):
            await self.agent.endpoint.send_stateless(ack, destination)

    async def hold(self) -> Response:
        """Put the call on hold: re-INVITE with sendonly (RFC 3264 §8.4)."""
        if self.local_sdp is None:
            raise ProtocolError("no SDP of ours to put on hold")
        response = await self.reinvite(hold(self.local_sdp))
        if 200 <= response.status < 300:
            self.on_hold = True
        return response

    async def unhold(self) -> Response:
        if self.local_sdp is None:
            raise ProtocolError("no SDP of ours to take off hold")
        response = await self.reinvite(unhold(self.local_sdp))
        if 200 <= response.status < 300:
            self.on_hold = False
        return response

    # --- session timers (RFC 4028) ------------------------------------------------------

    def start_session_timer(self, interval: int, we_refresh: bool) -> None:
        """§7.2/§8: the refresher re-INVITEs at half the interval; we stop there."""
        if self._refresh is not None:
            self._refresh.cancel()
        if we_refresh:
            self._refresh = asyncio.get_running_loop().create_task(self._refresh_loop(interval))

    async def _refresh_loop(self, interval: int) -> None:
        while self.local_sdp is not None:
            await asyncio.sleep(interval / 2)
            with contextlib.suppress(TransportError, TimeoutError, ParseError, ProtocolError):
                response = await self.reinvite(self.local_sdp.bump_version())
                self.record.note(self._now(), "refresh", f"session refresh {response.status}")

    def stop(self) -> None:
        if self._refresh is not None:
            self._refresh.cancel()
            self._refresh = None

    # --- PRACK (RFC 3262 §7.2) ----------------------------------------------------------

    async def prack(self, dialog: Dialog, provisional: Response) -> Response | None:
        rseq = provisional.headers.first("RSeq")
        if rseq is None or not rseq.strip().isdigit():
            return None
        cseq = provisional.cseq
        saved, self.dialog = self.dialog, dialog
        try:
            response, _, _ = await self.send(
                "PRACK", headers=[("RAck", f"{rseq.strip()} {cseq.number} {cseq.method}")]
            )
        finally:
            if saved is not None:
                self.dialog = saved
        return response
