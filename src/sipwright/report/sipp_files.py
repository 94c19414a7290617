"""Writers for SIPp's statistics and trace files, byte-compatible with SIPp 3.6.1.

* :class:`TraceStatWriter` -- ``-trace_stat`` CSV (``-stf``): one header line, one row
  per dump; ``;``-separated (``-stat_delimiter``) with a trailing separator; times
  as ``YYYY-MM-DD<TAB>HH:MM:SS.uuuuuu<TAB>epoch.uuuuuu``; elapsed times ``HH:MM:SS``;
  durations ``HH:MM:SS:uuuuuu`` (whole ms, so always ``...000``); rates ``%g``.
* :func:`stats_json` -- the same numbers as JSON (schema below).
* :class:`ErrorLog` -- ``-trace_err`` (``-error_file``).
* :class:`MessageLog` -- ``-trace_msg`` (``-message_file``).
* :class:`ScreenWriter` -- ``-trace_screen`` (``-screen_file``): scenario, statistics
  and repartition screens.

SIPp quirks reproduced on purpose (files stay identical for existing parsers): the
error log writes no newline after an entry; ``CallLengthStDev`` of exactly one call
is ``2562047788015:12:55:808000`` (SIPp's NaN; ``sipp_quirks=False`` writes 0); means
and deviations are truncated to whole ms; the screen repeats the "open sockets" line.

JSON schema ``sipwright.sipp-stats/1`` (:func:`stats_json`): ``schema``; ``start_time``
/``last_reset_time`` (ISO 8601) with ``start_monotonic``/``last_reset_monotonic`` (s);
``target_rate``; ``rtd_names``; ``counter_names``; ``current_calls``; ``peak_calls``;
``total_calls_created``; ``periodic`` and ``cumulative``, each ``{incoming_calls,
outgoing_calls, successful_calls, failed_calls, failed_by_reason: {<SIPp reason, e.g.
"MaxUDPRetrans">: n}, events: {<SIPp column, e.g. "Retransmissions">: n}, counters:
{name: n}, response_times: {rtd: RTD}, call_length: RTD}`` where RTD is ``{count,
sum_ms, sum_sq_ms, min_ms, max_ms, mean_ms, stdev_ms}`` (sample deviation, null below
2 values); ``repartitions: {periodic, response_time: {limits_ms, by_rtd: {rtd:
counts}} | null, call_length: {limits_ms, counts} | null}`` (``counts[i]``: values
below ``limits_ms[i]``, last: the rest); ``steps: [{index, messages, retransmissions,
timeouts, unexpected, sessions}]``. Given the current time it adds ``current_time``,
``current_monotonic``, ``elapsed_ms`` and ``call_rate`` (``{periodic, cumulative}``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Literal, Protocol, Self

from sipwright.report.sipp_stats import (
    Event,
    FailReason,
    MessageStats,
    Repartition,
    RtdStats,
    Snapshot,
    rtd_name,
)


class StatSink(Protocol):
    """Where an engine's -trace_stat dumps go (at the start, every -fd, at the end):
    a :class:`TraceStatWriter`, or a worker's pipe to its coordinator."""

    def write(self, snapshot: Snapshot, now_wall: datetime, now_mono: float) -> None: ...

    def close(self) -> None: ...


SCHEMA = "sipwright.sipp-stats/1"
# What SIPp 3.6.1 writes for the deviation of a single call length (NaN cast to int64).
SIPP_NAN_DURATION = "2562047788015:12:55:808000"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# ---------------------------------------------------------------------------- formats


def _epoch_us(moment: datetime) -> int:
    aware = moment if moment.tzinfo is not None else moment.astimezone()
    return (aware - _EPOCH) // timedelta(microseconds=1)


def sipp_timestamp(moment: datetime) -> str:
    """``2026-11-27<TAB>01:05:27.142836<TAB>1795741527.142836`` (fields as given;
    a naive ``moment`` is local time, as SIPp writes)."""
    seconds, micros = divmod(_epoch_us(moment), 1_000_000)
    return f"{moment:%Y-%m-%d\t%H:%M:%S.%f}\t{seconds}.{micros:06d}"


