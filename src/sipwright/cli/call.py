"""``sipwright call URI``: place one call, keep it up, hang up."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sipwright.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    add_agent_arguments,
    header,
    make_agent,
    run_async,
    sip_uri,
    transport_of,
)
from sipwright.net.transport_layer import TransportError
from sipwright.ua import CallFailed

__all__ = ["add_parser"]


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "call",
        help="place a call, hold it for --duration, hang up",
        description="Call URI. Exit 0 only if the call was answered and ended cleanly "
        "(our BYE got a 2xx, or the peer hung up), 1 otherwise.",
    )
    parser.add_argument("uri", type=sip_uri, help="whom to call, e.g. sip:bob@127.0.0.1:5070")
    parser.add_argument("--duration", "-d", type=float, default=1.0, help="seconds to talk")
    parser.add_argument("--from", dest="from_user", metavar="USER", help="our user name")
    parser.add_argument(
        "--header", "-H", type=header, action="append", default=[], metavar="'Name: value'",
        help="extra header for the INVITE (repeatable)",
    )  # fmt: skip
    parser.add_argument("--record", type=Path, metavar="FILE.json", help="write the call record")
    add_agent_arguments(parser, local_default="sip:sipwright@127.0.0.1")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return run_async("sipwright call", lambda closers: _call(args, closers))


async def _call(args: argparse.Namespace, closers: list[Callable[[], None]]) -> int:
    if args.from_user:
        user_part = args.local.split(":", 1)[1].split("@")[-1]
        args.local = f"sip:{args.from_user}@{user_part}"
    agent = make_agent(args, closers, transport=transport_of(args.uri, args))
    status = EXIT_FAILED
    async with agent:
        call = await agent.invite(args.uri, headers=args.header)
        try:
            response = await asyncio.wait_for(call.answered(), args.timeout)
        except (CallFailed, TransportError) as error:
            print(f"{args.uri}: {error}")
        except TimeoutError:
            print(f"{args.uri}: no answer within {args.timeout:g} s, cancelling")
            await call.hangup()
        else:
            setup = call.record.setup_time or 0.0
            print(
                f"{args.uri}: answered {response.status} {response.reason} in {setup * 1000:.1f} ms"
            )
            try:
                await asyncio.wait_for(call.ended.wait(), args.duration)
                print(f"{args.uri}: the peer hung up")
                status = EXIT_OK if not call.record.errors else EXIT_FAILED
            except TimeoutError:
                try:
                    await asyncio.wait_for(call.hangup(), args.timeout)
                    status = EXIT_OK if not call.record.errors else EXIT_FAILED
                    print(f"{args.uri}: hung up after {args.duration:g} s")
                except (CallFailed, TransportError, TimeoutError) as error:
                    print(f"{args.uri}: BYE failed: {error or 'no response'}")
            for problem in call.record.errors:
                print(f"{args.uri}: {problem}")
        if args.record:
            args.record.write_text(json.dumps(call.record.to_dict(), indent=2) + "\n")
    return status
