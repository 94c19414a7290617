"""``sipwright sipp --workers N``: the run spread over N processes.

Each worker is ``sipwright sipp`` with the same command line and its share of the
load (``--worker k/N``: rate/N, its part of -m, -l and -users; calls numbered k+1,
k+1+N, ...; a UAS shares the listening port through SO_REUSEPORT, a UAC has its own
port).  Workers send their metrics through a pipe every sample and their SIPp
statistics at the end; this coordinator merges them for the live display,
Prometheus, the reports, ``-trace_stat`` and the exit code.  SIGINT/SIGTERM are
passed on: every worker stops, aborts what runs and reports before it exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sipwright.cli.sipp_load import LoadObserver, LoadOptions, run_info
from sipwright.cli.sipp_stat_rows import StatRow, StatRows
from sipwright.load.metrics import RunMetrics
from sipwright.report.sipp_files import TraceStatWriter, write_stats_json
from sipwright.report.sipp_stats import Snapshot
from sipwright.scenario.sippxml.engine import EXIT_FATAL, EXIT_INTERNAL, EXIT_NO_CALLS
from sipwright.scenario.sippxml.engine_settings import EngineSettings

__all__ = ["run_workers", "worker_argv"]

# Options the coordinator keeps for itself (name -> number of values).
_COORDINATOR_ONLY = {
    "--workers": 1, "--report-json": 1, "--report-html": 1, "--prometheus-port": 1,
    "--live": 0, "--no-live": 0, "-trace_stat": 0, "-stf": 1, "--stats-json": 1,
    "-trace_screen": 0, "-screen_file": 1, "-cp": 1,
}  # fmt: skip
_GRACE = 15.0  # s a worker may take to stop and report after SIGTERM


def worker_argv(argv: list[str]) -> list[str]:
    """The command line of a worker: ours without what only the coordinator does."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        skip = _COORDINATOR_ONLY.get(argv[i])
        if skip is None:
            out.append(argv[i])
            i += 1
        else:
            i += 1 + skip
    return [*out, "-nostdin"]


LIVE_SECONDS = 62  # of series the live display needs (its sparkline shows 60)


class _Worker:
    def __init__(self, index: int, process: asyncio.subprocess.Process) -> None:
        self.index = index
        self.process = process
        self.metrics: RunMetrics | None = None
        self.snapshot: Snapshot | None = None
        self.version = 0  # messages received: the merged view is redone when it moves


async def run_workers(
    argv: list[str],
    load: LoadOptions,
    settings: EngineSettings,
    scenario_name: str,
    *,
    server: bool = False,
) -> int:
    """Start ``load.workers`` workers, watch them, merge; SIPp's exit code."""
    loop = asyncio.get_running_loop()
    start = time.monotonic()
    started_wall = datetime.now()
    observer = LoadObserver(load, argv)
    observer.start(target_rate=settings.rate.rate / settings.rate.period,
                   total_calls=settings.rate.max_calls)  # fmt: skip
    workers: list[_Worker] = []
    readers: list[asyncio.Task[None]] = []
    interrupted = False

    def stop_workers() -> None:
        for worker in workers:
            with contextlib.suppress(ProcessLookupError):
                worker.process.send_signal(signal.SIGTERM)

    def interrupt() -> None:
        nonlocal interrupted
        interrupted = True
        stop_workers()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, interrupt)
    # -trace_stat: the workers dump into their pipes, the rows are merged here.
    rows = StatRows(settings.stat_file, load.workers) if settings.stat_file else None
    try:
        for index in range(load.workers):
            read_fd, write_fd = os.pipe()
            args = [*worker_argv(argv), "--worker", f"{index}/{load.workers}"]
            args += ["--worker-start", repr(start), "--worker-fd", str(write_fd)]
            if rows is not None:
                args.append("--worker-stat")
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "sipwright", "sipp", *args,
                pass_fds=(write_fd,), stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            os.close(write_fd)
            worker = _Worker(index, process)
            workers.append(worker)
            readers.append(asyncio.ensure_future(_read(worker, read_fd, rows)))
        # A server's calls are spread by the kernel, not by us: -m counts over all
        # workers, and the coordinator stops them when the total is reached.
        limit = settings.rate.max_calls if server else None
        watch = asyncio.ensure_future(_watch(workers, observer, settings, limit, stop_workers))
        codes = [await worker.process.wait() for worker in workers]
        watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch
        await asyncio.wait_for(asyncio.gather(*readers), _GRACE)
    finally:
        for worker in workers:
            if worker.process.returncode is None:
                worker.process.kill()
                await worker.process.wait()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
    metrics = _merged_metrics(workers, start)
    snapshots = [w.snapshot for w in workers if w.snapshot is not None]
    code = _exit_code(codes)
    now = time.monotonic()
    if snapshots:
        total = Snapshot.merged(snapshots)
        _write_sipp_files(total, settings, rows)
        calls = total.cumulative
        processed = calls.successful_calls + calls.failed_calls
        print(
            f"{scenario_name}: {processed} calls, {calls.successful_calls} successful, "
            f"{calls.failed_calls} failed (exit {code}, {load.workers} workers)",
            flush=True,
        )
    info = run_info(
        settings,
        scenario_name,
        workers=load.workers,
        interrupted=interrupted,
        duration_s=now - start,
    )
    observer.started = started_wall
    for line in observer.finish(metrics, info):
        print(line, flush=True)
    return code


