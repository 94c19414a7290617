"""SIP requests and responses: the message model, serialisation and parsing.

``parse_message(data)`` turns one datagram (or one framed stream message) into a
``Request`` or ``Response``; ``bytes(message)`` turns it back.  Octets are decoded
with ``surrogateescape`` so that whatever a peer sent, even invalid UTF-8, is
re-emitted exactly; the body is kept as bytes, never decoded.

Parsing happens in two depths.  The start line, the header lines, framing
(Content-Length) and the headers every transaction needs (Via, From, To, Call-ID,
CSeq) are always checked.  With ``lazy=False`` (the default) every header whose
grammar we know is validated too, as a UAS must before answering 400 (RFC 4475);
with ``lazy=True`` that is left to the first access, which is what the load engine's
hot path wants.  ``strict=False`` never raises for header problems: it records them
in ``message.problems`` so a tester can look at what a broken system sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sipwright.sip.errors import ParseError
from sipwright.sip.grammar import TOKEN_RE, split_list
from sipwright.sip.headers import (
    _KEY_CACHE,
    CSeq,
    Headers,
    NameAddr,
    Via,
    _key,
    parse_cseq,
    parse_name_addr,
    parse_via,
)
from sipwright.sip.uri import URI, parse_uri
from sipwright.sip.validation import REQUIRED, SINGLE, VALIDATORS

__all__ = ["Message", "Request", "Response", "parse_message"]

SIP_VERSION = "SIP/2.0"

# Reason phrases of RFC 3261 §21 and the extensions testers meet every day.
REASON_PHRASES: dict[int, str] = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    199: "Early Dialog Terminated",
    200: "OK",
    202: "Accepted",
    204: "No Notification",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Moved Temporarily",
    305: "Use Proxy",
    380: "Alternative Service",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    410: "Gone",
    413: "Request Entity Too Large",
    414: "Request-URI Too Long",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    421: "Extension Required",
    422: "Session Interval Too Small",
    423: "Interval Too Brief",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    484: "Address Incomplete",
    485: "Ambiguous",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    489: "Bad Event",
    491: "Request Pending",
    493: "Undecipherable",
    500: "Server Internal Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    513: "Message Too Large",
    580: "Precondition Failure",
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
}


@dataclass(eq=False, slots=True)
class Message:
    """What requests and responses share: headers, body and typed accessors."""

    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    # Header problems found by a non-strict parse (empty when strict).
    problems: list[ParseError] = field(default_factory=list)
    # The bytes it was parsed from, as received (b"" for a built message); kept so
    # that whoever logs or pattern-matches the message need not serialise it again.
    raw: bytes = b""

    def _start_line(self) -> str:
        raise NotImplementedError

    def __bytes__(self) -> bytes:
        head = self._start_line() + "\r\n" + self.headers.serialize() + "\r\n"
        return head.encode("utf-8", "surrogateescape") + self.body

    def set_body(self, body: bytes, content_type: str | None = None) -> None:
        """Replace the body and keep Content-Length (and Content-Type) in step."""
        self.body = body
        self.headers.set("Content-Length", str(len(body)))
        if content_type is not None:
            self.headers.set("Content-Type", content_type)
        elif not body:
            self.headers.remove("Content-Type")

    # Typed accessors.  They parse on each call: cheap for one header, and nothing
    # goes stale when the headers are edited.
    @property
    def call_id(self) -> str:
        value = self.headers.first("Call-ID")
        if value is None:
            raise ParseError("missing Call-ID", 400)
        return value

    @property
    def cseq(self) -> CSeq:
        value = self.headers.first("CSeq")
        if value is None:
            raise ParseError("missing CSeq", 400)
        return parse_cseq(value)

    @property
    def via(self) -> Via:
        """The top Via value (RFC 3261 §17.1.3 matches on its branch)."""
        value = self.headers.first("Via")
        if value is None:
            raise ParseError("missing Via", 400)
        comma = value.find(",")
        return parse_via(value if comma < 0 else _first_list_element(value))

    @property
    def vias(self) -> list[Via]:
        return [parse_via(v) for v in self.headers.values("Via")]

    @property
    def from_(self) -> NameAddr:
        return self._name_addr("From")

    @property
    def to(self) -> NameAddr:
        return self._name_addr("To")

    @property
    def from_tag(self) -> str | None:
        return self.from_.tag

    @property
    def to_tag(self) -> str | None:
        return self.to.tag

    @property
    def contacts(self) -> list[NameAddr]:
        return [parse_name_addr(v, allow_star=True) for v in self.headers.values("Contact")]

    @property
    def record_routes(self) -> list[NameAddr]:
        return [parse_name_addr(v) for v in self.headers.values("Record-Route")]

    @property
    def routes(self) -> list[NameAddr]:
        return [parse_name_addr(v) for v in self.headers.values("Route")]

    @property
    def max_forwards(self) -> int | None:
        value = self.headers.first("Max-Forwards")
        return None if value is None else int(value)

    @property
    def content_type(self) -> str | None:
        value = self.headers.first("Content-Type")
        return None if value is None else value.split(";", 1)[0].strip().lower()

    def _name_addr(self, name: str) -> NameAddr:
        value = self.headers.first(name)
        if value is None:
            raise ParseError(f"missing {name}", 400)
        return parse_name_addr(value)


def _first_list_element(value: str) -> str:
    return split_list(value)[0]


@dataclass(eq=False, slots=True)
class Request(Message):
    """A SIP request.  ``uri`` is the Request-URI as text; ``request_uri`` parses it."""

    method: str = "OPTIONS"
    uri: str = "sip:invalid"
    version: str = SIP_VERSION

    def _start_line(self) -> str:
        return f"{self.method} {self.uri} {self.version}"

    @property
    def request_uri(self) -> URI:
        return parse_uri(self.uri)

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri}>"


@dataclass(eq=False, slots=True)
class Response(Message):
    """A SIP response; ``reason`` defaults to the RFC 3261 §21 phrase."""

    status: int = 200
    reason: str = ""
    version: str = SIP_VERSION

    def __post_init__(self) -> None:
        if not self.reason:
            self.reason = REASON_PHRASES.get(self.status, "")

    def _start_line(self) -> str:
        return f"{self.version} {self.status} {self.reason}"

    @property
    def is_provisional(self) -> bool:
        return self.status < 200

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason}>"


# Request-Line = Method SP Request-URI SP SIP-Version CRLF (exactly one SP each:
# RFC 4475 §3.1.2.9 and §3.1.2.10 call extra spaces malformed).
_REQUEST_LINE_RE = re.compile(r"([^ \t]+) ([^ \t]+) (SIP/[0-9]+\.[0-9]+)")
# Status-Line = SIP-Version SP Status-Code SP Reason-Phrase CRLF; Status-Code = 3DIGIT
_STATUS_LINE_RE = re.compile(r"(SIP/[0-9]+\.[0-9]+) ([0-9]{3}) (.*)", re.DOTALL)
_FOLD_RE = re.compile(r"\r?\n[ \t]+")
# Stands in for the headers of a message whose start line is parsed, until
# parse_message sets the real ones (never left on a message it returns).
_NO_HEADERS = Headers()


def _split_head(data: bytes) -> tuple[bytes, int]:
    """The header block and the offset where the body starts.

    A datagram whose headers do not end with an empty line ends its headers at the
    end of the datagram (RFC 4475 §3.1.2.15 ``baddn`` relies on this).
    """
    end = data.find(b"\r\n\r\n")
    if end >= 0:
        return data[:end], end + 4
    end = data.find(b"\n\n")
    if end >= 0:
        return data[:end], end + 2
    return data.rstrip(b"\r\n"), len(data)


def parse_message(
    data: bytes, *, strict: bool = True, lazy: bool = False, stream: bool = False
) -> Request | Response:
    """Parse one SIP message from ``data``.

    ``stream=True`` means ``data`` came off a stream transport, where Content-Length
    is mandatory (§18.3); on a datagram a missing Content-Length means "the rest of
    the datagram" and octets beyond Content-Length are dropped (§18.3, RFC 4475
    §3.1.1.8).  Raises ``ParseError`` with a status hint on anything malformed.
    """
    start = 0
    while data.startswith(b"\r\n", start):  # §7.5: ignore CRLFs before the start line
        start += 2
    head_bytes, body_at = _split_head(data[start:] if start else data)
    body_at += start
    head = head_bytes.decode("utf-8", "surrogateescape")
    if "\n " in head or "\n\t" in head:
        head = _FOLD_RE.sub(" ", head)  # §7.3.1: folding is equivalent to one SP
    first_end = head.find("\n")
    if first_end < 0:
        start_line, rest = head, ""
    else:
        start_line, rest = head[:first_end].rstrip("\r"), head[first_end + 1 :]
    if not start_line:
        raise ParseError("empty message", 400)
    message = _parse_start_line(start_line, lazy)
    # One C-level pass over the header block; a line the pattern skips shows up
    # as a count mismatch and is then looked for line by line.
    pairs: list[tuple[str, str]] = []
    trailing_ws = True  # whether some value may end in SP/HTAB (stripped below)
    if rest:
        crlf = "\r\n" in rest
        eol = "\r\n" if crlf else "\n"
        block = rest + eol
        pairs = (_HEADER_CRLF_RE if crlf else _HEADER_LF_RE).findall(block)
        if len(pairs) != rest.count("\n") + 1:
            pairs = _header_lines_slowly(rest, strict, message.problems)
        else:
            # Every line matched, so a value ends in whitespace only where a line does.
            trailing_ws = " " + eol in block or "\t" + eol in block
    if pairs:
        # Three C-level passes rather than one Python loop per field (hot path).
        names, values = (list(column) for column in zip(*pairs, strict=True))
        keys = list(map(_KEY_CACHE.get, names))
        if None in keys:
            keys = [key or _key(name) for key, name in zip(keys, names, strict=True)]
        if trailing_ws:
            values = [v if v[-1:] not in _TRAILING_WS else v.rstrip(" \t") for v in values]
        headers = Headers._from_lists(keys, names, values)  # type: ignore[arg-type]
    else:
        headers = Headers._from_lists([], [], [])
    message.headers = headers
    message.body = _frame_body(data, body_at, headers, stream)
    _check(message, strict=strict, lazy=lazy)
    message.raw = data
    return message


# message-header = field-name HCOLON field-value CRLF; HCOLON = *( SP / HTAB ) ":" SWS
_HEADER_CRLF_RE = re.compile(r"([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*:[ \t]*([^\r\n]*)\r\n")
# The same for peers that end lines with a bare LF (liberal in what we accept).
_HEADER_LF_RE = re.compile(r"([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*:[ \t]*([^\r\n]*)\n")
_HEADER_LINE_RE = re.compile(r"([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*:[ \t]*([^\r\n]*?)[ \t]*\r?")
_TRAILING_WS = frozenset({"", " ", "\t"})


def _header_lines_slowly(
    rest: str, strict: bool, problems: list[ParseError]
) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for line in rest.split("\n"):
        match = _HEADER_LINE_RE.fullmatch(line)
        if match is None:
            error = ParseError("malformed header line", 400, line.rstrip("\r"))
            if strict:
                raise error
            problems.append(error)
            continue
        pairs.append((match.group(1), match.group(2)))
    return pairs


def _parse_start_line(line: str, lazy: bool) -> Request | Response:
    if line.startswith("SIP/"):
        match = _STATUS_LINE_RE.fullmatch(line)
        if match is None:
            raise ParseError("malformed Status-Line", 400, line)
        if match.group(1) != SIP_VERSION:
            raise ParseError("unsupported SIP version", 505, line)
        # (parse_message sets the headers: none are built here only to be replaced.)
        response = Response(_NO_HEADERS, status=int(match.group(2)), reason=match.group(3))
        response.reason = match.group(3)  # as received, even empty (RFC 4475 §3.1.1.13)
        return response
    match = _REQUEST_LINE_RE.fullmatch(line)
    if match is None:
        raise ParseError("malformed Request-Line", 400, line)
    method, uri, version = match.groups()
    if version != SIP_VERSION:
        raise ParseError("unsupported SIP version", 505, line)
    if not TOKEN_RE.fullmatch(method):
        raise ParseError("method is not a token", 400, line)
    if lazy:
        return Request(_NO_HEADERS, method=method, uri=uri, version=version)
    parsed = parse_uri(uri)  # ParseError 400 for <uri>, embedded LWS, ... (RFC 4475)
    if getattr(parsed, "headers", None) is not None:
        # §19.1.1 table: headers are not allowed in a Request-URI (RFC 4475 §3.1.2.11).
        raise ParseError("escaped headers in the Request-URI", 400, line)
    return Request(_NO_HEADERS, method=method, uri=uri, version=version)


def _frame_body(data: bytes, body_at: int, headers: Headers, stream: bool) -> bytes:
    keys = headers.keys
    count = keys.count("content-length")
    available = len(data) - body_at
    if not count:
        if stream:
            raise ParseError("missing Content-Length on a stream transport", 400)
        return data[body_at:]
    if count == 1:  # the usual case: no list of values to build
        text = headers.values_list[keys.index("content-length")]
    else:
        lengths = headers.get_all("Content-Length")
        if len(set(lengths)) > 1:  # RFC 4475 §3.3.9: no way to know where the body ends
            raise ParseError("conflicting Content-Length values", 400, ", ".join(lengths))
        text = lengths[0]
    if not text.isdigit() or not text.isascii():
        raise ParseError("malformed Content-Length", 400, text)
    if len(text.lstrip("0")) > 10:  # more than any datagram holds; int() refuses > 4300 digits
        raise ParseError("Content-Length larger than the message", 400, text[:20])
    length = int(text)
    if length > available:
        # RFC 4475 §3.1.2.2: a datagram cannot hold more later; 400.
        raise ParseError("Content-Length larger than the message", 400, text)
    # §18.3: octets past Content-Length in a datagram are discarded.
    return data[body_at : body_at + length]


def _check(message: Request | Response, *, strict: bool, lazy: bool) -> None:
    keys = message.headers.keys
    present = set(keys)
    errors: list[ParseError] = []
    if not present >= _REQUIRED_KEYS:
        for name, key in _REQUIRED:
            if key not in present:
                errors.append(ParseError(f"missing mandatory {name} header", 400))
    if len(present) != len(keys):  # some name repeats: is it one that must not?
        for name, key in _SINGLE:
            if keys.count(key) > 1:
                value = message.headers.get(name)
                errors.append(ParseError(f"more than one {name} header", 400, value))
    if not lazy:
        for key, written, value in message.headers.fields():
            validator = VALIDATORS.get(key)
            if validator is None:
                continue
            try:
                validator(value)
            except ParseError as error:
                errors.append(ParseError(f"{written}: {error.message}", error.status_hint, value))
        if isinstance(message, Request) and not errors:
            method = parse_cseq(message.headers.first("CSeq") or "").method
            if method != message.method:
                # RFC 4475 §3.1.2.17/18: 400, or 501 when the request method is unknown.
                status = 400 if message.method in _KNOWN_METHODS else 501
                errors.append(ParseError("CSeq method does not match the request", status, method))
    if errors:
        if strict:
            raise errors[0]
        message.problems.extend(errors)


_REQUIRED = tuple((name, _key(name)) for name in REQUIRED)
_REQUIRED_KEYS = frozenset(key for _, key in _REQUIRED)
_SINGLE = tuple((name, _key(name)) for name in SINGLE)
_KNOWN_METHODS = frozenset(
    "INVITE ACK BYE CANCEL OPTIONS REGISTER PRACK UPDATE INFO MESSAGE SUBSCRIBE NOTIFY "
    "REFER PUBLISH".split()
)


def make_response(
    request: Request, status: int, reason: str = "", *, to_tag: str | None = None
) -> Response:
    """A response to ``request`` per RFC 3261 §8.2.6.2: Via (all values, in order),
    From, To, Call-ID and CSeq copied; ``to_tag`` added to To when it has none
    (a 100 Trying carries no tag, §8.2.6.2)."""
    keys: list[str] = []
    names: list[str] = []
    values: list[str] = []
    source = request.headers
    for key, value in zip(source.keys, source.values_list, strict=True):
        if key in _COPIED_TO_RESPONSE:
            if (
                key == "to"
                and to_tag is not None
                and status != 100
                and parse_name_addr(value).tag is None
            ):
                value = f"{value};tag={to_tag}"  # noqa: PLW2901 - adding the tag
            keys.append(key)
            names.append(_COPIED_TO_RESPONSE[key])
            values.append(value)
    response = Response(status=status, reason=reason)
    response.headers = headers = Headers._from_lists(keys, names, values)
    if status == 100 and "Timestamp" in request.headers:  # §8.2.6.1
        headers.add("Timestamp", request.headers.first("Timestamp") or "")
    headers.add("Content-Length", "0")
    return response


# Lookup key -> the name written in the response (compact forms are expanded).
_COPIED_TO_RESPONSE = {
    "via": "Via",
    "from": "From",
    "to": "To",
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "record-route": "Record-Route",
}
