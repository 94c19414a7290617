"""Message model, parser modes, header container and stream framing."""

from __future__ import annotations

import ast
import contextlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipwright.sip import ParseError
from sipwright.sip.framing import KeepAlivePing, KeepAlivePong, StreamFramer
from sipwright.sip.headers import Headers, canonical_name, parse_name_addr, parse_via
from sipwright.sip.message import Request, Response, make_response, parse_message
from sipwright.sip.uri import SipURI, TelURI, parse_uri

INVITE = (
    b"INVITE sip:bob@127.0.0.1:5060 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1-0;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b'From: "Alice" <sip:alice@127.0.0.1:5061>;tag=a1\r\n'
    b"To: <sip:bob@127.0.0.1:5060>\r\n"
    b"Call-ID: 1-42@127.0.0.1\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Contact: <sip:alice@127.0.0.1:5061;transport=udp>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 10\r\n"
    b"\r\n"
    b"v=0\r\ns=-\r\n"
)


def test_typed_accessors() -> None:
    message = parse_message(INVITE)
    assert isinstance(message, Request)
    assert message.method == "INVITE"
    assert message.call_id == "1-42@127.0.0.1"
    assert (message.cseq.number, message.cseq.method) == (1, "INVITE")
    via = message.via
    assert (via.transport, via.host, via.port, via.branch) == (
        "UDP",
        "127.0.0.1",
        5061,
        "z9hG4bK-1-0",
    )
    assert "rport" in via.params
    assert via.rport is None
    assert message.from_tag == "a1"
    assert message.to_tag is None
    assert message.from_.display_name == "Alice"
    contact = message.contacts[0].uri
    assert isinstance(contact, SipURI)
    assert contact.transport == "udp"
    assert message.content_type == "application/sdp"
    assert message.body == b"v=0\r\ns=-\r\n"
    assert bytes(message) == INVITE


def test_lazy_parse_checks_framing_but_defers_header_grammar() -> None:
    bad_contact = INVITE.replace(b"Contact: <sip:alice", b"Contact: <sip: alice")
    with pytest.raises(ParseError):
        parse_message(bad_contact)
    message = parse_message(bad_contact, lazy=True)
    assert message.call_id == "1-42@127.0.0.1"
    with pytest.raises(ParseError):
        message.contacts  # noqa: B018 - validated on access
    with pytest.raises(ParseError):
        parse_message(INVITE.replace(b"Content-Length: 10", b"Content-Length: 99"), lazy=True)


def test_parse_error_names_the_line_and_status() -> None:
    with pytest.raises(ParseError) as info:
        parse_message(INVITE.replace(b"Max-Forwards: 70\r\n", b"Max-Forwards 70\r\n"))
    assert info.value.status_hint == 400
    assert info.value.line == "Max-Forwards 70"
    with pytest.raises(ParseError) as info:
        parse_message(INVITE.replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1))
    assert info.value.status_hint == 505


def test_non_strict_parse_lists_problems() -> None:
    data = INVITE.replace(b"Max-Forwards: 70\r\n", b"Max-Forwards: 999\r\nBroken line\r\n")
    message = parse_message(data, strict=False)
    assert len(message.problems) == 2
    assert {p.line for p in message.problems} == {"Broken line", "999"}


def test_headers_container() -> None:
    headers = Headers([("v", "SIP/2.0/UDP a;branch=z9hG4bK1"), ("Via", "SIP/2.0/UDP b")])
    assert headers.get("Via") == "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b"
    assert headers.first("VIA") == "SIP/2.0/UDP a;branch=z9hG4bK1"
    assert headers.count("via") == 2
    headers.prepend("Via", "SIP/2.0/TCP c")
    assert headers.values("Via")[0] == "SIP/2.0/TCP c"
    headers.set("Via", "SIP/2.0/UDP only")
    assert headers.get_all("Via") == ["SIP/2.0/UDP only"]
    headers.add("X-Foo", "1")
    assert "x-foo" in headers
    headers.remove("X-FOO")
    assert "X-Foo" not in headers
    assert canonical_name("i") == "Call-ID"
    assert canonical_name("call-id") == "Call-ID"
    assert canonical_name("X-Custom") == "X-Custom"


