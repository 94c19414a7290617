"""The live view of a load run: a rich panel on a terminal, plain lines in CI logs.

The engine calls :meth:`LiveDisplay.update` about four times a second with the
current (merged) metrics and the monotonic time.  On a terminal the panel is redrawn
in place (rich ``Live`` with no refresh thread of its own: it redraws only when the
engine asks, so nothing runs behind the event loop's back).  When the output is not a
terminal -- a CI log, a pipe -- redrawing would print a screen per update, so the
display writes one plain line every ``plain_interval`` seconds instead, and a last one
when it stops.
"""

from __future__ import annotations

import math
from types import TracebackType
from typing import Self

# The display asks for percentiles from its first update on, and they are computed
# with numpy (load/histograms.py imports it lazily): load it with the display rather
# than in the middle of a run, where its ~15 MB would look like memory of the calls.
import numpy  # noqa: F401
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from sipwright.load.histograms import histogram_percentiles
from sipwright.load.metrics import RunMetrics

__all__ = ["LiveDisplay", "sparkline"]

_BLOCKS = "▁▂▃▄▅▆▇█"
_PERCENTILES = (50.0, 90.0, 99.0)
_MAX_LATENCY_ROWS = 6
_LATENCY_ORDER = {"setup": 0, "pdd": 1}  # then the others by name; call_length last


def sparkline(values: list[int]) -> str:
    """One character per value, scaled to the largest; zero is a blank."""
    top = max(values, default=0)
    if top <= 0:
        return " " * len(values)
    return "".join(
        " " if v <= 0 else _BLOCKS[min(len(_BLOCKS), math.ceil(v / top * len(_BLOCKS))) - 1]
        for v in values
    )


def _ms(us: int) -> str:
    return f"{us / 1000:.3g}" if us < 100_000 else f"{us / 1000:,.0f}"


