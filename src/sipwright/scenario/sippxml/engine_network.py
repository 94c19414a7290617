"""The network side of a running SIPp scenario: sending each call's messages (over
its own flow, the run's first one, or a <setdest> destination), and taking what
arrives (by Call-ID to its call, a new call for a server scenario, dead or
out-of-call messages, SIPp's automatic answers).  A mixin of
:class:`~sipwright.scenario.sippxml.engine.SippEngine`, whose state it uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from datetime import datetime

from sipwright.load.metrics import RunMetrics
from sipwright.net.address import Destination, Flow
from sipwright.net.transport_layer import TransportError, TransportLayer
from sipwright.report.sipp_files import MessageLog
from sipwright.report.sipp_stats import Event, FailReason, Snapshot
from sipwright.scenario.sippxml.call import CallState, ScenarioCall
from sipwright.scenario.sippxml.clock import clock as _clock
from sipwright.scenario.sippxml.engine_settings import EngineSettings
from sipwright.scenario.sippxml.scenario_media import ScenarioMedia, remote_audio
from sipwright.sip.errors import ParseError
from sipwright.sip.message import Request, Response, make_response

__all__ = ["EngineNetwork"]

_AUTO_ANSWERED = frozenset({"OPTIONS", "INFO", "NOTIFY", "UPDATE"})


class EngineNetwork:
    """State and methods it relies on are the engine's (see SippEngine)."""

    settings: EngineSettings
    stats: Snapshot
    metrics: RunMetrics | None
    media: ScenarioMedia | None
    transports: TransportLayer
    calls: dict[str, ScenarioCall]
    client: bool
    _dead: set[str]
    _flows: dict[str, Flow]
    _remote_flow: Flow | None
    _destinations: dict[str, Destination]
    _sending: set[asyncio.Future[None]]
    _message_log: MessageLog | None
    _first_request: str | None
    _stop: str | None
    _draining: bool
    _numbers: itertools.count[int]
    _loop: asyncio.AbstractEventLoop | None

    def _new_call(self, call_id: str, number: int, now: float) -> ScenarioCall:
        raise NotImplementedError

    def _after(self, call: ScenarioCall, now: float) -> None:
        raise NotImplementedError

    def _settle(self, call: ScenarioCall, now: float) -> None:
        raise NotImplementedError

    def _poke(self) -> None:
        raise NotImplementedError

    # --- network -----------------------------------------------------------------------

    def _send(self, call: ScenarioCall, data: bytes) -> None:
        call_id = call.call_id
        flow = self._flows.get(call_id)
        moved = self._destinations.get(call_id) if self._destinations else None
        if (
            flow is None
            and moved is None
            and self._remote_flow is not None
            and self._remote_flow.is_open
        ):
            # Every call goes to the same place: the socket or connection found for the
            # first one serves them all, without a task per call (the pool would hand
            # out the same one anyway).
            flow = self._flows[call_id] = self._remote_flow
        try:
            if flow is not None and flow.is_open:
                self.transports.send_on(flow, data)
            else:
                if moved is not None:
                    destination = moved
                else:
                    target = self.settings.send_to or self.settings.remote
                    assert target is not None
                    host, port = target
                    destination = Destination(self.settings.transport, host, port)
                # Connecting is asynchronous; keep the task referenced until it ends.
                task = asyncio.ensure_future(self._send_to(call, destination, data))
                self._sending.add(task)
                task.add_done_callback(self._sending.discard)
                return
        except TransportError as error:
            call.error = str(error)
            return
        if self._message_log is not None:
            self._log("sent", flow, data)

    async def _send_to(self, call: ScenarioCall, destination: Destination, data: bytes) -> None:
        try:
            flow = await self.transports.send(data, destination)
        except TransportError as error:
            call.state, call.failure = CallState.FAILED, FailReason.TCP_CONNECT
            call.error = str(error)
            self._settle(call, _clock())
            self._poke()
            return
        self._flows.setdefault(call.call_id, flow)
        if call.call_id not in self._destinations and (
            self._remote_flow is None or not self._remote_flow.is_open
        ):
            self._remote_flow = flow
        self._log("sent", flow, data)

    def _log(self, direction: str, flow: Flow, data: bytes) -> None:
        if self._message_log is not None:
            self._message_log.write(
                "sent" if direction == "sent" else "received",
                flow.transport.upper(),
                (f"{flow.local[0]}:{flow.local[1]}", f"{flow.remote[0]}:{flow.remote[1]}"),
                data,
                datetime.now(),
            )

    def _on_message(self, message: Request | Response, flow: Flow) -> None:
        loop = self._loop
        if loop is None:
            return
        now = _clock()
        raw = message.raw or bytes(message)
        if self._message_log is not None:
            self._log("received", flow, raw)
        try:
            call_id = message.call_id
        except ParseError:
            return
        metrics = self.metrics
        response = message if isinstance(message, Response) else None
        if metrics is not None:
            if response is not None:
                metrics.response(now, response.status)
            elif isinstance(message, Request):
                metrics.request(now, message.method)
        call = self.calls.get(call_id)
        if call is None:
            if call_id in self._dead:
                self.stats.dead_call_message()
                return
            if self._starts_call(message) and self._stop is None and not self._draining:
                self._flows[call_id] = flow
                call = self._new_call(call_id, next(self._numbers), now)
                call.started_at = now
                self._note_media(call, raw)
                call.receive(message, raw, now)
                self._after(call, now)
                return
            self._out_of_call(message, flow)
            return
        if response is not None and call.answered_at is None:
            self._setup_times(call, response, now)
        if self.media is not None:
            self._note_media(call, raw)
        self._flows.setdefault(call_id, flow)
        events = self.stats.cumulative.events
        before = events[Event.RETRANSMISSIONS]
        call.receive(message, raw, now)
        if metrics is not None and events[Event.RETRANSMISSIONS] != before:
            metrics.retransmission(now)
        self._after(call, now)

    def _note_media(self, call: ScenarioCall, raw: bytes) -> None:
        """Where the peer's SDP wants audio and video (for play_pcap, rtp_stream)."""
        if self.media is not None and b"m=" in raw:
            call.remote_media = remote_audio(raw) or call.remote_media
            call.remote_video = remote_audio(raw, video=True) or call.remote_video

    def _setup_times(self, call: ScenarioCall, response: Response, now: float) -> None:
        """PDD (first 180/183) and setup time (first 2xx) of a call's INVITE."""
        status = response.status
        if status < 180 or status >= 300:
            return
        try:
            if response.cseq.method != "INVITE":
                return
        except ParseError:
            return
        if status < 200:
            if call.ringing_at is None:
                call.ringing_at = now
                if self.metrics is not None:
                    self.metrics.latency("pdd", (now - call.started_at) * 1000, now)
        else:
            call.answered_at = now

    def _starts_call(self, message: Request | Response) -> bool:
        if self.client or not isinstance(message, Request):
            return False
        return self._first_request is not None and self._first_request == message.method

    def _out_of_call(self, message: Request | Response, flow: Flow) -> None:
        self.stats.out_of_call_message()
        if (
            self.settings.auto_answer
            and isinstance(message, Request)
            and message.method in _AUTO_ANSWERED
        ):
            with contextlib.suppress(ParseError, TransportError):
                self.transports.send_on(flow, bytes(make_response(message, 200)))
                self.stats.auto_answered()

    def _on_malformed(self, data: bytes, error: ParseError, flow: Flow) -> None:
        del data, error, flow
        self.stats.out_of_call_message()
