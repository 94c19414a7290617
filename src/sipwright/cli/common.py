"""What the network commands share: flags, building an ``Agent``, message output
(``-v``, ``--trace``) and turning failures into one line and an exit code."""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Any

from sipwright.evidence.hep import HepSender
from sipwright.evidence.pcap_writer import PcapWriter
from sipwright.net.address import TRANSPORTS
from sipwright.net.endpoint import MessageLog
from sipwright.sip.errors import ParseError
from sipwright.sip.uri import SipURI, parse_uri
from sipwright.ua import Agent

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "UsageError",
    "add_agent_arguments",
    "hep_address",
    "make_agent",
    "make_tracer",
    "run_async",
    "sip_uri",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """Bad input from the command line (exit code 2)."""


def sip_uri(text: str) -> str:
    """argparse type: a sip:/sips: URI (``host`` alone is taken as ``sip:host``)."""
    candidate = (
        text
        if ":" in text and text.split(":", 1)[0].lower() in ("sip", "sips")
        else (f"sip:{text}")
    )
    try:
        uri = parse_uri(candidate)
    except ParseError as error:
        raise argparse.ArgumentTypeError(f"bad SIP URI {text!r}: {error.message}") from None
    if not isinstance(uri, SipURI):
        raise argparse.ArgumentTypeError(f"not a sip: or sips: URI: {text!r}")
    return candidate


def header(text: str) -> tuple[str, str]:
    name, colon, value = text.partition(":")
    if not colon or not name.strip() or " " in name.strip():
        raise argparse.ArgumentTypeError(f"a header is 'Name: value', not {text!r}")
    return name.strip(), value.strip()


def hep_address(text: str) -> tuple[str, int]:
    """argparse type for --hep: ``HOST:PORT`` (IPv6: ``[::1]:9060``)."""
    host, colon, port = text.rpartition(":")
    host = host.strip("[]")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"--hep wants HOST:PORT, not {text!r}")
    return host, int(port)


def add_agent_arguments(parser: argparse.ArgumentParser, *, local_default: str) -> None:
    group = parser.add_argument_group("network")
    group.add_argument(
        "--transport", "-t", choices=TRANSPORTS, default=None,
        help="transport for requests (default: from the URI, else udp)",
    )  # fmt: skip
    group.add_argument(
        "--local", default=local_default, type=sip_uri, metavar="URI",
        help=f"our contact: user, address and port to listen on (default {local_default})",
    )  # fmt: skip
    group.add_argument("--proxy", type=sip_uri, metavar="URI", help="outbound proxy")
    group.add_argument("--user", help="user name for digest authentication")
    group.add_argument("--password", help="password for digest authentication")
    group.add_argument("--timeout", type=float, default=32.0, help="seconds to wait, at most")
    tls = parser.add_argument_group("TLS")
    tls.add_argument("--ca", type=Path, help="CA certificates to verify the peer with")
    tls.add_argument("--cert", type=Path, help="our certificate (PEM)")
    tls.add_argument("--key", type=Path, help="our private key (PEM)")
    tls.add_argument("--insecure", action="store_true", help="do not verify the peer (TLS)")
    out = parser.add_argument_group("output")
    out.add_argument("-v", "--verbose", action="count", default=0, help="print each message")
    add_evidence_arguments(parser)


def add_evidence_arguments(parser: argparse.ArgumentParser) -> None:
    """--trace, --pcap and --hep: the evidence every network command can leave."""
    out = parser.add_argument_group("evidence")
    out.add_argument("--trace", type=Path, metavar="FILE.jsonl", help="write messages as JSON")
    out.add_argument(
        "--pcap", type=Path, metavar="FILE.pcap",
        help="write messages to a pcap file (synthesized Ethernet/IP/UDP or TCP headers)",
    )  # fmt: skip
    out.add_argument(
        "--hep", type=hep_address, metavar="HOST:PORT",
        help="mirror every message to a HEPv3 collector (Homer) over UDP",
    )  # fmt: skip
    out.add_argument("--hep-id", type=int, default=None, metavar="N", help="HEP capture agent id")
    out.add_argument("--hep-password", default=None, help="HEP authentication key")


class MessagePrinter:
    """``-v``: each message with its direction, transport and addresses."""

    def __init__(self, stream: IO[str], full: bool) -> None:
        self.stream = stream
        self.full = full

    def __call__(self, entry: MessageLog) -> None:
        arrow = "->" if entry.direction == "sent" else "<-"
        local = f"{entry.local[0]}:{entry.local[1]}"
        remote = f"{entry.remote[0]}:{entry.remote[1]}"
        text = entry.data.decode("utf-8", "replace")
        first = text.split("\r\n", 1)[0]
        self.stream.write(f"{entry.transport.upper()} {local} {arrow} {remote}  {first}\n")
        if self.full:
            body = text.replace("\r\n", "\n").rstrip("\n")
            self.stream.write("    " + body.replace("\n", "\n    ") + "\n")
        self.stream.flush()