def test_list_values_keep_commas_in_quotes_and_brackets() -> None:
    message = parse_message(
        INVITE.replace(
            b"Contact: <sip:alice@127.0.0.1:5061;transport=udp>",
            b'Contact: "Doe, John" <sip:a@h>, <sip:b@h;x=1,2>;q=0.5',
        ).replace(b"sip:b@h;x=1,2", b"sip:b@h;x=1")
    )
    contacts = message.contacts
    assert [c.display_name for c in contacts] == ["Doe, John", None]
    assert contacts[1].params.get("q") == "0.5"


def test_uris() -> None:
    uri = parse_uri("sips:alice:secret@[2001:db8::1]:5061;transport=tcp;lr?subject=hi")
    assert isinstance(uri, SipURI)
    assert (uri.scheme, uri.user, uri.password, uri.host, uri.port) == (
        "sips",
        "alice",
        "secret",
        "[2001:db8::1]",
        5061,
    )
    assert uri.lr
    assert uri.transport == "tcp"
    assert uri.headers == "subject=hi"
    assert str(uri) == "sips:alice:secret@[2001:db8::1]:5061;transport=tcp;lr?subject=hi"
    tel = parse_uri("tel:+1-201-555-0123;phone-context=example.com")
    assert isinstance(tel, TelURI)
    assert tel.is_global
    for bad in ("sip:", "sip:a@", "sip:host:99999", "sip:host;;", "nocolon", "sip:a b@h"):
        with pytest.raises(ParseError):
            parse_uri(bad)


def test_name_addr_forms() -> None:
    value = parse_name_addr("Bob <sip:bob@example.com>;tag=9")
    assert value.display_name == "Bob"
    assert value.tag == "9"
    assert str(value) == '"Bob" <sip:bob@example.com>;tag=9'
    # In the addr-spec form the parameters belong to the header, not the URI (§20).
    spec = parse_name_addr("sip:bob@example.com;tag=9")
    assert spec.tag == "9"
    assert isinstance(spec.uri, SipURI)
    assert not spec.uri.params
    assert str(spec.with_tag("10")) == "sip:bob@example.com;tag=10"


def test_via_with_ipv6_and_received() -> None:
    via = parse_via("SIP/2.0/TCP [::1]:5070;branch=z9hG4bKx;received=::1;rport=5070")
    assert via.host == "[::1]"
    assert via.port == 5070
    assert via.rport == 5070
    assert via.received == "::1"
    assert str(via.with_param("alias")) == (
        "SIP/2.0/TCP [::1]:5070;branch=z9hG4bKx;received=::1;rport=5070;alias"
    )


def test_make_response_copies_the_right_headers() -> None:
    request = parse_message(INVITE)
    assert isinstance(request, Request)
    response = make_response(request, 180, to_tag="b7")
    assert response.reason == "Ringing"
    assert response.to_tag == "b7"
    assert response.via.branch == "z9hG4bK-1-0"
    assert response.cseq == request.cseq
    assert response.headers.get("Content-Length") == "0"
    trying = make_response(request, 100, to_tag="b7")
    assert trying.to_tag is None
    again = parse_message(bytes(response))
    assert isinstance(again, Response)
    assert again.status == 180


def test_set_body_keeps_content_length_in_step() -> None:
    response = Response(status=200)
    response.set_body(b"hello", "text/plain")
    assert response.headers.get("Content-Length") == "5"
    assert response.headers.get("Content-Type") == "text/plain"
    response.set_body(b"")
    assert response.headers.get("Content-Length") == "0"
    assert "Content-Type" not in response.headers


# --- stream framing --------------------------------------------------------------


