"""The load engine around ``sipwright sipp``: worker processes whose statistics
merge, graceful interrupts that write complete reports, the Prometheus endpoint.

Functional only (against SIPp's uas on loopback): no timing is asserted.
"""

from __future__ import annotations

import json
import signal
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

import peers

pytestmark = pytest.mark.peers


@pytest.fixture
def uas(tmp_path: Path) -> Any:
    port = peers.free_sip_port()
    server = peers.sipp_uas(port, tmp_path=tmp_path, name="uas")
    try:
        yield port
    finally:
        server.stop()


def _totals_add_up(report: dict[str, Any]) -> dict[str, int]:
    totals: dict[str, int] = report["totals"]
    assert totals["calls_started"] == (
        totals["calls_succeeded"] + totals["calls_failed"] + totals["calls_aborted"]
    ), totals
    assert totals["calls_in_flight"] == 0, totals
    return totals


def test_two_workers_give_one_runs_numbers(uas: int, tmp_path: Path) -> None:
    process = peers.start_sipwright_sipp(
        [
            f"127.0.0.1:{uas}",
            "-sn",
            "uac",
            "-i",
            "127.0.0.1",
            "-r",
            "100",
            "-m",
            "201",
            "-d",
            "0",
            "--workers",
            "2",
            "-trace_stat",
            "-stf",
            "stat.csv",
            "-fd",
            "1",
            "--report-json",
            "run.json",
            "--report-html",
            "run.html",
            "--stats-json",
            "s.json",
        ],
        tmp_path,
    )
    code, output = peers.finish(process)
    assert code == 0, output
    assert "201 calls, 201 successful, 0 failed (exit 0, 2 workers)" in output
    report = json.loads((tmp_path / "run.json").read_text())
    assert report["run"]["workers"] == 2
    totals = _totals_add_up(report)
    assert totals["calls_succeeded"] == 201
    assert totals["responses"] == 3 * 201  # 180, 200 to the INVITE, 200 to the BYE
    assert report["latencies"]["setup"]["count"] == 201
    assert report["latencies"]["pdd"]["count"] == 201
    steps = {step["index"]: step for step in report["steps"]}
    assert steps[0]["sent"] == 201  # the INVITE, merged over both workers
    # -trace_stat: a merged row per dump (start, every -fd 1 s, end) as SIPp writes
    # them; each success falls in exactly one period, and the totals only grow.
    lines = (tmp_path / "stat.csv").read_text().splitlines()
    rows = [dict(zip(lines[0].split(";"), line.split(";"), strict=False)) for line in lines[1:]]
    assert len(rows) >= 3, lines  # ~2 s of calls: start, at least one periodic, end
    assert sum(int(row["SuccessfulCall(P)"]) for row in rows) == 201
    cumulative = [int(row["SuccessfulCall(C)"]) for row in rows]
    assert cumulative == sorted(cumulative) and cumulative[0] == 0
    assert rows[-1]["SuccessfulCall(C)"] == "201"
    assert rows[-1]["OutgoingCall(C)"] == "201"
    stats = json.loads((tmp_path / "s.json").read_text())
    assert stats["cumulative"]["successful_calls"] == 201
    assert "<svg" in (tmp_path / "run.html").read_text()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigint_stops_gracefully_and_writes_every_report(
    uas: int, tmp_path: Path, workers: str
) -> None:
    # Calls last 2 s: at the interrupt some have ended and many are still up.
    process = peers.start_sipwright_sipp(
        [
            f"127.0.0.1:{uas}",
            "-sn",
            "uac",
            "-i",
            "127.0.0.1",
            "-r",
            "100",
            "-m",
            "100000",
            "-d",
            "2000",
            "--workers",
            workers,
            "--report-json",
            "run.json",
            "--report-html",
            "run.html",
            "-trace_stat",
            "-stf",
            "stat.csv",
        ],
        tmp_path,
    )
    deadline = time.monotonic() + 30
    while not (tmp_path / "stat.csv").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(3.0)  # let calls end and others start
    process.send_signal(signal.SIGINT)
    code, output = peers.finish(process)
    assert code == 0, output
    report = json.loads((tmp_path / "run.json").read_text())
    assert report["run"]["interrupted"] is True
    totals = _totals_add_up(report)
    assert totals["calls_succeeded"] > 0, totals
    assert totals["calls_aborted"] > 0, totals
    assert totals["calls_failed"] == 0, totals
    rows = (tmp_path / "stat.csv").read_text().splitlines()
    last = dict(zip(rows[0].split(";"), rows[-1].split(";"), strict=False))
    assert int(last["SuccessfulCall(C)"]) == totals["calls_succeeded"]
    assert (tmp_path / "run.html").stat().st_size > 0


def test_prometheus_endpoint_scrapes_during_a_run(uas: int, tmp_path: Path) -> None:
    port = peers.free_port("tcp")
    process = peers.start_sipwright_sipp(
        [
            f"127.0.0.1:{uas}",
            "-sn",
            "uac",
            "-i",
            "127.0.0.1",
            "-r",
            "50",
            "-m",
            "150",
            "-d",
            "0",
            "--prometheus-port",
            str(port),
            "--no-live",
        ],
        tmp_path,
    )
    try:
        peers.wait_for_bound(port, "tcp", 20)
        started = 0.0
        deadline = time.monotonic() + 20
        while started == 0 and time.monotonic() < deadline:
            time.sleep(0.5)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as page:
                text = page.read().decode()
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if sample.name == "sipwright_calls_started_total":
                        started = sample.value
        assert started > 0, text
    finally:
        code, output = peers.finish(process)
    assert code == 0, output


def test_uas_workers_share_one_port(tmp_path: Path) -> None:
    """--workers 2 on a UAS: both bind the port (SO_REUSEPORT); two SIPp clients
    from different ports are spread by the kernel; the coordinator adds them up."""
    port = peers.free_sip_port()
    server = peers.start_sipwright_sipp(
        [
            "-sn",
            "uas",
            "-i",
            "127.0.0.1",
            "-p",
            str(port),
            "-m",
            "40",
            "--workers",
            "2",
            "--report-json",
            "uas.json",
            "-trace_stat",
            "-stf",
            "uas.csv",
        ],
        tmp_path,
    )
    clients = []
    try:
        peers.wait_for_bound(port, "udp", 20)
        time.sleep(1.0)  # both workers bound
        for number in range(2):
            clients.append(
                peers.sipp_uac(
                    f"127.0.0.1:{port}", tmp_path=tmp_path, calls=20, rate=20,
                    name=f"uac{number}", timeout=30,
                )
            )  # fmt: skip
        for client in clients:
            assert client.wait_exit(40) == 0, client.log_tail()
        code, output = peers.finish(server)
    finally:
        for client in clients:
            client.stop()
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert code == 0, output
    assert "40 calls, 40 successful, 0 failed (exit 0, 2 workers)" in output
    totals = _totals_add_up(json.loads((tmp_path / "uas.json").read_text()))
    assert totals["calls_succeeded"] == 40
