"""Interop with baresip (Debian baresip-core): SDES-SRTP (RFC 4568) and RFC 4733 DTMF
both ways, against a real, independently written SIP user agent.

baresip runs headless on loopback with a configuration written into ``tmp_path``: no
sound card, its audio source is ``aufile`` (a WAV tone we make), its player is
``aubridge`` (a device nobody reads), and ``sndfile`` writes what it sends and what it
decodes to WAV files, which is how we check that our SRTP audio reached it.  We drive
it through ``ctrl_tcp``: JSON commands in netstrings, and the events it sends back
(CALL_ESTABLISHED, CALL_MENC, CALL_DTMF_START, CALL_CLOSED ...).

Every process is started through tests/peers.py and stopped by PID; every wait is
bounded; nothing asserts timings.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sipwright.media.wav import read_wav

import peers

pytestmark = pytest.mark.peers

MODULES = Path("/usr/lib/baresip/modules")
NEEDED = ("g711", "aufile", "aubridge", "srtp", "sndfile", "ctrl_tcp", "account", "menu")
RATE = 8000

CONFIG = """\
# baresip for sipwright's tests: loopback only, no sound card.
poll_method\t\tepoll
sip_listen\t\t127.0.0.1:{sip_port}
net_interface\t\t127.0.0.1
call_local_timeout\t30
call_max_calls\t\t2
audio_source\t\taufile,{tone}
audio_player\t\taubridge,nowhere
audio_alert\t\taubridge,nowhere
audio_path\t\t/usr/share/baresip
ausrc_srate\t\t{rate}
ausrc_channels\t\t1
auplay_srate\t\t{rate}
auplay_channels\t\t1
audio_level\t\tno
rtcp_mux\t\tno
jitter_buffer_delay\t5-10
rtp_stats\t\tyes
module_path\t\t{modules}
module\t\t\tg711.so
{codec_modules}module\t\t\taufile.so
module\t\t\taubridge.so
module\t\t\tsrtp.so
module\t\t\tsndfile.so
module_tmp\t\taccount.so
module_app\t\tmenu.so
module_app\t\tctrl_tcp.so
ctrl_tcp_listen\t\t127.0.0.1:{ctrl_port}
snd_path\t\t{snd_path}
"""
# mediaenc=srtp-mand: SDES-SRTP, RTP/SAVP, no call without keys (baresip's srtp module).
ACCOUNT = "<sip:baresip@127.0.0.1>;regint=0;{mediaenc}answermode=auto;audio_codecs={codecs}\n"
SRTP_MANDATORY = "mediaenc=srtp-mand;"


def write_tone(path: Path, frequency: float, seconds: float) -> Path:
    """A 16-bit mono 8 kHz WAV with one sine tone (baresip's aufile wants S16LE)."""
    t = np.arange(int(RATE * seconds)) / RATE
    samples = (8000 * np.sin(2 * np.pi * frequency * t)).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(samples.tobytes())
    return path


def dominant_frequency(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * RATE / len(samples))


class BaresipControl:
    """A ctrl_tcp client: commands as netstring JSON, events read as they come."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.create_connection((peers.HOST, port), timeout=1.0)
                break
            except OSError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)
        self.buffer = b""
        self.messages: list[dict[str, Any]] = []

    def close(self) -> None:
        self.sock.close()

    def command(self, command: str, params: str | None = None) -> None:
        message: dict[str, str] = {"command": command, "token": command}
        if params is not None:
            message["params"] = params
        data = json.dumps(message).encode()
        self.sock.sendall(b"%d:%s," % (len(data), data))

    def _read(self, until: float) -> None:
        self.sock.settimeout(max(0.01, min(0.5, until - time.monotonic())))
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            return
        if not chunk:
            raise ConnectionError("baresip closed the control connection")
        self.buffer += chunk
        while True:  # netstrings: "<length>:<payload>,"
            length, colon, rest = self.buffer.partition(b":")
            if not colon or not length.isdigit() or len(rest) < int(length) + 1:
                return
            size = int(length)
            self.messages.append(json.loads(rest[:size]))
            self.buffer = rest[size + 1 :]

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("event") and m.get("type") == kind]

    def wait_event(self, kind: str, timeout: float = 10.0, count: int = 1) -> list[dict[str, Any]]:
        """Wait until baresip has sent ``count`` events of type ``kind``."""
        deadline = time.monotonic() + timeout
        while len(self.events(kind)) < count:
            if time.monotonic() >= deadline:
                seen = [m.get("type") for m in self.messages]
                raise TimeoutError(f"no {count} x {kind} from baresip within {timeout} s: {seen}")
            self._read(deadline)
        return self.events(kind)


class Baresip:
    def __init__(self, peer: peers.Peer, control: BaresipControl, port: int, snd: Path) -> None:
        self.peer = peer
        self.control = control
        self.port = port
        self.snd = snd

    def decoded_wav(self) -> Path:
        """What sndfile wrote of the audio baresip received and decoded."""
        found = sorted(self.snd.glob("dump-*-dec.wav"))
        assert len(found) == 1, (found, self.peer.log_tail())
        return found[0]


@pytest.fixture
def baresip(tmp_path: Path) -> Iterator[Baresip]:
    """baresip with an SRTP-mandatory, auto-answering account, sending a 1200 Hz tone."""
    with start_baresip(tmp_path, "PCMU,PCMA", SRTP_MANDATORY) as started:
        yield started


@contextlib.contextmanager
def start_baresip(tmp_path: Path, codecs: str, mediaenc: str) -> Iterator[Baresip]:
    """baresip offering/accepting ``codecs`` (its names: PCMU, PCMA, G722, opus)."""
    program = peers.require("baresip")
    extra = [name.lower() for name in codecs.split(",") if name.lower() in ("g722", "opus")]
    missing = [name for name in (*NEEDED, *extra) if not (MODULES / f"{name}.so").is_file()]
    if missing:
        pytest.skip(f"baresip modules {missing} not in {MODULES} (package baresip-core)")
    config_dir = tmp_path / "baresip"
    snd = tmp_path / "baresip-snd"
    config_dir.mkdir()
    snd.mkdir()
    sip_port, ctrl_port = peers.free_sip_port(), peers.free_port("tcp")
    tone = write_tone(tmp_path / "baresip-tone.wav", 1200, 30)
    (config_dir / "config").write_text(
        CONFIG.format(sip_port=sip_port, ctrl_port=ctrl_port, tone=tone, rate=RATE,
                      modules=MODULES, snd_path=snd,
                      codec_modules="".join(f"module\t\t\t{n}.so\n" for n in extra))
    )  # fmt: skip
    (config_dir / "accounts").write_text(ACCOUNT.format(mediaenc=mediaenc, codecs=codecs))
    (config_dir / "contacts").write_text("")
    # -t: baresip quits by itself after 120 s should everything else fail.
    argv = [program, "-f", str(config_dir), "-t", "120"]
    peer = peers.Peer("baresip", argv, tmp_path / "baresip.log", cwd=tmp_path)
    control: BaresipControl | None = None
    try:
        peer.wait_for_log(r"baresip is ready\.", timeout=15)
        if "ctrl_tcp: failed" in peer.log_text():
            pytest.fail(f"baresip could not listen for control:\n{peer.log_tail()}")
        control = BaresipControl(ctrl_port)
        yield Baresip(peer, control, sip_port, snd)
    finally:
        if control is not None:
            control.close()
        peer.stop()
        print(f"--- baresip log tail ({peer.log_path}):\n{peer.log_tail(40)}")


def sipwright_answer(tmp_path: Path, port: int, *args: str) -> peers.Peer:
    argv = [sys.executable, "-m", "sipwright", "answer", "-l", f"udp:{peers.HOST}:{port}"]
    peer = peers.Peer("answer", [*argv, "--max-calls", "1", *args], tmp_path / "answer.log")
    try:
        peer.wait_for_log("^listening on", timeout=10)
    except BaseException:
        peer.stop()
        raise
    return peer


def test_baresip_calls_sipwright_answer_with_srtp_mandatory_and_dtmf(
    tmp_path: Path, baresip: Baresip
) -> None:
    """(a) baresip dials ``sipwright answer --srtp mandatory``: the recording holds
    baresip's 1200 Hz tone (so SRTP decrypted), and its RFC 4733 '5' is detected."""
    port = peers.free_sip_port()
    wav = tmp_path / "got.wav"
    control = baresip.control
    args = ("--srtp", "mandatory", "--record", str(wav), "-v")
    with sipwright_answer(tmp_path, port, *args) as callee:
        control.command("dial", f"sip:bob@{peers.HOST}:{port}")
        control.wait_event("CALL_ESTABLISHED")
        menc = control.wait_event("CALL_MENC")[0]
        time.sleep(1.0)  # let some audio flow before the digit (not a timing check)
        control.command("sndcode", "5")
        callee.wait_for_log(r"DTMF 5 \(rfc4733\)", timeout=10)
        control.command("hangup")
        control.wait_event("CALL_CLOSED")
        assert callee.wait_exit(timeout=15) == 0, callee.log_tail()
        log = callee.log_text()
    assert "AES_CM_128_HMAC_SHA1" in menc["param"]  # baresip's view: SDES-SRTP is on
    assert re.search(r"^call from .* m=audio \d+ RTP/SAVP ", log, re.MULTILINE)  # RFC 4568
    assert "SRTP AES_CM_128_HMAC_SHA1" in log  # our side, in the media summary line
    assert re.findall(r"DTMF (\S) \((\w+)\)", log) == [("5", "rfc4733")]
    assert "SRTP auth failures" not in log  # printed only when there are some
    got = read_wav(wav)
    assert len(got) >= RATE // 4, len(got)  # at least a quarter of a second decoded
    assert dominant_frequency(got) == pytest.approx(1200, abs=10)


def test_sipwright_calls_baresip_with_srtp_mandatory_tone_and_dtmf(
    tmp_path: Path, baresip: Baresip
) -> None:
    """(b) ``sipwright call --srtp mandatory --dtmf 123 --play tone.wav`` to baresip
    (auto-answer): baresip decodes our 800 Hz tone and reports digits 1, 2, 3."""
    tone = write_tone(tmp_path / "tone.wav", 800, 2)
    record = tmp_path / "call.json"
    result = sipwright(
        "call", f"sip:baresip@{peers.HOST}:{baresip.port}", "--srtp", "mandatory",
        "--dtmf", "123", "--dtmf-delay", "0.3", "--play", str(tone), "--record", str(record),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    control = baresip.control
    control.wait_event("CALL_CLOSED")
    digits = [event["param"] for event in control.wait_event("CALL_DTMF_START", count=3)]
    assert digits == ["1", "2", "3"]
    log = baresip.peer.log_text()
    assert "SRTP is Enabled (cryptosuite=AES_CM_128_HMAC_SHA1_80)" in log
    assert re.findall(r"received event: '(.)' \(end=1\)", log) == ["1", "2", "3"]
    media = json.loads(record.read_text())["media"]
    assert media["srtp_suite"] == "AES_CM_128_HMAC_SHA1_80" and media["srtp_auth_failures"] == 0
    assert media["packets_received"] > 0  # baresip's SRTP reached us too
    got = read_wav(baresip.decoded_wav())
    assert len(got) >= RATE // 4, len(got)
    assert dominant_frequency(got) == pytest.approx(800, abs=10)


def sipwright(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sipwright", *args],
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("codec", ["opus", "G722"])
def test_baresip_calls_sipwright_answer_with_a_wideband_codec(tmp_path: Path, codec: str) -> None:
    """baresip, offering only Opus or G.722, dials ``sipwright answer --codec``: the
    call negotiates that codec and our recording holds baresip's 1200 Hz tone."""
    port = peers.free_sip_port()
    wav = tmp_path / "got.wav"
    with start_baresip(tmp_path, codec, "") as peer:
        args = ("--codec", codec.lower(), "--record", str(wav), "-v")
        with sipwright_answer(tmp_path, port, *args) as callee:
            peer.control.command("dial", f"sip:bob@{peers.HOST}:{port}")
            peer.control.wait_event("CALL_ESTABLISHED")
            time.sleep(1.5)  # let audio flow (not a timing check)
            peer.control.command("hangup")
            peer.control.wait_event("CALL_CLOSED")
            assert callee.wait_exit(timeout=15) == 0, callee.log_tail()
            log = callee.log_text()
    assert re.search(rf": media {codec}: sent \d+ packets, received [1-9]", log), log
    got = read_wav(wav)
    assert len(got) >= RATE // 2, len(got)
    assert dominant_frequency(got) == pytest.approx(1200, abs=10)


@pytest.mark.parametrize("codec", ["opus", "G722"])
def test_sipwright_calls_baresip_with_a_wideband_codec(tmp_path: Path, codec: str) -> None:
    """``sipwright call --codec opus|g722 --play tone.wav`` to baresip: baresip decodes
    our 800 Hz tone, and the call record names the codec."""
    tone = write_tone(tmp_path / "tone.wav", 800, 2)
    record = tmp_path / "call.json"
    with start_baresip(tmp_path, codec, "") as peer:
        result = sipwright(
            "call", f"sip:baresip@{peers.HOST}:{peer.port}", "--codec", codec.lower(),
            "--play", str(tone), "--record", str(record),
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        peer.control.wait_event("CALL_CLOSED")
        decoded = peer.decoded_wav()
    media = json.loads(record.read_text())["media"]
    assert media["codec"] == codec and media["malformed"] == 0
    assert media["packets_received"] > 0  # baresip's audio reached us in that codec
    got = read_wav(decoded)  # baresip's dump may be at the codec's rate: read_wav resamples
    assert len(got) >= RATE // 4, len(got)
    assert dominant_frequency(got) == pytest.approx(800, abs=10)
