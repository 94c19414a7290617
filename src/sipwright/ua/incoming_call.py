"""``IncomingCall``: a call we received (the peer sent the INVITE).

It answers through its INVITE server transaction and retransmits its 2xx from the
endpoint's single timer loop until the ACK arrives (§13.3.1.4, RFC 6026 §7.1).  It
sends no BYE before that ACK, or before the retransmissions give up after 64*T1
(§15: "the callee's UA MUST NOT send a BYE on a confirmed dialog until it has
received an ACK for its 2xx response or until the server transaction times out").
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from sipwright.net.address import Flow
from sipwright.net.endpoint import ServerTransactionHandle
from sipwright.net.transport_layer import TransportError
from sipwright.sip.answer_retransmit import AckTimeout, AnswerRetransmitter
from sipwright.sip.builders import new_tag
from sipwright.sip.dialog import Dialog
from sipwright.sip.errors import ParseError
from sipwright.sip.message import Request, Response, make_response
from sipwright.sip.sdp import SessionDescription
from sipwright.sip.sdp_negotiation import NegotiationError, build_answer
from sipwright.ua.call import MEDIA_PORT, CallBase, CallFailed, summary
from sipwright.ua.call_media import MediaOptions
from sipwright.ua.record import CallRecord
from sipwright.ua.session import session_timer_of

if TYPE_CHECKING:
    from sipwright.ua.agent import Agent

__all__ = ["IncomingCall"]


class _AnswerTimer:
    """Feeds an ``AnswerRetransmitter`` from the endpoint's single timer loop."""

    def __init__(self, call: IncomingCall, retransmitter: AnswerRetransmitter, flow: Flow) -> None:
        self.call = call
        self.retransmitter = retransmitter
        self.flow = flow

    def next_timer(self) -> float | None:
        return self.retransmitter.next_timer() if self.retransmitter.active else None

    def handle_timer(self, now: float) -> None:
        self.retransmitter.handle_timer(now)
        endpoint = self.call.agent.endpoint
        for message in self.retransmitter.messages_to_send():
            with contextlib.suppress(TransportError):
                endpoint.send_on(self.flow, message)
        if isinstance(self.retransmitter.next_event(), AckTimeout):
            self.call.ack_timed_out()


