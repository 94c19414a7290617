"""Latency histograms: HdrHistogram per latency name, and a sparse one per second.

Every latency is recorded in whole microseconds into an HdrHistogram covering 1 µs to
1 h with 3 significant digits (values above an hour are clamped to an hour, so nothing
is dropped).  A histogram of that range holds ~23,000 counters (184 KiB); one per
latency name is cheap, one per name *per second* is not, so the per-second
histograms are :class:`SparseHistogram`: a dict from HdrHistogram counter index to
count, using the same bucket layout.  Both answer percentiles exactly as
``HdrHistogram.get_value_at_percentile`` does, so a per-second p99 and a whole-run p99
mean the same thing, and both merge by adding counts (exact across workers).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from hdrh.histogram import HdrHistogram

__all__ = [
    "HIGHEST_US",
    "LOWEST_US",
    "SIGNIFICANT_DIGITS",
    "SparseHistogram",
    "count_at_or_below",
    "decode_histogram",
    "encode_histogram",
    "histogram_percentiles",
    "new_histogram",
    "to_us",
]

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour
SIGNIFICANT_DIGITS = 3

# Only used for bucket arithmetic (index <-> value); never recorded into.
_LAYOUT = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def to_us(ms: float) -> int:
    """Milliseconds as whole microseconds, clamped to the histogram's range [0, 1 h]."""
    us = int(ms * 1000.0 + 0.5)
    if us < 0:
        return 0
    return us if us <= HIGHEST_US else HIGHEST_US


def encode_histogram(histogram: HdrHistogram) -> str:
    """HdrHistogram's own V2 wire form (base64 text), readable by every HdrHistogram port."""
    return bytes(histogram.encode()).decode("ascii")


def decode_histogram(text: str) -> HdrHistogram:
    histogram = HdrHistogram.decode(text.encode("ascii"))
    if (histogram.lowest_trackable_value, histogram.significant_figures) != (
        LOWEST_US,
        SIGNIFICANT_DIGITS,
    ) or histogram.counts_len != _LAYOUT.counts_len:
        raise ValueError("histogram has a different range or precision than sipwright's")
    return histogram


def _target_count(percentile: float, total: int) -> int:
    # HdrHistogram.get_target_count_at_percentile, kept identical on purpose.
    return max(int(min(percentile, 100.0) * total / 100 + 0.5), 1)


def _value_at_index(index: int, percentile: float) -> int:
    value = _LAYOUT.get_value_from_index(index)
    if percentile:
        return int(_LAYOUT.get_highest_equivalent_value(value))
    return int(_LAYOUT.get_lowest_equivalent_value(value))


def histogram_percentiles(
    histogram: HdrHistogram, percentiles: Sequence[float]
) -> dict[float, int]:
    """Values (µs) at ``percentiles`` (0-100), as HdrHistogram computes them.

    One numpy pass instead of HdrHistogram's Python loop over 23,000 counters per
    percentile: the live display asks several times a second.
    """
    import numpy as np  # noqa: PLC0415 - ~40 ms of start-up for runs that never ask

    total = int(histogram.get_total_count())
    if total == 0:
        return dict.fromkeys(percentiles, 0)
    counts = np.frombuffer(histogram.counts, dtype=np.uint64)
    cumulative = np.cumsum(counts)
    result: dict[float, int] = {}
    for percentile in percentiles:
        index = int(np.searchsorted(cumulative, _target_count(percentile, total)))
        result[percentile] = _value_at_index(index, percentile)
    return result


def count_at_or_below(histogram: HdrHistogram, bounds_us: Sequence[int]) -> list[int]:
    """Cumulative counts of values whose bucket is at or below each bound (µs).

    Exact to the histogram's resolution (0.1 %): a value sharing the bound's bucket
    counts as below it.  Used for Prometheus ``le`` buckets.
    """
    import numpy as np  # noqa: PLC0415 - as above

    if histogram.get_total_count() == 0:
        return [0] * len(bounds_us)
    cumulative = np.cumsum(np.frombuffer(histogram.counts, dtype=np.uint64))
    return [int(cumulative[_LAYOUT._counts_index_for(min(b, HIGHEST_US))]) for b in bounds_us]


class SparseHistogram:
    """Counts per HdrHistogram counter index; for the few values of one second."""

    __slots__ = ("counts", "total")

    def __init__(self, counts: Mapping[int, int] | None = None) -> None:
        self.counts: dict[int, int] = dict(counts or {})
        self.total = sum(self.counts.values())

    def record(self, us: int) -> None:
        index = _LAYOUT._counts_index_for(us)
        counts = self.counts
        counts[index] = counts.get(index, 0) + 1
        self.total += 1

    def merge(self, other: SparseHistogram) -> None:
        counts = self.counts
        for index, count in other.counts.items():
            counts[index] = counts.get(index, 0) + count
        self.total += other.total

    def percentiles(self, percentiles: Iterable[float]) -> dict[float, int]:
        """Values (µs) at ``percentiles``; same answers as an HdrHistogram would give."""
        wanted = list(percentiles)
        if not self.total:
            return dict.fromkeys(wanted, 0)
        ordered = sorted(self.counts.items())
        result: dict[float, int] = {}
        for percentile in wanted:
            target = _target_count(percentile, self.total)
            running = 0
            for index, count in ordered:
                running += count
                if running >= target:
                    result[percentile] = _value_at_index(index, percentile)
                    break
        return result

    def to_list(self) -> list[list[int]]:
        """``[[counter index, count], ...]`` in index order (HdrHistogram's layout for
        1 µs..1 h, 3 digits)."""
        return [[index, count] for index, count in sorted(self.counts.items())]

    @classmethod
    def from_list(cls, pairs: Iterable[Sequence[Any]]) -> SparseHistogram:
        counts: dict[int, int] = {}
        for raw_index, raw_count in pairs:
            index, count = int(raw_index), int(raw_count)
            if not 0 <= index < _LAYOUT.counts_len or count < 0:
                raise ValueError(f"bad histogram counter [{index}, {count}]")
            counts[index] = counts.get(index, 0) + count
        return cls(counts)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SparseHistogram):
            return NotImplemented
        return self.to_list() == other.to_list()

    __hash__ = None  # type: ignore[assignment]
