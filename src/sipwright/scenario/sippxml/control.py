"""Run-time control of a running ``sipwright sipp``, as SIPp offers it.

Keys (typed on the terminal, or sent as a datagram to the control socket):
``+``/``-`` change the call rate by 1, ``*``/``/`` by 10, ``p`` pauses or resumes
call creation, ``q`` stops gracefully (no new calls; a second ``q`` stops at once),
``Q`` stops at once, ``1``-``3`` print SIPp's scenario, statistics and repartition
screens.  A datagram starting with ``c`` is a command: ``cset rate N``,
``cpause``, ``cresume``, ``cquit``, ``cdump tasks``.

The control socket is UDP on the local address, port 8888 by default (``-cp``); as
SIPp does, without ``-cp`` the next free port up to 8947 is taken when 8888 is busy.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import termios
import tty
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sipwright.scenario.sippxml.engine import SippEngine

__all__ = ["DEFAULT_CONTROL_PORT", "ControlError", "RunControl"]

DEFAULT_CONTROL_PORT = 8888
_PORT_TRIES = 60


class ControlError(Exception):
    """The control socket could not be opened on the port asked for."""


class RunControl:
    """Applies keys and commands to the engine running now (``engine`` is swapped
    as a chain of scenarios goes on); ``say`` prints the answers."""

    def __init__(self, say: Callable[[str], None] = print) -> None:
        self.engine: SippEngine | None = None
        self.say = say
        self._transport: asyncio.DatagramTransport | None = None
        self._tty: tuple[int, list[Any]] | None = None
        self.port: int | None = None

    # --- input ---------------------------------------------------------------------------

    def handle(self, text: str) -> None:
        """One datagram or keyboard chunk."""
        text = text.strip("\r\n")
        if text.startswith("c"):
            self.command(text[1:].strip())
            return
        for key in text:
            self.key(key)

    def key(self, key: str) -> None:
        engine = self.engine
        if engine is None:
            return
        steps = {"+": 1.0, "-": -1.0, "*": 10.0, "/": -10.0}
        if key in steps:
            self._set_rate(engine, engine.current_rate() + steps[key])
        elif key == "p":
            if engine.paused:
                engine.resume()
            else:
                engine.pause()
            self.say("call creation " + ("paused" if engine.paused else "resumed"))
        elif key == "q":
            if engine.draining:
                engine.request_stop("quit")
            else:
                engine.request_stop("stop_gracefully")
                self.say("stopping: no new calls; q again or Q to stop at once")
        elif key == "Q":
            engine.request_stop("quit")
        elif key in "123":
            self.say(engine.screen_text(int(key)))

    def command(self, text: str) -> None:
        engine = self.engine
        words = text.split()
        if engine is None or not words:
            return
        if words[:2] == ["set", "rate"] and len(words) == 3:
            try:
                rate = float(words[2])
            except ValueError:
                self.say(f"control: not a rate: {words[2]!r}")
                return
            self._set_rate(engine, rate)
        elif words == ["pause"]:
            engine.pause()
        elif words == ["resume"]:
            engine.resume()
        elif words == ["quit"]:
            engine.request_stop("stop_gracefully")
        elif words == ["dump", "tasks"]:
            self.say(engine.dump_tasks())
        else:
            self.say(f"control: unknown command {text!r}")

    def _set_rate(self, engine: SippEngine, rate: float) -> None:
        rate = max(0.0, rate)
        engine.set_rate(rate)
        self.say(f"call rate set to {rate:g}")

    # --- sources -----------------------------------------------------------------------

    async def open_socket(self, host: str, port: int | None) -> None:
        """Bind the UDP control socket: ``port`` exactly, or the first free one from
        8888 when None (then a busy range is not an error: no socket)."""
        loop = asyncio.get_running_loop()
        candidates = (
            [port] if port is not None else [DEFAULT_CONTROL_PORT + i for i in range(_PORT_TRIES)]
        )
        for candidate in candidates:
            try:
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: _ControlProtocol(self), local_addr=(host, candidate)
                )
            except OSError as error:
                if port is not None:
                    message = f"-cp {port}: cannot open the control socket: {error}"
                    raise ControlError(message) from None
                continue
            self._transport = transport
            self.port = candidate
            return

    def attach_keyboard(self) -> None:
        """Read keys from the terminal (cbreak mode, restored by ``close``)."""
        fd = sys.stdin.fileno()
        if not os.isatty(fd):
            return
        with contextlib.suppress(termios.error):
            self._tty = (fd, termios.tcgetattr(fd))
            tty.setcbreak(fd)
            asyncio.get_running_loop().add_reader(fd, self._on_key)

    def _on_key(self) -> None:
        try:
            data = os.read(sys.stdin.fileno(), 64)
        except OSError:
            return
        self.handle(data.decode("utf-8", "replace"))

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        if self._tty is not None:
            fd, saved = self._tty
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(fd)
            with contextlib.suppress(termios.error):
                termios.tcsetattr(fd, termios.TCSADRAIN, saved)
            self._tty = None


class _ControlProtocol(asyncio.DatagramProtocol):
    def __init__(self, control: RunControl) -> None:
        self.control = control

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        del addr
        self.control.handle(data.decode("utf-8", "replace"))
