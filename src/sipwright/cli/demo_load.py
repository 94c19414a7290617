"""``sipwright demo``: a load run on loopback with nothing to install.

A sipwright UAS (SIPp's built-in ``uas`` scenario) and a sipwright UAC (the built-in
``uac``) run in this process over real UDP (or TCP) sockets on 127.0.0.1: a few
seconds at a few hundred calls per second through the load engine, with the live
display, then the HTML (and optionally JSON) report, whose path is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import datetime
from pathlib import Path

from sipwright.cli.sipp_load import LoadObserver, LoadOptions, run_info
from sipwright.load.scheduler import RateSettings
from sipwright.net.loop import run as run_loop
from sipwright.scenario.sippxml import load_builtin
from sipwright.scenario.sippxml.engine import EngineSettings, SharedTransport, SippEngine
from sipwright.scenario.sippxml.program import Program, RunSettings

__all__ = ["run_load_demo"]


def run_load_demo(args: argparse.Namespace) -> int:
    return run_loop(_demo(args))


def _report_path(given: Path | None) -> Path:
    if given is not None:
        return given
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(tempfile.gettempdir()) / f"sipwright-demo-{stamp}.html"


async def _demo(args: argparse.Namespace) -> int:
    transport = args.transport
    reliable = transport != "udp"
    calls = max(1, round(args.rate * args.duration))
    uas_shared = SharedTransport()
    where = await uas_shared.listen(transport, "127.0.0.1", 0)
    uas = SippEngine(
        Program.build(load_builtin("uas"), RunSettings(reliable=reliable)),
        _settings(transport, RateSettings(rate=0.0, max_calls=None), None),
        shared=uas_shared,
    )
    uas_task = asyncio.ensure_future(uas.run())
    uac = SippEngine(
        Program.build(load_builtin("uac"), RunSettings(default_pause=args.hold, reliable=reliable)),
        _settings(
            transport,
            RateSettings(rate=args.rate, max_calls=calls),
            ("127.0.0.1", where.port),
        ),
    )
    html = _report_path(args.report_html)
    load = LoadOptions(report_json=args.report_json, report_html=html, live=not args.no_live)
    observer = LoadObserver(load, ["demo"])
    observer.start(target_rate=args.rate, total_calls=calls)
    uac.on_sample = observer.on_sample
    print(
        f"sipwright demo: {calls} calls at {args.rate:g}/s over {transport.upper()} on "
        f"127.0.0.1, a sipwright UAS on port {where.port} (each call holds {args.hold:g} s)",
        flush=True,
    )
    started = time.monotonic()
    try:
        code = await uac.run()
    finally:
        uas.request_stop("quit")
        await uas_task
    info = run_info(
        uac.settings,
        "demo: built-in uac against built-in uas",
        workers=1,
        interrupted=uac.interrupted,
        duration_s=time.monotonic() - started,
    )
    lines = observer.finish(uac.metrics, info)
    print(
        f"UAC: {uac.processed} calls, {uac.processed - uac.failed} successful, "
        f"{uac.failed} failed; the UAS took {uas.stats.cumulative.incoming_calls} calls",
        flush=True,
    )
    if uac.first_error:
        print(f"first failure: {uac.first_error}", flush=True)
    for line in lines:
        print(line, flush=True)
    return 0 if code == 0 else 1


def _settings(transport: str, rate: RateSettings, remote: tuple[str, int] | None) -> EngineSettings:
    return EngineSettings(
        transport=transport,
        local_ip="127.0.0.1",
        local_port=0,
        remote=remote,
        rate=rate,
        media_ip="127.0.0.1",
    )
