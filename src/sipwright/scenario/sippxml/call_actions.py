"""The actions of a SIPp scenario call (``<action>`` of a command): ereg, arithmetic,
test/strcmp checks, jump, log/warning/error, exec int_cmd; and SIPp's typing of
variables.  A mixin of :class:`~sipwright.scenario.sippxml.call.ScenarioCall`."""

from __future__ import annotations

import operator
import random
import re
import time
import urllib.parse
from collections.abc import Callable

from sipwright.report.sipp_stats import FailReason, Snapshot
from sipwright.scenario.sippxml.call_context import KeywordContext, RenderError
from sipwright.scenario.sippxml.injection import InjectionError
from sipwright.scenario.sippxml.keywords import KeywordError, Template, compile_template
from sipwright.scenario.sippxml.model import Command
from sipwright.scenario.sippxml.model_actions import (
    Action,
    Arithmetic,
    AssignStr,
    Compare,
    Ereg,
    ExecCommand,
    GetTimeOfDay,
    Index,
    Insert,
    IntCmd,
    Jump,
    Log,
    Lookup,
    PlayPcap,
    Replace,
    RtpEcho,
    RtpEchoStream,
    RtpStream,
    Sample,
    SetDest,
    StrCmp,
    Test,
    ToDouble,
    Trim,
    UrlDecode,
    UrlEncode,
    VerifyAuth,
)
from sipwright.scenario.sippxml.posix_regex import compile_posix
from sipwright.scenario.sippxml.program import sample
from sipwright.sip.digest import UnsupportedChallenge
from sipwright.sip.digest_server import parse_authorization, verify
from sipwright.sip.errors import ParseError
from sipwright.sip.message import Request, Response

__all__ = ["CallActions", "number", "truthy"]

_TEMPLATES: dict[tuple[str, int, str], Template] = {}

_COMPARE: dict[Compare, Callable[[float, float], bool]] = {
    Compare.EQUAL: operator.eq,
    Compare.NOT_EQUAL: operator.ne,
    Compare.GREATER_THAN: operator.gt,
    Compare.LESS_THAN: operator.lt,
    Compare.GREATER_THAN_EQUAL: operator.ge,
    Compare.LESS_THAN_EQUAL: operator.le,
}


