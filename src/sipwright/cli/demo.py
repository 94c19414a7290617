"""``sipwright demo``: calls between an in-process caller and callee.

For now the demo runs over the sans-I/O core on a simulated network and clock: no
sockets, nothing to install.  Every message is serialised to bytes, parsed back and
matched to real transactions and dialogs, so loss (``--loss``) shows the
retransmission machinery of RFC 3261 §17 at work.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from sipwright.sim import Callee, Caller, SimNetwork
from sipwright.sim.network import Address

__all__ = ["add_parser", "run"]

CALLER: Address = ("127.0.0.1", 5061)
CALLEE: Address = ("127.0.0.1", 5060)
_NAMES = {CALLER: "caller", CALLEE: "callee"}


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "demo",
        help="run calls between an in-process caller and callee (no server needed)",
        description=__doc__,
    )
    parser.add_argument("--calls", type=_positive_int, default=100, help="number of calls")
    parser.add_argument("--rate", type=_positive_float, default=50.0, help="calls per second")
    parser.add_argument("--loss", type=_fraction, default=0.0, help="datagram loss, 0-0.9")
    parser.add_argument("--seed", type=int, default=1, help="seed of the loss pattern")
    parser.add_argument("--hold", type=float, default=1.0, help="seconds each call lasts")
    parser.add_argument("--quiet", action="store_true", help="no message flow, summary only")
    parser.set_defaults(run=run)


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


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 0.9:
        raise argparse.ArgumentTypeError(f"must be between 0 and 0.9, not {text}")
    return value


def run(args: argparse.Namespace) -> int:
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
