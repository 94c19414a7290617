"""The command line: exit codes, one-line errors, and the commands end to end."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sipwright import __version__


def sipwright(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sipwright", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, socket.socket() as tcp:
        udp.bind(("127.0.0.1", 0))
        port = int(udp.getsockname()[1])
        tcp.bind(("127.0.0.1", port))
        return port


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert result.returncode == code, result
    assert "Traceback" not in result.stderr + result.stdout
    text = (result.stderr + result.stdout).strip()
    assert len(text.splitlines()) == 1, text
    for word in words:
        assert word in text, text


def test_version_and_help() -> None:
    result = sipwright("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"sipwright {__version__}"
    result = sipwright("--help")
    assert result.returncode == 0
    for command in ("demo", "options", "register", "call", "answer"):
        assert command in result.stdout


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--bogus"], ["unknown option --bogus"]),
        (["call", "sip:a@127.0.0.1", "--bogus"], ["unknown option --bogus"]),
        (["nosuchcommand"], ["invalid choice", "nosuchcommand"]),
        (["call", "sip:a@127.0.0.1", "--transport", "carrier-pigeon"], ["--transport"]),
        (["call", "sip:bob@exa mple.com"], ["bad SIP URI"]),
        (["call", "sip:bob@127.0.0.1:70000"], ["port out of range"]),
        (["options", "http://example.com"], ["bad SIP URI"]),
        (["demo", "--calls", "0"], ["--calls"]),
        (["answer", "--listen", "udp:nowhere"], ["--listen"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], words: list[str]) -> None:
    assert_one_line_error(sipwright(*args), 2, *words)


def test_unreachable_host_over_tcp_fails_in_one_line() -> None:
    port = free_port()  # nothing listens there
    result = sipwright("call", f"sip:bob@127.0.0.1:{port};transport=tcp", "--timeout", "5")
    assert_one_line_error(result, 1, "cannot connect", str(port))


def test_options_timeout_exit_1() -> None:
    port = free_port()
    result = sipwright("options", f"sip:127.0.0.1:{port}", "--timeout", "1")
    assert_one_line_error(result, 1, "no response")


def test_demo_is_a_load_run_with_reports(tmp_path: Path) -> None:
    html, report = tmp_path / "demo.html", tmp_path / "demo.json"
    result = sipwright(
        "demo", "--rate", "50", "--duration", "1", "--hold", "0.2", "--no-live",
        "--report-html", str(html), "--report-json", str(report),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "UAC: 50 calls, 50 successful, 0 failed; the UAS took 50 calls" in result.stdout
    assert f"HTML report: {html.resolve()}" in result.stdout
    totals = json.loads(report.read_text())["totals"]
    assert totals["calls_succeeded"] == 50
    assert html.read_text().count("<svg") >= 4


def test_demo_runs_calls_through_the_core() -> None:
    result = sipwright("demo", "--simulated", "--calls", "20", "--rate", "100", "--loss", "0.2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "20 placed, 20 succeeded, 0 failed" in result.stdout
    assert "INVITE sip:service@127.0.0.1:5060 SIP/2.0" in result.stdout
    assert "(lost)" in result.stdout  # with 20 % loss some datagrams are lost


def test_call_and_answer_commands_talk_to_each_other(tmp_path: Path) -> None:
    port = free_port()
    trace = tmp_path / "trace.jsonl"
    record = tmp_path / "call.json"
    callee = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sipwright",
            "answer",
            "--listen",
            f"udp:127.0.0.1:{port}",
            "--max-calls",
            "1",
            "--ring",
            "0.2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        time.sleep(0.1)
        assert callee.stdout is not None
        assert "listening on udp:127.0.0.1" in callee.stdout.readline()
        result = sipwright(
            "call", f"sip:bob@127.0.0.1:{port}", "-d", "0.3", "-v",
            "--trace", str(trace), "--record", str(record),
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        assert "answered 200 OK" in result.stdout
        assert "UDP 127.0.0.1:" in result.stdout and "-> 127.0.0.1" in result.stdout
        assert callee.wait(timeout=10) == 0
        output = callee.stdout.read()
        assert "1 calls, 0 failed" in output
    finally:
        if callee.poll() is None:
            callee.kill()
            callee.wait()
        if callee.stdout is not None:
            callee.stdout.close()
    lines = [json.loads(line) for line in trace.read_text().splitlines()]
    firsts = [(entry["direction"], entry["first_line"].split()[0]) for entry in lines]
    assert firsts[0] == ("sent", "INVITE")
    assert ("received", "SIP/2.0") in firsts
    assert ("sent", "BYE") in firsts
    assert len({entry["call_id"] for entry in lines}) == 1
    call = json.loads(record.read_text())
    assert call["final_status"] == 200
    assert call["setup_time"] >= 0.2
    assert [e["message"].split()[0] for e in call["events"]][:3] == ["INVITE", "180", "200"]
