"""The lines of SIPp's scenario screen for a scenario (``-trace_screen``)."""

from __future__ import annotations

from sipwright.report.sipp_files import (
    ScreenStep,
    pause_exponential,
    pause_fixed,
    pause_normal,
    pause_uniform,
    pause_variable,
)
from sipwright.scenario.sippxml.distributions import Exponential, Fixed, Normal, Uniform
from sipwright.scenario.sippxml.model import Nop, Pause, Recv, Scenario, Send

__all__ = ["screen_steps"]


def screen_steps(scenario: Scenario, default_pause_ms: float) -> list[ScreenStep]:
    """One ScreenStep per shown command (hidden ones and 3PCC commands left out)."""
    steps: list[ScreenStep] = []
    for index, command in enumerate(scenario.commands):
        if command.hide:
            continue
        rtds = command.start_rtd, command.rtd
        if isinstance(command, Send):
            label = command.method or str(command.status or "")
            steps.append(
                ScreenStep(index, "send", label, *rtds, bool(command.retrans), command.crlf)
            )
        elif isinstance(command, Recv):
            label = command.request or str(command.response or command.response_pattern or "")
            steps.append(ScreenStep(index, "recv", label, *rtds, crlf=command.crlf))
        elif isinstance(command, Pause):
            steps.append(ScreenStep(index, "pause", _pause_label(command, default_pause_ms)))
        elif isinstance(command, Nop):
            steps.append(ScreenStep(index, "nop", "", *rtds, display=command.display))
    return steps


def _pause_label(command: Pause, default_pause_ms: float) -> str:
    if command.variable is not None:
        return pause_variable(command.variable)
    distribution = command.distribution
    if distribution is None:
        return pause_fixed(default_pause_ms)
    if isinstance(distribution, Fixed):
        return pause_fixed(distribution.value)
    if isinstance(distribution, Uniform):
        return pause_uniform(distribution.min, distribution.max)
    if isinstance(distribution, Normal):
        return pause_normal(distribution.mean, distribution.stdev)
    if isinstance(distribution, Exponential):
        return pause_exponential(distribution.mean)
    return f"[{type(distribution).__name__}]"
