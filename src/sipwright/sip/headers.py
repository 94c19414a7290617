"""The header container and the structured header values SIP needs most.

``Headers`` keeps every field as received (name spelling, order, repetition) so a
message re-serialises unchanged; lookups are by canonical name, so ``get("Call-ID")``
also finds a compact ``i:`` (RFC 3261 §7.3.3).  Structured values (Via, name-addr,
CSeq) are parsed on demand: the hot path only pays for what it reads.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from functools import lru_cache

from sipwright.sip.errors import ParseError
from sipwright.sip.grammar import (
    QUOTED_RE,
    TOKEN_CHARS,
    Params,
    parse_params,
    quote,
    split_list,
    unquote,
)
from sipwright.sip.uri import URI, SipURI, parse_uri

__all__ = [
    "COMPACT_FORMS",
    "CSeq",
    "Headers",
    "NameAddr",
    "Via",
    "canonical_name",
    "parse_cseq",
    "parse_name_addr",
    "parse_name_addr_list",
    "parse_via",
    "parse_via_list",
]

# RFC 3261 §7.3.3 and §20, plus the compact forms registered since (RFC 3515 r,
# RFC 3892 b, RFC 4028 x, RFC 3841 y, RFC 3903 ... ) as the issue lists them.
COMPACT_FORMS: dict[str, str] = {
    "i": "Call-ID",
    "v": "Via",
    "f": "From",
    "t": "To",
    "m": "Contact",
    "l": "Content-Length",
    "c": "Content-Type",
    "k": "Supported",
    "s": "Subject",
    "e": "Content-Encoding",
    "o": "Event",
    "u": "Allow-Events",
    "r": "Refer-To",
    "b": "Referred-By",
    "x": "Session-Expires",
    "y": "Identity",
}

_WELL_KNOWN = (
    "Accept",
    "Accept-Encoding",
    "Accept-Language",
    "Alert-Info",
    "Allow",
    "Allow-Events",
    "Authentication-Info",
    "Authorization",
    "Call-ID",
    "Call-Info",
    "Contact",
    "Content-Disposition",
    "Content-Encoding",
    "Content-Language",
    "Content-Length",
    "Content-Type",
    "CSeq",
    "Date",
    "Error-Info",
    "Event",
    "Expires",
    "From",
    "Identity",
    "In-Reply-To",
    "Max-Forwards",
    "Min-Expires",
    "Min-SE",
    "MIME-Version",
    "Organization",
    "P-Asserted-Identity",
    "Path",
    "Priority",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Proxy-Require",
    "RAck",
    "Reason",
    "Record-Route",
    "Refer-To",
    "Referred-By",
    "Reply-To",
    "Require",
    "Retry-After",
    "Route",
    "RSeq",
    "Server",
    "Service-Route",
    "Session-Expires",
    "Subject",
    "Subscription-State",
    "Supported",
    "Timestamp",
    "To",
    "Unsupported",
    "User-Agent",
    "Via",
    "Warning",
    "WWW-Authenticate",
)

# Parsed values are immutable, so parsing the same text again can return the same
# object: the hot path asks for the tags, Via and CSeq of one message many times.
_CACHE_SIZE = 8192

_CANONICAL: dict[str, str] = {name.lower(): name for name in _WELL_KNOWN}
_CANONICAL.update(COMPACT_FORMS)


def canonical_name(name: str) -> str:
    """The full, conventionally spelled name of a header (compact forms expanded)."""
    return _CANONICAL.get(name.lower(), name)


_KEY_CACHE: dict[str, str] = {}


def _key(name: str) -> str:
    """The lookup key of a header name: its canonical long form, lower-cased."""
    key = _KEY_CACHE.get(name)
    if key is None:
        found = _CANONICAL.get(name.lower())
        key = found.lower() if found is not None else name.lower()
        if len(_KEY_CACHE) < 4096:  # bounded: names come from the network
            _KEY_CACHE[name] = key
    return key


class Headers:
    """Ordered header fields: ``(name as written, value)`` with canonical lookups.

    Three parallel lists (lookup key, name as written, value) so that finding a
    header is one C-level ``list.index`` on the keys.
    """

    __slots__ = ("_keys", "_names", "_values")

    def __init__(self, fields: Iterable[tuple[str, str]] = ()) -> None:
        self._names: list[str] = []
        self._values: list[str] = []
        for name, value in fields:
            self._names.append(name)
            self._values.append(value)
        self._keys: list[str] = [_key(name) for name in self._names]

    @classmethod
    def _from_lists(cls, keys: list[str], names: list[str], values: list[str]) -> Headers:
        headers = cls.__new__(cls)
        headers._keys = keys
        headers._names = names
        headers._values = values
        return headers

    @property
    def keys(self) -> list[str]:
        """The lookup key (canonical name, lower case) of each field, in order."""
        return self._keys

    @property
    def values_list(self) -> list[str]:
        """The value of each field, in order (parallel to ``keys``)."""
        return self._values

    def fields(self) -> list[tuple[str, str, str]]:
        """``(key, name as written, value)`` for each field, in order."""
        return list(zip(self._keys, self._names, self._values, strict=True))

    def get(self, name: str, default: str | None = None) -> str | None:
        """The value of ``name``; several fields are joined with ", " (§7.3.1)."""
        found = self.get_all(name)
        if not found:
            return default
        return found[0] if len(found) == 1 else ", ".join(found)

    def first(self, name: str) -> str | None:
        """The value of the first field called ``name`` (not joined)."""
        try:
            return self._values[self._keys.index(_KEY_CACHE.get(name) or _key(name))]
        except ValueError:
            return None

    def get_all(self, name: str) -> list[str]:
        """Each field value of ``name`` as written, one per header line."""
        key = _KEY_CACHE.get(name) or _key(name)
        return [v for k, v in zip(self._keys, self._values, strict=True) if k == key]

    def values(self, name: str) -> list[str]:
        """The comma-separated list elements of ``name`` across all its fields."""
        out: list[str] = []
        for value in self.get_all(name):
            out.extend(v for v in split_list(value) if v)
        return out

    def add(self, name: str, value: str) -> None:
        self._keys.append(_KEY_CACHE.get(name) or _key(name))
        self._names.append(name)
        self._values.append(value)

    def prepend(self, name: str, value: str) -> None:
        """Add a field before all others (a proxy or UAC pushing a Via, §16.6)."""
        self._keys.insert(0, _key(name))
        self._names.insert(0, name)
        self._values.insert(0, value)

    def set(self, name: str, value: str) -> None:
        """Replace every field called ``name`` by one (kept at the first's position)."""
        key = _key(name)
        try:
            first = self._keys.index(key)
        except ValueError:
            self.add(name, value)
            return
        self._values[first] = value
        for i in range(len(self._keys) - 1, first, -1):
            if self._keys[i] == key:
                del self._keys[i], self._names[i], self._values[i]

    def remove(self, name: str) -> None:
        key = _key(name)
        for i in range(len(self._keys) - 1, -1, -1):
            if self._keys[i] == key:
                del self._keys[i], self._names[i], self._values[i]

    def count(self, name: str) -> int:
        return self._keys.count(_key(name))

    def copy(self) -> Headers:
        return Headers._from_lists(list(self._keys), list(self._names), list(self._values))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and _key(name) in self._keys

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return zip(self._names, self._values, strict=True)

    def __len__(self) -> int:
        return len(self._keys)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return self._keys == other._keys and self._values == other._values

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Headers({list(self)!r})"

    def serialize(self) -> str:
        return "".join(
            [f"{name}: {value}\r\n" for name, value in zip(self._names, self._values, strict=True)]
        )


# --- Via (RFC 3261 §20.42, §18.2.1; rport RFC 3581) --------------------------------

# via-parm = sent-protocol LWS sent-by *( SEMI via-params )
# sent-protocol = protocol-name SLASH protocol-version SLASH transport; SLASH = SWS "/" SWS
# sent-by = host [ COLON port ]
_VIA_RE = re.compile(
    rf"([{TOKEN_CHARS}]+)\s*/\s*([{TOKEN_CHARS}]+)\s*/\s*([{TOKEN_CHARS}]+)\s+"
    r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_][A-Za-z0-9_\-.]*)(?:\s*:\s*([0-9]{1,5}))?"
)


