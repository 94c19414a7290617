"""--pcap: the capture sipwright writes of its own messages (synthesized headers)."""

from __future__ import annotations

from pathlib import Path

import dpkt
import pytest

from sipwright.cli.main import main
from sipwright.evidence.pcap_writer import PacketSynthesizer, PcapWriter
from sipwright.net.endpoint import MessageLog

import peers
from sipresponder import SipResponder

OPTIONS = (
    b"OPTIONS sip:127.0.0.1:5060 SIP/2.0\r\n"
    b"Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKabc\r\n"
    b"Max-Forwards: 70\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\n"
    b"Call-ID: pcap-test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
)


def _frames(path: Path) -> list[tuple[float, bytes]]:
    with path.open("rb") as handle:
        return [(ts, bytes(buf)) for ts, buf in dpkt.pcap.Reader(handle)]


def test_udp_frame_has_ip_and_udp_headers_with_the_payload() -> None:
    (frame,) = PacketSynthesizer().udp(("127.0.0.1", 5070), ("127.0.0.1", 5060), OPTIONS)
    ip = dpkt.ethernet.Ethernet(frame).data
    assert isinstance(ip, dpkt.ip.IP)
    assert ip.len == len(ip)
    assert (ip.data.sport, ip.data.dport) == (5070, 5060)
    assert ip.data.data == OPTIONS


def test_tcp_connection_starts_with_a_handshake_and_sequence_numbers_continue() -> None:
    synth = PacketSynthesizer()
    a, b = ("::1", 5070), ("::1", 5060)
    first = synth.tcp(a, b, OPTIONS)
    second = synth.tcp(b, a, b"x" * 3000)
    segments = [dpkt.ethernet.Ethernet(f).data.data for f in first + second]
    assert [s.flags & (dpkt.tcp.TH_SYN | dpkt.tcp.TH_ACK) for s in segments[:3]] == [
        dpkt.tcp.TH_SYN,
        dpkt.tcp.TH_SYN | dpkt.tcp.TH_ACK,
        dpkt.tcp.TH_ACK,
    ]
    assert segments[3].data == OPTIONS
    # b's data starts where its SYN left off and spans three MSS-sized segments
    assert [len(s.data) for s in segments[4:]] == [1460, 1460, 80]
    assert segments[5].seq == segments[4].seq + 1460
    assert segments[4].ack == segments[3].seq + len(OPTIONS)


def test_writer_orients_sent_and_received(tmp_path: Path) -> None:
    path = tmp_path / "out.pcap"
    writer = PcapWriter(path)
    local, remote = ("127.0.0.1", 5070), ("127.0.0.1", 5060)
    writer(MessageLog(0.0, "sent", "udp", local, remote, OPTIONS))
    writer(MessageLog(0.0, "received", "udp", local, remote, b"SIP/2.0 200 OK\r\n\r\n"))
    writer.close()
    udps = [dpkt.ethernet.Ethernet(buf).data.data for _, buf in _frames(path)]
    assert [(u.sport, u.dport) for u in udps] == [(5070, 5060), (5060, 5070)]


@pytest.mark.peers
@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_options_pcap_decodes_cleanly_in_tshark(
    tmp_path: Path, transport: peers.Transport, kamailio_server: peers.KamailioServer
) -> None:
    pcap = tmp_path / "options.pcap"
    uri = kamailio_server.uri(None, transport)
    assert main(["options", uri, "--count", "2", "--interval", "0", "--pcap", str(pcap)]) == 0
    assert peers.tshark_expert_errors(pcap) == []
    summary = peers.pcap_sip_summary(pcap)
    # two pings and their answers (more copies only if a request was retransmitted)
    assert summary[:2] == [("OPTIONS", ""), ("", "200")] or summary[0] == summary[1]
    assert summary.count(("OPTIONS", "")) >= 2
    assert summary.count(("", "200")) >= 2
    assert set(summary) == {("OPTIONS", ""), ("", "200")}


def test_pcap_to_an_unwritable_path_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with SipResponder() as responder:
        code = main(["options", responder.uri, "--pcap", str(tmp_path / "no" / "such.pcap")])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "such.pcap" in err
