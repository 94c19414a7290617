"""SIP, SIPS and tel URIs (RFC 3261 §19.1, §25.1; RFC 3966), and any other
absolute URI kept as opaque text (RFC 4475 §3.3.2: unknown schemes must parse).

Components are stored as written, escapes included, so that ``str(parse_uri(t))``
gives ``t`` back; ``unescape`` is there for the comparisons that need it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from urllib.parse import unquote as _pct_unquote

from sipwright.sip.errors import ParseError
from sipwright.sip.grammar import Params

__all__ = ["URI", "AbsoluteURI", "SipURI", "TelURI", "parse_uri", "unescape"]

# escaped = "%" HEXDIG HEXDIG ; unreserved = alphanum / mark ; mark = - _ . ! ~ * ' ( )
_UNRESERVED = r"A-Za-z0-9\-_.!~*'()"
_ESCAPED = r"%[0-9A-Fa-f]{2}"
# user = 1*( unreserved / escaped / user-unreserved ); user-unreserved = & = + $ , ; ? /
_USER_RE = re.compile(rf"(?:[{_UNRESERVED}&=+$,;?/]|{_ESCAPED})+")
# password = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," )
_PASSWORD_RE = re.compile(rf"(?:[{_UNRESERVED}&=+$,]|{_ESCAPED})*")
# host = hostname / IPv4address / IPv6reference ; port = 1*DIGIT.  Hostnames are taken
# a little more liberally than §25.1 (underscores occur in real deployments).
_HOSTPORT_RE = re.compile(
    r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_](?:[A-Za-z0-9_\-.]*[A-Za-z0-9_.])?)(?::([0-9]{1,5}))?"
)
# uri-parameter: pname [ "=" pvalue ]; paramchar = param-unreserved / unreserved / escaped;
# param-unreserved = "[" / "]" / "/" / ":" / "&" / "+" / "$"
_PARAMCHARS = rf"(?:[{_UNRESERVED}\[\]/:&+$]|{_ESCAPED})+"
_URI_PARAM_RE = re.compile(rf";({_PARAMCHARS})(?:=({_PARAMCHARS}))?")
# header = hname "=" hvalue; hnv-unreserved = "[" / "]" / "/" / "?" / ":" / "+" / "$"
_HNV = rf"(?:[{_UNRESERVED}\[\]/?:+$]|{_ESCAPED})"
_HEADERS_RE = re.compile(rf"{_HNV}+={_HNV}*(?:&{_HNV}+={_HNV}*)*")
# absoluteURI: scheme ":" ( hier-part / opaque-part ); scheme = ALPHA *( ALPHA / DIGIT / + - . )
_ABSOLUTE_RE = re.compile(r"([A-Za-z][A-Za-z0-9+\-.]*):([^\s<>\"]+)")
# telephone-subscriber (RFC 3966 §3), checked loosely: digits, visual separators, params.
_TEL_RE = re.compile(r"(\+?[0-9A-Fa-f*#\-.()]+)((?:;[^;\s]+)*)")


def unescape(text: str) -> str:
    """Resolve ``%HH`` escapes (RFC 3261 §19.1.4 compares URIs unescaped)."""
    return _pct_unquote(text, errors="surrogateescape") if "%" in text else text


@dataclass(frozen=True, slots=True)
class SipURI:
    """A ``sip:`` or ``sips:`` URI: ``scheme:[user[:password]@]host[:port][;params][?headers]``."""

    host: str
    user: str | None = None
    port: int | None = None
    scheme: str = "sip"
    password: str | None = None
    params: Params = field(default_factory=Params)
    headers: str | None = None

    @property
    def transport(self) -> str | None:
        value = self.params.get("transport")
        return value.lower() if value else None

    @property
    def lr(self) -> bool:
        """Loose-routing flag of a Route/Record-Route URI (RFC 3261 §19.1.1)."""
        return "lr" in self.params

    @property
    def maddr(self) -> str | None:
        return self.params.get("maddr")

    @property
    def secure(self) -> bool:
        return self.scheme == "sips"

    @property
    def host_port(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def with_params(self, **params: str | None) -> SipURI:
        """A copy with the given URI parameters set (``None`` value: a flag parameter)."""
        new = self.params
        for name, value in params.items():
            new = new.with_param(name.replace("_", "-"), value)
        return replace(self, params=new)

    def without_params(self, *names: str) -> SipURI:
        new = self.params
        for name in names:
            new = new.without(name)
        return replace(self, params=new)

    def without_headers(self) -> SipURI:
        return replace(self, headers=None)

    def __str__(self) -> str:
        parts = [self.scheme, ":"]
        if self.user is not None:
            parts.append(self.user)
            if self.password is not None:
                parts.append(":" + self.password)
            parts.append("@")
        parts.append(self.host_port)
        parts.append(str(self.params))
        if self.headers is not None:
            parts.append("?" + self.headers)
        return "".join(parts)


@dataclass(frozen=True, slots=True)
class TelURI:
    """A ``tel:`` URI (RFC 3966): the number and its parameters, as written."""

    number: str
    params: Params = field(default_factory=Params)
    scheme: str = "tel"

    @property
    def is_global(self) -> bool:
        return self.number.startswith("+")

    def __str__(self) -> str:
        return f"tel:{self.number}{self.params}"


@dataclass(frozen=True, slots=True)
class AbsoluteURI:
    """Any other URI (``http:``, ``urn:``, ``isbn:`` ...), kept as opaque text."""

    scheme: str
    opaque: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.opaque}"


URI = SipURI | TelURI | AbsoluteURI


def _parse_uri_params(text: str, pos: int, uri: str) -> tuple[Params, int]:
    items: list[tuple[str, str | None]] = []
    end = len(text)
    while pos < end and text[pos] == ";":
        match = _URI_PARAM_RE.match(text, pos)
        if match is None:
            raise ParseError("malformed URI parameter", 400, uri)
        items.append((match.group(1), match.group(2)))
        pos = match.end()
    return Params(tuple(items)), pos


def _parse_sip_uri(text: str, scheme: str, rest: str) -> SipURI:
    user = password = None
    at = rest.find("@")
    if at >= 0:
        userinfo = rest[:at]
        rest = rest[at + 1 :]
        # The password never contains ":" so the last colon separates it (§25.1).
        name, colon, secret = userinfo.rpartition(":")
        if colon and _PASSWORD_RE.fullmatch(secret) and _USER_RE.fullmatch(name):
            user, password = name, secret
        elif _USER_RE.fullmatch(userinfo):
            user = userinfo
        else:
            raise ParseError("malformed user part in URI", 400, text)
    match = _HOSTPORT_RE.match(rest)
    if match is None:
        raise ParseError("malformed host in URI", 400, text)
    host = match.group(1)
    port = int(match.group(2)) if match.group(2) else None
    if port is not None and port > 65535:
        raise ParseError("port out of range in URI", 400, text)
    params, pos = _parse_uri_params(rest, match.end(), text)
    headers = None
    if pos < len(rest) and rest[pos] == "?":
        headers = rest[pos + 1 :]
        if not _HEADERS_RE.fullmatch(headers):
            raise ParseError("malformed headers in URI", 400, text)
        pos = len(rest)
    if pos != len(rest):
        raise ParseError("unexpected characters in URI", 400, text)
    return SipURI(
        host=host,
        user=user,
        port=port,
        scheme=scheme,
        password=password,
        params=params,
        headers=headers,
    )


@lru_cache(maxsize=8192)  # URIs are immutable; the same text parses to one object
def parse_uri(text: str) -> URI:
    """Parse a URI; ``sip``/``sips``/``tel`` strictly, other schemes as opaque text.

    Raises ``ParseError`` (status hint 400) naming the URI when it is malformed.
    """
    colon = text.find(":")
    if colon <= 0:
        raise ParseError("URI has no scheme", 400, text)
    scheme = text[:colon].lower()
    rest = text[colon + 1 :]
    if scheme in ("sip", "sips"):
        return _parse_sip_uri(text, scheme, rest)
    if scheme == "tel":
        match = _TEL_RE.fullmatch(rest)
        if match is None:
            raise ParseError("malformed tel URI", 400, text)
        params, _ = _parse_uri_params(match.group(2), 0, text)
        return TelURI(number=match.group(1), params=params)
    match = _ABSOLUTE_RE.fullmatch(text)
    if match is None:
        raise ParseError("malformed URI", 400, text)
    return AbsoluteURI(scheme=match.group(1), opaque=match.group(2))