def log_timestamp(moment: datetime) -> str:
    """``2026-11-27 01:05:27.142836``: the time on -trace_msg separator lines."""
    return f"{moment:%Y-%m-%d %H:%M:%S.%f}"


def format_hms(seconds: int) -> str:
    """``HH:MM:SS`` (the CSV's ElapsedTime columns)."""
    hours, rest = divmod(max(0, int(seconds)), 3600)
    return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


def format_duration(ms: float) -> str:
    """``HH:MM:SS:uuuuuu`` of whole milliseconds (truncated), SIPp's duration format."""
    whole = max(0, int(ms))
    return f"{format_hms(whole // 1000)}:{whole % 1000 * 1000:06d}"


def format_number(value: float) -> str:
    """C++ ostream's default float format (``%g``: 6 significant digits)."""
    return f"{value:g}"


# --------------------------------------------------------------------------- CSV stats


class _Closing:
    """close() and ``with`` support for the writers holding ``_file``."""

    _file: IO[Any] | None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@dataclass(frozen=True)
class Repartitions:
    """The scenario's ``ResponseTimeRepartition``/``CallLengthRepartition`` limits (ms)."""

    response_time: tuple[int, ...] | None = None
    call_length: tuple[int, ...] | None = None


def _pc(name: str) -> list[str]:
    return [f"{name}(P)", f"{name}(C)"]


def _repartition_columns(prefix: str, limits: Sequence[int]) -> list[str]:
    return [prefix, *(f"{prefix}_<{v}" for v in limits), f"{prefix}_>={limits[-1]}"]


def trace_stat_columns(
    rtd_names: Sequence[str] = (),
    repartitions: Repartitions = Repartitions(),
    counter_names: Sequence[str] = (),
) -> list[str]:
    """SIPp's -trace_stat column names, in order."""
    columns = ["StartTime", "LastResetTime", "CurrentTime", *_pc("ElapsedTime"), "TargetRate"]
    columns += [*_pc("CallRate"), *_pc("IncomingCall"), *_pc("OutgoingCall")]
    columns += ["TotalCallCreated", "CurrentCall", *_pc("SuccessfulCall"), *_pc("FailedCall")]
    for reason in FailReason:
        columns += _pc(f"Failed{reason}")
    for event in Event:
        columns += _pc(event)
    names = [rtd_name(name) for name in rtd_names]
    for name in names:
        columns += [*_pc(f"ResponseTime{name}"), *_pc(f"ResponseTime{name}StDev")]
    columns += [*_pc("CallLength"), *_pc("CallLengthStDev")]
    for counter in counter_names:
        columns += _pc(counter)
    if repartitions.response_time:
        for name in names:
            columns += _repartition_columns(
                f"ResponseTimeRepartition{name}", repartitions.response_time
            )
    if repartitions.call_length:
        columns += _repartition_columns("CallLengthRepartition", repartitions.call_length)
    return columns


