"""``sipwright answer``: a callee that answers (or rejects) incoming calls."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sipwright.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    add_agent_arguments,
    make_agent,
    run_async,
    sip_uri,
)
from sipwright.cli.media_args import add_media_arguments, describe_media, media_options, seconds
from sipwright.media.call_stats import DetectedDigit
from sipwright.net.transport_layer import TransportError
from sipwright.ua import Agent, CallFailed, IncomingCall, RegistrationFailed

__all__ = ["add_parser"]


def listen_spec(text: str) -> tuple[str, str, int]:
    """``udp:127.0.0.1:5070`` (IPv6: ``tcp:[::1]:5070``) -> (transport, host, port)."""
    transport, _, rest = text.partition(":")
    host, _, port = rest.rpartition(":")
    if transport not in ("udp", "tcp", "tls", "ws", "wss") or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"--listen wants transport:host:port, not {text!r}")
    return transport, host.strip("[]"), int(port)


def final_code(text: str) -> int:
    """argparse type for --code: a final response status, 200-699."""
    if not text.isdigit() or not 200 <= int(text) <= 699:
        raise argparse.ArgumentTypeError(f"want a final status 200-699, not {text!r}")
    return int(text)


def count(text: str) -> int:
    """argparse type for --max-calls: 0 or more."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"want a count (0 or more), not {text!r}")
    return int(text)


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "answer",
        help="answer incoming calls (or reject them with --code) until stopped",
        description="Wait for calls and answer them. With --ring S it sends 180 and "
        "waits S seconds first (callers may CANCEL meanwhile: 200 to the CANCEL, 487 "
        "to the INVITE). SIGINT/SIGTERM hang up the calls in progress, all at once "
        "and within a few seconds. Exit 0 when no call failed (calls cut short by "
        "the stop are not failures), 1 otherwise, 2 for a bad command line.",
    )
    parser.add_argument(
        "--listen", "-l", type=listen_spec, action="append", default=[],
        metavar="TRANSPORT:HOST:PORT",
        help="where to listen (repeatable; default udp:127.0.0.1:5060)",
    )  # fmt: skip
    parser.add_argument("--register", type=sip_uri, metavar="URI", help="register at URI first")
    parser.add_argument("--ring", type=seconds, default=0.0, help="seconds of 180 before answering")
    parser.add_argument("--code", type=final_code, default=200, help="final response (486: busy)")
    parser.add_argument("--max-calls", type=count, default=0, help="stop after N calls (0: never)")
    parser.add_argument("--duration", type=seconds, default=0.0, help="hang up after S seconds")
    parser.add_argument(
        "--record", type=Path, metavar="FILE.wav",
        help="record the audio received (second call: FILE-2.wav, ...)",
    )  # fmt: skip
    add_media_arguments(parser, caller=False)
    add_agent_arguments(parser, local_default="sip:sipwright@127.0.0.1:5060")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return run_async("sipwright answer", lambda closers: _answer(args, closers))


