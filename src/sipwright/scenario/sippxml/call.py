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

import operator
import random
import re
from collections.abc import Callable
from enum import Enum

from sipwright.report.sipp_stats import FailReason, Snapshot
from sipwright.scenario.sippxml.call_context import KeywordContext, RenderError
from sipwright.scenario.sippxml.model import Command, Nop, Pause, Recv, Send
from sipwright.scenario.sippxml.model_actions import (
    Action,
    Arithmetic,
    AssignStr,
    Compare,
    Ereg,
    IntCmd,
    Jump,
    Log,
    StrCmp,
    Test,
    ToDouble,
)
from sipwright.scenario.sippxml.program import Program, sample
from sipwright.sip.errors import ParseError
from sipwright.sip.message import Request, Response, parse_message
from sipwright.sip.transaction_client import make_non_2xx_ack

__all__ = ["CallState", "ScenarioCall"]

_COMPARE: dict[Compare, Callable[[float, float], bool]] = {
    Compare.EQUAL: operator.eq,
    Compare.NOT_EQUAL: operator.ne,
    Compare.GREATER_THAN: operator.gt,
    Compare.LESS_THAN: operator.lt,
    Compare.GREATER_THAN_EQUAL: operator.ge,
    Compare.LESS_THAN_EQUAL: operator.le,
}


