"""What both call directions share: ``CallFailed`` and ``CallBase``.

``CallBase`` holds the call record, the dialog and its in-dialog requests (via
:class:`~sipwright.ua.session.DialogRequests`), the requests the peer sends inside
the dialog (§12.2.2), the media glue (RTP session, DTMF both ways) and the end of the
call.  ``OutgoingCall`` (outgoing_call.py) and ``IncomingCall`` (incoming_call.py)
add how each side sets the call up.

Background work of a call (ACKs, PRACKs, the BYE after an ACK timeout) runs in tasks
the call owns: their failures land in ``record.errors``, never in "Task exception was
never retrieved", and ``abandon()`` cancels them when the agent shuts down.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import TYPE_CHECKING

from sipwright.media.call_stats import DetectedDigit
from sipwright.media.dtmf import format_dtmf_relay, parse_dtmf_relay
from sipwright.media.errors import MediaError
from sipwright.net.address import Destination, Flow
from sipwright.net.transport_layer import TransportError
from sipwright.sip.dialog import Dialog
from sipwright.sip.errors import ParseError, ProtocolError
from sipwright.sip.message import Request, Response, make_response
from sipwright.sip.sdp import SessionDescription
from sipwright.sip.sdp_negotiation import NegotiationError
from sipwright.ua.call_media import CallMedia, DtmfMode, MediaOptions
from sipwright.ua.record import CallRecord
from sipwright.ua.session import DialogRequests, session_timer_of

if TYPE_CHECKING:
    from sipwright.media.session import MediaSession
    from sipwright.ua.agent import Agent

__all__ = ["CallBase", "CallFailed", "summary"]

MEDIA_PORT = 40000  # announced in SDP when media is disabled (MediaOptions(enabled=False))
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


def summary(message: Request | Response) -> str:
    """The record's one-line view of a message."""
    if isinstance(message, Request):
        return f"{message.method} {message.uri}"
    return f"{message.status} {message.reason} ({message.cseq.method})"


class CallBase:
    """The record, the dialog, in-dialog requests, media and the end of one call."""

    def __init__(self, agent: Agent, record: CallRecord) -> None:
        self.agent = agent
        self.record = record
        self.session = DialogRequests(agent, record)
        self.ended = asyncio.Event()
        self.destination: Destination | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.call_media: CallMedia | None = None
        self._digits: asyncio.Queue[DetectedDigit] = asyncio.Queue()

    # --- background tasks -------------------------------------------------------------

    def _spawn(self, work: Coroutine[object, object, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._reap)

    def _reap(self, task: asyncio.Task[None]) -> None:
        """Retrieve a finished task's outcome: a failure becomes a record error."""
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            self.record.errors.append(f"{type(error).__name__}: {error}")

    def abandon(self, reason: str) -> None:
        """End the call here without any more signalling (the agent is shutting down
        and the call could not be hung up in time): stop its tasks and media."""
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        if not self.is_ended:
            self._end("local", reason)

    # --- state ------------------------------------------------------------------------

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

    # --- the end --------------------------------------------------------------------------

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

    async def _bye(self) -> None:
        """BYE in the dialog (§15.1.1).  The call ends whatever the outcome: a BYE that
        fails (no answer, transport error) still ends the session for us (§15.1.1,
        "the UAC SHOULD consider the session terminated"), and the error is re-raised."""
        try:
            response, _, _ = await self.session.send("BYE")
        except (CallFailed, TransportError, TimeoutError, ProtocolError) as error:
            self._end("local", f"BYE failed: {error or type(error).__name__}")
            raise
        self._end("local", None if response.status < 300 else f"BYE got {response.status}")

    # --- requests from the peer inside the dialog -----------------------------------------

    def in_dialog(self, request: Request, flow: Flow) -> None:
        """A request inside our dialog (§12.2.2)."""
        self.record.note(self._now(), "received", summary(request))
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