class TraceStatWriter(_Closing):
    """Writes a -trace_stat CSV: the header at creation, then :meth:`write` per dump.

    Like SIPp, dump once at the start, every ``-fd`` period and at the end, calling
    :meth:`Snapshot.reset_period` after each periodic dump.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        rtd_names: Sequence[str] = (),
        repartitions: Repartitions = Repartitions(),
        counter_names: Sequence[str] = (),
        delimiter: str = ";",
        sipp_quirks: bool = True,
    ) -> None:
        self.path = Path(path)
        self.rtd_names = [rtd_name(name) for name in rtd_names]
        self.repartitions = repartitions
        self.counter_names = list(counter_names)
        self.delimiter = delimiter
        self.sipp_quirks = sipp_quirks
        self.columns = trace_stat_columns(self.rtd_names, repartitions, self.counter_names)
        self._file: IO[str] = self.path.open("w", encoding="utf-8", newline="")
        self._file.write(self._line(self.columns))
        self._file.flush()

    @classmethod
    def for_snapshot(cls, path: str | Path, snapshot: Snapshot, **kwargs: Any) -> Self:
        """A writer whose columns match ``snapshot``'s RTDs, repartitions and counters."""
        reps = Repartitions(snapshot.response_time_repartition, snapshot.call_length_repartition)
        return cls(
            path,
            rtd_names=snapshot.rtd_names,
            repartitions=reps,
            counter_names=snapshot.counter_names,
            **kwargs,
        )

    def _line(self, values: Sequence[str]) -> str:
        return "".join(value + self.delimiter for value in values) + "\n"

    def _stdev(self, stats: RtdStats, *, call_length: bool) -> str:
        deviation = stats.stdev_ms
        if deviation is None:
            if call_length and stats.count == 1 and self.sipp_quirks:
                return SIPP_NAN_DURATION
            return format_duration(0)
        return format_duration(deviation)

    def row(self, snapshot: Snapshot, now_wall: datetime, now_mono: float) -> list[str]:
        """The values of one row (no separators)."""
        p, c = snapshot.periodic, snapshot.cumulative
        elapsed_p = snapshot.elapsed_ms(now_mono, periodic=True)
        elapsed_c = snapshot.elapsed_ms(now_mono, periodic=False)
        values = [
            sipp_timestamp(snapshot.start_wall),
            sipp_timestamp(snapshot.last_reset_wall),
            sipp_timestamp(now_wall),
            format_hms(elapsed_p // 1000),
            format_hms(elapsed_c // 1000),
            format_number(snapshot.target_rate),
            format_number(snapshot.call_rate(now_mono, periodic=True)),
            format_number(snapshot.call_rate(now_mono, periodic=False)),
        ]

        def pair(get: Any) -> list[str]:
            return [str(get(p)), str(get(c))]

        values += pair(lambda s: s.incoming_calls) + pair(lambda s: s.outgoing_calls)
        values += [str(c.created_calls), str(snapshot.current_calls)]
        values += pair(lambda s: s.successful_calls) + pair(lambda s: s.failed_calls)
        for reason in FailReason:
            values += pair(lambda s, r=reason: s.failed_by_reason.get(r, 0))
        for event in Event:
            values += pair(lambda s, e=event: s.events.get(e, 0))
        empty = RtdStats()
        for name in self.rtd_names:
            sp, sc = p.response_times.get(name, empty), c.response_times.get(name, empty)
            values += [format_duration(sp.mean_ms), format_duration(sc.mean_ms)]
            values += [self._stdev(s, call_length=False) for s in (sp, sc)]
        values += [format_duration(p.call_length.mean_ms), format_duration(c.call_length.mean_ms)]
        values += [self._stdev(s, call_length=True) for s in (p.call_length, c.call_length)]
        for counter in self.counter_names:
            values += pair(lambda s, n=counter: s.counters.get(n, 0))
        if self.repartitions.response_time:
            for name in self.rtd_names:
                histogram = snapshot.rtd_histograms.get(name)
                values += ["", *_counts(histogram, self.repartitions.response_time)]
        if self.repartitions.call_length:
            histogram = snapshot.call_length_histogram
            values += ["", *_counts(histogram, self.repartitions.call_length)]
        return values

    def write(self, snapshot: Snapshot, now_wall: datetime, now_mono: float) -> None:
        """Append one row (flushed, so readers see it at once)."""
        self._file.write(self._line(self.row(snapshot, now_wall, now_mono)))
        self._file.flush()


def _counts(histogram: Repartition | None, limits: tuple[int, ...]) -> list[str]:
    if histogram is None or histogram.limits != tuple(sorted(limits)):
        return ["0"] * (len(limits) + 1)
    return [str(n) for n in histogram.counts]


# -------------------------------------------------------------------------------- JSON


def stats_json(
    snapshot: Snapshot, now_wall: datetime | None = None, now_mono: float | None = None
) -> dict[str, Any]:
    """The snapshot as a JSON-ready dict (schema ``sipwright.sipp-stats/1``)."""
    data: dict[str, Any] = {"schema": SCHEMA, **snapshot.to_dict()}
    if now_wall is not None:
        data["current_time"] = now_wall.isoformat()
    if now_mono is not None:
        data["current_monotonic"] = now_mono
        for key, get in (("elapsed_ms", snapshot.elapsed_ms), ("call_rate", snapshot.call_rate)):
            data[key] = {
                k: get(now_mono, periodic=k == "periodic") for k in ("periodic", "cumulative")
            }
    return data


def load_stats_json(data: dict[str, Any]) -> Snapshot:
    """The Snapshot back from :func:`stats_json` output (derived values ignored)."""
    if data.get("schema") != SCHEMA:
        raise ValueError(f"not a {SCHEMA} document: schema {data.get('schema')!r}")
    return Snapshot.from_dict(data)


def write_stats_json(
    path: str | Path, snapshot: Snapshot, now_wall: datetime | None, now_mono: float | None
) -> None:
    """Write :func:`stats_json` to ``path`` (``--stats-json``)."""
    text = json.dumps(stats_json(snapshot, now_wall, now_mono), indent=2, allow_nan=False)
    Path(path).write_text(text + "\n", encoding="utf-8")


# --------------------------------------------------------------------------- error log


def retrans_timeout_error(call_id: str) -> str:
    """SIPp's text for a call aborted after the last UDP retransmission."""
    return f"Aborting call on UDP retransmission timeout for Call-ID '{call_id}'"


def recv_timeout_error(call_id: str, scenario: str, index: int, jump_to: int | None) -> str:
    """SIPp's text for a receive timeout at step ``index`` of scenario ``scenario``
    (``jump_to``: command index of the ``ontimeout`` label; None: the call aborts)."""
    head = f"Call-Id: {call_id}, receive timeout on message {scenario}:{index}"
    if jump_to is None:
        return f"{head} without label to jump to (ontimeout attribute): aborting call"
    return f"{head}, jumping to label {jump_to}"


def unexpected_message_error(call_id: str, expected: str, index: int, received: str) -> str:
    """SIPp's text for a call aborted on an unexpected message (``received``: the
    whole message as text, CRLFs included; ``expected``: method or status code)."""
    return (
        f"Aborting call on unexpected message for Call-Id '{call_id}': "
        f"while expecting '{expected}' (index {index}), received '{received}'"
    )


class ErrorLog(_Closing):
    """-trace_err: "The following events occurred:" then ``<timestamp>: <text>`` entries.

    The file is created at the first entry (SIPp creates none without errors).
    SIPp ends entries with nothing, so they run together; ``terminator="\\n"``
    separates them (no longer byte-identical).
    """

    HEADER = "The following events occurred:\n"

    def __init__(self, path: str | Path, *, overwrite: bool = True, terminator: str = "") -> None:
        self.path = Path(path)
        self.overwrite = overwrite
        self.terminator = terminator
        self._file: IO[str] | None = None

    def write(self, message: str, now: datetime) -> None:
        if self._file is None:
            mode = "w" if self.overwrite else "a"
            self._file = self.path.open(
                mode, encoding="utf-8", errors="surrogateescape", newline=""
            )
            self._file.write(self.HEADER)
        self._file.write(f"{sipp_timestamp(now)}: {message}{self.terminator}")
        self._file.flush()


# ------------------------------------------------------------------------- message log


class MessageLog(_Closing):
    """-trace_msg: every SIP message sent or received, framed as SIPp frames them::

        ----------------------------------------------- 2026-11-27 01:22:52.811507
        UDP message sent (508 bytes):
        <blank line><the message bytes><newline>

    (``UDP message received [305] bytes :`` for received ones). The file is created
    at once, as SIPp does. SIPp's framing has no addresses, so ``addresses`` is
    accepted but not written (parsers of SIPp's logs keep working).
    """

    SEPARATOR = b"-" * 47

    def __init__(self, path: str | Path, *, overwrite: bool = True) -> None:
        self.path = Path(path)
        self._file: IO[bytes] = self.path.open("wb" if overwrite else "ab")

    def write(
        self,
        direction: Literal["sent", "received"],
        transport: str,
        addresses: tuple[str, str] | None,
        data: bytes,
        now: datetime,
    ) -> None:
        del addresses  # not part of SIPp's format
        kind = transport.upper()
        if direction == "sent":
            title = f"{kind} message sent ({len(data)} bytes):"
        elif direction == "received":
            title = f"{kind} message received [{len(data)}] bytes :"
        else:
            raise ValueError(f"direction must be 'sent' or 'received', not {direction!r}")
        head = f" {log_timestamp(now)}\n{title}\n\n".encode()
        self._file.write(self.SEPARATOR + head + data + b"\n")
        self._file.flush()

    def write_unexpected(self, transport: str, data: bytes) -> None:
        """The extra, undated frame SIPp writes after an unexpected message."""
        head = f"\nUnexpected {transport.upper()} message received:\n\n".encode()
        self._file.write(self.SEPARATOR + head + data + b"\n")
        self._file.flush()


# ------------------------------------------------------------------------------ screen


def pause_fixed(ms: float) -> str:
    """A fixed pause's label on the scenario screen: ``[   1500ms]``."""
    return f"[{int(ms):7d}ms]"


def pause_variable(name: str) -> str:
    """A pause whose duration comes from variable ``name``: ``[       $d]``."""
    return f"[{'$' + name:>9}]"


def pause_uniform(low: float, high: float) -> str:
    return f"[{int(low):2d}ms/{int(high):2d}ms]"


def pause_normal(mean: float, stdev: float) -> str:
    return f"[N({int(mean)}ms,{int(stdev)}ms)]"


def pause_exponential(mean: float) -> str:
    return f"[Exp({int(mean)}ms)]"


@dataclass(frozen=True)
class ScreenStep:
    """One line of the scenario screen (leave out hidden commands and labels).

    ``index``: the scenario command index (key of :attr:`Snapshot.steps`).
    ``label``: send/recv: method or status code; pause: see ``pause_*``.
    ``timeout_column``: show the Timeout count of a send (SIPp: when ``retrans`` is
    set; receives always show it). ``display``: a nop's ``display`` text.
    """

    index: int
    kind: Literal["send", "recv", "pause", "nop"]
    label: str = ""
    start_rtd: str | None = None
    rtd: str | None = None
    timeout_column: bool = False
    crlf: bool = False
    display: str | None = None


@dataclass(frozen=True)
class ScreenInfo:
    """Run facts shown on the scenario screen that the counters do not hold.

    ``remote`` ("host:port") and ``client`` pick the layout: client (places calls)
    or server; ``client`` None means "remote given". ``call_limit``: ``-m``;
    ``open_calls_limit``: ``-l``; ``rate``/``rate_period_s``/``call_length_ms``:
    ``-r``/``-rp``/``-d``. ``last_error``: the last error-log text, if any.
    ``terminated``: footer "Test Terminated" instead of "Waiting for active calls".
    """

    local_port: int
    transport: str = "UDP"
    remote: str | None = None
    client: bool | None = None
    rate: float = 10.0
    rate_period_s: float = 1.0
    call_length_ms: int = 0
    call_limit: int | None = None
    open_calls_limit: int | None = None
    period_s: float = 0.0
    new_calls: int = 0
    scheduler_resolution_ms: int = 0
    peak_after_s: int = 0
    running: int = 0
    paused: int = 0
    woken: int = 0
    open_sockets: int = 0
    udp_errors: tuple[int, int, int] = (0, 0, 0)
    last_error: str | None = None
    terminated: bool = False


_WAITING = "------- Waiting for active calls to end. Press [q] again to force exit. -------"
_TERMINATED = "------------------------------ Test Terminated --------------------------------"
_SEP = "-" * 25 + "+" + "-" * 27 + "+" + "-" * 26
_COLUMNS = " " * 33 + "Messages  Retrans   Timeout   Unexpected-Msg"


def _title(title: str) -> str:
    left = 30 - math.ceil((len(title) - 15) / 2)
    right = 53 - len(title) - left
    return f"{'-' * left} {title} {'-' * right} [1-9]: Change Screen --"


def _row(label: str, periodic: str, cumulative: str) -> str:
    return f"  {label:<23}| {periodic:<26}| {cumulative:<25}"


def _step_line(step: ScreenStep, stats: MessageStats, client: bool, rtds: list[str]) -> str:
    if step.kind == "nop":
        return f" {step.display}" if step.display else f"{'':14}[ NOP ]{'':14}"
    if step.kind == "pause":
        head = f"{'Pause':>12} {step.label}" if client else f"  {step.label} Pause"
        head = head.ljust(33) if len(head) < 33 else head + " "
        return f"{head}{stats.messages:<30}{stats.sessions:<9}"
    outgoing = step.kind == "send"
    arrow = "---------->" if outgoing == client else "<----------"
    head = f"{step.label:>12} {arrow}" if client else f"  {arrow} {step.label:<10}"
    marker = ""
    for prefix, name in (("B", step.start_rtd), ("E", step.rtd)):
        if name is not None and not marker:
            normal = rtd_name(name)
            number = rtds.index(normal) + 1 if normal in rtds else normal
            marker = f"{prefix}-RTD{number}"
    counts = f"{stats.messages:<10}{stats.retransmissions:<10}"
    if not outgoing:
        counts += f"{stats.timeouts:<10}{stats.unexpected:<16}"
    elif step.timeout_column:
        counts += f"{stats.timeouts:<10}{'':16}"
    else:
        counts += " " * 26
    return f"{head} {marker:>7} {counts}"


def _tail(info: ScreenInfo) -> list[str]:
    lines = []
    if info.last_error:
        text = info.last_error
        lines.append(f"Last Error: {text[:60] + '...' if len(text) > 60 else text}")
    return [*lines, _TERMINATED if info.terminated else _WAITING]


def _scenario_screen(
    snapshot: Snapshot, steps: Sequence[ScreenStep], info: ScreenInfo, now_mono: float
) -> list[str]:
    client = info.client if info.client is not None else info.remote is not None
    total_s = max(0.0, now_mono - snapshot.start_mono)
    created = snapshot.cumulative.created_calls
    tail = f"{info.local_port:<5}{total_s:10.2f} s{created:13d}"
    if client:
        lines = ["  Call rate (length)   Port   Total-time  Total-calls  Remote-host"]
        rate = f"{info.rate:.1f}({info.call_length_ms} ms)/{info.rate_period_s:.3f}s"
        lines.append(f"  {rate}   {tail}  {info.remote}({info.transport})")
    else:
        lines = ["  Port   Total-time  Total-calls  Transport", f"  {tail}  {info.transport}"]
    if info.call_limit is not None and created >= info.call_limit:
        period = f"Call limit {info.call_limit} hit, {info.period_s:.1f} s period"
    else:
        period = f"{info.new_calls} new calls during {info.period_s:.3f} s period"
    calls = f"{snapshot.current_calls} calls"
    if client and info.open_calls_limit is not None:
        calls += f" (limit {info.open_calls_limit})"
    dead = f"{snapshot.cumulative.events[Event.DEAD_CALL_MSGS]} dead call msg (discarded)"
    out_of_call = snapshot.cumulative.events[Event.OUT_OF_CALL_MSGS]
    sockets = f"{f'{info.open_sockets} open sockets':<40}"
    sockets += "{}/{}/{} UDP errors (send/recv/cong)".format(*info.udp_errors)
    lines += [
        "",
        f"  {period:<40}{f'{info.scheduler_resolution_ms} ms scheduler resolution':<37}",
        f"  {calls:<40}Peak was {snapshot.peak_calls} calls, after {info.peak_after_s} s",
        f"  {info.running} Running, {info.paused} Paused, {info.woken} Woken up",
        f"  {dead:<40}{out_of_call} out-of-call msg (discarded)" if client else f"  {dead:<38}",
        f"  {sockets}",
        f"  {sockets}",
        "",
        _COLUMNS,
    ]
    for step in steps:
        lines.append(_step_line(step, snapshot.step(step.index), client, snapshot.rtd_names))
        if step.crlf:
            lines.append("")
    return [_title("Scenario Screen"), *lines, *_tail(info)]


def _statistics_screen(
    snapshot: Snapshot, info: ScreenInfo, now_wall: datetime, now_mono: float
) -> list[str]:
    p, c = snapshot.periodic, snapshot.cumulative

    def counts(label: str, get: Any) -> str:
        return _row(label, f"{get(p):8d}", f"{get(c):8d}")

    elapsed = [snapshot.elapsed_ms(now_mono, periodic=flag) for flag in (True, False)]
    rate_p = f"{snapshot.call_rate(now_mono, periodic=True):8.3f} cps"
    rate_c = f"{snapshot.call_rate(now_mono, periodic=False):8.3f} cps"
    lines = [
        f"  {'Start Time':<23}| {sipp_timestamp(snapshot.start_wall):<53}",
        f"  {'Last Reset Time':<23}| {sipp_timestamp(snapshot.last_reset_wall):<53}",
        f"  {'Current Time':<23}| {sipp_timestamp(now_wall):<53}",
        _SEP,
        "  Counter Name           | Periodic value            | Cumulative value",
        _SEP,
        _row("Elapsed Time", *(format_duration(e) for e in elapsed)),
        _row("Call Rate", rate_p, rate_c),
        _SEP,
        counts("Incoming calls created", lambda s: s.incoming_calls),
        counts("Outgoing calls created", lambda s: s.outgoing_calls),
        _row("Total Calls created", "", f"{c.created_calls:8d}"),
        _row("Current Calls", f"{snapshot.current_calls:8d}", ""),
        _SEP,
    ]
    if snapshot.counter_names:
        for name in snapshot.counter_names:
            lines.append(counts(f"Counter {name}", lambda s, n=name: s.counters.get(n, 0)))
        lines.append(_SEP)
    lines += [
        counts("Successful call", lambda s: s.successful_calls),
        counts("Failed call", lambda s: s.failed_calls),
        _SEP,
    ]
    for name in snapshot.rtd_names:
        stats = [s.response_times.get(name, RtdStats()).mean_ms for s in (p, c)]
        lines.append(_row(f"Response Time {name}", *map(format_duration, stats)))
    stats = [p.call_length.mean_ms, c.call_length.mean_ms]
    lines.append(_row("Call Length", *map(format_duration, stats)))
    return [_title("Statistics Screen"), *lines, *_tail(info)]


_NO_REPARTITION = f"{'    <No repartion defined>':<79}"  # sic


def _repartition_block(title: str, histogram: Repartition | None) -> list[str]:
    lines = [f"  {title:<77}"]
    if histogram is None:
        return [*lines, _NO_REPARTITION]
    low = 0
    for limit, count in zip(histogram.limits, histogram.counts, strict=False):
        lines.append(f"{low:>14} ms <= n < {limit:>10} ms : {count:>10}")
        low = limit
    lines.append(f"{'':19}n >= {histogram.limits[-1]:>10} ms : {histogram.counts[-1]:>10}")
    return lines


def _repartition_screens(snapshot: Snapshot, info: ScreenInfo) -> list[str]:
    """Screen 1: RTD 1 and call lengths; screen N: RTD N. Without RTDs SIPp shows
    "<No repartion defined>" only, even with a CallLengthRepartition."""
    blocks = [
        _repartition_block(
            f"Average Response Time Repartition {name}", snapshot.rtd_histograms.get(name)
        )
        for name in snapshot.rtd_names
    ]
    if blocks:
        title = "Average Call Length Repartition"
        first = blocks[0] + _repartition_block(title, snapshot.call_length_histogram)
    else:
        first = [_NO_REPARTITION]
    lines = [_title("Repartition Screen"), *first, *_tail(info)]
    for number, block in enumerate(blocks[1:], start=2):
        lines += [_title(f"Repartition {number} Screen"), *block, *_tail(info)]
    return lines


def render_screens(
    snapshot: Snapshot,
    steps: Sequence[ScreenStep],
    info: ScreenInfo,
    now_wall: datetime,
    now_mono: float,
) -> str:
    """SIPp's final screens as text: scenario, statistics, repartition(s)."""
    lines = _scenario_screen(snapshot, steps, info, now_mono)
    lines += _statistics_screen(snapshot, info, now_wall, now_mono)
    lines += _repartition_screens(snapshot, info)
    return "\n".join(lines) + "\n"


class ScreenWriter:
    """-trace_screen: writes the final screens (:func:`render_screens`) to ``path``."""

    def __init__(self, path: str | Path, *, overwrite: bool = True) -> None:
        self.path = Path(path)
        self.overwrite = overwrite

    def write(
        self,
        snapshot: Snapshot,
        steps: Sequence[ScreenStep],
        info: ScreenInfo,
        now_wall: datetime,
        now_mono: float,
    ) -> None:
        text = render_screens(snapshot, steps, info, now_wall, now_mono)
        mode = "w" if self.overwrite else "a"
        with self.path.open(mode, encoding="utf-8", newline="") as file:
            file.write(text)
