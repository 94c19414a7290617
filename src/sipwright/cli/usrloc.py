"""``sipwright usrloc URI``: register N bindings, check the listing, remove them
(sipsak -U)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from sipwright.cli.common import (
    EXIT_USAGE,
    add_agent_arguments,
    make_agent,
    run_async,
    sip_uri,
    transport_of,
)
from sipwright.diag.usrloc import Step, make_contacts, run_usrloc
from sipwright.net.address import Destination, strip_brackets
from sipwright.sip.uri import SipURI, parse_uri

__all__ = ["add_parser"]


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "usrloc",
        help="register N bindings, check the registrar lists them back, remove them",
        description="sipsak -U: REGISTER --bindings contacts for --user at the registrar "
        "(digest with --password), query the bindings and check each is listed with "
        "the expiry asked for, then remove them. Exit 0 when all went well, 1 when "
        "registering failed, 3 when the listing was wrong, 4 when removing failed.",
    )
    parser.add_argument("uri", type=sip_uri, help="registrar, e.g. sip:example.com")
    parser.add_argument("--bindings", "-n", type=int, default=3, help="how many (default 3)")
    parser.add_argument("--expires", type=int, default=120, help="seconds (default 120)")
    add_agent_arguments(parser, local_default="sip:sipwright@127.0.0.1")
    parser.set_defaults(run=run, timeout=10.0)


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.bindings <= 1000:
        return _usage("sipwright usrloc: --bindings must be 1-1000")
    if args.expires < 1:
        return _usage("sipwright usrloc: --expires must be at least 1")
    return run_async("sipwright usrloc", lambda closers: _usrloc(args, closers))


async def _usrloc(args: argparse.Namespace, closers: list[Callable[[], None]]) -> int:
    agent = make_agent(args, closers, transport=transport_of(args.uri, args))
    registrar = parse_uri(args.uri)
    assert isinstance(registrar, SipURI)  # sip_uri() made sure
    user = args.user or agent.contact_uri.user or "sipwright"
    aor = f"sip:{user}@{registrar.host}"
    async with agent:
        udp = next(d for d in agent.listening if d.transport == "udp")
        host, port, _ = agent.local_parts(
            Destination(udp.transport, strip_brackets(registrar.host), 5060)
        )
        contacts = make_contacts(user, host, port, args.bindings)
        result = await run_usrloc(
            agent, args.uri, aor, contacts, expires=args.expires, timeout=args.timeout
        )
    for line in result.lines:
        print(line)
    if result.step is not Step.OK:
        print(f"usrloc failed at step {result.step.name.lower()} (exit {int(result.step)})")
    return int(result.step)


def _usage(message: str) -> int:
    sys.stderr.write(message + "\n")
    return EXIT_USAGE
