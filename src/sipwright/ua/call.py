"""Calls: ``OutgoingCall`` (we sent the INVITE) and ``IncomingCall`` (we got it).

An outgoing call runs in one task that reads the INVITE transaction's responses:
provisional ones create early dialogs, the 2xx is ACKed along the dialog's route
set (§13.2.2.4, and again for every retransmitted 2xx), 401/407 are answered with
digest credentials, 3xx are followed, anything else fails the call.  An incoming
call answers through its server transaction and retransmits its 2xx from the
endpoint's timer loop until the ACK arrives (§13.3.1.4, RFC 6026).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine, Sequence
from typing import TYPE_CHECKING

from sipwright.media.call_stats import DetectedDigit
from sipwright.media.dtmf import format_dtmf_relay, parse_dtmf_relay
from sipwright.media.errors import MediaError
from sipwright.net.address import Destination, Flow
from sipwright.net.endpoint import ClientTransactionHandle, ServerTransactionHandle
from sipwright.net.transport_layer import TransportError
from sipwright.sip.answer_retransmit import AckTimeout, AnswerRetransmitter
from sipwright.sip.builders import build_request, new_call_id, new_tag
from sipwright.sip.dialog import Dialog, DialogState
from sipwright.sip.dialog_set import UacDialogSet
from sipwright.sip.errors import ParseError, ProtocolError
from sipwright.sip.message import Request, Response, make_response
from sipwright.sip.sdp import SessionDescription
from sipwright.sip.sdp_negotiation import NegotiationError, build_answer, build_offer
from sipwright.sip.transaction_client import make_cancel
from sipwright.sip.uri import SipURI, parse_uri
from sipwright.ua.call_media import CallMedia, DtmfMode, MediaOptions
from sipwright.ua.record import CallRecord
from sipwright.ua.session import DialogRequests, session_timer_of

if TYPE_CHECKING:
    from sipwright.media.session import MediaSession
    from sipwright.ua.agent import Agent

__all__ = ["CallFailed", "IncomingCall", "OutgoingCall"]

_MAX_ATTEMPTS = 5  # digest retries plus 3xx redirections (§8.1.3.4)
_MEDIA_PORT = 40000  # announced in SDP when media is disabled (MediaOptions(enabled=False))
_DTMF_RELAY = "application/dtmf-relay"


class CallFailed(Exception):
    """The call did not get (or keep) a 2xx: ``status`` is the final response code,
    or None when there was none (timeout, transport error)."""

    def __init__(self, response: Response | None, reason: str = "") -> None:
        self.response = response
        self.status = response.status if response is not None else None
        self.reason = response.reason if response is not None else reason
        text = f"{self.status} {self.reason}" if response is not None else reason
        super().__init__(f"call failed: {text}")


def _reliable(response: Response) -> bool:
    """A reliable provisional response (RFC 3262 §3: Require: 100rel and RSeq)."""
    require = (response.headers.get("Require") or "").lower()
    return "100rel" in require and "RSeq" in response.headers


def _summary(message: Request | Response) -> str:
    if isinstance(message, Request):
        return f"{message.method} {message.uri}"
    return f"{message.status} {message.reason} ({message.cseq.method})"


class _Call:
    """What both directions share: the record, the dialog and in-dialog requests."""

    def __init__(self, agent: Agent, record: CallRecord) -> None:
        self.agent = agent
        self.record = record
        self.session = DialogRequests(agent, record)
        self.ended = asyncio.Event()
        self.destination: Destination | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.call_media: CallMedia | None = None
        self._digits: asyncio.Queue[DetectedDigit] = asyncio.Queue()

    def _spawn(self, work: Coroutine[object, object, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def is_ended(self) -> bool:
        return self.ended.is_set()

    @property
    def dialog(self) -> Dialog | None:
        return self.session.dialog

    @dialog.setter
    def dialog(self, dialog: Dialog | None) -> None:
        self.session.dialog = dialog

    @property
    def on_hold(self) -> bool:
        return self.session.on_hold

    async def hold(self) -> Response:
        """Re-INVITE with a=sendonly (RFC 3264 §8.4); returns the final response."""
        return await self.session.hold()

    async def unhold(self) -> Response:
        return await self.session.unhold()

    async def send_request(
        self, method: str, *, body: bytes = b"", content_type: str | None = None
    ) -> Response:
        """Any request inside the dialog (INFO, UPDATE, MESSAGE, OPTIONS ...)."""
        response, _, _ = await self.session.send(method, body=body, content_type=content_type)
        return response

    def _now(self) -> float:
        return self.agent.endpoint.now()

    # --- media and DTMF -------------------------------------------------------------------

    @property
    def media(self) -> MediaSession | None:
        """The RTP session (``call.media.stats``), once media is set up."""
        return None if self.call_media is None else self.call_media.session

    def _setup_media(self, options: MediaOptions | None, transport: str) -> None:
        options = MediaOptions() if options is None else options
        if options.enabled:
            self.call_media = CallMedia(options, transport)

    def _start_media(self, remote: SessionDescription | None) -> str | None:
        """Start RTP from the negotiated descriptions; the reason when it cannot."""
        local = self.session.local_sdp
        if self.call_media is None or self.call_media.session is None or local is None:
            return None
        if remote is None:
            return "no SDP from the peer: no media"
        self.call_media.session.on_digit = self._digit
        try:
            self.call_media.start(local, remote)
        except (NegotiationError, MediaError) as error:
            return f"media: {error}"
        return None

    def _digit(self, detected: DetectedDigit) -> None:
        self.record.digit(detected)
        self._digits.put_nowait(detected)

    async def send_dtmf(self, digits: str, mode: DtmfMode | None = None) -> None:
        """Send DTMF: RFC 4733 events, in-band tones or SIP INFO (application/dtmf-relay)."""
        options = self.call_media.options if self.call_media is not None else None
        mode = mode or (options.dtmf_mode if options is not None else "info")
        if mode != "info":
            if self.call_media is None:
                raise MediaError("this call has no media session for RTP DTMF")
            await self.call_media.send_dtmf(digits, mode)
            return
        for digit in digits:
            response = await self.send_request("INFO", body=format_dtmf_relay(digit),
                                               content_type=_DTMF_RELAY)  # fmt: skip
            if response.status >= 300:
                raise CallFailed(response, f"INFO for DTMF {digit} got {response.status}")

    async def dtmf(self) -> AsyncIterator[DetectedDigit]:
        """Each DTMF digit the peer sends, whichever way (RFC 4733, in-band, INFO)."""
        while True:
            yield await self._digits.get()

    def _end(self, by: str, error: str | None = None) -> None:
        if self.ended.is_set():
            return
        self.session.stop()
        if self.call_media is not None:
            self.call_media.close()
            if self.call_media.session is not None and self.call_media.started:
                self.record.media = self.call_media.session.stats
        self.record.ended = self._now()
        self.record.ended_by = by
        if error:
            self.record.errors.append(error)
        self.ended.set()

    async def wait_ended(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self.ended.wait(), timeout)

    def in_dialog(self, request: Request, flow: Flow) -> None:
        """A request inside our dialog (§12.2.2)."""
        self.record.note(self._now(), "received", _summary(request))
        if request.method == "ACK":
            self._ack(request)
            return
        handle = self.agent.endpoint.accept(request, flow)
        status = self.dialog.receive_request(request) if self.dialog is not None else 481
        if status is not None:
            handle.reply(status)
            return
        if request.method == "BYE":
            handle.reply(200)
            self._end("remote")
        elif request.method in ("INVITE", "UPDATE"):
            # A re-INVITE or UPDATE (hold, session refresh): accept it with our SDP.
            response = make_response(request, 200)
            self._add_contact(response)
            local = self.session.local_sdp
            if local is not None and request.body:
                response.set_body(bytes(local), "application/sdp")
                with contextlib.suppress(ParseError):
                    self._start_media(SessionDescription.parse(request.body))
            timer = session_timer_of(request)
            if timer is not None:
                response.headers.add("Session-Expires", f"{timer[0]};refresher={timer[1] or 'uac'}")
                response.headers.add("Require", "timer")
            handle.respond(response)
        else:
            if request.method == "INFO" and request.content_type == _DTMF_RELAY:
                digit = parse_dtmf_relay(request.body)
                if digit is not None:
                    self._digit(DetectedDigit(digit, self._now(), "info"))
            handle.reply(200)

    def _ack(self, ack: Request) -> None:
        del ack

    def _add_contact(self, response: Response) -> None:
        if self.dialog is not None:
            response.headers.add("Contact", str(self.dialog.local_target))

    async def _in_dialog_request(self, method: str) -> Response:
        response, _, _ = await self.session.send(method)
        return response


class OutgoingCall(_Call):
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
        self._task = asyncio.create_task(self._run())

    async def answered(self, timeout: float | None = None) -> Response:
        """The 2xx; raises ``CallFailed`` for a 3xx-6xx, a timeout or transport error."""
        return await asyncio.wait_for(asyncio.shield(self._answered), timeout)

    async def hangup(self) -> None:
        """BYE when answered, CANCEL while still ringing (§9.1, §15.1.1)."""
        if self.is_ended:
            return
        if self.dialog is not None and self.dialog.state is DialogState.CONFIRMED:
            response = await self._in_dialog_request("BYE")
            self._end("local", None if response.status < 300 else f"BYE got {response.status}")
            if self.dialog is not None:
                self.dialog.terminate()
            return
        if self.invite is not None and self.destination is not None and self.final is None:
            cancel = make_cancel(self.invite)
            self.record.note(self._now(), "sent", _summary(cancel))
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
                self.record.note(self._now(), "sent", _summary(request))
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
                offer = build_offer(address=host.strip("[]"), port=_MEDIA_PORT)
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
            self.record.note(now, "received", _summary(response))
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
            self.record.note(self._now(), "sent", _summary(ack))
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
            # §13.3.1.4: no ACK within 64*T1: confirm, then end the session with BYE.
            self.call.record.errors.append("no ACK for the 2xx")
            self.call._spawn(self.call.hangup())


class IncomingCall(_Call):
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
        self.cancelled = False
        self._timer: _AnswerTimer | None = None
        self.remote_sdp: SessionDescription | None = None
        with contextlib.suppress(ParseError):
            if self.request.body and self.request.content_type == "application/sdp":
                self.remote_sdp = SessionDescription.parse(self.request.body)
        self.record.note(self.record.started, "received", _summary(self.request))

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
        self.record.note(self._now(), "sent", _summary(response))
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
                    answer = build_answer(self.remote_sdp, address=host, port=_MEDIA_PORT + 2)
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
        self.record.note(now, "sent", _summary(response))
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
        self.record.note(self._now(), "sent", _summary(response))
        self.handle.respond(response)
        self._end("local")

    def cancelled_by_peer(self) -> None:
        """CANCEL matched our INVITE: 487 to the INVITE (§9.2)."""
        self.cancelled = True
        response = self._response(487)
        self.answered_response = response
        self.record.final_status = 487
        self.record.final_reason = response.reason
        self.record.note(self._now(), "sent", _summary(response))
        self.handle.respond(response)
        self._end("cancel")

    def _ack(self, ack: Request) -> None:
        if self._timer is not None:
            self._timer.retransmitter.ack_received()
            self.agent.endpoint.remove_timer_source(self._timer)
        self.acked.set()

    async def hangup(self) -> None:
        """BYE once answered; before that, reject with 480 (§15)."""
        if self.is_ended:
            return
        if self.answered_response is None:
            self.reject(480)
            return
        response = await self._in_dialog_request("BYE")
        self._end("local", None if response.status < 300 else f"BYE got {response.status}")
