"""SIPp-compatible statistics: the counters model and the file writers.

The unit tests use values seen in real SIPp 3.6.1 files. The ``peers`` tests run SIPp
on loopback (a failing call to a silent port; three calls between a SIPp UAC and
UAS), feed the same events into a Snapshot and compare our files with SIPp's: the
-trace_stat header exactly, rows exactly (rates, elapsed times and call lengths, which
depend on SIPp's clock, within a tolerance), -trace_err, -trace_msg byte for byte, and
-trace_screen line for line (less the lines where SIPp's final screen prints zeros).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import pytest

from sipwright.cli.sipp_stat_rows import StatRow, StatRows
from sipwright.report.sipp_files import (
    SIPP_NAN_DURATION,
    ErrorLog,
    MessageLog,
    Repartitions,
    ScreenInfo,
    ScreenStep,
    ScreenWriter,
    TraceStatWriter,
    format_duration,
    format_hms,
    format_number,
    load_stats_json,
    log_timestamp,
    pause_fixed,
    pause_uniform,
    pause_variable,
    recv_timeout_error,
    render_screens,
    sipp_timestamp,
    stats_json,
    trace_stat_columns,
    write_stats_json,
)
from sipwright.report.sipp_stats import Event, FailReason, Snapshot

import peers

BUILTIN_REPS = Repartitions(
    (10, 20, 30, 40, 50, 100, 150, 200), (10, 50, 100, 500, 1000, 5000, 10000)
)
T0 = datetime(2026, 11, 27, 1, 5, 27, 142836, tzinfo=UTC)

# ------------------------------------------------------------------------- helpers


def sipp_time(text: str) -> tuple[datetime, float]:
    """SIPp's ``date<TAB>time<TAB>epoch`` as (local naive datetime, epoch seconds)."""
    date, clock, epoch = text.split("\t")
    seconds, micros = epoch.split(".")
    wall = datetime.fromtimestamp(int(seconds)) + timedelta(microseconds=int(micros))
    assert (f"{wall:%Y-%m-%d}", f"{wall:%H:%M:%S.%f}") == (date, clock)
    return wall, int(seconds) + int(micros) / 1e6


def read_csv(path: Path, delimiter: str = ";") -> tuple[list[str], list[dict[str, str]]]:
    lines = path.read_text().splitlines()
    for line in lines:
        assert line.endswith(delimiter), "SIPp ends every line with the separator"
    header = lines[0].split(delimiter)[:-1]
    return header, [
        dict(zip(header, line.split(delimiter)[:-1], strict=True)) for line in lines[1:]
    ]


def duration_ms(text: str) -> int:
    h, m, s, us = (int(v) for v in text.split(":"))
    return ((h * 60 + m) * 60 + s) * 1000 + us // 1000


def compare_rows(ours: dict[str, str], theirs: dict[str, str]) -> None:
    """Equal, except clock-dependent columns (within a tolerance)."""
    assert ours.keys() == theirs.keys()
    for column, value in theirs.items():
        mine = ours[column]
        if column.startswith("CallRate"):
            assert float(mine) == pytest.approx(float(value), rel=0.02, abs=0.01), column
        elif column.startswith("ElapsedTime"):
            seconds = [
                sum(int(v) * f for v, f in zip(x.split(":"), (3600, 60, 1), strict=True))
                for x in (mine, value)
            ]
            assert abs(seconds[0] - seconds[1]) <= 1, column
        elif column.startswith("CallLength(") or (
            column.startswith("CallLengthStDev") and value != SIPP_NAN_DURATION
        ):
            assert abs(duration_ms(mine) - duration_ms(value)) <= 5, (column, mine, value)
        else:
            assert mine == value, (column, mine, value)


@dataclass
class Frame:
    stamp: str
    transport: str
    direction: Literal["sent", "received"]
    data: bytes


