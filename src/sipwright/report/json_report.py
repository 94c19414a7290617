"""``--report-json``: a load run as one JSON document, schema "sipwright.load-report" v1.

Every field is documented in docs/report-json.md (a test checks the report against
that list both ways).  The version goes up when a field changes meaning or goes away;
new fields may appear within a version.  The HTML report is rendered from this same
document, so both always tell the same story.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sipwright import __version__
from sipwright.load.histograms import encode_histogram
from sipwright.load.metrics import STEP_EVENTS, RunMetrics
from sipwright.load.timeseries import STATUS_CLASSES

__all__ = [
    "RUN_INFO_KEYS",
    "SCHEMA",
    "SERIES_PERCENTILES",
    "VERSION",
    "build_report",
    "write_json_report",
    "write_text_atomic",
]

SCHEMA = "sipwright.load-report"
VERSION = 1
SERIES_PERCENTILES = (50.0, 90.0, 99.0)
# What the engine may tell about the run; anything else is refused so the
# documented schema stays the whole truth.
RUN_INFO_KEYS = (
    "command_line",
    "scenario",
    "transport",
    "target",
    "start_time",
    "end_time",
    "duration_s",
    "workers",
    "target_rate",
    "max_calls",
    "interrupted",
)


def _iso(value: Any) -> str | None:
    """A wall time (datetime, epoch seconds or ISO text) as ISO 8601 text."""
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | float):
        moment = datetime.fromtimestamp(float(value), UTC)
    else:
        moment = datetime.fromisoformat(str(value))
    return moment.isoformat()


def _run_section(metrics: RunMetrics, run_info: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(run_info) - set(RUN_INFO_KEYS))
    if unknown:
        raise ValueError(f"unknown run_info keys {unknown}; known: {list(RUN_INFO_KEYS)}")
    command = run_info.get("command_line")
    if command is not None and not isinstance(command, str):
        command = [str(arg) for arg in command]
    start, end = _iso(run_info.get("start_time")), _iso(run_info.get("end_time"))
    duration = run_info.get("duration_s")
    if duration is None and start is not None and end is not None:
        duration = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    if duration is None:
        duration = metrics.end - metrics.start
    max_calls = run_info.get("max_calls")
    target_rate = run_info.get("target_rate")
    workers = run_info.get("workers")
    return {
        "command_line": command,
        "scenario": _text(run_info.get("scenario")),
        "transport": _text(run_info.get("transport")),
        "target": _text(run_info.get("target")),
        "start_time": start,
        "end_time": end,
        "duration_s": float(duration),
        "workers": None if workers is None else int(workers),
        "target_rate": None if target_rate is None else float(target_rate),
        "max_calls": None if max_calls is None else int(max_calls),
        "interrupted": bool(run_info.get("interrupted", False)),
    }


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _series(metrics: RunMetrics) -> dict[str, Any]:
    seconds: list[dict[str, Any]] = []
    for second, bucket, in_flight in metrics.dense_seconds():
        latency: dict[str, Any] = {}
        for name in metrics.series_latencies:
            histogram = bucket.latency.get(name)
            count = 0 if histogram is None else histogram.total
            values = {} if histogram is None else histogram.percentiles(SERIES_PERCENTILES)
            latency[name] = {
                "count": count,
                **{f"p{p:g}_ms": (values[p] / 1000 if count else None) for p in SERIES_PERCENTILES},
            }
        seconds.append(
            {
                "t": second,
                "calls_started": bucket.started,
                "calls_succeeded": bucket.succeeded,
                "calls_failed": bucket.failed,
                "calls_aborted": bucket.aborted,
                "responses_by_class": bucket.by_class(),
                "responses_by_code": {str(c): n for c, n in sorted(bucket.codes.items())},
                "retransmissions": bucket.retransmissions,
                "timeouts": bucket.timeouts,
                "concurrent": bucket.concurrent,
                "in_flight": in_flight,
                "latency": latency,
            }
        )
    return {
        "interval_s": 1,
        "status_classes": list(STATUS_CLASSES),
        "latency_names": list(metrics.series_latencies),
        "seconds": seconds,
    }


def build_report(metrics: RunMetrics, run_info: Mapping[str, Any]) -> dict[str, Any]:
    """The report document (JSON-ready) of ``metrics``; ``run_info`` keys: RUN_INFO_KEYS."""
    run = _run_section(metrics, run_info)
    summary = metrics.summary(now=metrics.start + run["duration_s"])
    latencies = summary.pop("latencies")
    totals = {key: value for key, value in summary.items() if key != "duration_s"}
    return {
        "schema": SCHEMA,
        "version": VERSION,
        "generator": f"sipwright {__version__}",
        "run": run,
        "totals": totals,
        "failures": dict(sorted(metrics.failures.items())),
        "responses": {str(code): n for code, n in sorted(metrics.responses.items())},
        "requests": dict(sorted(metrics.requests.items())),
        "steps": [
            {"index": index, **dict(zip(STEP_EVENTS, counts, strict=True))}
            for index, counts in sorted(metrics.steps.items())
        ],
        "latencies": {
            name: {**values, "hdr": encode_histogram(metrics.latencies[name].histogram)}
            for name, values in latencies.items()
        },
        "timeseries": _series(metrics),
    }


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and a rename,
    so readers (and an interrupted run) never see half a report."""
    target = Path(path)
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or Path("."))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_json_report(
    path: str | os.PathLike[str], metrics: RunMetrics, run_info: Mapping[str, Any]
) -> dict[str, Any]:
    """Build the report, write it atomically to ``path`` and return it."""
    report = build_report(metrics, run_info)
    write_text_atomic(path, json.dumps(report, indent=2, allow_nan=False) + "\n")
    return report
