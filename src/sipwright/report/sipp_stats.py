"""SIPp-compatible statistics counters (the numbers behind ``-trace_stat`` and friends).

One :class:`Snapshot` holds everything SIPp counts while a scenario runs:

* call counters and event counters in a :class:`CallStats`, twice: ``periodic``
  (since the last :meth:`Snapshot.reset_period`, SIPp's "(P)" columns) and
  ``cumulative`` (since the start, "(C)");
* response times (``rtd``/``start_rtd``) and call lengths as :class:`RtdStats`
  (count, sum, sum of squares, min, max), periodic and cumulative too;
* the ``ResponseTimeRepartition``/``CallLengthRepartition`` histograms as
  :class:`Repartition` (cumulative, unless ``periodic_repartition`` -- SIPp's
  ``-periodic_rtd`` -- resets them with the period);
* per scenario step counters (:class:`MessageStats`), cumulative only, as on SIPp's
  scenario screen.

Pure data: no clock reads, no I/O. Times come in as arguments (a wall-clock
``datetime`` and a monotonic time in seconds). Everything is additive, so snapshots
from several worker processes combine with :meth:`Snapshot.merge`;
:meth:`Snapshot.to_dict`/:meth:`Snapshot.from_dict` move them between processes (and
back the JSON form written by :mod:`sipwright.report.sipp_files`).

Behaviour learnt from SIPp 3.6.1's output: a call length is recorded for failed calls
too; a repartition value ``v`` lands in the first bucket whose limit ``L`` has
``v < L``, else in the ``>=`` overflow bucket; call rates use elapsed *milliseconds*.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, TypeAlias

__all__ = [
    "CallStats",
    "Event",
    "FailReason",
    "MessageStats",
    "Repartition",
    "RtdStats",
    "Snapshot",
    "StepEvent",
    "rtd_name",
]


class FailReason(StrEnum):
    """Why a call failed; values are SIPp's column names without "Failed" (CSV order)."""

    CANNOT_SEND_MESSAGE = "CannotSendMessage"
    MAX_UDP_RETRANS = "MaxUDPRetrans"
    TCP_CONNECT = "TcpConnect"
    TCP_CLOSED = "TcpClosed"
    UNEXPECTED_MESSAGE = "UnexpectedMessage"
    CALL_REJECTED = "CallRejected"
    CMD_NOT_SENT = "CmdNotSent"
    REGEXP_DOESNT_MATCH = "RegexpDoesntMatch"
    REGEXP_SHOULDNT_MATCH = "RegexpShouldntMatch"
    REGEXP_HDR_NOT_FOUND = "RegexpHdrNotFound"
    OUTBOUND_CONGESTION = "OutboundCongestion"
    TIMEOUT_ON_RECV = "TimeoutOnRecv"
    TIMEOUT_ON_SEND = "TimeoutOnSend"
    TEST_DOESNT_MATCH = "TestDoesntMatch"
    TEST_SHOULDNT_MATCH = "TestShouldntMatch"
    STRCMP_DOESNT_MATCH = "StrcmpDoesntMatch"
    STRCMP_SHOULDNT_MATCH = "StrcmpShouldntMatch"


class Event(StrEnum):
    """Other periodic/cumulative counters; values are SIPp's column names (CSV order)."""

    OUT_OF_CALL_MSGS = "OutOfCallMsgs"
    DEAD_CALL_MSGS = "DeadCallMsgs"
    RETRANSMISSIONS = "Retransmissions"
    AUTO_ANSWERED = "AutoAnswered"
    WARNINGS = "Warnings"
    FATAL_ERRORS = "FatalErrors"
    WATCHDOG_MAJOR = "WatchdogMajor"
    WATCHDOG_MINOR = "WatchdogMinor"


StepEvent: TypeAlias = Literal["message", "retrans", "timeout", "unexpected"]


def rtd_name(attribute: str) -> str:
    """The RTD name for an ``rtd``/``start_rtd`` attribute value (``"true"`` is ``"1"``)."""
    return "1" if attribute.strip().lower() == "true" else attribute.strip()


