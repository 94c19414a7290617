"""--hep: HEPv3 copies of every message, received by a loopback listener."""

from __future__ import annotations

import socket
import subprocess
import threading
from pathlib import Path

import pytest

from sipwright.cli.main import main
from sipwright.evidence.hep import HepError, HepPacket, decode_hep, encode_hep
from sipwright.evidence.pcap_writer import PcapWriter
from sipwright.sip.message import parse_message

import peers
from sipresponder import SipResponder


def test_encode_decode_round_trip_ipv4_and_ipv6() -> None:
    for source, destination in (
        (("127.0.0.1", 5070), ("10.0.0.1", 5060)),
        (("::1", 5070), ("2001:db8::1", 5060)),
    ):
        packet = HepPacket(
            source=source,
            destination=destination,
            timestamp=1700000000.25,
            payload=b"OPTIONS sip:x SIP/2.0\r\n\r\n",
            ip_protocol=6,
            agent_id=2001,
            password="myHep",
            correlation_id="abc@host",
        )
        data = encode_hep(packet)
        assert data[:4] == b"HEP3"
        assert int.from_bytes(data[4:6], "big") == len(data)
        assert decode_hep(data) == packet


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"HEP2\x00\x06", "magic"),
        (b"HEP3\x00\x10", "length"),
        (b"HEP3\x00\x0a\x00\x00\x00\x01", "truncated"),
        (b"HEP3\x00\x0c\x00\x00\x00\x01\x00\x02", "bad length"),
        (b"HEP3\x00\x0d\x00\x00\x00\x01\x00\x07\x02", "missing"),
    ],
)
def test_decode_rejects_malformed_packets(data: bytes, message: str) -> None:
    with pytest.raises(HepError, match=message):
        decode_hep(data)


class HepListener:
    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.settimeout(0.1)
        self.port: int = self.socket.getsockname()[1]
        self.datagrams: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.datagrams.append(self.socket.recv(65535))
            except TimeoutError:
                continue

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.socket.close()


def test_options_with_hep_mirrors_both_messages(tmp_path: Path) -> None:
    listener = HepListener()
    try:
        with SipResponder() as responder:
            argv = ["options", responder.uri, "--hep", f"127.0.0.1:{listener.port}"]
            argv += ["--hep-id", "77", "--hep-password", "secret"]
            assert main(argv) == 0
        # sendto on loopback is synchronous: the datagrams are queued already
        waiting = threading.Event()
        for _ in range(20):
            if len(listener.datagrams) >= 2:
                break
            waiting.wait(0.05)
    finally:
        listener.close()
    packets = [decode_hep(d) for d in listener.datagrams]
    # the OPTIONS (retransmitted if the responder was slow, Timer E) and its 200
    sent = [p for p in packets if not p.payload.startswith(b"SIP/2.0 ")]
    received = [p for p in packets if p.payload.startswith(b"SIP/2.0 ")]
    assert sent and received
    request, response = parse_message(sent[0].payload), parse_message(received[0].payload)
    assert sent[0].destination == ("127.0.0.1", responder.port)
    assert received[0].source == ("127.0.0.1", responder.port)
    assert sent[0].source == received[0].destination
    assert all(p.agent_id == 77 and p.password == "secret" for p in packets)
    assert sent[0].correlation_id == request.call_id == response.call_id


@pytest.mark.peers
def test_tshark_hep_dissector_decodes_our_packets(tmp_path: Path) -> None:
    """tshark's HEP dissector decodes them (carried in a synthesized UDP capture)."""
    options = (
        b"OPTIONS sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n"
        b"Max-Forwards: 70\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\n"
        b"Call-ID: hep\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    datagrams = [
        encode_hep(HepPacket(("127.0.0.1", 5070), ("127.0.0.1", 5060), 1.5, options, agent_id=77))
    ] * 2
    tshark = peers.require("tshark")
    protocols = subprocess.run(
        [tshark, "-G", "protocols"], capture_output=True, text=True, check=False, timeout=60
    ).stdout
    if "\thep\n" not in protocols and not protocols.rstrip().endswith("\thep"):
        pytest.skip("this tshark has no HEP dissector (Wireshark >= 4.2 has one)")
    pcap = tmp_path / "hep.pcap"
    writer = PcapWriter(pcap)
    for datagram in datagrams:
        writer.write_payload("udp", ("127.0.0.1", 40000), ("127.0.0.1", 9060), datagram)
    writer.close()
    decode_as = ["udp.port==9060,hep"]
    assert peers.tshark_expert_errors(pcap, decode_as=decode_as) == []
    fields = peers.tshark_read(pcap, "hep.capture_id", "sip.CSeq.method", decode_as=decode_as)
    assert fields.split() == ["77", "OPTIONS", "77", "OPTIONS"]


def test_bad_hep_address_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["options", "sip:127.0.0.1", "--hep", "nowhere"])
    assert exit_info.value.code == 2
    assert "--hep wants HOST:PORT" in capsys.readouterr().err
