"""The clock of a running scenario: ``time.monotonic``, which is also what asyncio's
own loop reads.  uvloop's ``loop.time()`` is libuv's cached millisecond clock: fine
for scheduling, too coarse for the latencies measured (setup time, PDD, rtd), so
the engine reads this one and arms its timer with
:func:`sipwright.net.loop.call_at_monotonic`."""

from __future__ import annotations

import time

__all__ = ["clock"]

clock = time.monotonic