def parse_message_log(raw: bytes) -> list[Frame]:
    """Split a -trace_msg file into frames, using the sizes in the framing lines."""
    frames, pos, separator = [], 0, b"-" * 47
    while pos < len(raw):
        assert raw.startswith(separator, pos)
        eol = raw.index(b"\n", pos)
        title_end = raw.index(b"\n", eol + 1)
        title = raw[eol + 1 : title_end].decode()
        size = re.fullmatch(
            r"\w+ message (?:sent \((\d+) bytes\):|received \[(\d+)\] bytes :)", title
        )
        assert size is not None, title
        start = title_end + 2
        end = start + int(size.group(1) or size.group(2))
        assert raw[title_end + 1 : start] == b"\n" and raw[end : end + 1] == b"\n"
        direction: Literal["sent", "received"] = "sent" if size.group(1) else "received"
        stamp = raw[pos + 47 : eol].decode().strip()
        frames.append(Frame(stamp, title.split(" ")[0], direction, raw[start:end]))
        pos = end + 1
    return frames


def call_lengths(frames: list[Frame]) -> list[float]:
    """Per Call-ID: ms from its first to its last message (SIPp's call length, +-1 ms)."""
    times: dict[bytes, list[datetime]] = {}
    for frame in frames:
        call_id = re.search(rb"Call-ID: (\S+)", frame.data)
        assert call_id is not None
        moment = datetime.strptime(frame.stamp, "%Y-%m-%d %H:%M:%S.%f")
        times.setdefault(call_id.group(1), []).append(moment)
    return [(max(t) - min(t)) / timedelta(milliseconds=1) for t in times.values()]


def screen_lines(text: str) -> list[str]:
    """Screen lines less those where SIPp's final screen shows zeros for cumulative
    durations (we print the real values) and the clock-dependent call rate."""
    skipped = ("  Elapsed Time ", "  Response Time ", "  Call Length ", "  Call Rate ")
    return [line for line in text.split("\n") if not line.startswith(skipped)]


def replay(rows: list[dict[str, str]], s: Snapshot, path: Path, events: Callable[[], None]) -> None:
    """Dump our rows at SIPp's three dump times (start, exit, after the final reset)
    with the run's ``events`` before the second; compare with SIPp's rows."""
    assert len(rows) == 3
    with TraceStatWriter.for_snapshot(path, s) as writer:
        writer.write(s, *sipp_time(rows[0]["CurrentTime"]))
        s.reset_period(*sipp_time(rows[1]["LastResetTime"]))
        events()
        writer.write(s, *sipp_time(rows[1]["CurrentTime"]))
        s.reset_period(*sipp_time(rows[2]["LastResetTime"]))
        writer.write(s, *sipp_time(rows[2]["CurrentTime"]))
    for mine, theirs in zip(read_csv(path)[1], rows, strict=True):
        compare_rows(mine, theirs)


def compare_screen(text: str, s: Snapshot, steps: list[ScreenStep], **kwargs: object) -> None:
    """Render our screens with the run facts read off SIPp's (not counters) and
    compare them line by line."""
    total = re.search(r"  (\d+) +([\d.]+) s +\d+  ", text)
    remote = re.search(r"  (\S+)\(UDP\)\n", text)
    limit = re.search(r"\d+ calls \(limit (\d+)\)", text)
    peak = re.search(r"Peak was (\d+) calls, after (\d+) s", text)
    run = re.search(r"  (\d+) Running, (\d+) Paused, (\d+) Woken up", text)
    assert total and peak and run
    info = ScreenInfo(
        int(total.group(1)),
        remote=remote.group(1) if remote else None,
        open_calls_limit=int(limit.group(1)) if limit else None,
        peak_after_s=int(peak.group(2)),
        running=int(run.group(1)),
        paused=int(run.group(2)),
        woken=int(run.group(3)),
        **kwargs,  # type: ignore[arg-type]
    )
    s.peak_calls = int(peak.group(1))
    found = re.findall(r"  (Last Reset Time|Current Time) +\| (\S+\t\S+\t\S+)", text)
    clock = {name: sipp_time(value) for name, value in found}
    s.reset_period(*clock["Last Reset Time"])
    ours = render_screens(s, steps, info, clock["Current Time"][0], s.start_mono + float(total[2]))
    assert screen_lines(ours) == screen_lines(text)


# --------------------------------------------------------------------------- formats