async def _answer(args: argparse.Namespace, closers: list[Callable[[], None]]) -> int:
    listens = args.listen or [("udp", "127.0.0.1", 5060)]
    transport, host, port = listens[0]
    user = args.local.split(":", 1)[1].split("@")[0] if "@" in args.local else "sipwright"
    host_text = f"[{host}]" if ":" in host else host
    args.local = f"sip:{user}@{host_text}:{port}"
    if transport in ("tls", "wss") and not args.cert:
        raise UsageError(f"--listen {transport}:... needs --cert and --key")
    media_options(args)  # a bad --play file is a usage error before we listen
    agent = make_agent(args, closers, transport=transport)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    handled = 0
    failed = 0
    async with agent:
        for extra_transport, extra_host, extra_port in listens[1:]:
            context = agent.server_ssl if extra_transport in ("tls", "wss") else None
            if extra_transport in ("tls", "wss") and context is None:
                raise UsageError(f"--listen {extra_transport}:... needs --cert and --key")
            await agent.endpoint.listen(
                extra_transport, extra_host, extra_port, ssl_context=context
            )
        where = ", ".join(str(d) for d in agent.endpoint.transports.listening)
        print(f"listening on {where}", flush=True)
        if args.register:
            try:
                registration = await asyncio.wait_for(
                    agent.register(args.register, user=args.user, password=args.password),
                    args.timeout,
                )
            except (RegistrationFailed, CallFailed, TransportError, TimeoutError) as error:
                print(f"{args.register}: registration failed: {error or 'no response'}")
                return EXIT_FAILED
            print(f"registered {registration.contact} at {args.register}", flush=True)
        tasks: set[asyncio.Task[bool]] = set()
        calls = agent.incoming().__aiter__()
        while not stop.is_set() and (not args.max_calls or handled < args.max_calls):
            next_call = asyncio.ensure_future(calls.__anext__())
            stopper = asyncio.ensure_future(stop.wait())
            done, _ = await asyncio.wait({next_call, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if next_call not in done:
                next_call.cancel()
                break
            handled += 1
            task = asyncio.create_task(_handle(agent, next_call.result(), args, handled))
            tasks.add(task)
        if tasks:
            failed = await _finish(tasks, stop)
        # Leaving the agent hangs up the calls still up, all at once and for a
        # bounded time (Agent.close), so a stop never waits for BYEs one by one.
    print(f"{handled} calls, {failed} failed", flush=True)
    return EXIT_OK if failed == 0 else EXIT_FAILED


async def _finish(tasks: set[asyncio.Task[bool]], stop: asyncio.Event) -> int:
    """Wait for the calls to end, or for SIGINT/SIGTERM; returns how many failed.

    A stop interrupts the calls still running: they are hung up as the agent closes
    and are not failures (being told to stop is how a callee's run normally ends)."""
    stopper = asyncio.ensure_future(stop.wait())
    while not stopper.done() and not all(task.done() for task in tasks):
        await asyncio.wait({*tasks, stopper}, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    running = [task for task in tasks if not task.done()]
    if running:
        print(f"stopping: hanging up {len(running)} calls", flush=True)
    for task in running:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, Exception):  # a bug in a call's handling: say so, once
            print(f"a call failed: {type(result).__name__}: {result}", flush=True)
    return sum(1 for result in results if result is False or isinstance(result, Exception))


async def _handle(agent: Agent, call: IncomingCall, args: argparse.Namespace, index: int) -> bool:
    sdp = call.request.body.decode("utf-8", "replace") if args.verbose else ""
    media = [line for line in sdp.splitlines() if line.startswith("m=")]
    print(f"call from {call.from_uri} ({call.record.call_id}) {' '.join(media)}", flush=True)
    shown = [0]  # digits printed so far: each as it comes, the rest at the end
    try:
        return await _converse(call, args, index, shown)
    finally:
        for found in call.record.digits[shown[0] :]:
            _show_digit(call, found)
        if call.record.media is not None:
            print(f"call from {call.from_uri}: {describe_media(call.record.media)}", flush=True)


def _show_digit(call: IncomingCall, found: DetectedDigit) -> None:
    print(f"call from {call.from_uri}: DTMF {found.digit} ({found.method})", flush=True)


async def _log_digits(call: IncomingCall, shown: list[int]) -> None:
    async for found in call.dtmf():
        shown[0] += 1
        _show_digit(call, found)


async def _converse(
    call: IncomingCall, args: argparse.Namespace, index: int, shown: list[int]
) -> bool:
    if args.ring > 0:
        await call.ring()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(call.ended.wait(), args.ring)
        if call.cancelled:
            print(f"call from {call.from_uri}: cancelled by the caller", flush=True)
            return True
    if args.code >= 300:
        call.reject(args.code)
        print(f"call from {call.from_uri}: rejected with {args.code}", flush=True)
        return True
    try:
        await call.answer(media=media_options(args, record=args.record, index=index))
    except CallFailed as error:
        print(f"call from {call.from_uri}: {error}", flush=True)
        for problem in call.record.errors:  # e.g. why the media policy refused the offer
            print(f"call from {call.from_uri}: {problem}", flush=True)
        return call.cancelled
    digits = asyncio.create_task(_log_digits(call, shown))
    try:
        await asyncio.wait_for(call.ended.wait(), args.duration or None)
        why = "by the caller" if call.record.ended_by == "remote" else "; ".join(call.record.errors)
        print(f"call from {call.from_uri}: ended {why}".rstrip(), flush=True)
    except TimeoutError:
        with contextlib.suppress(CallFailed, TransportError, TimeoutError):
            await asyncio.wait_for(call.hangup(), args.timeout)
        print(f"call from {call.from_uri}: hung up after {args.duration:g} s", flush=True)
    finally:
        digits.cancel()
    return not call.record.errors
