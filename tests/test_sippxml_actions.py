"""Scenario actions run by the sans-I/O call (no sockets): string and time actions,
<sample>, <verifyauth>, and the work handed to the engine (exec, setdest, RTP)."""

from __future__ import annotations

import random
import time
from datetime import datetime

from sipwright.report.sipp_stats import Snapshot
from sipwright.scenario.sippxml.call import ScenarioCall
from sipwright.scenario.sippxml.call_context import KeywordContext, RunContext
from sipwright.scenario.sippxml.parser import parse_scenario_text
from sipwright.scenario.sippxml.program import Program, RunSettings
from sipwright.sip.digest import DigestClient, parse_challenge
from sipwright.sip.digest_server import make_challenge
from sipwright.sip.message import Request, parse_message

_OPTIONS = """OPTIONS sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:a@[local_ip]>;tag=1
To: <sip:b@[remote_ip]>
Call-ID: [call_id]
CSeq: 1 OPTIONS
Content-Length: 0
"""


def _call(actions: str, *, first: str = "send", used: str = "") -> ScenarioCall:
    if first == "send":
        head = f"<send><![CDATA[\n{_OPTIONS}\n]]></send>\n"
    else:
        head = '<recv request="REGISTER"/>\n'
    text = (
        '<?xml version="1.0"?>\n<scenario name="actions">\n'
        + head
        + f"<nop><action>\n{actions}\n</action></nop>\n"
        + '<pause milliseconds="1000"/>\n'
        + (f'<Reference variables="{used}"/>\n' if used else "")
        + "</scenario>\n"
    )
    scenario = parse_scenario_text(text, "actions.xml")
    program = Program.build(scenario, RunSettings())
    run = RunContext(
        service="svc",
        remote_ip="127.0.0.1",
        remote_port=5060,
        local_ip="127.0.0.1",
        local_port=5070,
        transport="UDP",
    )
    context = KeywordContext.for_call(run, call_number=7, call_id="7-1@h", base_cseq=1)
    stats = Snapshot(start_wall=datetime.now(), start_mono=0.0)
    return ScenarioCall(program, context, stats, rng=random.Random(3))


def test_string_time_and_index_actions() -> None:
    call = _call(
        '<assignstr assign_to="s" value="  call [call_number] of [call_id]  "/>\n'
        '<trim assign_to="s"/>\n'
        '<assignstr assign_to="u" value="a b/c&amp;d"/>\n'
        '<urlencode variable="u"/>\n'
        '<assignstr assign_to="v" value="x%20y%2Fz"/>\n'
        '<urldecode variable="v"/>\n'
        '<gettimeofday assign_to="sec,usec"/>\n'
        '<index assign_to="here"/>\n'
        '<sample assign_to="d" distribution="fixed" value="250"/>',
        used="s,u,v,sec,usec,here,d",
    )
    before = time.time()
    call.start(0.0)
    variables = call.context.variables
    assert variables["s"] == "call 7 of 7-1@h"
    assert variables["u"] == "a%20b%2Fc%26d"
    assert variables["v"] == "x y/z"
    seconds = variables["sec"]
    assert isinstance(seconds, float) and before - 1 <= seconds <= time.time()
    usec = variables["usec"]
    assert isinstance(usec, float) and 0 <= usec < 1_000_000
    assert variables["here"] == 1.0  # the <nop> is command 1
    assert variables["d"] == 250.0


def test_exec_setdest_and_rtp_work_go_to_the_engine() -> None:
    call = _call(
        '<exec command="echo [call_id] &gt; /dev/null"/>\n'
        '<setdest host="127.0.0.2" port="5080" protocol="udp"/>\n'
        '<exec play_pcap_audio="/usr/share/sip-tester/g711a.pcap"/>\n'
        '<exec rtp_echo="startaudio,0,PCMU/8000"/>'
    )
    call.start(0.0)
    assert call.media_requests == [
        ("exec", "echo 7-1@h > /dev/null"),
        ("setdest", "udp 127.0.0.2 5080"),
        ("play", "/usr/share/sip-tester/g711a.pcap"),
        ("echo", "on"),
    ]


def _register(authorization: str | None) -> bytes:
    lines = [
        "REGISTER sip:127.0.0.1 SIP/2.0",
        "Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK1",
        "From: <sip:alice@127.0.0.1>;tag=9",
        "To: <sip:alice@127.0.0.1>",
        "Call-ID: reg-1",
        "CSeq: 2 REGISTER",
        "Content-Length: 0",
    ]
    if authorization:
        lines.insert(5, f"Authorization: {authorization}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _credentials(password: str) -> str:
    challenge = parse_challenge(make_challenge("test", nonce="n0nce"))
    return DigestClient().authorize(
        challenge, method="REGISTER", uri="sip:127.0.0.1", username="alice", password=password
    )


def test_verifyauth_checks_the_password() -> None:
    action = '<verifyauth assign_to="ok" username="alice" password="secret"/>'
    for authorization, expected in (
        (_credentials("secret"), True),
        (_credentials("wrong"), False),
        (None, False),
    ):
        call = _call(action, first="recv", used="ok")
        raw = _register(authorization)
        message = parse_message(raw)
        assert isinstance(message, Request)
        call.receive(message, raw, 0.0)
        assert call.context.variables["ok"] is expected, authorization
