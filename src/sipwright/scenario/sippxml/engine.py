"""Runs a SIPp scenario on real sockets: calls started at the configured rate (or
created by incoming requests), messages dispatched by Call-ID, one timer loop, SIPp
statistics and exit codes.

Exit codes as SIPp's: 0 every call succeeded, 1 at least one failed, 97 stopped by
an internal command (``stop_now``), 99 no call processed, 255 the global timeout
(``-timeout`` with ``-timeout_error``) or a fatal error.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import os
import random
import signal
import ssl
from collections.abc import Callable
from datetime import datetime
from typing import IO

from sipwright.load.metrics import RunMetrics
from sipwright.load.scheduler import CallScheduler
from sipwright.net.address import Destination, Flow
from sipwright.net.loop import call_at_monotonic
from sipwright.net.transport_layer import TransportLayer
from sipwright.report.sipp_files import (
    ErrorLog,
    MessageLog,
    StatSink,
    TraceStatWriter,
    write_stats_json,
)
from sipwright.report.sipp_stats import Event, FailReason, Snapshot
from sipwright.scenario.sippxml.call import CallState, ScenarioCall
from sipwright.scenario.sippxml.call_context import KeywordContext, RunContext
from sipwright.scenario.sippxml.clock import clock as _clock
from sipwright.scenario.sippxml.engine_control import EngineControl
from sipwright.scenario.sippxml.engine_network import EngineNetwork
from sipwright.scenario.sippxml.engine_settings import EngineSettings
from sipwright.scenario.sippxml.engine_work import EngineWork
from sipwright.scenario.sippxml.injection import InjectionRegistry
from sipwright.scenario.sippxml.model import Recv, Send
from sipwright.scenario.sippxml.program import Program
from sipwright.scenario.sippxml.scenario_media import ScenarioMedia
from sipwright.scenario.sippxml.twin import ABORT_TEMPLATE, TwinLink
from sipwright.sip.errors import ParseError
from sipwright.sip.message import Request, Response

__all__ = ["EngineSettings", "SharedTransport", "SippEngine"]

EXIT_OK, EXIT_FAILED, EXIT_INTERNAL, EXIT_NO_CALLS, EXIT_FATAL = 0, 1, 97, 99, 255
_UNCOUNTED = frozenset({"fatal", "stop_now"})
# Stops asked for from outside (SIGINT/SIGTERM, q/Q): the calls still running are
# aborted, not failed.
_INTERRUPTS = frozenset({"signal", "quit"})


class SharedTransport:
    """One transport layer for a chain of scenarios (``-sf a.xml -sf b.xml``): the same
    sockets and connections throughout, so that a later scenario receives requests on
    the connection an earlier one opened (register over TCP, then answer the calls
    the proxy sends back over it; SIPp cannot do this)."""

    def __init__(self, client_ssl: ssl.SSLContext | None = None) -> None:
        self.engine: SippEngine | None = None
        self.layer = TransportLayer(self._deliver, self._reject, client_ssl=client_ssl, lazy=True)
        self.where: Destination | None = None

    def _deliver(self, message: Request | Response, flow: Flow) -> None:
        if self.engine is not None:
            self.engine._on_message(message, flow)

    def _reject(self, data: bytes, error: ParseError, flow: Flow) -> None:
        if self.engine is not None:
            self.engine._on_malformed(data, error, flow)

    async def listen(
        self,
        transport: str,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None = None,
        *,
        reuse_port: bool = False,
    ) -> Destination:
        if self.where is None:
            self.where = await self.layer.listen(
                transport, host, port, ssl_context=ssl_context, reuse_port=reuse_port
            )
        return self.where

    async def close(self) -> None:
        await self.layer.close()


class SippEngine(EngineControl, EngineWork, EngineNetwork):
    def __init__(
        self,
        program: Program,
        settings: EngineSettings,
        *,
        injection: InjectionRegistry | None = None,
        shared: SharedTransport | None = None,
    ) -> None:
        self.injection = injection
        self.program = program
        self.settings = settings
        self.scenario = program.scenario
        self.client = self.scenario.is_uac
        self.shared = shared or SharedTransport(settings.client_ssl)
        self._owns_transport = shared is None
        self.transports = self.shared.layer
        self.calls: dict[str, ScenarioCall] = {}
        self._flows: dict[str, Flow] = {}
        self._remote_flow: Flow | None = None
        self._destinations: dict[
            str, Destination
        ] = {}  # <setdest> per call  # where calls without a flow yet are sent
        self._dead: set[str] = set()
        self._heap: list[tuple[float, int, ScenarioCall]] = []
        self._seq = itertools.count()
        # Workers number their calls k+1, k+1+N, ...: together 1, 2, 3 ... as one run.
        self._numbers = itertools.count(settings.worker_index + 1, settings.worker_count)
        first = next((c for c in self.scenario.commands if isinstance(c, Recv)), None)
        self._first_request = first.request if first is not None else None
        self._handle: asyncio.TimerHandle | None = None
        self._handle_when = 0.0
        self._done: asyncio.Future[None] | None = None
        self._deadline: float | None = None
        self._next_dump = self._next_sample = 0.0
        # Load statistics (RunMetrics) and whoever watches them every sample_period.
        self.metrics: RunMetrics | None = None
        self.metrics_start: float | None = None  # a shared start for workers' metrics
        self.sample_period = 0.25
        self.on_sample: Callable[[SippEngine, float, bool], None] | None = None
        self._stop: str | None = None
        self.processed = 0
        self.failed = 0
        self.first_error: str | None = None
        self._sending: set[asyncio.Future[None]] = set()
        self.rng = random.Random(settings.seed)
        self.stats: Snapshot
        self.run_context: RunContext
        self.scheduler: CallScheduler | None = None
        self._stat_writer: StatSink | None = None
        # A worker's dumps go to its coordinator, which writes the merged -trace_stat.
        self.stat_sink: StatSink | None = None
        self._message_log: MessageLog | None = None
        self._error_log: ErrorLog | None = None
        self._rtt_out: IO[str] | None = None
        self._log_out: IO[str] | None = None
        self.last_error: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.twin: TwinLink | None = None
        self.media: ScenarioMedia | None = None
        self._early_rate: float | None = None
        self._early_pause = False
        self._draining = False  # stop_gracefully / twin gone: no new calls, let calls end
        self._call_id_pieces: list[str] | None = None  # see _call_id

    # --- life cycle --------------------------------------------------------------------

    async def run(self) -> int:
        loop = self._loop = asyncio.get_running_loop()
        settings = self.settings
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.request_stop, "signal")
        # UDP sends from its listening socket; TCP/WS listen too, so that a peer can
        # open connections to us (a server scenario) and [local_port] is real.
        # (TLS/WSS listen only with a certificate of our own.)
        listens = settings.transport in ("udp", "tcp", "ws") or settings.server_ssl is not None
        self.shared.engine = self
        where = None
        if listens:
            where = await self.shared.listen(
                settings.transport,
                settings.local_ip,
                settings.local_port,
                settings.server_ssl,
                reuse_port=settings.worker_count > 1,
            )
        local_port = where.port if where is not None else settings.local_port
        remote_ip, remote_port = settings.remote or ("127.0.0.1", 5060)
        self.run_context = RunContext(
            service=settings.service,
            remote_ip=remote_ip,
            remote_port=remote_port,
            local_ip=settings.local_ip,
            local_port=local_port,
            transport=settings.transport.upper(),
            media_ip=settings.media_ip or "",
            media_port=settings.media_port,
            auth_username=settings.auth_username,
            auth_password=settings.auth_password,
            injection=self.injection,
        )
        now_wall, now = datetime.now(), _clock()
        scenario = self.scenario
        self.stats = Snapshot(
            start_wall=now_wall,
            start_mono=now,
            rtd_names=list(scenario.rtds),
            response_time_repartition=scenario.response_time_repartition,
            call_length_repartition=scenario.call_length_repartition,
            counter_names=list(scenario.counters),
            target_rate=settings.rate.rate,
        )
        if settings.stat_file is not None:
            self._stat_writer = TraceStatWriter.for_snapshot(settings.stat_file, self.stats)
        elif self.stat_sink is not None:
            self._stat_writer = self.stat_sink
        if self._stat_writer is not None:
            self._stat_writer.write(self.stats, now_wall, now)
        if settings.message_file is not None:
            self._message_log = MessageLog(settings.message_file)
        if settings.error_file is not None:
            self._error_log = ErrorLog(settings.error_file)
        if settings.rtt_file is not None:
            self._rtt_out = settings.rtt_file.open("w", encoding="utf-8")
            self._rtt_out.write("Date_ms;response_time_ms;rtd_no\n")
        if settings.log_file is not None:
            self._log_out = settings.log_file.open("w", encoding="utf-8")
        if self.client:
            self.scheduler = CallScheduler(settings.rate, now, seed=settings.seed or 0)
            # Control input that came before the run started (-cp is open first).
            if self._early_rate is not None:
                self.scheduler.set_rate(self._early_rate, now)
            if self._early_pause:
                self.scheduler.pause(now)
        await self._open_twin()
        if self.scenario.has_media or settings.rtp_echo:
            self.media = ScenarioMedia(settings.media_ip or settings.local_ip, settings.media_port)
            if settings.rtp_echo:
                await self.media.set_echo(True)
        self._deadline = now + settings.global_timeout if settings.global_timeout else None
        self._next_dump = now + settings.stat_period
        self._next_sample = now
        self.metrics = RunMetrics(self.metrics_start if self.metrics_start is not None else now)
        self._done = loop.create_future()
        try:
            self._tick()
            await self._done
        finally:
            if self._handle is not None:
                self._handle.cancel()
                self._handle = None
            self._abort_remaining(_clock())
            self._sample(_clock(), final=True)
            if self._stat_writer is not None:
                self._stat_writer.write(self.stats, datetime.now(), _clock())
                self._stat_writer.close()
            if settings.stats_json is not None:
                write_stats_json(settings.stats_json, self.stats, datetime.now(), _clock())
            if self.twin is not None:
                await self.twin.close()
            if self.media is not None:
                await self.media.close()
            if self._message_log is not None:
                self._message_log.close()
            if self._error_log is not None:
                self._error_log.close()
            for out in (self._rtt_out, self._log_out):
                if out is not None:
                    out.close()
            if settings.screen_file is not None:
                self._write_screen(settings.screen_file, where, _clock())
            self.shared.engine = None
            if self._owns_transport:
                await self.shared.close()
        return self._exit_code()

    # --- the timer: one loop.call_at at the earliest deadline ---------------------------

    def _tick(self) -> None:
        """Start what is due, fire call timers, dump and sample statistics, and re-arm.
        Messages are handled as they arrive (``_on_message``), not here."""
        self._handle = None
        loop = self._loop
        assert loop is not None
        now = _clock()
        if self._stop is None and self._deadline is not None and now >= self._deadline:
            self._stop = "timeout"
        if self._stop is None:
            self._start_calls(now)
            self._fire_timers(now)
            if now >= self._next_dump and self._stat_writer is not None:
                self._stat_writer.write(self.stats, datetime.now(), now)
                self.stats.reset_period(datetime.now(), now)
                self._next_dump = now + self.settings.stat_period
            if now >= self._next_sample:
                self._sample(now)
        if self._stop is not None or self._finished():
            if self._done is not None and not self._done.done():
                self._done.set_result(None)
            return
        self._arm(now)

    def _arm(self, now: float) -> None:
        # Once per tick: the earliest of the sample, the next timer, the global
        # timeout and the next statistics dump, without building a list.
        when = self._next_sample
        timer = self._next_timer()
        if timer is not None and timer < when:
            when = timer
        if self._deadline is not None and self._deadline < when:
            when = self._deadline
        if self._stat_writer is not None and self._next_dump < when:
            when = self._next_dump
        self._arm_at(now if now > when else when)

    def _arm_at(self, when: float) -> None:
        handle = self._handle
        if handle is not None:
            if self._handle_when <= when:
                return
            handle.cancel()
        assert self._loop is not None
        # (uvloop's timer handles have no when(): the time is kept here.)
        self._handle = call_at_monotonic(self._loop, when, self._tick)
        self._handle_when = when

    def _poke(self) -> None:
        """Run the timer now (a stop, a rate change, the end of the run)."""
        if self._loop is not None:
            self._arm_at(_clock())

    def _copy_steps(self, metrics: RunMetrics) -> None:
        """Per-step counters, taken from SIPp's statistics (counted once, there):
        [sent, received, retransmissions, timeouts, unexpected]."""
        commands = self.scenario.commands
        for index, step in self.stats.steps.items():
            command = commands[index] if index < len(commands) else None
            if not isinstance(command, Send | Recv):
                continue
            sent = step.messages if isinstance(command, Send) else 0
            metrics.steps[index] = [
                sent,
                step.messages - sent,
                step.retransmissions,
                step.timeouts,
                step.unexpected,
            ]

    def _sample(self, now: float, *, final: bool = False) -> None:
        """Once every sample period: concurrency into the metrics, then the observer
        (live display, worker pipe)."""
        self._next_sample = now + self.sample_period
        if self.metrics is None:
            return
        self.metrics.concurrent(now, len(self.calls))
        self._copy_steps(self.metrics)
        if self.on_sample is not None:
            self.on_sample(self, now, final)

    @property
    def interrupted(self) -> bool:
        """Stopped from outside (a signal, q/Q) rather than by itself."""
        return self._stop in _INTERRUPTS

    def request_stop(self, why: str = "stop") -> None:
        if why == "stop_gracefully":
            # SIPp's graceful stop: no new calls; the running ones play to their end.
            self._draining = True
        else:
            self._stop = why
        self._poke()

    def _finished(self) -> bool:
        if self._draining:
            return not self.calls
        if self.client:
            assert self.scheduler is not None
            return self.scheduler.finished and not self.calls
        limit = self.settings.rate.max_calls
        return limit is not None and self.processed >= limit and not self.calls

    def _exit_code(self) -> int:
        if self._stop == "fatal" or (self._stop == "timeout" and self.settings.timeout_error):
            return EXIT_FATAL
        if self._stop == "stop_now":
            return EXIT_INTERNAL
        if self.failed:
            return EXIT_FAILED
        if self.processed == 0:
            return EXIT_NO_CALLS
        return EXIT_OK

    @property
    def _where(self) -> Destination | None:
        return self.shared.where

    # --- calls -------------------------------------------------------------------------

    def _new_call(self, call_id: str, number: int, now: float) -> ScenarioCall:
        context = KeywordContext.for_call(
            self.run_context,
            call_number=number,
            call_id=call_id,
            base_cseq=self.settings.base_cseq,
        )
        call = ScenarioCall(
            self.program,
            context,
            self.stats,
            rng=self.rng,
            latency=self._rtd_latency,
            log=self._scenario_log,
        )
        self.calls[call_id] = call
        self.stats.call_created(outgoing=self.client)
        if self.metrics is not None:
            self.metrics.call_started(now)
        return call

    def _call_id(self, number: int) -> str:
        pieces = self._call_id_pieces
        if pieces is None:
            # -cid_str once per run: the pieces around %u, with %p, %s and %% filled in
            # as the replacements used to be, in that order, each call (no piece can end
            # in "%", so the call number joined in cannot make a new %p or %s).
            text = self.settings.call_id_format.replace("%%", "\0")
            pieces = self._call_id_pieces = [
                piece.replace("%p", str(os.getpid()))
                .replace("%s", self.settings.local_ip)
                .replace("\0", "%")
                for piece in text.split("%u")
            ]
        return str(number).join(pieces)

    def _start_calls(self, now: float) -> None:
        if self.scheduler is None or self._stop is not None or self._draining:
            return
        if self.settings.rate_quit and self.scheduler.ramp_exceeded(now):
            self.request_stop("stop_gracefully")
            return
        for _ in range(self.scheduler.due(now)):
            number = next(self._numbers)
            call = self._new_call(self._call_id(number), number, now)
            call.start(now)
            self._after(call, now)

    def _after(self, call: ScenarioCall, now: float) -> None:
        """Send what the call produced, file its timer, settle it if it ended."""
        if call.outbox:
            for data in call.outbox:
                self._send(call, data)
            call.outbox.clear()
        if call.error_events:
            for text in call.error_events:
                self.last_error = text
                if self._error_log is not None:
                    self._error_log.write(text, datetime.now())
            call.error_events.clear()
        if call.media_requests:
            self._media_work(call)
        if call.cmd_outbox:
            for text in call.cmd_outbox:
                if self.twin is None or not self.twin.send(text):
                    call.state, call.failure = CallState.FAILED, FailReason.CMD_NOT_SENT
                    call.error = "no 3PCC twin to send the command to (-3pcc)"
            call.cmd_outbox.clear()
        if call.stop_requested is not None:
            self.request_stop(call.stop_requested)
        if call.state is not CallState.RUNNING:  # (call.finished, without the property)
            self._settle(call, now)
            return
        deadline = call.next_timer()
        if deadline is not None:
            heapq.heappush(self._heap, (deadline, next(self._seq), call))
            if self._handle is None or deadline < self._handle_when:
                self._arm_at(deadline)

    def _settle(self, call: ScenarioCall, now: float) -> None:
        call_id = call.call_id
        self.calls.pop(call_id, None)
        if self.media is not None:
            self.media.stop(call_id)
        self._flows.pop(call_id, None)
        self._destinations.pop(call_id, None)
        self._dead.add(call_id)
        if call.stop_requested in _UNCOUNTED or self._stop in _UNCOUNTED:
            return  # SIPp stops at once on these and counts the call nowhere
        if call.aborted:
            # Stopped by a signal or the keyboard while it ran: neither success nor
            # failure, but counted (started = succeeded + failed + aborted).
            if self.metrics is not None:
                self.metrics.call_aborted(now)
            return
        self.processed += 1
        length = ((call.ended_at or now) - call.started_at) * 1000
        metrics = self.metrics
        if call.state is CallState.SUCCEEDED:
            self.stats.call_succeeded(length)
            if metrics is not None:
                setup = call.answered_at
                setup_ms = (setup - call.started_at) * 1000 if setup is not None else None
                metrics.call_succeeded(now, setup_ms, length)
        else:
            self.failed += 1
            if metrics is not None:
                why = call.failure or FailReason.UNEXPECTED_MESSAGE
                metrics.call_failed(now, why.value, length)
            if self.twin is not None and not call.aborted_by_twin:
                # SIPp tells the twin to abort its side of the call ("3pcc_abort").
                self.twin.send(ABORT_TEMPLATE.format(call_id=call.call_id))
            self.stats.call_failed(call.failure or FailReason.UNEXPECTED_MESSAGE, length)
            if self.first_error is None:
                reason = call.failure.value if call.failure else "failed"
                self.first_error = f"call {call.call_id}: {reason}: {call.error or ''}".rstrip(": ")
        if self.scheduler is not None:
            self.scheduler.call_ended()
            if self.scheduler.settings.users is not None or self.scheduler.settings.max_concurrent:
                self._poke()  # a slot is free: a new call may start now
        if self._finished():
            self._poke()

    def _next_timer(self) -> float | None:
        heap = self._heap
        earliest: float | None = None
        while heap:
            deadline, _, call = heap[0]
            # (A finished call's next_timer() is None: its entries are stale too.)
            if call.next_timer() != deadline:
                heapq.heappop(heap)  # stale entry
                continue
            earliest = deadline
            break
        if self.scheduler is not None and self._stop is None and not self._draining:
            due = self.scheduler.next_due(_clock())
            if due is not None and (earliest is None or due < earliest):
                earliest = due
        return earliest

    def _fire_timers(self, now: float) -> None:
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline, _, call = heapq.heappop(heap)
            if call.next_timer() != deadline:  # stale, or the call has finished
                continue
            events = self.stats.cumulative.events
            before = events[Event.RETRANSMISSIONS]
            call.handle_timer(now)
            if self.metrics is not None and events[Event.RETRANSMISSIONS] != before:
                self.metrics.retransmission(now)
            self._after(call, now)

    def _abort_remaining(self, now: float) -> None:
        interrupted = self._stop in _INTERRUPTS
        for call in list(self.calls.values()):
            call.state = CallState.FAILED
            call.failure = call.failure or FailReason.TIMEOUT_ON_RECV
            call.aborted = interrupted
            self._settle(call, now)
