"""Media against real programs on loopback: SIPp's pcap player, tshark's RTP analysis,
and the ``sipwright call``/``answer`` commands against each other (SRTP, DTMF).

Processes are started through tests/peers.py and stopped by PID; every wait is bounded.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sipwright.media.g711 import ALAW
from sipwright.media.pcap_source import read_pcap_rtp
from sipwright.media.wav import read_wav

import peers

SIPP_PCAPS = Path("/usr/share/sip-tester")


def sipwright(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sipwright", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def answer(tmp_path: Path, port: int, *args: str, name: str = "answer") -> peers.Peer:
    """``sipwright answer`` on udp:127.0.0.1:port for one call, ready when returned."""
    argv = [sys.executable, "-m", "sipwright", "answer", "-l", f"udp:{peers.HOST}:{port}"]
    peer = peers.Peer(name, [*argv, "--max-calls", "1", *args], tmp_path / f"{name}.log")
    try:
        peer.wait_for_log("^listening on", timeout=10)
    except BaseException:
        peer.stop()
        raise
    return peer


# --- SIPp plays g711a.pcap, sipwright records it ----------------------------------


@pytest.mark.peers
def test_sipp_uac_pcap_is_recorded_by_sipwright_answer(tmp_path: Path, sip_port: int) -> None:
    peers.require("sipp")
    pcap = SIPP_PCAPS / "g711a.pcap"
    if not pcap.exists():
        pytest.skip("sip-tester not installed (make test installs it)")
    # The built-in uac_pcap scenario plays pcap/g711a.pcap, then pcap/dtmf_2833_1.pcap.
    (tmp_path / "pcap").mkdir()
    for name in ("g711a.pcap", "dtmf_2833_1.pcap"):
        shutil.copy(SIPP_PCAPS / name, tmp_path / "pcap" / name)
    wav = tmp_path / "got.wav"
    with answer(tmp_path, sip_port, "--record", str(wav), "-v") as callee:
        uac = peers.sipp(
            ["-sn", "uac_pcap", f"{peers.HOST}:{sip_port}", "-i", peers.HOST, "-m", "1",
             "-p", str(peers.free_sip_port()), "-timeout", "30s", "-timeout_error"],
            tmp_path=tmp_path, name="sipp_uac_pcap",
        )  # fmt: skip
        with uac:
            assert uac.wait_exit(timeout=40) == peers.SIPP_ALL_CALLS_OK, uac.log_tail()
        assert callee.wait_exit(timeout=10) == 0, callee.log_tail()
        log = callee.log_text()
    assert "m=audio" in log and "RTP/AVP 8 101" in log  # -v shows the offered media line
    assert "DTMF 1 (rfc4733)" in log  # dtmf_2833_1.pcap
    stream = read_pcap_rtp(pcap)
    expected = np.concatenate([ALAW.decode(p.payload) for p in stream.packets])
    got = read_wav(wav)
    assert len(got) == len(expected) == 236 * 240  # 7.08 s at 8 kHz
    assert np.array_equal(got, expected)


# --- sipwright to sipwright: SRTP mandatory and DTMF three ways ----------------------


@pytest.mark.peers
@pytest.mark.parametrize("mode", ["rfc4733", "info", "inband"])
def test_commands_srtp_mandatory_with_dtmf(tmp_path: Path, sip_port: int, mode: str) -> None:
    record = tmp_path / "call.json"
    with answer(tmp_path, sip_port, "--srtp", "mandatory", "--codec", "pcma") as callee:
        result = sipwright(
            "call", f"sip:bob@{peers.HOST}:{sip_port}", "--srtp", "mandatory", "-d", "1",
            "--dtmf", "1234#", "--dtmf-mode", mode, "--dtmf-delay", "0.2",
            "--record", str(record), timeout=30,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        assert callee.wait_exit(timeout=10) == 0, callee.log_tail()
        log = callee.log_text()
    digits = re.findall(r"DTMF (\S) \((\w+)\)", log)
    assert digits == [(d, mode) for d in "1234#"], log
    assert "SRTP AES_CM_128_HMAC_SHA1_80" in log
    media = json.loads(record.read_text())["media"]
    assert media["srtp_suite"] == "AES_CM_128_HMAC_SHA1_80" and media["codec"] == "PCMA"
    assert media["packets_received"] > 20 and media["srtp_auth_failures"] == 0


@pytest.mark.peers
def test_mandatory_callee_refuses_a_plain_offer_with_488(tmp_path: Path, sip_port: int) -> None:
    with answer(tmp_path, sip_port, "--srtp", "mandatory") as callee:
        result = sipwright("call", f"sip:bob@{peers.HOST}:{sip_port}", "--timeout", "10")
        assert result.returncode == 1
        assert "488" in result.stdout
        callee.wait_exit(timeout=10)
        assert "no a=crypto" in callee.log_text()


# --- tshark checks our RTP/RTCP and our figures ---------------------------------------


def _streams(pcap: Path, ports: set[int]) -> list[dict[str, float]]:
    """tshark's ``-z rtp,streams`` rows between our ports: packets, lost, jitter (ms)."""
    tshark = peers.require("tshark")
    out = subprocess.run(
        [tshark, "-n", "-r", str(pcap), "-o", "rtp.heuristic_rtp:TRUE", "-q", "-z", "rtp,streams"],
        capture_output=True, text=True, timeout=30, check=True, stdin=subprocess.DEVNULL,
    ).stdout  # fmt: skip
    rows = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 16 or not parts[3].isdigit() or not parts[5].isdigit():
            continue
        if {int(parts[3]), int(parts[5])} != ports:
            continue
        # ... SSRC Payload Pkts Lost (pct%) MinΔ MeanΔ MaxΔ MinJitter MeanJitter MaxJitter
        pct = next(i for i, part in enumerate(parts) if part.endswith("%)"))
        rows.append({
            "dst_port": float(parts[5]),  # columns: start end src port dst port ...
            "packets": float(parts[pct - 2]),
            "lost": float(parts[pct - 1]),
            "mean_jitter": float(parts[pct + 5]),
            "max_jitter": float(parts[pct + 6]),
        })  # fmt: skip
    return rows


