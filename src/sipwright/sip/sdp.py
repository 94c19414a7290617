"""SDP (RFC 8866, which obsoletes RFC 4566): a lossless model, parser and serializer.

A tester must be able to forward, diff and replay what a peer sent, so
``bytes(SessionDescription.parse(data)) == data`` for every input that parses: unknown
lines, attribute order, odd spacing, LF-only endings and a missing final line ending
included.  Each line object keeps its original text in a ``raw`` field that takes no part
in equality; the serializer reuses that text while it still parses to the object's current
value and renders the line afresh otherwise.  So lines changed through the API (or with
:func:`dataclasses.replace`) are re-rendered and all others are emitted as received.

Parsing is lenient where RFC 8866 §5 asks for it (a bare LF ends a line) and where peers
differ harmlessly (runs of spaces); lines with a type letter not modelled here are kept as
:class:`Line`.  Errors are :class:`ParseError` (status 400) naming the 1-based line.
RFC 3264 offer/answer is in :mod:`sipwright.sip.sdp_negotiation`.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import ClassVar, Literal, Self, TypeAlias, TypeVar, cast

from sipwright.sip.errors import ParseError

__all__ = [
    "DIRECTIONS",
    "STATIC_RTPMAPS",
    "Attribute",
    "Bandwidth",
    "Connection",
    "Crypto",
    "Direction",
    "KeyParam",
    "Line",
    "MediaDescription",
    "MediaField",
    "Origin",
    "RawLine",
    "Rtcp",
    "RtpMap",
    "SessionDescription",
    "SessionField",
    "Timing",
]

Direction: TypeAlias = Literal["sendrecv", "sendonly", "recvonly", "inactive"]
#: The direction attributes of RFC 8866 §6.7; RFC 3264 §5.1 makes sendrecv the default.
DIRECTIONS: tuple[Direction, ...] = ("sendrecv", "sendonly", "recvonly", "inactive")

_DIGITS = re.compile(r"[0-9]+")  # ASCII only: int() would also take "٣", " 1" and "1_0"
_MS = re.compile(r"([0-9]{1,9})(?:\.[0-9]*)?")
_B64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_WSP = re.compile(r"[ \t]+")
_SESSION_ONLY = frozenset("vosuepzrt")  # letters RFC 8866 §5 does not allow after m=


def _uint(text: str, what: str, maximum: int | None = None, digits: int = 40) -> int:
    # The digit cap also keeps int() clear of its 4300-digit guard (a ValueError).
    if len(text) > digits or _DIGITS.fullmatch(text) is None:
        raise ParseError(f"{what} is not an unsigned integer: {text!r}")
    if maximum is not None and int(text) > maximum:
        raise ParseError(f"{what} {text} is larger than {maximum}")
    return int(text)


def _split(value: str) -> list[str]:
    return [token for token in value.split(" ") if token]


@dataclass(frozen=True, slots=True)
class RawLine:
    """A parsed line's text (without ending) and ending: ``None`` for the document's usual
    style (so a moved line takes its new document's style), ``""`` for an unterminated
    last line, else the ending itself (in documents that mix CRLF and LF)."""

    text: str
    eol: str | None = None


@dataclass(frozen=True, slots=True)
class Line:
    """A line kept verbatim: v=, s=, i=, u=, e=, p=, k=, r=, z= or an unknown type letter."""

    type: str
    value: str
    raw: RawLine | None = field(default=None, compare=False, repr=False, kw_only=True)

    def __str__(self) -> str:
        return f"{self.type}={self.value}"


@dataclass(frozen=True, slots=True)
class Origin:
    """``o=`` (RFC 8866 §5.2).  sess-id and sess-version are digit strings, kept as ints."""

    username: str
    sess_id: int
    sess_version: int
    nettype: str
    addrtype: str
    address: str
    raw: RawLine | None = field(default=None, compare=False, repr=False, kw_only=True)

    def __str__(self) -> str:
        ids = f"{self.sess_id} {self.sess_version}"
        return f"o={self.username} {ids} {self.nettype} {self.addrtype} {self.address}"

    @classmethod
    def parse(cls, value: str) -> Origin:
        parts = _split(value)
        if len(parts) != 6:
            raise ParseError(
                "o= needs 6 fields: username sess-id sess-version nettype addrtype address"
            )
        ids = _uint(parts[1], "sess-id"), _uint(parts[2], "sess-version")
        return cls(parts[0], *ids, parts[3], parts[4], parts[5])


@dataclass(frozen=True, slots=True)
class Connection:
    """``c=`` (RFC 8866 §5.7).  A multicast address keeps its /ttl and /count suffixes."""

    nettype: str
    addrtype: str
    address: str
    raw: RawLine | None = field(default=None, compare=False, repr=False, kw_only=True)

    def __str__(self) -> str:
        return f"c={self.nettype} {self.addrtype} {self.address}"

    @classmethod
    def parse(cls, value: str) -> Connection:
        parts = _split(value)
        if len(parts) != 3:
            raise ParseError("c= needs <nettype> <addrtype> <connection-address>")
        return cls(*parts)


@dataclass(frozen=True, slots=True)
class Bandwidth:
    """``b=<bwtype>:<bandwidth>`` (RFC 8866 §5.8): AS in kbit/s, TIAS in bit/s (RFC 3890)."""

    bwtype: str
    bandwidth: int
    raw: RawLine | None = field(default=None, compare=False, repr=False, kw_only=True)

    def __str__(self) -> str:
        return f"b={self.bwtype}:{self.bandwidth}"

    @classmethod
    def parse(cls, value: str) -> Bandwidth:
        bwtype, sep, amount = value.partition(":")
        if not sep or not bwtype:
            raise ParseError("b= needs <bwtype>:<bandwidth>")
        return cls(bwtype, _uint(amount, "bandwidth"))


@dataclass(frozen=True, slots=True)
class Timing:
    """``t=<start> <stop>`` in NTP seconds (RFC 8866 §5.9); ``t=0 0`` is unbounded."""

    start: int = 0
    stop: int = 0
    raw: RawLine | None = field(default=None, compare=False, repr=False, kw_only=True)

    def __str__(self) -> str:
        return f"t={self.start} {self.stop}"

    @classmethod
    def parse(cls, value: str) -> Timing:
        parts = _split(value)
        if len(parts) != 2:
            raise ParseError("t= needs <start-time> <stop-time>")
        return cls(_uint(parts[0], "start time"), _uint(parts[1], "stop time"))


@dataclass(frozen=True, slots=True)
class Attribute:
    """``a=<name>`` (a flag: ``value is None``) or ``a=<name>:<value>`` (RFC 8866 §5.13)."""

    name: str
    value: str | None = None
    raw: RawLine | None = field(default=None, compare=False, repr=False, kw_only=True)

    def __str__(self) -> str:
        return f"a={self.name}" if self.value is None else f"a={self.name}:{self.value}"

    @classmethod
    def parse(cls, value: str) -> Attribute:
        name, sep, rest = value.partition(":")
        if not name or " " in name:
            raise ParseError("a= needs an attribute name")
        return cls(name, rest if sep else None)


SessionField: TypeAlias = Line | Origin | Connection | Bandwidth | Timing | Attribute
MediaField: TypeAlias = Line | Connection | Bandwidth | Attribute
_F = TypeVar("_F", bound=SessionField)
_LETTERS: dict[type, str] = {Origin: "o", Connection: "c", Bandwidth: "b", Timing: "t"}


@dataclass(frozen=True, slots=True)
class RtpMap:
    """``a=rtpmap:<pt> <encoding>/<clock rate>[/<channels>]`` (RFC 8866 §6.6)."""

    payload_type: int
    encoding: str
    clock_rate: int
    channels: int = 1

    @classmethod
    def parse(cls, value: str) -> RtpMap:
        parts = _split(value)
        pieces = parts[-1].split("/") if len(parts) == 2 else []
        if len(pieces) not in (2, 3) or not pieces[0]:
            raise ParseError("a=rtpmap needs <payload type> <encoding>/<rate>[/<channels>]")
        channels = _uint(pieces[2], "channel count") if len(pieces) == 3 else 1
        pt = _uint(parts[0], "payload type", 127)
        return cls(pt, pieces[0], _uint(pieces[1], "clock rate"), channels)

    @property
    def value(self) -> str:
        channels = "" if self.channels == 1 else f"/{self.channels}"
        return f"{self.payload_type} {self.encoding}/{self.clock_rate}{channels}"

    def to_attribute(self) -> Attribute:
        return Attribute("rtpmap", self.value)


# RFC 3551 §6 table 4: the audio payload types usable without an rtpmap.  G722 says 8000 Hz
# although it samples at 16 kHz, an error kept for compatibility (RFC 3551 §4.5.2).
STATIC_RTPMAPS: dict[int, RtpMap] = {
    rtpmap.payload_type: rtpmap
    for rtpmap in map(
        RtpMap.parse,
        "0 PCMU/8000,3 GSM/8000,4 G723/8000,5 DVI4/8000,6 DVI4/16000,7 LPC/8000,8 PCMA/8000,"
        "9 G722/8000,10 L16/44100/2,11 L16/44100,12 QCELP/8000,13 CN/8000,14 MPA/90000,"
        "15 G728/8000,16 DVI4/11025,17 DVI4/22050,18 G729/8000".split(","),
    )
}


@dataclass(frozen=True, slots=True)
class Rtcp:
    """``a=rtcp:<port> [<nettype> <addrtype> <address>]`` (RFC 3605 §2.1)."""

    port: int
    nettype: str | None = None
    addrtype: str | None = None
    address: str | None = None

    @classmethod
    def parse(cls, value: str) -> Rtcp:
        parts = _split(value)
        if len(parts) not in (1, 4):
            raise ParseError("a=rtcp needs <port> [<nettype> <addrtype> <connection-address>]")
        return cls(_uint(parts[0], "RTCP port", 65535), *parts[1:])

    @property
    def value(self) -> str:
        if self.address is None:
            return str(self.port)
        return f"{self.port} {self.nettype or 'IN'} {self.addrtype or 'IP4'} {self.address}"

    def to_attribute(self) -> Attribute:
        return Attribute("rtcp", self.value)


def _b64decode(text: str) -> bytes:
    # RFC 4568 §9.2: key-salt is base64 (RFC 4648); some stacks drop the padding.
    if _B64.fullmatch(text) is None:
        raise ParseError(f"key-salt is not base64: {text!r}")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ParseError(f"key-salt is not base64: {text!r}") from None


@dataclass(frozen=True, slots=True)
class KeyParam:
    """A key-param of a crypto attribute (RFC 4568 §9.1, inline key-info §9.2).

    For ``inline`` (the only method RFC 4568 defines, §6.1) ``key_salt`` is the decoded
    master key then master salt (30 bytes for the AES_CM_128 suites), ``lifetime`` counts
    packets ("2^31" gives 2147483648), ``mki``/``mki_length`` are the MKI and its length
    in bytes.  Other key methods keep their key-info text in ``info``.
    """

    key_salt: bytes
    lifetime: int | None = None
    mki: int | None = None
    mki_length: int | None = None
    method: str = "inline"
    info: str | None = None

    @classmethod
    def parse(cls, text: str) -> KeyParam:
        method, sep, info = text.partition(":")
        if not sep or not method or not info:
            raise ParseError(f"key-param needs <key-method>:<key-info>: {text!r}")
        if method.lower() != "inline":
            return cls(b"", method=method, info=info)
        key, *rest = info.split("|")
        lifetime = mki = mki_length = None
        for part in rest:
            if ":" in part and mki is None:
                mki_text, _, length = part.partition(":")
                mki, mki_length = _uint(mki_text, "MKI", digits=128), _uint(length, "MKI length")
            elif len(rest) > 2 or lifetime is not None or mki is not None:
                raise ParseError(f"inline key-info is key[|lifetime][|MKI:length]: {info!r}")
            elif part.startswith("2^"):
                lifetime = 2 ** _uint(part[2:], "lifetime exponent", 128)
            else:
                lifetime = _uint(part, "lifetime")
        return cls(_b64decode(key), lifetime, mki, mki_length, method=method)

    @property
    def value(self) -> str:
        if self.method.lower() != "inline":
            return f"{self.method}:{self.info or ''}"
        text = f"{self.method}:{base64.b64encode(self.key_salt).decode('ascii')}"
        if self.lifetime is not None:
            power = self.lifetime.bit_length() - 1
            exact = self.lifetime > 1 and self.lifetime == 1 << power
            text += f"|2^{power}" if exact else f"|{self.lifetime}"
        if self.mki is not None:
            text += f"|{self.mki}:{1 if self.mki_length is None else self.mki_length}"
        return text


@dataclass(frozen=True, slots=True)
class Crypto:
    """``a=crypto:<tag> <crypto-suite> <key-params> [<session-params>]`` (RFC 4568 §9.1).

    ``raw`` keeps the attribute value as received, and :attr:`value` returns it while it
    still parses to this object, so forwarding a crypto line never reformats it.
    """

    tag: int
    suite: str
    key_params: tuple[KeyParam, ...]
    session_params: tuple[str, ...] = ()
    raw: str | None = field(default=None, compare=False, repr=False, kw_only=True)

    @classmethod
    def parse(cls, value: str) -> Crypto:
        tokens = [token for token in _WSP.split(value) if token]
        if len(tokens) < 3:
            raise ParseError("a=crypto needs <tag> <crypto-suite> <key-params>")
        tag = _uint(tokens[0], "crypto tag", digits=9)
        keys = tuple(KeyParam.parse(part) for part in tokens[2].split(";"))
        return cls(tag, tokens[1], keys, tuple(tokens[3:]), raw=value)

    @property
    def key_salt(self) -> bytes:
        """The first key-param's master key followed by its master salt."""
        return self.key_params[0].key_salt

    @property
    def value(self) -> str:
        if self.raw is not None:
            try:
                if Crypto.parse(self.raw) == self:
                    return self.raw
            except ParseError:
                pass
        keys = ";".join(key.value for key in self.key_params)
        return " ".join((str(self.tag), self.suite, keys, *self.session_params))

    def to_attribute(self) -> Attribute:
        return Attribute("crypto", self.value)


def _parse_fmtp(value: str) -> tuple[str, str]:
    fmt, _, params = value.partition(" ")
    if not fmt:
        raise ParseError("a=fmtp needs <format> <parameters>")
    return fmt, params.strip(" ")


def _parse_ms(value: str) -> int:
    # RFC 8866 §9 allows a real ptime ("20.0"); packets are whole milliseconds in practice.
    match = _MS.fullmatch(value.strip(" "))
    if match is None:
        raise ParseError(f"not a time in milliseconds: {value!r}")
    return int(match.group(1))


# Media-level attributes checked while parsing, so a bad one is reported with its line.
_CHECKED: dict[str, Callable[[str], object]] = {
    "rtpmap": RtpMap.parse,
    "fmtp": _parse_fmtp,
    "ptime": _parse_ms,
    "maxptime": _parse_ms,
    "rtcp": Rtcp.parse,
    "crypto": Crypto.parse,
}


def _letter(item: SessionField) -> str:
    if isinstance(item, Line):
        return item.type
    return _LETTERS.get(type(item), "a")


def _insert(fields: tuple[_F, ...], item: _F, order: str) -> tuple[_F, ...]:
    """Insert ``item`` after the last line that RFC 8866 §5 puts before it or with it."""

    def rank(line: SessionField) -> int:
        index = order.find(_letter(line))
        return index if index >= 0 else len(order)

    pos = max((i + 1 for i, f in enumerate(fields) if rank(f) <= rank(item)), default=0)
    return (*fields[:pos], item, *fields[pos:])


def _put(
    fields: tuple[_F, ...], new: Sequence[_F], match: Callable[[_F], bool], order: str
) -> tuple[_F, ...]:
    """Replace every line that ``match``es with ``new``, where the first of them stood."""
    kept = tuple(item for item in fields if not match(item))
    first = next((i for i, item in enumerate(fields) if match(item)), None)
    if first is None:
        for item in new:
            kept = _insert(kept, item, order)
        return kept
    pos = sum(1 for item in fields[:first] if not match(item))
    return (*kept[:pos], *new, *kept[pos:])


def _named(*names: str) -> Callable[[SessionField], bool]:
    return lambda item: isinstance(item, Attribute) and item.name in names


def _is_connection(item: SessionField) -> bool:
    return isinstance(item, Connection)


class _Section:
    """Accessors and edits shared by the session level and the media sections."""

    __slots__ = ()
    fields: tuple[SessionField, ...]
    _ORDER: ClassVar[str]  # RFC 8866 §5 line order, which decides where added lines go

    def _with_fields(self, fields: tuple[SessionField, ...]) -> Self:
        raise NotImplementedError

    @property
    def connection(self) -> Connection | None:
        """This level's c= (see :meth:`SessionDescription.effective_connection`)."""
        return next((f for f in self.fields if isinstance(f, Connection)), None)

    @property
    def bandwidths(self) -> tuple[Bandwidth, ...]:
        return tuple(f for f in self.fields if isinstance(f, Bandwidth))

    @property
    def attributes(self) -> tuple[Attribute, ...]:
        return tuple(f for f in self.fields if isinstance(f, Attribute))

    def get_attributes(self, name: str) -> tuple[Attribute, ...]:
        return tuple(f for f in self.fields if isinstance(f, Attribute) and f.name == name)

    def get_attribute(self, name: str) -> Attribute | None:
        return next(iter(self.get_attributes(name)), None)

    @property
    def direction(self) -> Direction | None:
        """This level's direction attribute, if any (RFC 3264 §5.1)."""
        for attr in self.attributes:
            for direction in DIRECTIONS:
                if attr.name == direction:
                    return direction
        return None

    def with_connection(self, connection: Connection | None) -> Self:
        new = () if connection is None else (connection,)
        return self._with_fields(_put(self.fields, new, _is_connection, self._ORDER))

    def with_direction(self, direction: Direction | None) -> Self:
        """Replace the direction attribute where it stands; ``None`` removes it."""
        new = () if direction is None else (Attribute(direction),)
        return self._with_fields(_put(self.fields, new, _named(*DIRECTIONS), self._ORDER))

    def with_attribute(self, name: str, value: str | None = None) -> Self:
        """Set a single-valued attribute: replace the first ``name`` line, drop the rest."""
        new = (Attribute(name, value),)
        return self._with_fields(_put(self.fields, new, _named(name), self._ORDER))

    def with_added_attribute(self, attribute: Attribute) -> Self:
        return self._with_fields(_insert(self.fields, attribute, self._ORDER))

    def without_attributes(self, *names: str) -> Self:
        return self._with_fields(_put(self.fields, (), _named(*names), self._ORDER))


_MLine: TypeAlias = tuple[str, int, int | None, str, tuple[str, ...]]


def _parse_m(value: str) -> _MLine:
    parts = _split(value)
    if len(parts) < 4:
        raise ParseError("m= needs <media> <port>[/<count>] <proto> <fmt> ...")
    media, port_text, proto, *formats = parts
    port, slash, count = port_text.partition("/")
    port_count = _uint(count, "port count", 65535) if slash else None
    if "RTP/" in proto.upper():  # RFC 8866 §5.14: with RTP the formats are payload types
        for fmt in formats:
            _uint(fmt, "RTP payload type", 127)
    return media, _uint(port, "port", 65535), port_count, proto, tuple(formats)


@dataclass(frozen=True, slots=True)
class MediaDescription(_Section):
    """An ``m=`` line (RFC 8866 §5.14) and the i=/c=/b=/k=/a= lines after it.

    Change the m= line itself with :func:`dataclasses.replace` (e.g. ``port=0``).
    """

    media: str
    port: int
    proto: str
    formats: tuple[str, ...]
    fields: tuple[MediaField, ...] = ()
    port_count: int | None = field(default=None, kw_only=True)
    raw: RawLine | None = field(default=None, compare=False, repr=False, kw_only=True)
    _ORDER: ClassVar[str] = "icbka"

    def _with_fields(self, fields: tuple[SessionField, ...]) -> Self:
        # Only c= and a= lines are ever added, and both belong in a media section.
        return replace(self, fields=cast(tuple[MediaField, ...], fields))

    @property
    def m_line(self) -> str:
        port = self.port if self.port_count is None else f"{self.port}/{self.port_count}"
        return " ".join((f"m={self.media}", str(port), self.proto, *self.formats))

    @property
    def rejected(self) -> bool:
        """Port 0: a stream refused or removed (RFC 3264 §6, §8.2)."""
        return self.port == 0

    @property
    def payload_types(self) -> tuple[int, ...]:
        if "RTP/" not in self.proto.upper():
            return ()
        return tuple(int(f) for f in self.formats if len(f) <= 3 and _DIGITS.fullmatch(f))

    @property
    def rtpmaps(self) -> dict[int, RtpMap]:
        found: dict[int, RtpMap] = {}
        for attr in self.get_attributes("rtpmap"):
            rtpmap = RtpMap.parse(attr.value or "")
            found.setdefault(rtpmap.payload_type, rtpmap)
        return found

    def rtpmap(self, payload_type: int) -> RtpMap | None:
        return self.rtpmaps.get(payload_type)

    @property
    def fmtps(self) -> dict[int, str]:
        found: dict[int, str] = {}
        for attr in self.get_attributes("fmtp"):
            fmt, params = _parse_fmtp(attr.value or "")
            if len(fmt) <= 3 and _DIGITS.fullmatch(fmt):
                found.setdefault(int(fmt), params)
        return found

    def fmtp(self, payload_type: int) -> str | None:
        return self.fmtps.get(payload_type)

    @property
    def codecs(self) -> tuple[RtpMap, ...]:
        """The formats in m= order, from a=rtpmap or else RFC 3551's static table."""
        rtpmaps = self.rtpmaps
        found = (rtpmaps.get(pt) or STATIC_RTPMAPS.get(pt) for pt in self.payload_types)
        return tuple(rtpmap for rtpmap in found if rtpmap is not None)

    @property
    def ptime(self) -> int | None:
        attr = self.get_attribute("ptime")
        return None if attr is None else _parse_ms(attr.value or "")

    @property
    def maxptime(self) -> int | None:
        attr = self.get_attribute("maxptime")
        return None if attr is None else _parse_ms(attr.value or "")

    @property
    def rtcp(self) -> Rtcp | None:
        attr = self.get_attribute("rtcp")
        return None if attr is None else Rtcp.parse(attr.value or "")

    @property
    def crypto(self) -> tuple[Crypto, ...]:
        return tuple(Crypto.parse(attr.value or "") for attr in self.get_attributes("crypto"))


@dataclass(frozen=True, slots=True)
class SessionDescription(_Section):
    """A whole SDP body: the session-level lines in order, then the media sections.

    ``eol`` is the line ending for lines rendered afresh (parsed lines keep their own);
    ``trailer`` holds empty lines found after the last line, kept for the round trip.
    """

    fields: tuple[SessionField, ...]
    media: tuple[MediaDescription, ...] = ()
    eol: str = field(default="\r\n", compare=False)
    trailer: str = field(default="", compare=False, repr=False)
    _ORDER: ClassVar[str] = "vosiuepcbtrzka"

    def __post_init__(self) -> None:
        letters = [_letter(item) for item in self.fields]
        if letters[:1] != ["v"] or [letters.count(x) for x in "vos"] != [1, 1, 1]:
            raise ValueError("a session description needs v= first and one o= and s= line")
        if "t" not in letters:
            raise ValueError("a session description needs a t= line")

    def _with_fields(self, fields: tuple[SessionField, ...]) -> Self:
        return replace(self, fields=fields)

    @classmethod
    def parse(cls, data: bytes | str) -> SessionDescription:
        return _parse(data)

    @classmethod
    def new(
        cls,
        *,
        origin: Origin,
        session_name: str = "-",
        connection: Connection | None = None,
        bandwidths: Sequence[Bandwidth] = (),
        timing: Sequence[Timing] = (),
        attributes: Sequence[Attribute] = (),
        media: Sequence[MediaDescription] = (),
        eol: str = "\r\n",
    ) -> SessionDescription:
        """Build a description with its lines in RFC 8866 §5 order; ``t=0 0`` by default."""
        head: tuple[SessionField, ...] = (Line("v", "0"), origin, Line("s", session_name))
        conn: tuple[SessionField, ...] = () if connection is None else (connection,)
        times = tuple(timing) or (Timing(0, 0),)
        return cls((*head, *conn, *bandwidths, *times, *attributes), tuple(media), eol)

    def __str__(self) -> str:
        pieces = [_emit(item) for item in self.fields]
        for media in self.media:
            pieces.append(_emit(media))
            pieces.extend(_emit(item) for item in media.fields)
        last = len(pieces) - 1
        out = [
            text + (self.eol if eol is None or (eol == "" and i != last) else eol)
            for i, (text, eol) in enumerate(pieces)
        ]
        return "".join(out) + self.trailer

    def __bytes__(self) -> bytes:
        return str(self).encode("utf-8", "surrogateescape")

    def _value(self, letter: str) -> str:
        return next(f.value for f in self.fields if isinstance(f, Line) and f.type == letter)

    @property
    def version(self) -> int:
        return int(self._value("v"))

    @property
    def origin(self) -> Origin:
        return next(item for item in self.fields if isinstance(item, Origin))

    @property
    def session_name(self) -> str:
        return self._value("s")

    @property
    def timings(self) -> tuple[Timing, ...]:
        return tuple(f for f in self.fields if isinstance(f, Timing))

    @property
    def timing(self) -> Timing:
        return self.timings[0]

    def effective_direction(self, media: MediaDescription | int) -> Direction:
        """Media-level direction, else session-level, else sendrecv (RFC 3264 §5.1)."""
        md = self.media[media] if isinstance(media, int) else media
        return md.direction or self.direction or "sendrecv"

    def effective_connection(self, media: MediaDescription | int) -> Connection | None:
        """A media-level c= overrides the session-level one (RFC 8866 §5.7)."""
        md = self.media[media] if isinstance(media, int) else media
        return md.connection or self.connection

    def with_origin(self, origin: Origin) -> Self:
        return replace(
            self, fields=tuple(origin if isinstance(f, Origin) else f for f in self.fields)
        )

    def bump_version(self) -> Self:
        """Increment sess-version, as a re-offer that changes anything must (RFC 3264 §8)."""
        origin = self.origin
        return self.with_origin(replace(origin, sess_version=origin.sess_version + 1))

    def with_media(self, media: Iterable[MediaDescription]) -> Self:
        return replace(self, media=tuple(media))


def _emit(item: SessionField | MediaDescription) -> tuple[str, str | None]:
    """Text and ending of one line: the original while it still parses to ``item``."""
    text = item.m_line if isinstance(item, MediaDescription) else str(item)
    raw = item.raw
    if raw is None or raw.text == text:
        return text, None if raw is None else raw.eol
    same = False
    if raw.text[:2] == text[:2] and not isinstance(item, Line | Attribute):  # those are exact
        try:
            if isinstance(item, MediaDescription):
                m_line = (item.media, item.port, item.port_count, item.proto, item.formats)
                same = _parse_m(raw.text[2:]) == m_line
            else:
                same = type(item).parse(raw.text[2:]) == item
        except ParseError:
            pass
    return (raw.text, raw.eol) if same else (text, None)


def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        try:  # a lone surrogate that surrogateescape did not make could never be bytes
            data.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raise ParseError("text holds characters that cannot be encoded") from None
        return data
    # surrogateescape maps any non-UTF-8 octet to a lone surrogate and back again.
    return bytes(data).decode("utf-8", "surrogateescape")


def _split_lines(text: str) -> tuple[list[tuple[str, str]], str]:
    """Split into (text, ending) pairs; empty lines at the end come back as a trailer."""
    lines: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        nl = text.find("\n", pos)
        if nl < 0:
            lines.append((text[pos:], ""))
            break
        crlf = nl > pos and text[nl - 1] == "\r"
        lines.append((text[pos : nl - crlf], "\r\n" if crlf else "\n"))
        pos = nl + 1
    trailer = ""
    while lines and not lines[-1][0]:
        trailer = lines.pop()[1] + trailer
    return lines, trailer


_LINE_PARSERS: dict[str, Callable[[str], SessionField]] = {
    "a": Attribute.parse,
    "o": Origin.parse,
    "c": Connection.parse,
    "b": Bandwidth.parse,
    "t": Timing.parse,
}


def _parse_line(letter: str, value: str, raw: RawLine, in_media: bool) -> SessionField:
    if in_media and letter in _SESSION_ONLY:
        raise ParseError(f"{letter}= is not allowed in a media section")
    parser = _LINE_PARSERS.get(letter)
    if parser is None:
        if letter == "v":
            _uint(value, "version", digits=9)
        return Line(letter, value, raw=raw)
    item = parser(value)
    if in_media and isinstance(item, Attribute) and item.name in _CHECKED:
        if item.value is None:
            raise ParseError(f"a={item.name} needs a value")
        _CHECKED[item.name](item.value)
    object.__setattr__(item, "raw", raw)  # on a new object; cheaper than dataclasses.replace
    return item


def _parse(data: bytes | str) -> SessionDescription:
    lines, trailer = _split_lines(_decode(data))
    if not lines:
        raise ParseError("empty session description")
    style = lines[0][1] or "\r\n"
    session: list[SessionField] = []
    seen: set[str] = set()
    sections: list[tuple[_MLine, RawLine, list[MediaField]]] = []
    for number, (text, eol) in enumerate(lines, 1):
        try:
            if "\r" in text or "\0" in text:  # RFC 8866 §9: text excludes CR and NUL
                raise ParseError("line holds a CR or NUL character")
            letter = text[:1]
            if text[1:2] != "=" or not (letter.isascii() and letter.isalpha()):
                raise ParseError("expected <type>=<value>")
            if (number == 1) != (letter == "v"):
                raise ParseError("v= must be the first line and only there")
            raw = RawLine(text, None if eol == style else eol)
            if letter == "m":
                sections.append((_parse_m(text[2:]), raw, []))
                continue
            item = _parse_line(letter, text[2:], raw, bool(sections))
            if sections and not isinstance(item, Origin | Timing):  # both session-only
                sections[-1][2].append(item)
            elif letter in "os" and letter in seen:
                raise ParseError(f"more than one {letter}= line")
            else:
                session.append(item)
                seen.add(letter)
        except ParseError as exc:
            raise ParseError(f"line {number}: {exc.message}", 400, line=text) from None
    for letter in "ost":
        if letter not in seen:
            raise ParseError(f"missing mandatory {letter}= line")
    media = tuple(
        MediaDescription(m, port, proto, fmts, tuple(items), port_count=count, raw=raw)
        for (m, port, count, proto, fmts), raw, items in sections
    )
    return SessionDescription(tuple(session), media, style, trailer)