async def _read(worker: _Worker, fd: int, rows: StatRows | None) -> None:
    """Take the worker's JSON lines as they come (the last metrics win; -trace_stat
    rows are merged as soon as every worker has sent its own)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 26)
    pipe = os.fdopen(fd, "rb")
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    try:
        while line := await reader.readline():
            try:
                message = json.loads(line)
                if "stat_row" in message or "stat_end" in message:
                    if rows is not None:
                        if "stat_end" in message:
                            rows.finished(worker.index)
                        else:
                            rows.add(worker.index, StatRow.from_message(message))
                        rows.flush()
                    continue
                worker.metrics = RunMetrics.from_update(message["metrics"], worker.metrics)
                worker.version += 1
                if "snapshot" in message:
                    worker.snapshot = Snapshot.from_dict(message["snapshot"])
            except (ValueError, KeyError, TypeError):
                continue  # a torn line from a killed worker
    finally:
        transport.close()


async def _watch(
    workers: list[_Worker],
    observer: LoadObserver,
    settings: EngineSettings,
    limit: int | None,
    stop: Callable[[], None],
) -> None:
    rate = settings.rate.rate / settings.rate.period
    stopping = False
    seen: list[int] = []
    merged: RunMetrics | None = None
    ticks = 0
    while True:
        await asyncio.sleep(0.25)
        ticks += 1
        versions = [worker.version for worker in workers]
        if versions != seen:  # merge only what changed, and only the seconds shown
            seen = versions
            merged = _merged_metrics(workers, None, recent=LIVE_SECONDS)
        if ticks % 8 == 0:
            # Every HdrHistogram is in a reference cycle with its encoder, so the ~100 KB
            # of counters of each one decoded and dropped here (several a second) wait
            # for a full collection, which on its own comes rarely: without this the
            # coordinator grows by tens of MB in a run.
            gc.collect()
        if merged is None:
            continue
        observer.update(merged, time.monotonic(), target_rate=rate)
        if limit is not None and not stopping and merged.calls_ended >= limit:
            stopping = True
            stop()


def _merged_metrics(
    workers: list[_Worker], start: float | None, *, recent: int | None = None
) -> RunMetrics | None:
    """The workers' metrics added up; ``recent``: only that many seconds of series."""
    parts = [w.metrics for w in workers if w.metrics is not None]
    if not parts:
        return RunMetrics(start) if start is not None else None
    if recent is not None:
        parts = [part.recent(recent) for part in parts]
    return RunMetrics.merged(parts)


def _exit_code(codes: list[int]) -> int:
    """SIPp's meaning over all workers: fatal, then internal stop, then any failure;
    99 only when no worker processed a call."""
    if any(code in (EXIT_FATAL, -signal.SIGKILL) or code < 0 for code in codes):
        return EXIT_FATAL
    if EXIT_INTERNAL in codes:
        return EXIT_INTERNAL
    if 1 in codes:
        return 1
    if all(code == EXIT_NO_CALLS for code in codes):
        return EXIT_NO_CALLS
    return 0


def _write_sipp_files(total: Snapshot, settings: EngineSettings, rows: StatRows | None) -> None:
    now_wall, now = datetime.now(), time.monotonic()
    if rows is not None and rows.written:
        rows.close()  # the last rows, down to every worker's final dump
    elif settings.stat_file is not None:  # (no worker dumped: at least the totals)
        writer = TraceStatWriter.for_snapshot(settings.stat_file, total)
        writer.write(total, now_wall, now)
        writer.close()
    if settings.stats_json is not None:
        write_stats_json(Path(settings.stats_json), total, now_wall, now)
