"""SIPp's command line as ``sipwright sipp`` reads it."""

from __future__ import annotations

import pytest

from sipwright.cli.sipp_options import SippUsageError, parse_duration, parse_sipp_args


def test_a_typical_uac_command_line() -> None:
    options = parse_sipp_args(
        "-sf reg.xml -sf call.xml 10.0.0.1:5070 -t t1 -r 50 -rp 2s -m 1000 -l 200 -d 5000 "
        "-i 127.0.0.1 -p 5061 -s 1000 -au alice -ap secret -inf users.csv -inf more.csv "
        "-infindex users.csv 0 -key domain example.com -set max 3 -trace_stat -stf s.csv "
        "-fd 1 -timeout 30s -timeout_error -nostdin -aa".split()
    )
    assert options.scenario_files == ["reg.xml", "call.xml"]
    assert options.remote_host_port == ("10.0.0.1", 5070)
    assert options.transport == "tcp"
    assert options.get("r") == 50.0
    assert options.get("rp") == 2.0  # seconds
    assert options.get("d") == 5.0  # -d is in milliseconds by default
    assert options.get("timeout") == 30.0
    assert options.get("m") == 1000
    assert options.get("inf") == ["users.csv", "more.csv"]
    assert options.get("infindex") == [("users.csv", "0")]
    assert options.get("key") == [("domain", "example.com")]
    assert options.get("set") == [("max", "3")]
    assert options.get("trace_stat") is True
    assert options.get("fd") == 1.0
    assert options.given[:2] == ["sf", "sf"]


def test_ipv6_remote_and_websocket_transport() -> None:
    options = parse_sipp_args(["[::1]:5080", "-t", "wss", "-sn", "uac"])
    assert options.remote_host_port == ("::1", 5080)
    assert options.transport == "wss"
    assert parse_sipp_args(["-sn", "uas"]).remote is None


@pytest.mark.parametrize(
    ("text", "unit", "seconds"),
    [("10", "ms", 0.01), ("10", "s", 10.0), ("250ms", "s", 0.25), ("2m", "ms", 120.0)],
)
def test_durations_follow_sipp_units(text: str, unit: str, seconds: float) -> None:
    assert parse_duration(text, unit, "x") == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-foo"], "Invalid argument: '-foo'."),
        (["-r", "abc"], '-r, "abc" is not a floating point number!'),
        (["-m", "127.0.0.1"], '-m, "127.0.0.1" is not a valid integer!'),
        (["-t", "zz"], '-t, "zz" is not a valid transport mode'),
        (["-m"], "Missing argument for param '-m'."),
        (["-key", "only-one"], "Missing argument for param '-key'."),
        (["-sf", "-m", "3"], "Missing argument for param '-sf'."),
        (["-d", "ten"], '-d, "ten" is not a valid time'),
        (["-sn", "uac", "-sf", "x.xml"], "-sf and -sn cannot be used together"),
        (["a.example", "b.example"], "only one remote host"),
    ],
)
def test_bad_command_lines_name_the_option(argv: list[str], message: str) -> None:
    with pytest.raises(SippUsageError) as info:
        parse_sipp_args(argv)
    assert message in str(info.value)
