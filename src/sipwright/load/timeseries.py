"""Per-second buckets of a load run: what happened in second ``t`` since the start.

A :class:`SecondBucket` is created the first time something happens in a second and
updated in place afterwards (plain int increments), so the hot path allocates one
object per second, not per call.  Buckets add up, which makes merging the series of
several workers exact when they share the run's start time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sipwright.load.histograms import SparseHistogram

__all__ = ["STATUS_CLASSES", "SecondBucket", "status_class"]

STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx", "6xx")


def status_class(code: int) -> str:
    """ "1xx" .. "6xx"; codes outside 100-699 are counted with the nearest class."""
    return STATUS_CLASSES[min(max(code // 100, 1), 6) - 1]


class SecondBucket:
    """Counters of one second.

    ``concurrent``: the last ``concurrent(now, n)`` sample taken in this second (None
    when none was); ``codes``: responses by status code; ``latency``: sparse
    histograms (µs) of the latency names followed per second (e.g. "setup").
    """

    __slots__ = (
        "aborted",
        "codes",
        "concurrent",
        "failed",
        "latency",
        "retransmissions",
        "started",
        "succeeded",
        "timeouts",
    )

    def __init__(self) -> None:
        self.started = 0
        self.succeeded = 0
        self.failed = 0
        self.aborted = 0
        self.retransmissions = 0
        self.timeouts = 0
        self.concurrent: int | None = None
        self.codes: dict[int, int] = {}
        self.latency: dict[str, SparseHistogram] = {}

    @property
    def ended(self) -> int:
        return self.succeeded + self.failed + self.aborted

    def merge(self, other: SecondBucket) -> None:
        self.started += other.started
        self.succeeded += other.succeeded
        self.failed += other.failed
        self.aborted += other.aborted
        self.retransmissions += other.retransmissions
        self.timeouts += other.timeouts
        if other.concurrent is not None:
            # Each worker samples its own calls: the run's concurrency is the sum.
            self.concurrent = (self.concurrent or 0) + other.concurrent
        for code, count in other.codes.items():
            self.codes[code] = self.codes.get(code, 0) + count
        for name, histogram in other.latency.items():
            mine = self.latency.get(name)
            if mine is None:
                mine = self.latency[name] = SparseHistogram()
            mine.merge(histogram)

    def by_class(self) -> dict[str, int]:
        classes = dict.fromkeys(STATUS_CLASSES, 0)
        for code, count in self.codes.items():
            classes[status_class(code)] += count
        return classes

    def to_dict(self) -> dict[str, Any]:
        """The transport form (see :meth:`RunMetrics.to_dict`); not the report's form."""
        return {
            "started": self.started,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "aborted": self.aborted,
            "retransmissions": self.retransmissions,
            "timeouts": self.timeouts,
            "concurrent": self.concurrent,
            "codes": {str(code): count for code, count in sorted(self.codes.items())},
            "latency": {name: h.to_list() for name, h in sorted(self.latency.items())},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SecondBucket:
        bucket = cls()
        bucket.started = int(data["started"])
        bucket.succeeded = int(data["succeeded"])
        bucket.failed = int(data["failed"])
        bucket.aborted = int(data["aborted"])
        bucket.retransmissions = int(data["retransmissions"])
        bucket.timeouts = int(data["timeouts"])
        concurrent = data.get("concurrent")
        bucket.concurrent = None if concurrent is None else int(concurrent)
        bucket.codes = {int(code): int(count) for code, count in data["codes"].items()}
        bucket.latency = {
            str(name): SparseHistogram.from_list(pairs) for name, pairs in data["latency"].items()
        }
        return bucket