class TraceWriter:
    """``--trace``: one JSON object per message; flushed as it goes so that nothing
    is lost when the run is interrupted."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("a", encoding="utf-8")

    def __call__(self, entry: MessageLog) -> None:
        text = entry.data.decode("utf-8", "surrogateescape")
        first = text.split("\r\n", 1)[0]
        call_id = ""
        for line in text.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() in ("call-id", "i"):
                call_id = value.strip()
                break
            if not line:
                break
        record = {
            "time": time.time(),
            "direction": entry.direction,
            "transport": entry.transport,
            "local": f"{entry.local[0]}:{entry.local[1]}",
            "remote": f"{entry.remote[0]}:{entry.remote[1]}",
            "call_id": call_id,
            "first_line": first,
            "message": text.encode("utf-8", "replace").decode("utf-8"),
        }
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def _client_ssl(args: argparse.Namespace) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(args.ca) if args.ca else None)
    if args.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if args.cert:
        context.load_cert_chain(str(args.cert), str(args.key) if args.key else None)
    return context


def _server_ssl(args: argparse.Namespace) -> ssl.SSLContext | None:
    if not args.cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(args.cert), str(args.key) if args.key else None)
    return context


def make_tracer(
    args: argparse.Namespace, closers: list[Callable[[], None]]
) -> Callable[[MessageLog], None] | None:
    """One callback feeding -v, --trace, --pcap and --hep; None when none is asked."""
    tracers: list[Callable[[MessageLog], None]] = []
    if getattr(args, "verbose", 0):
        tracers.append(MessagePrinter(sys.stdout, full=True))
    try:
        if getattr(args, "trace", None):
            writer = TraceWriter(args.trace)
            closers.append(writer.close)
            tracers.append(writer)
        if getattr(args, "pcap", None):
            pcap = PcapWriter(args.pcap)
            closers.append(pcap.close)
            tracers.append(pcap)
    except OSError as error:
        raise UsageError(f"cannot write {error.filename}: {error.strerror}") from None
    if getattr(args, "hep", None):
        host, port = args.hep
        try:
            hep = HepSender(host, port, agent_id=args.hep_id, password=args.hep_password)
        except OSError as error:
            raise UsageError(f"--hep {host}:{port}: {error.strerror or error}") from None
        closers.append(hep.close)
        tracers.append(hep)
    if not tracers:
        return None

    def trace(entry: MessageLog) -> None:
        for tracer in tracers:
            tracer(entry)

    return trace


def make_agent(
    args: argparse.Namespace, closers: list[Callable[[], None]], *, transport: str | None = None
) -> Agent:
    trace = make_tracer(args, closers)
    try:
        client_ssl = _client_ssl(args)
        server_ssl = _server_ssl(args)
    except (OSError, ssl.SSLError) as error:
        raise UsageError(f"cannot load TLS files: {error}") from None
    return Agent(
        args.local,
        transport=transport or args.transport or "udp",
        proxy=args.proxy,
        user=args.user,
        password=args.password,
        client_ssl=client_ssl,
        ssl_context=server_ssl,
        trace=trace,
    )


def run_async(prog: str, work: Callable[[list[Callable[[], None]]], Awaitable[int]]) -> int:
    """Run a command's coroutine; errors become one line on stderr and an exit code."""
    closers: list[Callable[[], None]] = []
    try:
        return asyncio.run(_with_closers(work, closers))
    except UsageError as error:
        sys.stderr.write(f"{prog}: {error}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write(f"{prog}: interrupted\n")
        return 130
    except OSError as error:
        sys.stderr.write(f"{prog}: {error.strerror or error}\n")
        return EXIT_FAILED
    finally:
        for close in closers:
            close()


async def _with_closers(
    work: Callable[[list[Callable[[], None]]], Awaitable[int]], closers: list[Callable[[], None]]
) -> int:
    return await work(closers)


def transport_of(uri: str, args: argparse.Namespace) -> str:
    """--transport, else the URI's transport parameter, else TLS for sips, else UDP."""
    if args.transport:
        return str(args.transport)
    parsed = parse_uri(uri)
    if isinstance(parsed, SipURI):
        if parsed.transport in TRANSPORTS:
            return parsed.transport
        if parsed.scheme == "sips":
            return "tls"
    return "udp"


def describe(value: Any) -> str:
    return str(value)
