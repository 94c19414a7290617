"""Parsing of ``<action>`` children and of statistical distributions."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal, cast

from lxml import etree

from sipwright.scenario.sippxml.distributions import DISTRIBUTION_PARAMS, Distribution, Fixed
from sipwright.scenario.sippxml.model_actions import (
    RTP_ECHO_KINDS,
    Action,
    Arithmetic,
    ArithmeticOp,
    AssignStr,
    CloseCon,
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
    PauseRestore,
    PlayDtmf,
    PlayPcap,
    Replace,
    RtpEcho,
    RtpEchoStream,
    RtpStream,
    Sample,
    SearchIn,
    SetDest,
    StrCmp,
    Test,
    ToDouble,
    Trim,
    UrlDecode,
    UrlEncode,
    VerifyAuth,
)
from sipwright.scenario.sippxml.parse_util import Node, ParseContext
from sipwright.scenario.sippxml.posix_regex import compile_posix

__all__ = ["DISTRIBUTION_ATTRS", "OLD_STYLE_PAUSE_ATTRS", "parse_actions", "parse_distribution"]

DISTRIBUTION_ATTRS = frozenset(
    {"distribution"} | {name for _, names in DISTRIBUTION_PARAMS.values() for name in names}
)
# <pause> shortcuts that select a distribution without distribution="..."
OLD_STYLE_PAUSE_ATTRS = frozenset(
    {"normal", "exponential", "lognormal", "weibull", "pareto", "gamma", "milliseconds"}
)
_OLD_STYLE_ORDER = (
    ("normal", "normal"),
    ("exponential", "exponential"),
    ("lognormal", "lognormal"),
    ("weibull", "weibull"),
    ("pareto", "pareto"),
    ("gamma", "gamma"),
    ("min", "uniform"),
    ("max", "uniform"),
)


def parse_distribution(node: Node, *, old_style: bool) -> Distribution | None:
    """The distribution described by ``node``'s attributes.

    ``old_style`` (``<pause>``): ``distribution`` may be left out; then ``milliseconds``
    gives a fixed pause, ``min``/``max`` a uniform one, ``mean``... with the
    distribution's name as an attribute, and nothing at all means the default pause
    (None).
    """
    name = node.get("distribution")
    if name is None:
        if not old_style:
            raise node.error(f"<{node.tag}> requires a 'distribution' attribute")
        for attr, dist_name in _OLD_STYLE_ORDER:
            if node.has(attr):
                name = dist_name
                break
        else:
            if node.has("milliseconds"):
                return Fixed(node.require_double("milliseconds"))
            return None
    entry = DISTRIBUTION_PARAMS.get(name)
    if entry is None:
        known = ", ".join(DISTRIBUTION_PARAMS)
        raise node.error(f"unknown distribution {name!r} (known: {known})")
    cls, params = entry
    values = [node.require_double(param) for param in params]
    return cls(*values)


# -- one function per action element -------------------------------------------------

_Parser = Callable[[Node], Action]


def _rhs(node: Node) -> tuple[float | None, str | None]:
    """``value`` (a number) or ``variable``: exactly one of them."""
    if node.has("value") and node.has("variable"):
        raise node.error(f"<{node.tag}>: 'value' and 'variable' are mutually exclusive")
    if node.has("value"):
        return node.require_double("value"), None
    if node.has("variable"):
        return None, node.require_var("variable")
    raise node.error(f"<{node.tag}> needs a 'value' or a 'variable' attribute")


def _checks(node: Node) -> tuple[bool, bool]:
    check_it = node.bool("check_it", False)
    check_it_inverse = node.bool("check_it_inverse", False)
    if node.has("check_it") and node.has("check_it_inverse"):
        raise node.error(f"<{node.tag}> can not have both check_it and check_it_inverse")
    return check_it, check_it_inverse


def _optional_assign_to(node: Node) -> str | None:
    # assign_to may be left out only when the result is checked
    if node.has("assign_to") or not (node.has("check_it") or node.has("check_it_inverse")):
        return node.require_var("assign_to")
    return None


def _ereg(node: Node) -> Ereg:
    regexp = node.require("regexp")
    try:
        compile_posix(regexp)
    except re.error as error:
        raise node.error(f"invalid regexp {regexp!r}: {error}") from None
    search_in = node.get("search_in") or "msg"
    if search_in not in ("msg", "hdr", "body", "var"):
        raise node.error(f"unknown search_in value {search_in!r} (msg, hdr, body or var)")
    header = node.get("header")
    if search_in == "hdr" and not header:
        raise node.error('<ereg search_in="hdr"> requires a non-empty header attribute')
    variable = node.require_var("variable") if search_in == "var" else None
    occurrence = 1
    if node.has("occurrence"):
        occurrence = node.long("occurrence", minimum=1) or 1
    elif node.has("occurence"):  # SIPp accepts this old misspelling
        occurrence = node.long("occurence", minimum=1) or 1
    check_it, check_it_inverse = _checks(node)
    return Ereg(
        file=node.file,
        line=node.line,
        regexp=regexp,
        assign_to=node.var_list("assign_to"),
        search_in=cast(SearchIn, search_in),
        header=header,
        variable=variable,
        case_indep=node.bool("case_indep", False),
        start_line=node.bool("start_line", False),
        occurrence=occurrence,
        check_it=check_it,
        check_it_inverse=check_it_inverse,
    )


def _log(node: Node) -> Log:
    level = cast(Literal["log", "warning", "error"], node.tag)
    return Log(file=node.file, line=node.line, level=level, message=node.require("message"))


def _arithmetic(node: Node) -> Arithmetic:
    assign_to = node.require_var("assign_to")
    value, variable = _rhs(node)
    if node.tag == "divide" and value == 0.0:
        raise node.error("<divide> can not have a value of zero")
    return Arithmetic(
        file=node.file,
        line=node.line,
        op=cast(ArithmeticOp, node.tag),
        assign_to=assign_to,
        value=value,
        variable=variable,
    )


def _assignstr(node: Node) -> AssignStr:
    return AssignStr(
        file=node.file,
        line=node.line,
        assign_to=node.require_var("assign_to"),
        value=node.require("value"),
    )


def _gettimeofday(node: Node) -> GetTimeOfDay:
    names = node.var_list("assign_to")
    if len(names) != 2:
        raise node.error('<gettimeofday> needs two variables: assign_to="seconds,microseconds"')
    return GetTimeOfDay(file=node.file, line=node.line, seconds=names[0], microseconds=names[1])


def _index(node: Node) -> Index:
    return Index(file=node.file, line=node.line, assign_to=node.require_var("assign_to"))


def _jump(node: Node) -> Jump:
    value, variable = _rhs(node)
    return Jump(file=node.file, line=node.line, value=value, variable=variable)


def _pauserestore(node: Node) -> PauseRestore:
    value, variable = _rhs(node)
    return PauseRestore(file=node.file, line=node.line, value=value, variable=variable)


def _rtp_echo(node: Node) -> RtpEcho:
    value, variable = _rhs(node)
    node.ctx.has_media = True
    return RtpEcho(file=node.file, line=node.line, value=value, variable=variable)


def _sample(node: Node) -> Sample:
    assign_to = node.require_var("assign_to")
    distribution = parse_distribution(node, old_style=False)
    assert distribution is not None
    return Sample(file=node.file, line=node.line, assign_to=assign_to, distribution=distribution)


def _todouble(node: Node) -> ToDouble:
    return ToDouble(
        file=node.file,
        line=node.line,
        assign_to=node.require_var("assign_to"),
        variable=node.require_var("variable"),
    )


def _test(node: Node) -> Test:
    check_it, check_it_inverse = _checks(node)
    assign_to = _optional_assign_to(node)
    variable = node.require_var("variable")
    value: float | None = None
    variable2: str | None = None
    if node.has("value"):
        if node.has("variable2"):
            raise node.error("<test> can not have both 'value' and 'variable2'")
        value = node.require_double("value")
    else:
        variable2 = node.require_var("variable2")
    compare_text = node.require("compare")
    try:
        compare = Compare(compare_text)
    except ValueError:
        known = ", ".join(c.value for c in Compare)
        raise node.error(f"unknown compare operator {compare_text!r} (known: {known})") from None
    return Test(
        file=node.file,
        line=node.line,
        variable=variable,
        compare=compare,
        assign_to=assign_to,
        value=value,
        variable2=variable2,
        check_it=check_it,
        check_it_inverse=check_it_inverse,
    )


def _strcmp(node: Node) -> StrCmp:
    check_it, check_it_inverse = _checks(node)
    assign_to = _optional_assign_to(node)
    variable = node.require_var("variable")
    value = node.get("value")
    variable2: str | None = None
    if value is not None:
        if node.has("variable2"):
            raise node.error("<strcmp> can not have both 'value' and 'variable2'")
    else:
        variable2 = node.require_var("variable2")
    return StrCmp(
        file=node.file,
        line=node.line,
        variable=variable,
        assign_to=assign_to,
        value=value,
        variable2=variable2,
        check_it=check_it,
        check_it_inverse=check_it_inverse,
    )


def _verifyauth(node: Node) -> VerifyAuth:
    return VerifyAuth(
        file=node.file,
        line=node.line,
        assign_to=node.require_var("assign_to"),
        username=node.require("username"),
        password=node.require("password"),
    )


def _lookup(node: Node) -> Lookup:
    return Lookup(
        file=node.file,
        line=node.line,
        assign_to=node.require_var("assign_to"),
        path=node.require("file"),
        key=node.require("key"),
    )


def _insert(node: Node) -> Insert:
    return Insert(
        file=node.file, line=node.line, path=node.require("file"), value=node.require("value")
    )


def _replace(node: Node) -> Replace:
    return Replace(
        file=node.file,
        line=node.line,
        path=node.require("file"),
        target_line=node.require("line"),
        value=node.require("value"),
    )


def _setdest(node: Node) -> SetDest:
    return SetDest(
        file=node.file,
        line=node.line,
        host=node.require("host"),
        port=node.require("port"),
        protocol=node.require("protocol"),
    )


def _closecon(node: Node) -> CloseCon:
    return CloseCon(file=node.file, line=node.line)


def _trim(node: Node) -> Trim:
    return Trim(file=node.file, line=node.line, assign_to=node.require_var("assign_to"))


def _urlencode(node: Node) -> UrlEncode:
    return UrlEncode(file=node.file, line=node.line, variable=node.require_var("variable"))


def _urldecode(node: Node) -> UrlDecode:
    return UrlDecode(file=node.file, line=node.line, variable=node.require_var("variable"))


_EXEC_KINDS = (
    "command",
    "int_cmd",
    "play_pcap_audio",
    "play_pcap_image",
    "play_pcap_video",
    "play_dtmf",
    "rtp_stream",
    "rtp_echo",
)
_INT_CMDS = ("stop_call", "stop_gracefully", "stop_now")


def _exec(node: Node) -> Action:
    present = [kind for kind in _EXEC_KINDS if node.has(kind)]
    if not present:
        raise node.error(f"<exec> needs one of: {', '.join(_EXEC_KINDS)}")
    if len(present) > 1:
        raise node.error(f"<exec> can have only one of: {', '.join(present)}")
    kind = present[0]
    value = node.require(kind)
    if kind == "command":
        return ExecCommand(file=node.file, line=node.line, command=value)
    if kind == "int_cmd":
        if value not in _INT_CMDS:
            raise node.error(f"unknown int_cmd {value!r} (known: {', '.join(_INT_CMDS)})")
        command = cast(Literal["stop_call", "stop_gracefully", "stop_now"], value)
        return IntCmd(file=node.file, line=node.line, command=command)
    node.ctx.has_media = True
    if not value:
        raise node.error(f"<exec> attribute {kind} may not be empty")
    if kind == "play_dtmf":
        return PlayDtmf(file=node.file, line=node.line, digits=value)
    if kind == "rtp_echo":
        for echo_kind in RTP_ECHO_KINDS:
            if value.startswith(echo_kind):
                return RtpEchoStream(file=node.file, line=node.line, kind=echo_kind, value=value)
        known = ", ".join(RTP_ECHO_KINDS)
        raise node.error(f"<exec rtp_echo={value!r}> must start with one of: {known}")
    if kind == "rtp_stream":
        return RtpStream(file=node.file, line=node.line, value=value)
    media = cast(Literal["audio", "image", "video"], kind.removeprefix("play_pcap_"))
    return PlayPcap(file=node.file, line=node.line, media=media, path=value)


_CHECKS = frozenset({"check_it", "check_it_inverse"})
_RHS = frozenset({"value", "variable"})

# action element -> (allowed attributes, parser)
ACTIONS: dict[str, tuple[frozenset[str], _Parser]] = {
    "ereg": (
        frozenset(
            {"regexp", "search_in", "header", "variable", "case_indep", "start_line"}
            | {"occurrence", "occurence", "assign_to"}
            | _CHECKS
        ),
        _ereg,
    ),
    "log": (frozenset({"message"}), _log),
    "warning": (frozenset({"message"}), _log),
    "error": (frozenset({"message"}), _log),
    "assign": (_RHS | {"assign_to"}, _arithmetic),
    "add": (_RHS | {"assign_to"}, _arithmetic),
    "subtract": (_RHS | {"assign_to"}, _arithmetic),
    "multiply": (_RHS | {"assign_to"}, _arithmetic),
    "divide": (_RHS | {"assign_to"}, _arithmetic),
    "assignstr": (frozenset({"assign_to", "value"}), _assignstr),
    "gettimeofday": (frozenset({"assign_to"}), _gettimeofday),
    "index": (frozenset({"assign_to"}), _index),
    "jump": (_RHS, _jump),
    "pauserestore": (_RHS, _pauserestore),
    "rtp_echo": (_RHS, _rtp_echo),
    "sample": (DISTRIBUTION_ATTRS | {"assign_to"}, _sample),
    "todouble": (frozenset({"assign_to", "variable"}), _todouble),
    "test": (
        frozenset({"assign_to", "variable", "variable2", "value", "compare"}) | _CHECKS,
        _test,
    ),
    "strcmp": (frozenset({"assign_to", "variable", "variable2", "value"}) | _CHECKS, _strcmp),
    "verifyauth": (frozenset({"assign_to", "username", "password"}), _verifyauth),
    "lookup": (frozenset({"assign_to", "file", "key"}), _lookup),
    "insert": (frozenset({"file", "value"}), _insert),
    "replace": (frozenset({"file", "line", "value"}), _replace),
    "setdest": (frozenset({"host", "port", "protocol"}), _setdest),
    "closecon": (frozenset(), _closecon),
    "trim": (frozenset({"assign_to"}), _trim),
    "urlencode": (frozenset({"variable"}), _urlencode),
    "urldecode": (frozenset({"variable"}), _urldecode),
    "exec": (frozenset(_EXEC_KINDS), _exec),
}


def parse_actions(action_el: etree._Element, ctx: ParseContext) -> tuple[Action, ...]:
    """The actions inside one ``<action>`` element, in order."""
    holder = Node(action_el, ctx)
    holder.check_attrs(frozenset())
    actions: list[Action] = []
    for child in action_el:
        if isinstance(child, (etree._Comment, etree._ProcessingInstruction)):
            continue
        if not isinstance(child.tag, str):
            raise ctx.error(ctx.start_line(child), "entity references are not supported here")
        node = Node(child, ctx)
        entry = ACTIONS.get(node.tag)
        if entry is None:
            known = ", ".join(sorted(ACTIONS))
            raise node.error(f"unknown action <{node.tag}> (known: {known})")
        allowed, parse = entry
        node.check_attrs(allowed)
        if any(isinstance(grandchild.tag, str) for grandchild in child):
            raise node.error(f"<{node.tag}> may not contain elements")
        node.scan_attrs()
        actions.append(parse(node))
    return tuple(actions)
