"""The call scheduler: rates without drift, limits, ramps, closed and open models."""

from __future__ import annotations

import pytest

from sipwright.load.scheduler import CallScheduler, RateSettings


def run(scheduler: CallScheduler, until: float, step: float) -> list[tuple[float, int]]:
    """Poll ``due`` every ``step`` seconds (a jittery loop) and note what started when."""
    started: list[tuple[float, int]] = []
    now = scheduler.start
    while now <= until + 1e-12:
        count = scheduler.due(now)
        if count:
            started.append((now, count))
        now += step
    return started


@pytest.mark.parametrize("step", [0.0001, 0.0037, 0.1])
def test_rate_does_not_drift_whatever_the_polling(step: float) -> None:
    scheduler = CallScheduler(RateSettings(rate=1000), start=5.0)
    run(scheduler, until=5.0 + 10.0 - 1e-6, step=step)
    # 1,000/s over 10 s: 10,000 calls (the one at t=10 s exactly is the 10,001st).
    assert abs(scheduler.started - 10_000) <= 10_000 * 0.01
    assert scheduler.started <= 10_000


def test_first_call_at_start_and_next_due_is_exact() -> None:
    scheduler = CallScheduler(RateSettings(rate=4, period=2.0), start=100.0)
    assert scheduler.due(100.0) == 1
    assert scheduler.next_due(100.0) == pytest.approx(100.5)
    assert scheduler.due(100.49) == 0
    assert scheduler.due(100.5) == 1
    assert scheduler.due(102.0) == 3


def test_max_calls_and_concurrency_limit() -> None:
    scheduler = CallScheduler(RateSettings(rate=100, max_calls=5, max_concurrent=2), start=0)
    assert scheduler.due(1.0) == 2  # -l 2 caps it
    assert scheduler.next_due(1.0) is None  # until a call ends
    scheduler.call_ended()
    assert scheduler.due(1.0) == 1
    scheduler.call_ended()
    scheduler.call_ended()
    assert scheduler.due(2.0) == 2
    assert scheduler.finished
    assert scheduler.due(3.0) == 0


def test_rate_change_keeps_calls_already_due() -> None:
    scheduler = CallScheduler(RateSettings(rate=10), start=0)
    assert scheduler.due(0.0) == 1
    scheduler.set_rate(100, 1.0)  # 10 more were due by t=1 under the old rate
    assert scheduler.due(1.0) == 10
    assert scheduler.due(2.0) == 100


def test_ramp_up_to_rate_max() -> None:
    settings = RateSettings(rate=10, rate_increase=10, rate_interval=1.0, rate_max=30)
    scheduler = CallScheduler(settings, start=0)
    run(scheduler, until=5.0, step=0.001)
    assert scheduler.rate == 30
    assert scheduler.ramp_done
    # 10/s in [0,1), 20/s in [1,2), then 30/s: about 10 + 20 + 3*30 = 120 by t=5.
    assert 115 <= scheduler.started <= 125


def test_users_keeps_a_constant_population() -> None:
    scheduler = CallScheduler(RateSettings(users=3), start=0)
    assert scheduler.due(0) == 3
    assert scheduler.due(1) == 0
    scheduler.call_ended()
    assert scheduler.due(2) == 1


def test_pause_and_resume() -> None:
    scheduler = CallScheduler(RateSettings(rate=10), start=0)
    scheduler.due(1.0)
    scheduler.pause(1.0)
    assert scheduler.due(5.0) == 0
    scheduler.resume(5.0)
    assert scheduler.due(5.0) == 0  # nothing owed for the paused time
    assert scheduler.due(6.0) == 10


def test_poisson_arrivals_average_the_rate() -> None:
    scheduler = CallScheduler(RateSettings(rate=50, poisson=True), start=0, seed=7)
    run(scheduler, until=100.0, step=0.01)
    assert abs(scheduler.started - 5000) < 5000 * 0.05


def test_ramp_exceeded_after_a_full_interval_at_rate_max() -> None:
    # SIPp quits when the next increase would pass -rate_max: 10, 20, 30 calls/s for
    # one second each, then the ramp is over.
    settings = RateSettings(rate=10, rate_increase=10, rate_interval=1.0, rate_max=30)
    scheduler = CallScheduler(settings, 0.0)
    assert not scheduler.ramp_exceeded(2.999)
    assert scheduler.ramp_exceeded(3.0)
    started = sum(scheduler.due(t / 1000) for t in range(3000))
    assert started == 60
    assert not CallScheduler(RateSettings(rate=10), 0.0).ramp_exceeded(1e6)