def test_timestamp_formats() -> None:
    assert sipp_timestamp(T0) == "2026-11-27\t01:05:27.142836\t1795741527.142836"
    assert log_timestamp(T0) == "2026-11-27 01:05:27.142836"
    local = datetime(2026, 1, 2, 3, 4, 5, 6)
    assert sipp_timestamp(local).endswith(f"\t{int(local.timestamp())}.000006")


def test_number_formats_from_real_sipp_rows() -> None:
    assert format_hms(0) == "00:00:00" and format_hms(3725) == "01:02:05"
    assert format_duration(4010) == "00:00:04:010000"
    assert format_duration(33.99) == "00:00:00:033000"  # whole ms, truncated
    # CallRate values of real rows: calls * 1000 / elapsed ms, 6 significant digits
    assert format_number(3 * 1000 / 307) == "9.77199"
    assert format_number(1000 / 999) == "1.001"
    assert format_number(1000 / 1000) == "1"
    assert format_number(3000 / 30114) == "0.0996214"
    assert format_number(0.0) == "0"


def test_columns_match_sipp_layout() -> None:
    builtin = trace_stat_columns(["true"], BUILTIN_REPS)
    assert len(builtin) == 95
    assert " ".join(builtin[:8]) == (
        "StartTime LastResetTime CurrentTime ElapsedTime(P) ElapsedTime(C) TargetRate "
        "CallRate(P) CallRate(C)"
    )
    assert " ".join(builtin[68:72]) == (
        "ResponseTime1(P) ResponseTime1(C) ResponseTime1StDev(P) ResponseTime1StDev(C)"
    )
    assert builtin[-10:-8] == ["ResponseTimeRepartition1_>=200", "CallLengthRepartition"]
    assert len(trace_stat_columns()) == 72  # no RTD, no repartition (SIPp: 72 + "")


# ------------------------------------------------------------------------ the model


def snapshot(**kwargs: object) -> Snapshot:
    return Snapshot(T0, 100.0, **kwargs)  # type: ignore[arg-type]


def test_repartition_buckets_are_less_than_limit() -> None:
    s = snapshot(rtd_names=["1"], response_time_repartition=(7, 8, 9, 10))
    for ms in (6.99, 7, 8, 8.5, 10, 250):
        s.rtd("true", ms)
    assert s.rtd_histograms["1"].counts == [1, 1, 2, 0, 2]


def test_means_and_deviations_like_sipp(tmp_path: Path) -> None:
    """Response times 4, 40 and 56 ms gave SIPp 00:00:00:033000 and 026000 (sample
    deviation, truncated); one call length gave SIPp's NaN string, one RTD 0."""
    s = snapshot(rtd_names=["setup"], call_length_repartition=(100, 200))
    for ms in (4, 40, 56):
        s.rtd("setup", ms)
    s.call_created(outgoing=True)
    s.call_succeeded(140)
    with TraceStatWriter.for_snapshot(tmp_path / "s.csv", s) as writer:
        row = dict(zip(writer.columns, writer.row(s, T0, 101.0), strict=True))
    assert row["ResponseTimesetup(C)"] == "00:00:00:033000"
    assert row["ResponseTimesetupStDev(C)"] == "00:00:00:026000"
    assert row["CallLength(C)"] == "00:00:00:140000"
    assert row["CallLengthStDev(C)"] == SIPP_NAN_DURATION
    assert row["CallLengthRepartition_<200"] == "1"
    s.rtd("other", 5)  # undeclared RTDs are counted (JSON) but add no CSV column
    plain = TraceStatWriter(tmp_path / "p.csv", rtd_names=["setup"], sipp_quirks=False)
    assert "00:00:00:000000" in plain.row(s, T0, 101.0)
    assert SIPP_NAN_DURATION not in plain.row(s, T0, 101.0)
    plain.close()
    assert s.rtd_names == ["setup", "other"]


