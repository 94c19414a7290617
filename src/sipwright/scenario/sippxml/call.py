"""One call of a SIPp scenario, as a sans-I/O state machine.

SIPp scenarios work at the message level, not through transactions: a ``<send>``
puts the rendered bytes on the wire (retransmitted on UDP every ``retrans`` ms,
doubling, until the next message arrives), a ``<recv>`` waits for the next message
of the call, skipping optional ones, and anything else is unexpected and fails the
call.  A message matching a ``<recv>`` already passed is a retransmission: it is
counted and answered with what was sent after that ``<recv>``.  Driven like the
rest of sipwright: ``start(now)``, ``receive(message, raw, now)``,
``handle_timer(now)``, ``next_timer()`` and ``outbox``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from enum import Enum

from sipwright.report.sipp_files import (
    recv_timeout_error,
    retrans_timeout_error,
    unexpected_message_error,
)
from sipwright.report.sipp_stats import FailReason, Snapshot
from sipwright.scenario.sippxml.call_actions import CallActions, number, truthy
from sipwright.scenario.sippxml.call_context import KeywordContext, RenderError
from sipwright.scenario.sippxml.model import Command, Nop, Pause, Recv, RecvCmd, Send, SendCmd
from sipwright.scenario.sippxml.posix_regex import compile_posix
from sipwright.scenario.sippxml.program import Program, sample
from sipwright.sip.errors import ParseError
from sipwright.sip.message import Request, Response, parse_message
from sipwright.sip.transaction_client import make_non_2xx_ack

__all__ = ["CallState", "ScenarioCall"]


class CallState(Enum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


_RUNNING = CallState.RUNNING  # (checked several times per message: no property, no lookup)


class ScenarioCall(CallActions):
    """Runs ``program`` for one call; ``outbox`` holds the bytes to send."""

    # Thousands of calls are held at once under load: no per-instance __dict__.
    __slots__ = (
        "_command_text",
        "_in_recv",
        "_invite_data",
        "_invite_index",
        "_last_recv",
        "_pause_until",
        "_received_at",
        "_retrans",
        "_retrans_at",
        "_rtd_done",
        "_rtd_started",
        "_sent_after",
        "_timeout_at",
        "aborted",
        "aborted_by_twin",
        "answered_at",
        "cmd_outbox",
        "commands",
        "context",
        "ended_at",
        "error",
        "error_events",
        "failure",
        "latency",
        "log",
        "media_requests",
        "outbox",
        "program",
        "remote_media",
        "remote_video",
        "ringing_at",
        "rng",
        "started_at",
        "state",
        "stats",
    )

    def __init__(
        self,
        program: Program,
        context: KeywordContext,
        stats: Snapshot,
        *,
        rng: random.Random,
        log: Callable[[str, str], None] = lambda level, text: None,
        latency: Callable[[str, float], None] | None = None,
    ) -> None:
        self.program = program
        self.commands: tuple[Command, ...] = program.scenario.commands
        self.context = context
        self.stats = stats
        self.rng = rng
        self.log = log
        self.index = 0
        self.state = CallState.RUNNING
        self.failure: FailReason | None = None
        self.error: str | None = None
        self.stop_requested: str | None = None  # "stop_now" | "stop_gracefully" | "fatal"
        # SIPp marks a call failed (a check_it on a <recv>, a recv timeout taken to an
        # ontimeout label) but plays the rest of the scenario: the verdict comes at the end.
        self._soft_failure: tuple[FailReason, str] | None = None
        self._in_recv = False
        self.outbox: list[bytes] = []
        self.cmd_outbox: list[str] = []  # 3PCC commands for the twin (<sendCmd>)
        self.aborted_by_twin = False
        # RTP work for the driver: ("play", pcap path) or ("echo", "on"/"off").
        self.media_requests: list[tuple[str, str]] = []
        self.remote_media: tuple[str, int] | None = None  # audio address of the peer's SDP
        self.remote_video: tuple[str, int] | None = None
        # -trace_err entries, in SIPp's words; the driver takes them after each step.
        self.error_events: list[str] = []
        self.started_at = 0.0
        self.latency = latency  # rtd values also go there (load statistics)
        self.aborted = False  # stopped from outside while running
        self.ringing_at: float | None = None  # first 180/183 to the INVITE (PDD)
        self.answered_at: float | None = None  # first 2xx to the INVITE (setup time)
        self.ended_at: float | None = None
        # recv index -> hash of the message taken there (SIPp spots retransmissions by
        # hash too; the bytes themselves need not be kept).
        self._received_at: dict[int, int] = {}
        self._sent_after: dict[int, bytes] = {}  # recv index -> first message sent after
        self._last_recv: int | None = None
        self._retrans: tuple[bytes, float, int, int, bool] | None = None  # data, interval...
        self._retrans_at: float | None = None
        self._timeout_at: float | None = None
        self._pause_until: float | None = None
        self._rtd_started: dict[str, float] = {}
        self._rtd_done: set[str] = set()
        self._invite_index: int | None = None
        self._invite_data: bytes | None = None
        self._command_text: str | None = None  # the 3PCC command being handled

    # --- the driver's side -------------------------------------------------------------

    @property
    def call_id(self) -> str:
        return self.context.call_id

    @property
    def finished(self) -> bool:
        return self.state is not CallState.RUNNING

    def start(self, now: float) -> None:
        self.started_at = now
        self._run(now)

    def next_timer(self) -> float | None:
        # Asked for every timer filed and every stale heap entry: no list, no min().
        if self.state is not _RUNNING:
            return None
        earliest = self._retrans_at or None
        for deadline in (self._timeout_at, self._pause_until):
            if deadline and (earliest is None or deadline < earliest):
                earliest = deadline
        return earliest

    def handle_timer(self, now: float) -> None:
        if self.state is not _RUNNING:
            return
        if self._pause_until is not None and now >= self._pause_until:
            self._pause_until = None
            self.stats.pause_ended(self.index)
            self._advance(self.commands[self.index], now)
            self._run(now)
            return
        if self._retrans_at is not None and now >= self._retrans_at:
            self._retransmit(now)
        if self._timeout_at is not None and now >= self._timeout_at:
            self._recv_timeout(now)

    def receive(self, message: Request | Response, raw: bytes, now: float) -> None:
        """A message of this call (matched by Call-ID)."""
        if self.state is not _RUNNING:
            return
        found = self._find(message)
        if found is None:
            self._retransmission_or_unexpected(message, raw)
            return
        command = self.commands[found]
        assert isinstance(command, Recv)
        self.stats.message(found)
        self._retrans = self._retrans_at = self._timeout_at = None
        try:
            self.context.on_receive(message, raw, rrs=command.rrs, auth=command.auth)
        except RenderError as error:
            self._fail(FailReason.UNEXPECTED_MESSAGE, str(error), now)
            return
        self._received_at[found] = hash(raw)
        self._last_recv = found
        self.index = found
        self._timing(command, now)
        self._in_recv = True
        try:
            if not self._actions(command, message, now):
                return
        finally:
            self._in_recv = False
        self._advance(command, now)
        self._run(now)
        # What this message made us send has gone: a call now waiting keeps the
        # message as bytes only (re-parsed if a later [last_*] needs it).
        self.context.release()

    # --- running commands --------------------------------------------------------------

    def _run(self, now: float) -> None:
        while self.state is _RUNNING:
            if self.index >= len(self.commands):
                self._succeed(now)
                return
            command = self.commands[self.index]
            if command.condexec is not None:
                # condexec: run only if the variable is set (unset with _inverse).
                is_set = truthy(self.context.variables.get(command.condexec))
                if is_set == command.condexec_inverse:
                    self.index += 1
                    continue
            if isinstance(command, Send):
                if not self._send(command, now):
                    return
                continue
            if isinstance(command, SendCmd):
                if not self._send_command(command, now):
                    return
                continue
            if isinstance(command, Recv | RecvCmd):
                timeout = (
                    command.timeout / 1000
                    if isinstance(command, Recv) and command.timeout
                    else None
                )
                timeout = timeout or self.program.settings.recv_timeout
                self._timeout_at = now + timeout if timeout else None
                return
            if isinstance(command, Pause):
                self._pause(command, now)
                return
            if isinstance(command, Nop):
                self._timing(command, now)
                if not self._actions(command, None, now):
                    return
                self._advance(command, now)
                continue
            self._fail(FailReason.CMD_NOT_SENT, f"{type(command).__name__} not supported", now)
            return

    def _send(self, command: Send, now: float) -> bool:
        template = self.program.templates[self.index]
        context = self.context
        context.msg_index = self.index
        if template.method == "INVITE":
            self._invite_index = self.index
            self._invite_data = None  # set below, once rendered
        elif (
            template.method == "CANCEL"
            and self._invite_index is not None
            and "[branch]" in command.message
        ):
            # RFC 3261 §9.1: a CANCEL has the branch of the INVITE it cancels.  SIPp
            # gives every message its own [branch]; here a CANCEL whose Via uses
            # [branch] gets the INVITE's (a literal Via is sent as written).
            context.msg_index = self._invite_index
        context.on_send(template)
        try:
            data = template.render(context)
        except RenderError as error:
            self._fail(FailReason.CMD_NOT_SENT, f"{command.file}:{command.line}: {error}", now)
            return False
        self.outbox.append(data)
        if template.method == "INVITE":
            self._invite_data = data
        self.stats.message(self.index)
        if self._last_recv is not None and self._last_recv not in self._sent_after:
            self._sent_after[self._last_recv] = data
        settings = self.program.settings
        if command.retrans and not settings.reliable and not settings.no_retrans:
            limit = (
                settings.max_invite_retrans
                if command.method == "INVITE"
                else settings.max_non_invite_retrans
            )
            interval = command.retrans / 1000
            self._retrans = (data, interval, 0, limit, command.method == "INVITE")
            self._retrans_at = now + interval
        self._timing(command, now)
        if not self._actions(command, None, now):
            return False
        self._advance(command, now)
        return True

    def _send_command(self, command: SendCmd, now: float) -> bool:
        template = self.program.templates[self.index]
        self.context.msg_index = self.index
        try:
            text = template.render_text(self.context)
        except RenderError as error:
            self._fail(FailReason.CMD_NOT_SENT, f"{command.file}:{command.line}: {error}", now)
            return False
        self.cmd_outbox.append(text)
        self.stats.message(self.index)
        self._timing(command, now)
        if not self._actions(command, None, now):
            return False
        self._advance(command, now)
        return True

    def receive_command(self, text: str, now: float) -> None:
        """A 3PCC command from the twin for this call: it must be what a ``<recvCmd>``
        at or after the current command (past optional ones and ``<nop>``) waits
        for; anything else rejects the call, as in SIPp."""
        if self.finished:
            return
        index = self.index
        while index < len(self.commands):
            command = self.commands[index]
            if isinstance(command, RecvCmd):
                break
            optional = getattr(command, "optional", None)
            skippable = isinstance(command, Nop) or (
                optional is not None and optional.value != "false"
            )
            if not skippable:
                index = len(self.commands)
                break
            index += 1
        if index >= len(self.commands):
            self._fail(FailReason.CALL_REJECTED, "unexpected 3PCC command", now)
            return
        self.stats.message(index)
        self._retrans = self._retrans_at = self._timeout_at = None
        self.index = index
        self._timing(command, now)
        # SIPp drops the CRLFs that end a command before running the actions on it.
        self._command_text = text.rstrip("\r\n")
        self._in_recv = True
        try:
            if not self._actions(command, None, now):
                return
        finally:
            self._in_recv = False
            self._command_text = None
        self._advance(command, now)
        self._run(now)

    def _pause(self, command: Pause, now: float) -> None:
        if command.variable is not None:
            milliseconds = number(self.context.variables.get(command.variable))
        elif command.distribution is not None:
            milliseconds = sample(command.distribution, self.rng)
        else:
            milliseconds = self.program.settings.default_pause * 1000
        self.stats.pause_started(self.index)
        self._timing(command, now)
        self._pause_until = now + milliseconds / 1000

    def _advance(self, command: Command, now: float) -> None:
        """``next`` (with ``test``/``chance``) or the following command."""
        del now
        target = command.next
        failed_test = command.test is not None and not truthy(
            self.context.variables.get(command.test)
        )
        if failed_test or (command.chance is not None and self.rng.random() >= command.chance):
            target = None
        if target is not None:
            self.index = self.program.scenario.labels[target]
        else:
            self.index += 1

    # --- receiving ---------------------------------------------------------------------

    def _matches(self, command: Recv, message: Request | Response) -> bool:
        if command.request is None:  # command.expects_response, without the property
            if not isinstance(message, Response):
                return False
            if command.response_pattern is not None:
                if compile_posix(command.response_pattern).search(str(message.status)) is None:
                    return False
            elif command.response != message.status:
                return False
            methods = command.cseq_methods
            return not methods or message.cseq.method in methods
        if not isinstance(message, Request):
            return False
        if command.regexp_match and command.request:
            # SIPp runs regexec on the method: a match anywhere in it counts.
            return compile_posix(command.request).search(message.method) is not None
        return message.method == command.request

    def _find(self, message: Request | Response) -> int | None:
        """The ``<recv>`` at or after the current command that takes ``message``,
        skipping optional ones (SIPp's search)."""
        index = self.index
        while index < len(self.commands):
            command = self.commands[index]
            if not isinstance(command, Recv):
                break
            if self._matches(command, message):
                return index
            if command.optional == "false":  # (a StrEnum: no .value lookup per message)
                break
            index += 1
        # SIPp then looks back through the optional receives just passed (a 100
        # Trying that arrives after the 180 it skipped), and at any optional="global"
        # one: such a message is taken as if it came in order.
        contiguous = True
        for index in range(self.index - 1, -1, -1):
            command = self.commands[index]
            optional = getattr(command, "optional", None)
            if optional is None or optional == "false":
                contiguous = False
            if (
                isinstance(command, Recv)
                and self._matches(command, message)
                and (contiguous or command.optional == "global")
            ):
                return index
        return None

    def _retransmission_or_unexpected(self, message: Request | Response, raw: bytes) -> None:
        raw_hash = hash(raw)
        for index, seen in self._received_at.items():
            if seen == raw_hash or (
                isinstance(self.commands[index], Recv)
                and self._matches(self.commands[index], message)  # type: ignore[arg-type]
                and index < self.index
            ):
                self.stats.message(index, "retrans")
                self.stats.retransmission(index)
                answer = self._sent_after.get(index)
                if answer is not None:
                    self.outbox.append(answer)
                return
        self.stats.message(self.index, "unexpected")
        self._acknowledge_unexpected(message)
        first = raw.split(b"\r\n", 1)[0].decode("utf-8", "replace")
        self.error_events.append(
            unexpected_message_error(
                self.call_id,
                self._expected(),
                self.index,
                raw.decode("utf-8", "surrogateescape"),
            )
        )
        self._fail(FailReason.UNEXPECTED_MESSAGE, f"unexpected message: {first}", None)

    def _acknowledge_unexpected(self, message: Request | Response) -> None:
        """SIPp's "abortunexp" default behaviour: a call aborted on an unexpected
        3xx-6xx to its INVITE still ACKs it (§17.1.1.3), so the server stops
        retransmitting; -nd turns default behaviours off."""
        if (
            self._invite_data is None
            or not self.program.settings.default_behaviors
            or not isinstance(message, Response)
            or message.status < 300
        ):
            return
        try:
            if message.cseq.method != "INVITE":
                return
            invite = parse_message(self._invite_data, lazy=True)
        except ParseError:
            return
        if isinstance(invite, Request):
            self.outbox.append(bytes(make_non_2xx_ack(invite, message)))

    # --- timers ------------------------------------------------------------------------

    def _retransmit(self, now: float) -> None:
        assert self._retrans is not None
        data, interval, count, limit, invite = self._retrans
        if count >= limit:
            self.error_events.append(retrans_timeout_error(self.call_id))
            self._fail(FailReason.MAX_UDP_RETRANS, "maximum UDP retransmissions reached", now)
            return
        self.outbox.append(data)
        self.stats.retransmission(self.index - 1 if self.index else 0)
        # §17.1.1.2 / §17.1.2.2: doubling; non-INVITE requests cap at T2.
        interval = interval * 2 if invite else min(interval * 2, self.program.settings.t2)
        self._retrans = (data, interval, count + 1, limit, invite)
        self._retrans_at = now + interval

    def _recv_timeout(self, now: float) -> None:
        command = self.commands[self.index]
        self._timeout_at = None
        self.stats.message(self.index, "timeout")
        if command.ontimeout is not None:
            target = self.program.scenario.labels[command.ontimeout]
            self.error_events.append(
                recv_timeout_error(self.call_id, self._scenario_name, self.index, target)
            )
            if target >= len(self.commands):
                # SIPp 3.6.1 counts a call whose ontimeout leads to the very end as
                # failed (timeout on recv); a label with commands after it is fine.
                self._soft_failure = self._soft_failure or (
                    FailReason.TIMEOUT_ON_RECV,
                    "timeout waiting for a message (ontimeout to the end)",
                )
            self.index = target
            self._retrans = self._retrans_at = None
            self._run(now)
            return
        self.error_events.append(
            recv_timeout_error(self.call_id, self._scenario_name, self.index, None)
        )
        self._fail(FailReason.TIMEOUT_ON_RECV, "timeout waiting for a message", now)

    @property
    def _scenario_name(self) -> str:
        return self.program.scenario.name or self.program.scenario.file

    def _expected(self) -> str:
        """What the current command waits for, as SIPp names it in -trace_err."""
        if self.index < len(self.commands):
            command = self.commands[self.index]
            if isinstance(command, Recv):
                return command.request or str(command.response or command.response_pattern)
        return ""

    # --- actions, rtd, counters --------------------------------------------------------

    def _timing(self, command: Command, now: float) -> None:
        if command.start_rtd is not None:
            self._rtd_started[command.start_rtd] = now
        if command.rtd is not None and command.rtd not in self._rtd_done:
            # SIPp starts every RTD timer when the call is created (start_rtd restarts
            # one) and takes each once per call unless repeat_rtd (checked with its
            # call.cpp: start_time_rtd / rtd_done).
            started = self._rtd_started.get(command.rtd, self.started_at)
            self.stats.rtd(command.rtd, (now - started) * 1000)
            if self.latency is not None:
                self.latency(command.rtd, (now - started) * 1000)
            if not command.repeat_rtd:
                self._rtd_done.add(command.rtd)
        if command.counter is not None:
            self.stats.counter(command.counter)

    # --- ending ------------------------------------------------------------------------

    def _succeed(self, now: float) -> None:
        if self.finished:
            return
        if self._soft_failure is not None:
            reason, error = self._soft_failure
            self._fail(reason, error, now)
            return
        self.state = CallState.SUCCEEDED
        self.ended_at = now
        self._clear_timers()

    def _fail(self, reason: FailReason, error: str, now: float | None) -> None:
        if self.finished:
            return
        self.state = CallState.FAILED
        self.failure = reason
        self.error = error
        self.ended_at = now
        self._clear_timers()

    def _clear_timers(self) -> None:
        self._retrans = self._retrans_at = self._timeout_at = self._pause_until = None
