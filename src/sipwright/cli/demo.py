"""``sipwright demo``: a load run on loopback (:mod:`sipwright.cli.demo_load`), or
with ``--simulated`` calls between an in-process caller and callee.

The simulated demo runs over the sans-I/O core on a simulated network and clock: no
sockets, nothing to install.  Every message is serialised to bytes, parsed back and
matched to real transactions and dialogs, so loss (``--loss``) shows the
retransmission machinery of RFC 3261 §17 at work.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

from sipwright.cli.demo_load import run_load_demo
from sipwright.sim import Callee, Caller, SimNetwork
from sipwright.sim.network import Address

__all__ = ["add_parser", "run"]

CALLER: Address = ("127.0.0.1", 5061)
CALLEE: Address = ("127.0.0.1", 5060)
_NAMES = {CALLER: "caller", CALLEE: "callee"}


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "demo",
        help="a load run against a sipwright UAS on loopback, with the live display "
        "and an HTML report (no server needed)",
        description="By default: a sipwright UAS and a load run against it on 127.0.0.1 "
        "(live display, HTML report).  With --simulated: calls through the SIP core on a "
        "simulated network and clock, showing the message flow (--loss shows "
        "retransmissions).",
    )
    parser.add_argument(
        "--rate",
        type=_positive_float,
        default=None,
        help="calls per second (default 300; 50 simulated)",
    )
    parser.add_argument(
        "--duration", type=_positive_float, default=5.0, help="seconds of load (default 5)"
    )
    parser.add_argument(
        "--hold", type=_non_negative, default=1.0, help="seconds each call lasts (default 1)"
    )
    parser.add_argument("--transport", choices=("udp", "tcp"), default="udp")
    parser.add_argument(
        "--report-html",
        type=Path,
        default=None,
        help="where to write the HTML report (default: a temporary file)",
    )
    parser.add_argument("--report-json", type=Path, default=None, help="also a JSON report")
    parser.add_argument("--no-live", action="store_true", help="no live display")
    simulated = parser.add_argument_group("simulated network (--simulated)")
    simulated.add_argument(
        "--simulated",
        action="store_true",
        help="the in-memory caller/callee on a simulated network",
    )
    simulated.add_argument("--calls", type=_positive_int, default=100, help="number of calls")
    simulated.add_argument("--loss", type=_fraction, default=0.0, help="datagram loss, 0-0.9")
    simulated.add_argument("--seed", type=int, default=1, help="seed of the loss pattern")
    simulated.add_argument("--quiet", action="store_true", help="no message flow, summary only")
    parser.set_defaults(run=run)  # fmt: skip


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, not {text}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 0.9:
        raise argparse.ArgumentTypeError(f"must be between 0 and 0.9, not {text}")
    return value


def run(args: argparse.Namespace) -> int:
    if not args.simulated:
        if args.rate is None:
            args.rate = 300.0
        return run_load_demo(args)
    if args.rate is None:
        args.rate = 50.0
    network = SimNetwork(loss=args.loss, seed=args.seed)
    callee = Callee(network, CALLEE, ring=0.5)
    caller = Caller(network, CALLER, CALLEE, hold=args.hold)
    first_call_id: list[str] = []

    def show(at: float, src: Address, dst: Address, data: bytes, dropped: bool) -> None:
        line = data.split(b"\r\n", 1)[0].decode("utf-8", "replace")
        call_id = next(
            (h.split(b":", 1)[1].strip() for h in data.split(b"\r\n") if h.startswith(b"Call-ID")),
            b"",
        ).decode()
        if not first_call_id:
            first_call_id.append(call_id)
        if call_id == first_call_id[0]:
            arrow = f"{_NAMES.get(src, src)} -> {_NAMES.get(dst, dst)}"
            lost = "   (lost)" if dropped else ""
            print(f"  {at:8.3f}s  {arrow:18} {line}{lost}")

    if not args.quiet:
        network.tap = show
        print("Message flow of the first call (virtual time):")
    caller.schedule(args.calls, args.rate)
    started = time.perf_counter()
    network.run(until=args.calls / args.rate + args.hold + 64.0)
    elapsed = time.perf_counter() - started
    return _summary(args, network, caller, callee, elapsed)


def _summary(
    args: argparse.Namespace, network: SimNetwork, caller: Caller, callee: Callee, elapsed: float
) -> int:
    records = caller.records
    ok = [r for r in records if r.succeeded]
    failed = [r for r in records if not r.succeeded]
    setup = sorted(r.setup_time for r in ok if r.setup_time is not None)
    stats = network.stats
    print()
    print(f"Calls: {len(records)} placed, {len(ok)} succeeded, {len(failed)} failed")
    print(
        f"Datagrams: {stats.sent} sent, {stats.dropped} lost ({args.loss:.0%} loss asked), "
        f"{stats.octets} octets"
    )
    print(
        f"Callee: {callee.stats.invites} INVITEs, {callee.stats.acked} ACKs, "
        f"{callee.stats.byes} BYEs, {callee.parse_errors + caller.parse_errors} parse errors"
    )
    if setup:
        p95 = setup[min(len(setup) - 1, int(0.95 * len(setup)))]
        print(
            f"Setup time (virtual): median {statistics.median(setup) * 1000:.1f} ms, "
            f"p95 {p95 * 1000:.1f} ms, max {setup[-1] * 1000:.1f} ms"
        )
    for record in failed[:5]:
        print(f"  call {record.number} failed: {record.error or record.final_status}")
    print(
        f"Simulated {network.now:.1f} s of traffic in {elapsed:.2f} s of real time "
        f"({len(records) / elapsed:.0f} calls/s through the SIP core)"
    )
    return 0 if not failed else 1