@dataclass
class RtdStats:
    """Count, sum, sum of squares, min and max of durations in milliseconds."""

    count: int = 0
    sum_ms: float = 0.0
    sum_sq_ms: float = 0.0
    min_ms: float | None = None
    max_ms: float | None = None

    def add(self, ms: float) -> None:
        self.count += 1
        self.sum_ms += ms
        self.sum_sq_ms += ms * ms
        self.min_ms = ms if self.min_ms is None else min(self.min_ms, ms)
        self.max_ms = ms if self.max_ms is None else max(self.max_ms, ms)

    def merge(self, other: RtdStats) -> None:
        self.count += other.count
        self.sum_ms += other.sum_ms
        self.sum_sq_ms += other.sum_sq_ms
        if other.min_ms is not None:
            self.min_ms = other.min_ms if self.min_ms is None else min(self.min_ms, other.min_ms)
        if other.max_ms is not None:
            self.max_ms = other.max_ms if self.max_ms is None else max(self.max_ms, other.max_ms)

    @property
    def mean_ms(self) -> float:
        """Average (0 when empty)."""
        return self.sum_ms / self.count if self.count else 0.0

    @property
    def stdev_ms(self) -> float | None:
        """Sample standard deviation (n - 1, as SIPp); None with fewer than 2 values."""
        if self.count < 2:
            return None
        variance = (self.sum_sq_ms - self.sum_ms * self.sum_ms / self.count) / (self.count - 1)
        return math.sqrt(max(variance, 0.0))

    def to_dict(self) -> dict[str, Any]:
        """Raw sums plus the derived ``mean_ms``/``stdev_ms`` (ignored by from_dict)."""
        return {**asdict(self), "mean_ms": self.mean_ms, "stdev_ms": self.stdev_ms}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RtdStats:
        return cls(**{f.name: data[f.name] for f in fields(cls)})


