"""Grammar checks for the header fields whose syntax RFC 3261 §20/§25 defines.

Each validator takes one header field value and raises ``ParseError`` when it is
malformed.  ``message.parse_message`` runs them (eagerly, or only for the hot-path
headers when lazy); unknown headers are extension headers and pass as they are.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sipwright.sip.errors import ParseError
from sipwright.sip.grammar import QUOTED_RE, TOKEN_CHARS, WORD_CHARS, split_list
from sipwright.sip.headers import parse_cseq, parse_name_addr, parse_name_addr_list, parse_via_list

__all__ = ["REQUIRED", "SINGLE", "VALIDATORS"]

# §8.1.1: To, From, CSeq, Call-ID and Via are needed by every transaction.
# Max-Forwards is also a MUST for requests, but RFC 2543 peers omit it and RFC 4475
# §3.4.1 asks parsers to accept such a request, so its absence is not an error here.
REQUIRED = ("To", "From", "CSeq", "Call-ID", "Via")
# Fields that may appear once only (§7.3.1: only comma-list headers may repeat).
SINGLE = ("To", "From", "CSeq", "Call-ID", "Max-Forwards", "Content-Type", "Expires")

_MAX_DELTA = 2**32 - 1  # §20.19/§20.33: delta-seconds fit in 32 bits

# callid = word [ "@" word ]
_CALL_ID_RE = re.compile(rf"[{WORD_CHARS}]+(?:@[{WORD_CHARS}]+)?")
_TOKEN_LIST_RE = re.compile(rf"(?:[{TOKEN_CHARS}]+(?:\s*,\s*[{TOKEN_CHARS}]+)*)?")
# media-type = m-type SLASH m-subtype *(SEMI m-parameter)
_MEDIA_TYPE_RE = re.compile(
    rf"[{TOKEN_CHARS}]+\s*/\s*[{TOKEN_CHARS}]+"
    rf"(?:\s*;\s*[{TOKEN_CHARS}]+\s*=\s*(?:[{TOKEN_CHARS}]+|{QUOTED_RE.pattern}))*"
)
# rfc1123-date = wkday "," SP date1 SP time SP "GMT" (§25.1: SIP-date; RFC 4475 §3.1.2.12)
_DATE_RE = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} "
    r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} "
    r"[0-9]{2}:[0-9]{2}:[0-9]{2} GMT"
)
# warning-value = warn-code SP warn-agent SP warn-text; warn-code = 3DIGIT
_WARNING_RE = re.compile(rf"[0-9]{{3}} [^\s]+ {QUOTED_RE.pattern}")
# Retry-After = delta-seconds [ comment ] *( SEMI retry-param )
_RETRY_AFTER_RE = re.compile(r"([0-9]+)\s*(?:\([^)]*\))?\s*(?:;.*)?", re.DOTALL)
# Session-Expires / Min-SE (RFC 4028 §4, §5): delta-seconds *(SEMI param)
_DELTA_PARAMS_RE = re.compile(r"([0-9]+)\s*(?:;.*)?", re.DOTALL)
# RAck = response-num LWS CSeq-num LWS Method (RFC 3262 §7.2)
_RACK_RE = re.compile(rf"[0-9]{{1,10}}\s+[0-9]{{1,10}}\s+[{TOKEN_CHARS}]+")


def _delta_seconds(value: str, what: str) -> int:
    if not value.isdigit() or not value.isascii():
        raise ParseError(f"{what} is not a number of seconds", 400, value)
    if len(value.lstrip("0")) > 10:  # int() refuses > 4300 digits; 11 exceed 2**32
        raise ParseError(f"{what} out of range", 400, value[:20])
    number = int(value)
    if number > _MAX_DELTA:
        raise ParseError(f"{what} out of range", 400, value)
    return number


def _call_id(value: str) -> None:
    if not _CALL_ID_RE.fullmatch(value):
        raise ParseError("malformed Call-ID", 400, value)


def _max_forwards(value: str) -> None:
    # §20.22: an integer in the range 0-255.
    if not value.isdigit() or not value.isascii() or len(value.lstrip("0")) > 3 or int(value) > 255:
        raise ParseError("Max-Forwards must be 0-255", 400, value)


def _content_length(value: str) -> None:
    if not value.isdigit() or not value.isascii():
        raise ParseError("malformed Content-Length", 400, value)


def _expires(value: str) -> None:
    _delta_seconds(value, "Expires")


def _with_delta(regex: re.Pattern[str], what: str) -> Callable[[str], None]:
    def check(value: str) -> None:
        match = regex.fullmatch(value)
        if match is None:
            raise ParseError(f"malformed {what}", 400, value)
        _delta_seconds(match.group(1), what)

    return check


def _date(value: str) -> None:
    if not _DATE_RE.fullmatch(value):
        raise ParseError("Date is not an RFC 1123 date in GMT", 400, value)


def _warning(value: str) -> None:
    for element in split_list(value):
        if not _WARNING_RE.fullmatch(element):
            raise ParseError("malformed Warning", 400, value)


def _content_type(value: str) -> None:
    if not _MEDIA_TYPE_RE.fullmatch(value):
        raise ParseError("malformed media type", 400, value)


def _token_list(value: str) -> None:
    if not _TOKEN_LIST_RE.fullmatch(value):
        raise ParseError("malformed token list", 400, value)


def _rseq(value: str) -> None:
    if (
        not value.isdigit()
        or not value.isascii()
        or len(value.lstrip("0")) > 10
        or int(value) > _MAX_DELTA
    ):
        raise ParseError("malformed RSeq", 400, value)


def _rack(value: str) -> None:
    if not _RACK_RE.fullmatch(value):
        raise ParseError("malformed RAck", 400, value)


def _contact(value: str) -> None:
    # §20.10: "*" is only allowed alone (a REGISTER removing every binding).
    if "*" in split_list(value) and value.strip() != "*":
        raise ParseError("Contact * must stand alone", 400, value)
    parse_name_addr_list(value, allow_star=True)


def _route(value: str) -> None:
    # route-param = name-addr *( SEMI rr-param ): the URI is always in <> here.
    for element in parse_name_addr_list(value):
        if not element.bracketed:
            raise ParseError("Route/Record-Route URI must be in <>", 400, value)


def _name_addr(value: str) -> None:
    parse_name_addr(value)


def _cseq(value: str) -> None:
    parse_cseq(value)


def _via(value: str) -> None:
    parse_via_list(value)


VALIDATORS: dict[str, Callable[[str], None]] = {
    "via": _via,
    "from": _name_addr,
    "to": _name_addr,
    "call-id": _call_id,
    "cseq": _cseq,
    "contact": _contact,
    "route": _route,
    "record-route": _route,
    "max-forwards": _max_forwards,
    "content-length": _content_length,
    "content-type": _content_type,
    "expires": _expires,
    "min-expires": _expires,
    "retry-after": _with_delta(_RETRY_AFTER_RE, "Retry-After"),
    "session-expires": _with_delta(_DELTA_PARAMS_RE, "Session-Expires"),
    "min-se": _with_delta(_DELTA_PARAMS_RE, "Min-SE"),
    "date": _date,
    "warning": _warning,
    "allow": _token_list,
    "supported": _token_list,
    "require": _token_list,
    "proxy-require": _token_list,
    "unsupported": _token_list,
    "rseq": _rseq,
    "rack": _rack,
}
