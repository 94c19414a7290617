"""Load reports: the JSON document against its documentation, the HTML page (also as
Chromium renders it) and the Prometheus endpoint as a scraper sees it."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import urllib.request
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hdrh.histogram import HdrHistogram
from lxml import etree
from lxml import html as lxml_html
from prometheus_client.parser import text_string_to_metric_families

from sipwright.load.metrics import RunMetrics
from sipwright.report.html_report import CHART_IDS, render_html, write_html_report
from sipwright.report.json_report import build_report, write_json_report
from sipwright.report.prometheus import start_exporter
from sipwright.report.svg_charts import Series, line_chart, nice_step

DOC = Path(__file__).parent.parent / "docs" / "report-json.md"
RUN_INFO: dict[str, Any] = {
    "command_line": ["sipwright", "sipp", "-sn", "uac", "127.0.0.1:5060", "-m", "60"],
    "scenario": "uac <script>alert(1)</script>",
    "transport": "udp",
    "target": "127.0.0.1:5060",
    "start_time": datetime(2026, 1, 5, 10, 0, 0, tzinfo=UTC),
    "end_time": datetime(2026, 1, 5, 10, 0, 12, tzinfo=UTC),
    "workers": 2,
    "target_rate": 5.0,
    "max_calls": 60,
    "interrupted": False,
}


def sample_metrics() -> RunMetrics:
    """Ten seconds at 5 calls/s: every fifth call rejected with 486 ("Busy & <Here>")."""
    m = RunMetrics(start=1000.0)
    for second in range(10):
        for i in range(5):
            t = 1000.0 + second + i / 5
            m.call_started(t)
            m.request(t, "INVITE")
            m.step(0, "sent")
            m.response(t + 0.01, 100)
            if i == 4:
                m.response(t + 0.02, 486)
                m.call_failed(t + 0.02, "Busy & <Here>", 20.0)
                continue
            m.response(t + 0.02, 180)
            m.response(t + 0.03, 200)
            m.latency("pdd", 20.0 + i, t + 0.02)
            m.call_succeeded(t + 0.03, setup_ms=30.0 + i + second, length_ms=1000.0)
        m.concurrent(1000.0 + second + 0.99, 1)
    m.retransmission(1003.5)
    m.step(0, "retrans")
    m.timeout(1004.5)
    return m


# ------------------------------------------------------------------ JSON report


def documented_fields() -> dict[str, set[str]]:
    """``path -> types`` from the field table of docs/report-json.md."""
    fields: dict[str, set[str]] = {}
    for match in re.finditer(r"^\| `([^`]+)` \| ([a-z, ]+) \|", DOC.read_text(), re.M):
        fields[match.group(1)] = {t.strip() for t in match.group(2).split(",")}
    return fields


def json_type(value: Any) -> set[str]:
    if value is None:
        return {"null"}
    if isinstance(value, bool):
        return {"boolean"}
    if isinstance(value, int):
        return {"integer", "number"}
    if isinstance(value, float):
        return {"number"}
    if isinstance(value, str):
        return {"string"}
    if isinstance(value, list):
        return {"array"}
    assert isinstance(value, dict), value
    return {"object"}


def check_against_doc(value: Any, path: str, spec: Mapping[str, set[str]], seen: set[str]) -> None:
    assert path in spec, f"{path} is not documented in {DOC.name}"
    seen.add(path)
    assert json_type(value) & spec[path], f"{path}: {value!r} is not {spec[path]}"
    if isinstance(value, dict):
        if f"{path}.*" in spec:
            for item in value.values():
                check_against_doc(item, f"{path}.*", spec, seen)
            return
        prefix = f"{path}." if path else ""
        children = {p[len(prefix) :] for p in spec if p.startswith(prefix) and p != path}
        required = {c for c in children if "." not in c and "[" not in c}
        assert required <= set(value), f"{path}: missing {required - set(value)}"
        for key, item in value.items():
            check_against_doc(item, f"{prefix}{key}", spec, seen)
    elif isinstance(value, list):
        for item in value:
            check_against_doc(item, f"{path}[]", spec, seen)


def test_json_report_matches_its_documentation() -> None:
    report = json.loads(json.dumps(build_report(sample_metrics(), RUN_INFO)))
    spec = documented_fields()
    assert len(spec) > 60
    spec[""] = {"object"}
    seen: set[str] = set()
    check_against_doc(report, "", spec, seen)
    # every documented field appears in this (complete) example
    assert set(spec) - seen == set()


def test_json_report_content() -> None:
    report = build_report(sample_metrics(), RUN_INFO)
    assert (report["schema"], report["version"]) == ("sipwright.load-report", 1)
    run = report["run"]
    assert run["start_time"] == "2026-01-05T10:00:00+00:00"
    assert run["duration_s"] == 12.0
    assert run["command_line"][-1] == "60"
    totals = report["totals"]
    assert (totals["calls_started"], totals["calls_succeeded"], totals["calls_failed"]) == (
        50,
        40,
        10,
    )
    assert totals["call_rate"] == pytest.approx(50 / 12)
    assert totals["success_ratio"] == pytest.approx(0.8)
    assert totals["peak_concurrent"] == 1
    assert report["failures"] == {"Busy & <Here>": 10}
    assert report["responses"] == {"100": 50, "180": 40, "200": 40, "486": 10}
    assert report["steps"] == [
        {"index": 0, "sent": 50, "recv": 0, "retrans": 1, "timeout": 0, "unexpected": 0}
    ]
    setup = report["latencies"]["setup"]
    assert (setup["count"], setup["min_ms"], setup["max_ms"]) == (40, 30.0, 42.0)
    decoded = HdrHistogram.decode(setup["hdr"].encode())
    assert decoded.get_total_count() == 40
    seconds = report["timeseries"]["seconds"]
    assert [s["t"] for s in seconds] == list(range(10))
    assert all(s["calls_started"] == 5 and s["calls_failed"] == 1 for s in seconds)
    assert seconds[3]["retransmissions"] == 1 and seconds[4]["timeouts"] == 1
    assert seconds[0]["responses_by_class"] == {
        "1xx": 9,
        "2xx": 4,
        "3xx": 0,
        "4xx": 1,
        "5xx": 0,
        "6xx": 0,
    }
    # second 0: setups 30..33 ms
    assert seconds[0]["latency"]["setup"]["count"] == 4
    assert seconds[0]["latency"]["setup"]["p50_ms"] == pytest.approx(31.0, rel=1e-3)
    assert seconds[0]["latency"]["setup"]["p99_ms"] == pytest.approx(33.0, rel=1e-3)


def test_json_report_defaults_and_refusals() -> None:
    report = build_report(sample_metrics(), {})
    assert report["run"]["scenario"] is None
    assert report["run"]["interrupted"] is False
    assert report["run"]["duration_s"] == pytest.approx(9.99)  # start to last event
    with pytest.raises(ValueError, match=r"unknown run_info keys \['colour'\]"):
        build_report(sample_metrics(), {"colour": "blue"})


def test_empty_run_report() -> None:
    report = build_report(RunMetrics(5.0), {"interrupted": True})
    assert report["timeseries"]["seconds"] == []
    assert report["totals"]["success_ratio"] is None
    assert report["latencies"] == {}
    assert "no data" in render_html(report)


def test_write_json_report_is_atomic(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_text("old")
    written = write_json_report(target, sample_metrics(), RUN_INFO)
    assert json.loads(target.read_text()) == json.loads(json.dumps(written))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


# ------------------------------------------------------------------ HTML report


def test_html_report_is_self_contained_and_escaped() -> None:
    page = render_html(build_report(sample_metrics(), RUN_INFO))
    for chart_id in CHART_IDS:
        assert f'<svg id="{chart_id}"' in page
    assert "<script" not in page.lower()
    assert not re.search(r"(src|href)\s*=", page)
    assert "http" not in page
    assert "uac &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Busy &amp; &lt;Here&gt;" in page


def test_render_html_refuses_other_documents() -> None:
    with pytest.raises(ValueError, match=r"not a sipwright\.load-report"):
        render_html({"schema": "other"})


def test_line_chart_breaks_lines_at_gaps() -> None:
    svg = line_chart(
        "c", "T", [0, 1, 2, 3, 4], [Series("s", [1.0, 2.0, None, 4.0, None])], y_label="y"
    )
    (d,) = re.findall(r'class="series"[^>]* d="([^"]+)"', svg)
    assert d.count("M") == 2  # a line over 0..1, a dash for the lone point at 3
    assert d.count("L") == 2
    with pytest.raises(ValueError, match="has 1 values, not 2"):
        line_chart("c", "T", [0, 1], [Series("s", [1.0])], y_label="y")
    assert [nice_step(s, 5) for s in (0, 7, 42, 1000)] == [1.0, 2.0, 10.0, 200.0]


@pytest.fixture
def chromium() -> str:
    path = shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    )
    if path is None:
        pytest.skip("chromium not installed (make test installs it)")
    return path


def render_dom(chromium: str, page: Path, profile: Path) -> str:
    """Chromium's DOM of ``page`` after rendering; the browser's process group is
    stopped by its id whatever happens."""
    log = (profile.parent / "chromium.log").open("wb")
    process = subprocess.Popen(
        [
            chromium,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--dump-dom",
            page.as_uri(),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=log,
        start_new_session=True,
    )
    try:
        out, _ = process.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # helpers left behind, if any
        process.wait()
        log.close()
    assert process.returncode == 0, (profile.parent / "chromium.log").read_text()[-2000:]
    return out.decode("utf-8")


def nodes(node: etree._Element, path: str) -> list[etree._Element]:
    found = node.xpath(path)
    assert isinstance(found, list)
    return [item for item in found if isinstance(item, etree._Element)]


def texts(node: etree._Element, path: str) -> list[str]:
    found = node.xpath(path)
    assert isinstance(found, list)
    return [str(item) for item in found if isinstance(item, str)]


@pytest.mark.peers
def test_html_report_renders_in_chromium(chromium: str, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    write_html_report(page, sample_metrics(), RUN_INFO)
    dom = lxml_html.fromstring(render_dom(chromium, page, tmp_path / "profile"))
    for chart_id in CHART_IDS:
        (svg,) = nodes(dom, f"//svg[@id='{chart_id}']")
        assert texts(svg, "./title/text()")
        paths = nodes(svg, ".//path[@class='series']")
        assert paths, chart_id
        for path in paths:
            assert len(re.findall(r"[ML]", path.get("d") or "")) >= 2
    # calls/s: started, succeeded, failed; setup latency: p50, p90, p99
    calls = texts(dom, "//svg[@id='plot-calls']//path/@data-series")
    assert calls == ["started", "succeeded", "failed"]
    setup = texts(dom, "//svg[@id='plot-setup-latency']//path/@data-series")
    assert setup == ["p50", "p90", "p99"]
    assert "uac <script>alert(1)</script>" in texts(dom, "//h1/text()")[0]
    assert not nodes(dom, "//script")


# ------------------------------------------------------------------ Prometheus


@pytest.fixture
def exporter_metrics() -> Iterator[tuple[RunMetrics, int]]:
    metrics = sample_metrics()
    metrics.call_started(1010.5)  # one call still in flight
    current: list[RunMetrics | None] = [None]
    with start_exporter(0, lambda: current[0]) as exporter:
        assert exporter.address[0] == "127.0.0.1"
        assert families(exporter.port) == {}  # nothing before the run starts
        current[0] = metrics
        yield metrics, exporter.port


def families(port: int) -> dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        family.name: {(s.name, tuple(sorted(s.labels.items()))): s.value for s in family.samples}
        for family in text_string_to_metric_families(text)
        if family.name.startswith("sipwright_")
    }


def test_prometheus_endpoint(exporter_metrics: tuple[RunMetrics, int]) -> None:
    _, port = exporter_metrics
    scraped = families(port)
    assert scraped["sipwright_calls_started"] == {("sipwright_calls_started_total", ()): 51}
    assert scraped["sipwright_calls_failed"] == {
        ("sipwright_calls_failed_total", (("reason", "Busy & <Here>"),)): 10
    }
    assert scraped["sipwright_responses"][("sipwright_responses_total", (("code", "486"),))] == 10
    assert (
        scraped["sipwright_requests"][("sipwright_requests_total", (("method", "INVITE"),))] == 50
    )
    assert scraped["sipwright_retransmissions"] == {("sipwright_retransmissions_total", ()): 1}
    assert scraped["sipwright_calls_in_flight"] == {("sipwright_calls_in_flight", ()): 1}
    latency = scraped["sipwright_latency_seconds"]
    setup = (("name", "setup"),)
    assert latency[("sipwright_latency_seconds_count", setup)] == 40
    # 40 setups of 30..42 ms: none under 25 ms, all under 50 ms
    assert latency[("sipwright_latency_seconds_bucket", (("le", "0.025"), *setup))] == 0
    assert latency[("sipwright_latency_seconds_bucket", (("le", "0.05"), *setup))] == 40
    assert latency[("sipwright_latency_seconds_bucket", (("le", "+Inf"), *setup))] == 40
    expected_sum = sum(30 + i + s for s in range(10) for i in range(4)) / 1000
    assert latency[("sipwright_latency_seconds_sum", setup)] == pytest.approx(expected_sum)
    quantiles = scraped["sipwright_latency_quantile_seconds"]
    median = quantiles[
        ("sipwright_latency_quantile_seconds", (("name", "setup"), ("quantile", "0.5")))
    ]
    assert median == pytest.approx(0.0355, rel=0.03)


def test_prometheus_exporter_close_frees_the_port() -> None:
    exporter = start_exporter(0, lambda: None)
    port = exporter.port
    exporter.close()
    exporter.close()  # twice is harmless
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)