@pytest.mark.peers
def test_tshark_decodes_our_rtp_and_agrees_on_loss_and_jitter(
    tmp_path: Path, sip_port: int
) -> None:
    peers.require("tshark")
    record = tmp_path / "call.json"
    pcap = tmp_path / "call.pcap"
    # Everything UDP on lo from the SIP port upwards is ours or harmless: the RTP ports
    # are only known once the call is up, so capture broadly and filter afterwards.
    with peers.tshark_capture(pcap, ports=[], capture_filter="udp") as capture:
        with answer(tmp_path, sip_port) as callee:
            result = sipwright(
                "call", f"sip:bob@{peers.HOST}:{sip_port}", "-d", "2", "--record", str(record)
            )
            assert result.returncode == 0, result.stdout + result.stderr
            callee.wait_exit(timeout=10)
        capture.stop()
    media = json.loads(record.read_text())["media"]
    ours = int(media["local_address"].rsplit(":", 1)[1])
    theirs = int(media["remote_address"].rsplit(":", 1)[1])
    ports = f"udp.port=={ours} && udp.port=={theirs}"
    rtcp_ports = f"udp.port=={ours + 1} && udp.port=={theirs + 1}"
    decode = ["-o", "rtp.heuristic_rtp:TRUE"]
    tshark = peers.require("tshark")

    def count(display: str) -> int:
        out = subprocess.run(
            [tshark, "-n", "-r", str(pcap), *decode, "-Y", display],
            capture_output=True, text=True, timeout=30, check=True, stdin=subprocess.DEVNULL,
        ).stdout  # fmt: skip
        return len(out.splitlines())

    assert count(f"({ports}) && rtp") >= 150  # both directions, ~1 s each way at least
    assert count(f"({rtcp_ports}) && rtcp.pt == 203") >= 1  # the BYE at the end
    assert (
        count(f"({ports} || {rtcp_ports}) && (_ws.malformed || _ws.expert.severity >= 0x800000)")
        == 0
    )
    rows = _streams(pcap, {ours, theirs})
    assert len(rows) == 2, rows
    # The stream toward us is the one our figures describe; tolerance: loss exact
    # (loopback loses nothing), jitter within 1 ms of tshark's mean (tshark stamps
    # packets in the kernel, we in the event loop).
    received = [row for row in rows if row["dst_port"] == ours]
    assert len(received) == 1, (rows, media)
    # tshark sees every packet on the wire; our count stops when the call's media
    # closes, so a packet or two still in flight at the BYE may be missing.
    assert 0 <= received[0]["packets"] - media["packets_received"] <= 2, (received, media)
    assert received[0]["lost"] == media["packets_lost"] == 0
    assert abs(received[0]["mean_jitter"] - media["jitter_ms"]) <= 1.0, (received, media)


# --- bad input: one line, exit 2 --------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--play", "/nonexistent/x.wav"], ["x.wav", "cannot read"]),
        (["--play", "NOTRTP"], ["no RTP packets"]),
        (["--play", "NOTWAV"], ["cannot read as WAV"]),
        (["--srtp", "sometimes"], ["--srtp"]),
        (["--codec", "speex"], ["--codec", "speex"]),
        (["--dtmf-mode", "morse"], ["--dtmf-mode"]),
    ],
)
def test_bad_media_input_is_one_line_and_exit_2(
    tmp_path: Path, args: list[str], words: list[str]
) -> None:
    import dpkt

    nortp = tmp_path / "nortp.pcap"
    with nortp.open("wb") as handle:
        writer = dpkt.pcap.Writer(handle, linktype=dpkt.pcap.DLT_RAW)
        udp = dpkt.udp.UDP(sport=1, dport=2, data=b"hello")
        udp.ulen = len(udp)
        ip = dpkt.ip.IP(src=b"\x7f\0\0\1", dst=b"\x7f\0\0\1", p=17, data=udp)
        ip.len = len(ip)
        writer.writepkt(bytes(ip), ts=1.0)
    notwav = tmp_path / "notwav.wav"
    notwav.write_text("hello")
    args = [str(nortp) if a == "NOTRTP" else str(notwav) if a == "NOTWAV" else a for a in args]
    result = sipwright("call", "sip:bob@127.0.0.1:9", *args, "--timeout", "2")
    assert result.returncode == 2, result
    text = (result.stdout + result.stderr).strip()
    assert "Traceback" not in text and len(text.splitlines()) == 1, text
    for word in words:
        assert word in text, text


