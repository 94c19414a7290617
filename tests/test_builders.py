"""Request builder (RFC 3261 §8.1.1) and random identifiers."""

from __future__ import annotations

import re
from typing import Any

import pytest

from sipwright.sip import ParseError
from sipwright.sip.builders import (
    BRANCH_MAGIC_COOKIE,
    build_request,
    format_via,
    new_branch,
    new_call_id,
    new_tag,
)
from sipwright.sip.headers import parse_name_addr
from sipwright.sip.message import Request, parse_message
from sipwright.sip.uri import SipURI


def _names(request: Request) -> list[str]:
    return [name for name, _ in request.headers]


def _invite(**overrides: Any) -> Request:
    kwargs: dict[str, Any] = {
        "from_": '"Alice" <sip:alice@atlanta.example.com>',
        "to": "<sip:bob@biloxi.example.com>",
        "via_host": "192.0.2.10",
        "via_port": 5060,
        "contact": "<sip:alice@192.0.2.10:5060>",
    }
    kwargs.update(overrides)
    return build_request("INVITE", "sip:bob@biloxi.example.com", **kwargs)


def test_random_values_have_the_right_shape_and_differ() -> None:
    tags = {new_tag() for _ in range(100)}
    assert len(tags) == 100
    assert all(re.fullmatch(r"[0-9a-f]{16}", t) for t in tags)  # 64 bits >= §19.3's 32
    branch = new_branch()
    assert branch.startswith(BRANCH_MAGIC_COOKIE) and branch.startswith("z9hG4bK")
    assert len(branch) > len(BRANCH_MAGIC_COOKIE) + 16
    assert new_branch() != branch
    call_id = new_call_id("host.example.com")
    assert call_id.endswith("@host.example.com")
    assert re.fullmatch(r"[0-9a-f]{32}", call_id.split("@")[0])
    assert "@" not in new_call_id()
    assert new_call_id("h") != new_call_id("h")


def test_header_order_and_mandatory_fields() -> None:
    request = _invite(
        route=["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"],
        extra_headers=[("Supported", "100rel"), ("User-Agent", "sipwright")],
        body=b"v=0\r\n",
        content_type="application/sdp",
    )
    assert _names(request) == [
        "Via",
        "Max-Forwards",
        "Route",
        "Route",
        "From",
        "To",
        "Call-ID",
        "CSeq",
        "Contact",
        "Supported",
        "User-Agent",
        "Content-Type",
        "Content-Length",
    ]
    assert request.method == "INVITE"
    assert request.uri == "sip:bob@biloxi.example.com"
    assert request.max_forwards == 70
    assert [str(r.uri) for r in request.routes] == [
        "sip:p1.example.com;lr",
        "sip:p2.example.com;lr",
    ]
    assert request.headers.get("Content-Length") == "5"
    assert request.content_type == "application/sdp"
    assert request.body == b"v=0\r\n"
    assert (request.cseq.number, request.cseq.method) == (1, "INVITE")


def test_via_branch_rport_and_sent_by() -> None:
    request = _invite(branch="z9hG4bKfixed")
    via = request.via
    assert (via.transport, via.host, via.port) == ("UDP", "192.0.2.10", 5060)
    assert via.branch == "z9hG4bKfixed"
    assert "rport" in via.params and via.rport is None  # empty: filled by the server
    generated = _invite().via
    assert generated.is_rfc3261_branch
    assert "rport" not in _invite(rport=False).via.params
    tcp = build_request(
        "OPTIONS", "sip:x@example.com", from_="<sip:a@b>", to="<sip:x@example.com>",
        via_host="example.net", via_transport="tcp",
    )  # fmt: skip
    assert tcp.via.transport == "TCP" and tcp.via.port is None
    assert format_via("UDP", "2001:db8::1", 5060, branch="z9hG4bKx", rport=False) == (
        "SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bKx"
    )


def test_from_tag_added_to_kept_call_id_generated() -> None:
    request = _invite()
    assert request.from_tag is not None and len(request.from_tag) == 16
    assert request.from_.display_name == "Alice"
    assert request.to_tag is None  # §8.1.1.2: no To tag outside a dialog
    assert request.call_id.endswith("@192.0.2.10")
    tagged = _invite(from_="<sip:alice@atlanta.example.com>;tag=abc", call_id="cid-1")
    assert tagged.from_tag == "abc"
    assert tagged.call_id == "cid-1"
    name_addr = parse_name_addr("<sip:bob@biloxi.example.com>;tag=xyz")
    assert _invite(to=name_addr).to_tag == "xyz"


def test_content_length_always_present_and_no_contact_when_none() -> None:
    request = build_request(
        "MESSAGE",
        SipURI(host="example.com", user="bob"),
        from_="<sip:alice@example.com>",
        to="<sip:bob@example.com>",
        via_host="192.0.2.1",
    )
    assert request.headers.get("Content-Length") == "0"
    assert "Contact" not in request.headers
    assert "Content-Type" not in request.headers
    assert "Route" not in request.headers
    assert request.uri == "sip:bob@example.com"


def test_ack_and_cancel_keep_their_method_in_cseq() -> None:
    ack = build_request(
        "ACK", "sip:bob@192.0.2.20", from_="<sip:a@x>;tag=1", to="<sip:b@y>;tag=2",
        via_host="192.0.2.10", cseq=7, max_forwards=10,
    )  # fmt: skip
    assert (ack.cseq.number, ack.cseq.method) == (7, "ACK")
    assert ack.max_forwards == 10


def test_round_trip_through_the_strict_parser() -> None:
    request = _invite(
        route=["<sip:p1.example.com;lr>"],
        extra_headers=[("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS")],
        body=b"v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\n",
        content_type="application/sdp",
    )
    parsed = parse_message(bytes(request), strict=True, lazy=False, stream=True)
    assert isinstance(parsed, Request)
    assert parsed.problems == []
    assert parsed.method == "INVITE"
    assert parsed.uri == request.uri
    assert parsed.headers == request.headers
    assert parsed.body == request.body
    assert parsed.from_tag == request.from_tag
    assert parsed.via.branch == request.via.branch


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"cseq": 2**31}, ValueError),
        ({"cseq": -1}, ValueError),
        ({"max_forwards": 256}, ValueError),
        ({"from_": "<sip:alice@"}, ParseError),
    ],
)
def test_invalid_arguments(overrides: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        _invite(**overrides)


def test_invalid_method_and_uri() -> None:
    with pytest.raises(ValueError):
        build_request("IN VITE", "sip:b@y", from_="<sip:a@x>", to="<sip:b@y>", via_host="h")
    with pytest.raises(ParseError):
        build_request("INVITE", "sip:b@y;;", from_="<sip:a@x>", to="<sip:b@y>", via_host="h")
