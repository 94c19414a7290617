"""What a load run records: counters, latency histograms and a per-second series.

:class:`RunMetrics` is fed by the load engine on its hot path, so every method is a
few int increments plus at most one histogram record; times are monotonic seconds
(``now``) and land in whole-second buckets counted from ``start``.  Nothing is
sampled away: every call, response and latency is counted.

Workers each own a RunMetrics and ship :meth:`RunMetrics.to_dict` to the coordinator,
which rebuilds them with :meth:`RunMetrics.from_dict` and adds them up with
:meth:`RunMetrics.merge`.  Histograms travel in HdrHistogram's own encoding and every
quantity is a sum (integer microseconds for latency sums), so the merge of several
workers equals, exactly, one recorder that saw all their events -- provided the
workers share the same ``start`` (series of workers started at different times are
aligned to the nearest whole second).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar

from hdrh.histogram import HdrHistogram

from sipwright.load.histograms import (
    SparseHistogram,
    decode_histogram,
    encode_histogram,
    histogram_percentiles,
    new_histogram,
    to_us,
)
from sipwright.load.timeseries import SecondBucket

__all__ = ["STEP_EVENTS", "SUMMARY_PERCENTILES", "LatencyStats", "RunMetrics"]

STEP_EVENTS = ("sent", "recv", "retrans", "timeout", "unexpected")
_STEP_INDEX = {event: index for index, event in enumerate(STEP_EVENTS)}
SUMMARY_PERCENTILES = (50.0, 90.0, 99.0, 99.9)
_K = TypeVar("_K")
FORMAT = "sipwright.run-metrics"
VERSION = 1


class LatencyStats:
    """One latency name: its HdrHistogram plus the exact sum, min and max (µs)."""

    __slots__ = ("histogram", "max_us", "min_us", "sum_us")

    def __init__(self, histogram: HdrHistogram | None = None) -> None:
        self.histogram = new_histogram() if histogram is None else histogram
        self.sum_us = 0
        self.min_us = 0
        self.max_us = 0

    @property
    def count(self) -> int:
        return int(self.histogram.get_total_count())

    def record(self, us: int) -> None:
        if self.histogram.get_total_count() == 0 or us < self.min_us:
            self.min_us = us
        self.max_us = max(self.max_us, us)
        self.histogram.record_value(us)
        self.sum_us += us

    def merge(self, other: LatencyStats) -> None:
        if other.count == 0:
            return
        if self.count == 0:
            self.min_us = other.min_us
        else:
            self.min_us = min(self.min_us, other.min_us)
        self.max_us = max(self.max_us, other.max_us)
        self.sum_us += other.sum_us
        # HdrHistogram.add takes the min from an empty histogram as 0: copy instead.
        if self.count == 0:
            self.histogram = decode_histogram(encode_histogram(other.histogram))
        else:
            self.histogram.add(other.histogram)

    def copy(self) -> LatencyStats:
        """An independent copy (one histogram allocated, not an empty one and a copy)."""
        twin = LatencyStats(decode_histogram(encode_histogram(self.histogram)))
        twin.sum_us, twin.min_us, twin.max_us = self.sum_us, self.min_us, self.max_us
        return twin

    def summary(self) -> dict[str, float | int]:
        """count, min/mean/max (exact) and p50/p90/p99/p99.9 (HdrHistogram), in ms."""
        count = self.count
        values = histogram_percentiles(self.histogram, SUMMARY_PERCENTILES)
        return {
            "count": count,
            "min_ms": self.min_us / 1000,
            "mean_ms": self.sum_us / count / 1000 if count else 0.0,
            "p50_ms": values[50.0] / 1000,
            "p90_ms": values[90.0] / 1000,
            "p99_ms": values[99.0] / 1000,
            "p99_9_ms": values[99.9] / 1000,
            "max_ms": self.max_us / 1000,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "hdr": encode_histogram(self.histogram),
            "sum_us": self.sum_us,
            "min_us": self.min_us,
            "max_us": self.max_us,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LatencyStats:
        stats = cls(decode_histogram(str(data["hdr"])))
        stats.sum_us = int(data["sum_us"])
        stats.min_us = int(data["min_us"])
        stats.max_us = int(data["max_us"])
        return stats


class RunMetrics:
    """Everything one load run (or one worker of it) records.

    ``start``: the run's start, monotonic seconds; ``series_latencies``: latency
    names whose percentiles are also kept per second (setup time by default).
    """

    def __init__(self, start: float, *, series_latencies: Iterable[str] = ("setup",)) -> None:
        self.start = start
        self.end = start  # latest ``now`` seen
        self.calls_started = 0
        self.calls_succeeded = 0
        self.calls_failed = 0
        self.calls_aborted = 0
        self.retransmissions = 0
        self.timeouts = 0
        self.failures: dict[str, int] = {}
        self.responses: dict[int, int] = {}
        self.requests: dict[str, int] = {}
        self.steps: dict[int, list[int]] = {}
        self.latencies: dict[str, LatencyStats] = {}
        self.series_latencies: tuple[str, ...] = tuple(series_latencies)
        self.seconds: dict[int, SecondBucket] = {}
        self._second = -1
        self._bucket = SecondBucket()

    # ------------------------------------------------------------------ hot path

    def _at(self, now: float) -> SecondBucket:
        """The bucket of ``now``'s second (cached: consecutive events share it)."""
        self.end = max(self.end, now)
        second = int(now - self.start)
        if second != self._second:
            second = max(second, 0)
            bucket = self.seconds.get(second)
            if bucket is None:
                bucket = self.seconds[second] = SecondBucket()
            self._second, self._bucket = second, bucket
        return self._bucket

    def call_started(self, now: float) -> None:
        self.calls_started += 1
        self._at(now).started += 1

    def call_succeeded(self, now: float, setup_ms: float | None, length_ms: float) -> None:
        """A successful call; ``setup_ms`` (INVITE to 200, if measured) goes to "setup"
        and ``length_ms`` to "call_length"."""
        self.calls_succeeded += 1
        self._at(now).succeeded += 1
        if setup_ms is not None:
            self.latency("setup", setup_ms, now)
        self.latency("call_length", length_ms, now)

    def call_failed(self, now: float, reason: str, length_ms: float) -> None:
        """A failed call (``reason``: e.g. SIPp's "CallRejected", "MaxUDPRetrans")."""
        self.calls_failed += 1
        self._at(now).failed += 1
        self.failures[reason] = self.failures.get(reason, 0) + 1
        self.latency("call_length", length_ms, now)

    def call_aborted(self, now: float) -> None:
        """A call cut short by the end of the run (Ctrl-C, SIGTERM, -timeout)."""
        self.calls_aborted += 1
        self._at(now).aborted += 1

    def response(self, now: float, status: int) -> None:
        self.responses[status] = self.responses.get(status, 0) + 1
        codes = self._at(now).codes
        codes[status] = codes.get(status, 0) + 1

    def request(self, now: float, method: str) -> None:
        self._at(now)
        self.requests[method] = self.requests.get(method, 0) + 1

    def retransmission(self, now: float) -> None:
        self.retransmissions += 1
        self._at(now).retransmissions += 1

    def timeout(self, now: float) -> None:
        self.timeouts += 1
        self._at(now).timeouts += 1

    def latency(self, name: str, ms: float, now: float | None = None) -> None:
        """A named latency (e.g. "setup", "pdd", "rtd:1", "step:3") in milliseconds.

        ``now`` places it in the per-second series (names in ``series_latencies``
        only); without it, the second of the latest event is used.
        """
        stats = self.latencies.get(name)
        if stats is None:
            stats = self.latencies[name] = LatencyStats()
        us = to_us(ms)
        stats.record(us)
        if name in self.series_latencies:
            bucket = self._at(now) if now is not None else self._at(self.end)
            histogram = bucket.latency.get(name)
            if histogram is None:
                histogram = bucket.latency[name] = SparseHistogram()
            histogram.record(us)

    def step(self, index: int, event: str) -> None:
        """Count ``event`` (one of STEP_EVENTS) at scenario step ``index``."""
        counts = self.steps.get(index)
        if counts is None:
            counts = self.steps[index] = [0] * len(STEP_EVENTS)
        try:
            counts[_STEP_INDEX[event]] += 1
        except KeyError:
            raise ValueError(f"unknown step event {event!r}; one of {STEP_EVENTS}") from None

    def concurrent(self, now: float, n: int) -> None:
        """Calls in progress, sampled (about once a second); the last sample of a second
        is its value in the series."""
        self._at(now).concurrent = n

    # ------------------------------------------------------------------ reading

    @property
    def calls_ended(self) -> int:
        return self.calls_succeeded + self.calls_failed + self.calls_aborted

    @property
    def calls_in_flight(self) -> int:
        return max(0, self.calls_started - self.calls_ended)

    @property
    def last_second(self) -> int:
        """The latest second with a bucket (-1 before anything happened)."""
        return max(self.seconds, default=-1)

    def dense_seconds(self) -> Iterator[tuple[int, SecondBucket, int]]:
        """(second, bucket, calls in flight at its end) for every second from 0 to the
        last, empty buckets included."""
        in_flight = 0
        empty = SecondBucket()
        for second in range(self.last_second + 1):
            bucket = self.seconds.get(second, empty)
            in_flight += bucket.started - bucket.ended
            yield second, bucket, in_flight

    def peak_concurrent(self) -> int:
        """Highest concurrency over the seconds (sampled value, else calls in flight)."""
        return max(
            (b.concurrent if b.concurrent is not None else n for _, b, n in self.dense_seconds()),
            default=0,
        )

    def summary(self, now: float | None = None) -> dict[str, Any]:
        """Plain numbers: totals, rates and per-latency percentiles (ms).

        ``now``: end of the measured duration (default: the latest event).
        """
        duration = max(0.0, (self.end if now is None else now) - self.start)
        decided = self.calls_succeeded + self.calls_failed
        return {
            "duration_s": duration,
            "calls_started": self.calls_started,
            "calls_succeeded": self.calls_succeeded,
            "calls_failed": self.calls_failed,
            "calls_aborted": self.calls_aborted,
            "calls_in_flight": self.calls_in_flight,
            "peak_concurrent": self.peak_concurrent(),
            "requests": sum(self.requests.values()),
            "responses": sum(self.responses.values()),
            "retransmissions": self.retransmissions,
            "timeouts": self.timeouts,
            "call_rate": self.calls_started / duration if duration > 0 else 0.0,
            "success_ratio": self.calls_succeeded / decided if decided else None,
            "latencies": {name: stats.summary() for name, stats in sorted(self.latencies.items())},
        }

    # ------------------------------------------------------------------ merge, transport

    def merge(self, other: RunMetrics) -> None:
        """Add ``other`` (another worker's metrics) into this one."""
        start = min(self.start, other.start)
        self._shift(round(self.start - start))
        shift = round(other.start - start)
        self.start = start
        self.end = max(self.end, other.end)
        self.calls_started += other.calls_started
        self.calls_succeeded += other.calls_succeeded
        self.calls_failed += other.calls_failed
        self.calls_aborted += other.calls_aborted
        self.retransmissions += other.retransmissions
        self.timeouts += other.timeouts
        _add(self.failures, other.failures)
        _add(self.responses, other.responses)
        _add(self.requests, other.requests)
        for index, counts in other.steps.items():
            mine = self.steps.setdefault(index, [0] * len(STEP_EVENTS))
            mine[:] = [a + b for a, b in zip(mine, counts, strict=True)]
        for name, stats in other.latencies.items():
            # Each histogram is ~190 KB of counters: a coordinator merging several times
            # a second must not allocate and drop two per name each time.
            known = self.latencies.get(name)
            if known is None:
                self.latencies[name] = stats.copy()
            else:
                known.merge(stats)
        self.series_latencies += tuple(
            n for n in other.series_latencies if n not in self.series_latencies
        )
        for second, bucket in other.seconds.items():
            mine_bucket = self.seconds.get(second + shift)
            if mine_bucket is None:
                mine_bucket = self.seconds[second + shift] = SecondBucket()
            mine_bucket.merge(bucket)

    def _shift(self, seconds: int) -> None:
        if seconds:
            self.seconds = {s + seconds: b for s, b in self.seconds.items()}
        self._second = -1  # the cached bucket may be stale after a merge

    @classmethod
    def merged(cls, items: Iterable[RunMetrics]) -> RunMetrics:
        """A new RunMetrics holding the sum of ``items`` (which stay untouched)."""
        items = list(items)
        if not items:
            raise ValueError("nothing to merge")
        total = cls(items[0].start, series_latencies=items[0].series_latencies)
        for item in items:
            total.merge(item)
        total.end = max(item.end for item in items)
        return total

    def recent(self, seconds: int) -> RunMetrics:
        """A shallow view with only the last ``seconds`` of the series (the totals are
        shared, not copied): what a live display needs, merged without the history."""
        view = copy.copy(self)
        first = self.last_second - seconds
        view.seconds = {s: b for s, b in self.seconds.items() if s >= first}
        return view

    def to_dict(self, *, seconds_from: int = 0) -> dict[str, Any]:
        """A JSON-ready form for moving metrics between processes (not the report).

        ``seconds_from``: only the buckets of that second on; the receiver keeps the
        earlier ones from the previous message (:meth:`from_update`), so that a
        worker's message every second does not grow with the length of the run."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "start": self.start,
            "end": self.end,
            "calls": {
                "started": self.calls_started,
                "succeeded": self.calls_succeeded,
                "failed": self.calls_failed,
                "aborted": self.calls_aborted,
            },
            "retransmissions": self.retransmissions,
            "timeouts": self.timeouts,
            "failures": dict(sorted(self.failures.items())),
            "responses": {str(code): n for code, n in sorted(self.responses.items())},
            "requests": dict(sorted(self.requests.items())),
            "steps": {str(index): list(c) for index, c in sorted(self.steps.items())},
            "latencies": {name: s.to_dict() for name, s in sorted(self.latencies.items())},
            "series_latencies": list(self.series_latencies),
            "seconds_from": seconds_from,
            "seconds": {
                str(s): b.to_dict() for s, b in sorted(self.seconds.items()) if s >= seconds_from
            },
        }

    @classmethod
    def from_update(cls, data: Mapping[str, Any], previous: RunMetrics | None) -> RunMetrics:
        """:meth:`from_dict` for a message that may carry only the latest seconds: the
        buckets before its ``seconds_from`` are taken over from ``previous``."""
        metrics = cls.from_dict(data)
        since = int(data.get("seconds_from", 0))
        if previous is not None and since > 0:
            older = {s: b for s, b in previous.seconds.items() if s < since}
            metrics.seconds = {**older, **metrics.seconds}
        return metrics

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunMetrics:
        if data.get("format") != FORMAT or data.get("version") != VERSION:
            raise ValueError(
                f"not {FORMAT} version {VERSION}: {data.get('format')!r} {data.get('version')!r}"
            )
        metrics = cls(float(data["start"]), series_latencies=data["series_latencies"])
        metrics.end = float(data["end"])
        calls = data["calls"]
        metrics.calls_started = int(calls["started"])
        metrics.calls_succeeded = int(calls["succeeded"])
        metrics.calls_failed = int(calls["failed"])
        metrics.calls_aborted = int(calls["aborted"])
        metrics.retransmissions = int(data["retransmissions"])
        metrics.timeouts = int(data["timeouts"])
        metrics.failures = {str(k): int(v) for k, v in data["failures"].items()}
        metrics.responses = {int(k): int(v) for k, v in data["responses"].items()}
        metrics.requests = {str(k): int(v) for k, v in data["requests"].items()}
        for index, counts in data["steps"].items():
            values = [int(c) for c in counts]
            if len(values) != len(STEP_EVENTS):
                raise ValueError(f"step {index}: {len(STEP_EVENTS)} counters expected")
            metrics.steps[int(index)] = values
        metrics.latencies = {
            str(name): LatencyStats.from_dict(item) for name, item in data["latencies"].items()
        }
        metrics.seconds = {
            int(second): SecondBucket.from_dict(item) for second, item in data["seconds"].items()
        }
        return metrics


def _add(mine: dict[_K, int], other: Mapping[_K, int]) -> None:
    for key, count in other.items():
        mine[key] = mine.get(key, 0) + count
