"""``sipwright flood URI --rate R --count N``: a bounded OPTIONS/INVITE flood (sipsak -F)."""

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
    UsageError,
    add_evidence_arguments,
    make_tracer,
    run_async,
    sip_uri,
)
from sipwright.diag.flood import FloodPlan, run_flood
from sipwright.net.address import DEFAULT_PORTS, is_ip, strip_brackets
from sipwright.sip.uri import SipURI, parse_uri

__all__ = ["add_parser", "udp_target"]


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "flood",
        help="send a bounded flood of OPTIONS or INVITE and count the answers",
        description="Send --count requests (or for --duration seconds) at --rate per "
        "second over UDP, each once, and count final responses, statuses and timeouts. "
        "Refuses to run without --count or --duration. Exit 0 when every request got a "
        "final response, 1 when some timed out.",
    )
    parser.add_argument("uri", type=sip_uri, help="target, e.g. sip:127.0.0.1:5060")
    parser.add_argument("--method", "-m", choices=("OPTIONS", "INVITE"), default="OPTIONS")
    parser.add_argument("--rate", "-r", type=float, default=100.0, help="requests per second")
    parser.add_argument("--count", "-c", type=int, help="requests to send, at most")
    parser.add_argument("--duration", "-d", type=float, help="seconds to send for, at most")
    parser.add_argument("--timeout", type=float, default=5.0, help="wait for answers (s)")
    parser.add_argument("--local-host", default="127.0.0.1", help="address to send from")
    parser.add_argument("--json", action="store_true", help="print the statistics as JSON")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="print messages")
    add_evidence_arguments(parser)
    parser.set_defaults(run=run)


def udp_target(uri: str) -> tuple[SipURI, tuple[str, int]]:
    """The URI and the address to send to; only IP addresses and UDP (no DNS, no
    streams: these commands send raw datagrams)."""
    parsed = parse_uri(uri)
    assert isinstance(parsed, SipURI)  # sip_uri() made sure
    host = strip_brackets(parsed.maddr or parsed.host)
    if not is_ip(host):
        raise UsageError(f"{uri}: give an IP address (raw UDP, no DNS lookup)")
    if parsed.scheme == "sips" or (parsed.transport not in (None, "udp")):
        raise UsageError(f"{uri}: only UDP is supported")
    return parsed, (host, parsed.port or DEFAULT_PORTS["udp"])


def run(args: argparse.Namespace) -> int:
    try:
        plan = FloodPlan(args.method, args.rate, args.count, args.duration, args.timeout)
    except ValueError as error:
        return _usage(f"sipwright flood: {error}")
    return run_async("sipwright flood", lambda closers: _flood(args, plan, closers))


async def _flood(
    args: argparse.Namespace, plan: FloodPlan, closers: list[Callable[[], None]]
) -> int:
    target, remote = udp_target(args.uri)
    trace = make_tracer(args, closers)
    stats = await run_flood(plan, target, remote, local_host=args.local_host, trace=trace)
    if args.json:
        print(json.dumps(stats.as_dict()))
    else:
        data = stats.as_dict()
        statuses = ", ".join(f"{k}: {v}" for k, v in stats.statuses.items()) or "none"
        print(
            f"{stats.sent} {plan.method} sent in {stats.elapsed:.2f} s, {stats.answered} "
            f"answered, {stats.timeouts} timed out ({statuses})"
        )
        rtt = data["rtt_ms"]
        if isinstance(rtt, dict):
            print(
                f"rtt min/avg/max/stddev = {rtt['min']}/{rtt['avg']}/{rtt['max']}/"
                f"{rtt['stddev']} ms"
            )
    return EXIT_OK if stats.timeouts == 0 else EXIT_FAILED


def _usage(message: str) -> int:
    sys.stderr.write(message + "\n")
    return EXIT_USAGE
