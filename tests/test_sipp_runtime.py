"""``sipwright sipp`` at run time: the control socket, -trace_err, -trace_screen,
rate ramps and -users, against SIPp's own uas; and SIPp's POSIX regexps."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sipwright.scenario.sippxml.posix_regex import compile_posix, translate

import peers


def _uas(tmp_path: Path) -> tuple[peers.SippPeer, int]:
    port = peers.free_sip_port()
    return peers.sipp_uas(port, tmp_path=tmp_path, name="uas"), port


@pytest.mark.peers
def test_control_socket_sets_the_rate_dumps_and_quits(tmp_path: Path) -> None:
    uas, port = _uas(tmp_path)
    control = peers.free_port("udp")
    try:
        client = peers.start_sipwright_sipp(
            [
                "-sn",
                "uac",
                f"127.0.0.1:{port}",
                "-i",
                "127.0.0.1",
                "-r",
                "2",
                "-d",
                "200",
                "-cp",
                str(control),
            ],
            tmp_path,
        )
        peers.wait_for_bound(control, "udp", 10)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for command in (b"cset rate 40", b"cdump tasks", b"2"):
                sock.sendto(command, ("127.0.0.1", control))
                time.sleep(0.5)
            sock.sendto(b"q", ("127.0.0.1", control))
        code, output = peers.finish(client)
    finally:
        uas.stop()
    assert code == 0, output
    assert "call rate set to 40" in output
    assert re.search(r"\d+ calls in progress, .*rate 40", output), output
    assert "Statistics Screen" in output
    calls = int(re.search(r"UAC: (\d+) calls, (\d+) successful, 0 failed", output)[1])  # type: ignore[index]
    # At 2 calls/s for the ~1.5 s before the change there would be 3 or 4 calls.
    assert calls > 10, output


@pytest.mark.peers
def test_trace_err_and_trace_screen_files(tmp_path: Path) -> None:
    # Nothing answers on this port: every call times out on its first <recv>.
    port = peers.free_sip_port()
    client = peers.start_sipwright_sipp(
        [
            "-sn",
            "uac",
            f"127.0.0.1:{port}",
            "-i",
            "127.0.0.1",
            "-m",
            "2",
            "-r",
            "10",
            "-recv_timeout",
            "300",
            "-trace_err",
            "-trace_screen",
        ],
        tmp_path,
    )
    code, output = peers.finish(client)
    assert code == 1, output
    errors = list(tmp_path.glob("uac_*_errors.log"))
    screens = list(tmp_path.glob("uac_*_screen.log"))
    assert len(errors) == len(screens) == 1, list(tmp_path.iterdir())
    text = errors[0].read_text()
    assert text.startswith("The following events occurred:\n")
    assert text.count("receive timeout on message Basic Sipstone UAC:1 without label") == 2
    screen = screens[0].read_text()
    assert re.search(r"INVITE ---------->\s+2\s", screen), screen
    assert re.search(r"Failed call\s+\|\s+2\s+\|\s+2", screen), screen


@pytest.mark.peers
def test_rate_ramp_stops_past_rate_max_and_users_keep_a_population(tmp_path: Path) -> None:
    uas, port = _uas(tmp_path)
    try:
        remote = [f"127.0.0.1:{port}", "-i", "127.0.0.1", "-d", "100"]
        ramp = peers.start_sipwright_sipp(
            [
                "-sn",
                "uac",
                *remote,
                "-r",
                "4",
                "-rate_increase",
                "4",
                "-rate_interval",
                "1",
                "-rate_max",
                "12",
            ],
            tmp_path,
        )
        code, output = peers.finish(ramp)
        assert code == 0, output
        # 4 + 8 + 12 calls in the three one-second steps, then the ramp is over.
        assert "24 calls, 24 successful" in output, output
        users = peers.start_sipwright_sipp(
            ["-sn", "uac", *remote, "-users", "3", "-m", "9"], tmp_path
        )
        code, output = peers.finish(users)
        assert code == 0, output
        assert "9 calls, 9 successful" in output, output
    finally:
        uas.stop()


@pytest.mark.parametrize(
    ("posix", "text", "expected"),
    [
        ("o=([[:alnum:]]*) ([[:alnum:]]*)", "o=user1 53655765 x", ["user1", "53655765"]),
        ("[[:digit:]]+[[:space:]]", "abc 42 \t", ["42 "]),
        ("[^[:space:]]+", "  word ", ["word"]),
        (r"a[\.]b", r"a\b a.b", [r"a\b", "a.b"]),  # a backslash is literal in a bracket
        ("[]x]+", "]x]", ["]x]"]),  # "]" first in a bracket is literal
        ("[a-c-]+", "b-a", ["b-a"]),
    ],
)
def test_posix_regexps_mean_what_they_mean_to_sipp(
    posix: str, text: str, expected: list[str]
) -> None:
    pattern = compile_posix(posix)
    found = [m.group(0) if not m.groups() else None for m in pattern.finditer(text)]
    if pattern.groups:
        match = pattern.search(text)
        assert match is not None
        assert list(match.groups()) == expected
    else:
        assert found == expected


def test_posix_regexp_errors_name_the_problem() -> None:
    with pytest.raises(re.error, match="unknown character class"):
        translate("[[:nope:]]")
    with pytest.raises(re.error, match="unterminated"):
        translate("[abc")


@pytest.mark.peers
def test_trace_rtt_and_trace_logs_files(tmp_path: Path) -> None:
    """-trace_rtt: one row per rtd sample (the built-in uac's RTD 1 runs from the
    call's start to the 200, as in SIPp); -trace_logs: <log> messages with their
    keywords expanded (the early media pair logs the port of the 183's SDP)."""
    compat = Path(__file__).parent / "compat"
    uas, port = _uas(tmp_path)
    try:
        client = peers.start_sipwright_sipp(
            ["-sn", "uac", f"127.0.0.1:{port}", "-i", "127.0.0.1", "-m", "3", "-r", "10",
             "-trace_rtt"],
            tmp_path,
        )  # fmt: skip
        code, output = peers.finish(client)
    finally:
        uas.stop()
    assert code == 0, output
    (rtt,) = tmp_path.glob("uac_*_rtt.csv")
    rows = rtt.read_text().splitlines()
    assert rows[0] == "Date_ms;response_time_ms;rtd_no"
    assert len(rows) == 4, rows  # one RTD per call
    assert all(row.split(";")[2] == "1" and float(row.split(";")[1]) > 0 for row in rows[1:])

    port = peers.free_sip_port()
    with peers.sipp(
        ["-sf", str(compat / "early_media_183_uas.xml"), "-i", "127.0.0.1", "-p", str(port),
         "-m", "2"],
        tmp_path=tmp_path,
        name="early_uas",
    ):  # fmt: skip
        peers.wait_for_bound(port, "udp", 10)
        client = peers.start_sipwright_sipp(
            ["-sf", str(compat / "early_media_183_uac.xml"), f"127.0.0.1:{port}",
             "-i", "127.0.0.1", "-m", "2", "-r", "10", "-trace_logs"],
            tmp_path,
        )  # fmt: skip
        code, output = peers.finish(client)
    assert code == 0, output
    (logs,) = tmp_path.glob("early_media_183_uac_*_logs.log")
    lines = logs.read_text().splitlines()
    assert len(lines) == 2, lines
    assert all(re.fullmatch(r"early media from port \d+", line) for line in lines), lines


@pytest.mark.peers
def test_bg_detaches_and_prints_the_pid(tmp_path: Path) -> None:
    port = peers.free_sip_port()
    result = subprocess.run(
        [sys.executable, "-m", "sipwright", "sipp", "-sn", "uas", "-i", "127.0.0.1",
         "-p", str(port), "-m", "1", "-bg"],
        capture_output=True, text=True, timeout=30, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    match = re.fullmatch(r"Background mode - PID=\[(\d+)\]\n", result.stdout)
    assert match is not None, result.stdout
    pid = int(match[1])
    try:
        peers.wait_for_bound(port, "udp", 20)
        uac = peers.sipp_uac(f"127.0.0.1:{port}", tmp_path=tmp_path, calls=1, timeout=20)
        with uac:
            assert uac.wait_exit(30) == 0, uac.log_tail()
        deadline = time.monotonic() + 20
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not Path(f"/proc/{pid}").exists()  # -m 1 reached: it ended by itself
    finally:
        if Path(f"/proc/{pid}").exists():
            os.kill(pid, signal.SIGKILL)
