"""The event loop the load commands run on: uvloop when it is installed (about a
third less CPU per message on this path), asyncio's own otherwise or when
``SIPWRIGHT_NO_UVLOOP`` is set in the environment."""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["call_at_monotonic", "run"]

_T = TypeVar("_T")


def call_at_monotonic(
    loop: asyncio.AbstractEventLoop, when: float, callback: Callable[[], object]
) -> asyncio.TimerHandle:
    """Call ``callback`` at ``when`` (``time.monotonic`` seconds), never before.

    The delay is rounded up to whole milliseconds: uvloop (libuv) counts whole
    milliseconds on a clock that lags time.monotonic, and rounded to nearest, a delay
    under half a millisecond became "now".  A timer that wakes before its deadline finds
    nothing due, re-arms for the same instant and spins until it comes (the load engine
    made 35,000-66,000 wake-ups for 8,000 calls instead of ~10,000, up to 20 % more
    CPU).  A timer now fires at most a millisecond late, as SIPp's millisecond scheduler
    does."""
    delay = when - time.monotonic()
    return loop.call_later(math.ceil(delay * 1000) / 1000 if delay > 0 else 0, callback)


def run(main: Coroutine[Any, Any, _T]) -> _T:
    if not os.environ.get("SIPWRIGHT_NO_UVLOOP"):
        try:
            import uvloop  # noqa: PLC0415 - optional speed-up
        except ImportError:
            pass
        else:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                return runner.run(main)
    return asyncio.run(main)
