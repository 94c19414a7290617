"""What a running SIPp scenario's calls hand to their engine besides SIP: RTP
(play_pcap, rtp_stream, echo), ``<exec command>``, ``<setdest>``, rtd samples and
``<log>`` lines for the trace files, and the 3PCC twin link.  A mixin of
:class:`~sipwright.scenario.sippxml.engine.SippEngine`, whose state it uses.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import datetime
from typing import IO

from sipwright.load.metrics import RunMetrics
from sipwright.media.errors import MediaError
from sipwright.net.address import Destination, Flow
from sipwright.report.sipp_files import ErrorLog
from sipwright.report.sipp_stats import FailReason, Snapshot
from sipwright.scenario.sippxml.call import CallState, ScenarioCall
from sipwright.scenario.sippxml.clock import clock as _clock
from sipwright.scenario.sippxml.engine_settings import EngineSettings
from sipwright.scenario.sippxml.model import RecvCmd, Scenario
from sipwright.scenario.sippxml.program import find_capture
from sipwright.scenario.sippxml.scenario_media import ScenarioMedia, parse_stream
from sipwright.scenario.sippxml.twin import TwinLink, command_call_id, is_abort

__all__ = ["EngineWork"]


class EngineWork:
    """State and methods it relies on are the engine's (see SippEngine)."""

    settings: EngineSettings
    scenario: Scenario
    stats: Snapshot
    metrics: RunMetrics | None
    media: ScenarioMedia | None
    twin: TwinLink | None
    calls: dict[str, ScenarioCall]
    last_error: str | None
    _dead: set[str]
    _flows: dict[str, Flow]
    _destinations: dict[str, Destination]
    _sending: set[asyncio.Future[None]]
    _rtt_out: IO[str] | None
    _log_out: IO[str] | None
    _error_log: ErrorLog | None
    _stop: str | None
    _draining: bool
    _numbers: itertools.count[int]
    _loop: asyncio.AbstractEventLoop | None

    def _now(self) -> float:
        raise NotImplementedError

    def _new_call(self, call_id: str, number: int, now: float) -> ScenarioCall:
        raise NotImplementedError

    def _after(self, call: ScenarioCall, now: float) -> None:
        raise NotImplementedError

    def _settle(self, call: ScenarioCall, now: float) -> None:
        raise NotImplementedError

    def request_stop(self, why: str = "stop") -> None:
        raise NotImplementedError

    def _poke(self) -> None:
        raise NotImplementedError

    def _media_work(self, call: ScenarioCall) -> None:
        media = self.media
        for kind, value in call.media_requests:
            if kind == "exec":
                self._keep(asyncio.ensure_future(self._exec(value)))
                continue
            if kind == "setdest":
                self._set_destination(call, value)
                continue
            if media is None:
                continue
            if kind == "stream":
                self._stream_work(call, media, value)
                continue
            if kind == "echo":
                task = asyncio.ensure_future(media.set_echo(value == "on"))
                self._sending.add(task)
                task.add_done_callback(self._sending.discard)
            else:
                remote = call.remote_video if kind == "play_video" else call.remote_media
                if remote is None:
                    medium = "video" if kind == "play_video" else "audio"
                    call.error_events.append(
                        f"Call-Id: {call.call_id}: play_pcap_{medium} {value}: no SDP "
                        f"received that says where to send the {medium}"
                    )
                else:
                    media.play(str(find_capture(value)), remote)
        call.media_requests.clear()

    def _stream_work(self, call: ScenarioCall, media: ScenarioMedia, value: str) -> None:
        if value == "pause":
            media.pause(call.call_id)
        elif value == "resume":
            media.resume(call.call_id)
        elif call.remote_media is None:
            call.error_events.append(
                f"Call-Id: {call.call_id}: rtp_stream {value}: no SDP received "
                "that says where to send the audio"
            )
        else:
            try:
                media.stream(call.call_id, parse_stream(value), call.remote_media)
            except MediaError as error:
                call.error_events.append(f"Call-Id: {call.call_id}: {error}")

    def _keep(self, task: asyncio.Future[None]) -> None:
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _exec(self, command: str) -> None:
        """<exec command>: run by the shell, in the background, as SIPp's system()."""
        try:
            process = await asyncio.create_subprocess_shell(
                command, stdin=asyncio.subprocess.DEVNULL
            )
            await process.wait()
        except OSError as error:
            self.last_error = f"exec {command!r}: {error}"

    def _set_destination(self, call: ScenarioCall, value: str) -> None:
        """<setdest>: this call's next messages go to host:port over the protocol."""
        protocol, host, port = value.split(" ", 2)
        transport = {"udp": "udp", "tcp": "tcp", "tls": "tls"}.get(protocol)
        if transport is None or not port.isdigit():
            call.error_events.append(f"Call-Id: {call.call_id}: setdest {value!r} is invalid")
            return
        self._destinations[call.call_id] = Destination(transport, host, int(port))
        self._flows.pop(call.call_id, None)

    def _rtd_latency(self, name: str, ms: float) -> None:
        if self.metrics is not None:
            self.metrics.latency(f"rtd:{name}", ms, self._now())
        if self._rtt_out is not None:
            # -trace_rtt as SIPp writes it: when (ms since the epoch), the time, the rtd.
            self._rtt_out.write(f"{time.time() * 1000:.6f};{ms:.6f};{name}\n")

    def _scenario_log(self, level: str, text: str) -> None:
        """<log> goes to -trace_logs; <warning> and <error> to -trace_err too."""
        if self._log_out is not None:
            self._log_out.write(text + "\n")
            self._log_out.flush()
        if level != "log":
            self.last_error = text
            if self._error_log is not None:
                self._error_log.write(text, datetime.now())

    # --- 3PCC twin ---------------------------------------------------------------------

    async def _open_twin(self) -> None:
        """-3pcc: listen when the first twin command is <recvCmd>, else connect."""
        mode, where = self.scenario.threepcc, self.settings.twin
        if mode == "none" or where is None:
            return
        # When one twin ends, the other stops gracefully (SIPp: "One of the twin
        # instances has ended -> exiting").
        self.twin = TwinLink(self._on_command, lambda: self.request_stop("stop_gracefully"))
        if mode == "controller-b":
            await self.twin.listen(*where)
        else:
            await self.twin.connect(*where)

    def _on_command(self, text: str) -> None:
        loop = self._loop
        if loop is None:
            return
        now = _clock()
        call_id = command_call_id(text)
        if call_id is None:
            self.stats.out_of_call_message()
            return
        call = self.calls.get(call_id)
        if call is None:
            if call_id in self._dead:
                self.stats.dead_call_message()
            elif (
                not is_abort(text)
                and self.scenario.commands
                and isinstance(self.scenario.commands[0], RecvCmd)
                and self._stop is None
                and not self._draining
            ):
                # The B side controller: a command opens a call with the twin's Call-ID.
                call = self._new_call(call_id, next(self._numbers), now)
                call.started_at = now
                call.receive_command(text, now)
                self._after(call, now)
            else:
                self.stats.out_of_call_message()
            self._poke()
            return
        if is_abort(text):
            call.aborted_by_twin = True
            call.state, call.failure = CallState.FAILED, FailReason.CALL_REJECTED
            call.error, call.ended_at = "aborted by the 3PCC twin", now
            self._settle(call, now)
        else:
            call.receive_command(text, now)
            self._after(call, now)
        self._poke()
