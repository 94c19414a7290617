"""Benchmark of the sans-I/O SIP core: parse and serialize cost, and in-memory calls
per second through caller and callee transactions and dialogs (no sockets).

Prints figures; nothing here is asserted by the tests.  Run with ``make bench`` or
``python bench/core.py [--calls N]``.  Figures vary with the machine and its load:
run it on an idle machine and compare runs made on the same one.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
import timeit

from sipwright.sim import Callee, Caller, SimNetwork
from sipwright.sip.message import parse_message

# A typical INVITE with SDP, as SIPp's uac scenario sends it plus the headers real
# phones add (Allow, Supported, User-Agent).
INVITE = (
    b"INVITE sip:service@127.0.0.1:5060 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-4711-1-0;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b'From: "sipp" <sip:sipp@127.0.0.1:5061>;tag=4711SIPpTag001\r\n'
    b"To: <sip:service@127.0.0.1:5060>\r\n"
    b"Call-ID: 1-4711@127.0.0.1\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Contact: <sip:sipp@127.0.0.1:5061;transport=udp>\r\n"
    b"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, PRACK\r\n"
    b"Supported: replaces, timer, 100rel\r\n"
    b"User-Agent: sipwright-bench\r\n"
    b"Subject: Performance Test\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 129\r\n"
    b"\r\n"
    b"v=0\r\n"
    b"o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n"
    b"s=-\r\n"
    b"c=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\n"
    b"m=audio 6000 RTP/AVP 0\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
)


def per_call_us(func: object, repeat: int = 7, number: int = 20000) -> float:
    """Best of ``repeat`` runs of ``number`` calls, in microseconds per call (the
    minimum is the figure least disturbed by other processes)."""
    timer = timeit.Timer(func)  # type: ignore[arg-type]
    return min(timer.repeat(repeat=repeat, number=number)) / number * 1e6


def calls_per_second(calls: int) -> tuple[float, int]:
    network = SimNetwork()
    Callee(network, ("127.0.0.1", 5060), ring=0.0)
    caller = Caller(network, ("127.0.0.1", 5061), ("127.0.0.1", 5060), hold=0.0)
    caller.schedule(calls, 1000.0)
    started = time.process_time()
    network.run(until=10_000, stop=lambda: len(caller.records) == calls and caller.active == 0)
    elapsed = time.process_time() - started
    succeeded = sum(1 for r in caller.records if r.succeeded)
    return calls / elapsed, succeeded


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    message = parse_message(INVITE)
    print(
        f"sipwright core benchmark on {platform.python_implementation()} "
        f"{platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}"
    )
    print(f"message: INVITE with SDP, {len(INVITE)} octets, {len(message.headers)} headers")
    lazy = per_call_us(lambda: parse_message(INVITE, lazy=True))
    full = per_call_us(lambda: parse_message(INVITE))
    serialize = per_call_us(lambda: bytes(message))
    print(f"  parse, lazy headers (hot path)   {lazy:7.2f} us   (target < 15 us)")
    print(f"  parse, every header validated    {full:7.2f} us")
    print(f"  serialize                        {serialize:7.2f} us")

    print(
        f"in-memory calls (INVITE/100/180/200/ACK/BYE/200, both sides, one core), "
        f"{args.calls} calls x {args.rounds} rounds:"
    )
    # The transaction tables legitimately hold every transaction until Timer J/L
    # (32 s), so the heap is full of live objects and CPython's cyclic GC rescans
    # them often; a load generator raises the thresholds (and so does the second row).
    default_gc = gc.get_threshold()
    for label, threshold in (("default GC", default_gc), ("tuned GC", (100_000, 50, 100))):
        gc.set_threshold(*threshold)
        rates = []
        for _ in range(args.rounds):
            gc.collect()
            rate, succeeded = calls_per_second(args.calls)
            if succeeded != args.calls:
                print(f"  ERROR: {succeeded} of {args.calls} calls succeeded", file=sys.stderr)
                return 1
            rates.append(rate)
        print(
            f"  {label:10}  best {max(rates):6.0f} calls/s, median "
            f"{statistics.median(rates):6.0f} calls/s   (target > 5000 calls/s)"
        )
    gc.set_threshold(*default_gc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
