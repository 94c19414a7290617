"""traceroute, message, usrloc, flood and options statistics: the sipsak toolbox,
against Kamailio (record-routing proxy and registrar) and sipwright answer."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sipwright.cli.main import main
from sipwright.diag.flood import FloodPlan
from sipwright.diag.usrloc import check_bindings
from sipwright.sip.headers import parse_name_addr

import peers
from peers import KamailioServer
from sipresponder import SipResponder


class Answer:
    """``sipwright answer`` as a real process on a free UDP port."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = peers.free_sip_port()
        argv = [sys.executable, "-m", "sipwright", "answer"]
        argv += ["--listen", f"udp:127.0.0.1:{self.port}"]
        self.peer = peers.Peer("answer", argv, tmp_path / "answer.log")
        self.peer.wait_for_log("listening on", 15)

    @property
    def uri(self) -> str:
        return f"sip:127.0.0.1:{self.port}"


@pytest.fixture
def answer(tmp_path: Path) -> Iterator[Answer]:
    started = Answer(tmp_path)
    try:
        yield started
    finally:
        started.peer.stop()


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


# --------------------------------------------------------------------- plain logic


def test_check_bindings_finds_missing_and_wrong_expiry() -> None:
    listed = [
        parse_name_addr("<sip:a-1@127.0.0.1:5070>;expires=118"),
        parse_name_addr("<sip:a-2@127.0.0.1:5070>;expires=3600"),
        parse_name_addr("<sip:a-4@127.0.0.1:5070>"),
    ]
    wanted = [f"sip:a-{n}@127.0.0.1:5070" for n in (1, 2, 3, 4)]
    assert check_bindings(listed, wanted, 120) == [
        "sip:a-2@127.0.0.1:5070: expires=3600, asked for 120",
        "sip:a-3@127.0.0.1:5070: not listed",
        "sip:a-4@127.0.0.1:5070: listed without an expires parameter",
    ]


def test_flood_plan_is_bounded() -> None:
    with pytest.raises(ValueError, match="--count or --duration"):
        FloodPlan("OPTIONS", 10, None, None, 1)
    plan = FloodPlan("OPTIONS", 100, 5, None, 1)
    assert plan.due(0) == 1
    assert plan.due(10) == 5
    assert plan.finished(5, 0.1)
    timed = FloodPlan("INVITE", 100, None, 0.5, 1)
    assert timed.due(0.25) == 26
    assert timed.due(3) == 50
    assert timed.finished(50, 0.6) and not timed.finished(49, 0.6)


@pytest.mark.parametrize(
    "argv",
    [
        ["flood", "sip:127.0.0.1:5060"],
        ["flood", "sip:127.0.0.1:5060", "--count", "0"],
        ["flood", "sip:127.0.0.1:5060", "--count", "1", "--rate", "-1"],
        ["traceroute", "sip:127.0.0.1", "--max-hops", "300"],
        ["usrloc", "sip:127.0.0.1", "--bindings", "0"],
    ],
)
def test_bad_flags_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, output = run_cli(capsys, *argv)
    assert code == 2
    assert len(output.strip().splitlines()) == 1, output


def test_flood_refuses_a_host_name(capsys: pytest.CaptureFixture[str]) -> None:
    code, output = run_cli(capsys, "flood", "sip:example.invalid", "--count", "1")
    assert code == 2
    assert "give an IP address" in output


def test_options_prints_rtt_statistics(capsys: pytest.CaptureFixture[str]) -> None:
    with SipResponder() as responder:
        code, output = run_cli(capsys, "options", responder.uri, "-c", "3", "-i", "0")
    assert code == 0
    summary = output.strip().splitlines()[-1]
    assert summary.startswith("3 sent, 3 answered, 0 lost (0% loss); rtt min/avg/max/stddev = ")


def test_flood_against_a_target_that_dies_counts_timeouts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with SipResponder(stop_after=5) as responder:
        argv = ["flood", responder.uri, "--count", "10", "--rate", "1000", "--timeout", "0.5"]
        code, output = run_cli(capsys, *argv, "--json")
    assert code == 1
    stats = json.loads(output)
    assert stats["sent"] == 10
    assert stats["answered"] == 4
    assert stats["timeouts"] == 6


# ------------------------------------------------------------------- real peers