class CallState(Enum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ScenarioCall:
    """Runs ``program`` for one call; ``outbox`` holds the bytes to send."""

    def __init__(
        self,
        program: Program,
        context: KeywordContext,
        stats: Snapshot,
        *,
        rng: random.Random,
        log: Callable[[str], None] = lambda text: None,
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
        self.started_at = 0.0
        self.ended_at: float | None = None
        self._received_at: dict[int, bytes] = {}  # recv index -> raw message
        self._sent_after: dict[int, bytes] = {}  # recv index -> first message sent after
        self._last_recv: int | None = None
        self._retrans: tuple[bytes, float, int, int, bool] | None = None  # data, interval...
        self._retrans_at: float | None = None
        self._timeout_at: float | None = None
        self._pause_until: float | None = None
        self._rtd_started: dict[str, float] = {}
        self._invite_index: int | None = None
        self._invite_data: bytes | None = None

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
        deadlines = [t for t in (self._retrans_at, self._timeout_at, self._pause_until) if t]
        return min(deadlines) if deadlines and not self.finished else None

    def handle_timer(self, now: float) -> None:
        if self.finished:
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
        if self.finished:
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
        self._received_at[found] = raw
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

    # --- running commands --------------------------------------------------------------

    def _run(self, now: float) -> None:
        while not self.finished:
            if self.index >= len(self.commands):
                self._succeed(now)
                return
            command = self.commands[self.index]
            if command.condexec is not None:
                # condexec: run only if the variable is set (unset with _inverse).
                is_set = _truthy(self.context.variables.get(command.condexec))
                if is_set == command.condexec_inverse:
                    self.index += 1
                    continue
            if isinstance(command, Send):
                if not self._send(command, now):
                    return
                continue
            if isinstance(command, Recv):
                timeout = command.timeout / 1000 if command.timeout else None
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

    def _pause(self, command: Pause, now: float) -> None:
        if command.variable is not None:
            milliseconds = _number(self.context.variables.get(command.variable))
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
        failed_test = command.test is not None and not _truthy(
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
        if command.expects_response:
            if not isinstance(message, Response):
                return False
            if command.response_pattern is not None:
                if re.search(command.response_pattern, str(message.status)) is None:
                    return False
            elif command.response != message.status:
                return False
            methods = command.cseq_methods
            return not methods or message.cseq.method in methods
        return isinstance(message, Request) and message.method == command.request

    def _find(self, message: Request | Response) -> int | None:
        """The ``<recv>`` at or after the current command that takes ``message``,
        skipping optional ones (SIPp's search)."""
        index = self.index
        while index < len(self.commands):
            command = self.commands[index]
            if not isinstance(command, Recv):
                return None
            if self._matches(command, message):
                return index
            if command.optional.value == "false":
                return None
            index += 1
        return None

    def _retransmission_or_unexpected(self, message: Request | Response, raw: bytes) -> None:
        for index, seen in self._received_at.items():
            if seen == raw or (
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
        self._fail(FailReason.TIMEOUT_ON_RECV, "timeout waiting for a message", now)

    # --- actions, rtd, counters --------------------------------------------------------

    def _timing(self, command: Command, now: float) -> None:
        if command.start_rtd is not None:
            self._rtd_started[command.start_rtd] = now
        if command.rtd is not None:
            started = self._rtd_started.get(command.rtd)
            if started is not None:
                self.stats.rtd(command.rtd, (now - started) * 1000)
                if not command.repeat_rtd:
                    self._rtd_started.pop(command.rtd, None)
        if command.counter is not None:
            self.stats.counter(command.counter)

    def _actions(self, command: Command, message: Request | Response | None, now: float) -> bool:
        """Run the command's actions; False when one ended the call."""
        return all(self._action(action, message, now) for action in command.actions)

    def _action(self, action: Action, message: Request | Response | None, now: float) -> bool:
        variables = self.context.variables
        if isinstance(action, Ereg):
            return self._ereg(action, message, now)
        if isinstance(action, Arithmetic):
            operand = (
                action.value
                if action.value is not None
                else _number(variables.get(action.variable or ""))
            )
            current = _number(variables.get(action.assign_to))
            variables[action.assign_to] = _ARITHMETIC[action.op](current, operand)
        elif isinstance(action, AssignStr):
            variables[action.assign_to] = action.value
        elif isinstance(action, Test):
            left = _number(variables.get(action.variable))
            right = (
                action.value
                if action.value is not None
                else _number(variables.get(action.variable2 or ""))
            )
            result = _COMPARE[action.compare](left, right)
            if action.assign_to is not None:
                variables[action.assign_to] = result
            return self._check(
                result,
                action,
                (FailReason.TEST_DOESNT_MATCH, FailReason.TEST_SHOULDNT_MATCH),
                now,
            )
        elif isinstance(action, StrCmp):
            left_text = str(variables.get(action.variable, ""))
            right_text = (
                action.value
                if action.value is not None
                else str(variables.get(action.variable2 or "", ""))
            )
            difference = (left_text > right_text) - (left_text < right_text)
            if action.assign_to is not None:
                variables[action.assign_to] = float(difference)
            return self._check(
                difference == 0,
                action,
                (FailReason.STRCMP_DOESNT_MATCH, FailReason.STRCMP_SHOULDNT_MATCH),
                now,
            )
        elif isinstance(action, Jump):
            target = (
                action.value if action.value is not None else variables.get(action.variable or "")
            )
            self.index = int(_number(target)) - 1  # _advance adds one
        elif isinstance(action, ToDouble):
            variables[action.assign_to] = _parse_double(variables.get(action.variable))
        elif isinstance(action, Log):
            self.log(f"{action.level}: {action.message}")
            if action.level == "error":
                # SIPp treats <error> as fatal: the whole run stops (exit 255).
                self.stop_requested = "fatal"
                self._fail(FailReason.UNEXPECTED_MESSAGE, action.message, now)
                return False
        elif isinstance(action, IntCmd):
            if action.command == "stop_call":
                # SIPp counts a call stopped this way as rejected.
                self._fail(FailReason.CALL_REJECTED, "stopped by stop_call", now)
                return False
            self.stop_requested = action.command
        return True

    def _check(
        self,
        ok: bool,
        action: Test | StrCmp,
        reasons: tuple[FailReason, FailReason],
        now: float,
    ) -> bool:
        if action.check_it and not ok:
            self._check_failed(reasons[0], f"{action.file}:{action.line}: check_it failed")
        elif action.check_it_inverse and ok:
            self._check_failed(reasons[1], f"{action.file}:{action.line}: check_it_inverse failed")
        return True

    def _check_failed(self, reason: FailReason, error: str) -> None:
        """SIPp only lets the actions of a <recv> fail a call, and then plays on."""
        if self._in_recv and self._soft_failure is None:
            self._soft_failure = (reason, error)

    def _ereg(self, action: Ereg, message: Request | Response | None, now: float) -> bool:
        text = self._search_text(action, message)
        # SIPp's case_indep chooses how the header name is found, not how the regexp
        # matches (checked with SIPp 3.6.1).
        flags = re.IGNORECASE if action.case_indep and action.search_in != "hdr" else 0
        matches = list(re.finditer(action.regexp, text, flags | re.MULTILINE)) if text else []
        match = matches[action.occurrence - 1] if len(matches) >= action.occurrence else None
        variables = self.context.variables
        for position, name in enumerate(action.assign_to):
            value = ""
            if match is not None:
                group = match.group(position) if position <= (match.re.groups or 0) else None
                value = group or ""
            variables[name] = value
        del now
        if match is None and action.check_it:
            reason = (
                FailReason.REGEXP_HDR_NOT_FOUND
                if action.search_in == "hdr" and not text
                else FailReason.REGEXP_DOESNT_MATCH
            )
            self._check_failed(reason, f"regexp {action.regexp!r} does not match")
        elif match is not None and action.check_it_inverse:
            self._check_failed(
                FailReason.REGEXP_SHOULDNT_MATCH, f"regexp {action.regexp!r} matched"
            )
        return True

    def _search_text(self, action: Ereg, message: Request | Response | None) -> str:
        if action.search_in == "var":
            return str(self.context.variables.get(action.variable or "", ""))
        raw = self.context.last_raw if message is not None else None
        if raw is None:
            return ""
        text = raw.decode("utf-8", "surrogateescape")
        head, _, body = text.partition("\r\n\r\n")
        if action.search_in == "body":
            return body
        if action.search_in == "hdr" and action.header:
            # SIPp searches the value of the header as written: the text after the
            # colon, leading space included.
            name = action.header.rstrip(":").strip().lower()
            values = []
            for line in head.split("\r\n")[1:]:
                field, colon, value = line.partition(":")
                if colon and field.strip().lower() == name:
                    values.append(value)
            return "\n".join(values)
        return text if action.search_in == "msg" else head

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


_ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "assign": lambda _, value: value,
    "add": operator.add,
    "subtract": operator.sub,
    "multiply": operator.mul,
    "divide": lambda a, b: a / b if b else float("inf"),
}


def _number(value: object) -> float:
    """A variable read as a number, with SIPp's typing: only numbers (and booleans)
    have a value; a string (an ereg capture, say) reads as 0 until <todouble>."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    return 0.0


def _parse_double(value: object) -> float:
    """<todouble>: the number a string spells (strtod-like: 0 when none)."""
    if isinstance(value, int | float):
        return float(value)
    match = re.match(r"\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?", str(value or ""))
    return float(match.group()) if match else 0.0


def _truthy(value: object) -> bool:
    if isinstance(value, str):
        return value not in ("", "0", "false")
    return bool(value)
