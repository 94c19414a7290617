"""``OutgoingCall``: the call we place (we sent the INVITE).

It runs in one task that reads the INVITE transaction's responses: provisional ones
create early dialogs (and get a PRACK when reliable, RFC 3262), the 2xx is ACKed
along the dialog's route set (§13.2.2.4, and again for every retransmitted 2xx),
401/407 are answered with digest credentials, 3xx are followed (§8.1.3.4), a 503
fails over to the next server (RFC 3263 §4.3), anything else fails the call.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sipwright.net.address import Destination
from sipwright.net.endpoint import ClientTransactionHandle
from sipwright.net.transport_layer import TransportError
from sipwright.sip.builders import build_request, new_call_id, new_tag
from sipwright.sip.dialog import Dialog, DialogState
from sipwright.sip.dialog_set import UacDialogSet
from sipwright.sip.errors import ParseError, ProtocolError
from sipwright.sip.message import Request, Response
from sipwright.sip.sdp import SessionDescription
from sipwright.sip.sdp_negotiation import NegotiationError, build_offer
from sipwright.sip.transaction_client import make_cancel
from sipwright.sip.uri import SipURI, parse_uri
from sipwright.ua.call import MEDIA_PORT, CallBase, CallFailed, summary
from sipwright.ua.call_media import MediaOptions
from sipwright.ua.record import CallRecord
from sipwright.ua.session import session_timer_of

if TYPE_CHECKING:
    from sipwright.ua.agent import Agent

__all__ = ["OutgoingCall"]

_MAX_ATTEMPTS = 5  # digest retries plus 3xx redirections (§8.1.3.4)


def _reliable(response: Response) -> bool:
    """A reliable provisional response (RFC 3262 §3: Require: 100rel and RSeq)."""
    require = (response.headers.get("Require") or "").lower()
    return "100rel" in require and "RSeq" in response.headers


class OutgoingCall(CallBase):
    """A call we place: ``agent.invite(uri)`` makes and starts it."""

    def __init__(
        self,
        agent: Agent,
        uri: str,
        *,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes | None = None,
        content_type: str = "application/sdp",
        session_expires: int | None = None,
        media: MediaOptions | None = None,
    ) -> None:
        target = parse_uri(uri)
        if not isinstance(target, SipURI):
            raise ValueError(f"cannot call {uri!r}: not a sip: or sips: URI")
        call_id = new_call_id()
        super().__init__(
            agent,
            CallRecord(
                call_id=call_id,
                direction="outgoing",
                local_uri=agent.aor(target.host),
                remote_uri=str(target),
                transport=agent.transport_for(target),
                started=agent.endpoint.now(),
            ),
        )
        self.session_expires = session_expires
        self.target = target
        self.headers = list(headers)
        self.body = body
        self.content_type = content_type
        self.call_id = call_id
        self.from_tag = new_tag()
        self.invite: Request | None = None
        self.final: Response | None = None
        self.remote_sdp: SessionDescription | None = None
        self._answered: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._ack_request: Request | None = None
        self._task: asyncio.Task[None] | None = None
        if body is None:
            self._setup_media(media, self.record.transport)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())
        self._tasks.add(self._task)
        self._task.add_done_callback(self._reap)

    def abandon(self, reason: str) -> None:
        super().abandon(reason)
        if not self._answered.done():
            self._answered.set_exception(CallFailed(None, reason))
            self._answered.exception()  # retrieved here; callers get their own copy

    async def answered(self, timeout: float | None = None) -> Response:
        """The 2xx; raises ``CallFailed`` for a 3xx-6xx, a timeout or transport error."""
        return await asyncio.wait_for(asyncio.shield(self._answered), timeout)

    async def hangup(self) -> None:
        """BYE when answered, CANCEL while still ringing (§9.1, §15.1.1)."""
        if self.is_ended:
            return
        if self.dialog is not None and self.dialog.state is DialogState.CONFIRMED:
            try:
                await self._bye()
            finally:
                if self.dialog is not None:
                    self.dialog.terminate()
            return
        if self.invite is not None and self.destination is not None and self.final is None:
            cancel = make_cancel(self.invite)
            self.record.note(self._now(), "sent", summary(cancel))
            handle = await self.agent.endpoint.request(cancel, self.destination)
            with contextlib.suppress(TimeoutError, TransportError):
                await handle.final_response()
            with contextlib.suppress(asyncio.TimeoutError, CallFailed):
                await asyncio.wait_for(asyncio.shield(self._answered), 32.0)
            if self.dialog is not None and self.dialog.state is DialogState.CONFIRMED:
                await self.hangup()  # the 200 crossed our CANCEL: end it with BYE
                return
        self._end("cancel" if self.final is None or self.final.status == 487 else "local")

    # --- the INVITE task --------------------------------------------------------------

    async def _run(self) -> None:
        try:
            await self._invite_loop()
        except (TimeoutError, TransportError, ParseError, OSError) as error:
            self._fail(None, str(error) or type(error).__name__)
        except CallFailed as error:
            self._fail(error.response, error.reason)

    def _fail(self, response: Response | None, reason: str) -> None:
        if not self._answered.done():
            self._answered.set_exception(CallFailed(response, reason))
            self._answered.exception()  # retrieved here; callers get their own copy
        if response is not None:
            self.record.final_status = response.status
            self.record.final_reason = response.reason
        self._end("error", None if response is not None else reason)

    async def _invite_loop(self) -> None:
        agent = self.agent
        target = self.target
        challenge: Response | None = None
        cseq = 1
        for _ in range(_MAX_ATTEMPTS):
            hop = agent.next_hop(target)
            destinations = await agent.destinations(hop)
            request = None
            for destination in destinations:
                if self.call_media is not None:
                    try:
                        await self.call_media.open(agent.local_parts(destination)[0].strip("[]"))
                    except NegotiationError as error:
                        raise CallFailed(None, str(error)) from None
                request = self._build(destination, target, cseq, challenge)
                self.invite = request
                self.destination = destination
                self.record.note(self._now(), "sent", summary(request))
                try:
                    handle = await agent.endpoint.request(request, destination)
                    final = await self._responses(handle, request)
                except (TimeoutError, TransportError) as error:
                    if destination is destinations[-1]:
                        raise
                    self.record.note(self._now(), "failover", f"{destination}: {error}")
                    continue
                if final.status == 503 and destination is not destinations[-1]:
                    # RFC 3263 §4.3: a 503 means "try the next server".
                    self.record.note(self._now(), "failover", f"{destination}: 503")
                    self.final = None
                    continue
                break
            else:
                raise CallFailed(None, "no destination answered")
            cseq += 1
            if final.status in (401, 407) and challenge is None and agent.credentials:
                challenge = final
                continue
            if 300 <= final.status < 400:
                redirect = self._redirect(final)
                if redirect is not None:
                    target, challenge = redirect, None
                    continue
            if final.status >= 300:
                raise CallFailed(final)
            return
        raise CallFailed(self.final, "too many redirections or challenges")

    def _build(
        self, destination: Destination, target: SipURI, cseq: int, challenge: Response | None
    ) -> Request:
        agent = self.agent
        host, port, contact = agent.local_parts(destination)
        body = self.body
        if body is None:
            if self.call_media is not None:
                offer = self.call_media.offer(host.strip("[]"))
            else:
                offer = build_offer(address=host.strip("[]"), port=MEDIA_PORT)
            self.session.local_sdp = offer
            body = bytes(offer)
        elif self.content_type == "application/sdp":
            with contextlib.suppress(ParseError):
                self.session.local_sdp = SessionDescription.parse(body)
        timers = []
        if self.session_expires is not None:
            # RFC 4028 §7.1: we offer to refresh; the answer may pick the UAS instead.
            timers = [("Session-Expires", f"{self.session_expires};refresher=uac")]
        request = build_request(
            "INVITE",
            target,
            from_=f"<{agent.aor(self.target.host)}>;tag={self.from_tag}",
            to=f"<{self.target.without_params('transport')}>",
            call_id=self.call_id,
            cseq=cseq,
            via_transport=destination.transport.upper(),
            via_host=host,
            via_port=port,
            contact=contact,
            extra_headers=[
                *self.headers,
                *timers,
                ("Supported", "100rel, timer, replaces"),
                ("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, INFO, UPDATE, PRACK"),
                ("User-Agent", agent.user_agent),
            ],
            body=body,
            content_type=self.content_type if body else None,
        )
        agent.finish_via(request, destination)
        if challenge is not None:
            agent.authorize(request, challenge, str(target))
        return request

    def _redirect(self, response: Response) -> SipURI | None:
        """§8.1.3.4: try the first SIP contact of a 3xx."""
        with contextlib.suppress(ParseError):
            for contact in response.contacts:
                if isinstance(contact.uri, SipURI):
                    self.record.note(self._now(), "redirect", str(contact.uri))
                    return contact.uri
        return None

    async def _responses(self, handle: ClientTransactionHandle, request: Request) -> Response:
        dialogs = UacDialogSet(request)
        final: Response | None = None
        async for response in handle.responses():
            now = self._now()
            self.record.note(now, "received", summary(response))
            if response.status < 200:
                if response.status in (180, 183) and self.record.ringing is None:
                    self.record.ringing = now
                with contextlib.suppress(ProtocolError, ParseError):
                    early = dialogs.receive_response(response, now).dialog
                    if early is not None and _reliable(response):
                        self._spawn(self._prack(early, response))
                continue
            if final is None:
                final = response
                self.final = response
                if response.status >= 300:
                    return response
                self._answer(dialogs, response, now)
                self._spawn(self._absorb(handle, dialogs))
                return response
        if final is None:
            raise TimeoutError(f"INVITE to {request.uri}: no final response")
        return final

    async def _prack(self, dialog: Dialog, provisional: Response) -> None:
        """RFC 3262 §4: acknowledge a reliable provisional response with PRACK."""
        with contextlib.suppress(TransportError, TimeoutError, CallFailed, ProtocolError):
            await self.session.prack(dialog, provisional)

    def _answer(self, dialogs: UacDialogSet, response: Response, now: float) -> None:
        outcome = dialogs.receive_response(response, now)
        dialog = outcome.dialog
        if dialog is None:
            raise CallFailed(response, "2xx without a usable dialog")
        self.dialog = dialog
        self.record.answered = now
        self.record.final_status = response.status
        self.record.final_reason = response.reason
        self.agent.register_dialog((dialog.call_id, dialog.local_tag, dialog.remote_tag), self)
        with contextlib.suppress(ParseError):
            if response.body and response.content_type == "application/sdp":
                self.remote_sdp = SessionDescription.parse(response.body)
        self._spawn(self._send_ack(dialog))
        problem = self._start_media(self.remote_sdp)
        if problem is not None:  # e.g. SRTP mandatory and the answer has no key
            self.record.errors.append(problem)
            self._spawn(self.hangup())
        timer = session_timer_of(response)
        if timer is not None:
            interval, refresher = timer
            self.session.start_session_timer(interval, we_refresh=refresher != "uas")
        if not self._answered.done():
            self._answered.set_result(response)

    async def _send_ack(self, dialog: Dialog) -> None:
        agent = self.agent
        target = dialog.remote_target
        if not isinstance(target, SipURI):
            return
        hop = agent.next_hop(target, [str(r) for r in dialog.route_set])
        try:
            destination = (await agent.destinations(hop))[0]
            host, port, _ = agent.local_parts(destination)
            ack = dialog.create_ack(
                via_host=host, via_port=port, via_transport=destination.transport.upper()
            )
            agent.finish_via(ack, destination)
            self._ack_request = ack
            self.record.note(self._now(), "sent", summary(ack))
            await agent.endpoint.send_stateless(ack, destination)
        except (TransportError, OSError, IndexError) as error:
            self.record.errors.append(f"ACK not sent: {error}")

    async def _absorb(self, handle: ClientTransactionHandle, dialogs: UacDialogSet) -> None:
        """2xx retransmissions until Timer M: each gets the same ACK again."""
        with contextlib.suppress(TimeoutError, TransportError):
            async for response in handle.responses():
                if 200 <= response.status < 300 and self._ack_request is not None:
                    outcome = dialogs.receive_response(response, self._now())
                    if outcome.dialog is self.dialog and self.destination is not None:
                        with contextlib.suppress(TransportError):
                            await self.agent.endpoint.send_stateless(
                                self._ack_request, self.destination
                            )
