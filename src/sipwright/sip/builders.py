"""Building new requests (RFC 3261 §8.1.1) and the random values they carry.

``build_request`` writes the header fields every request needs (Via, Max-Forwards,
From, To, Call-ID, CSeq, Contact and Content-Length) in the order most stacks use, so
captures of sipwright traffic look familiar.  Dialogs (``dialog.py``) build their
in-dialog requests with it too.

Tags, Call-IDs and branches come from ``secrets``: RFC 3261 §19.3 asks for
cryptographically random tags and Call-IDs (at least 32 bits of randomness), and a
guessable branch or tag would let an attacker inject a CANCEL or BYE.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence

from sipwright.sip.grammar import TOKEN_RE
from sipwright.sip.headers import CSeq, Headers, NameAddr, parse_name_addr
from sipwright.sip.message import Request
from sipwright.sip.uri import URI, parse_uri

__all__ = [
    "BRANCH_MAGIC_COOKIE",
    "build_request",
    "format_via",
    "new_branch",
    "new_call_id",
    "new_tag",
]

# §8.1.1.7: a branch starting with this cookie says "built per RFC 3261", so the
# branch alone identifies the transaction (§17.1.3, §17.2.3).
BRANCH_MAGIC_COOKIE = "z9hG4bK"

# Largest CSeq number we write: §8.1.1.5 requires it to be below 2**31.
_MAX_CSEQ = 2**31 - 1


def new_tag() -> str:
    """A From/To tag: 64 random bits in hex (§19.3 asks for at least 32)."""
    return secrets.token_hex(8)


def new_call_id(host: str | None = None) -> str:
    """A globally unique Call-ID (§8.1.1.4): 128 random bits, ``@host`` if given.

    The host part is only decoration (§20.8 recommends it); uniqueness comes from
    the random part, so it is safe to use the same host for every call.
    """
    random_part = secrets.token_hex(16)
    return random_part if not host else f"{random_part}@{host}"


def new_branch() -> str:
    """A Via branch: the RFC 3261 magic cookie and 96 random bits (§8.1.1.7)."""
    return BRANCH_MAGIC_COOKIE + secrets.token_hex(12)


def format_via(
    transport: str,
    host: str,
    port: int | None = None,
    *,
    branch: str | None = None,
    rport: bool = True,
) -> str:
    """One Via value: ``SIP/2.0/UDP host:port;branch=...;rport``.

    ``rport`` (RFC 3581 §3) asks the server to answer to the source port it saw,
    which is what gets responses through NATs; it costs nothing otherwise.
    An IPv6 address is bracketed as the sent-by grammar requires (§25.1).
    """
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    sent_by = host if port is None else f"{host}:{port}"
    value = f"SIP/2.0/{transport.upper()} {sent_by};branch={branch or new_branch()}"
    return value + ";rport" if rport else value


def _name_addr(value: NameAddr | str) -> NameAddr:
    return value if isinstance(value, NameAddr) else parse_name_addr(value)


def build_request(
    method: str,
    uri: URI | str,
    *,
    from_: NameAddr | str,
    to: NameAddr | str,
    via_host: str,
    call_id: str | None = None,
    cseq: int = 1,
    via_transport: str = "UDP",
    via_port: int | None = None,
    branch: str | None = None,
    contact: NameAddr | str | None = None,
    max_forwards: int = 70,
    route: Sequence[NameAddr | str] = (),
    extra_headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    content_type: str | None = None,
    rport: bool = True,
) -> Request:
    """A new request with the header fields of RFC 3261 §8.1.1.

    ``from_`` gets a fresh tag when it has none (§8.1.1.3: the From tag is
    mandatory); ``to`` is used as given, so an in-dialog request passes the remote
    tag in it (§12.2.1.1) and an initial request passes none (§8.1.1.2).  Omitted
    ``call_id`` and ``branch`` are generated.  ``route`` becomes one Route field per
    entry, in the given order (§8.1.1.1 preloaded routes, §12.2.1.1 route sets).
    ``cseq`` is the number; the method in CSeq is always ``method`` (§8.1.1.5), ACK
    and CANCEL included.  Content-Length is always written, even for an empty body,
    because on a stream transport it is mandatory (§18.3, §20.14).

    Raises ``ValueError`` for a method that is not a token, a CSeq number not below
    2**31 or a Max-Forwards outside 0-255; ``ParseError`` for a malformed URI.
    """
    if not TOKEN_RE.fullmatch(method):
        raise ValueError(f"method is not a token: {method!r}")
    if not 0 <= cseq <= _MAX_CSEQ:
        raise ValueError(f"CSeq number must be in 0..2**31-1 (§8.1.1.5): {cseq}")
    if not 0 <= max_forwards <= 255:
        raise ValueError(f"Max-Forwards must be 0-255 (§20.22): {max_forwards}")
    request_uri = uri if not isinstance(uri, str) else parse_uri(uri)
    # Text given by the caller is used as written once it parses (cached); only a
    # missing From tag makes us render the header afresh.
    from_addr = _name_addr(from_)
    from_text = from_ if isinstance(from_, str) else str(from_addr)
    if from_addr.tag is None:
        from_text = str(from_addr.with_tag(new_tag()))
    to_text = to if isinstance(to, str) else str(to)
    _name_addr(to)  # validates a text value

    headers = Headers()
    headers.add("Via", format_via(via_transport, via_host, via_port, branch=branch, rport=rport))
    headers.add("Max-Forwards", str(max_forwards))
    for hop in route:
        headers.add("Route", str(_name_addr(hop)))
    headers.add("From", from_text)
    headers.add("To", to_text)
    headers.add("Call-ID", call_id or new_call_id(via_host))
    headers.add("CSeq", str(CSeq(cseq, method)))
    if contact is not None:
        headers.add("Contact", str(_name_addr(contact)))
    for name, value in extra_headers:
        headers.add(name, value)
    if content_type is not None:
        headers.add("Content-Type", content_type)
    headers.add("Content-Length", str(len(body)))
    return Request(method=method, uri=str(request_uri), headers=headers, body=body)
