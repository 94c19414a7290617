"""The live display: the rich panel (rendered to a string) and the plain-line mode."""

from __future__ import annotations

import io

from rich.console import Console

from sipwright.load.live import LiveDisplay, sparkline
from sipwright.load.metrics import RunMetrics


def busy_run() -> RunMetrics:
    """70 s of calls, 1..10 a second (a sawtooth); then one rejected call."""
    m = RunMetrics(start=0.0)
    for second in range(70):
        for i in range(second % 10 + 1):
            t = second + i / 20
            m.call_started(t)
            m.response(t, 100)
            m.response(t + 0.01, 200)
            m.call_succeeded(t + 0.02, setup_ms=12.5, length_ms=20.0)
    m.call_started(69.4)
    m.response(69.5, 486)
    m.call_failed(69.5, "CallRejected", 3.0)
    m.call_started(69.7)  # still in flight
    m.retransmission(69.6)
    m.latency("pdd", 7.25, 69.0)
    return m


def terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=120, color_system=None), out


def test_sparkline() -> None:
    assert sparkline([]) == ""
    assert sparkline([0, 0]) == "  "
    assert sparkline([0, 1, 2, 4, 8]) == " ▁▂▄█"


def test_panel_shows_the_numbers() -> None:
    console, out = terminal()
    with LiveDisplay(console, target_rate=10, total_calls=1000) as display:
        assert display.interactive
        display.update(busy_run(), now=70.2)
    text = out.getvalue()
    assert "sipwright load" in text
    assert "Elapsed             70.2 s" in text
    # second 69 started 10 + 2 calls
    assert "12.0/s (target 10/s)" in text
    assert "started 387  in flight 1  succeeded 385  failed 1" in text
    assert "Retransmissions     1  timeouts 0" in text
    assert "100: 385  200: 385  486: 1" in text
    assert "CallRejected: 1" in text
    assert "386/1,000 (39%)" in text
    # calls per second over the last 60 complete seconds (10..69): the sawtooth
    assert "Calls/s, last 60 s" in text
    assert sparkline([s % 10 + 1 for s in range(10, 69)] + [12]) in text
    rows = {line.split()[1]: line.split()[2:7] for line in text.splitlines() if "│   " in line}
    assert rows["setup"] == ["385", "12.5", "12.5", "12.5", "12.5"]
    assert rows["pdd"] == ["1", "7.25", "7.25", "7.25", "7.25"]
    assert rows["call_length"][0] == "386"


def test_panel_without_target_or_total() -> None:
    console, out = terminal()
    display = LiveDisplay(console)
    display.update(RunMetrics(start=5.0), now=5.5)
    display.stop()
    text = out.getvalue()
    assert "0.0/s" in text and "target" not in text
    assert "Progress" not in text
    assert "latency" not in text


def test_plain_lines_when_not_a_terminal() -> None:
    out = io.StringIO()
    display = LiveDisplay(Console(file=out, width=80), target_rate=10, total_calls=1000)
    assert not display.interactive
    metrics = busy_run()
    for now in (70.2, 70.4, 70.9, 71.3, 72.0):
        display.update(metrics, now)
    display.stop(metrics, now=72.5)
    lines = out.getvalue().splitlines()
    assert [line.split("]")[0] for line in lines] == ["[   70.2s", "[   71.3s", "[   72.5s"]
    first = lines[0]
    assert "rate 12.0/s (target 10)" in first
    assert "started 387  in-flight 1  ok 385  failed 1  retrans 1" in first
    assert "setup p50/p90/p99 12.5/12.5/12.5 ms" in first
    assert "100:385 200:385 486:1" in first
    assert first.endswith("done 386/1,000 (39%)")
    assert "\x1b" not in out.getvalue()  # no escape codes in logs
    assert len(first) > 80  # one line per report, not wrapped at the console width


def test_plain_interval_and_target_change() -> None:
    out = io.StringIO()
    display = LiveDisplay(Console(file=out), plain_interval=5.0)
    metrics = RunMetrics(start=0.0)
    for tick in range(41):  # 10 s at 4 updates a second
        now = tick / 4
        metrics.call_started(now)
        display.update(metrics, now, target_rate=4.0)
    lines = out.getvalue().splitlines()
    assert [line.split("]")[0] for line in lines] == ["[    0.0s", "[    5.0s", "[   10.0s"]
    assert "rate 4.0/s (target 4)" in lines[-1]
    assert "started 41" in lines[-1]
