"""Benchmark of the media pumps: concurrent G.711 calls on one core, plain and SRTP,
and the CPU cost per RTP packet of replaying a pcap, against SIPp's ``uac_pcap``.

1. Calls: N pairs of MediaSessions in this one process (pinned to one core), each
   pair sending 20 ms PCMU packets both ways over loopback.  For each N we count the
   packets sent more than 5 ms after their deadline; the figure is the largest N with
   fewer than 1 % late, with the CPU time per call (per stream pair) and per packet.
2. pcap replay: ``sipp -sn uac_pcap`` and ``sipwright sipp -sn uac_pcap``, each 400
   calls, 200 at once, against ``sipp -sn uas``, pinned to the same core: CPU seconds
   per RTP packet sent (SIP signalling included in both), and the ratio, net of
   start-up (minus a one-call run, as bench/cps.py counts) and with it.  Also
   sipwright's media sessions alone replaying the same g711a.pcap 200 times.

Prints figures; nothing here is asserted by the tests.  Runs in about 1-2 minutes:
``python bench/media.py [--seconds S] [--max-calls N] [--skip-sipp]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sipwright.media.g711 import ALAW, ULAW
from sipwright.media.pcap_source import read_pcap_rtp
from sipwright.media.session import MediaSession, StreamParams
from sipwright.media.sources import ToneSource
from sipwright.media.srtp import SrtpContext
from sipwright.net.loop import run as run_loop

HOST = "127.0.0.1"
SUITE = "AES_CM_128_HMAC_SHA1_80"
SIPP_PCAPS = Path("/usr/share/sip-tester")


def _keys() -> tuple[SrtpContext, SrtpContext]:
    a, b = os.urandom(30), os.urandom(30)
    return SrtpContext(SUITE, a, b), SrtpContext(SUITE, b, a)


async def _calls(count: int, seconds: float, srtp: bool) -> tuple[float, float, int]:
    """(late fraction, CPU seconds, packets sent) for ``count`` two-way calls."""
    sessions: list[MediaSession] = []
    try:
        for _ in range(count):
            a = MediaSession(HOST, source=ToneSource(), detect_inband=False)
            b = MediaSession(HOST, source=ToneSource(440), detect_inband=False)
            await a.open()
            await b.open()
            keys = _keys() if srtp else (None, None)
            a.start(StreamParams(ULAW, (HOST, b.port), srtp=keys[0]))
            b.start(StreamParams(ULAW, (HOST, a.port), srtp=keys[1]))
            sessions += [a, b]
        await asyncio.sleep(0.5)  # let every pump reach its steady pace
        before = [(s.stats.packets_sent, s.stats.late_sends) for s in sessions]
        cpu = time.process_time()
        await asyncio.sleep(seconds)
        cpu = time.process_time() - cpu
        sent = sum(s.stats.packets_sent - b[0] for s, b in zip(sessions, before, strict=True))
        late = sum(s.stats.late_sends - b[1] for s, b in zip(sessions, before, strict=True))
        return (late / sent if sent else 1.0), cpu, sent
    finally:
        for session in sessions:
            session.close()
        await asyncio.sleep(0.1)


def _steps(max_calls: int) -> list[int]:
    """Calls to try: 25, 50, then every 50 up to ``max_calls``."""
    return [n for n in (25, *range(50, max_calls + 1, 50)) if n <= max_calls]


async def _scale(seconds: float, srtp: bool, max_calls: int) -> None:
    label = "SRTP" if srtp else "plain"
    best = 0
    for count in _steps(max_calls):
        late, cpu, sent = await _calls(count, seconds, srtp)
        per_stream = cpu / seconds / (2 * count) * 100  # a call is two streams
        print(
            f"  {label:5} {count:4} calls: {late:6.2%} late, CPU {cpu / seconds:5.1%} of a core, "
            f"{per_stream:.3f} % of a core per stream (sending and receiving), "
            f"{cpu / max(sent, 1) * 1e6:.1f} us/packet"
        )
        if late >= 0.01:
            break
        best = count
    print(f"  {label}: {2 * best} streams ({best} calls) with < 1 % of packets > 5 ms late")


async def _replay(stream_count: int) -> tuple[float, int]:
    """sipwright replaying g711a.pcap in ``stream_count`` sessions toward a sink."""
    stream = read_pcap_rtp(SIPP_PCAPS / "g711a.pcap")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind((HOST, 0))
        sink.setblocking(False)
        port = sink.getsockname()[1]
        sessions = []
        for _ in range(stream_count):
            session = MediaSession(HOST, source=stream, detect_inband=False)
            await session.open()
            sessions.append(session)
        cpu = time.process_time()
        for session in sessions:
            session.start(StreamParams(ALAW, (HOST, port)))
        await asyncio.wait_for(asyncio.gather(*(s.played.wait() for s in sessions)), 60)
        cpu = time.process_time() - cpu
        sent = sum(s.stats.packets_sent for s in sessions)
        for session in sessions:
            session.close()
    return cpu, sent


def _sipwright() -> list[str]:
    return [sys.executable, "-m", "sipwright", "sipp", "--no-live"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind((HOST, 0))
        return int(udp.getsockname()[1])


def _uac_pcap(client: list[str], calls: int, limit: int, core: int) -> tuple[float, int] | None:
    """CPU seconds of ``client -sn uac_pcap`` (SIPp or ``sipwright sipp``) against
    ``sipp -sn uas`` for ``calls`` calls, and the RTP packets it sent."""
    sipp = shutil.which("sipp")
    if sipp is None or not (SIPP_PCAPS / "g711a.pcap").exists():
        return None
    with tempfile.TemporaryDirectory() as work:
        (Path(work) / "pcap").mkdir()
        for name in ("g711a.pcap", "dtmf_2833_1.pcap"):
            shutil.copy(SIPP_PCAPS / name, Path(work) / "pcap" / name)
        port = _free_port()
        taskset = ["taskset", "-c", str(core)] if shutil.which("taskset") else []
        uas = subprocess.Popen(
            [*taskset, sipp, "-sn", "uas", "-i", HOST, "-p", str(port), "-nostdin"],
            cwd=work, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            time.sleep(0.5)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            uac = subprocess.run(
                [*taskset, *client, "-sn", "uac_pcap", f"{HOST}:{port}", "-i", HOST,
                 "-p", str(_free_port()), "-m", str(calls), "-l", str(limit), "-r", "50",
                 "-nostdin", "-timeout", "120s", "-timeout_error"],
                cwd=work, stdin=subprocess.DEVNULL, capture_output=True, timeout=150,
                check=False,
            )  # fmt: skip
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
        finally:
            uas.terminate()
            uas.wait(5)
        if uac.returncode != 0:
            print(f"  {client[0]} exited with {uac.returncode}; its figure is not comparable")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # Every call replays g711a.pcap (236 packets) and dtmf_2833_1.pcap (10 packets).
    return cpu, calls * (236 + 10)


async def _main(args: argparse.Namespace) -> None:
    loop = type(asyncio.get_running_loop()).__module__.split(".")[0]
    print(
        f"one core (CPU {args.core}), {args.seconds:g} s per step, PCMU, 20 ms packets, "
        f"{loop} event loop"
    )
    await _scale(args.seconds, False, args.max_calls)
    await _scale(args.seconds, True, args.max_calls)
    if not (SIPP_PCAPS / "g711a.pcap").exists():
        print("pcap replay: sip-tester is not installed, skipped")
        return
    cpu, sent = await _replay(200)
    print(
        f"pcap replay, sipwright media sessions only: {sent} packets in 200 sessions, "
        f"{cpu / sent * 1e6:.1f} us/packet"
    )
    if args.skip_sipp:
        return
    calls, limit = 400, 200
    gross: dict[str, float] = {}
    net: dict[str, float] = {}
    for name, client in (("sipp", [str(shutil.which("sipp"))]), ("sipwright sipp", _sipwright())):
        result = _uac_pcap(client, calls, limit, args.core)
        single = _uac_pcap(client, 1, 1, args.core)
        if result is None or single is None:
            print("pcap replay: sipp (sip-tester) is not installed, skipped")
            return
        # Net of start-up and exit, as bench/cps.py counts CPU: minus a one-call run.
        gross[name] = result[0] / result[1]
        net[name] = (result[0] - single[0]) / (result[1] - single[1])
        print(
            f"pcap replay, {name} -sn uac_pcap: {calls} calls ({limit} at once), "
            f"{result[1]} packets, {gross[name] * 1e6:.1f} us/packet (SIP included); "
            f"net of a one-call run ({single[0]:.2f} s): {net[name] * 1e6:.1f} us/packet"
        )
    print(
        "ratio sipwright/SIPp CPU per packet: "
        f"{net['sipwright sipp'] / net['sipp']:.2f} net of start-up (target <= 1.0), "
        f"{gross['sipwright sipp'] / gross['sipp']:.2f} with it"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per step")
    parser.add_argument("--max-calls", type=int, default=600, help="the last step")
    parser.add_argument("--core", type=int, default=0, help="CPU to pin to")
    parser.add_argument("--skip-sipp", action="store_true")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.core})
    # The loop the load engine runs on: uvloop unless SIPWRIGHT_NO_UVLOOP is set.
    run_loop(_main(args))


if __name__ == "__main__":
    main()