def test_periodic_reset_keeps_cumulative(tmp_path: Path) -> None:
    s = snapshot(rtd_names=["1"], response_time_repartition=(10,), target_rate=2)
    s.call_created(outgoing=False)
    s.rtd("1", 3)
    s.call_failed("MaxUDPRetrans", 1500)
    s.retransmission(0)
    writer = TraceStatWriter.for_snapshot(tmp_path / "s.csv", s)
    writer.write(s, T0 + timedelta(seconds=2), 102.0)
    s.reset_period(T0 + timedelta(seconds=2), 102.0)
    writer.write(s, T0 + timedelta(seconds=3), 103.5)
    writer.close()
    _, (first, second) = read_csv(tmp_path / "s.csv")
    assert first["FailedMaxUDPRetrans(P)"] == first["FailedMaxUDPRetrans(C)"] == "1"
    assert [first[k] for k in ("CallRate(P)", "TargetRate", "ElapsedTime(C)")] == [
        "0.5",
        "2",
        "00:00:02",
    ]
    assert second["LastResetTime"] == sipp_timestamp(T0 + timedelta(seconds=2))
    assert (second["IncomingCall(P)"], second["IncomingCall(C)"]) == ("0", "1")
    assert (second["Retransmissions(P)"], second["Retransmissions(C)"]) == ("0", "1")
    assert second["ResponseTime1(P)"] == "00:00:00:000000"
    assert second["ResponseTime1(C)"] == "00:00:00:003000"
    assert [second[k] for k in ("ElapsedTime(P)", "CallRate(P)", "CallRate(C)")] == [
        "00:00:01",
        "0",
        "0.285714",
    ]
    assert second["ResponseTimeRepartition1_<10"] == "1"  # cumulative without -periodic_rtd
    s.periodic_repartition = True
    s.reset_period(T0, 104.0)
    assert s.rtd_histograms["1"].counts == [0, 0] and s.current_calls == 0


def test_merge_adds_everything() -> None:
    a = snapshot(rtd_names=["1"], response_time_repartition=(10,), call_length_repartition=(50,))
    b = Snapshot(
        T0 - timedelta(seconds=1),
        99.0,
        rtd_names=["1", "x"],
        response_time_repartition=(10,),
        call_length_repartition=(50,),
    )
    for s, ms in ((a, 4.0), (b, 30.0)):
        s.call_created(outgoing=True)
        s.rtd("1", ms)
        s.message(1)
        s.message(2, "unexpected")
        s.pause_started(3)
        s.counter("c")
        s.call_failed(FailReason.UNEXPECTED_MESSAGE, ms * 10)
    b.out_of_call_message()
    b.call_created(outgoing=False)
    total = Snapshot.merged([a, b])
    assert a.cumulative.outgoing_calls == 1  # inputs untouched
    assert (total.cumulative.outgoing_calls, total.cumulative.incoming_calls) == (2, 1)
    assert total.cumulative.failed_by_reason[FailReason.UNEXPECTED_MESSAGE] == 2
    assert total.periodic.events[Event.OUT_OF_CALL_MSGS] == 1
    assert total.cumulative.counters == {"c": 2}
    rtd = total.cumulative.response_times["1"]
    assert (rtd.count, rtd.min_ms, rtd.max_ms, rtd.mean_ms) == (2, 4.0, 30.0, 17.0)
    assert total.rtd_histograms["1"].counts == [1, 1]
    assert total.call_length_histogram is not None
    assert total.call_length_histogram.counts == [1, 1]
    assert total.steps[1].messages == total.steps[2].unexpected == total.steps[3].sessions == 2
    assert (total.start_mono, total.rtd_names, total.current_calls) == (99.0, ["1", "x"], 1)
    with pytest.raises(ValueError, match="repartition"):
        a.merge(snapshot(response_time_repartition=(5,)))


