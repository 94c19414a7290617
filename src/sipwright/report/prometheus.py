"""``--prometheus-port``: the live counters and latency histograms of a run, for scraping.

A custom collector reads the run's :class:`RunMetrics` at each scrape (the provider
returns the current, merged metrics), so nothing is counted twice and the hot path
knows nothing about Prometheus.  It lives in a registry of its own: the process-wide
default registry would also export Python's GC and process metrics and would refuse a
second exporter in the same process (tests, several runs).

Latencies are exported as histograms in seconds, with ``le`` buckets counted from the
HdrHistogram (to its 0.1 % resolution), plus the HdrHistogram percentiles as gauges,
which are far more precise than any bucket layout.

Metrics: ``sipwright_calls_started_total``, ``sipwright_calls_succeeded_total``,
``sipwright_calls_failed_total{reason}``, ``sipwright_calls_aborted_total``,
``sipwright_responses_total{code}``, ``sipwright_requests_total{method}``,
``sipwright_retransmissions_total``, ``sipwright_timeouts_total``,
``sipwright_calls_in_flight`` (gauge), ``sipwright_latency_seconds{name}``
(histogram) and ``sipwright_latency_quantile_seconds{name,quantile}`` (gauge).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Self
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from sipwright.load.histograms import count_at_or_below, histogram_percentiles
from sipwright.load.metrics import RunMetrics

__all__ = ["BUCKETS_S", "PrometheusExporter", "RunMetricsCollector", "start_exporter"]

# From sub-millisecond loopback answers to hour-long calls ("call_length").
BUCKETS_S = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    3600.0,
)
QUANTILES = (50.0, 90.0, 99.0, 99.9)

MetricsProvider = Callable[[], RunMetrics | None]


def _label(value: float) -> str:
    """A float label as Prometheus clients write it ("0.005", "1.0")."""
    return repr(float(value))


class RunMetricsCollector(Collector):
    """Turns the provider's RunMetrics into metric families at each scrape."""

    def __init__(self, provider: MetricsProvider, prefix: str = "sipwright") -> None:
        self._provider = provider
        self._prefix = prefix

    def collect(self) -> Iterator[Metric]:
        metrics = self._provider()
        if metrics is None:  # the run has not started yet
            return
        p = self._prefix
        # dict() copies in one C call: the engine may add keys while we read.
        failures, responses, requests = (
            dict(metrics.failures),
            dict(metrics.responses),
            dict(metrics.requests),
        )
        yield CounterMetricFamily(f"{p}_calls_started", "Calls started.", metrics.calls_started)
        yield CounterMetricFamily(
            f"{p}_calls_succeeded", "Calls that succeeded.", metrics.calls_succeeded
        )
        failed = CounterMetricFamily(
            f"{p}_calls_failed", "Calls that failed, by reason.", labels=["reason"]
        )
        for reason, count in sorted(failures.items()):
            failed.add_metric([reason], count)
        yield failed
        yield CounterMetricFamily(
            f"{p}_calls_aborted", "Calls cut short by the end of the run.", metrics.calls_aborted
        )
        by_code = CounterMetricFamily(
            f"{p}_responses", "SIP responses, by status code.", labels=["code"]
        )
        for code, count in sorted(responses.items()):
            by_code.add_metric([str(code)], count)
        yield by_code
        by_method = CounterMetricFamily(
            f"{p}_requests", "SIP requests, by method.", labels=["method"]
        )
        for method, count in sorted(requests.items()):
            by_method.add_metric([method], count)
        yield by_method
        yield CounterMetricFamily(
            f"{p}_retransmissions", "Messages retransmitted.", metrics.retransmissions
        )
        yield CounterMetricFamily(f"{p}_timeouts", "Timeouts.", metrics.timeouts)
        yield GaugeMetricFamily(
            f"{p}_calls_in_flight", "Calls started and not yet ended.", metrics.calls_in_flight
        )
        yield from self._latencies(metrics)

    def _latencies(self, metrics: RunMetrics) -> Iterator[Metric]:
        p = self._prefix
        histograms = HistogramMetricFamily(
            f"{p}_latency_seconds", "Latencies by name (setup, pdd, rtd:*, ...).", labels=["name"]
        )
        quantiles = GaugeMetricFamily(
            f"{p}_latency_quantile_seconds",
            "Latency percentiles from HdrHistogram (3 significant digits).",
            labels=["name", "quantile"],
        )
        for name, stats in sorted(dict(metrics.latencies).items()):
            histogram = stats.histogram
            counts = count_at_or_below(histogram, [round(b * 1_000_000) for b in BUCKETS_S])
            total = stats.count
            buckets = [(_label(b), c) for b, c in zip(BUCKETS_S, counts, strict=True)]
            buckets.append(("+Inf", total))
            histograms.add_metric([name], buckets, stats.sum_us / 1_000_000)
            for q, us in histogram_percentiles(histogram, QUANTILES).items():
                quantiles.add_metric([name, _label(round(q / 100, 6))], us / 1_000_000)
        yield histograms
        yield quantiles


class PrometheusExporter:
    """The running HTTP endpoint; :meth:`close` stops its thread and frees the port."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def port(self) -> int:
        return self.address[1]

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def start_exporter(
    port: int, metrics_provider: MetricsProvider, *, addr: str = "127.0.0.1"
) -> PrometheusExporter:
    """Serve ``/metrics`` on ``addr:port`` (0: any free port, see ``.port``).

    Loopback by default: the counters tell about the system under test, so exposing
    them on every interface must be asked for.
    """
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RunMetricsCollector(metrics_provider))
    server, thread = start_http_server(port, addr=addr, registry=registry)
    return PrometheusExporter(server, thread)
