"""SIPp [keyword] templates (sipwright.scenario.sippxml.keywords).

Expected bytes marked "SIPp 3.6.1" were produced by the real binary on loopback:
``sipp -sn uas`` against ``sipp -sn uac`` with -trace_msg, and custom scenarios
sent to a Python UDP peer that recorded each datagram and answered with chosen
headers (two Vias, Record-Route, a 401 challenge, ...).
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from sipwright.scenario.sippxml.injection import InjectionFile, InjectionRegistry
from sipwright.scenario.sippxml.keywords import (
    CompileOptions,
    DynamicId,
    KeywordContext,
    KeywordError,
    RenderError,
    RunContext,
    Template,
    compile_template,
)
from sipwright.sip.digest_server import make_challenge, parse_authorization, verify
from sipwright.sip.message import Request, Response, parse_message

# SIPp's embedded uac INVITE and uas answers, as the CDATA cleaning leaves them.
UAC_INVITE = """INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: [service] <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Subject: Performance Test
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
"""
UAS_180 = """SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Length: 0

"""
UAS_200 = UAS_180.replace("180 Ringing", "200 OK").replace(
    "Content-Length: 0\n\n",
    "Content-Type: application/sdp\nContent-Length: [len]\n\n" + UAC_INVITE.split("\n\n")[1],
)
SDP = (
    b"v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\nm=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)
# SIPp 3.6.1, uac pid 3149 on 127.0.0.1:15061 calling 127.0.0.1:15060 (511 bytes).
SIPP_INVITE = (
    b"INVITE sip:service@127.0.0.1:15060 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:15061;branch=z9hG4bK-3149-1-0\r\n"
    b"From: sipp <sip:sipp@127.0.0.1:15061>;tag=3149SIPpTag001\r\n"
    b"To: service <sip:service@127.0.0.1:15060>\r\n"
    b"Call-ID: 1-3149@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: sip:sipp@127.0.0.1:15061\r\n"
    b"Max-Forwards: 70\r\nSubject: Performance Test\r\nContent-Type: application/sdp\r\n"
    b"Content-Length:   129\r\n\r\n" + SDP % 6004
)
# SIPp 3.6.1, the uas (pid 3147, 127.0.0.1:15060) answering that INVITE.
SIPP_ANSWER_HEAD = (
    b"Via: SIP/2.0/UDP 127.0.0.1:15061;branch=z9hG4bK-3149-1-0\r\n"
    b"From: sipp <sip:sipp@127.0.0.1:15061>;tag=3149SIPpTag001\r\n"
    b"To: service <sip:service@127.0.0.1:15060>;tag=3147SIPpTag011\r\n"
    b"Call-ID: 1-3149@127.0.0.1\r\nCSeq: 1 INVITE\r\n"
    b"Contact: <sip:127.0.0.1:15060;transport=UDP>\r\n"
)
SIPP_180 = b"SIP/2.0 180 Ringing\r\n" + SIPP_ANSWER_HEAD + b"Content-Length: 0\r\n\r\n"
SIPP_200 = (
    b"SIP/2.0 200 OK\r\n"
    + SIPP_ANSWER_HEAD
    + b"Content-Type: application/sdp\r\nContent-Length:   129\r\n\r\n"
    + SDP % 6000
)


def run_context(**changes: object) -> RunContext:
    values: dict[str, object] = {
        "remote_ip": "192.0.2.10",
        "remote_port": 5060,
        "local_ip": "192.0.2.1",
        "local_port": 5070,
        "pid": 4242,
        "media_port": 6000,
        "clock": lambda: 1234,
        "wall_clock": lambda: 1795742726.295823,
        "sipp_version": "3.6.1",
        "cnonce_factory": lambda: "6b8b4567",
    }
    values.update(changes)
    return RunContext(**values)  # type: ignore[arg-type]


def context(run: RunContext | None = None, **changes: object) -> KeywordContext:
    ctx = KeywordContext(run=run or run_context(), call_number=7, call_id="7-4242@192.0.2.1")
    for name, value in changes.items():
        setattr(ctx, name, value)
    return ctx


def compile_(text: str, **kwargs: object) -> Template:
    return compile_template(text, filename="scen.xml", line=10, **kwargs)  # type: ignore[arg-type]


def render(text: str, ctx: KeywordContext, **kwargs: object) -> bytes:
    return compile_(text, **kwargs).render(ctx)


def fragment(text: str, ctx: KeywordContext, **kwargs: object) -> str:
    return compile_(text, fragment=True, **kwargs).render_text(ctx)


def message(data: bytes) -> Request | Response:
    return parse_message(data)


# -- SIPp's own messages, byte for byte -----------------------------------------------


def test_uac_invite_is_byte_identical_to_sipp() -> None:
    run = run_context(
        remote_ip="127.0.0.1",
        remote_port=15060,
        local_ip="127.0.0.1",
        local_port=15061,
        pid=3149,
        media_port=6004,
    )
    ctx = KeywordContext.for_call(run, call_number=1, call_id="1-3149@127.0.0.1")
    template = compile_(UAC_INVITE)
    assert (template.method, template.status, template.is_response) == ("INVITE", None, False)
    ctx.on_send(template)
    assert template.render(ctx) == SIPP_INVITE
    assert len(SIPP_INVITE) == 511  # what SIPp's trace reported


def test_uas_answers_are_byte_identical_to_sipp() -> None:
    run = run_context(local_ip="127.0.0.1", local_port=15060, pid=3147, media_port=6000)
    ctx = KeywordContext.for_call(run, call_number=1, call_id="ignored")
    ctx.on_receive(message(SIPP_INVITE), SIPP_INVITE)
    ringing, ok = compile_(UAS_180), compile_(UAS_200)
    assert ringing.status == 180 and ringing.method is None and ringing.is_response
    ctx.on_send(ringing)
    assert ringing.render(ctx) == SIPP_180
    assert ok.render(ctx) == SIPP_200
    assert ctx.cseq == 1  # responses do not take a CSeq; the INVITE's is followed


# -- simple keywords ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keyword", "expected"),
    [
        ("[service]", "service"),
        ("[remote_ip]", "192.0.2.10"),
        ("[remote_host]", "192.0.2.10"),
        ("[remote_port] [remote_port+3] [remote_port-1]", "5060 5063 5059"),
        ("[transport]", "UDP"),
        ("[local_ip] [local_ip_type]", "192.0.2.1 4"),
        ("[local_port] [local_port-1]", "5070 5069"),
        ("[server_ip]", "192.0.2.1"),
        ("[media_ip] [media_ip_type]", "192.0.2.1 4"),
        ("[media_port] [media_port+2]", "6000 6002"),
        ("[auto_media_port] [auto_media_port+1]", "6024 6025"),  # 6000 + 4 * (7 - 1)
        ("[rtpstream_audio_port] [rtpstream_video_port]", "6000 6000"),
        ("[call_number] [call_number+1]", "7 7"),  # SIPp ignores this offset
        ("[call_id]", "7-4242@192.0.2.1"),
        ("[cseq] [cseq+1]", "3 4"),
        ("[pid] [pid+1]", "4242 4242"),
        ("[branch]", "z9hG4bK-4242-7-5"),
        ("[branch-2] [branch+1]", "z9hG4bK-4242-7-3 z9hG4bK-4242-7-6"),
        ("[msg_index]", "5"),
        ("[clock_tick]", "1234"),
        ("[users] [userid]", "-1 0"),
        ("[sipp_version]", "3.6.1"),
        ("[next_url]|[peer_tag_param]|[last_Request_URI]|[last_message]", "|||"),
        ("[last_cseq_number] [last_cseq_number+2]", "0 2"),  # SIPp 3.6.1, nothing received
        ("[dynamic_id] [dynamic_id]", "10000 10004"),  # SIPp 3.6.1 defaults
    ],
)
def test_simple_keywords(keyword: str, expected: str) -> None:
    assert fragment(keyword, context(cseq=3, msg_index=5)) == expected


def test_ipv6_addresses_are_bracketed_where_sipp_brackets_them() -> None:
    # SIPp 3.6.1 with -i ::1 to [::1]: "[::1]:15080", "[::1]:15081", then
    # local_ip_type, media_ip, media_ip_type, server_ip, remote_host as "6 ::1 6 ::1 ::1".
    run = run_context(remote_ip="::1", remote_port=15080, local_ip="::1", local_port=15081)
    ctx = context(run)
    text = "[remote_ip]:[remote_port] [local_ip]:[local_port] "
    text += "[local_ip_type] [media_ip] [media_ip_type] [server_ip] [remote_host]"
    assert fragment(text, ctx) == "[::1]:15080 [::1]:15081 6 ::1 6 ::1 ::1"


def test_per_call_ports_and_addresses_override_the_run() -> None:
    ctx = context(local_port=40000, media_port=7000, server_ip="10.0.0.5")
    assert fragment("[local_port] [media_port] [server_ip]", ctx) == "40000 7000 10.0.0.5"
    ctx.run.remote_host = "sbc.example.com"
    ctx.run.transport = "tcp"
    assert fragment("[remote_host]", ctx) == "sbc.example.com"
    assert run_context(transport="tls").transport == "TLS"


def test_time_keywords_use_the_injected_clocks() -> None:
    ctx = context()
    now = 1795742726.295823
    stamp = time.strftime("%Y-%m-%d\t%H:%M:%S", time.localtime(int(now)))
    # SIPp 3.6.1 shape: "2026-11-27\t01:25:26.295823\t1795742726.295823".
    assert fragment("[timestamp]", ctx) == f"{stamp}.295823\t1795742726.295823"
    assert fragment("[date]", ctx) == "Fri, 27 Nov 2026 01:25:26 GMT"


def test_dynamic_id_wraps() -> None:
    counter = DynamicId(start=1, step=2, maximum=5)
    assert [counter.next() for _ in range(5)] == [1, 3, 5, 1, 3]


def test_generic_keys_tdmmap_and_variables() -> None:
    ctx = context(tdm_map="0.0.1/1")
    opts = CompileOptions(generic={"mykey": "kv", "trunk": "T1"})
    assert fragment("[mykey]-[trunk] [tdmmap]", ctx, options=opts) == "kv-T1 0.0.1/1"
    with pytest.raises(RenderError, match="tdmmap"):
        fragment("[tdmmap]", context())
    ctx.variables.update(s="text", f=3.0, i=12, t=True, n=None, b=False)
    # SIPp 3.6.1: an <assign value="3"/> variable renders as 3.000000.
    assert fragment("[$s]|[$f]|[$i]|[$t]|[$b]|[$n]|[$unset]|[$f+1]", ctx) == (
        "text|3.000000|12|true|false|||3.000000"
    )
    template = compile_("OPTIONS sip:[$s] SIP/2.0\n[$1]\n[fill variable=width]\n\n")
    assert template.variables == frozenset({"s", "1", "width"})


def test_fill_and_file() -> None:
    ctx = context()
    ctx.variables["n"] = 5.0
    # SIPp 3.6.1: "XXXXX|ababa".
    assert fragment('[fill variable=n]|[fill variable=n text="ab"]', ctx) == "XXXXX|ababa"
    ctx.variables["n"] = -2
    assert fragment("<[fill variable=n]>", ctx) == "<>"
    files = {"body.xml": b"<a>\xff</a>\n", "other.txt": b"x"}
    ctx.run.read_file = files.__getitem__
    ctx.variables["which"] = "other.txt"
    assert render("MESSAGE sip:x SIP/2.0\n\n[file name=body.xml]", ctx).endswith(b"<a>\xff</a>\n")
    assert fragment('[file name="[$which]"]', ctx) == "x"


def test_file_default_reader(tmp_path: Path) -> None:
    path = tmp_path / "b.txt"
    path.write_bytes(b"hello")
    assert fragment(f'[file name="{path}"]', context()) == "hello"


# -- message finishing: CRLF, escapes, [len] --------------------------------------------


def test_crlf_escapes_and_literal_brackets() -> None:
    ctx = context()
    # SIPp 3.6.1: "\x5b\x5d \x41\x7 end \xZQ end" -> "[] A\x07end Q end".
    assert fragment("\\x5b\\x5d \\x41\\x7 end \\xZQ end", ctx) == "[] A\x07end Q end"
    assert fragment("\\x5bcall_id]", ctx) == "[call_id]"  # an escaped bracket is not a keyword
    assert fragment("a\nb\r\nc", ctx) == "a\r\nb\r\nc"
    assert fragment("a\\x0ab\\x0d\\x0a", ctx) == "a\nb\r\n"  # escaped octets stay as written
    assert render("X sip:a SIP/2.0\nX-B: \\xff\n\n", ctx).endswith(b"X-B: \xff\r\n\r\n")
    # Not keywords: passed through (SIPp 3.6.1 refuses all of them).
    text = "[::1] [fe80::1%eth0] [2001:db8::1]:5060 [1] [] [ x] a]b [::1"
    assert fragment(text, ctx) == text
    assert fragment("[pid [call_number]", ctx) == "[pid 7"


def test_len_is_the_body_length_after_substitution() -> None:
    ctx = context()
    template = compile_(
        "MESSAGE sip:[service]@[remote_ip] SIP/2.0\nContent-Length: [len]\n\n"
        "call [call_id]\r\nline two [len+3]\n"
    )
    out = template.render(ctx)
    head, body = out.split(b"\r\n\r\n", 1)
    assert body == b"call 7-4242@192.0.2.1\r\nline two    42\r\n"
    assert len(body) == 39
    assert head.endswith(b"Content-Length:    39")  # "%5u", as SIPp prints it
    parsed = parse_message(out, strict=False)
    assert parsed.body == body


def test_len_counts_octets_not_characters() -> None:
    out = render("MESSAGE sip:x SIP/2.0\nContent-Length: [len]\n\n\u00e9t\u00e9\n", context())
    assert out.endswith(b"Content-Length:     7\r\n\r\n\xc3\xa9t\xc3\xa9\r\n")


def test_len_without_body_is_zero() -> None:
    # SIPp 3.6.1: "Content-Length:     0" then the empty line.
    out = render("OPTIONS sip:x SIP/2.0\nContent-Length: [len]\n\n", context())
    assert out == b"OPTIONS sip:x SIP/2.0\r\nContent-Length:     0\r\n\r\n"
    out = render("OPTIONS sip:x SIP/2.0\nContent-Length: [len+4]\n\n", context())
    assert out.endswith(b"Content-Length:     0\r\n\r\n")


# -- [last_*] and line suppression -------------------------------------------------------

TWO_VIAS = (
    b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKextra\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK-4242-7-0\r\n"
    b"From: <sip:a@192.0.2.1>;tag=4242X7\r\nTo: <sip:service@192.0.2.10>;tag=peer123\r\n"
    b"Call-ID: 7-4242@192.0.2.1\r\nCSeq: 5 OPTIONS\r\n"
    b"Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n"
    b"Record-Route: <sip:p3.example.com;lr>\r\n"
    b"Contact: <sip:bob@192.0.2.10:5060;transport=udp>;expires=60\r\n"
    b"x-lower: two  spaces\r\nContent-Length: 0\r\n\r\n"
)


def test_last_headers_join_repeated_headers_on_one_line() -> None:
    ctx = context()
    ctx.on_receive(message(TWO_VIAS), TWO_VIAS)
    # SIPp 3.6.1: all Via values on ONE line, ", "-separated, name as received.
    assert fragment("[last_Via:]", ctx) == (
        "Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKextra, "
        "SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK-4242-7-0"
    )
    assert fragment("[last_via]", ctx) == fragment("[last_Via:]", ctx)
    assert fragment("[last_Record-Route:]", ctx) == (
        "Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>, <sip:p3.example.com;lr>"
    )
    assert fragment("[last_X-Lower:]", ctx) == "x-lower: two  spaces"
    assert fragment("[last_To:value]", ctx) == "<sip:service@192.0.2.10>;tag=peer123"
    assert fragment("[last_Request_URI]", ctx) == "sip:service@192.0.2.10"
    assert fragment("[last_cseq_number] [last_cseq_number+2]", ctx) == "5 7"
    assert fragment("[last_message]", ctx) == TWO_VIAS.decode()
    assert fragment("[peer_tag_param]", ctx) == ";tag=peer123"
    ctx.last_raw = None
    assert fragment("[last_message]", ctx).startswith("SIP/2.0 200 OK\r\n")


def test_last_header_compact_forms_like_sipp() -> None:
    ctx = context()
    compact = (
        b"OPTIONS sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\nf: <sip:a@b>;tag=1\r\n"
    )
    compact += b"t: <sip:b@b>\r\ni: abc\r\nCSeq: 9 OPTIONS\r\nl: 0\r\n\r\n"
    ctx.on_receive(message(compact))
    # The long name finds the compact header; a compact name only finds itself.
    assert fragment("[last_Via:]|[last_Call-ID:]|[last_i:]", ctx) == (
        "v: SIP/2.0/UDP h;branch=z9hG4bK1|i: abc|i: abc"
    )
    assert fragment("[last_Request_URI]", ctx) == "sip:b@b"
    assert ctx.cseq == 9  # a received request raises [cseq]


def test_absent_keyword_at_line_start_removes_its_line() -> None:
    # SIPp 3.6.1: "[last_Via:]" alone with nothing received leaves no line;
    # "X-L: [last_Via:]trailing" keeps "X-L: trailing"; "[last_Missing:]X-After: 1"
    # keeps "X-After: 1" (only the line end is eaten, not the rest of the line).
    template = compile_(
        "OPTIONS sip:x SIP/2.0\nX-L: [last_Via:]trailing\n[last_Via:]\n[routes]\n"
        "[last_Missing:]X-After: 1\n[$nothing]\n[field3]\nContent-Length: [len]\n\nbody\n"
    )
    ctx = context()
    ctx.run.injection = InjectionRegistry([InjectionFile.parse("SEQUENTIAL\na;b\n", name="u")])
    ctx.injection_lines = {"u": 0}
    assert template.render(ctx) == (
        b"OPTIONS sip:x SIP/2.0\r\nX-L: trailing\r\nX-After: 1\r\n"
        b"Content-Length:     6\r\n\r\nbody\r\n"
    )


def test_absent_last_header_does_not_swallow_the_body() -> None:
    # SIPp 3.6.1 eats *all* whitespace after such a keyword and so merges the body
    # into the headers when it is the last header line; here the message stays valid.
    out = render("OPTIONS sip:x SIP/2.0\nContent-Length: [len]\n[routes]\n\nhello", context())
    assert out == b"OPTIONS sip:x SIP/2.0\r\nContent-Length:     5\r\n\r\nhello"


def test_values_ending_in_a_line_end_do_not_double_it() -> None:
    ctx = context()
    ctx.variables["hdr"] = "X-Var: 1\r\n"
    out = render("OPTIONS sip:x SIP/2.0\n[$hdr]\nX-Next: 2\n\n", ctx)
    assert out == b"OPTIONS sip:x SIP/2.0\r\nX-Var: 1\r\nX-Next: 2\r\n\r\n"


# -- dialog state: cseq, routes, next_url -----------------------------------------------


def test_cseq_counts_requests_but_not_ack_cancel_or_responses() -> None:
    ctx = KeywordContext.for_call(run_context(), call_number=1, call_id="c", base_cseq=10)
    assert ctx.cseq == 9
    sequence = [
        "INVITE sip:x SIP/2.0",
        "ACK sip:x SIP/2.0",
        "CANCEL sip:x SIP/2.0",
        "SIP/2.0 200 OK",
        "BYE sip:x SIP/2.0",
    ]
    seen = []
    for start in sequence:
        template = compile_(start + "\nCSeq: [cseq]\n\n")
        ctx.on_send(template)
        seen.append(template.render(ctx).split(b"CSeq: ")[1].split(b"\r\n")[0])
    assert seen == [b"10", b"10", b"10", b"10", b"11"]


def test_routes_from_a_response_are_reversed_for_the_uac() -> None:
    # SIPp 3.6.1: recv 200 rrs="true" with Record-Route p1, p2 / p3 -> the next
    # request carries "Route: <p3>, <p2>, <p1>" and [next_url] is the Contact URI.
    ctx = context()
    ctx.on_receive(message(TWO_VIAS), TWO_VIAS, rrs=True)
    template = compile_("BYE [next_url] SIP/2.0\n[routes]\nContent-Length: 0\n\n")
    assert template.render(ctx) == (
        b"BYE sip:bob@192.0.2.10:5060;transport=udp SIP/2.0\r\n"
        b"Route: <sip:p3.example.com;lr>, <sip:p2.example.com;lr>, <sip:p1.example.com;lr>\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    # The route set is recorded once (SIPp does not support target refreshes).
    ctx.on_receive(message(TWO_VIAS.replace(b"p1.example", b"pX.example")), rrs=True)
    assert "pX" not in (ctx.route_set or "")


def test_routes_from_a_request_keep_their_order_for_the_uas() -> None:
    invite = (
        b"INVITE sip:s@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK9\r\n"
        b"Record-Route: <sip:p1.example.com;lr>\r\nRecord-Route: <sip:p2.example.com;lr>\r\n"
        b"From: <sip:a@x>;tag=1\r\nTo: <sip:s@y>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n"
        b"Contact: sip:alice@10.0.0.1:5062\r\nContent-Length: 0\r\n\r\n"
    )
    ctx = context()
    ctx.on_receive(message(invite), rrs=True)
    assert ctx.route_set == "<sip:p1.example.com;lr>, <sip:p2.example.com;lr>"
    assert ctx.next_url == "sip:alice@10.0.0.1:5062"
    assert fragment("[routes]", ctx) == "Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>"


def test_strict_router_becomes_the_target() -> None:
    ok = TWO_VIAS.replace(b"<sip:p3.example.com;lr>", b"<sip:strict.example.com>")
    ctx = context()
    ctx.on_receive(message(ok), rrs=True)
    assert ctx.next_url == "sip:strict.example.com"
    assert ctx.route_set == (
        "<sip:p2.example.com;lr>, <sip:p1.example.com;lr>, "
        "<sip:bob@192.0.2.10:5060;transport=udp>;expires=60"
    )


def test_no_record_route_only_sets_next_url() -> None:
    plain = TWO_VIAS.replace(b"Record-Route", b"X-Record-Route")
    ctx = context()
    ctx.on_receive(message(plain), rrs=True)
    assert ctx.route_set is None
    assert ctx.next_url == "sip:bob@192.0.2.10:5060;transport=udp"
    no_contact = context()
    no_contact.on_receive(message(TWO_VIAS.replace(b"Contact", b"X-Contact")), rrs=True)
    assert no_contact.route_set is None and no_contact.next_url is None


# -- [authentication] -------------------------------------------------------------------


def challenge_response(status: int, challenge: str) -> bytes:
    name = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
    reason = "Unauthorized" if status == 401 else "Proxy Authentication Required"
    return (
        f"SIP/2.0 {status} {reason}\r\nVia: SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK1\r\n"
        "From: <sip:alice@example.com>;tag=1\r\nTo: <sip:alice@example.com>;tag=2\r\n"
        f"Call-ID: c\r\nCSeq: 1 REGISTER\r\n{name}: {challenge}\r\nContent-Length: 0\r\n\r\n"
    ).encode()


REGISTER = (
    "REGISTER sip:[remote_ip] SIP/2.0\nCSeq: [cseq] REGISTER\n"
    "[authentication username=alice password=secret]\nContent-Length: 0\n\n"
)


def authorization_of(data: bytes, name: str = "Authorization") -> str:
    value = parse_message(data, strict=False).headers.first(name)
    assert value is not None
    return value


def test_authentication_matches_sipp_and_verifies() -> None:
    # SIPp 3.6.1 answered this challenge twice, with cnonces 6b8b4567 and 327b23c6,
    # uri="sip:127.0.0.1:15070", responses a35faac8... and 30205d1a...
    cnonces = iter(["6b8b4567", "327b23c6"])
    run = run_context(remote_ip="127.0.0.1", remote_port=15070, cnonce_factory=cnonces.__next__)
    ctx = context(run)
    challenge = (
        'Digest realm="example.com", nonce="abc123", qop="auth", opaque="op9", algorithm=MD5'
    )
    ctx.on_receive(message(challenge_response(401, challenge)), auth=True)
    template = compile_(REGISTER)
    ctx.on_send(template)
    first = parse_authorization(authorization_of(template.render(ctx)))
    assert (first.uri, first.cnonce, first.nc, first.qop) == (
        "sip:127.0.0.1:15070",
        "6b8b4567",
        "00000001",
        "auth",
    )
    assert first.response == "a35faac892d6f45559d5b7b959c0748c"
    assert first.opaque == "op9"
    assert verify(first, method="REGISTER", password="secret", username="alice")
    second = parse_authorization(authorization_of(template.render(ctx)))
    assert second.nc == "00000002"
    assert second.response == "30205d1abb59f3a3c56020dea6777958"


def test_proxy_authentication_defaults_and_auth_int() -> None:
    run = run_context(auth_username="bob", auth_password="pw", auth_uri="proxy.example.com")
    ctx = context(run)
    challenge = make_challenge("example.org", qop=("auth", "auth-int"), nonce="n1")
    ctx.on_receive(message(challenge_response(407, challenge)), auth=True)
    template = compile_(
        "INVITE sip:x SIP/2.0\n[authentication]\nContent-Length: [len]\n\nv=0\no=- [call_id]\n"
    )
    out = template.render(ctx)
    credentials = parse_authorization(authorization_of(out, "Proxy-Authorization"))
    assert credentials.qop == "auth-int"  # SIPp prefers auth-int when offered
    assert credentials.uri == "sip:proxy.example.com"  # -auth_uri
    body = parse_message(out, strict=False).body
    assert body == b"v=0\r\no=- 7-4242@192.0.2.1\r\n"
    assert verify(credentials, method="INVITE", password="pw", username="bob", body=body)
    assert not verify(credentials, method="INVITE", password="pw", username="bob", body=b"x")


def test_authentication_parameters_may_hold_keywords() -> None:
    ctx = context()
    ctx.run.injection = InjectionRegistry(
        [InjectionFile.parse("SEQUENTIAL\ncarol;pw3\n", name="u")]
    )
    ctx.injection_lines = {"u": 0}
    ctx.on_receive(message(challenge_response(401, make_challenge("r", nonce="n"))), auth=True)
    template = compile_(
        'REGISTER sip:r SIP/2.0\n[authentication username="[field0]" password="[field1]"]\n\n'
    )
    credentials = parse_authorization(authorization_of(template.render(ctx)))
    assert credentials.username == "carol"
    assert verify(credentials, method="REGISTER", password="pw3")


def test_authentication_injected_through_a_field() -> None:
    # The SIPp manual's idiom: a CSV field holding the whole [authentication ...].
    csv = "SEQUENTIAL\nUser0001;[authentication username=joe password=schmo]\n"
    ctx = context()
    ctx.run.injection = InjectionRegistry([InjectionFile.parse(csv, name="auth.csv")])
    ctx.injection_lines = {"auth.csv": 0}
    ctx.on_receive(message(challenge_response(401, make_challenge("r", nonce="n"))), auth=True)
    out = render("REGISTER sip:[field0]@r SIP/2.0\n[field1]\nContent-Length: 0\n\n", ctx)
    credentials = parse_authorization(authorization_of(out))
    assert credentials.username == "joe"
    assert verify(credentials, method="REGISTER", password="schmo")


def test_authentication_errors() -> None:
    ctx = context()
    with pytest.raises(RenderError, match="without a 401/407"):
        render(REGISTER, ctx)
    with pytest.raises(KeywordError, match="in the headers"):
        compile_("MESSAGE sip:x SIP/2.0\n\n[authentication]\n")
    with pytest.raises(KeywordError, match="one \\[authentication\\]"):
        compile_("MESSAGE sip:x SIP/2.0\n[authentication]\n[authentication]\n\n")
    with pytest.raises(RenderError, match="without Proxy-/WWW-Authenticate"):
        ctx.on_receive(message(challenge_response(401, "x").replace(b"WWW-", b"X-")), auth=True)
    aka = 'Digest realm="r", nonce="bg==", algorithm=AKAv1-MD5'
    ctx.on_receive(message(challenge_response(401, aka)), auth=True)
    with pytest.raises(RenderError, match="no supported Digest challenge"):
        render(REGISTER, ctx)


# -- injection fields --------------------------------------------------------------------


def injection_context(tmp_path: Path, call_number: int = 1, user_id: int = 0) -> KeywordContext:
    users = tmp_path / "users.csv"
    users.write_text("SEQUENTIAL\nalice;pw1\nbob;pw2\n")
    printf = tmp_path / "pf.csv"
    printf.write_text("USERS,PRINTF=5,PRINTFOFFSET=100,PRINTFMULTIPLE=2\nu%03d\nv%d\n")
    registry = InjectionRegistry.load([users, printf], rng=random.Random(3))
    run = run_context(injection=registry)
    return KeywordContext.for_call(run, call_number=call_number, call_id="c", user_id=user_id)


def test_fields_from_the_default_and_named_files(tmp_path: Path) -> None:
    opts = CompileOptions(injection_files=["users.csv", "pf.csv"])
    text = '[field0]:[field1]:[field2] [field0 file=pf.csv] [field0 file="pf.csv" line=4]'
    assert fragment(text, injection_context(tmp_path), options=opts) == "alice:pw1:  u108"
    assert fragment(text, injection_context(tmp_path, call_number=2, user_id=3)) == (
        "bob:pw2: u104 u108"
    )
    # An offset is accepted and ignored, as SIPp does.
    assert fragment("[field1+1]", injection_context(tmp_path)) == "pw1"


def test_field_line_parameter(tmp_path: Path) -> None:
    ctx = injection_context(tmp_path)
    ctx.variables["line"] = 1.0
    # SIPp 3.6.1: line=0, line=1, then past the end -> nothing.
    text = '[field0 line=0]|[field0 line=1]|[field0 line=2]|[field0 line=7]|[field0 line="[$line]"]'
    assert fragment(text, ctx) == "alice|bob|||bob"
    ctx.variables["line"] = "nope"
    with pytest.raises(RenderError, match="invalid line number"):
        fragment('[field0 line="[$line]"]', ctx)


def test_field_compile_checks(tmp_path: Path) -> None:
    with pytest.raises(KeywordError, match=r"scen.xml:10: \[field0\] but no injection file"):
        compile_("[field0]", fragment=True, options=CompileOptions(injection_files=[]))
    with pytest.raises(KeywordError, match=r"unknown injection file 'no\.csv'"):
        compile_(
            "[field0 file=no.csv]", fragment=True, options=CompileOptions(injection_files=["a.csv"])
        )
    with pytest.raises(KeywordError, match="bad injection field"):
        compile_("[fieldx]", fragment=True)
    with pytest.raises(RenderError, match="without an injection file"):
        fragment("[field0]", context())


# -- compile errors and sanity -----------------------------------------------------------


def test_unknown_keyword_has_file_and_line() -> None:
    text = "OPTIONS sip:x SIP/2.0\nVia: [local_ip]\nX-Bad: [foo]\n\n"
    with pytest.raises(KeywordError) as info:
        compile_template(text, filename="flows/reg.xml", line=40)
    assert str(info.value) == "flows/reg.xml:42: unknown keyword [foo]"
    assert (info.value.file, info.value.line) == ("flows/reg.xml", 42)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("OPTIONS sip:x SIP/2.0\n[Service]\n\n", r"unknown keyword \[Service\]"),  # case matters
        ("OPTIONS sip:x SIP/2.0\n[call_id foo]\n\n", r"unknown keyword \[call_id foo\]"),
        ("OPTIONS sip:x SIP/2.0\n[fe80::1zz]\n\n", r"unknown keyword"),
        ("OPTIONS sip:x SIP/2.0\nX: [call_id\n\n", "unterminated keyword"),
        ("OPTIONS sip:x SIP/2.0\n[file]\n\n", "needs name="),
        ("OPTIONS sip:x SIP/2.0\n[fill]\n\n", "needs variable="),
        ("OPTIONS sip:x SIP/2.0\n[$]\n\n", "empty variable name"),
        ("OPTIONS sip:x SIP/2.0\n[last_Via:foo]\n\n", "bad header keyword"),
        ("[service] sip:x SIP/2.0\n\n", "must start with a literal method"),
        ("SIP/2.0 [cseq] OK\n\n", "invalid response code"),
        ("SIP/2.0 99 Low\n\n", "invalid response code"),
        ("SIP/2.0 700 High\n\n", "invalid response code"),
    ],
)
def test_compile_errors(text: str, message: str) -> None:
    with pytest.raises(KeywordError, match=message):
        compile_(text)


def test_compile_once_render_many() -> None:
    template = compile_(UAC_INVITE)
    run = run_context()
    outputs = set()
    for number in range(1, 501):
        ctx = KeywordContext.for_call(run, call_number=number, call_id=f"{number}-4242@h")
        ctx.on_send(template)
        out = template.render(ctx)
        assert out.count(b"\r\n\r\n") == 1
        assert f";tag=4242SIPpTag00{number}\r\n".encode() in out
        outputs.add(out)
    assert len(outputs) == 500


def test_templates_without_special_slots_take_the_fast_path() -> None:
    template = compile_("OPTIONS sip:[service]@[remote_ip] SIP/2.0\nCall-ID: [call_id]\n\n")
    assert template._fast is not None
    assert template.render(context()) == (
        b"OPTIONS sip:service@192.0.2.10 SIP/2.0\r\nCall-ID: 7-4242@192.0.2.1\r\n\r\n"
    )
    assert repr(template) == "<Template scen.xml:10 OPTIONS>"
    # [len] takes the fast path too, with the same finishing pass as the slow one.
    invite = compile_(UAC_INVITE)
    assert invite._fast is not None and invite._fast_lens
    fast = invite.render(context())
    invite._fast = None
    assert invite.render(context()) == fast
    assert b"Content-Length:   " in fast
