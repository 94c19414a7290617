"""``sipwright traceroute URI``: the SIP hops to a target (sipsak -T)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from sipwright.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    add_agent_arguments,
    make_agent,
    run_async,
    sip_uri,
    transport_of,
)
from sipwright.diag.traceroute import traceroute

__all__ = ["add_parser"]


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "traceroute",
        help="list the SIP proxies on the way to a target (OPTIONS, Max-Forwards 0, 1, ...)",
        description="Send OPTIONS with Max-Forwards 0, 1, 2, ... Every proxy on the path "
        "answers 483 once; the target answers last. Exit 0 when a final response other "
        "than 483 arrived, 1 when the trace ran out of hops.",
    )
    parser.add_argument("uri", type=sip_uri, help="target, e.g. sip:bob@example.com")
    parser.add_argument("--max-hops", type=int, default=30, help="give up after N (default 30)")
    parser.add_argument("--json", action="store_true", help="one JSON object per hop")
    add_agent_arguments(parser, local_default="sip:sipwright@127.0.0.1")
    parser.set_defaults(run=run, timeout=5.0)


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.max_hops <= 255:
        return _usage("sipwright traceroute: --max-hops must be 0-255 (Max-Forwards)")
    return run_async("sipwright traceroute", lambda closers: _trace(args, closers))


async def _trace(args: argparse.Namespace, closers: list[Callable[[], None]]) -> int:
    agent = make_agent(args, closers, transport=transport_of(args.uri, args))
    reached = False
    async with agent:
        async for hop in traceroute(agent, args.uri, max_hops=args.max_hops, timeout=args.timeout):
            if args.json:
                print(
                    json.dumps(
                        {
                            "hop": hop.max_forwards,
                            "status": hop.status,
                            "reason": hop.reason,
                            "rtt_ms": None if hop.rtt_ms is None else round(hop.rtt_ms, 3),
                            "identity": hop.identity,
                            "record_route": list(hop.record_route),
                            "final": hop.is_final,
                        }
                    )
                )
            elif hop.status is None:
                print(f"{hop.max_forwards:3d}  *  {hop.reason}")
            else:
                rtt = f"{hop.rtt_ms:.2f} ms" if hop.rtt_ms is not None else "-"
                who = f"  {hop.identity}" if hop.identity else ""
                label = "target" if hop.is_final else "proxy"
                print(f"{hop.max_forwards:3d}  {label}: {hop.status} {hop.reason}  {rtt}{who}")
                for route in hop.record_route:
                    print(f"      record-route {route}")
            reached = reached or hop.is_final
    if not reached and not args.json:
        print(f"no final response within {args.max_hops} hops")
    return EXIT_OK if reached else EXIT_FAILED


def _usage(message: str) -> int:
    sys.stderr.write(message + "\n")
    return EXIT_USAGE