@dataclass(frozen=True, slots=True)
class Via:
    """One Via header value: ``SIP/2.0/UDP host:port;branch=...;rport``."""

    transport: str
    host: str
    port: int | None = None
    params: Params = field(default_factory=Params)
    protocol: str = "SIP/2.0"

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def received(self) -> str | None:
        return self.params.get("received")

    @property
    def rport(self) -> int | None:
        """The rport value filled in by the server (RFC 3581 §4), if any."""
        value = self.params.get("rport")
        return int(value) if value and value.isdigit() else None

    @property
    def sent_by(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    @property
    def is_rfc3261_branch(self) -> bool:
        """The magic cookie z9hG4bK marks an RFC 3261 branch (§8.1.1.7)."""
        branch = self.branch
        return branch is not None and branch.startswith("z9hG4bK")

    def with_param(self, name: str, value: str | None = None) -> Via:
        return replace(self, params=self.params.with_param(name, value))

    def __str__(self) -> str:
        return f"{self.protocol}/{self.transport} {self.sent_by}{self.params}"


@lru_cache(maxsize=_CACHE_SIZE)
def parse_via(value: str) -> Via:
    """Parse one via-parm (not a comma-separated list)."""
    match = _VIA_RE.match(value)
    if match is None:
        raise ParseError("malformed Via", 400, value)
    name, version, transport, host, port = match.groups()
    if name.upper() != "SIP" or version != "2.0":
        raise ParseError("unsupported SIP version in Via", 505, value)
    params, pos = parse_params(value, match.end(), "Via")
    if value[pos:].strip():
        raise ParseError("unexpected characters in Via", 400, value)
    port_number = int(port) if port else None
    if port_number is not None and port_number > 65535:
        raise ParseError("port out of range in Via", 400, value)
    return Via(
        transport=transport.upper(),
        host=host,
        port=port_number,
        params=params,
        protocol=f"{name.upper()}/{version}",
    )


def parse_via_list(value: str) -> list[Via]:
    parts = split_list(value)
    if any(not p for p in parts):
        raise ParseError("empty element in Via list", 400, value)
    return [parse_via(p) for p in parts]


# --- name-addr / addr-spec (From, To, Contact, Route, Record-Route: §20, §25.1) -----

# display-name = *(token LWS) / quoted-string
_DISPLAY_TOKENS_RE = re.compile(rf"[{TOKEN_CHARS}]+(?:\s+[{TOKEN_CHARS}]+)*")


@dataclass(frozen=True, slots=True)
class NameAddr:
    """``"Display" <uri>;params`` (name-addr) or ``uri;params`` (addr-spec form)."""

    uri: URI
    display_name: str | None = None
    params: Params = field(default_factory=Params)
    bracketed: bool = True

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    @property
    def sip_uri(self) -> SipURI:
        """The URI as a SIP URI, or ParseError (416 Unsupported URI Scheme)."""
        if isinstance(self.uri, SipURI):
            return self.uri
        raise ParseError("not a SIP URI", 416, str(self.uri))

    # Direct construction rather than dataclasses.replace: these run per message.
    def with_tag(self, tag: str) -> NameAddr:
        params = self.params.with_param("tag", tag)
        return NameAddr(self.uri, self.display_name, params, self.bracketed)

    def without_tag(self) -> NameAddr:
        if "tag" not in self.params:
            return self
        return NameAddr(self.uri, self.display_name, self.params.without("tag"), self.bracketed)

    def __str__(self) -> str:
        if self.display_name is None and not self.bracketed:
            return f"{self.uri}{self.params}"
        display = ""
        if self.display_name is not None:
            display = quote(self.display_name) + " "
        return f"{display}<{self.uri}>{self.params}"


@lru_cache(maxsize=_CACHE_SIZE)
def parse_name_addr(value: str, *, allow_star: bool = False) -> NameAddr:
    """Parse one name-addr or addr-spec with its header parameters.

    Per §20.10 an addr-spec form URI may not contain ``,``, ``;`` or ``?``: those
    make the rest header parameters (or, for ``?``, an error: RFC 4475 §3.1.2.13).
    """
    text = value.strip()
    if allow_star and text == "*":
        return NameAddr(uri=SipURI(host="*"), bracketed=False)
    lt = text.find("<")
    if lt >= 0:
        display_part = text[:lt].strip()
        display: str | None = None
        if display_part:
            if display_part[0] == '"':
                match = QUOTED_RE.fullmatch(display_part)
                if match is None:
                    raise ParseError("malformed quoted display name", 400, value)
                display = unquote(display_part)
            elif _DISPLAY_TOKENS_RE.fullmatch(display_part):
                display = display_part
            else:
                raise ParseError("display name must be tokens or a quoted string", 400, value)
        gt = text.find(">", lt)
        if gt < 0:
            raise ParseError("unterminated <", 400, value)
        uri_text = text[lt + 1 : gt]
        if uri_text != uri_text.strip() or not uri_text:
            raise ParseError("spaces inside <> around the URI", 400, value)
        uri = parse_uri(uri_text)
        params, pos = parse_params(text, gt + 1, "header")
        if text[pos:].strip():
            raise ParseError("unexpected characters after parameters", 400, value)
        return NameAddr(uri=uri, display_name=display, params=params, bracketed=True)
    if '"' in text:
        raise ParseError("quoted display name without <URI>", 400, value)
    semi = text.find(";")
    uri_text = text if semi < 0 else text[:semi]
    uri_text = uri_text.rstrip()
    if not uri_text or any(ch in uri_text for ch in " \t?,"):
        raise ParseError("URI with ?, comma or spaces must be in <> (§20)", 400, value)
    uri = parse_uri(uri_text)
    params, pos = (Params(), len(text)) if semi < 0 else parse_params(text, semi, "header")
    if text[pos:].strip():
        raise ParseError("unexpected characters after parameters", 400, value)
    return NameAddr(uri=uri, params=params, bracketed=False)


def parse_name_addr_list(value: str, *, allow_star: bool = False) -> list[NameAddr]:
    parts = split_list(value)
    if any(not p for p in parts):
        raise ParseError("empty element in list", 400, value)
    return [parse_name_addr(p, allow_star=allow_star) for p in parts]


# --- CSeq (§20.16) ---------------------------------------------------------------

_CSEQ_RE = re.compile(rf"\s*([0-9]+)\s+([{TOKEN_CHARS}]+)\s*")


@dataclass(frozen=True, slots=True)
class CSeq:
    number: int
    method: str

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


@lru_cache(maxsize=_CACHE_SIZE)
def parse_cseq(value: str) -> CSeq:
    match = _CSEQ_RE.fullmatch(value)
    if match is None:
        raise ParseError("malformed CSeq", 400, value)
    if len(match.group(1).lstrip("0")) > 10:  # int() refuses more than 4300 digits
        raise ParseError("CSeq number too large", 400, value[:40])
    number = int(match.group(1))
    # §8.1.1.5: the sequence number MUST be expressible as a 32-bit unsigned integer
    # and less than 2**31.
    if number >= 2**31:
        raise ParseError("CSeq number too large", 400, value)
    return CSeq(number, match.group(2))