def test_json_round_trip(tmp_path: Path) -> None:
    s = snapshot(
        rtd_names=["1", "setup"],
        response_time_repartition=(10, 20),
        call_length_repartition=(100,),
        counter_names=["c"],
        target_rate=10,
    )
    s.call_created(outgoing=True)
    s.rtd("setup", 12.5)
    s.message(0, "retrans")
    s.message(1, "timeout")
    s.call_failed(FailReason.TIMEOUT_ON_RECV, 700)
    s.reset_period(T0 + timedelta(seconds=1), 101.0)
    s.call_created(outgoing=False)
    s.call_succeeded(50)
    s.event("Warnings", 2)
    data = stats_json(s, T0 + timedelta(seconds=2), 102.0)
    assert data["schema"] == "sipwright.sipp-stats/1"
    assert data["call_rate"] == {"periodic": 1.0, "cumulative": 1.0}
    assert data["elapsed_ms"] == {"periodic": 1000, "cumulative": 2000}
    assert data["cumulative"]["failed_by_reason"]["TimeoutOnRecv"] == 1
    assert data["cumulative"]["call_length"]["stdev_ms"] == pytest.approx(459.619, abs=1e-3)
    assert data["repartitions"]["response_time"]["by_rtd"]["setup"] == [0, 1, 0]
    write_stats_json(tmp_path / "s.json", s, None, None)
    again = load_stats_json(json.loads((tmp_path / "s.json").read_text()))
    assert again == s
    assert stats_json(again) == stats_json(s)
    with pytest.raises(ValueError, match="schema"):
        load_stats_json({"schema": "other"})


# --------------------------------------------------------------------- log formats


def test_error_log_format(tmp_path: Path) -> None:
    log = ErrorLog(tmp_path / "e.log")
    assert not log.path.exists()  # SIPp creates it on the first error only
    log.write("first", T0)
    log.write("second", T0 + timedelta(seconds=1))
    log.close()
    assert (tmp_path / "e.log").read_text() == (
        "The following events occurred:\n"
        "2026-11-27\t01:05:27.142836\t1795741527.142836: first"
        "2026-11-27\t01:05:28.142836\t1795741528.142836: second"
    )


def test_message_log_framing(tmp_path: Path) -> None:
    """Framing lines as in a real SIPp log, including the "Unexpected" frame."""
    data = b"SIP/2.0 486 Busy Here\r\nContent-Length: 0\r\n\r\n"
    with MessageLog(tmp_path / "m.log") as log:
        log.write("sent", "udp", ("127.0.0.1:5060", "127.0.0.1:5061"), b"X\r\n", T0)
        log.write("received", "TCP", None, data, T0)
        log.write_unexpected("UDP", data)
    sep = b"-" * 47
    frames = [
        b" 2026-11-27 01:05:27.142836\nUDP message sent (3 bytes):\n\nX\r\n\n",
        b" 2026-11-27 01:05:27.142836\nTCP message received [44] bytes :\n\n" + data + b"\n",
        b"\nUnexpected UDP message received:\n\n" + data + b"\n",
    ]
    assert (tmp_path / "m.log").read_bytes() == b"".join(sep + frame for frame in frames)


def test_screen_without_repartitions(tmp_path: Path) -> None:
    s = snapshot(counter_names=["n"])
    s.call_created(outgoing=False)
    steps = [
        ScreenStep(0, "recv", "INVITE"),
        ScreenStep(1, "pause", pause_uniform(0, 60)),
        ScreenStep(2, "nop", display="hello"),
    ]
    ScreenWriter(tmp_path / "s.log").write(s, steps, ScreenInfo(15060), T0, 102.0)
    text = (tmp_path / "s.log").read_text()
    assert "  15060      2.00 s            1  UDP\n" in text
    assert (
        "  ----------> INVITE             0         0         0         0               \n" in text
    )
    assert "  [ 0ms/60ms] Pause              0                             0        \n" in text
    assert "\n hello\n" in text and "  Counter n              |        0 " in text
    assert f"\n{'    <No repartion defined>':<79}\n" in text


# ------------------------------------------------------------- against real SIPp


