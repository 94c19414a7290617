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

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import ClassVar, Self, TypeAlias, cast

from sipwright.sip.errors import ParseError
from sipwright.sip.sdp_lines import (
    _CHECKED,
    _DIGITS,
    _F,
    _LETTERS,
    _SESSION_ONLY,
    DIRECTIONS,
    STATIC_RTPMAPS,
    Attribute,
    Bandwidth,
    Connection,
    Crypto,
    Direction,
    KeyParam,
    Line,
    MediaField,
    Origin,
    RawLine,
    Rtcp,
    RtpMap,
    SessionField,
    Timing,
    _parse_fmtp,
    _parse_ms,
    _split,
    _uint,
)

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
