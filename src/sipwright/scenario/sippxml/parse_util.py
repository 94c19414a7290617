"""Helpers of the SIPp XML parser: attribute access and conversion, bookkeeping.

Numbers are read the way SIPp reads them (``strtol(..., 0)`` for integers, so
``0x10`` and octal ``010`` work; ``strtod`` for doubles), but an empty value or
trailing garbage is an error, and so are non-finite doubles.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from lxml import etree

from sipwright.scenario.sippxml.model import ScenarioError

__all__ = ["Node", "ParseContext", "parse_double", "parse_long", "source_line"]

_LONG_RE = re.compile(r"[ \t\n\r\f\v]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")
_DOUBLE_RE = re.compile(
    r"[ \t\n\r\f\v]*[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
    r"|0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?)"
)
# [$name] (with an optional +N/-N offset) and [fill ... variable=name] in any text
_VAR_REF_RE = re.compile(r"\[\$([^\]\[]*)\]|variable=([^\]\s]+)")
_OFFSET_RE = re.compile(r"[+-][0-9]+$")
_MAX_LINE_SCAN = 500


def source_line(el: etree._Element) -> int:
    """libxml2's line number of ``el`` (0 when unknown)."""
    line: object = el.sourceline
    return line if isinstance(line, int) else 0


def parse_long(text: str) -> int | None:
    """``text`` as a C ``strtol(text, &end, 0)`` integer, None when not entirely one."""
    match = _LONG_RE.fullmatch(text)
    if match is None:
        return None
    sign, digits = match.groups()
    if digits[:2] in ("0x", "0X"):
        value = int(digits[2:], 16)
    elif digits.startswith("0"):
        value = int(digits, 8)
    else:
        value = int(digits)
    return -value if sign == "-" else value


def parse_double(text: str) -> float | None:
    """``text`` as a finite C ``strtod`` double, None otherwise."""
    if _DOUBLE_RE.fullmatch(text) is None:
        return None
    body = text.lstrip(" \t\n\r\f\v")
    try:
        value = float.fromhex(body) if "x" in body.lower() else float(body)
    except (ValueError, OverflowError):
        return None
    return value if math.isfinite(value) else None


def parse_bool(text: str) -> bool | None:
    """SIPp's booleans: true/false (any case) or an integer (non-zero is true)."""
    lowered = text.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    number = parse_long(text)
    return None if number is None else number != 0


@dataclass(slots=True)
class _Txn:
    line: int
    started: int = 0
    responses: int = 0
    acks: int = 0
    is_invite: bool = False


@dataclass(slots=True)
class ParseContext:
    """State collected while parsing one scenario document."""

    file: str
    source_lines: list[str]
    var_refs: dict[str, int] = field(default_factory=dict)
    var_lines: dict[str, int] = field(default_factory=dict)
    rtd_started: dict[str, int] = field(default_factory=dict)
    rtd_stopped: set[str] = field(default_factory=set)
    rtds: list[str] = field(default_factory=list)
    counters: list[str] = field(default_factory=list)
    txns: dict[str, _Txn] = field(default_factory=dict)
    has_media: bool = False
    hide_default: bool = False

    def error(self, line: int, message: str) -> ScenarioError:
        return ScenarioError(self.file, line, message)

    def start_line(self, el: etree._Element) -> int:
        """1-based line of the ``<tag`` that opens ``el``.

        libxml2 records the line where the start tag *ends*; for a tag spread over
        several lines the opening ``<tag`` is found by looking back in the source.
        """
        end = source_line(el)
        tag = el.tag
        if not isinstance(tag, str) or end <= 0 or end > len(self.source_lines):
            return max(end, 0)
        opening = re.compile(rf"<{re.escape(tag)}(?=[\s/>]|$)")
        for number in range(end, max(end - _MAX_LINE_SCAN, 0), -1):
            if opening.search(self.source_lines[number - 1]):
                return number
        return end

    def find_line(self, text: str, start: int) -> int:
        """First line from ``start`` on whose source contains ``text`` (else ``start``)."""
        end = min(start + _MAX_LINE_SCAN, len(self.source_lines))
        for number in range(max(start, 1), end + 1):
            if text in self.source_lines[number - 1]:
                return number
        return start

    # -- variables -------------------------------------------------------------------

    def check_name(self, name: str, what: str, line: int) -> None:
        if not name:
            raise self.error(line, f"{what}: the name may not be empty")
        if "$" in name or "," in name:
            raise self.error(line, f"{what}: name {name!r} may not contain '$' or ','")

    def use_var(self, name: str, line: int, what: str) -> str:
        """Record one reference to variable ``name`` (validated) and return it."""
        self.check_name(name, what, line)
        self._count_var(name, line)
        return name

    def _count_var(self, name: str, line: int) -> None:
        self.var_refs[name] = self.var_refs.get(name, 0) + 1
        self.var_lines.setdefault(name, line)

    def scan_text(self, text: str, line: int) -> None:
        """Count variables referenced by keywords (``[$x]``, ``variable=x``) in ``text``."""
        for match in _VAR_REF_RE.finditer(text):
            name = match.group(1) if match.group(1) is not None else match.group(2)
            name = _OFFSET_RE.sub("", name.strip())
            if name and "$" not in name and "," not in name:
                self._count_var(name, line)

    # -- statistics ------------------------------------------------------------------

    def rtd(self, value: str, start: bool, line: int) -> str | None:
        """Normalise an rtd/start_rtd value ("true" is RTD "1", "false" is none)."""
        if value == "false":
            return None
        name = "1" if value == "true" else value
        if not name:
            raise self.error(line, "an rtd name may not be empty")
        if name not in self.rtds:
            self.rtds.append(name)
        if start:
            self.rtd_started.setdefault(name, line)
        else:
            self.rtd_stopped.add(name)
        return name

    def counter(self, name: str, line: int) -> str:
        self.check_name(name, "counter", line)
        if name not in self.counters:
            self.counters.append(name)
        return name

    def txn(self, name: str, line: int, *, kind: str, is_invite: bool = False) -> str:
        """Record a transaction use: kind is "start", "ack" or "response"."""
        self.check_name(name, f"{kind} transaction", line)
        txn = self.txns.setdefault(name, _Txn(line, is_invite=is_invite))
        if kind == "start":
            if txn.started == 0:
                txn.is_invite = is_invite
            txn.started += 1
        elif kind == "ack":
            txn.acks += 1
        else:
            txn.responses += 1
        return name

    def validate(self) -> None:
        """SIPp's checks once the whole scenario is read."""
        for name, line in self.rtd_started.items():
            if name not in self.rtd_stopped:
                raise self.error(
                    line, f"response time duration {name!r} is started but never stopped"
                )
        for name, txn in self.txns.items():
            if txn.started == 0:
                raise self.error(txn.line, f"transaction {name!r} is never started")
            if txn.responses == 0:
                raise self.error(txn.line, f"transaction {name!r} has no response defined")
            if txn.is_invite and txn.acks == 0:
                raise self.error(txn.line, f"INVITE transaction {name!r} is never ACKed")
            if not txn.is_invite and txn.acks > 0:
                raise self.error(txn.line, f"non-INVITE transaction {name!r} has an ACK")
        for name, count in self.var_refs.items():
            if count < 2 and name != "_":
                raise self.error(
                    self.var_lines[name],
                    f"variable {name!r} is used only once (SIPp requires each variable "
                    'to be set and used; list it in <Reference variables="..."/> if '
                    "that is intended)",
                )


