"""Line charts as inline SVG text, for reports that must open with no network and no JS.

Each chart is one ``<svg id=...>`` with a ``<title>``, axes with round-number ticks,
one ``<path class="series" data-series=NAME>`` per series and a legend.  Missing values
(None) break a line instead of being drawn as zero: a second with no call set up has
no setup-time percentile, which is not the same as 0 ms.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["PALETTE", "Series", "line_chart", "nice_step"]

# Colour-blind-safe (Okabe-Ito), readable on white.
PALETTE = ("#0072B2", "#009E73", "#D55E00", "#CC79A7", "#E69F00", "#56B4E9", "#000000")

_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 16, 34, 58


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    color: str = PALETTE[0]


def nice_step(span: float, ticks: int) -> float:
    """A round step (1, 2 or 5 times a power of ten) giving about ``ticks`` ticks."""
    if span <= 0:
        return 1.0
    raw = span / max(ticks, 1)
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return float(factor * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def _number(value: float) -> str:
    text = f"{value:.6g}"
    return text if "e" not in text else f"{value:,.0f}"


def _a(value: float) -> str:
    """An SVG coordinate, one decimal is plenty at this size."""
    return f"{value:.1f}"


def line_chart(
    chart_id: str,
    title: str,
    xs: Sequence[float],
    series: Sequence[Series],
    *,
    y_label: str,
    x_label: str = "seconds since start",
    width: int = 880,
    height: int = 260,
) -> str:
    """One chart; ``xs`` are shared by every series (values aligned with them)."""
    for item in series:
        if len(item.values) != len(xs):
            raise ValueError(f"series {item.name!r} has {len(item.values)} values, not {len(xs)}")
    plot_w, plot_h = width - _LEFT - _RIGHT, height - _TOP - _BOTTOM
    x_min = min(xs, default=0.0)
    x_max = max(xs, default=1.0)
    if x_max <= x_min:
        x_max = x_min + 1
    present = [v for item in series for v in item.values if v is not None]
    y_step = nice_step(max(present, default=0.0) or 1.0, 5)
    y_max = y_step * max(1, math.ceil(max(present, default=0.0) / y_step))

    def x_at(x: float) -> float:
        return _LEFT + (x - x_min) / (x_max - x_min) * plot_w

    def y_at(y: float) -> float:
        return _TOP + plot_h - y / y_max * plot_h

    title_id = f"{chart_id}-title"
    parts = [
        f'<svg id="{escape(chart_id)}" class="chart" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-labelledby="{escape(title_id)}">',
        f'<title id="{escape(title_id)}">{escape(title)}</title>',
        f'<text class="chart-title" x="{_LEFT}" y="20">{escape(title)}</text>',
    ]
    y = 0.0
    while y <= y_max + y_step / 1000:
        py = _a(y_at(y))
        parts.append(f'<line class="grid" x1="{_LEFT}" x2="{_LEFT + plot_w}" y1="{py}" y2="{py}"/>')
        parts.append(f'<text class="tick" x="{_LEFT - 6}" y="{py}" dy="4" text-anchor="end">')
        parts.append(f"{escape(_number(y))}</text>")
        y += y_step
    x_step = nice_step(x_max - x_min, 10)
    x = math.ceil(x_min / x_step) * x_step
    while x <= x_max + x_step / 1000:
        px = _a(x_at(x))
        bottom = _TOP + plot_h
        parts.append(f'<line class="axis" x1="{px}" x2="{px}" y1="{bottom}" y2="{bottom + 4}"/>')
        parts.append(
            f'<text class="tick" x="{px}" y="{bottom + 16}" text-anchor="middle">'
            f"{escape(_number(x))}</text>"
        )
        x += x_step
    parts.append(
        f'<line class="axis" x1="{_LEFT}" x2="{_LEFT + plot_w}" '
        f'y1="{_TOP + plot_h}" y2="{_TOP + plot_h}"/>'
        f'<line class="axis" x1="{_LEFT}" x2="{_LEFT}" y1="{_TOP}" y2="{_TOP + plot_h}"/>'
        f'<text class="label" x="{_LEFT + plot_w / 2}" y="{_TOP + plot_h + 32}" '
        f'text-anchor="middle">{escape(x_label)}</text>'
        f'<text class="label" transform="translate(14 {_TOP + plot_h / 2}) rotate(-90)" '
        f'text-anchor="middle">{escape(y_label)}</text>'
    )
    for item in series:
        d = _path(
            [
                (x_at(x), None if v is None else y_at(v))
                for x, v in zip(xs, item.values, strict=True)
            ]
        )
        if d:
            parts.append(
                f'<path class="series" data-series="{escape(item.name)}" fill="none" '
                f'stroke="{escape(item.color)}" stroke-width="1.8" d="{d}"/>'
            )
    if not present:
        parts.append(
            f'<text class="nodata" x="{_LEFT + plot_w / 2}" y="{_TOP + plot_h / 2}" '
            'text-anchor="middle">no data</text>'
        )
    legend_x = _LEFT
    for item in series:
        legend_y = height - 12
        parts.append(
            f'<rect x="{legend_x}" y="{legend_y - 9}" width="12" height="4" '
            f'fill="{escape(item.color)}"/>'
            f'<text class="legend" x="{legend_x + 16}" y="{legend_y - 4}">'
            f"{escape(item.name)}</text>"
        )
        legend_x += 24 + 8 * len(item.name)
    parts.append("</svg>")
    return "".join(parts)


def _path(points: Sequence[tuple[float, float | None]]) -> str:
    """``M x y L x y ...``, restarting after gaps; a lone point gets a short dash."""
    commands: list[str] = []
    run: list[tuple[float, float]] = []

    def flush() -> None:
        if len(run) == 1:
            px, py = run[0]
            commands.append(f"M{_a(px - 2)} {_a(py)}L{_a(px + 2)} {_a(py)}")
        elif run:
            commands.append(
                "M" + "L".join(f"{_a(px)} {_a(py)}" for px, py in run),
            )
        run.clear()

    for px, py in points:
        if py is None:
            flush()
        else:
            run.append((px, py))
    flush()
    return "".join(commands)
