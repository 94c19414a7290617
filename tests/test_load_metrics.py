"""RunMetrics: counting, per-second series, transport and exact merging across workers."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from hdrh.histogram import HdrHistogram
from hypothesis import given, settings
from hypothesis import strategies as st

from sipwright.load.histograms import (
    HIGHEST_US,
    SparseHistogram,
    count_at_or_below,
    histogram_percentiles,
    new_histogram,
    to_us,
)
from sipwright.load.metrics import RunMetrics
from sipwright.load.timeseries import status_class

PERCENTILES = (0.0, 1.0, 50.0, 90.0, 99.0, 99.9, 100.0)
latencies_us = st.lists(st.integers(min_value=0, max_value=HIGHEST_US), min_size=1, max_size=60)


@given(latencies_us)
@settings(max_examples=40, deadline=None)
def test_percentiles_match_hdrhistogram(values: list[int]) -> None:
    histogram = new_histogram()
    sparse = SparseHistogram()
    for value in values:
        histogram.record_value(value)
        sparse.record(value)
    expected = {p: histogram.get_value_at_percentile(p) for p in PERCENTILES}
    assert histogram_percentiles(histogram, PERCENTILES) == expected
    assert sparse.percentiles(PERCENTILES) == expected
    assert sparse.total == len(values)


def test_empty_histograms_give_zero() -> None:
    assert histogram_percentiles(new_histogram(), (50.0,)) == {50.0: 0}
    assert SparseHistogram().percentiles((50.0, 99.0)) == {50.0: 0, 99.0: 0}
    assert count_at_or_below(new_histogram(), [1000, 5000]) == [0, 0]


def test_count_at_or_below_is_cumulative() -> None:
    histogram = new_histogram()
    for us in (500, 1_500, 1_500, 20_000, 2_000_000):
        histogram.record_value(us)
    assert count_at_or_below(histogram, [1_000, 2_000, 50_000, 10_000_000]) == [1, 3, 4, 5]


def test_to_us_rounds_and_clamps() -> None:
    assert to_us(1.2344) == 1234
    assert to_us(-5.0) == 0
    assert to_us(10 * 3_600_000.0) == HIGHEST_US


def test_status_class() -> None:
    assert [status_class(c) for c in (100, 180, 200, 302, 486, 503, 603)] == [
        "1xx",
        "1xx",
        "2xx",
        "3xx",
        "4xx",
        "5xx",
        "6xx",
    ]
    assert status_class(99) == "1xx"
    assert status_class(799) == "6xx"


def sample_run() -> RunMetrics:
    """Three calls over three seconds: two succeed, one is rejected with 486."""
    m = RunMetrics(start=100.0)
    m.call_started(100.1)
    m.request(100.1, "INVITE")
    m.step(0, "sent")
    m.response(100.2, 100)
    m.response(100.3, 180)
    m.response(100.4, 200)
    m.latency("pdd", 200.0, now=100.3)
    m.call_started(100.5)
    m.retransmission(100.9)
    m.step(0, "retrans")
    m.call_started(101.2)
    m.response(101.3, 486)
    m.call_failed(101.3, "CallRejected", 100.0)
    m.concurrent(101.5, 2)
    m.call_succeeded(102.1, setup_ms=300.0, length_ms=2000.0)
    m.call_succeeded(102.6, setup_ms=None, length_ms=2100.0)
    m.timeout(102.7)
    m.step(1, "timeout")
    return m


def test_counts_and_series() -> None:
    m = sample_run()
    assert (m.calls_started, m.calls_succeeded, m.calls_failed, m.calls_in_flight) == (3, 2, 1, 0)
    assert m.responses == {100: 1, 180: 1, 200: 1, 486: 1}
    assert m.requests == {"INVITE": 1}
    assert m.failures == {"CallRejected": 1}
    assert m.steps == {0: [1, 0, 1, 0, 0], 1: [0, 0, 0, 1, 0]}
    assert m.last_second == 2
    rows = [(s, b.started, b.succeeded, b.failed, b.concurrent, n) for s, b, n in m.dense_seconds()]
    assert rows == [(0, 2, 0, 0, None, 2), (1, 1, 0, 1, 2, 2), (2, 0, 2, 0, None, 0)]
    assert m.seconds[0].by_class() == {"1xx": 2, "2xx": 1, "3xx": 0, "4xx": 0, "5xx": 0, "6xx": 0}
    assert m.seconds[0].retransmissions == 1
    assert m.seconds[2].timeouts == 1
    assert m.seconds[2].latency["setup"].total == 1
    assert m.peak_concurrent() == 2


def test_summary_numbers() -> None:
    summary = sample_run().summary(now=104.0)
    assert summary["duration_s"] == pytest.approx(4.0)
    assert summary["call_rate"] == pytest.approx(0.75)
    assert summary["success_ratio"] == pytest.approx(2 / 3)
    assert summary["retransmissions"] == 1
    assert summary["timeouts"] == 1
    assert summary["responses"] == 4
    setup = summary["latencies"]["setup"]
    assert setup["count"] == 1
    assert setup["min_ms"] == setup["max_ms"] == setup["mean_ms"] == 300.0
    assert setup["p50_ms"] == pytest.approx(300.0, rel=1e-3)
    length = summary["latencies"]["call_length"]
    assert (length["count"], length["min_ms"], length["max_ms"]) == (3, 100.0, 2100.0)
    assert length["mean_ms"] == pytest.approx(4200.0 / 3)
    assert set(summary["latencies"]) == {"setup", "call_length", "pdd"}


def test_unknown_step_event_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown step event 'lost'"):
        RunMetrics(0.0).step(2, "lost")


def test_round_trip_through_json() -> None:
    m = sample_run()
    data = json.loads(json.dumps(m.to_dict()))
    back = RunMetrics.from_dict(data)
    assert back.to_dict() == m.to_dict()
    assert back.summary() == m.summary()


def test_incremental_updates_rebuild_the_whole_series() -> None:
    """A worker sends, each second, only the seconds from the one before its last
    sent on; the coordinator's copy ends up equal to the worker's own."""
    worker = RunMetrics(0.0)
    coordinator: RunMetrics | None = None
    since = 0
    sizes = []
    for second in range(30):
        for n in range(10):
            now = second + n / 10
            worker.call_started(now)
            worker.call_succeeded(now + 0.05, setup_ms=5.0 + n, length_ms=50.0)
            worker.concurrent(now, n)
        data = json.loads(json.dumps(worker.to_dict(seconds_from=since)))
        sizes.append(len(data["seconds"]))
        coordinator = RunMetrics.from_update(data, coordinator)
        since = max(0, worker.last_second - 1)
    assert coordinator is not None
    assert coordinator.to_dict() == worker.to_dict()
    assert max(sizes[2:]) <= 3  # messages stay small however long the run


def test_recent_view_keeps_the_totals_and_the_last_seconds() -> None:
    m = sample_run()
    view = m.recent(1)
    assert sorted(view.seconds) == [1, 2]
    assert view.summary()["calls_started"] == 3 and m.last_second == 2
    assert sorted(m.seconds) == [0, 1, 2]  # the original is untouched
    merged = RunMetrics.merged([view, m.recent(0)])
    assert merged.calls_started == 6 and sorted(merged.seconds) == [1, 2]


def test_from_dict_refuses_other_formats() -> None:
    with pytest.raises(ValueError, match=r"not sipwright\.run-metrics version 1"):
        RunMetrics.from_dict({"format": "something", "version": 1})


def test_merge_aligns_series_by_start() -> None:
    early = RunMetrics(start=10.0)
    early.call_started(10.5)
    late = RunMetrics(start=12.0)
    late.call_started(12.5)
    late.call_succeeded(13.5, 100.0, 1000.0)
    merged = RunMetrics.merged([late, early])
    assert merged.start == 10.0
    assert {s: b.started for s, b in merged.seconds.items()} == {0: 1, 2: 1, 3: 0}
    assert merged.seconds[3].succeeded == 1
    # the inputs are untouched
    assert late.start == 12.0 and set(late.seconds) == {0, 1}


# ------------------------------------------------------------ exact merge (property)
# Concurrency samples are left out here: each worker samples its own calls, so their
# sum is the run's value (test_merged_concurrency_samples_add_up), not one recorder's.


@dataclass(frozen=True)
class Ev:
    worker: int
    kind: str
    at: float
    value: float
    code: int


events = st.lists(
    st.builds(
        Ev,
        worker=st.integers(0, 2),
        kind=st.sampled_from(
            [
                "start",
                "ok",
                "ok_nosetup",
                "fail",
                "abort",
                "response",
                "request",
                "retrans",
                "timeout",
                "latency",
                "step",
            ]
        ),
        at=st.floats(min_value=0.0, max_value=6.0, allow_nan=False),
        value=st.floats(min_value=0.0, max_value=5_000_000.0, allow_nan=False),
        code=st.sampled_from([100, 180, 200, 404, 486, 503, 603]),
    ),
    max_size=80,
)


def apply(m: RunMetrics, ev: Ev) -> None:
    now = 50.0 + ev.at
    if ev.kind == "start":
        m.call_started(now)
    elif ev.kind == "ok":
        m.call_succeeded(now, ev.value / 10, ev.value)
    elif ev.kind == "ok_nosetup":
        m.call_succeeded(now, None, ev.value)
    elif ev.kind == "fail":
        m.call_failed(now, ("CallRejected", "MaxUDPRetrans")[ev.code % 2], ev.value)
    elif ev.kind == "abort":
        m.call_aborted(now)
    elif ev.kind == "response":
        m.response(now, ev.code)
    elif ev.kind == "request":
        m.request(now, ("INVITE", "ACK", "BYE")[ev.code % 3])
    elif ev.kind == "retrans":
        m.retransmission(now)
    elif ev.kind == "timeout":
        m.timeout(now)
    elif ev.kind == "latency":
        m.latency(("pdd", "rtd:1", "setup")[ev.code % 3], ev.value, now)
    else:
        m.step(ev.code % 4, ("sent", "recv", "retrans", "timeout", "unexpected")[ev.code % 5])


@given(events)
@settings(max_examples=60, deadline=None)
def test_merged_workers_equal_one_recorder(evs: list[Ev]) -> None:
    single = RunMetrics(start=50.0)
    workers = [RunMetrics(start=50.0) for _ in range(3)]
    for ev in evs:
        apply(single, ev)
        apply(workers[ev.worker], ev)
    shipped = [RunMetrics.from_dict(json.loads(json.dumps(w.to_dict()))) for w in workers]
    merged = RunMetrics.merged(shipped)
    assert merged.to_dict() == single.to_dict()
    assert merged.summary(now=60.0) == single.summary(now=60.0)
    for second, bucket in single.seconds.items():
        for name, histogram in bucket.latency.items():
            assert merged.seconds[second].latency[name].percentiles(PERCENTILES) == (
                histogram.percentiles(PERCENTILES)
            )


def test_merged_concurrency_samples_add_up() -> None:
    a, b = RunMetrics(0.0), RunMetrics(0.0)
    a.concurrent(3.2, 5)
    b.concurrent(3.7, 7)
    b.concurrent(4.1, 1)
    merged = RunMetrics.merged([a, b])
    assert merged.seconds[3].concurrent == 12
    assert merged.seconds[4].concurrent == 1
    assert merged.peak_concurrent() == 12


def test_merge_into_empty_keeps_the_minimum() -> None:
    # HdrHistogram.add into an empty histogram would make the minimum 0.
    worker = RunMetrics(0.0)
    worker.latency("pdd", 42.0, 0.5)
    merged = RunMetrics.merged([RunMetrics(0.0), worker])
    assert merged.latencies["pdd"].histogram.get_min_value() == (
        worker.latencies["pdd"].histogram.get_min_value()
    )
    assert merged.summary()["latencies"]["pdd"]["min_ms"] == 42.0


def test_histogram_encoding_is_hdrhistograms_own() -> None:
    m = RunMetrics(0.0)
    for ms in (1.0, 2.0, 3.0):
        m.latency("rtd:1", ms, 0.1)
    decoded = HdrHistogram.decode(m.to_dict()["latencies"]["rtd:1"]["hdr"].encode())
    assert decoded.get_total_count() == 3
    assert decoded.get_value_at_percentile(50) == m.latencies[
        "rtd:1"
    ].histogram.get_value_at_percentile(50)
