"""``sipwright message URI --text ...``: send a SIP MESSAGE (RFC 3428, sipsak -M)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
from sipwright.diag.requests import Dialogless
from sipwright.net.transport_layer import TransportError
from sipwright.sip.message import Request
from sipwright.ua import CallFailed

__all__ = ["add_parser"]


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "message",
        help="send a SIP MESSAGE and print the response (optionally wait for a reply)",
        description="Send MESSAGE with --text to URI and print the final response. With "
        "--wait-reply, also wait (up to --timeout) for a MESSAGE sent back to us. Exit 0 "
        "on a 2xx (and a reply, when waiting for one), 1 otherwise.",
    )
    parser.add_argument("uri", type=sip_uri, help="recipient, e.g. sip:bob@example.com")
    parser.add_argument("--text", required=True, help="the message text")
    parser.add_argument("--content-type", default="text/plain", help="default text/plain")
    parser.add_argument("--wait-reply", action="store_true", help="wait for a MESSAGE back")
    add_agent_arguments(parser, local_default="sip:sipwright@127.0.0.1")
    parser.set_defaults(run=run, timeout=10.0)


def run(args: argparse.Namespace) -> int:
    return run_async("sipwright message", lambda closers: _message(args, closers))


async def _message(args: argparse.Namespace, closers: list[Callable[[], None]]) -> int:
    agent = make_agent(args, closers, transport=transport_of(args.uri, args))
    async with agent:
        replies: asyncio.Task[Request] = asyncio.create_task(_first_message(agent.messages()))
        try:
            try:
                # RFC 3428 §4: no dialog, so no Contact in the request.
                exchange = await asyncio.wait_for(
                    Dialogless(agent, args.uri).send(
                        "MESSAGE",
                        contacts=[],
                        body=args.text.encode(),
                        content_type=args.content_type,
                    ),
                    args.timeout,
                )
            except (TimeoutError, CallFailed, TransportError) as error:
                print(f"{args.uri}: {error or f'no response within {args.timeout:g} s'}")
                return EXIT_FAILED
            response = exchange.response
            print(
                f"{response.status} {response.reason} from {args.uri}: rtt={exchange.rtt_ms:.2f} ms"
            )
            if not 200 <= response.status < 300:
                return EXIT_FAILED
            if not args.wait_reply:
                return EXIT_OK
            try:
                reply = await asyncio.wait_for(asyncio.shield(replies), args.timeout)
            except TimeoutError:
                print(f"no MESSAGE back within {args.timeout:g} s")
                return EXIT_FAILED
            text = reply.body.decode("utf-8", "replace")
            print(f"reply from {reply.headers.first('From')}: {text}")
            return EXIT_OK
        finally:
            replies.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await replies


async def _first_message(messages: Any) -> Request:
    async for request in messages:
        message: Request = request
        return message
    raise RuntimeError("message queue ended")
