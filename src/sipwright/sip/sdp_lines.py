"""The line-level pieces of SDP (RFC 8866 §5) and the attribute values sipwright
reads (rtpmap, rtcp, crypto: RFC 3551, RFC 3605, RFC 4568).  :mod:`sipwright.sip.sdp`
assembles them into sessions and media sections."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, TypeAlias, TypeVar

from sipwright.sip.errors import ParseError

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