class CallActions:
    """Runs actions against the call state that :class:`ScenarioCall` holds."""

    # What the actions change; the rest of the call's slots are ScenarioCall's.
    __slots__ = ("_soft_failure", "index", "stop_requested")

    context: KeywordContext
    stats: Snapshot
    rng: random.Random
    log: Callable[[str, str], None]
    index: int
    stop_requested: str | None
    _soft_failure: tuple[FailReason, str] | None
    _in_recv: bool
    _command_text: str | None
    media_requests: list[tuple[str, str]]

    def _fail(self, reason: FailReason, error: str, now: float | None) -> None:
        raise NotImplementedError

    def _actions(self, command: Command, message: Request | Response | None, now: float) -> bool:
        """Run the command's actions; False when one ended the call."""
        actions = command.actions
        if not actions:  # most commands have none: no generator for them
            return True
        return all(self._action(action, message, now) for action in actions)

    def _action(self, action: Action, message: Request | Response | None, now: float) -> bool:
        variables = self.context.variables
        if isinstance(action, Ereg):
            return self._ereg(action, message, now)
        if isinstance(action, Arithmetic):
            operand = (
                action.value
                if action.value is not None
                else number(variables.get(action.variable or ""))
            )
            current = number(variables.get(action.assign_to))
            variables[action.assign_to] = _ARITHMETIC[action.op](current, operand)
        elif isinstance(action, AssignStr):
            variables[action.assign_to] = self._render(action.file, action.line, action.value)
        elif isinstance(action, GetTimeOfDay):
            seconds, micro = divmod(time.time_ns() // 1000, 1_000_000)
            variables[action.seconds] = float(seconds)
            variables[action.microseconds] = float(micro)
        elif isinstance(action, Index):
            variables[action.assign_to] = float(self.index)
        elif isinstance(action, Sample):
            variables[action.assign_to] = sample(action.distribution, self.rng)
        elif isinstance(action, Trim):
            variables[action.assign_to] = str(variables.get(action.assign_to, "")).strip()
        elif isinstance(action, UrlEncode):
            text = str(variables.get(action.variable, ""))
            variables[action.variable] = urllib.parse.quote(text, safe="")
        elif isinstance(action, UrlDecode):
            variables[action.variable] = urllib.parse.unquote(
                str(variables.get(action.variable, ""))
            )
        elif isinstance(action, Lookup | Insert | Replace):
            return self._injection_action(action, now)
        elif isinstance(action, VerifyAuth):
            variables[action.assign_to] = self._verify_auth(action, message)
        elif isinstance(action, ExecCommand):
            command = self._render(action.file, action.line, action.command)
            self.media_requests.append(("exec", command))
        elif isinstance(action, SetDest):
            host = self._render(action.file, action.line, action.host)
            port = self._render(action.file, action.line, action.port)
            protocol = self._render(action.file, action.line, action.protocol)
            self.media_requests.append(("setdest", f"{protocol.lower()} {host} {port}"))
        elif isinstance(action, Test):
            left = number(variables.get(action.variable))
            right = (
                action.value
                if action.value is not None
                else number(variables.get(action.variable2 or ""))
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
            self.index = int(number(target)) - 1  # _advance adds one
        elif isinstance(action, ToDouble):
            variables[action.assign_to] = _parse_double(variables.get(action.variable))
        elif isinstance(action, Log):
            # SIPp expands keywords ([call_id], [$var] ...) in log messages.
            self.log(action.level, self._render(action.file, action.line, action.message))
            if action.level == "error":
                # SIPp treats <error> as fatal: the whole run stops (exit 255).
                self.stop_requested = "fatal"
                self._fail(FailReason.UNEXPECTED_MESSAGE, action.message, now)
                return False
        elif isinstance(action, PlayPcap):
            kind = "play" if action.media == "audio" else "play_video"
            self.media_requests.append((kind, action.path))
        elif isinstance(action, RtpStream):
            self.media_requests.append(("stream", action.value))
        elif isinstance(action, RtpEcho):
            value = action.value
            if action.variable is not None:
                value = number(variables.get(action.variable))
            self.media_requests.append(("echo", "on" if value else "off"))
        elif isinstance(action, RtpEchoStream):
            if action.kind in ("startaudio", "stopaudio"):
                self.media_requests.append(("echo", "on" if action.kind == "startaudio" else "off"))
        elif isinstance(action, IntCmd):
            if action.command == "stop_call":
                # SIPp counts a call stopped this way as rejected.
                self._fail(FailReason.CALL_REJECTED, "stopped by stop_call", now)
                return False
            self.stop_requested = action.command
        return True

    def _render(self, file: str, line: int, text: str) -> str:
        """An action's text with its keywords expanded (as written if it has none or
        one cannot be expanded)."""
        if "[" not in text:
            return text
        key = (file, line, text)
        template = _TEMPLATES.get(key)
        if template is None:
            try:
                template = compile_template(text, filename=file, line=line, fragment=True)
            except KeywordError:
                return text
            _TEMPLATES[key] = template
        try:
            return template.render_text(self.context).strip("\r\n")
        except RenderError:
            return text

    def _injection_action(self, action: Lookup | Insert | Replace, now: float) -> bool:
        """<lookup>/<insert>/<replace> on an -inf file (indexed with -infindex)."""
        registry = self.context.run.injection
        try:
            if registry is None:
                raise InjectionError(action.path, None, "no -inf file in this run")
            target = registry.get(action.path)
            if isinstance(action, Lookup):
                key = self._render(action.file, action.line, action.key)
                self.context.variables[action.assign_to] = float(target.lookup(key))
            elif isinstance(action, Insert):
                target.insert(self._render(action.file, action.line, action.value))
            else:
                line = self._render(action.file, action.line, action.target_line)
                target.replace(
                    int(number_text(line)), self._render(action.file, action.line, action.value)
                )
        except InjectionError as error:
            self._fail(FailReason.UNEXPECTED_MESSAGE, f"{action.file}:{action.line}: {error}", now)
            return False
        return True

    def _verify_auth(self, action: VerifyAuth, message: Request | Response | None) -> bool:
        """<verifyauth>: does the request's Authorization (or Proxy-Authorization)
        prove the password (RFC 3261 §22.4)?  Outside a <recv>: the last message."""
        if message is None:
            message = self.context.last_message
        if not isinstance(message, Request):
            return False
        value = message.headers.first("Authorization") or message.headers.first(
            "Proxy-Authorization"
        )
        if value is None:
            return False
        try:
            credentials = parse_authorization(value)
            return verify(
                credentials,
                method=message.method,
                password=self._render(action.file, action.line, action.password),
                username=self._render(action.file, action.line, action.username),
                body=message.body,
            )
        except (ParseError, ValueError, UnsupportedChallenge):
            return False

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
        compiled = compile_posix(action.regexp, flags | re.MULTILINE)
        matches = list(compiled.finditer(text)) if text else []
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
        if self._command_text is not None:
            text = self._command_text
        else:
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


_ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "assign": lambda _, value: value,
    "add": operator.add,
    "subtract": operator.sub,
    "multiply": operator.mul,
    "divide": lambda a, b: a / b if b else float("inf"),
}


def number(value: object) -> float:
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


def truthy(value: object) -> bool:
    if isinstance(value, str):
        return value not in ("", "0", "false")
    return bool(value)


def number_text(text: str) -> float:
    """A number written in text (a rendered [$var] such as "3" or "3.000000")."""
    try:
        return float(text.strip())
    except ValueError:
        return -1.0