def test_two_messages_in_one_chunk_and_keepalives() -> None:
    framer = StreamFramer()
    out = framer.feed(b"\r\n\r\n" + INVITE + INVITE[:30])
    assert isinstance(out[0], KeepAlivePing)
    assert isinstance(out[1], Request)
    assert framer.buffered == 30
    out = framer.feed(INVITE[30:] + b"\r\n")
    assert isinstance(out[0], Request)
    assert isinstance(out[1], KeepAlivePong)
    assert framer.buffered == 0


def test_stream_limits_protect_memory() -> None:
    framer = StreamFramer(max_header_bytes=1024)
    with pytest.raises(ParseError) as info:
        framer.feed(b"INVITE sip:a@b SIP/2.0\r\nX-Big: " + b"a" * 2000)
    assert info.value.status_hint == 413
    framer = StreamFramer(max_body_bytes=100)
    with pytest.raises(ParseError) as info:
        framer.feed(INVITE.replace(b"Content-Length: 10", b"Content-Length: 10000000"))
    assert info.value.status_hint == 413
    with pytest.raises(ParseError) as info:
        StreamFramer().feed(INVITE.replace(b"Content-Length: 10\r\n", b""))
    assert info.value.status_hint == 400


# --- fuzzing: any bytes parse or raise ParseError, and parsed ones round-trip -------

SEEDS = [INVITE, bytes(make_response(parse_message(INVITE), 200, to_tag="x"))]  # type: ignore[arg-type]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 6))):
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "insert", "delete", "dup"]))
        if action == "flip":
            data[pos] = draw(st.integers(0, 255))
        elif action == "insert":
            data[pos:pos] = draw(
                st.sampled_from([b"\r\n", b" ", b":", b";", b",", b"<", b'"', b"\x00", b"\xff"])
            )
        elif action == "delete":
            del data[pos : pos + draw(st.integers(1, 20))]
        else:
            end = min(len(data), pos + draw(st.integers(1, 40)))
            data[pos:pos] = data[pos:end]
    return bytes(data)


def _round_trip(data: bytes, **kwargs: bool) -> None:
    try:
        message = parse_message(data, **kwargs)
    except ParseError:
        return
    again = parse_message(bytes(message), **kwargs)
    assert list(again.headers) == list(message.headers)
    assert again.body == message.body


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600) | mutated())
def test_fuzz_strict(data: bytes) -> None:
    _round_trip(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_fuzz_lazy_and_lenient(data: bytes) -> None:
    _round_trip(data, lazy=True)
    _round_trip(data, strict=False)
    try:
        message = parse_message(data, lazy=True)
    except ParseError:
        return
    # Every accessor either works or raises ParseError, never anything else.
    for name in ("via", "cseq", "from_", "to", "contacts", "vias", "routes", "call_id"):
        with contextlib.suppress(ParseError):
            getattr(message, name)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 50), min_size=1, max_size=30))
def test_fuzz_stream_chunking(cuts: list[int]) -> None:
    wire = INVITE + b"\r\n\r\n" + INVITE
    framer = StreamFramer()
    got = []
    pos = 0
    for size in cuts * 20:
        if pos >= len(wire):
            break
        got.extend(framer.feed(wire[pos : pos + size]))
        pos += size
    got.extend(framer.feed(wire[pos:]))
    kinds = [type(m).__name__ for m in got]
    # A ping cut in two after its first CRLF also yields a (harmless) pong first.
    assert kinds in (
        ["Request", "KeepAlivePing", "Request"],
        ["Request", "KeepAlivePong", "KeepAlivePing", "Request"],
    )


# --- layering ----------------------------------------------------------------------

FORBIDDEN = {"asyncio", "socket", "selectors", "trio", "time", "threading"}


def test_sip_core_is_sans_io() -> None:
    root = Path(__file__).resolve().parents[1] / "src" / "sipwright" / "sip"
    offenders = []
    for path in sorted(root.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert not offenders
    assert len(list(root.glob("*.py"))) >= 8
