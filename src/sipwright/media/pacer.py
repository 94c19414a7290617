"""One timer for every RTP stream of an event loop.

Hundreds of streams each sending every 20 ms would cost hundreds of sleeping tasks,
a future and a timer handle per packet.  The :class:`Pacer` instead keeps one heap
of deadlines and one ``call_later`` armed at the earliest: when it fires, every job
that is due runs in turn, synchronously, and says when it wants to run next.

Deadlines are absolute (``time.monotonic`` seconds: start + n * ptime), so
scheduling delays never accumulate into drift (RFC 3550 §5.1 timestamps advance by
the media clock, not by when we got round to sending).  A job runs up to
:data:`EARLY` before its deadline, so that streams whose deadlines fall within a
millisecond share one wake-up: the event loop's timers are only millisecond-precise
anyway.  Each job is given the time it actually ran, read from the clock just before
it, so a stream measures its own lateness honestly even at the end of a long batch.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
import weakref
from collections.abc import Callable

from sipwright.net.loop import call_at_monotonic

__all__ = ["EARLY", "Pacer", "PacerJob", "pacer_for"]

EARLY = 0.001  # a job may run this long (s) before its deadline

#: ``job(deadline, now)`` runs once due; returns its next deadline, or None when done.
Job = Callable[[float, float], float | None]


class PacerJob:
    """A scheduled job; :meth:`cancel` takes it off the pacer."""

    __slots__ = ("cancelled", "deadline", "run")

    def __init__(self, run: Job, deadline: float) -> None:
        self.run = run
        self.deadline = deadline
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Pacer:
    """Runs due jobs in deadline order from one event-loop timer."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._heap: list[tuple[float, int, PacerJob]] = []
        self._order = itertools.count()  # ties run in the order they were added
        self._timer: asyncio.TimerHandle | None = None
        self._armed_at = float("inf")

    def __len__(self) -> int:
        return sum(1 for _, _, job in self._heap if not job.cancelled)

    def add(self, run: Job, deadline: float) -> PacerJob:
        """Run ``run`` at ``deadline`` (monotonic seconds), and then when it asks."""
        job = PacerJob(run, deadline)
        heapq.heappush(self._heap, (deadline, next(self._order), job))
        self._arm()
        return job

    def _arm(self) -> None:
        if not self._heap:
            return
        first = self._heap[0][0]
        if first >= self._armed_at:
            return  # an earlier wake-up is already set
        if self._timer is not None:
            self._timer.cancel()
        self._armed_at = first
        self._timer = call_at_monotonic(self._loop, first - EARLY, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._armed_at = float("inf")
        heap = self._heap
        clock = time.monotonic
        push, pop = heapq.heappush, heapq.heappop
        order = self._order
        while heap:
            deadline, _, job = heap[0]
            now = clock()
            if deadline - EARLY > now:
                break
            pop(heap)
            if job.cancelled:
                continue
            try:
                following = job.run(deadline, now)
            except Exception as error:  # one broken stream must not stop the others
                self._loop.call_exception_handler(
                    {"message": "media pacer job failed", "exception": error}
                )
                following = None
            if following is None:
                job.cancelled = True
            else:
                job.deadline = following
                push(heap, (following, next(order), job))
        self._arm()


_PACERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Pacer] = weakref.WeakKeyDictionary()


def pacer_for(loop: asyncio.AbstractEventLoop | None = None) -> Pacer:
    """The running loop's pacer, made on first use."""
    loop = loop if loop is not None else asyncio.get_running_loop()
    pacer = _PACERS.get(loop)
    if pacer is None:
        pacer = _PACERS[loop] = Pacer(loop)
    return pacer
