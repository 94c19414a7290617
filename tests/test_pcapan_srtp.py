"""pcap decrypt: an SRTP call made here with known SDES keys (pylibsrtp + our pcap
writer), decrypted back from the a=crypto lines of its own SIP and compared."""

from __future__ import annotations

import base64
import struct
import wave
from pathlib import Path

import pylibsrtp
import pytest

from sipwright.cli.main import main
from sipwright.evidence.pcap_writer import PcapWriter
from sipwright.pcapan.capture import read_packets
from sipwright.pcapan.rtp import parse_rtp
from sipwright.pcapan.srtp import SrtpKeyError, parse_crypto, parse_inline_key
from sipwright.pcapan.wav import ALAW, ULAW

import peers

ALICE_KEY = bytes(range(30))
BOB_KEY = bytes(range(100, 130))
ALICE_RTP = ("127.0.0.1", 40000)
BOB_RTP = ("127.0.0.1", 40002)
ALICE_SIP = ("127.0.0.1", 5070)
BOB_SIP = ("127.0.0.1", 5080)


def inline(key: bytes) -> str:
    return base64.b64encode(key).decode()


def sdp(port: int, key: bytes) -> str:
    return (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {port} RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
        f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{inline(key)}|2^20|1:32\r\n"
    )


def sip(first: str, cseq: str, body: str = "") -> bytes:
    content = "Content-Type: application/sdp\r\n" if body else ""
    return (
        f"{first}\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKsrtp\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=a\r\nTo: <sip:bob@127.0.0.1>"
        f"{';tag=b' if first.startswith('SIP') or cseq.endswith('ACK') else ''}\r\n"
        f"Call-ID: srtp-call\r\nCSeq: {cseq}\r\nContact: <sip:x@127.0.0.1>\r\n{content}"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    ).encode()


def rtp(sequence: int, ssrc: int, payload: bytes) -> bytes:
    return (
        bytes([0x80, 0])
        + sequence.to_bytes(2, "big")
        + (sequence * 160).to_bytes(4, "big")
        + ssrc.to_bytes(4, "big")
        + payload
    )


def payload(side: int, number: int) -> bytes:
    return bytes((side * 31 + number + i) % 256 for i in range(160))


def make_call(path: Path) -> dict[tuple[int, int], bytes]:
    """INVITE/200/ACK with a=crypto, 50 SRTP packets each way; the plain RTP sent."""
    sent: dict[tuple[int, int], bytes] = {}
    writer = PcapWriter(path)
    clock = 1000.0
    invite = sip("INVITE sip:bob@127.0.0.1 SIP/2.0", "1 INVITE", sdp(ALICE_RTP[1], ALICE_KEY))
    ok = sip("SIP/2.0 200 OK", "1 INVITE", sdp(BOB_RTP[1], BOB_KEY))
    ack = sip("ACK sip:bob@127.0.0.1 SIP/2.0", "1 ACK")
    writer.write_payload("udp", ALICE_SIP, BOB_SIP, invite, clock)
    writer.write_payload("udp", BOB_SIP, ALICE_SIP, ok, clock + 0.1)
    writer.write_payload("udp", ALICE_SIP, BOB_SIP, ack, clock + 0.11)
    senders = []
    for key in (ALICE_KEY, BOB_KEY):
        policy = pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
        senders.append(pylibsrtp.Session(policy=policy))
    for number in range(50):
        clock += 0.02
        for side, (source, destination) in enumerate(((ALICE_RTP, BOB_RTP), (BOB_RTP, ALICE_RTP))):
            plain = rtp(number, 0x1000 + side, payload(side, number))
            sent[(side, number)] = plain
            writer.write_payload("udp", source, destination, senders[side].protect(plain), clock)
    writer.close()
    return sent


def test_keys_parse_from_crypto_attributes() -> None:
    key = parse_crypto(f"1 AES_CM_128_HMAC_SHA1_80 inline:{inline(ALICE_KEY)}|2^20|1:32")
    assert key is not None and key.key == ALICE_KEY
    assert parse_crypto("1 F8_128_HMAC_SHA1_80 inline:AAAA") is None
    with pytest.raises(SrtpKeyError, match="not base64"):
        parse_inline_key("inline:@@@@")
    with pytest.raises(SrtpKeyError, match="wants 30 octets"):
        parse_inline_key(inline(b"short"))


