"""``sipwright options URI``: an OPTIONS ping with round-trip times (sipsak -s)."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from sipwright.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    add_agent_arguments,
    make_agent,
    run_async,
    sip_uri,
    transport_of,
)
from sipwright.net.transport_layer import TransportError
from sipwright.ua import CallFailed

__all__ = ["add_parser", "summarize"]


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "options",
        help="ping a SIP element with OPTIONS and print the round-trip time",
        description="Send OPTIONS to URI. Exit 0 when every ping got a final response "
        "(any status), 1 when one timed out or could not be sent.",
    )
    parser.add_argument("uri", type=sip_uri, help="target, e.g. sip:127.0.0.1:5060")
    parser.add_argument("--count", "-c", type=int, default=1, help="number of pings")
    parser.add_argument("--interval", "-i", type=float, default=1.0, help="seconds between")
    add_agent_arguments(parser, local_default="sip:sipwright@127.0.0.1")
    parser.set_defaults(run=run, timeout=5.0)


def run(args: argparse.Namespace) -> int:
    if args.count < 1:
        sys.stderr.write("sipwright options: --count must be at least 1\n")
        return 2
    return run_async("sipwright options", lambda closers: _ping(args, closers))


async def _ping(args: argparse.Namespace, closers: list[Callable[[], None]]) -> int:
    agent = make_agent(args, closers, transport=transport_of(args.uri, args))
    rtts: list[float] = []
    failures = 0
    async with agent:
        for number in range(args.count):
            if number:
                await asyncio.sleep(args.interval)
            started = time.perf_counter()
            try:
                response = await asyncio.wait_for(agent.options(args.uri), args.timeout)
            except (TimeoutError, CallFailed, TransportError) as error:
                failures += 1
                reason = str(error) or f"no response within {args.timeout:g} s"
                print(f"{args.uri}: {reason}")
                continue
            rtt = (time.perf_counter() - started) * 1000
            rtts.append(rtt)
            server = response.headers.first("Server") or response.headers.first("User-Agent")
            extra = f" ({server})" if server else ""
            print(f"{response.status} {response.reason} from {args.uri}: rtt={rtt:.2f} ms{extra}")
    if args.count > 1:
        print(summarize(args.count, rtts))
    return EXIT_OK if failures == 0 else EXIT_FAILED


def summarize(sent: int, rtts: list[float]) -> str:
    """ping(8)-style summary: counts, loss and min/avg/max/stddev (population)."""
    lost = sent - len(rtts)
    summary = f"{sent} sent, {len(rtts)} answered, {lost} lost ({lost * 100 / sent:.0f}% loss)"
    if rtts:
        summary += (
            f"; rtt min/avg/max/stddev = {min(rtts):.2f}/{statistics.fmean(rtts):.2f}/"
            f"{max(rtts):.2f}/{statistics.pstdev(rtts):.2f} ms"
        )
    return summary
