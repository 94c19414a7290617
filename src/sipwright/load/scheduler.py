"""When to start calls: SIPp's rate model, computed from time rather than counted.

A rate of ``r`` calls per period ``p`` means call number ``n`` (from 0) is due at
``start + n * p / r``; the scheduler never accumulates rounding error because it
derives the number due from elapsed time (``-r 1000`` over 10 s starts 10,000 calls
whatever the loop's jitter).  On top of that, SIPp's limits: ``-m`` (total calls),
``-l`` (calls in progress), ``-rate_increase``/``-rate_max``/``-rate_interval``
(ramps), ``-users`` (a closed model: a fixed population, a new call when one ends),
and optional Poisson (open model) arrivals.  Sans-I/O: time is a parameter.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

__all__ = ["CallScheduler", "RateSettings"]


@dataclass(frozen=True, slots=True)
class RateSettings:
    rate: float = 10.0  # calls per period (-r)
    period: float = 1.0  # seconds (-rp)
    max_calls: int | None = None  # -m
    max_concurrent: int | None = None  # -l
    rate_increase: float = 0.0  # -rate_increase, calls per period added each interval
    rate_interval: float = 60.0  # -rate_interval (defaults to -fd in SIPp)
    rate_max: float | None = None  # -rate_max
    users: int | None = None  # -users: closed model
    poisson: bool = False  # open model with exponential inter-arrival times

    def __post_init__(self) -> None:
        if self.rate < 0 or self.period <= 0:
            raise ValueError("the rate must be >= 0 and the period > 0")


class CallScheduler:
    """Tells the load loop how many calls to start now and when to look again."""

    def __init__(self, settings: RateSettings, start: float, *, seed: int = 0) -> None:
        self.settings = settings
        self.start = start
        self.started = 0
        self.in_progress = 0
        self.paused_at: float | None = None
        self._paused_total = 0.0
        self._rate = settings.rate
        # (segment start, rate, calls due at the segment start).  The first call is due
        # at ``start`` itself, hence 1; a rate change keeps the count continuous.
        self._segments: list[tuple[float, float, int]] = [(start, settings.rate, 1)]
        self._random = random.Random(seed)
        self._next_poisson = start

    # --- control (keys + - * /, the control socket's "cset rate") ----------------------

    @property
    def rate(self) -> float:
        return self._rate

    def set_rate(self, rate: float, now: float) -> None:
        """Change the rate from ``now`` on; calls already due stay due."""
        due_now = max(self._due_count(now), self.started)
        self._rate = max(0.0, rate)
        self._segments.append((now, self._rate, due_now))
        self._next_poisson = now

    def _due_count(self, now: float) -> int:
        """Calls due by ``now`` under the rate segments (not limited by -m or -l)."""
        segment_start, rate, base = self._segments[-1]
        elapsed = max(0.0, now - segment_start)
        # +1e-9: a call due exactly now is due (float error must not delay it).
        return base + math.floor(elapsed * rate / self.settings.period + 1e-9)

    def pause(self, now: float) -> None:
        if self.paused_at is None:
            self.paused_at = now

    def resume(self, now: float) -> None:
        if self.paused_at is not None:
            self._paused_total += now - self.paused_at
            self.paused_at = None
            # Nothing is owed for the paused time: count afresh from here.
            self._segments.append((now, self._rate, self.started))
            self._next_poisson = now

    # --- the loop's side ---------------------------------------------------------------

    @property
    def finished(self) -> bool:
        limit = self.settings.max_calls
        return limit is not None and self.started >= limit

    def due(self, now: float) -> int:
        """How many calls to start now (and counts them as started)."""
        if self.paused_at is not None or self.finished:
            return 0
        self._ramp(now)
        settings = self.settings
        if settings.users is not None:
            wanted = settings.users - self.in_progress
        elif settings.poisson:
            wanted = 0
            while self._next_poisson <= now and self._rate > 0:
                wanted += 1
                mean = settings.period / self._rate
                self._next_poisson += self._random.expovariate(1 / mean)
        else:
            wanted = self._due_count(now) - self.started
        if settings.max_concurrent is not None:
            wanted = min(wanted, settings.max_concurrent - self.in_progress)
        if settings.max_calls is not None:
            wanted = min(wanted, settings.max_calls - self.started)
        wanted = max(0, wanted)
        self.started += wanted
        self.in_progress += wanted
        return wanted

    def call_ended(self) -> None:
        self.in_progress = max(0, self.in_progress - 1)

    def next_due(self, now: float) -> float | None:
        """When ``due`` may next return more than zero (None: only when a call ends)."""
        if self.paused_at is not None or self.finished:
            return None
        settings = self.settings
        if settings.users is not None:
            return None
        if settings.max_concurrent is not None and self.in_progress >= settings.max_concurrent:
            return None
        if self._rate <= 0:
            return None
        if settings.poisson:
            return self._next_poisson
        segment_start, rate, base = self._segments[-1]
        needed = self.started + 1 - base  # periods/rate past the segment start
        return segment_start + max(0, needed) * settings.period / rate

    # --- ramps ---------------------------------------------------------------------------

    def _ramp(self, now: float) -> None:
        settings = self.settings
        if settings.rate_increase <= 0:
            return
        steps = int((now - self.start - self._paused_total) // settings.rate_interval)
        wanted = settings.rate + steps * settings.rate_increase
        if settings.rate_max is not None:
            wanted = min(wanted, settings.rate_max)
        if wanted != self._rate:
            boundary = self.start + self._paused_total + steps * settings.rate_interval
            self.set_rate(wanted, max(boundary, self._segments[-1][0]))

    def ramp_exceeded(self, now: float) -> bool:
        """The ramp would now go past -rate_max: when SIPp quits (unless
        -no_rate_quit), after a full interval at the maximum rate."""
        settings = self.settings
        if settings.rate_increase <= 0 or settings.rate_max is None:
            return False
        steps = int((now - self.start - self._paused_total) // settings.rate_interval)
        return settings.rate + steps * settings.rate_increase > settings.rate_max

    @property
    def ramp_done(self) -> bool:
        """-rate_max reached (SIPp quits then unless -no_rate_quit)."""
        limit = self.settings.rate_max
        return limit is not None and self.settings.rate_increase > 0 and self._rate >= limit
