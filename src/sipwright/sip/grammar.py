"""Lexical pieces of the SIP grammar (RFC 3261 §25.1) shared by URIs and headers.

Each regular expression quotes the ABNF it implements.  Values are handled as
``str``; non-UTF-8 octets from the network arrive as surrogate escapes (see
``message.py``) so they survive a round trip untouched.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from sipwright.sip.errors import ParseError

__all__ = [
    "TOKEN_RE",
    "Params",
    "parse_params",
    "quote",
    "split_list",
    "unquote",
]

# token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
TOKEN_CHARS = r"A-Za-z0-9\-.!%*_+`'~"
TOKEN_RE = re.compile(rf"[{TOKEN_CHARS}]+")
# word = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~" /
#        "(" / ")" / "<" / ">" / ":" / "\" / DQUOTE / "/" / "[" / "]" / "?" / "{" / "}" )
WORD_CHARS = TOKEN_CHARS + r"()<>:\\\"/\[\]?{}"
# quoted-string = SWS DQUOTE *(qdtext / quoted-pair ) DQUOTE
# qdtext = LWS / %x21 / %x23-5B / %x5D-7E / UTF8-NONASCII
# quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)
QUOTED_RE = re.compile(r'"(?:[^"\\\r\n]|\\[\x00-\x09\x0b\x0c\x0e-\x7f])*"')
# Parameter: generic-param = token [ EQUAL gen-value ]; gen-value = token / host / quoted-string.
# EQUAL = SWS "=" SWS; SEMI = SWS ";" SWS.  Host values add "[", "]" and ":" (IPv6 references).
PARAM_RE = re.compile(
    rf"\s*;\s*([{TOKEN_CHARS}]+)(?:\s*=\s*([{TOKEN_CHARS}\[\]:]+|{QUOTED_RE.pattern}))?"
)


def unquote(text: str) -> str:
    """The content of a quoted-string with quoted-pairs resolved (§25.1)."""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        inner = text[1:-1]
        return re.sub(r"\\(.)", r"\1", inner, flags=re.DOTALL) if "\\" in inner else inner
    return text


def quote(text: str) -> str:
    """A quoted-string holding ``text`` (escaping ``"`` and ``\\``)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Params:
    """An ordered list of ``;name[=value]`` parameters with case-insensitive names.

    RFC 3261 §7.3.1 and §19.1.4 make parameter names case-insensitive; the order and
    spelling are kept so that a message re-serialises as it was received.
    """

    __slots__ = ("_items",)

    def __init__(self, items: tuple[tuple[str, str | None], ...] = ()) -> None:
        self._items = items

    @property
    def items(self) -> tuple[tuple[str, str | None], ...]:
        return self._items

    def get(self, name: str, default: str | None = None) -> str | None:
        lname = name.lower()
        for key, value in self._items:
            if key.lower() == lname:
                return value
        return default

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        lname = name.lower()
        return any(key.lower() == lname for key, _ in self._items)

    def with_param(self, name: str, value: str | None = None) -> Params:
        """A copy with ``name`` set (replaced in place if present, else appended)."""
        lname = name.lower()
        items = list(self._items)
        for i, (key, _) in enumerate(items):
            if key.lower() == lname:
                items[i] = (key, value)
                return Params(tuple(items))
        items.append((name, value))
        return Params(tuple(items))

    def without(self, name: str) -> Params:
        lname = name.lower()
        return Params(tuple(item for item in self._items if item[0].lower() != lname))

    def __iter__(self) -> Iterator[tuple[str, str | None]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Params):
            return NotImplemented
        mine = sorted((k.lower(), v) for k, v in self._items)
        theirs = sorted((k.lower(), v) for k, v in other._items)
        return mine == theirs

    def __hash__(self) -> int:
        return hash(tuple(sorted((k.lower(), v or "") for k, v in self._items)))

    def __str__(self) -> str:
        return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in self._items)

    def __repr__(self) -> str:
        return f"Params({self._items!r})"


def parse_params(text: str, pos: int, what: str) -> tuple[Params, int]:
    """Parse ``*(SEMI generic-param)`` from ``text[pos:]``.

    Returns the parameters and the position after the last one.  An empty
    parameter (``;;``) or a dangling ``=`` is an error (RFC 4475 §3.1.2.1).
    """
    items: list[tuple[str, str | None]] = []
    end = len(text)
    while pos < end:
        match = PARAM_RE.match(text, pos)
        if match is None:
            rest = text[pos:].lstrip()
            if not rest or rest[0] != ";":
                break
            raise ParseError(f"malformed parameter in {what}", 400, text)
        items.append((match.group(1), match.group(2)))
        pos = match.end()
    return Params(tuple(items)), pos


def split_list(value: str) -> list[str]:
    """Split a comma-separated header value (§7.3.1), ignoring commas inside
    quoted strings and ``<...>`` so that a display name or URI keeps its commas."""
    if "," not in value:
        return [value.strip()]
    parts: list[str] = []
    depth = 0
    in_quote = False
    start = 0
    i = 0
    n = len(value)
    while i < n:
        ch = value[i]
        if in_quote:
            if ch == "\\":
                i += 1
            elif ch == '"':
                in_quote = False
        elif ch == '"':
            in_quote = True
        elif ch == "<":
            depth += 1
        elif ch == ">":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            parts.append(value[start:i].strip())
            start = i + 1
        i += 1
    parts.append(value[start:].strip())
    return parts
