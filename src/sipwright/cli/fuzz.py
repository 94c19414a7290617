"""``sipwright fuzz URI --seed S --count N``: malformed requests, with a liveness
ping after each (sipsak -R, plus structured mutations)."""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

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
from sipwright.cli.flood import udp_target
from sipwright.diag.fuzz_mutator import MUTATIONS, parse_case_id
from sipwright.diag.fuzz_runner import CaseResult, run_fuzz

__all__ = ["add_parser"]


def mutation_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    for name in names:
        if name not in MUTATIONS:
            raise argparse.ArgumentTypeError(
                f"unknown mutation {name!r} (known: {', '.join(MUTATIONS)})"
            )
    if not names:
        raise argparse.ArgumentTypeError("--mutations needs at least one name")
    return names


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "fuzz",
        help="send malformed variants of a request, checking after each that the target lives",
        description="Send --count malformed requests (or for --duration seconds) over UDP; "
        "after each, an OPTIONS liveness ping. Each case has an id SEED:N; --replay "
        "SEED:N sends exactly that case again. Exit 0 when the target answered every "
        "ping, 1 when it stopped answering (the last cases sent are printed).",
    )
    parser.add_argument("uri", type=sip_uri, help="target, e.g. sip:127.0.0.1:5060")
    parser.add_argument("--seed", type=int, help="run seed (default: random, printed)")
    parser.add_argument("--count", "-c", type=int, help="cases to send, at most")
    parser.add_argument("--duration", "-d", type=float, help="seconds to fuzz, at most")
    parser.add_argument("--start", type=int, default=0, help="first case number (default 0)")
    parser.add_argument("--method", "-m", choices=("OPTIONS", "INVITE"), default="OPTIONS")
    parser.add_argument(
        "--mutations", type=mutation_list, default=list(MUTATIONS), metavar="NAME,...",
        help=f"mutations to use (default all: {', '.join(MUTATIONS)})",
    )  # fmt: skip
    parser.add_argument("--replay", metavar="SEED:N", help="send only this case again")
    parser.add_argument("--log", type=Path, metavar="FILE.jsonl", help="one line per case")
    parser.add_argument("--liveness-timeout", type=float, default=3.0, help="seconds")
    parser.add_argument("--local-host", default="127.0.0.1", help="address to send from")
    parser.add_argument("--local-port", type=int, default=0, help="port to send from")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="print messages")
    add_evidence_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.replay:
        try:
            args.seed, args.start = parse_case_id(args.replay)
        except ValueError as error:
            return _usage(f"--replay: {error}")
        args.count, args.duration = 1, None
    elif args.count is None and args.duration is None:
        return _usage("a fuzz run needs --count or --duration (or --replay)")
    if args.count is not None and args.count < 1:
        return _usage("--count must be at least 1")
    if args.duration is not None and args.duration <= 0:
        return _usage("--duration must be positive")
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 2**31)
    return run_async("sipwright fuzz", lambda closers: _fuzz(args, closers))


def _usage(message: str) -> int:
    sys.stderr.write(f"sipwright fuzz: {message}\n")
    return EXIT_USAGE


async def _fuzz(args: argparse.Namespace, closers: list[Callable[[], None]]) -> int:
    target, remote = udp_target(args.uri)
    trace = make_tracer(args, closers)
    log: IO[str] | None = None
    if args.log is not None:
        try:
            log = args.log.open("a", encoding="utf-8")
        except OSError as error:
            raise UsageError(f"cannot write {args.log}: {error.strerror}") from None
        closers.append(log.close)
    print(f"fuzzing {args.uri} with seed {args.seed} ({args.method})")

    def on_case(result: CaseResult) -> None:
        case = result.case
        if log is not None:
            record = {
                "case": case.case_id,
                "seed": case.seed,
                "number": case.number,
                "mutation": case.mutation,
                "detail": case.detail,
                "size": len(case.data),
                "response": result.response,
                "alive": result.alive,
            }
            log.write(json.dumps(record) + "\n")
            log.flush()
        if args.replay or args.verbose:
            answer = result.response if result.response is not None else "no response"
            print(f"case {case.case_id} [{case.mutation}] {case.detail}: {answer}")

    stop = None if args.count is None else args.start + args.count
    report = await run_fuzz(
        target,
        remote,
        method=args.method,
        seed=args.seed,
        numbers=itertools.count(args.start) if stop is None else range(args.start, stop),
        mutations=args.mutations,
        duration=args.duration,
        liveness_timeout=args.liveness_timeout,
        local_host=args.local_host,
        local_port=args.local_port,
        trace=trace,
        on_case=on_case,
    )
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(report.statuses.items())) or "none"
    if report.alive:
        print(
            f"{report.sent} cases sent in {report.elapsed:.1f} s; the target answered every "
            f"liveness ping; responses to the cases: {statuses}"
        )
        return EXIT_OK
    if report.sent == 0:
        print(f"{args.uri} does not answer OPTIONS; no case sent")
        return EXIT_FAILED
    print(f"{args.uri} stopped answering after {report.sent} cases; last cases sent:")
    for case in report.last:
        print(f"  {case.case_id} [{case.mutation}] {case.detail}")
    return EXIT_FAILED