@dataclass
class Repartition:
    """A histogram with SIPp's bucket semantics.

    ``limits`` are the ascending values of ``ResponseTimeRepartition`` or
    ``CallLengthRepartition`` (ms); ``counts`` has one more entry than ``limits``:
    ``counts[i]`` counts values ``v < limits[i]`` (and ``>= limits[i-1]``), the last
    one values ``v >= limits[-1]``.
    """

    limits: tuple[int, ...]
    counts: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.limits = tuple(sorted(int(limit) for limit in self.limits))
        if not self.limits:
            raise ValueError("a repartition needs at least one limit")
        if not self.counts:
            self.counts = [0] * (len(self.limits) + 1)
        elif len(self.counts) != len(self.limits) + 1:
            raise ValueError(f"{len(self.limits)} limits need {len(self.limits) + 1} counts")

    def add(self, ms: float) -> None:
        for index, limit in enumerate(self.limits):
            if ms < limit:
                self.counts[index] += 1
                return
        self.counts[-1] += 1

    def reset(self) -> None:
        self.counts = [0] * (len(self.limits) + 1)

    def merge(self, other: Repartition) -> None:
        if other.limits != self.limits:
            raise ValueError(f"repartition limits differ: {self.limits} vs {other.limits}")
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]

    def to_dict(self) -> dict[str, Any]:
        return {"limits_ms": list(self.limits), "counts": list(self.counts)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Repartition:
        return cls(tuple(int(v) for v in data["limits_ms"]), [int(v) for v in data["counts"]])


def _zero_reasons() -> dict[FailReason, int]:
    return dict.fromkeys(FailReason, 0)


def _zero_events() -> dict[Event, int]:
    return dict.fromkeys(Event, 0)


@dataclass
class CallStats:
    """The counters of one period (or of the whole run): SIPp's (P) or (C) columns.

    ``counters`` are the scenario's user counters (``counter="name"`` attributes).
    """

    incoming_calls: int = 0
    outgoing_calls: int = 0
    successful_calls: int = 0
    failed_calls: int = 0
    failed_by_reason: dict[FailReason, int] = field(default_factory=_zero_reasons)
    events: dict[Event, int] = field(default_factory=_zero_events)
    counters: dict[str, int] = field(default_factory=dict)
    response_times: dict[str, RtdStats] = field(default_factory=dict)
    call_length: RtdStats = field(default_factory=RtdStats)

    @property
    def created_calls(self) -> int:
        return self.incoming_calls + self.outgoing_calls

    def merge(self, other: CallStats) -> None:
        self.incoming_calls += other.incoming_calls
        self.outgoing_calls += other.outgoing_calls
        self.successful_calls += other.successful_calls
        self.failed_calls += other.failed_calls
        for reason, count in other.failed_by_reason.items():
            self.failed_by_reason[reason] = self.failed_by_reason.get(reason, 0) + count
        for event, count in other.events.items():
            self.events[event] = self.events.get(event, 0) + count
        for name, count in other.counters.items():
            self.counters[name] = self.counters.get(name, 0) + count
        for name, stats in other.response_times.items():
            self.response_times.setdefault(name, RtdStats()).merge(stats)
        self.call_length.merge(other.call_length)

    def to_dict(self) -> dict[str, Any]:
        return {
            "incoming_calls": self.incoming_calls,
            "outgoing_calls": self.outgoing_calls,
            "successful_calls": self.successful_calls,
            "failed_calls": self.failed_calls,
            "failed_by_reason": {str(r): n for r, n in self.failed_by_reason.items()},
            "events": {str(e): n for e, n in self.events.items()},
            "counters": dict(self.counters),
            "response_times": {k: v.to_dict() for k, v in self.response_times.items()},
            "call_length": self.call_length.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CallStats:
        stats = cls(
            incoming_calls=int(data["incoming_calls"]),
            outgoing_calls=int(data["outgoing_calls"]),
            successful_calls=int(data["successful_calls"]),
            failed_calls=int(data["failed_calls"]),
            counters={str(k): int(v) for k, v in data.get("counters", {}).items()},
            response_times={
                str(k): RtdStats.from_dict(v) for k, v in data["response_times"].items()
            },
            call_length=RtdStats.from_dict(data["call_length"]),
        )
        for key, count in data["failed_by_reason"].items():
            stats.failed_by_reason[FailReason(key)] = int(count)
        for key, count in data["events"].items():
            stats.events[Event(key)] = int(count)
        return stats


@dataclass
class MessageStats:
    """Counters of one scenario step, as on SIPp's scenario screen (cumulative).

    ``messages``: messages sent/received here (for a pause: pauses started);
    ``retransmissions``, ``timeouts``, ``unexpected``; ``sessions``: calls now in this
    pause (the last number on a pause line).
    """

    messages: int = 0
    retransmissions: int = 0
    timeouts: int = 0
    unexpected: int = 0
    sessions: int = 0

    def merge(self, other: MessageStats) -> None:
        self.messages += other.messages
        self.retransmissions += other.retransmissions
        self.timeouts += other.timeouts
        self.unexpected += other.unexpected
        self.sessions += other.sessions


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


@dataclass
class Snapshot:
    """All SIPp statistics of one run (or of several merged worker runs).

    ``start_wall``/``start_mono``: when counting started (wall clock / monotonic s).
    ``rtd_names``: the scenario's RTDs in order (CSV column order; ``"true"`` is
    ``"1"``). ``response_time_repartition``/``call_length_repartition``: the
    scenario's repartition limits (ms) or None when not defined (no columns then).
    ``counter_names``: user counters. ``target_rate``: the configured call rate.
    """

    start_wall: datetime
    start_mono: float
    rtd_names: list[str] = field(default_factory=list)
    response_time_repartition: tuple[int, ...] | None = None
    call_length_repartition: tuple[int, ...] | None = None
    periodic_repartition: bool = False
    counter_names: list[str] = field(default_factory=list)
    target_rate: float = 0.0
    reset_wall: datetime | None = None
    reset_mono: float | None = None
    periodic: CallStats = field(default_factory=CallStats)
    cumulative: CallStats = field(default_factory=CallStats)
    current_calls: int = 0
    peak_calls: int = 0
    steps: dict[int, MessageStats] = field(default_factory=dict)
    rtd_histograms: dict[str, Repartition] = field(default_factory=dict)
    call_length_histogram: Repartition | None = None

    def __post_init__(self) -> None:
        self.rtd_names = [rtd_name(name) for name in self.rtd_names]
        if self.reset_wall is None:
            self.reset_wall = self.start_wall
        if self.reset_mono is None:
            self.reset_mono = self.start_mono
        if self.response_time_repartition is not None:
            self.response_time_repartition = tuple(self.response_time_repartition)
        if self.call_length_repartition is not None:
            self.call_length_repartition = tuple(self.call_length_repartition)
            if self.call_length_histogram is None:
                self.call_length_histogram = Repartition(self.call_length_repartition)
        for name in self.rtd_names:
            self._declare_rtd(name)
        for name in self.counter_names:
            for stats in (self.periodic, self.cumulative):
                stats.counters.setdefault(name, 0)

    # ------------------------------------------------------------------ bookkeeping

    @property
    def last_reset_wall(self) -> datetime:
        assert self.reset_wall is not None
        return self.reset_wall

    @property
    def last_reset_mono(self) -> float:
        assert self.reset_mono is not None
        return self.reset_mono

    def _declare_rtd(self, name: str) -> None:
        if name not in self.rtd_names:
            self.rtd_names.append(name)
        for stats in (self.periodic, self.cumulative):
            stats.response_times.setdefault(name, RtdStats())
        if self.response_time_repartition is not None and name not in self.rtd_histograms:
            self.rtd_histograms[name] = Repartition(self.response_time_repartition)

    def step(self, index: int) -> MessageStats:
        """The counters of scenario step ``index`` (created on first use)."""
        stats = self.steps.get(index)
        if stats is None:
            stats = self.steps[index] = MessageStats()
        return stats

    def _both(self) -> tuple[CallStats, CallStats]:
        return self.periodic, self.cumulative

    # ------------------------------------------------------------------------ calls

    def call_created(self, outgoing: bool) -> None:
        """A new call: outgoing (we sent the first message) or incoming."""
        for stats in self._both():
            if outgoing:
                stats.outgoing_calls += 1
            else:
                stats.incoming_calls += 1
        self.current_calls += 1
        self.peak_calls = max(self.peak_calls, self.current_calls)

    def _call_ended(self, length_ms: float | None) -> None:
        self.current_calls = max(0, self.current_calls - 1)
        if length_ms is not None:
            for stats in self._both():
                stats.call_length.add(length_ms)
            if self.call_length_histogram is not None:
                self.call_length_histogram.add(length_ms)

    def call_succeeded(self, length_ms: float | None = None) -> None:
        """A call ended successfully after ``length_ms`` (None: not measured)."""
        for stats in self._both():
            stats.successful_calls += 1
        self._call_ended(length_ms)

    def call_failed(self, reason: FailReason | str, length_ms: float | None = None) -> None:
        """A call failed (``reason``: a FailReason or its SIPp name, e.g. "MaxUDPRetrans").

        SIPp records the call length of failed calls too; pass it.
        """
        reason = FailReason(reason)
        for stats in self._both():
            stats.failed_calls += 1
            stats.failed_by_reason[reason] += 1
        self._call_ended(length_ms)

    def call_closed(self, length_ms: float | None = None) -> None:
        """A call ended without counting as successful or failed."""
        self._call_ended(length_ms)

    # ----------------------------------------------------------------------- events

    def event(self, event: Event | str, count: int = 1) -> None:
        """Count an Event (or its SIPp column name, e.g. "OutOfCallMsgs")."""
        event = Event(event)
        for stats in self._both():
            stats.events[event] += count

    def out_of_call_message(self) -> None:
        self.event(Event.OUT_OF_CALL_MSGS)

    def dead_call_message(self) -> None:
        self.event(Event.DEAD_CALL_MSGS)

    def auto_answered(self) -> None:
        self.event(Event.AUTO_ANSWERED)

    def warning(self) -> None:
        """SIPp counts one warning per entry of its error log (e.g. an aborted call)."""
        self.event(Event.WARNINGS)

    def fatal_error(self) -> None:
        self.event(Event.FATAL_ERRORS)

    def counter(self, name: str, count: int = 1) -> None:
        """A user counter (``counter="name"`` attribute)."""
        if name not in self.counter_names:
            self.counter_names.append(name)
        for stats in self._both():
            stats.counters[name] = stats.counters.get(name, 0) + count

    # ------------------------------------------------------------------------ steps

    def message(self, step: int, kind: StepEvent = "message") -> None:
        """Count at scenario step ``step``: a message sent/received, a retransmission
        (also counted globally), a timeout or an unexpected message."""
        stats = self.step(step)
        if kind == "message":
            stats.messages += 1
        elif kind == "retrans":
            self.retransmission(step)
        elif kind == "timeout":
            stats.timeouts += 1
        elif kind == "unexpected":
            stats.unexpected += 1
        else:
            raise ValueError(f"unknown step event {kind!r}")

    def retransmission(self, step: int | None = None) -> None:
        """A retransmission (of scenario step ``step``, if known)."""
        if step is not None:
            self.step(step).retransmissions += 1
        self.event(Event.RETRANSMISSIONS)

    def pause_started(self, step: int) -> None:
        stats = self.step(step)
        stats.messages += 1
        stats.sessions += 1

    def pause_ended(self, step: int) -> None:
        stats = self.step(step)
        stats.sessions = max(0, stats.sessions - 1)

    # ----------------------------------------------------------------- time measures

    def rtd(self, name: str, ms: float) -> None:
        """A response time ``ms`` measured for RTD ``name`` (``"true"`` is ``"1"``)."""
        name = rtd_name(name)
        self._declare_rtd(name)
        for stats in self._both():
            stats.response_times[name].add(ms)
        histogram = self.rtd_histograms.get(name)
        if histogram is not None:
            histogram.add(ms)

    def elapsed_ms(self, now_mono: float, *, periodic: bool) -> int:
        """Whole milliseconds since the last reset (periodic) or the start."""
        since = self.last_reset_mono if periodic else self.start_mono
        return max(0, round((now_mono - since) * 1_000_000) // 1000)

    def call_rate(self, now_mono: float, *, periodic: bool) -> float:
        """Calls created per second, SIPp's way: calls * 1000 / elapsed ms (0 if none)."""
        elapsed = self.elapsed_ms(now_mono, periodic=periodic)
        stats = self.periodic if periodic else self.cumulative
        return stats.created_calls * 1000 / elapsed if elapsed else 0.0

    # ------------------------------------------------------------------ period, merge

    def reset_period(self, now_wall: datetime, now_mono: float) -> None:
        """Start a new period: zero the (P) counters (and repartitions if periodic)."""
        fresh = CallStats()
        for name in self.rtd_names:
            fresh.response_times[name] = RtdStats()
        for name in self.counter_names:
            fresh.counters[name] = 0
        self.periodic = fresh
        self.reset_wall = now_wall
        self.reset_mono = now_mono
        if self.periodic_repartition:
            for histogram in self.rtd_histograms.values():
                histogram.reset()
            if self.call_length_histogram is not None:
                self.call_length_histogram.reset()

    def merge(self, other: Snapshot) -> None:
        """Add ``other``'s counts (another worker's) to this one.

        Counters, sums, histograms, current and peak calls (an upper bound) and the
        target rate add up; start and reset times become the earliest of both;
        names unknown here are appended. Repartition limits must agree.
        """
        if (self.response_time_repartition, self.call_length_repartition) != (
            other.response_time_repartition,
            other.call_length_repartition,
        ):
            raise ValueError("cannot merge snapshots with different repartition limits")
        for name in other.rtd_names:
            self._declare_rtd(name)
        for name in other.counter_names:
            if name not in self.counter_names:
                self.counter_names.append(name)
        self.periodic.merge(other.periodic)
        self.cumulative.merge(other.cumulative)
        self.current_calls += other.current_calls
        self.peak_calls += other.peak_calls
        self.target_rate += other.target_rate
        for index, stats in other.steps.items():
            self.step(index).merge(stats)
        for name, histogram in other.rtd_histograms.items():
            self.rtd_histograms[name].merge(histogram)
        if self.call_length_histogram is not None and other.call_length_histogram is not None:
            self.call_length_histogram.merge(other.call_length_histogram)
        if other.start_mono < self.start_mono:
            self.start_wall, self.start_mono = other.start_wall, other.start_mono
        if other.last_reset_mono < self.last_reset_mono:
            self.reset_wall, self.reset_mono = other.reset_wall, other.reset_mono

    @classmethod
    def merged(cls, snapshots: Iterable[Snapshot]) -> Snapshot:
        """A new snapshot holding the sum of ``snapshots`` (at least one)."""
        items = list(snapshots)
        if not items:
            raise ValueError("nothing to merge")
        total = copy.deepcopy(items[0])
        for item in items[1:]:
            total.merge(item)
        return total

    # ------------------------------------------------------------------ serialisation

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (see :func:`sipwright.report.sipp_files.stats_json`)."""
        return {
            "start_time": self.start_wall.isoformat(),
            "start_monotonic": self.start_mono,
            "last_reset_time": self.last_reset_wall.isoformat(),
            "last_reset_monotonic": self.last_reset_mono,
            "target_rate": self.target_rate,
            "rtd_names": list(self.rtd_names),
            "counter_names": list(self.counter_names),
            "current_calls": self.current_calls,
            "peak_calls": self.peak_calls,
            "total_calls_created": self.cumulative.created_calls,
            "periodic": self.periodic.to_dict(),
            "cumulative": self.cumulative.to_dict(),
            "repartitions": {
                "periodic": self.periodic_repartition,
                "response_time": None
                if self.response_time_repartition is None
                else {
                    "limits_ms": list(self.response_time_repartition),
                    "by_rtd": {k: list(v.counts) for k, v in self.rtd_histograms.items()},
                },
                "call_length": None
                if self.call_length_histogram is None
                else self.call_length_histogram.to_dict(),
            },
            "steps": [{"index": i, **asdict(s)} for i, s in sorted(self.steps.items())],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Snapshot:
        """Rebuild a snapshot from :meth:`to_dict` output (derived values ignored)."""
        reps = data["repartitions"]
        rt = reps.get("response_time")
        cl = reps.get("call_length")
        snapshot = cls(
            start_wall=_parse_time(data["start_time"]),
            start_mono=float(data["start_monotonic"]),
            rtd_names=[str(n) for n in data["rtd_names"]],
            response_time_repartition=None if rt is None else _ints(rt["limits_ms"]),
            call_length_repartition=None if cl is None else _ints(cl["limits_ms"]),
            periodic_repartition=bool(reps.get("periodic", False)),
            counter_names=[str(n) for n in data.get("counter_names", [])],
            target_rate=float(data["target_rate"]),
            reset_wall=_parse_time(data["last_reset_time"]),
            reset_mono=float(data["last_reset_monotonic"]),
            periodic=CallStats.from_dict(data["periodic"]),
            cumulative=CallStats.from_dict(data["cumulative"]),
            current_calls=int(data["current_calls"]),
            peak_calls=int(data["peak_calls"]),
        )
        if rt is not None:
            for name, counts in rt["by_rtd"].items():
                snapshot._declare_rtd(str(name))
                snapshot.rtd_histograms[str(name)].counts = [int(c) for c in counts]
        if cl is not None and snapshot.call_length_histogram is not None:
            snapshot.call_length_histogram.counts = [int(c) for c in cl["counts"]]
        for item in data.get("steps", []):
            counts = {k: int(v) for k, v in item.items() if k != "index"}
            snapshot.steps[int(item["index"])] = MessageStats(**counts)
        return snapshot


def _ints(values: Sequence[Any]) -> tuple[int, ...]:
    return tuple(int(v) for v in values)
