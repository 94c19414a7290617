"""What ``sipwright sipp`` adds around a run for load testing: the live display,
Prometheus, the JSON/HTML reports, and the pipe a worker process reports through.

Options (sipwright's own, double dash, next to SIPp's): ``--workers N``,
``--report-json FILE``, ``--report-html FILE``, ``--prometheus-port PORT``,
``--live`` / ``--no-live`` (the display is on by default: a rich panel on a terminal,
one plain line a second otherwise).
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sipwright.cli.sipp_options import SippOptions, SippUsageError
from sipwright.cli.sipp_stat_rows import StatRow
from sipwright.load.metrics import RunMetrics
from sipwright.report.sipp_stats import Snapshot
from sipwright.scenario.sippxml.engine import SippEngine
from sipwright.scenario.sippxml.engine_settings import EngineSettings

if TYPE_CHECKING:
    from sipwright.load.live import LiveDisplay
    from sipwright.report.prometheus import PrometheusExporter

# The display (rich), the exporter (prometheus-client) and the reports are imported
# when a run asks for them: a worker or a --no-live run starts ~0.1 s sooner without.

__all__ = ["LoadObserver", "LoadOptions", "WorkerPipe", "load_options"]

MAX_WORKERS = 64


@dataclass(frozen=True)
class LoadOptions:
    workers: int = 1
    report_json: Path | None = None
    report_html: Path | None = None
    prometheus_port: int | None = None
    live: bool = True
    worker: tuple[int, int] | None = None  # (index, count) inside a worker process
    worker_start: float | None = None
    worker_fd: int | None = None
    worker_stat: bool = False  # send -trace_stat dumps to the coordinator

    @property
    def reports(self) -> bool:
        return self.report_json is not None or self.report_html is not None


def load_options(options: SippOptions) -> LoadOptions:
    workers = options.integer("-workers") or 1
    if not 1 <= workers <= MAX_WORKERS:
        raise SippUsageError(f"--workers {workers}: between 1 and {MAX_WORKERS}")
    worker = None
    if (text := options.text("-worker")) is not None:
        index, _, count = text.partition("/")
        if not (index.isdigit() and count.isdigit() and int(index) < int(count)):
            raise SippUsageError(f"--worker {text}: expected INDEX/COUNT")
        worker = (int(index), int(count))
    port = options.integer("-prometheus-port")
    if port is not None and not 0 <= port < 65536:
        raise SippUsageError(f"--prometheus-port {port}: not a port number")
    json_path, html_path = options.text("-report-json"), options.text("-report-html")
    return LoadOptions(
        workers=workers,
        report_json=Path(json_path) if json_path else None,
        report_html=Path(html_path) if html_path else None,
        prometheus_port=port,
        live=not options.flag("-no-live") and worker is None,
        worker=worker,
        worker_start=options.number("-worker-start"),
        worker_fd=options.integer("-worker-fd"),
        worker_stat=options.flag("-worker-stat"),
    )


class LoadObserver:
    """Display, exporter and reports of one run (a single process, or the
    coordinator of workers whose metrics it merges)."""

    def __init__(self, load: LoadOptions, argv: list[str]) -> None:
        self.load = load
        self.argv = argv
        self.display: LiveDisplay | None = None
        self.exporter: PrometheusExporter | None = None
        self.metrics: RunMetrics | None = None
        self.started = datetime.now()

    def start(self, *, target_rate: float | None, total_calls: int | None) -> None:
        if self.load.live:
            from sipwright.load.live import LiveDisplay  # noqa: PLC0415 - see above

            self.display = LiveDisplay(target_rate=target_rate, total_calls=total_calls)
        if self.load.prometheus_port is not None:
            from sipwright.report.prometheus import start_exporter  # noqa: PLC0415

            self.exporter = start_exporter(self.load.prometheus_port, lambda: self.metrics)
            sys.stderr.write(
                f"sipwright sipp: Prometheus metrics on "
                f"http://{self.exporter.address[0]}:{self.exporter.port}/metrics\n"
            )

    def update(self, metrics: RunMetrics, now: float, *, target_rate: float | None) -> None:
        self.metrics = metrics
        if self.display is not None:
            self.display.update(metrics, now, target_rate=target_rate)

    def on_sample(self, engine: SippEngine, now: float, final: bool) -> None:
        """The engine's ``on_sample`` hook in a single-process run."""
        if engine.metrics is not None and not final:
            self.update(engine.metrics, now, target_rate=engine.current_rate())

    def finish(self, metrics: RunMetrics | None, run_info: Mapping[str, Any]) -> list[str]:
        """Stop the display, write the reports; the lines saying where they are."""
        self.metrics = metrics
        if self.display is not None:
            self.display.stop(metrics)
            self.display = None
        if self.exporter is not None:
            self.exporter.close()
            self.exporter = None
        written: list[str] = []
        if metrics is None:
            return written
        info = {
            "command_line": shlex.join(["sipwright", "sipp", *self.argv]),
            "start_time": self.started,
            "end_time": datetime.now(),
            **run_info,
        }
        if self.load.report_json is not None:
            from sipwright.report.json_report import write_json_report  # noqa: PLC0415

            write_json_report(self.load.report_json, metrics, info)
            written.append(f"JSON report: {self.load.report_json}")
        if self.load.report_html is not None:
            from sipwright.report.html_report import write_html_report  # noqa: PLC0415

            write_html_report(self.load.report_html, metrics, info)
            written.append(f"HTML report: {self.load.report_html.resolve()}")
        return written