class IncomingCall(CallBase):
    """A call we received: ``async for call in agent.incoming()`` hands it over."""

    def __init__(self, agent: Agent, handle: ServerTransactionHandle, flow: Flow) -> None:
        request = handle.request
        super().__init__(
            agent,
            CallRecord(
                call_id=request.call_id,
                direction="incoming",
                local_uri=str(request.to.uri),
                remote_uri=str(request.from_.uri),
                transport=flow.transport,
                started=agent.endpoint.now(),
            ),
        )
        self.handle = handle
        self.flow = flow
        self.request = handle.request
        self.to_tag = new_tag()
        self.answered_response: Response | None = None
        self.acked = asyncio.Event()
        self._ack_wait_over = asyncio.Event()  # ACK arrived, timed out, or call ended
        self.cancelled = False
        self._timer: _AnswerTimer | None = None
        self.remote_sdp: SessionDescription | None = None
        with contextlib.suppress(ParseError):
            if self.request.body and self.request.content_type == "application/sdp":
                self.remote_sdp = SessionDescription.parse(self.request.body)
        self.record.note(self.record.started, "received", summary(self.request))

    def dialog_problem(self) -> ParseError | None:
        """Why this INVITE cannot create a dialog (no Contact, §8.1.1.8; a bad
        Record-Route or Contact, §12.1.1), found before anyone answers it."""
        try:
            Dialog.from_uas(self.request, self._response(200))
        except ParseError as error:
            return error
        return None

    def refuse(self, error: ParseError) -> None:
        """Answer an INVITE that cannot create a dialog with 400 (or the status the
        error suggests) and a Warning naming the problem; the call ends there."""
        response = self._response(error.status_hint)
        text = " ".join(str(error).split()).replace("\\", "/").replace('"', "'")[:200]
        response.headers.add("Warning", f'399 sipwright "{text}"')
        self.answered_response = response
        self.record.final_status = response.status
        self.record.final_reason = response.reason
        self.record.note(self._now(), "sent", summary(response))
        self.handle.respond(response)
        self._end("error", f"bad INVITE: {error}")

    @property
    def from_uri(self) -> str:
        return str(self.request.from_.uri)

    def _response(self, status: int, reason: str = "") -> Response:
        response = make_response(self.request, status, reason, to_tag=self.to_tag)
        if status < 300:
            host, port = self.flow.local
            scheme = "sips" if self.flow.transport in ("tls", "wss") else "sip"
            param = "" if self.flow.transport == "udp" else f";transport={self.flow.transport}"
            user = self.agent.contact_uri.user or "sipwright"
            host_text = f"[{host}]" if ":" in host else host
            if host_text in ("0.0.0.0", "[::]"):
                host_text = self.request.via.received or self.agent.contact_uri.host
            response.headers.add("Contact", f"<{scheme}:{user}@{host_text}:{port}{param}>")
        return response

    def _ensure_dialog(self, response: Response) -> None:
        if self.dialog is None:
            self.dialog = Dialog.from_uas(self.request, response)
            key = (self.dialog.call_id, self.dialog.local_tag, self.dialog.remote_tag)
            self.agent.register_dialog(key, self)
        self.dialog.response_sent(response)

    async def ring(self, status: int = 180) -> None:
        if self.is_ended or self.answered_response is not None:
            return
        response = self._response(status)
        self._ensure_dialog(response)
        if self.record.ringing is None:
            self.record.ringing = self._now()
        self.record.note(self._now(), "sent", summary(response))
        self.handle.respond(response)

    async def answer(
        self, body: bytes | None = None, *, media: MediaOptions | None = None
    ) -> Response:
        """200 OK with an SDP answer; retransmitted until the ACK (§13.3.1.4).

        With ``media`` (default ``MediaOptions()``) RTP starts on a real port; an offer
        the media policy refuses (e.g. no a=crypto with SRTP mandatory) gets 488."""
        if self.is_ended:
            raise CallFailed(None, "the call already ended (cancelled?)")
        response = self._response(200)
        if body is None and self.remote_sdp is not None:
            host = self.flow.local[0]
            if host in ("0.0.0.0", "::"):
                host = self.agent.contact_uri.host.strip("[]")
            self._setup_media(media, self.flow.transport)
            try:
                if self.call_media is not None:
                    await self.call_media.open(host)
                    answer = self.call_media.answer(self.remote_sdp, host)
                else:
                    answer = build_answer(self.remote_sdp, address=host, port=MEDIA_PORT + 2)
            except NegotiationError as error:
                self.reject(error.status_hint, "Not Acceptable Here")
                self.record.errors.append(f"media: {error}")
                raise CallFailed(self.answered_response, str(error)) from None
            self.session.local_sdp = answer
            body = bytes(answer)
        if body:
            response.set_body(body, "application/sdp")
        timer = session_timer_of(self.request)
        if timer is not None:
            # RFC 4028 §9: accept the interval; the caller refreshes unless it said uas.
            refresher = timer[1] or "uac"
            response.headers.add("Session-Expires", f"{timer[0]};refresher={refresher}")
            response.headers.add("Require", "timer")
            self.session.start_session_timer(timer[0], we_refresh=refresher == "uas")
        self._ensure_dialog(response)
        self.answered_response = response
        now = self._now()
        self.record.answered = now
        self.record.final_status = 200
        self.record.final_reason = response.reason
        self.record.note(now, "sent", summary(response))
        self.handle.respond(response)
        problem = self._start_media(self.remote_sdp)
        if problem is not None:
            self.record.errors.append(problem)
        retransmitter = AnswerRetransmitter(
            response, now, t1=self.agent.endpoint.timers.t1, t2=self.agent.endpoint.timers.t2
        )
        if self.flow.transport == "udp":  # reliable transports need no copies (§17.2.1)
            self._timer = _AnswerTimer(self, retransmitter, self.flow)
            self.agent.endpoint.add_timer_source(self._timer)
        return response

    def reject(self, status: int = 486, reason: str = "") -> None:
        if self.answered_response is not None or self.is_ended:
            return
        response = self._response(status, reason)
        self.answered_response = response
        self.record.final_status = status
        self.record.final_reason = response.reason
        self.record.note(self._now(), "sent", summary(response))
        self.handle.respond(response)
        self._end("local")

    def cancelled_by_peer(self) -> None:
        """CANCEL matched our INVITE: 487 to the INVITE (§9.2)."""
        self.cancelled = True
        response = self._response(487)
        self.answered_response = response
        self.record.final_status = 487
        self.record.final_reason = response.reason
        self.record.note(self._now(), "sent", summary(response))
        self.handle.respond(response)
        self._end("cancel")

    def _ack(self, ack: Request) -> None:
        self._stop_retransmitting()
        self.acked.set()
        self._ack_wait_over.set()

    def ack_timed_out(self) -> None:
        """§13.3.1.4: no ACK within 64*T1: the dialog is confirmed anyway and the
        session is ended with a BYE (in a task of the call's own)."""
        self._stop_retransmitting()
        self.record.errors.append("no ACK for the 2xx")
        self._ack_wait_over.set()
        if not self.is_ended:
            self._spawn(self.hangup())

    def _stop_retransmitting(self) -> None:
        if self._timer is not None:
            self._timer.retransmitter.stop()
            self.agent.endpoint.remove_timer_source(self._timer)
            self._timer = None

    def _end(self, by: str, error: str | None = None) -> None:
        self._stop_retransmitting()
        self._ack_wait_over.set()
        super()._end(by, error)

    async def hangup(self) -> None:
        """BYE once answered and ACKed; before the answer, reject with 480 (§15).

        An answered call still waiting for its ACK waits for it first (§15), at most
        until the 2xx retransmissions give up (64*T1); ``Agent.close()`` bounds that
        wait and abandons what is left."""
        if self.is_ended:
            return
        if self.answered_response is None:
            self.reject(480)
            return
        if not self.acked.is_set():
            # Over TCP/TLS nothing retransmits the 2xx, so bound the wait here too.
            limit = 64 * self.agent.endpoint.timers.t1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ack_wait_over.wait(), limit)
            if self.is_ended:
                return
        await self._bye()
