"""``sipwright register URI``: register (or unregister) a binding at a registrar."""

from __future__ import annotations

import argparse
import asyncio
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
from sipwright.ua import CallFailed, RegistrationFailed

__all__ = ["add_parser"]


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "register",
        help="register a contact at a registrar (digest authentication)",
        description="REGISTER our contact at the registrar URI. Exit 0 when the "
        "registrar accepted it (2xx), 1 otherwise.",
    )
    parser.add_argument("uri", type=sip_uri, help="registrar, e.g. sip:example.com")
    parser.add_argument("--expires", type=int, default=3600, help="seconds (default 3600)")
    parser.add_argument("--unregister", action="store_true", help="remove the binding again")
    parser.add_argument(
        "--hold", type=float, default=0.0,
        help="stay registered this many seconds (refreshing) before exiting",
    )  # fmt: skip
    add_agent_arguments(parser, local_default="sip:sipwright@127.0.0.1")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return run_async("sipwright register", lambda closers: _register(args, closers))


async def _register(args: argparse.Namespace, closers: list[Callable[[], None]]) -> int:
    agent = make_agent(args, closers, transport=transport_of(args.uri, args))
    async with agent:
        try:
            registration = await asyncio.wait_for(
                agent.register(
                    args.uri,
                    user=args.user,
                    password=args.password,
                    expires=0 if args.unregister else args.expires,
                ),
                args.timeout,
            )
        except RegistrationFailed as error:
            print(f"{args.uri}: {error}")
            return EXIT_FAILED
        except (TimeoutError, CallFailed, TransportError) as error:
            print(f"{args.uri}: registration failed: {error or 'no response'}")
            return EXIT_FAILED
        if args.unregister:
            print(f"unregistered {registration.contact} at {args.uri}")
            registration.keep()
            return EXIT_OK
        gruu = f", gruu {registration.gruu}" if registration.gruu else ""
        print(
            f"registered {registration.contact} as {registration.aor} at {args.uri} "
            f"for {registration.expires} s{gruu}"
        )
        if args.hold > 0:
            await asyncio.sleep(args.hold)
        # A one-shot registration stays at the registrar (--unregister removes it).
        registration.keep()
    return EXIT_OK