class WorkerPipe:
    """A worker's side of the pipe to its coordinator: one JSON object per line,
    the metrics so far every sample and, at the end, the SIPp statistics too.

    The per-second series goes incrementally: each message carries the seconds from
    the one before the last second sent (which may still have changed) on, and the
    final message all of them."""

    def __init__(self, fd: int) -> None:
        self._file: IO[str] = os.fdopen(fd, "w", buffering=1, encoding="utf-8")
        self._seconds_from = 0

    def on_sample(self, engine: SippEngine, now: float, final: bool) -> None:
        del now
        metrics = engine.metrics
        if metrics is None:
            return
        since = 0 if final else self._seconds_from
        message: dict[str, Any] = {"metrics": metrics.to_dict(seconds_from=since)}
        if final:
            message["snapshot"] = engine.stats.to_dict()
        self.send(message)
        self._seconds_from = max(0, metrics.last_second - 1)

    def stat_sink(self) -> PipeStatSink:
        return PipeStatSink(self)

    def send(self, message: Mapping[str, Any]) -> None:
        # A gone coordinator (closed pipe) has nobody to report to.
        with contextlib.suppress(OSError, ValueError):
            self._file.write(json.dumps(message, separators=(",", ":")) + "\n")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()


class PipeStatSink:
    """A worker engine's -trace_stat dumps, sent to the coordinator to merge; closing
    says that no more will come (the pipe itself stays open)."""

    def __init__(self, pipe: WorkerPipe) -> None:
        self.pipe = pipe

    def write(self, snapshot: Snapshot, now_wall: datetime, now_mono: float) -> None:
        self.pipe.send(StatRow(snapshot, now_wall, now_mono).to_message())

    def close(self) -> None:
        self.pipe.send({"stat_end": True})


def run_info(
    settings: EngineSettings,
    scenario: str,
    *,
    workers: int,
    interrupted: bool,
    duration_s: float,
) -> dict[str, Any]:
    """The run facts of the JSON/HTML report (``settings`` of the whole run, not of
    one worker's share)."""
    target = f"{settings.remote[0]}:{settings.remote[1]}" if settings.remote else None
    return {
        "scenario": scenario,
        "transport": settings.transport,
        "target": target,
        "duration_s": duration_s,
        "workers": workers,
        "target_rate": settings.rate.rate / settings.rate.period,
        "max_calls": settings.rate.max_calls,
        "interrupted": interrupted,
    }
