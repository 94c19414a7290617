"""pcap analysis on SIPp's shipped captures and on captures synthesized here:
RFC 4733 digits, jitter, TCP reassembly, IPv6, pcapng, and bad input."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import dpkt
import pytest

from sipwright.cli.main import main
from sipwright.evidence.pcap_writer import PacketSynthesizer, PcapWriter
from sipwright.pcapan.calls import summarize_calls
from sipwright.pcapan.capture import CaptureError, read_packets
from sipwright.pcapan.ladder import ladder_html, ladder_text
from sipwright.pcapan.rtp import MediaInfo, analyze_rtp, parse_rtp
from sipwright.pcapan.sip_messages import sip_messages

import peers

SIPP_PCAPS = Path("/usr/share/sip-tester")
DIGITS = {**{str(d): str(d) for d in range(10)}, "pound": "#", "star": "*"}


def sipp_pcap(name: str) -> Path:
    path = SIPP_PCAPS / name
    if not path.is_file():
        pytest.skip(f"{path} not installed (Debian package sip-tester)")
    return path


@pytest.mark.parametrize("name", sorted(DIGITS))
def test_each_sipp_dtmf_capture_holds_its_digit(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = sipp_pcap(f"dtmf_2833_{name}.pcap")
    assert main(["pcap", "rtp", str(path), "--dtmf", "--json"]) == 0
    (stream,) = json.loads(capsys.readouterr().out)
    assert stream["dtmf"] == DIGITS[name]
    assert stream["payload_types"] == {"101": 10}
    # the end of the event is sent three times with one sequence number (§2.5.1.4)
    assert (stream["packets"], stream["duplicates"], stream["lost"]) == (10, 2, 0)
    assert main(["pcap", "rtp", str(path), "--dtmf"]) == 0
    assert f"dtmf {DIGITS[name]}  280 ms" in capsys.readouterr().out


def test_sipp_g711a_stream_matches_tshark(capsys: pytest.CaptureFixture[str]) -> None:
    path = sipp_pcap("g711a.pcap")
    assert main(["pcap", "rtp", str(path), "--json"]) == 0
    (stream,) = json.loads(capsys.readouterr().out)
    assert stream["ssrc"] == "0xdee0ee8f"
    assert stream["payload_types"] == {"8": 236}
    assert (stream["packets"], stream["lost"]) == (236, 0)
    # tshark -z rtp,streams on this file: max jitter 0.829 ms
    assert stream["max_jitter_ms"] == pytest.approx(0.829, abs=0.001)


def test_rtp_sequence_loss_and_wrap(tmp_path: Path) -> None:
    synth = PacketSynthesizer()
    path = tmp_path / "rtp.pcap"
    with path.open("wb") as handle:
        writer = dpkt.pcap.Writer(handle, linktype=dpkt.pcap.DLT_EN10MB)
        for index, sequence in enumerate(range(65530, 65550)):
            if index in (3, 4, 12):
                continue  # lost
            header = bytes([0x80, 0]) + (sequence & 0xFFFF).to_bytes(2, "big")
            rtp = header + (index * 160).to_bytes(4, "big") + b"\x00\x00\x00\x07" + b"\xff" * 160
            (frame,) = synth.udp(("10.0.0.1", 4000), ("10.0.0.2", 5000), rtp)
            writer.writepkt(frame, ts=1000.0 + index * 0.02)
    assert parse_rtp(b"\x80\x00") is None
    (stream,) = analyze_rtp(read_packets(path), MediaInfo())
    # sequence numbers wrap at 65535 (RFC 3550 A.1): 20 expected, 3 lost
    assert (stream.packets, stream.expected, stream.lost) == (17, 20, 3)
    assert stream.jitter_ms == pytest.approx(0.0, abs=1e-6)  # perfectly paced


INVITE = (
    "INVITE sip:bob@[2001:db8::2] SIP/2.0\r\n"
    "Via: SIP/2.0/TCP [2001:db8::1]:5060;branch=z9hG4bK1\r\n"
    "Max-Forwards: 70\r\nFrom: <sip:alice@[2001:db8::1]>;tag=a\r\n"
    "To: <sip:bob@[2001:db8::2]>\r\nCall-ID: tcp-call\r\nCSeq: 1 INVITE\r\n"
    "Contact: <sip:alice@[2001:db8::1]>\r\nContent-Type: application/sdp\r\n"
    "Content-Length: {length}\r\n\r\n{body}"
)


def _response(status: str, method: str = "INVITE", cseq: int = 1) -> bytes:
    return (
        f"SIP/2.0 {status}\r\nVia: SIP/2.0/TCP [2001:db8::1]:5060;branch=z9hG4bK1\r\n"
        "From: <sip:alice@[2001:db8::1]>;tag=a\r\nTo: <sip:bob@[2001:db8::2]>;tag=b\r\n"
        f"Call-ID: tcp-call\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def _request(method: str, cseq: int) -> bytes:
    return (
        f"{method} sip:bob@[2001:db8::2] SIP/2.0\r\n"
        f"Via: SIP/2.0/TCP [2001:db8::1]:5060;branch=z9hG4bK{cseq}{method}\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:alice@[2001:db8::1]>;tag=a\r\n"
        f"To: <sip:bob@[2001:db8::2]>;tag=b\r\nCall-ID: tcp-call\r\nCSeq: {cseq} {method}\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def test_tcp_over_ipv6_is_reassembled_out_of_order_with_retransmissions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = "v=0\r\n" + "a=x-filler:" + "z" * 4000 + "\r\n"
    invite = INVITE.format(length=len(body), body=body).encode()
    alice, bob = ("2001:db8::1", 5060), ("2001:db8::2", 5060)
    synth = PacketSynthesizer()
    handshake_and_invite = synth.tcp(alice, bob, invite)
    assert len(handshake_and_invite) == 3 + 3  # SYN, SYN-ACK, ACK, 3 data segments
    data = handshake_and_invite[3:]
    rng = random.Random(4)
    shuffled = [*data, data[1]]  # a retransmission
    rng.shuffle(shuffled)
    frames = handshake_and_invite[:3] + shuffled
    # 180 and 200 back-to-back in one segment, then ACK and BYE 2 s later
    frames += synth.tcp(bob, alice, _response("180 Ringing") + _response("200 OK"))
    later = synth.tcp(alice, bob, _request("ACK", 1) + b"\r\n\r\n" + _request("BYE", 2))
    later += synth.tcp(bob, alice, _response("200 OK", "BYE", 2))
    path = tmp_path / "tcp6.pcap"
    with path.open("wb") as handle:
        writer = dpkt.pcap.Writer(handle, linktype=dpkt.pcap.DLT_EN10MB)
        for number, frame in enumerate(frames):
            writer.writepkt(frame, ts=100.0 + number * 0.01)
        for number, frame in enumerate(later):
            writer.writepkt(frame, ts=102.5 + number * 0.01)
    messages = sip_messages(read_packets(path))
    assert [m.label for m in messages] == [
        "INVITE",
        "180 Ringing (INVITE)",
        "200 OK (INVITE)",
        "ACK",
        "BYE",
        "200 OK (BYE)",
    ]
    assert messages[0].raw == invite
    assert messages[0].source == alice
    (call,) = summarize_calls(messages)
    assert (call.final_status, call.method, call.transports) == (200, "INVITE", ("tcp",))
    # the INVITE is complete with the last of its segments (frames 3-6, 100.03-100.06 s)
    assert 100.05 <= messages[0].time <= 100.06
    assert messages[1].time == messages[2].time == pytest.approx(100.07)
    assert call.pdd == pytest.approx(messages[1].time - messages[0].time)
    assert call.duration == pytest.approx(102.5 - 100.07)  # 200 OK to BYE
    assert main(["pcap", "calls", str(path), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["from"] == "sip:alice@[2001:db8::1]"
    assert row["to"] == "sip:bob@[2001:db8::2]"
    text = ladder_text(messages)
    assert "[2001:db8::1]:5060" in text.splitlines()[0]
    assert text.splitlines()[1:4] == [
        "    0.000  |---------- INVITE ---------->|",
        "    0.020  |<------- 180 Ringing --------|",
        "    0.020  |<--------- 200 OK -----------|",
    ]
    page = ladder_html(messages)
    assert page.count('onclick="toggle(') == 6
    assert "a=x-filler:zzzz" in page


@pytest.mark.peers
def test_pcapng_from_tshark_is_read_like_pcap(tmp_path: Path) -> None:
    editcap = peers.require("editcap")
    source = tmp_path / "ev.pcap"
    writer = PcapWriter(source)
    writer.write_payload("udp", ("127.0.0.1", 5070), ("127.0.0.1", 5060), _request("OPTIONS", 1))
    writer.write_payload("tcp", ("::1", 5070), ("::1", 5060), _request("MESSAGE", 2))
    writer.close()
    converted = tmp_path / "ev.pcapng"
    subprocess.run([editcap, "-F", "pcapng", str(source), str(converted)], check=True, timeout=60)
    assert converted.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"
    classic = [(m.label, m.source, m.raw) for m in sip_messages(read_packets(source))]
    modern = [(m.label, m.source, m.raw) for m in sip_messages(read_packets(converted))]
    assert classic == modern
    assert [label for label, _, _ in modern] == ["OPTIONS", "MESSAGE"]


# --------------------------------------------------------------------- bad input


def _write_linktype(path: Path, linktype: int) -> None:
    with path.open("wb") as handle:
        writer = dpkt.pcap.Writer(handle, linktype=linktype)
        writer.writepkt(b"\x00" * 40, ts=1.0)


@pytest.mark.parametrize(
    ("make", "message", "code"),
    [
        (lambda p: p.write_bytes(b"hello world, not a capture"), "not a pcap or pcapng", 2),
        (lambda p: p.write_bytes(b"\xd4\xc3\xb2\xa1\x02\x00"), "truncated pcap file header", 2),
        (lambda p: _write_linktype(p, 147), "unsupported link type 147", 2),
        (lambda p: p.write_bytes(b"\x0a\x0d\x0d\x0a\x1c\x00\x00"), "malformed pcapng", 2),
    ],
)
def test_bad_files_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: object, message: str, code: int
) -> None:
    path = tmp_path / "bad.pcap"
    make(path)  # type: ignore[operator]
    for action in ("calls", "flow", "rtp"):
        assert main(["pcap", action, str(path)]) == code
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err and str(path) in err, err


def test_truncated_capture_names_the_packet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = sipp_pcap("g711a.pcap")
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(CaptureError, match=r"cut.pcap: truncated at packet 17"):
        read_packets(cut)
    assert main(["pcap", "rtp", str(cut)]) == 2
    assert "truncated at packet 17" in capsys.readouterr().err


def test_captures_without_sip_or_rtp_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    path = sipp_pcap("g711a.pcap")
    assert main(["pcap", "calls", str(path)]) == 1
    assert "no SIP messages in the capture" in capsys.readouterr().err
    assert main(["pcap", "flow", str(path), "--call-id", "x"]) == 1
    assert "no call with Call-ID x" in capsys.readouterr().err
