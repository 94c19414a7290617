"""SIPp XML scenario parser: XML text -> validated :class:`.model.Scenario`.

Every problem in the input, malformed XML included, raises :class:`ScenarioError`
with the file name and the 1-based line of the offending element. Besides what the
model's docstring lists, the parser applies SIPp's own load-time rules: an optional
``<recv>`` must be followed by a mandatory one before the next send/pause/nop;
``<timewait>`` is the last command; transactions started with ``start_txn`` get
responses (and ACKs for INVITE); every started RTD is stopped; every variable is
referenced at least twice (set and used, or listed in ``<Reference>``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from lxml import etree

from sipwright.scenario.sippxml.distributions import percentile_99
from sipwright.scenario.sippxml.message_text import clean_message, parse_start_line
from sipwright.scenario.sippxml.model import (
    Command,
    CommandBase,
    Nop,
    OptionalMode,
    Pause,
    Recv,
    RecvCmd,
    Scenario,
    ScenarioError,
    Send,
    SendCmd,
    ThreePccMode,
)
from sipwright.scenario.sippxml.model_actions import Action
from sipwright.scenario.sippxml.parse_util import Node, ParseContext, parse_long, source_line
from sipwright.scenario.sippxml.parser_actions import (
    DISTRIBUTION_ATTRS,
    OLD_STYLE_PAUSE_ATTRS,
    parse_actions,
    parse_distribution,
)
from sipwright.scenario.sippxml.posix_regex import compile_posix

__all__ = ["parse_scenario", "parse_scenario_text"]

_INT_MAX = 2**31 - 1
_COMMON = frozenset(
    {"next", "test", "chance", "condexec", "condexec_inverse", "counter", "display"}
    | {"start_rtd", "rtd", "repeat_rtd", "crlf", "hide", "hiderest", "ignoresdp", "lost"}
    | {"ontimeout"}
)
_SEND_ATTRS = frozenset({"retrans", "timeout", "start_txn", "ack_txn", "response_txn"})
_RECV_ATTRS = frozenset(
    {"response", "request", "response_txn", "optional", "advance_state", "regexp_match"}
    | {"timeout", "rrs", "auth"}
)
_PAUSE_ATTRS = frozenset({"variable", "sanity_check"}) | DISTRIBUTION_ATTRS | OLD_STYLE_PAUSE_ATTRS
_COMMANDS = ("send", "recv", "pause", "timewait", "nop", "sendCmd", "recvCmd")
_OTHERS = (
    "label",
    "init",
    "ResponseTimeRepartition",
    "CallLengthRepartition",
    "Global",
    "User",
    "Reference",
    "DefaultMessage",
)
_LIST_RE = re.compile(r"[ \t]*[0-9]+[ \t]*(?:,[ \t]*[0-9]+[ \t]*)*")
_XML_POSITION_RE = re.compile(r",? line \d+, column \d+\s*$")


def parse_scenario(path: Path | str) -> Scenario:
    """Load the SIPp scenario file at ``path`` (the XML declares its own encoding)."""
    file = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ScenarioError(file, 0, f"cannot read scenario: {exc.strerror or exc}") from None
    return _parse_bytes(data, file, encoding=None)


def parse_scenario_text(text: str, filename: str = "<string>") -> Scenario:
    """Load a scenario from XML text (an encoding declaration in it is ignored)."""
    return _parse_bytes(text.encode("utf-8", "surrogatepass"), filename, encoding="utf-8")


# -- XML ------------------------------------------------------------------------------


def _load_xml(data: bytes, file: str, encoding: str | None) -> etree._Element:
    parser = etree.XMLParser(
        encoding=encoding,
        resolve_entities=False,
        load_dtd=False,
        no_network=True,
        huge_tree=False,
        collect_ids=False,
    )
    try:
        root: etree._Element = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        message = str(getattr(exc, "msg", None) or exc).strip()
        if encoding is None and ("UTF-8" in message or "character encoding" in message):
            # a Latin-1 file without (or with a wrong) encoding declaration: SIPp reads
            # bytes, so accept it as Latin-1 rather than fail
            return _load_xml(data, file, "iso-8859-1")
        line, column = getattr(exc, "position", (0, 0))
        message = _XML_POSITION_RE.sub("", message).replace("\n", " ").strip()
        where = f" (column {column})" if column else ""
        raise ScenarioError(file, line or 1, f"malformed XML: {message}{where}") from None
    except (etree.LxmlError, ValueError, LookupError) as exc:
        raise ScenarioError(file, 1, f"malformed XML: {exc}") from None
    return root


def _parse_bytes(data: bytes, file: str, encoding: str | None) -> Scenario:
    root = _load_xml(data, file, encoding)
    lines = data.decode("utf-8", "replace").split("\n")
    return _Builder(ParseContext(file=file, source_lines=lines)).build(root)


def _children(el: etree._Element, ctx: ParseContext) -> list[etree._Element]:
    """Element children of ``el`` (comments and processing instructions skipped)."""
    result = []
    for child in el:
        if isinstance(child, (etree._Comment, etree._ProcessingInstruction)):
            continue
        if not isinstance(child.tag, str):
            raise ctx.error(ctx.start_line(child), "entity references are not supported here")
        result.append(child)
    return result


def _text(el: etree._Element, ctx: ParseContext) -> tuple[str, int]:
    """All character data directly inside ``el`` (CDATA included) and its first line.

    The line is exact when the text comes first or after comments; after an element
    child (``<action>`` before the CDATA) libxml2 gives no end line, so the first line
    of text is looked up in the source from there on.
    """
    chunks: list[tuple[str, int]] = [(el.text or "", source_line(el))]
    for child in el:
        end = max((source_line(d) for d in child.iter()), default=0)
        chunks.append((child.tail or "", end))
    first_line = source_line(el)
    for index, (chunk, base) in enumerate(chunks):
        content = chunk.lstrip(" \t\n")
        if content:
            first_line = base + chunk[: len(chunk) - len(content)].count("\n")
            if index > 0 and isinstance(el[index - 1].tag, str):
                first_line = ctx.find_line(content.split("\n", 1)[0].strip(), first_line)
            break
    return "".join(chunk for chunk, _ in chunks), first_line


def _id_list(node: Node) -> list[str]:
    return [part.strip() for part in node.require("variables").split(",")]


# -- scenario -------------------------------------------------------------------------


class _Builder:
    def __init__(self, ctx: ParseContext) -> None:
        self.ctx = ctx
        self.commands: list[Command] = []
        self.labels: dict[str, int] = {}
        self.init: list[Nop] = []
        self.init_labels: dict[str, int] = {}
        self.methods_sent: list[str] = []
        self.last_recv_optional = False
        self.found_timewait = False
        self.references: list[tuple[str, int]] = []
        self.global_vars: list[str] = []
        self.user_vars: list[str] = []
        self.repartitions: dict[str, tuple[int, ...]] = {}
        self.default_messages: dict[str, str] = {}

    def build(self, root: etree._Element) -> Scenario:
        ctx = self.ctx
        top = Node(root, ctx)
        if top.tag != "scenario":
            raise top.error(f"the root element must be <scenario>, not <{top.tag}>")
        top.check_attrs(frozenset({"name"}))
        for child in _children(root, ctx):
            self._top_level(Node(child, ctx))
        if not self.commands:
            raise top.error("the scenario has no commands (send, recv, pause, nop...)")
        self._resolve(self.commands, self.labels)
        self._resolve(self.init, self.init_labels)
        for name, line in self.references:
            if name not in ctx.var_refs:
                raise ctx.error(line, f"<Reference> names variable {name!r}, which is never used")
            ctx.use_var(name, line, "<Reference> variables")
        ctx.validate()
        creation, threepcc = self._modes(top)
        return Scenario(
            name=top.get("name") or "",
            file=ctx.file,
            commands=tuple(self.commands),
            labels=MappingProxyType(self.labels),
            init=tuple(self.init),
            init_labels=MappingProxyType(self.init_labels),
            variables=tuple(ctx.var_refs),
            global_variables=tuple(self.global_vars),
            user_variables=tuple(self.user_vars),
            rtds=tuple(ctx.rtds),
            counters=tuple(ctx.counters),
            response_time_repartition=self.repartitions.get("ResponseTimeRepartition"),
            call_length_repartition=self.repartitions.get("CallLengthRepartition"),
            default_messages=MappingProxyType(self.default_messages),
            creation_mode=creation,
            threepcc=threepcc,
            has_media=ctx.has_media,
        )

    def _top_level(self, node: Node) -> None:
        tag = node.tag
        if tag in _COMMANDS:
            if self.found_timewait:
                raise node.error("<timewait> must be the last command of the scenario")
            self.commands.append(self._command(node))
        elif tag == "label":
            self._label(node, self.labels, len(self.commands))
        elif tag == "init":
            self._init(node)
        elif tag in ("ResponseTimeRepartition", "CallLengthRepartition"):
            self._no_children(node, frozenset({"value"}))
            value = node.require("value")
            if _LIST_RE.fullmatch(value) is None:
                raise node.error(
                    f"<{tag}> value={value!r} is not a comma separated list of integers"
                )
            self.repartitions[tag] = tuple(int(part) for part in value.split(","))
        elif tag in ("Global", "User"):
            self._no_children(node, frozenset({"variables"}))
            target = self.global_vars if tag == "Global" else self.user_vars
            for name in _id_list(node):
                target.append(self.ctx.use_var(name, node.line, f"<{tag}> variables"))
        elif tag == "Reference":
            self._no_children(node, frozenset({"variables"}))
            for name in _id_list(node):
                self.ctx.check_name(name, "<Reference> variables", node.line)
                self.references.append((name, node.line))
        elif tag == "DefaultMessage":
            self._no_children(node, frozenset({"id"}))
            raw, line = _text(node.el, self.ctx)
            message = clean_message(raw, for_send=False)
            if not message:
                raise node.error("<DefaultMessage> has no message text (CDATA section)")
            self.ctx.scan_text(message, line)
            self.default_messages[node.require("id")] = message
        else:
            known = ", ".join(_COMMANDS + _OTHERS)
            raise node.error(f"unknown element <{tag}> in scenario (known: {known})")

    def _no_children(self, node: Node, allowed: frozenset[str]) -> None:
        node.check_attrs(allowed)
        children = _children(node.el, self.ctx)
        if children:
            raise self.ctx.error(
                self.ctx.start_line(children[0]), f"<{node.tag}> may not contain elements"
            )

    def _label(self, node: Node, labels: dict[str, int], index: int) -> None:
        self._no_children(node, frozenset({"id"}))
        name = node.require("id")
        if not name:
            raise node.error("<label> id may not be empty")
        if name in labels:
            raise node.error(f"label {name!r} is defined twice")
        labels[name] = index

    def _init(self, node: Node) -> None:
        node.check_attrs(frozenset())
        for child in _children(node.el, self.ctx):
            sub = Node(child, self.ctx)
            if sub.tag == "nop":
                common = self._common(sub, frozenset(), index=len(self.init))
                self.init.append(Nop(**common))
            elif sub.tag == "label":
                self._label(sub, self.init_labels, len(self.init))
            else:
                raise sub.error(f"<init> may contain only <nop> and <label>, not <{sub.tag}>")

    def _resolve(self, commands: Sequence[CommandBase], labels: dict[str, int]) -> None:
        for command in commands:
            for attr, label in (("next", command.next), ("ontimeout", command.ontimeout)):
                if label is not None and label not in labels:
                    raise self.ctx.error(
                        command.line, f"{attr}={label!r}: label {label!r} is not defined"
                    )

    def _modes(self, top: Node) -> tuple[Literal["client", "server"], ThreePccMode]:
        creation: Literal["client", "server"] | None = None
        threepcc: ThreePccMode = "none"
        seen_send_cmd = seen_recv_cmd = has_sip = False
        for command in self.commands:
            if isinstance(command, (Send, SendCmd)) and creation is None:
                creation = "client"
            elif isinstance(command, (Recv, RecvCmd)) and creation is None:
                creation = "server"
            has_sip = has_sip or isinstance(command, (Send, Recv))
            if isinstance(command, SendCmd) and not seen_send_cmd:
                seen_send_cmd = True
                if not seen_recv_cmd:
                    threepcc = "a-passive" if creation == "server" else "controller-a"
            if isinstance(command, RecvCmd) and not seen_recv_cmd:
                seen_recv_cmd = True
                if not seen_send_cmd:
                    threepcc = "controller-b"
        if creation is None or not has_sip:
            raise top.error("the scenario neither sends nor receives any SIP message")
        return creation, threepcc

    # -- commands ---------------------------------------------------------------------

    def _check_optional_recv(self, node: Node) -> None:
        if self.last_recv_optional:
            raise node.error(
                f"<{node.tag}> follows an optional <recv> without a mandatory <recv> in "
                "between: make one of the preceding receives non-optional"
            )

    def _command(self, node: Node) -> Command:
        index = len(self.commands)
        tag = node.tag
        if tag == "send":
            return self._send(node, index)
        if tag == "recv":
            return self._recv(node, index)
        if tag in ("pause", "timewait"):
            return self._pause(node, index)
        if tag == "nop":
            self._check_optional_recv(node)
            return Nop(**self._common(node, frozenset(), index))
        if tag == "sendCmd":
            self._check_optional_recv(node)
            common = self._common(node, frozenset({"dest"}), index)
            raw, text_line = _text(node.el, self.ctx)
            message = clean_message(raw, for_send=False)
            if not message:
                raise node.error("<sendCmd> has no message text (CDATA section)")
            self.ctx.scan_text(message, text_line)
            return SendCmd(**common, message=message, text_line=text_line, dest=node.get("dest"))
        common = self._common(node, frozenset({"optional", "src"}), index)
        optional = self._optional(node)
        self.last_recv_optional = optional is not OptionalMode.NO
        return RecvCmd(**common, optional=optional, src=node.get("src"))

    def _send(self, node: Node, index: int) -> Send:
        self._check_optional_recv(node)
        common = self._common(node, _SEND_ATTRS, index)
        raw, text_line = _text(node.el, self.ctx)
        message = clean_message(raw, for_send=True)
        if not message:
            raise node.error("<send> has no message text (CDATA section)")
        try:
            start = parse_start_line(message)
        except ValueError as exc:
            raise self.ctx.error(text_line, str(exc)) from None
        self.ctx.scan_text(message, text_line)
        if node.has("response_txn"):
            raise node.error("response_txn can only be used on <recv> of a response")
        start_txn = node.get("start_txn")
        ack_txn = node.get("ack_txn")
        method = start.method
        if method is None:
            if start_txn is not None or ack_txn is not None:
                raise node.error("a response can not start or ACK a transaction")
        elif start_txn is not None:
            if method == "ACK":
                raise node.error("an ACK can not start a transaction (use ack_txn)")
            self.ctx.txn(start_txn, node.line, kind="start", is_invite=method == "INVITE")
        elif ack_txn is not None:
            if method != "ACK":
                raise node.error("ack_txn is valid only on an ACK")
            self.ctx.txn(ack_txn, node.line, kind="ack")
        else:
            self.methods_sent.append(method)
        return Send(
            **common,
            message=message,
            text_line=text_line,
            method=method,
            status=start.status,
            retrans=node.long("retrans", minimum=0) or None,
            timeout=node.long("timeout", minimum=0) or None,
            start_txn=start_txn,
            ack_txn=ack_txn,
        )

    def _optional(self, node: Node) -> OptionalMode:
        value = node.get("optional") or "false"
        try:
            return OptionalMode(value)
        except ValueError:
            raise node.error(f"optional={value!r} must be true, false or global") from None

    def _recv(self, node: Node, index: int) -> Recv:
        common = self._common(node, _RECV_ATTRS, index)
        has_response, has_request = node.has("response"), node.has("request")
        if has_response == has_request:
            which = "both" if has_response else "neither"
            raise node.error(f"<recv> needs exactly one of response/request, it has {which}")
        regexp_match = node.get("regexp_match") or "false"
        if regexp_match not in ("true", "false"):
            raise node.error(f"regexp_match={regexp_match!r} must be true or false")
        pattern = node.get("response") if regexp_match == "true" else None
        if pattern is not None:
            response = parse_long(pattern)
            if not pattern:
                raise node.error("<recv> response may not be empty")
        else:
            response = node.long("response")
        if response is not None and not 100 <= response <= 699:
            raise node.error(f"<recv> response={response} is not a status code (100-699)")
        request = node.get("request")
        if request is not None and not request.strip():
            raise node.error("<recv> request may not be empty")
        for regexp in (pattern, request if regexp_match == "true" else None):
            try:
                compile_posix(regexp or "")
            except re.error as error:
                raise node.error(f"invalid regexp {regexp!r}: {error}") from None
        response_txn = node.get("response_txn")
        if response_txn is not None:
            if request is not None:
                raise node.error("response_txn can only be used when receiving a response")
            self.ctx.txn(response_txn, node.line, kind="response")
        optional = self._optional(node)
        self.last_recv_optional = optional is not OptionalMode.NO
        advance_state = node.bool("advance_state", True)
        if not advance_state and optional is OptionalMode.NO:
            raise node.error('advance_state="false" is allowed only on optional messages')
        return Recv(
            **common,
            response=response,
            response_pattern=pattern,
            request=request,
            optional=optional,
            advance_state=advance_state,
            regexp_match=regexp_match == "true",
            timeout=node.long("timeout", minimum=0) or None,
            rrs=node.bool("rrs", False),
            auth=node.bool("auth", False),
            response_txn=response_txn,
            cseq_methods=tuple(dict.fromkeys(self.methods_sent)) if has_response else (),
        )

    def _pause(self, node: Node, index: int) -> Pause:
        self._check_optional_recv(node)
        timewait = node.tag == "timewait"
        if timewait:
            self.found_timewait = True
        common = self._common(node, _PAUSE_ATTRS, index)
        sanity_check = node.bool("sanity_check", True)
        variable = node.var("variable")
        distribution = None
        if variable is None:
            distribution = parse_distribution(node, old_style=True)
            p99 = None if distribution is None else percentile_99(distribution)
            if sanity_check and p99 is not None and not p99 <= _INT_MAX:
                name = "" if distribution is None else f"{distribution.name} "
                raise node.error(
                    f"the {name}pause has a 99th percentile of {p99:g} ms, more "
                    'than SIPp allows (2^31-1): change its parameters or set sanity_check="false"'
                )
        return Pause(
            **common,
            distribution=distribution,
            variable=variable,
            sanity_check=sanity_check,
            timewait=timewait,
        )

    def _common(self, node: Node, extra: frozenset[str], index: int) -> dict[str, Any]:
        """Attributes shared by all commands, plus the ``<action>`` child."""
        ctx = self.ctx
        node.check_attrs(_COMMON | extra)
        actions: tuple[Action, ...] = ()
        seen_action = False
        for child in _children(node.el, ctx):
            if child.tag != "action":
                raise ctx.error(
                    ctx.start_line(child),
                    f"unknown element <{child.tag}> inside <{node.tag}> (only <action>)",
                )
            if seen_action:
                raise ctx.error(ctx.start_line(child), f"<{node.tag}> has two <action> elements")
            seen_action = True
            actions = parse_actions(child, ctx)
        rtd = node.get("rtd")
        stop_rtd = None if rtd is None else ctx.rtd(rtd, start=False, line=node.line)
        if node.has("repeat_rtd") and stop_rtd is None:
            raise node.error("repeat_rtd is allowed only together with rtd")
        start_rtd = node.get("start_rtd")
        counter = node.get("counter")
        lost = node.double("lost")
        if lost is not None and not 0.0 <= lost <= 100.0:
            raise node.error(f"lost={lost:g} is not a percentage (0-100)")
        if node.has("hiderest"):
            ctx.hide_default = node.bool("hiderest", False)
        chance = node.double("chance")
        if chance is not None and not 0.0 <= chance <= 1.0:
            raise node.error(f"chance={chance:g} is not in the range 0..1")
        next_label, ontimeout = node.get("next"), node.get("ontimeout")
        if node.tag == "timewait" and (next_label is not None or ontimeout is not None):
            raise node.error("next and ontimeout are not allowed on <timewait>")
        return {
            "file": ctx.file,
            "line": node.line,
            "index": index,
            "next": next_label,
            "test": node.var("test"),
            "chance": chance,
            "condexec": node.var("condexec"),
            "condexec_inverse": node.bool("condexec_inverse", False),
            "counter": None if counter is None else ctx.counter(counter, node.line),
            "display": node.get("display"),
            "start_rtd": None if start_rtd is None else ctx.rtd(start_rtd, True, node.line),
            "rtd": stop_rtd,
            "repeat_rtd": node.bool("repeat_rtd", False),
            "crlf": node.bool("crlf", False),
            "hide": node.bool("hide", ctx.hide_default),
            "ignoresdp": node.bool("ignoresdp", False),
            "lost": lost,
            "ontimeout": ontimeout,
            "actions": actions,
        }
