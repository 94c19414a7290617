"""Run-time control and screens of a running SIPp scenario: rate changes, pause
and resume, graceful stop (keyboard and ``-cp`` socket, see
:mod:`sipwright.scenario.sippxml.control`), SIPp's screens for ``-trace_screen``
and the keys 1-3.  A mixin of :class:`~sipwright.scenario.sippxml.engine.SippEngine`.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from pathlib import Path

from sipwright.load.scheduler import CallScheduler
from sipwright.net.address import Destination
from sipwright.report.sipp_files import ScreenInfo, ScreenStep, ScreenWriter, render_screens
from sipwright.report.sipp_stats import Snapshot
from sipwright.scenario.sippxml.call import ScenarioCall
from sipwright.scenario.sippxml.clock import clock as _clock
from sipwright.scenario.sippxml.engine_settings import EngineSettings
from sipwright.scenario.sippxml.model import Scenario
from sipwright.scenario.sippxml.program import Program
from sipwright.scenario.sippxml.screen_steps import screen_steps

__all__ = ["EngineControl"]


class EngineControl:
    """State it reads is the engine's; see SippEngine for what each holds."""

    settings: EngineSettings
    program: Program
    scenario: Scenario
    stats: Snapshot
    scheduler: CallScheduler | None
    calls: dict[str, ScenarioCall]
    client: bool
    last_error: str | None
    _loop: asyncio.AbstractEventLoop | None
    _heap: list[tuple[float, int, ScenarioCall]]
    _draining: bool
    _early_rate: float | None
    _early_pause: bool

    @property
    def _where(self) -> Destination | None:
        raise NotImplementedError

    def _poke(self) -> None:
        raise NotImplementedError

    # --- -trace_screen -----------------------------------------------------------------

    def _write_screen(self, path: Path, where: Destination | None, now: float) -> None:
        ScreenWriter(path).write(
            self.stats, *self._screen_parts(where, terminated=True), datetime.now(), now
        )

    def _screen_parts(
        self, where: Destination | None, *, terminated: bool
    ) -> tuple[list[ScreenStep], ScreenInfo]:
        settings, rate = self.settings, self.settings.rate
        remote = f"{settings.remote[0]}:{settings.remote[1]}" if settings.remote else None
        info = ScreenInfo(
            local_port=where.port if where is not None else settings.local_port,
            transport=settings.transport.upper(),
            remote=remote,
            client=self.client,
            rate=self.current_rate(),
            rate_period_s=rate.period,
            call_length_ms=int(self.program.settings.default_pause * 1000),
            call_limit=rate.max_calls,
            open_calls_limit=rate.max_concurrent,
            last_error=self.last_error,
            terminated=terminated,
        )
        return screen_steps(self.scenario, self.program.settings.default_pause * 1000), info

    # --- run-time control (keyboard, -cp socket) ----------------------------------------

    @property
    def paused(self) -> bool:
        if self.scheduler is None:
            return self._early_pause
        return self.scheduler.paused_at is not None

    @property
    def draining(self) -> bool:
        return self._draining

    def _now(self) -> float:
        return _clock()

    def current_rate(self) -> float:
        if self.scheduler is not None:
            return self.scheduler.rate
        return self._early_rate if self._early_rate is not None else self.settings.rate.rate

    def set_rate(self, rate: float) -> None:
        if self.scheduler is None:
            self._early_rate = rate
            return
        self.scheduler.set_rate(rate, self._now())
        self._poke()

    def pause(self) -> None:
        if self.scheduler is None:
            self._early_pause = True
            return
        self.scheduler.pause(self._now())

    def resume(self) -> None:
        if self.scheduler is None:
            self._early_pause = False
            return
        self.scheduler.resume(self._now())
        self._poke()

    def screen_text(self, number: int) -> str:
        """SIPp's screen ``number`` (1 scenario, 2 statistics, 3 repartition) now."""
        text = render_screens(
            self.stats,
            *self._screen_parts(self._where, terminated=False),
            datetime.now(),
            self._now(),
        )
        screens = re.split(r"(?m)^(?=-+ \w+ Screen -)", text)
        screens = [screen for screen in screens if screen.strip()]
        return screens[min(number, len(screens)) - 1].rstrip("\n") if screens else text

    def dump_tasks(self) -> str:
        waiting = sum(1 for call in self.calls.values() if call.next_timer() is not None)
        return (
            f"{len(self.calls)} calls in progress, {waiting} waiting on a timer, "
            f"{len(self._heap)} timer entries, rate {self.current_rate():g}"
            + (", paused" if self.paused else "")
            + (", stopping" if self._draining else "")
        )
