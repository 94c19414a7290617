"""pcap analysis on captures of real calls made in the test with tshark on lo:
SIPp -> Kamailio (record-routing proxy, registrar) -> sipwright answer over UDP,
and SIPp -> sipwright answer over TCP into a pcapng file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from sipwright.cli.main import main
from sipwright.pcapan.capture import read_packets
from sipwright.pcapan.sip_messages import sip_messages

import peers
from peers import KamailioServer

pytestmark = pytest.mark.peers


def start_answer(tmp_path: Path, port: int, *extra: str) -> peers.Peer:
    argv = [sys.executable, "-m", "sipwright", "answer"]
    argv += ["--listen", f"{extra[0] if extra else 'udp'}:127.0.0.1:{port}", "--ring", "0.2"]
    argv += list(extra[1:])
    peer = peers.Peer("answer", argv, tmp_path / "answer.log")
    try:
        peer.wait_for_log("listening on", 15)
    except BaseException:
        peer.stop()
        raise
    return peer


def test_call_through_kamailio_captured_with_tshark(
    tmp_path: Path, kamailio_server: KamailioServer, capsys: pytest.CaptureFixture[str]
) -> None:
    answer_port = peers.free_sip_port()
    sipp_port = peers.free_sip_port()
    kamailio_port = kamailio_server.udp_port
    capture = peers.tshark_capture(
        tmp_path / "call.pcap", ports=[kamailio_port, answer_port, sipp_port]
    )
    answer = start_answer(
        tmp_path, answer_port, "udp", "--register", kamailio_server.uri(),
        "--user", "bob", "--password", "secret",
    )  # fmt: skip
    try:
        answer.wait_for_log("registered", 10)
        scenario = peers.write_proxy_uac_scenario(tmp_path / "uac.xml")
        uac = peers.sipp_uac(
            f"127.0.0.1:{kamailio_port}", tmp_path=tmp_path, scenario=scenario,
            service="bob", local_port=sipp_port,
        )  # fmt: skip
        with uac:
            assert uac.wait_exit(20) == 0, uac.log_tail() + answer.log_tail()
    finally:
        answer.stop()
        pcap = capture.stop()
    ours = sip_messages(read_packets(pcap))
    assert len(ours) == len(peers.pcap_sip_summary(pcap))  # tshark finds the same messages

    assert main(["pcap", "calls", str(pcap), "--json"]) == 0
    calls = json.loads(capsys.readouterr().out)
    invites = [c for c in calls if c["method"] == "INVITE"]
    registers = [c for c in calls if c["method"] == "REGISTER"]
    assert len(invites) == 1 and registers
    invite = invites[0]
    assert invite["final_status"] == 200
    assert invite["from"] == "sip:alice@127.0.0.1:" + str(kamailio_port)
    assert invite["to"] == f"sip:bob@127.0.0.1:{kamailio_port}"
    assert invite["pdd_s"] is not None and invite["pdd_s"] > 0
    assert invite["duration_s"] is not None and invite["duration_s"] > 0
    assert registers[0]["final_status"] == 200  # after the 401 challenge

    html = tmp_path / "flow.html"
    argv = ["pcap", "flow", str(pcap), "--call-id", invite["call_id"], "--html", str(html)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    header, *rows = text.splitlines()
    # three parties: SIPp, Kamailio, sipwright answer
    assert header.split() == [
        f"127.0.0.1:{sipp_port}",
        f"127.0.0.1:{kamailio_port}",
        f"127.0.0.1:{answer_port}",
    ]
    labels = [row.split("|", 1)[1].strip("|<>- ") for row in rows]
    for expected in ("INVITE", "180 Ringing", "200 OK", "ACK", "BYE"):
        assert any(label.startswith(expected) for label in labels), labels
    page = html.read_text()
    assert page.count('onclick="toggle(') == len(rows)
    assert f"Call-ID: {invite['call_id']}" in page


def test_tcp_call_captured_as_pcapng(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    answer_port = peers.free_sip_port()
    capture = peers.tshark_capture(tmp_path / "tcp.pcapng", ports=[answer_port])
    answer = start_answer(tmp_path, answer_port, "tcp")
    try:
        uac = peers.sipp_uac(
            f"127.0.0.1:{answer_port}", tmp_path=tmp_path, transport="t1", calls=2, rate=10
        )
        with uac:
            assert uac.wait_exit(20) == 0, uac.log_tail() + answer.log_tail()
    finally:
        answer.stop()
        pcap = capture.stop()
    assert pcap.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"
    ours = sip_messages(read_packets(pcap))
    assert {m.transport for m in ours} == {"tcp"}
    assert len(ours) == len(peers.pcap_sip_summary(pcap))
    assert main(["pcap", "calls", str(pcap)]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert len(rows) == 2
    assert all(" INVITE " in row and " 200 OK " in row for row in rows)