def test_decrypt_with_keys_from_the_sdp_gives_back_the_rtp(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = tmp_path / "srtp.pcap"
    sent = make_call(capture)
    encrypted = [p for p in read_packets(capture) if p.source in (ALICE_RTP, BOB_RTP)]
    assert all(p.payload[12:172] != sent[(0, 0)][12:] for p in encrypted)
    out = tmp_path / "plain.pcap"
    assert main(["pcap", "decrypt", str(capture), "--from-sdp", "--out", str(out)]) == 0
    report = capsys.readouterr().out
    assert "127.0.0.1:40000 ssrc 0x00001000: AES_CM_128_HMAC_SHA1_80, 50 packets decrypted" in (
        report
    )
    assert "127.0.0.1:40002 ssrc 0x00001001: AES_CM_128_HMAC_SHA1_80, 50 packets decrypted" in (
        report
    )
    plain = [p for p in read_packets(out) if p.source in (ALICE_RTP, BOB_RTP)]
    assert len(plain) == 100
    for packet in plain:
        header = parse_rtp(packet.payload)
        assert header is not None
        side = 0 if packet.source == ALICE_RTP else 1
        assert packet.payload == sent[(side, header.sequence)]
    # the SIP is in the output too, and the RTP analysis reads the decrypted file
    assert main(["pcap", "calls", str(out), "--json"]) == 0
    assert '"final_status": 200' in capsys.readouterr().out
    assert main(["pcap", "rtp", str(out)]) == 0
    assert "0x00001000    0       50      0" in capsys.readouterr().out


def test_decrypt_with_one_given_key_fails_for_the_other_stream(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = tmp_path / "srtp.pcap"
    make_call(capture)
    code = main(["pcap", "decrypt", str(capture), "--key", f"inline:{inline(ALICE_KEY)}"])
    assert code == 1
    captured = capsys.readouterr()
    assert "127.0.0.1:40000 ssrc 0x00001000: AES_CM_128_HMAC_SHA1_80, 50 packets" in captured.out
    assert captured.err == (
        f"sipwright pcap decrypt: {capture}: wrong key: no packet of 127.0.0.1:40002 "
        "(ssrc 0x00001001) authenticates\n"
    )


@pytest.mark.parametrize(
    ("key", "message"),
    [("@@@@", "--key: key is not base64"), (inline(b"x" * 16), "--key: AES_CM_128_HMAC")],
)
def test_malformed_key_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str, message: str
) -> None:
    capture = tmp_path / "srtp.pcap"
    make_call(capture)
    assert main(["pcap", "decrypt", str(capture), "--key", key]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


@pytest.mark.peers
def test_decrypted_capture_is_clean_for_tshark(tmp_path: Path) -> None:
    capture = tmp_path / "srtp.pcap"
    make_call(capture)
    out = tmp_path / "plain.pcap"
    assert main(["pcap", "decrypt", str(capture), "--from-sdp", "--out", str(out)]) == 0
    decode_as = ["udp.port==40000,rtp", "udp.port==40002,rtp"]
    assert peers.tshark_expert_errors(out, decode_as=decode_as) == []
    fields = peers.tshark_read(out, "rtp.seq", display_filter="rtp", decode_as=decode_as)
    assert len(fields.split()) == 100


def test_g711_tables_match_the_itu_reference_points() -> None:
    # G.711 tables 1a/2a: µ-law 0xFF/0x7F are zero, 0x00/0x80 the extremes; A-law
    # 0xD5/0x55 are the smallest steps (+8/-8), 0xAA/0x2A the extremes.
    assert (ULAW[0xFF], ULAW[0x7F], ULAW[0x00], ULAW[0x80]) == (0, 0, -32124, 32124)
    assert (ALAW[0xD5], ALAW[0x55], ALAW[0xAA], ALAW[0x2A]) == (8, -8, 32256, -32256)


def test_decrypt_writes_wav_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capture = tmp_path / "srtp.pcap"
    make_call(capture)
    prefix = tmp_path / "call"
    assert main(["pcap", "decrypt", str(capture), "--from-sdp", "--wav", str(prefix)]) == 0
    assert "wrote 8000 samples (1.00 s)" in capsys.readouterr().out
    with wave.open(str(tmp_path / "call-00001000.wav"), "rb") as alice:
        assert (alice.getframerate(), alice.getsampwidth(), alice.getnframes()) == (8000, 2, 8000)
        first = struct.unpack("<160h", alice.readframes(160))
    assert list(first) == [ULAW[octet] for octet in payload(0, 0)]
