"""``sipwright call URI``: place one call, keep it up, hang up."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sipwright.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    add_agent_arguments,
    header,
    make_agent,
    run_async,
    sip_uri,
    transport_of,
)
from sipwright.cli.media_args import add_media_arguments, describe_media, media_options, seconds
from sipwright.media.errors import MediaError
from sipwright.net.transport_layer import TransportError
from sipwright.ua import CallFailed, OutgoingCall

__all__ = ["add_parser"]


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "call",
        help="place a call, hold it for --duration, hang up",
        description="Call URI. Exit 0 only if the call was answered and ended cleanly "
        "(our BYE got a 2xx, or the peer hung up), 1 otherwise.",
    )
    parser.add_argument("uri", type=sip_uri, help="whom to call, e.g. sip:bob@127.0.0.1:5070")
    parser.add_argument(
        "--duration", "-d", type=seconds, default=None,
        help="seconds to talk (default 1, or with --play until it has been sent)",
    )  # fmt: skip
    parser.add_argument("--from", dest="from_user", metavar="USER", help="our user name")
    parser.add_argument(
        "--header", "-H", type=header, action="append", default=[], metavar="'Name: value'",
        help="extra header for the INVITE (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--record", type=Path, action="append", default=[], metavar="FILE.json|FILE.wav",
        help="write the call record (JSON, with media stats and DTMF) or, for a .wav "
        "name, the audio received (repeatable)",
    )  # fmt: skip
    add_media_arguments(parser, caller=True)
    add_agent_arguments(parser, local_default="sip:sipwright@127.0.0.1")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return run_async("sipwright call", lambda closers: _call(args, closers))


async def _call(args: argparse.Namespace, closers: list[Callable[[], None]]) -> int:
    if args.from_user:
        user_part = args.local.split(":", 1)[1].split("@")[-1]
        args.local = f"sip:{args.from_user}@{user_part}"
    wavs = [path for path in args.record if path.suffix.lower() == ".wav"]
    records = [path for path in args.record if path.suffix.lower() != ".wav"]
    if len(wavs) > 1:
        raise UsageError("--record takes one .wav file (use --record-sent for what we send)")
    media = media_options(args, record=wavs[0] if wavs else None)
    agent = make_agent(args, closers, transport=transport_of(args.uri, args))
    status = EXIT_FAILED
    async with agent:
        call = await agent.invite(args.uri, headers=args.header, media=media)
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
            await _media_actions(call, args)
            if args.duration is None:
                args.duration = 1.0
                if args.play is not None and call.media is not None:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(call.media.played.wait(), args.timeout)
                    args.duration = 0.3  # let the last packets arrive
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
            for found in call.record.digits:
                print(f"{args.uri}: DTMF {found.digit} received ({found.method})")
            if call.record.media is not None:
                print(f"{args.uri}: {describe_media(call.record.media)}")
            for problem in call.record.errors:
                print(f"{args.uri}: {problem}")
        for path in records:
            path.write_text(json.dumps(call.record.to_dict(), indent=2) + "\n")
    return status


async def _media_actions(call: OutgoingCall, args: argparse.Namespace) -> None:
    """--dtmf once the call is up (after --dtmf-delay)."""
    if not args.dtmf or call.is_ended:
        return
    await asyncio.sleep(args.dtmf_delay)
    try:
        await asyncio.wait_for(call.send_dtmf(args.dtmf, args.dtmf_mode), args.timeout)
        print(f"{args.uri}: sent DTMF {args.dtmf} ({args.dtmf_mode})", flush=True)
    except (MediaError, CallFailed, TransportError, TimeoutError) as error:
        call.record.errors.append(f"DTMF not sent: {error or 'timeout'}")
