"""The fuzzer: a deterministic mutator, and runs against Kamailio and sipwright answer."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import dpkt
import pytest

from sipwright.cli.main import main
from sipwright.diag.fuzz_mutator import MUTATIONS, make_case, parse_case_id
from sipwright.diag.fuzz_runner import base_message
from sipwright.sip.errors import ParseError
from sipwright.sip.framing import StreamFramer
from sipwright.sip.message import parse_message
from sipwright.sip.uri import SipURI, parse_uri

import peers
from peers import KamailioServer
from sipresponder import SipResponder


def _target() -> SipURI:
    uri = parse_uri("sip:127.0.0.1:5060")
    assert isinstance(uri, SipURI)
    return uri


TARGET = _target()
LOCAL = ("127.0.0.1", 40000)


def base(method: str = "INVITE", number: int = 0) -> bytes:
    return base_message(method, TARGET, LOCAL, 7, number)


def test_cases_are_reproducible_from_seed_and_number() -> None:
    first = [make_case(base(number=n), 7, n, list(MUTATIONS)) for n in range(50)]
    again = [make_case(base(number=n), 7, n, list(MUTATIONS)) for n in range(50)]
    assert first == again
    assert len({case.data for case in first}) == 50
    assert first[3].case_id == "7:3"
    other_seed = make_case(base(number=3), 8, 3, list(MUTATIONS))
    assert other_seed.data != first[3].data


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_every_mutation_changes_the_message(name: str) -> None:
    changed = {make_case(base(number=n), 1, n, [name]).data != base(number=n) for n in range(20)}
    assert changed == {True}
    assert all(make_case(base(), 1, n, [name]).mutation.startswith(name) for n in range(5))


def test_case_ids_and_mutation_names_are_checked() -> None:
    assert parse_case_id("42:17") == (42, 17)
    for bad in ("42", "x:1", "1:-2", ""):
        with pytest.raises(ValueError, match="SEED:NUMBER"):
            parse_case_id(bad)
    with pytest.raises(ValueError, match="unknown mutation 'nope'"):
        make_case(base(), 1, 1, ["nope"])


@pytest.mark.parametrize("method", ["INVITE", "OPTIONS"])
def test_sipwright_parser_survives_3000_cases(method: str) -> None:
    """h11-style harness: any input parses or raises ParseError, nothing else, both
    as a datagram and through the stream framer."""
    for number in range(3000):
        data = make_case(base(method, number), 11, number, list(MUTATIONS)).data
        for strict in (True, False):
            with contextlib.suppress(ParseError):
                parse_message(data, strict=strict)
        with contextlib.suppress(ParseError):
            StreamFramer().feed(data)


def test_bad_usage_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["fuzz", "sip:127.0.0.1:5060"],
        ["fuzz", "sip:127.0.0.1:5060", "--replay", "12"],
        ["fuzz", "sip:127.0.0.1:5060", "--count", "0"],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1, err
    with pytest.raises(SystemExit) as exit_info:
        main(["fuzz", "sip:127.0.0.1:5060", "-c", "1", "--mutations", "randtrash,nope"])
    assert exit_info.value.code == 2
    assert "unknown mutation 'nope'" in capsys.readouterr().err


def test_a_dying_target_is_reported_with_the_last_cases(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # answers the first ping and 4 case+ping pairs; case 4 "crashes" it (socket closed)
    with SipResponder(stop_after=10) as responder:
        argv = ["fuzz", responder.uri, "--seed", "5", "--count", "50"]
        argv += ["--liveness-timeout", "0.5", "--log", str(tmp_path / "cases.jsonl")]
        code = main(argv)
    out = capsys.readouterr().out
    assert code == 1
    # 5 cases unless a ping was retransmitted (the responder counts datagrams)
    summary = next(line for line in out.splitlines() if "stopped answering after" in line)
    sent = int(summary.split("after ")[1].split()[0])
    assert 1 <= sent <= 5
    assert summary.endswith(f"stopped answering after {sent} cases; last cases sent:")
    listed = [line.split()[0] for line in out.splitlines() if line.startswith("  ")]
    assert listed == [f"5:{n}" for n in range(sent)]
    records = [json.loads(line) for line in (tmp_path / "cases.jsonl").read_text().splitlines()]
    assert [r["alive"] for r in records] == [True] * (sent - 1) + [False]
    assert records[0]["seed"] == 5 and records[0]["case"] == "5:0"


def test_replay_sends_exactly_the_logged_case(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = peers.free_port("udp")
    with SipResponder() as responder:
        common = ["--local-port", str(port), "--seed", "9"]
        assert main(["fuzz", responder.uri, *common, "--count", "20"]) == 0
        sent_in_run = list(responder.received)
        responder.received.clear()
        pcap = tmp_path / "replay.pcap"
        assert (
            main(["fuzz", responder.uri, "--replay", "9:13", *common[:2], "--pcap", str(pcap)]) == 0
        )
        replayed = list(responder.received)
    out = capsys.readouterr().out
    assert "case 9:13 [" in out
    target = parse_uri(responder.uri)
    assert isinstance(target, SipURI)
    case = make_case(
        base_message("OPTIONS", target, ("127.0.0.1", port), 9, 13), 9, 13, list(MUTATIONS)
    )
    assert case.data in sent_in_run
    assert case.data in replayed
    assert len(replayed) >= 3  # ping, the case, ping (more if a ping was retransmitted)
    with pcap.open("rb") as handle:
        payloads = [
            dpkt.ethernet.Ethernet(buf).data.data.data for _, buf in dpkt.pcap.Reader(handle)
        ]
    assert case.data in payloads


# ------------------------------------------------------------------- real peers


@pytest.fixture
def answer(tmp_path: Path) -> Iterator[tuple[peers.Peer, int]]:
    import sys

    port = peers.free_sip_port()
    argv = [sys.executable, "-m", "sipwright", "answer", "--listen", f"udp:127.0.0.1:{port}"]
    peer = peers.Peer("answer", argv, tmp_path / "answer.log")
    try:
        peer.wait_for_log("listening on", 15)
        yield peer, port
    finally:
        peer.stop()


@pytest.mark.peers
def test_500_invite_cases_against_kamailio(
    kamailio_server: KamailioServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "kamailio.jsonl"
    argv = ["fuzz", kamailio_server.uri(), "-m", "INVITE", "--seed", "2026", "--count", "500"]
    code = main([*argv, "--log", str(log)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "500 cases sent" in out
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(records) == 500 and all(r["alive"] for r in records)
    assert peers.send_options(kamailio_server.host, kamailio_server.udp_port).status == 200


@pytest.mark.peers
def test_500_cases_against_sipwright_answer(
    answer: tuple[peers.Peer, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    peer, port = answer
    log = tmp_path / "answer.jsonl"
    code = main(["fuzz", f"sip:127.0.0.1:{port}", "--seed", "2026", "-c", "500", "--log", str(log)])
    out = capsys.readouterr().out
    assert code == 0, out + peer.log_tail()
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(records) == 500 and all(r["alive"] for r in records)
    # malformed requests got 400 (with a Warning), valid ones 200
    statuses = {r["response"] for r in records}
    assert {200, 400} <= statuses
    assert peer.is_running()
    assert peers.send_options("127.0.0.1", port).status == 200
    assert "Traceback" not in peer.log_text()


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("CSeq: 1 ", "CSeq: " + "9" * 5000 + " "),
        ("Max-Forwards: 70", "Max-Forwards: " + "9" * 5000),
        ("Content-Length: 0", "Content-Length: " + "9" * 5000),
        ("Content-Length: 0", "Expires: " + "9" * 5000 + "\r\nContent-Length: 0"),
    ],
)
def test_numbers_with_thousands_of_digits_are_parse_errors(old: str, new: str) -> None:
    """Found by this fuzzer: int() refuses more than 4300 digits with ValueError."""
    data = base("OPTIONS").decode().replace(old, new, 1).encode()
    with pytest.raises(ParseError):
        parse_message(data)
    with pytest.raises(ParseError):
        StreamFramer(max_body_bytes=1 << 20).feed(data)
    leading_zeros = base("OPTIONS").decode().replace("Max-Forwards: 70", "Max-Forwards: 0070")
    assert parse_message(leading_zeros.encode()).max_forwards == 70


def test_duration_bounds_a_run_without_count(capsys: pytest.CaptureFixture[str]) -> None:
    with SipResponder() as responder:
        code = main(["fuzz", responder.uri, "--seed", "3", "--duration", "0.3"])
    out = capsys.readouterr().out
    assert code == 0, out
    sent = int(out.splitlines()[-1].split()[0])
    assert sent > 0
    # the responder saw the first ping, then a case and a ping for each case sent
    assert len(responder.received) >= 1 + 2 * sent  # more if a ping was retransmitted
