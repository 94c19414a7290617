"""The event loop the load commands run on: uvloop when it is installed (about a
third less CPU per message on this path), asyncio's own otherwise or when
``SIPWRIGHT_NO_UVLOOP`` is set in the environment."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run"]

_T = TypeVar("_T")


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