class Node:
    """One XML element with typed, validated access to its attributes."""

    __slots__ = ("ctx", "el", "file", "line", "tag")

    def __init__(self, el: etree._Element, ctx: ParseContext) -> None:
        self.el = el
        self.ctx = ctx
        self.file = ctx.file
        self.tag = str(el.tag)
        self.line = ctx.start_line(el)

    def error(self, message: str) -> ScenarioError:
        return self.ctx.error(self.line, message)

    def check_attrs(self, allowed: frozenset[str]) -> None:
        for name in self.el.attrib:
            key = str(name)
            if key not in allowed:
                known = ", ".join(sorted(allowed)) or "none"
                raise self.error(f"unknown attribute {key!r} on <{self.tag}> (allowed: {known})")

    def has(self, name: str) -> bool:
        return self.el.get(name) is not None

    def get(self, name: str) -> str | None:
        value = self.el.get(name)
        return None if value is None else str(value)

    def require(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise self.error(f"<{self.tag}> is missing the required {name!r} attribute")
        return value

    def _bad(self, name: str, value: str, kind: str) -> ScenarioError:
        return self.error(f"<{self.tag}> attribute {name}={value!r} is not {kind}")

    def long(self, name: str, *, minimum: int | None = None) -> int | None:
        value = self.get(name)
        if value is None:
            return None
        number = parse_long(value)
        if number is None:
            raise self._bad(name, value, "a valid integer")
        if minimum is not None and number < minimum:
            raise self._bad(name, value, f"an integer >= {minimum}")
        return number

    def double(self, name: str) -> float | None:
        value = self.get(name)
        if value is None:
            return None
        number = parse_double(value)
        if number is None:
            raise self._bad(name, value, "a valid number")
        return number

    def require_double(self, name: str) -> float:
        number = self.double(name)
        if number is None:
            raise self.error(f"<{self.tag}> is missing the required {name!r} attribute")
        return number

    def bool(self, name: str, default: bool) -> bool:
        value = self.get(name)
        if value is None:
            return default
        result = parse_bool(value)
        if result is None:
            raise self._bad(name, value, "a boolean (true/false)")
        return result

    def var(self, name: str) -> str | None:
        value = self.get(name)
        if value is None:
            return None
        return self.ctx.use_var(value.strip(), self.line, f"<{self.tag}> {name}")

    def require_var(self, name: str) -> str:
        self.require(name)
        value = self.var(name)
        assert value is not None
        return value

    def var_list(self, name: str) -> tuple[str, ...]:
        """A comma separated list of variables (``assign_to="a,b,c"``)."""
        value = self.require(name)
        return tuple(
            self.ctx.use_var(part.strip(), self.line, f"<{self.tag}> {name}")
            for part in value.split(",")
        )

    def scan_attrs(self) -> None:
        """Count variable references in every attribute value (for the usage check)."""
        for value in self.el.attrib.values():
            self.ctx.scan_text(str(value), self.line)
