"""``--report-html``: one self-contained HTML page with the plots and tables of a run.

Rendered from the JSON report document (:func:`sipwright.report.json_report.
build_report`), so a saved JSON report can be turned into HTML later and both agree.
No scripts, no stylesheets or fonts from elsewhere: charts are inline SVG drawn here,
so the file opens offline, in a mail attachment or a CI artifact viewer.  Every piece
of text from the run (scenario names, failure reasons, the command line) is escaped.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

from sipwright.load.metrics import STEP_EVENTS, RunMetrics
from sipwright.report.json_report import build_report, write_text_atomic
from sipwright.report.svg_charts import PALETTE, Series, line_chart

__all__ = ["CHART_IDS", "render_html", "write_html_report"]

_LATENCY_COLUMNS = ("min", "mean", "p50", "p90", "p99", "p99_9", "max")
CHART_IDS = ("plot-calls", "plot-concurrent", "plot-responses", "plot-setup-latency")

_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px auto; max-width: 920px;
       color: #222; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 28px; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 10px; text-align: left; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.meta { color: #555; } .bad { color: #b00020; }
svg.chart { display: block; margin: 12px 0; background: #fff; }
svg .grid { stroke: #e4e4e4; } svg .axis { stroke: #888; }
svg text { font: 11px system-ui, sans-serif; fill: #333; }
svg .chart-title { font-size: 14px; font-weight: 600; }
svg .nodata { fill: #999; font-size: 13px; }
"""


def _format(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, numeric_from: int = 1) -> str:
    head = "".join(
        f"<th{' class=n' if i >= numeric_from else ''}>{escape(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{' class=n' if i >= numeric_from else ''}>{escape(_format(cell))}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _charts(series: Mapping[str, Any]) -> list[str]:
    seconds: list[Mapping[str, Any]] = series["seconds"]
    xs = [float(s["t"]) for s in seconds]
    charts = [
        line_chart(
            "plot-calls",
            "Calls per second",
            xs,
            [
                Series("started", [s["calls_started"] for s in seconds], PALETTE[0]),
                Series("succeeded", [s["calls_succeeded"] for s in seconds], PALETTE[1]),
                Series("failed", [s["calls_failed"] for s in seconds], PALETTE[2]),
            ],
            y_label="calls/s",
        )
    ]
    concurrency = [Series("in flight", [s["in_flight"] for s in seconds], PALETTE[0])]
    if any(s["concurrent"] is not None for s in seconds):
        concurrency.append(Series("sampled", [s["concurrent"] for s in seconds], PALETTE[4]))
    charts.append(
        line_chart(
            "plot-concurrent", "Concurrent calls", xs, concurrency, y_label="calls in progress"
        )
    )
    classes: list[str] = series["status_classes"]
    used = [c for c in classes if any(s["responses_by_class"][c] for s in seconds)] or ["2xx"]
    colors = dict(
        zip(
            classes,
            (PALETTE[5], PALETTE[1], PALETTE[3], PALETTE[4], PALETTE[2], "#000"),
            strict=True,
        )
    )
    charts.append(
        line_chart(
            "plot-responses",
            "Responses per second by class",
            xs,
            [Series(c, [s["responses_by_class"][c] for s in seconds], colors[c]) for c in used],
            y_label="responses/s",
        )
    )
    setup = [s["latency"].get("setup") or {} for s in seconds]
    charts.append(
        line_chart(
            "plot-setup-latency",
            "Call setup time percentiles per second",
            xs,
            [
                Series(p, [item.get(f"{p}_ms") for item in setup], color)
                for p, color in (("p50", PALETTE[1]), ("p90", PALETTE[0]), ("p99", PALETTE[2]))
            ],
            y_label="ms",
        )
    )
    return charts


def render_html(report: Mapping[str, Any]) -> str:
    """The HTML page of a report document (schema sipwright.load-report v1)."""
    if report.get("schema") != "sipwright.load-report" or report.get("version") != 1:
        raise ValueError("not a sipwright.load-report version 1 document")
    run: Mapping[str, Any] = report["run"]
    totals: Mapping[str, Any] = report["totals"]
    title = f"sipwright load report: {run['scenario'] or 'scenario'}"
    if run["target"]:
        title += f" → {run['target']}"
    failed = totals["calls_failed"]
    headline = (
        f"{_format(totals['calls_started'])} calls started, "
        f"{_format(totals['calls_succeeded'])} succeeded, "
        f"<span class={'bad' if failed else 'ok'}>{escape(_format(failed))} failed</span>"
        f" in {escape(_format(run['duration_s']))} s"
        + (" <span class=bad>(interrupted)</span>" if run["interrupted"] else "")
    )
    latency_rows = [
        [name, v["count"], *(v[f"{k}_ms"] for k in _LATENCY_COLUMNS)]
        for name, v in report["latencies"].items()
    ]
    sections = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f"<p>{headline}</p>",
        f'<p class="meta">{escape(report["generator"])}, report schema '
        f"{escape(report['schema'])} v{report['version']}</p>",
        "<h2>Plots</h2>",
        *_charts(report["timeseries"]),
        "<h2>Run</h2>",
        _table(["", "value"], [[k, v] for k, v in run.items()], numeric_from=2),
        "<h2>Totals</h2>",
        _table(["", "value"], [[k.replace("_", " "), v] for k, v in totals.items()]),
        "<h2>Latency (ms)</h2>",
        _table(
            ["name", "count", "min", "mean", "p50", "p90", "p99", "p99.9", "max"],
            latency_rows,
        )
        if latency_rows
        else "<p>No latency recorded.</p>",
        "<h2>Failures</h2>",
        _table(["reason", "calls"], sorted(report["failures"].items()))
        if report["failures"]
        else "<p>No failed call.</p>",
        "<h2>Responses and requests</h2>",
        _table(["status", "count"], report["responses"].items()),
        _table(["method", "count"], report["requests"].items()),
    ]
    if report["steps"]:
        sections += [
            "<h2>Scenario steps</h2>",
            _table(
                ["step", *STEP_EVENTS],
                [[step["index"], *(step[e] for e in STEP_EVENTS)] for step in report["steps"]],
                numeric_from=0,
            ),
        ]
    sections.append("</body></html>\n")
    return "\n".join(sections)


def write_html_report(
    path: str | os.PathLike[str], metrics: RunMetrics, run_info: Mapping[str, Any]
) -> None:
    """Write the HTML report of ``metrics`` atomically (same ``run_info`` as JSON)."""
    write_text_atomic(path, render_html(build_report(metrics, run_info)))