# --- sipwright sipp plays g711a.pcap as SIPp does ----------------------------------------


@pytest.mark.peers
def test_sipwright_sipp_uac_pcap_plays_the_capture_like_sipp(tmp_path: Path, sip_port: int) -> None:
    """``sipwright sipp -sn uac_pcap``: play_pcap_audio sends g711a.pcap to the
    answer's SDP address, then the RFC 2833 digit; no pcap/ folder is needed here
    (SIPp's installed captures are found by name)."""
    peers.require("sipp")
    pcap = SIPP_PCAPS / "g711a.pcap"
    if not pcap.exists():
        pytest.skip("sip-tester not installed (make test installs it)")
    wav = tmp_path / "got.wav"
    with answer(tmp_path, sip_port, "--record", str(wav), "-v") as callee:
        result = subprocess.run(
            [sys.executable, "-m", "sipwright", "sipp", "-sn", "uac_pcap",
             f"{peers.HOST}:{sip_port}", "-i", peers.HOST, "-m", "1", "--no-live",
             "-timeout", "30s", "-timeout_error"],
            capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        assert "1 calls, 1 successful, 0 failed" in result.stdout
        assert callee.wait_exit(timeout=10) == 0, callee.log_tail()
        log = callee.log_text()
    assert "DTMF 1 (rfc4733)" in log  # dtmf_2833_1.pcap
    stream = read_pcap_rtp(pcap)
    expected = np.concatenate([ALAW.decode(p.payload) for p in stream.packets])
    got = read_wav(wav)
    assert len(got) == len(expected) == 236 * 240
    assert np.array_equal(got, expected)


@pytest.mark.peers
def test_sipp_scenario_with_a_missing_capture_fails_at_load(tmp_path: Path) -> None:
    scenario = tmp_path / "play.xml"
    scenario.write_text(
        '<?xml version="1.0"?>\n<scenario name="p">\n'
        "  <send><![CDATA[\nOPTIONS sip:x@[remote_ip] SIP/2.0\nContent-Length: 0\n]]></send>\n"
        '  <nop><action><exec play_pcap_audio="nowhere/none.pcap"/></action></nop>\n'
        "</scenario>\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "sipwright", "sipp", "-sf", str(scenario), "127.0.0.1:9"],
        capture_output=True, text=True, timeout=30, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert result.returncode == 255
    assert result.stderr.count("\n") == 1, result.stderr
    assert f"{scenario}:7:" in result.stderr and "none.pcap" in result.stderr


@pytest.mark.peers
def test_sipwright_sipp_rtp_stream_sends_the_file(tmp_path: Path, sip_port: int) -> None:
    """<exec rtp_stream="file,1,8">: the raw A-law octets go out 160 per 20 ms and
    the callee's recording decodes to the same audio."""
    tone = (np.sin(np.arange(8000) * 2 * np.pi * 440 / 8000) * 8000).astype(np.int16)
    raw = tmp_path / "tone.alaw"
    raw.write_bytes(ALAW.encode(tone))
    builtin = subprocess.run(
        [sys.executable, "-c",
         "from sipwright.scenario.sippxml.builtin import BUILTIN; print(BUILTIN['uac_pcap'])"],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout  # fmt: skip
    scenario = tmp_path / "stream.xml"
    scenario.write_text(
        builtin.replace(
            '<exec play_pcap_audio="pcap/g711a.pcap"/>', f'<exec rtp_stream="{raw},1,8"/>'
        )
        .replace('<exec play_pcap_audio="pcap/dtmf_2833_1.pcap"/>', '<log message="done"/>')
        .replace('<pause milliseconds="8000"/>', '<pause milliseconds="1500"/>')
    )
    wav = tmp_path / "got.wav"
    with answer(tmp_path, sip_port, "--record", str(wav)) as callee:
        result = subprocess.run(
            [sys.executable, "-m", "sipwright", "sipp", "-sf", str(scenario),
             f"{peers.HOST}:{sip_port}", "-i", peers.HOST, "-m", "1", "--no-live",
             "-timeout", "30s", "-timeout_error"],
            capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        assert callee.wait_exit(timeout=10) == 0, callee.log_tail()
    got = read_wav(wav)
    expected = ALAW.decode(ALAW.encode(tone))
    assert len(got) == len(expected)  # 50 packets of 160 samples
    assert np.array_equal(got, expected)