class LiveDisplay:
    """Shows a run's progress; use as a context manager or call start()/stop().

    ``console``: where to draw (default: stdout); ``target_rate``: calls/s asked for;
    ``total_calls``: the ``-m`` limit, for a progress bar; ``plain_interval``: seconds
    between plain lines when the console is not a terminal.
    """

    def __init__(
        self,
        console: Console | None = None,
        *,
        target_rate: float | None = None,
        total_calls: int | None = None,
        plain_interval: float = 1.0,
        title: str = "sipwright load",
        spark_seconds: int = 60,
    ) -> None:
        self.console = console if console is not None else Console()
        self.target_rate = target_rate
        self.total_calls = total_calls
        self.plain_interval = plain_interval
        self.title = title
        self.spark_seconds = spark_seconds
        self.interactive = self.console.is_terminal and not self.console.is_dumb_terminal
        self._live: Live | None = None
        self._last_plain: float | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        if self.interactive and self._live is None:
            self._live = Live(
                Text(""),
                console=self.console,
                auto_refresh=False,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._live.start()

    def update(self, metrics: RunMetrics, now: float, *, target_rate: float | None = None) -> None:
        """Show ``metrics`` as of ``now`` (monotonic seconds); cheap when plain and
        not yet due."""
        if target_rate is not None:
            self.target_rate = target_rate
        if self.interactive:
            self.start()
            assert self._live is not None
            self._live.update(self.render(metrics, now), refresh=True)
        elif self._last_plain is None or now - self._last_plain >= self.plain_interval:
            self._last_plain = now
            self._print_plain(metrics, now)

    def stop(self, metrics: RunMetrics | None = None, now: float | None = None) -> None:
        """End the display, showing ``metrics`` one last time when given."""
        if metrics is not None:
            at = metrics.end if now is None else now
            if self.interactive:
                self.start()
                assert self._live is not None
                self._live.update(self.render(metrics, at), refresh=True)
            else:
                self._print_plain(metrics, at)
        if self._live is not None:
            self._live.stop()
            self._live = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ numbers

    def _rates(self, metrics: RunMetrics, now: float) -> tuple[float, list[int]]:
        """Calls started in the last complete second, and per second before it."""
        current = int(now - metrics.start)
        first = max(0, current - self.spark_seconds)
        seconds = metrics.seconds
        history = [seconds[s].started if s in seconds else 0 for s in range(first, current)]
        return (float(history[-1]) if history else 0.0), history

    def _latencies(self, metrics: RunMetrics) -> list[tuple[str, int, dict[float, int], int]]:
        names = sorted(
            metrics.latencies,
            key=lambda n: (_LATENCY_ORDER.get(n, 3 if n == "call_length" else 2), n),
        )[:_MAX_LATENCY_ROWS]
        rows = []
        for name in names:
            stats = metrics.latencies[name]
            rows.append(
                (
                    name,
                    stats.count,
                    histogram_percentiles(stats.histogram, _PERCENTILES),
                    stats.max_us,
                )
            )
        return rows

    def _progress(self, metrics: RunMetrics) -> str:
        assert self.total_calls
        done = metrics.calls_ended
        return f"{done:,}/{self.total_calls:,} ({100 * done / self.total_calls:.0f}%)"

    # ------------------------------------------------------------------ rendering

    def plain_line(self, metrics: RunMetrics, now: float) -> str:
        """The one-line form, for logs."""
        rate, _ = self._rates(metrics, now)
        parts = [
            f"[{max(0.0, now - metrics.start):7.1f}s]",
            f"rate {rate:.1f}/s"
            + (f" (target {self.target_rate:g})" if self.target_rate is not None else ""),
            f"started {metrics.calls_started}",
            f"in-flight {metrics.calls_in_flight}",
            f"ok {metrics.calls_succeeded}",
            f"failed {metrics.calls_failed}",
            f"retrans {metrics.retransmissions}",
        ]
        if metrics.calls_aborted:
            parts.append(f"aborted {metrics.calls_aborted}")
        setup = metrics.latencies.get("setup")
        if setup is not None and setup.count:
            values = histogram_percentiles(setup.histogram, _PERCENTILES)
            parts.append("setup p50/p90/p99 " + "/".join(_ms(v) for v in values.values()) + " ms")
        if metrics.responses:
            parts.append(" ".join(f"{c}:{n}" for c, n in sorted(metrics.responses.items())))
        if self.total_calls:
            parts.append(f"done {self._progress(metrics)}")
        return "  ".join(parts)

    def _print_plain(self, metrics: RunMetrics, now: float) -> None:
        self.console.print(
            self.plain_line(metrics, now), markup=False, highlight=False, soft_wrap=True
        )

    def render(self, metrics: RunMetrics, now: float) -> RenderableType:
        """The panel shown on a terminal."""
        rate, history = self._rates(metrics, now)
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold")
        grid.add_column()
        target = f" (target {self.target_rate:g}/s)" if self.target_rate is not None else ""
        grid.add_row("Elapsed", f"{max(0.0, now - metrics.start):.1f} s")
        grid.add_row("Call rate", f"{rate:,.1f}/s{target}")
        grid.add_row(f"Calls/s, last {len(history)} s", Text(sparkline(history), style="cyan"))
        calls = Text()
        calls.append(f"started {metrics.calls_started:,}  ")
        calls.append(f"in flight {metrics.calls_in_flight:,}  ")
        calls.append(f"succeeded {metrics.calls_succeeded:,}  ", style="green")
        calls.append(
            f"failed {metrics.calls_failed:,}", style="red" if metrics.calls_failed else ""
        )
        if metrics.calls_aborted:
            calls.append(f"  aborted {metrics.calls_aborted:,}", style="yellow")
        grid.add_row("Calls", calls)
        grid.add_row(
            "Retransmissions", f"{metrics.retransmissions:,}  timeouts {metrics.timeouts:,}"
        )
        if metrics.responses:
            grid.add_row(
                "Responses",
                "  ".join(f"{c}: {n:,}" for c, n in sorted(metrics.responses.items())),
            )
        if metrics.failures:
            grid.add_row(
                "Failures", "  ".join(f"{r}: {n:,}" for r, n in sorted(metrics.failures.items()))
            )
        if self.total_calls:
            bar = Table.grid(padding=(0, 1))
            bar.add_row(
                ProgressBar(total=self.total_calls, completed=metrics.calls_ended, width=40),
                self._progress(metrics),
            )
            grid.add_row("Progress", bar)
        parts: list[RenderableType] = [grid]
        latencies = self._latencies(metrics)
        if latencies:
            table = Table(title=None, box=None, padding=(0, 2), header_style="bold")
            table.add_column("latency (ms)")
            for label in ("count", "p50", "p90", "p99", "max"):
                table.add_column(label, justify="right")
            for name, count, values, max_us in latencies:
                table.add_row(
                    name, f"{count:,}", *(_ms(values[p]) for p in _PERCENTILES), _ms(max_us)
                )
            parts.append(Text(""))
            parts.append(table)
        return Panel(Group(*parts), title=self.title, expand=False)