@dataclass
class Run:
    tmp: Path
    uac: peers.SippPeer
    uas: peers.SippPeer | None = None
    rtt: dict[str, list[tuple[str, int]]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def failing_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The built-in uac calling a silent port: one INVITE retransmission, then the
    -recv_timeout (700 ms) aborts the call (FailedTimeoutOnRecv)."""
    peers.require("sipp")
    tmp = tmp_path_factory.mktemp("sipp_fail")
    silent = peers.free_port("udp")
    extra = ["-recv_timeout", "700", "-trace_screen", "-screen_file", str(tmp / "screen.log")]
    uac = peers.sipp_uac(
        f"{peers.HOST}:{silent}", tmp_path=tmp, calls=1, extra=extra, trace_msg=True
    )
    try:
        assert uac.wait_exit(20) == peers.SIPP_SOME_CALLS_FAILED, uac.log_tail()
    finally:
        uac.stop()
    return Run(tmp, uac)


@pytest.mark.peers
def test_failing_run_csv_matches_sipp(failing_run: Run, tmp_path: Path) -> None:
    assert failing_run.uac.stat_file is not None
    header, rows = read_csv(failing_run.uac.stat_file)
    assert header == trace_stat_columns(["1"], BUILTIN_REPS)
    start, start_mono = sipp_time(rows[0]["StartTime"])
    s = Snapshot(
        start,
        start_mono,
        rtd_names=["true"],
        target_rate=10,
        response_time_repartition=BUILTIN_REPS.response_time,
        call_length_repartition=BUILTIN_REPS.call_length,
    )

    def events() -> None:
        s.call_created(outgoing=True)
        s.message(0)
        s.retransmission(0)
        s.message(1, "timeout")
        s.warning()
        s.call_failed(FailReason.TIMEOUT_ON_RECV, duration_ms(rows[1]["CallLength(C)"]))

    replay(rows, s, tmp_path / "ours.csv", events)
    assert rows[1]["CallLengthStDev(C)"] == SIPP_NAN_DURATION  # one call: SIPp's NaN

    # -trace_err, byte for byte
    error_text = failing_run.uac.errors()
    entries = re.findall(r"(\S+\t\S+\t\S+): (Call-Id: (\S+), .*?aborting call)", error_text)
    assert len(entries) == 1, error_text
    stamp, message, call_id = entries[0]
    assert message == recv_timeout_error(call_id, "Basic Sipstone UAC", 1, None)
    with ErrorLog(tmp_path / "err.log") as log:
        log.write(message, sipp_time(stamp)[0])
    assert (tmp_path / "err.log").read_text() == error_text

    # -trace_screen, line for line
    steps = [
        ScreenStep(0, "send", "INVITE", timeout_column=True),
        ScreenStep(1, "recv", "100"),
        ScreenStep(2, "recv", "180"),
        ScreenStep(3, "recv", "183"),
        ScreenStep(4, "recv", "200", rtd="true"),
        ScreenStep(5, "send", "ACK"),
        ScreenStep(6, "pause", pause_fixed(0)),
        ScreenStep(7, "send", "BYE", timeout_column=True),
        ScreenStep(8, "recv", "200", crlf=True),
    ]
    screen = (failing_run.tmp / "screen.log").read_text()
    compare_screen(screen, s, steps, call_limit=1, last_error=message)


def _xml(name: str, body: str) -> str:
    head = '<?xml version="1.0" encoding="ISO-8859-1" ?>'
    return f'{head}\n<scenario name="{name}">\n{body}</scenario>\n'


def _send(attrs: str, first_line: str, *headers: str) -> str:
    lines = "".join(f"      {line}\n" for line in (first_line, *headers, "Content-Length: 0"))
    return f"  <send{attrs}><![CDATA[\n\n{lines}\n    ]]></send>\n"


def _request(method: str, cseq: int, attrs: str = "") -> str:
    tag = "" if method == "INVITE" else "[peer_tag_param]"
    return _send(
        attrs,
        f"{method} sip:[service]@[remote_ip]:[remote_port] SIP/2.0",
        "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]",
        "From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]",
        f"To: [service] <sip:[service]@[remote_ip]:[remote_port]>{tag}",
        "Call-ID: [call_id]",
        f"CSeq: {cseq} {method}",
        "Max-Forwards: 70",
    )


def _response(status: str, attrs: str = "", tag: str = ";tag=[pid]SIPpTag01[call_number]") -> str:
    headers = ("[last_Via:]", "[last_From:]", f"[last_To:]{tag}", "[last_Call-ID:]")
    return _send(attrs, f"SIP/2.0 {status}", *headers, "[last_CSeq:]")


# UAC: pause of 100 ms x call number (call lengths ~100/200/300 ms), two named RTDs
UAC_XML = _xml(
    "sipwright stats uac",
    """  <nop><action>
    <assignstr assign_to="s" value="[call_number]"/>
    <todouble assign_to="d" variable="s"/>
    <multiply assign_to="d" value="100"/>
  </action></nop>
"""
    + _request("INVITE", 1, ' retrans="500" start_rtd="setup"')
    + """  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rtd="setup" start_rtd="2"/>
"""
    + _request("ACK", 1)
    + '  <pause variable="d"/>\n'
    + _request("BYE", 2, ' retrans="500"')
    + """  <recv response="200" rtd="2" crlf="true"/>
  <ResponseTimeRepartition value="1, 2, 5, 10"/>
  <CallLengthRepartition value="150, 250"/>
""",
)
# UAS: a user counter, RTD "true" from the call start, no repartition
UAS_XML = _xml(
    "sipwright stats uas",
    '  <recv request="INVITE" counter="invites" crlf="true"/>\n'
    + _response("180 Ringing")
    + '  <pause milliseconds="5"/>\n'
    + _response("200 OK", ' retrans="500"')
    + '  <recv request="ACK" rtd="true"/>\n  <recv request="BYE"/>\n'
    + _response("200 OK", tag=""),
)

UAC_STEPS = [
    ScreenStep(0, "nop"),
    ScreenStep(1, "send", "INVITE", start_rtd="setup", timeout_column=True),
    ScreenStep(2, "recv", "100"),
    ScreenStep(3, "recv", "180"),
    ScreenStep(4, "recv", "200", rtd="setup", start_rtd="2"),
    ScreenStep(5, "send", "ACK"),
    ScreenStep(6, "pause", pause_variable("d")),
    ScreenStep(7, "send", "BYE", timeout_column=True),
    ScreenStep(8, "recv", "200", rtd="2", crlf=True),
]
UAS_STEPS = [
    ScreenStep(0, "recv", "INVITE", crlf=True),
    ScreenStep(1, "send", "180"),
    ScreenStep(2, "pause", pause_fixed(5)),
    ScreenStep(3, "send", "200", timeout_column=True),
    ScreenStep(4, "recv", "ACK", rtd="true"),
    ScreenStep(5, "recv", "BYE"),
    ScreenStep(6, "send", "200"),
]


@pytest.fixture(scope="module")
def call_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Three calls, SIPp UAC -> SIPp UAS, pauses of 100/200/300 ms (call lengths)."""
    peers.require("sipp")
    tmp = tmp_path_factory.mktemp("sipp_calls")
    (tmp / "uac.xml").write_text(UAC_XML)
    (tmp / "uas.xml").write_text(UAS_XML)
    port = peers.free_sip_port()

    def extra(name: str) -> list[str]:
        return [
            "-trace_rtt",
            "-rtt_freq",
            "1",
            "-trace_screen",
            "-screen_file",
            str(tmp / f"{name}_screen.log"),
        ]

    uas = peers.sipp_uas(
        port,
        tmp_path=tmp,
        calls=3,
        auto_answer=False,
        scenario=tmp / "uas.xml",
        extra=extra("uas"),
        name="uas",
        trace_msg=True,
    )
    try:
        uac = peers.sipp_uac(
            f"{peers.HOST}:{port}",
            tmp_path=tmp,
            calls=3,
            rate=5,
            scenario=tmp / "uac.xml",
            extra=extra("uac"),
            name="uac",
            trace_msg=True,
        )
        try:
            assert uac.wait_exit(20) == peers.SIPP_ALL_CALLS_OK, uac.log_tail()
            assert uas.wait_exit(10) == peers.SIPP_ALL_CALLS_OK, uas.log_tail()
        finally:
            uac.stop()
    finally:
        uas.stop()
    run = Run(tmp, uac, uas)
    for side in ("uac", "uas"):
        (rtt_file,) = tmp.glob(f"{side}_*_rtt.csv")
        lines = rtt_file.read_text().splitlines()[1:]
        run.rtt[side] = [(line.split(";")[2], int(line.split(";")[1])) for line in lines]
    return run


@pytest.mark.peers
@pytest.mark.parametrize("side", ["uac", "uas"])
def test_call_run_files_match_sipp(call_run: Run, side: str, tmp_path: Path) -> None:
    peer = call_run.uac if side == "uac" else call_run.uas
    assert peer is not None and peer.stat_file is not None and peer.message_file is not None
    header, rows = read_csv(peer.stat_file)
    if side == "uac":
        reps, rtds, counters = Repartitions((1, 2, 5, 10), (150, 250)), ["setup", "2"], []
    else:
        reps, rtds, counters = Repartitions(), ["1"], ["invites"]
    assert header == trace_stat_columns(rtds, reps, counters)

    # -trace_msg, byte for byte
    raw = peer.message_file.read_bytes()
    frames = parse_message_log(raw)
    assert {f.direction for f in frames} == {"sent", "received"}
    with MessageLog(tmp_path / "msg.log") as log:
        for f in frames:
            wall = datetime.strptime(f.stamp, "%Y-%m-%d %H:%M:%S.%f")
            log.write(f.direction, f.transport, None, f.data, wall)
    assert (tmp_path / "msg.log").read_bytes() == raw

    # -trace_stat rows: same events, same numbers
    start, start_mono = sipp_time(rows[0]["StartTime"])
    s = Snapshot(
        start,
        start_mono,
        rtd_names=rtds,
        counter_names=counters,
        response_time_repartition=reps.response_time,
        call_length_repartition=reps.call_length,
        target_rate=5 if side == "uac" else 10,
    )
    lengths = sorted(call_lengths(frames))
    assert [round(x, -2) for x in lengths] == [100, 200, 300]

    def events() -> None:
        for name, ms in call_run.rtt[side]:
            s.rtd(name, ms)
        for length in lengths:
            s.call_created(outgoing=side == "uac")
            if counters:
                s.counter("invites")
            s.call_succeeded(length)

    replay(rows, s, tmp_path / "ours.csv", events)

    # -trace_screen: client (UAC) or server (UAS) layout, repartition screens
    steps = UAC_STEPS if side == "uac" else UAS_STEPS
    for step in steps:
        for _ in range(3):
            if step.kind == "pause":
                s.pause_started(step.index)
                s.pause_ended(step.index)
            elif step.kind != "nop" and step.label != "100":
                s.message(step.index)
    screen = (call_run.tmp / f"{side}_screen.log").read_text()
    compare_screen(screen, s, steps, call_limit=3, rate=5 if side == "uac" else 10)


def test_worker_rows_merge_per_dump_and_a_finished_worker_counts_quietly(
    tmp_path: Path,
) -> None:
    """Two workers dump at start and every period; the second ends after its first
    period.  Row n merges both workers' row n; later rows carry the finished worker's
    totals with an empty period, so every call is in exactly one period."""
    start = datetime(2026, 1, 1, 12, 0, 0)
    rows = StatRows(tmp_path / "stat.csv", 2)

    def dump(snapshot: Snapshot, second: int) -> StatRow:
        row = StatRow(copy.deepcopy(snapshot), start + timedelta(seconds=second), second)
        snapshot.reset_period(row.wall, row.mono)
        return row

    workers = [Snapshot(start_wall=start, start_mono=0.0) for _ in range(2)]
    for index, snapshot in enumerate(workers):
        rows.add(index, dump(snapshot, 0))
    rows.flush()
    for second, counts in ((1, (3, 2)), (2, (4, 0)), (3, (1, 0))):
        for index, snapshot in enumerate(workers):
            if second > 1 and index == 1:
                continue  # worker 1 ended with its dump at second 1
            for _ in range(counts[index]):
                snapshot.call_created(outgoing=True)
                snapshot.call_succeeded(length_ms=10.0)
            rows.add(index, dump(snapshot, second))
        if second == 1:
            rows.finished(1)
        rows.flush()
    assert rows.written == 4  # nothing waits for the finished worker
    rows.close()
    lines = (tmp_path / "stat.csv").read_text().splitlines()
    table = [dict(zip(lines[0].split(";"), line.split(";"), strict=False)) for line in lines[1:]]
    assert [row["SuccessfulCall(P)"] for row in table] == ["0", "5", "4", "1"]
    assert [row["SuccessfulCall(C)"] for row in table] == ["0", "5", "9", "10"]
