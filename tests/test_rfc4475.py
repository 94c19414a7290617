"""RFC 4475 torture messages, read in place from ../shared/vectors/rfc4475."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import pytest

from sipwright.sip import ParseError
from sipwright.sip.framing import StreamFramer
from sipwright.sip.message import Request, Response, parse_message
from sipwright.sip.uri import AbsoluteURI, SipURI

VECTORS = Path(__file__).resolve().parents[2] / "shared" / "vectors" / "rfc4475"


@dataclass(frozen=True)
class Vector:
    file: str
    section: str
    verdict: str
    expected_status: int | None

    @property
    def data(self) -> bytes:
        return (VECTORS / self.file).read_bytes()


def _load() -> list[Vector]:
    with (VECTORS / "MANIFEST.tsv").open(newline="") as manifest:
        rows = list(csv.DictReader(manifest, delimiter="\t"))
    return [
        Vector(
            file=row["file"],
            section=row["rfc_section"],
            verdict=row["verdict"],
            expected_status=None if row["expected_status"] == "-" else int(row["expected_status"]),
        )
        for row in rows
    ]


ALL = _load()
ACCEPTED = [v for v in ALL if v.verdict in ("valid", "valid-but-odd")]
INVALID = [v for v in ALL if v.verdict == "invalid"]


def test_manifest_is_complete() -> None:
    assert len(ALL) == 49
    assert len(INVALID) == 22
    assert len(ACCEPTED) == 27


def _equivalent(a: Request | Response, b: Request | Response) -> None:
    assert type(a) is type(b)
    assert list(a.headers) == list(b.headers)
    assert a.body == b.body
    if isinstance(a, Request):
        assert isinstance(b, Request)
        assert (a.method, a.uri) == (b.method, b.uri)
    else:
        assert isinstance(b, Response)
        assert (a.status, a.reason) == (b.status, b.reason)


@pytest.mark.parametrize("vector", ACCEPTED, ids=lambda v: v.file)
def test_accepted_messages_parse_and_round_trip(vector: Vector) -> None:
    message = parse_message(vector.data)
    again = parse_message(bytes(message))
    _equivalent(message, again)
    # Structured access to what every transaction needs works on all of them.
    assert message.call_id
    assert message.cseq.number >= 0
    assert message.via.transport
    message.from_  # noqa: B018 - must parse
    message.to  # noqa: B018


@pytest.mark.parametrize("vector", ACCEPTED, ids=lambda v: v.file)
def test_accepted_messages_frame_byte_by_byte_on_a_stream(vector: Vector) -> None:
    message = parse_message(vector.data)
    wire = bytes(message)
    if "Content-Length" not in message.headers:  # inv2543: add it for the stream
        message.set_body(message.body)
        wire = bytes(message)
    framer = StreamFramer()
    got = []
    for i in range(len(wire)):
        got.extend(framer.feed(wire[i : i + 1]))
    assert len(got) == 1
    framed = got[0]
    assert isinstance(framed, Request | Response)
    _equivalent(framed, parse_message(wire))
    assert framer.buffered == 0


@pytest.mark.parametrize("vector", INVALID, ids=lambda v: v.file)
def test_invalid_messages_raise_parse_error_with_the_rfc_status(vector: Vector) -> None:
    with pytest.raises(ParseError) as info:
        parse_message(vector.data)
    expected = vector.expected_status or 400
    assert info.value.status_hint == expected, str(info.value)


@pytest.mark.parametrize("vector", INVALID, ids=lambda v: v.file)
def test_invalid_messages_are_inspectable_when_not_strict(vector: Vector) -> None:
    """A tester wants to see what a broken system sent: non-strict parsing keeps
    the message and lists the problems, unless even the start line is unusable."""
    try:
        message = parse_message(vector.data, strict=False)
    except ParseError as error:
        # Only start-line and framing problems are fatal.
        assert error.status_hint in (400, 505)
        assert vector.file in {
            "badvers.dat",
            "bigcode.dat",
            "ltgtruri.dat",
            "lwsruri.dat",
            "lwsstart.dat",
            "trws.dat",
            "escruri.dat",
            "clerr.dat",
            "ncl.dat",
            "mcl01.dat",
        }
    else:
        assert message.problems, vector.file


def _vector(name: str) -> bytes:
    return (VECTORS / name).read_bytes()


def test_wsinv_keeps_folded_and_spaced_values() -> None:
    message = parse_message(_vector("wsinv.dat"))
    assert isinstance(message, Request)
    assert message.to.tag == "1918181833n"
    assert message.from_.display_name == 'J Rosenberg \\"'
    assert message.from_.tag == "98asjd8"
    assert message.max_forwards == 68
    assert message.cseq.number == 9
    assert message.cseq.method == "INVITE"
    vias = message.vias
    assert [v.transport for v in vias] == ["UDP", "TCP", "UDP"]
    assert vias[1].branch == "z9hG4bK9ikj8"
    assert vias[2].host == "192.168.255.111"
    assert message.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert message.headers.get("Subject") == ""
    contact = message.contacts[0]
    assert contact.display_name == 'Quoted string ""'
    assert contact.params.get("q") == "0.33"
    assert contact.params.get("newparam") == "newvalue"
    assert "secondparam" in contact.params
    assert message.headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"


def test_compact_forms_map_to_full_names() -> None:
    message = parse_message(_vector("esc01.dat"))
    assert message.headers.get("Call-ID") == "esc01.239409asdfakjkn23onasd0-3234"
    assert message.headers.get("Content-Type") == "application/sdp"
    # "C%6Fntact" is not Contact: escapes do not apply to header names.
    esc02 = parse_message(_vector("esc02.dat"))
    assert len(esc02.contacts) == 2
    assert esc02.headers.get("C%6Fntact") == "<sip:alias2@host2.example.com>"


def test_intmeth_keeps_odd_characters() -> None:
    data = _vector("intmeth.dat")
    message = parse_message(data)
    assert isinstance(message, Request)
    assert message.method == "!interesting-Method0123456789_*+`.%indeed'~"
    uri = message.request_uri
    assert isinstance(uri, SipURI)
    assert uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert message.to.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert message.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    # The UTF-8 value, BOM included, survives the round trip.
    value = "\ufeff\u5927\u505c\u96fb"  # "big power outage"
    assert message.headers.get("extensionHeader-!.%*+_`'~") == value
    assert parse_message(bytes(message)).headers.get("extensionHeader-!.%*+_`'~") == value


def test_escaped_nulls_stay_escaped() -> None:
    message = parse_message(_vector("escnull.dat"))
    assert [str(c.uri) for c in message.contacts] == [
        "sip:%00@host5.example.com",
        "sip:%00%00@host5.example.com",
    ]


def test_unknown_schemes_parse_as_absolute_uris() -> None:
    message = parse_message(_vector("unkscm.dat"))
    assert isinstance(message, Request)
    uri = message.request_uri
    assert isinstance(uri, AbsoluteURI)
    assert uri.scheme == "nobodyKnowsThisScheme"
    unksm2 = parse_message(_vector("unksm2.dat"))
    assert str(unksm2.to.uri) == "isbn:2983792873"
    assert str(unksm2.contacts[0].uri) == "name:John_Smith"


def test_trailing_octets_of_a_datagram_are_dropped() -> None:
    data = _vector("dblreq.dat")
    message = parse_message(data)
    assert isinstance(message, Request)
    assert message.method == "REGISTER"
    assert message.body == b""
    assert b"INVITE" not in bytes(message)


def test_missing_content_length_means_rest_of_datagram_but_not_on_streams() -> None:
    data = _vector("inv2543.dat")
    message = parse_message(data)
    assert message.body.startswith(b"v=0")
    assert message.via.branch is None
    with pytest.raises(ParseError):
        parse_message(data, stream=True)


def test_mpart01_body_bytes_are_preserved_exactly() -> None:
    data = _vector("mpart01.dat")
    message = parse_message(data)
    assert b"\x00" in message.body
    assert message.body == data[data.index(b"\r\n\r\n") + 4 :]


def test_utf8_reason_phrase() -> None:
    message = parse_message(_vector("unreason.dat"))
    assert isinstance(message, Response)
    assert message.status == 200
    assert "2**3 * 5**2" in message.reason
    noreason = parse_message(_vector("noreason.dat"))
    assert isinstance(noreason, Response)
    assert noreason.reason == ""