@pytest.mark.peers
def test_traceroute_through_kamailio_to_sipwright_answer(
    kamailio_server: KamailioServer, answer: Answer, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["traceroute", answer.uri, "--proxy", kamailio_server.uri(), "--json"]
    code, output = run_cli(capsys, *argv)
    assert code == 0, output
    hops = [json.loads(line) for line in output.splitlines()]
    assert [(h["hop"], h["status"], h["final"]) for h in hops] == [
        (0, 483, False),
        (1, 200, True),
    ]
    assert hops[0]["identity"] == "sipwright-test-kamailio"


@pytest.mark.peers
def test_traceroute_through_two_chained_kamailios(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two record-routing proxies: A relays to B (another port on 127.0.0.1)."""
    config = (peers.KAMAILIO_DIR / "kamailio.cfg").read_text()
    second = tmp_path / "second.cfg"
    second.write_text(config.replace("sipwright-test-kamailio", "second-kamailio"))
    first = peers.kamailio(tmp_path, name="first")
    try:
        last = peers.kamailio(tmp_path, name="second", config=second)
        try:
            code, output = run_cli(capsys, "traceroute", last.uri(), "--proxy", first.uri())
        finally:
            last.stop()
    finally:
        first.stop()
    assert code == 0, output
    lines = output.splitlines()
    assert lines[0].split()[:5] == ["0", "proxy:", "483", "Too", "Many"]
    assert lines[0].endswith("sipwright-test-kamailio")
    assert lines[1].split()[:3] == ["1", "proxy:", "483"]
    assert lines[1].endswith("second-kamailio")
    assert lines[2].split()[:4] == ["2", "target:", "200", "OK"]
    assert len(lines) == 3


@pytest.mark.peers
def test_usrloc_registers_lists_and_removes(
    kamailio_server: KamailioServer, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["usrloc", kamailio_server.uri(), "--user", "alice", "--password", "secret"]
    code, output = run_cli(capsys, *argv, "--bindings", "4", "--expires", "300")
    assert code == 0, output
    assert "listed back all 4 bindings" in output
    assert kamailio_server.contacts("alice") == []


@pytest.mark.peers
def test_usrloc_wrong_password_fails_at_the_register_step(
    kamailio_server: KamailioServer, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["usrloc", kamailio_server.uri(), "--user", "alice", "--password", "wrong"]
    code, output = run_cli(capsys, *argv)
    assert code == 1
    assert "register: 401" in output
    assert "Traceback" not in output


@pytest.mark.peers
def test_usrloc_reports_a_registrar_that_caps_expiry(
    kamailio_server: KamailioServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # the test Kamailio caps bindings at max_expires=3600: asking more fails step 2
    argv = ["usrloc", kamailio_server.uri(), "--user", "bob", "--password", "secret"]
    code, output = run_cli(capsys, *argv, "--expires", "7200", "--bindings", "1")
    assert code == 3, output
    assert "expires=3600, asked for 7200" in output


@pytest.mark.peers
def test_message_through_kamailio_waits_for_the_reply(
    kamailio_server: KamailioServer, capsys: pytest.CaptureFixture[str]
) -> None:
    with SipResponder(echo_messages=True) as echo:
        target = f"sip:echo@127.0.0.1:{echo.port}"
        argv = ["message", target, "--text", "ping?", "--proxy", kamailio_server.uri()]
        code, output = run_cli(capsys, *argv, "--wait-reply", "--timeout", "5")
    assert code == 0, output
    assert output.splitlines()[0].startswith(f"200 OK from {target}")
    assert "reply from <sip:echo@" in output
    assert output.rstrip().endswith("echo: ping?")
    assert "MESSAGE" in kamailio_server.log


@pytest.mark.peers
def test_message_to_sipwright_answer(answer: Answer, capsys: pytest.CaptureFixture[str]) -> None:
    code, output = run_cli(capsys, "message", answer.uri, "--text", "hello")
    assert code == 0, output
    assert output.startswith(f"200 OK from {answer.uri}")
    # nobody sends a MESSAGE back: waiting for one fails after the timeout
    argv = ["message", answer.uri, "--text", "hello", "--wait-reply", "--timeout", "0.5"]
    code, output = run_cli(capsys, *argv)
    assert code == 1
    assert "no MESSAGE back" in output


@pytest.mark.peers
@pytest.mark.parametrize("method", ["OPTIONS", "INVITE"])
def test_flood_sipwright_answer(
    answer: Answer, method: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["flood", answer.uri, "-m", method, "--count", "50", "--rate", "200", "--json"]
    code, output = run_cli(capsys, *argv)
    assert code == 0, output
    stats = json.loads(output)
    assert (stats["sent"], stats["answered"], stats["timeouts"]) == (50, 50, 0)
    assert stats["statuses"] == {"200": 50}
    if method == "INVITE":
        # every call was acknowledged and hung up: answer logs them as ended
        deadline = time.monotonic() + 10
        while answer.peer.log_text().count("ended by the caller") < 50:
            assert time.monotonic() < deadline, answer.peer.log_tail()
            time.sleep(0.05)


@pytest.mark.peers
def test_flood_kamailio_for_a_duration(
    kamailio_server: KamailioServer, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["flood", kamailio_server.uri(), "--duration", "0.5", "--rate", "200", "--json"]
    code, output = run_cli(capsys, *argv)
    assert code == 0, output
    stats = json.loads(output)
    assert stats["sent"] == 100
    assert stats["answered"] == 100
    assert stats["statuses"] == {"200": 100}
    # INVITE without a user part: Kamailio answers 484 (Address Incomplete)
    argv = ["flood", kamailio_server.uri(), "-m", "INVITE", "-c", "20", "-r", "100", "--json"]
    code, output = run_cli(capsys, *argv)
    assert code == 0, output
    assert json.loads(output)["statuses"] == {"484": 20}


def test_subprocess_traceback_free_on_unreachable_target(tmp_path: Path) -> None:
    port = peers.free_port("udp")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sipwright",
            "traceroute",
            f"sip:127.0.0.1:{port}",
            "--max-hops",
            "1",
            "--timeout",
            "0.3",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert "no final response within 1 hops" in result.stdout
