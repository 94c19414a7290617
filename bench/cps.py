"""Benchmark of call setup rate: SIPp and ``sipwright sipp`` as UAC and UAS, on UDP
with no media, in one invocation on this machine.

Pairs (client -> UAS): SIPp -> SIPp, sipwright -> SIPp (once per ``--workers`` count),
sipwright -> sipwright, and SIPp -> sipwright (the UAS side's figures).  For each pair:

1. Rates: ``rate * duration`` calls at each rate (``-r``, ``-m``, ``-d 0``), walked
   upward; the walk stops at the first rate with a failed call (from the client's
   ``-trace_stat`` file, not the exit code) or with an achieved rate under 90 % of the
   target (calls started over the client's run time in its statistics, less that of a
   ``-m 1`` run, so that the start of workers is not counted as falling behind).  The
   highest zero-failure rate is the last rate before that.
2. CPU: ``ru_utime + ru_stime`` of the client and of the UAS from ``os.wait4`` (worker
   processes included: their parent waits for them), per 1,000 calls; "net" subtracts
   the cost of the same command with ``-m 1`` (start-up and exit).
3. Memory: calls held up with ``-d`` (10 s at 500/s: ~5,000 concurrent); the peak RSS
   of each side (summed over its descendants) minus its RSS with one call held, per
   1,000 concurrent calls (CurrentCall from the client's statistics).

The ratios sipwright/SIPp are printed beside the targets of the issue.  Prints
figures, asserts nothing; the machine's load average is printed at start and end.
``python bench/cps.py [--quick] [--rates 500,1000] [--duration S] [--workers 1,2]
[--json OUT]``: about 4 minutes (5 with ``--workers 1,2``), ``--quick`` about 90 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cps_runs import Run, Tool, Unsupported, measure

CPU_RATE = 1000  # the rate at which the CPU target is judged
KEEP_UP = 0.9  # a rate counts only if at least this share of it was achieved


@dataclass(frozen=True, slots=True)
class Settings:
    rates: tuple[int, ...]
    duration: float  # seconds of calls per rate
    memory_rate: int
    hold_ms: int  # -d of the memory run
    memory_s: float  # the memory run's client is stopped after this
    baseline_s: float  # RSS at start: one call held this long after the start-up time


@dataclass(frozen=True, slots=True)
class Pair:
    label: str
    client: Tool
    uas: Tool
    workers: int | None = None  # --workers N for a sipwright client


@dataclass(slots=True)
class PairResult:
    pair: Pair
    note: str = ""
    startup: Run | None = None  # -m 1 -d 0: start-up and exit
    baseline: Run | None = None  # one call held: the RSS at start
    ladder: list[Run] = field(default_factory=list)
    best_rate: int = 0
    every_rate_passed: bool = False  # the real limit is above the rates tried
    stopped_by: str = ""  # why the walk up the rates stopped
    memory: Run | None = None

    def run_at(self, rate: int) -> Run | None:
        return next((run for run in self.ladder if run.rate == rate), None)

    def achieved_rate(self, run: Run) -> float:
        """Calls per second of the client's own run time (StartTime to CurrentTime of
        its statistics) beyond that of the ``-m 1`` run, which is the start of workers
        (a single process starts its clock after its imports): start-up is not a rate
        the tool cannot keep.  At ``-r R`` call n starts (n - 1) / R seconds in."""
        extra = run.span_s - (self.startup.span_s if self.startup else 0.0)
        return (run.created - 1) / extra if extra > 0 else 0.0

    def cpu_per_1k(self, run: Run, uas: bool) -> tuple[float, float]:
        """(raw, net) CPU seconds per 1,000 calls of the client or the UAS."""
        calls = max(run.processed, 1)
        spent = run.uas_cpu_s if uas else run.client_cpu_s
        startup = self.startup
        start = 0.0 if startup is None else startup.uas_cpu_s if uas else startup.client_cpu_s
        return spent / calls * 1000, max(spent - start, 0.0) / calls * 1000

    def mib_per_1k(self, uas: bool) -> float | None:
        if self.memory is None or self.baseline is None:
            return None
        peak = self.memory.uas_rss_kib if uas else self.memory.client_rss_kib
        start = self.baseline.uas_rss_kib if uas else self.baseline.client_rss_kib
        if peak == 0 or start == 0:
            return None
        return (peak - start) / 1024 / self.concurrent() * 1000

    def concurrent(self) -> int:
        memory = self.memory
        if memory is None:
            return 1
        return memory.peak_concurrent or max(1, memory.rate * memory.hold_ms // 1000)


def _sipwright() -> tuple[str, ...]:
    script = Path(sys.executable).with_name("sipwright")
    return (str(script),) if script.exists() else (sys.executable, "-m", "sipwright")


def _pairs(sipp: str, workers: list[int]) -> list[Pair]:
    sipp_tool = Tool("sipp", (sipp,))
    ours = Tool("sipwright", (*_sipwright(), "sipp"))
    pairs = [Pair("SIPp -> SIPp", sipp_tool, sipp_tool)]
    counts: list[int | None] = [*workers] if workers else [None]
    for count in counts:
        suffix = f" (--workers {count})" if count is not None else ""
        pairs.append(Pair(f"sipwright -> SIPp{suffix}", ours, sipp_tool, count))
    pairs.append(Pair("sipwright -> sipwright", ours, ours))
    pairs.append(Pair("SIPp -> sipwright UAS", sipp_tool, ours))
    return pairs


def _row(result: PairResult, run: Run) -> str:
    raw, net = result.cpu_per_1k(run, uas=False)
    _, uas_net = result.cpu_per_1k(run, uas=True)
    return (
        f"  {run.rate:6} {run.calls:7} {run.successful:7} {run.failed:6} "
        f"{result.achieved_rate(run):9.0f} {run.exit_code:5} {run.client_cpu_s:8.2f} "
        f"{raw:8.3f} {net:8.3f} {uas_net:9.3f}  {run.note}"
    )


HEADER = (
    f"  {'rate':>6} {'calls':>7} {'ok':>7} {'failed':>6} {'calls/s':>9} {'exit':>5} "
    f"{'UAC CPU':>8} {'UAC /1k':>8} {'net /1k':>8} {'UAS net':>9}\n"
    "  (CPU seconds; /1k = per 1,000 calls; net = less the -m 1 run; UAS net is per 1,000 too;\n"
    "   calls/s = calls started / the client's run time (its statistics) less that at -m 1)"
)


def run_pair(pair: Pair, settings: Settings, workdir: Path) -> PairResult:
    result = PairResult(pair)
    extra = ("--workers", str(pair.workers)) if pair.workers is not None else ()

    def once(rate: int, calls: int, hold_ms: int, stop_after: float | None = None) -> Run:
        return measure(
            pair.client, pair.uas, rate=rate, calls=calls, hold_ms=hold_ms, workdir=workdir,
            stop_after=stop_after, sample_rss=stop_after is not None, extra=extra,
        )  # fmt: skip

    print(f"\n{pair.label}")
    try:
        # At -r 1000 the one call starts 1 ms in, as the first call of the rate runs does
        # (at -r 10 SIPp would wait 100 ms, which would be taken for start-up).
        result.startup = once(1000, 1, 0)
        startup = result.startup
        print(
            f"  start-up (-m 1): UAC {startup.client_cpu_s:.3f} CPU s, "
            f"UAS {startup.uas_cpu_s:.3f} CPU s, {startup.wall_s:.2f} s"
        )
        # The RSS at start: one call per worker held until well after start-up (workers
        # start late, and the once-a-second statistics load code of their own).  With a
        # single call, -m's share of the other workers is 0: they would exit at once and
        # their interpreters would count as memory of the calls.
        held = startup.wall_s + settings.baseline_s
        result.baseline = once(1000, pair.workers or 1, round(held * 1000) + 1000, held)
        print(HEADER)
        for rate in settings.rates:
            run = once(rate, max(1, round(rate * settings.duration)), 0)
            result.ladder.append(run)
            print(_row(result, run), flush=True)
            achieved = result.achieved_rate(run)
            if run.failed or achieved < KEEP_UP * rate:
                result.stopped_by = (
                    f"{run.failed} failed at {rate}/s" if run.failed else
                    f"{achieved / rate:.0%} of {rate}/s achieved"
                )  # fmt: skip
                break
            result.best_rate = rate
        else:
            result.every_rate_passed = True
            result.stopped_by = "every rate passed"
        sign = ">= " if result.every_rate_passed else ""
        print(
            f"  highest rate with zero failed calls: {sign}{result.best_rate}/s "
            f"({result.stopped_by})"
        )
        measured = startup.wall_s + settings.memory_s  # calls start after start-up
        calls = round(settings.memory_rate * (measured + 1))
        result.memory = once(settings.memory_rate, calls, settings.hold_ms, measured)
        _print_memory(result)
    except Unsupported as refused:
        result.note = f"not supported: {refused}"
        print(f"  {result.note}")
    except (RuntimeError, OSError) as error:
        result.note = f"stopped: {error}"
        print(f"  {result.note}")
    return result


def _print_memory(result: PairResult) -> None:
    memory, baseline = result.memory, result.baseline
    if memory is None or baseline is None:
        return
    client, uas = result.mib_per_1k(uas=False), result.mib_per_1k(uas=True)
    print(
        f"  memory: {memory.rate}/s held {memory.hold_ms / 1000:g} s, "
        f"{result.concurrent()} concurrent (CurrentCall peak), {memory.failed} failed; "
        f"RSS one call -> peak: UAC {baseline.client_rss_kib / 1024:.1f} -> "
        f"{memory.client_rss_kib / 1024:.1f} MiB, UAS {baseline.uas_rss_kib / 1024:.1f} -> "
        f"{memory.uas_rss_kib / 1024:.1f} MiB"
    )
    print(f"  MiB per 1,000 concurrent calls: UAC {_fmt(client)}, UAS {_fmt(uas)}")


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _verdict(ratio: float | None, target: float | None, *, at_most: bool, unclear: bool) -> str:
    if ratio is None:
        return "not measured"
    if target is None:
        return ""
    met = ratio <= target if at_most else ratio >= target
    if met and unclear:
        return "unclear (raise --rates)"
    return "yes" if met else "no"


@dataclass(frozen=True, slots=True)
class Comparison:
    figure: str
    sipwright: float | None
    sipp: float | None
    ratio: float | None
    target: str  # "" where the issue sets none
    met: str
    at_least: tuple[bool, bool] = (False, False)  # a side passed every rate tried
    digits: int = 3


def compare(results: list[PairResult]) -> list[Comparison]:
    """sipwright/SIPp for each figure the issue names, with its target."""
    by_label = {result.pair.label: result for result in results if not result.note}
    sipp = by_label.get("SIPp -> SIPp")
    one = next(
        (r for r in by_label.values() if r.pair.label.startswith("sipwright -> SIPp")
         and r.pair.workers in (None, 1)),
        None,
    )  # fmt: skip
    two = next((r for r in by_label.values() if r.pair.workers == 2), None)
    uas = by_label.get("SIPp -> sipwright UAS")
    rows: list[Comparison] = []

    def cpu(result: PairResult | None, side_uas: bool) -> float | None:
        run = result.run_at(CPU_RATE) if result else None
        return None if result is None or run is None else result.cpu_per_1k(run, side_uas)[1]

    def mib(result: PairResult | None, side_uas: bool) -> float | None:
        return None if result is None else result.mib_per_1k(side_uas)

    def add(name: str, ours: float | None, theirs: float | None, target: float | None, *,
            at_most: bool) -> None:  # fmt: skip
        ratio = ours / theirs if ours is not None and theirs else None
        text = "" if target is None else ("<= " if at_most else ">= ") + f"{target:g}"
        met = _verdict(ratio, target, at_most=at_most, unclear=False)
        rows.append(Comparison(name, ours, theirs, ratio, text, met))

    def add_rate(name: str, ours: PairResult | None, target: float | None) -> None:
        mine = None if ours is None else float(ours.best_rate)
        theirs = None if sipp is None else float(sipp.best_rate)
        ratio = mine / theirs if mine is not None and theirs else None
        bounds = (ours is not None and ours.every_rate_passed,
                  sipp is not None and sipp.every_rate_passed)  # fmt: skip
        text = "" if target is None else f">= {target:g}"
        met = _verdict(ratio, target, at_most=False, unclear=bounds[1])
        rows.append(Comparison(name, mine, theirs, ratio, text, met, bounds, 0))

    add(f"UAC CPU s/1k calls at {CPU_RATE}/s, net, 1 worker", cpu(one, False),
        cpu(sipp, False), 1.0, at_most=True)  # fmt: skip
    add_rate("UAC highest zero-failure rate, --workers 2", two, 1.0)
    add_rate("UAC highest zero-failure rate, 1 worker", one, 0.5)
    add("UAC MiB/1k concurrent calls, 1 worker", mib(one, False), mib(sipp, False), 2.0,
        at_most=True)  # fmt: skip
    if two is not None:
        add("UAC MiB/1k concurrent calls, --workers 2", mib(two, False), mib(sipp, False), 2.0,
            at_most=True)  # fmt: skip
    add(f"UAS CPU s/1k calls at {CPU_RATE}/s, net", cpu(uas, True), cpu(sipp, True), None,
        at_most=True)  # fmt: skip
    add_rate("UAS highest zero-failure rate (SIPp UAC)", uas, None)
    add("UAS MiB/1k concurrent calls", mib(uas, True), mib(sipp, True), None, at_most=True)
    return rows


def _print_comparison(rows: list[Comparison], results: list[PairResult]) -> None:
    print("\nsipwright / SIPp (>= : that side passed every rate tried)")
    print(f"  {'figure':44} {'sipwright':>10} {'SIPp':>10} {'ratio':>7}  {'target':8} met")
    for row in rows:
        ours, theirs = (
            ("" if value is None or not bound else ">=") + _fmt(value, row.digits)
            for value, bound in zip((row.sipwright, row.sipp), row.at_least, strict=True)
        )
        print(
            f"  {row.figure:44} {ours:>10} {theirs:>10} {_fmt(row.ratio, 2):>7}  "
            f"{row.target or '-':8} {row.met}"
        )
    for result in results:
        if result.note:
            print(f"  {result.pair.label}: {result.note}")
    if not any(r.pair.workers == 2 for r in results):
        print("  --workers 2 was not asked for: pass --workers 1,2 to measure it")


def _settings(args: argparse.Namespace) -> Settings:
    if args.quick:
        default = Settings((500, 1000, 2000), 2.0, 500, 4000, 5.0, 1.5)
    else:
        default = Settings((500, 1000, 2000, 4000, 8000), 5.0, 500, 10000, 12.0, 2.0)
    rates = tuple(int(r) for r in args.rates.split(",")) if args.rates else default.rates
    duration = args.duration if args.duration is not None else default.duration
    return Settings(
        tuple(sorted(rates)), duration, default.memory_rate, default.hold_ms,
        default.memory_s, default.baseline_s,
    )  # fmt: skip


def _load() -> str:
    return "load average " + ", ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 rates, 2 s each, 4 s holds")
    parser.add_argument("--rates", help="comma-separated calls per second, walked upward")
    parser.add_argument("--duration", type=float, help="seconds of calls at each rate")
    parser.add_argument("--workers", help="comma-separated --workers counts for sipwright UAC")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    sipp = shutil.which("sipp")
    if sipp is None:
        sys.exit("sipp is not installed (Debian package sip-tester)")
    settings = _settings(args)
    workers = [int(w) for w in args.workers.split(",")] if args.workers else []
    began, load_start = time.monotonic(), _load()
    print(f"{os.cpu_count()} CPUs, {load_start} (start); UDP on 127.0.0.1, no media")
    print(
        f"rates {', '.join(map(str, settings.rates))}/s, {settings.duration:g} s each; memory "
        f"at {settings.memory_rate}/s with -d {settings.hold_ms}, measured {settings.memory_s:g} s"
    )
    with tempfile.TemporaryDirectory(prefix="sipwright-cps-") as work:
        results = [run_pair(pair, settings, Path(work)) for pair in _pairs(sipp, workers)]
    rows = compare(results)
    _print_comparison(rows, results)
    load_end = _load()
    print(f"\n{load_end} (end); {time.monotonic() - began:.0f} s in all")
    if args.json is not None:
        report = {
            "cpus": os.cpu_count(), "load_start": load_start, "load_end": load_end,
            "settings": asdict(settings), "pairs": [asdict(r) for r in results],
            "comparison": [asdict(row) for row in rows],
        }  # fmt: skip
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
