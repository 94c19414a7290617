"""Run real SIP peers (SIPp, Kamailio, sipsak, tshark) for tests, on loopback only.

Everything here is independent of sipwright's own SIP stack: the raw OPTIONS used to
probe a peer is written by hand, so these helpers keep working when the stack is broken.

Process rules: every peer is a ``subprocess.Popen`` started in its own process group
(``start_new_session=True``), with ``stdin=DEVNULL`` and stdout+stderr going to a log
file. ``Peer.stop()`` sends SIGTERM, waits up to 5 s, then SIGKILLs the whole process
group (Kamailio and tshark fork helpers). Use peers as context managers or from
fixtures with ``yield`` so they are stopped on test failure too; as a last resort, an
``atexit`` hook stops whatever is still running when the interpreter exits.

A missing program makes the helpers call ``pytest.skip("<program> not installed (make
test installs it)")`` (``require()``); ``make test`` installs them all
(scripts/install-peers.sh), so on CI nothing skips.
"""

from __future__ import annotations

import atexit
import contextlib
import csv
import io
import os
import re
import shutil
import signal
import socket
import ssl
import string
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Self

import pytest

if TYPE_CHECKING:
    from certs import CertBundle

HOST = "127.0.0.1"
KAMAILIO_DIR = Path(__file__).parent / "kamailio"
KAMAILIO_MODULES = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules")
DEFAULT_USERS: Mapping[str, str] = {"alice": "secret", "bob": "secret"}

Transport = Literal["udp", "tcp", "tls"]

# ----------------------------------------------------------------------------- programs


def which(program: str) -> str | None:
    """Path of ``program`` on PATH or in /usr/sbin (Kamailio lives there), else None."""
    found = shutil.which(program)
    if found is None:
        for directory in ("/usr/sbin", "/sbin", "/usr/local/sbin"):
            candidate = Path(directory) / program
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    return found


def require(program: str) -> str:
    """Return the program's path, or skip the test: "<program> not installed (make test ...)"."""
    path = which(program)
    if path is None:
        pytest.skip(f"{program} not installed (make test installs it)")
    return path


def require_kamailio_tls() -> None:
    """Skip unless Kamailio's TLS module (Debian package kamailio-tls-modules) is there."""
    require("kamailio")
    if not (KAMAILIO_MODULES / "tls.so").is_file():
        pytest.skip("kamailio-tls-modules not installed (make test installs it)")


# -------------------------------------------------------------------------------- ports


def free_port(kind: Literal["udp", "tcp"] = "udp") -> int:
    """A port that is free on 127.0.0.1 for ``kind`` right now (the OS picks it)."""
    sock_type = socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, sock_type) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def free_sip_port(attempts: int = 100) -> int:
    """A port number free on 127.0.0.1 for both UDP and TCP (SIP listens on both)."""
    for _ in range(attempts):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((HOST, 0))
            port: int = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((HOST, port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no port free on both UDP and TCP")


def _proc_net_ports(transport: Literal["udp", "tcp"]) -> set[int]:
    """Local ports bound (UDP) or listening (TCP) on any address, from /proc/net."""
    ports: set[int] = set()
    for name in (transport, f"{transport}6"):
        try:
            lines = Path("/proc/net", name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            local, state = parts[1], parts[3]
            if transport == "tcp" and state != "0A":  # 0A = LISTEN
                continue
            ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


def is_port_bound(port: int, transport: Literal["udp", "tcp"]) -> bool:
    """True if something binds ``port`` (UDP) or listens on it (TCP), on any address."""
    return port in _proc_net_ports(transport)


def wait_for_bound(
    port: int,
    transport: Literal["udp", "tcp"] = "udp",
    timeout: float = 5.0,
    peer: Peer | None = None,
) -> None:
    """Wait until ``port`` is bound, without sending anything to it (reads /proc/net).

    Use this for peers that would count a probe as traffic (SIPp counts an OPTIONS as
    a call). Raises TimeoutError, or PeerExited when ``peer`` dies first.
    """
    deadline = time.monotonic() + timeout
    while True:
        if is_port_bound(port, transport):
            return
        if peer is not None:
            peer.check_running()
        if time.monotonic() >= deadline:
            raise TimeoutError(f"nothing bound {transport} port {port} within {timeout} s")
        time.sleep(0.02)


# ------------------------------------------------------------------ raw SIP (by hand)


@dataclass(frozen=True)
class SipResponse:
    """A SIP response as read off the wire by the raw probe helpers."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    raw: bytes

    def header(self, name: str) -> str | None:
        """First value of header ``name`` (case-insensitive, no compact forms), or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None


def build_request(
    method: str,
    host: str,
    port: int,
    transport: Transport = "udp",
    *,
    local_port: int = 9,
    uri: str | None = None,
    user: str = "probe",
    to: str | None = None,
    headers: Sequence[str] = (),
) -> tuple[bytes, str]:
    """A body-less request written by hand; returns (bytes, Call-ID).

    R-URI ``uri`` (default sip:host:port[;transport=...]); From sip:``user``@127.0.0.1;
    To ``to`` (default the R-URI); ``headers``: extra "Name: value" lines.
    """
    token = uuid.uuid4().hex
    call_id = f"{token}@{HOST}"
    target = uri if uri is not None else f"sip:{host}:{port}"
    if uri is None and transport != "udp":
        target += f";transport={transport}"
    extra = "".join(f"{line}\r\n" for line in headers)
    text = (
        f"{method} {target} SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport.upper()} {HOST}:{local_port};branch=z9hG4bK{token[:16]};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:{user}@{HOST}>;tag={token[16:24]}\r\n"
        f"To: <{to or target}>\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: 1 {method}\r\n"
        f"Contact: <sip:{user}@{HOST}:{local_port}>\r\n"
        f"{extra}"
        "User-Agent: sipwright-tests-probe\r\n"
        "Content-Length: 0\r\n"
        "\r\n"
    )
    return text.encode("ascii"), call_id


def build_options(
    host: str,
    port: int,
    transport: Transport = "udp",
    *,
    local_port: int = 9,
    uri: str | None = None,
    user: str = "probe",
) -> tuple[bytes, str]:
    """An OPTIONS request written by hand; returns (bytes, Call-ID)."""
    return build_request(
        "OPTIONS",
        host,
        port,
        transport,
        local_port=local_port,
        uri=uri,
        user=user,
        headers=["Accept: application/sdp"],
    )


def parse_response(data: bytes) -> SipResponse:
    """Parse one SIP response (status line, headers, body as far as present)."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("utf-8", errors="replace").split("\r\n")
    match = re.fullmatch(r"SIP/2\.0 (\d{3}) ?(.*)", lines[0])
    if match is None:
        raise ValueError(f"not a SIP response: {lines[0]!r}")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:  # folded line
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}")
            continue
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    return SipResponse(int(match.group(1)), match.group(2), headers, body, data)


def read_stream_message(sock: socket.socket, buffer: bytearray) -> bytes:
    """Read one SIP message off a stream socket (headers + Content-Length body).

    ``buffer`` keeps bytes read past the message for the next call (reuse it per socket).
    """
    while True:
        end = buffer.find(b"\r\n\r\n")
        if end >= 0:
            head = bytes(buffer[:end]).decode("utf-8", errors="replace")
            match = re.search(r"(?im)^(?:content-length|l)\s*:\s*(\d+)", head)
            length = int(match.group(1)) if match else 0
            total = end + 4 + length
            if len(buffer) >= total:
                message = bytes(buffer[:total])
                del buffer[:total]
                return message
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed before a complete SIP message")
        buffer.extend(chunk)


def send_options(
    host: str,
    port: int,
    transport: Transport = "udp",
    *,
    timeout: float = 2.0,
    ssl_context: ssl.SSLContext | None = None,
    server_hostname: str | None = "localhost",
    uri: str | None = None,
) -> SipResponse:
    """Send one OPTIONS over ``transport`` and return the first final (>=200) response.

    UDP retransmits every 0.25 s until ``timeout``. TLS uses ``ssl_context`` (default:
    an unverified one) and ``server_hostname`` for SNI and the host name check.
    Raises TimeoutError, ConnectionError or ssl.SSLError.
    """
    return send_request(
        "OPTIONS",
        host,
        port,
        transport,
        timeout=timeout,
        ssl_context=ssl_context,
        server_hostname=server_hostname,
        uri=uri,
        headers=["Accept: application/sdp"],
    )


def send_request(
    method: str,
    host: str,
    port: int,
    transport: Transport = "udp",
    *,
    timeout: float = 2.0,
    ssl_context: ssl.SSLContext | None = None,
    server_hostname: str | None = "localhost",
    uri: str | None = None,
    user: str = "probe",
    to: str | None = None,
    headers: Sequence[str] = (),
) -> SipResponse:
    """Send one body-less request (see ``build_request``); the first final response.

    Same transport handling as ``send_options``.
    """

    def build(local_port: int) -> tuple[bytes, str]:
        return build_request(
            method,
            host,
            port,
            transport,
            local_port=local_port,
            uri=uri,
            user=user,
            to=to,
            headers=headers,
        )

    deadline = time.monotonic() + timeout
    if transport == "udp":
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((HOST, 0))
            message, call_id = build(sock.getsockname()[1])
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no SIP response from udp {host}:{port}")
                with contextlib.suppress(ConnectionRefusedError):  # ICMP from a prior send
                    sock.sendto(message, (host, port))
                sock.settimeout(min(0.25, remaining))
                retransmit_at = time.monotonic() + min(0.25, remaining)
                while time.monotonic() < retransmit_at:
                    try:
                        data = sock.recv(65535)
                    except (TimeoutError, ConnectionRefusedError):
                        break
                    response = _maybe_response(data, call_id)
                    if response is not None and response.status >= 200:
                        return response
    sock = socket.create_connection((host, port), timeout=max(0.01, deadline - time.monotonic()))
    try:
        if transport == "tls":
            if ssl_context is None:
                ssl_context = ssl.create_default_context()
                ssl_context.check_hostname = False
                ssl_context.verify_mode = ssl.CERT_NONE
            # on success the raw socket is detached into the SSLSocket; on failure the
            # SSLSocket closes itself and the raw one is closed below
            sock = ssl_context.wrap_socket(sock, server_hostname=server_hostname)
        message, call_id = build(sock.getsockname()[1])
        sock.sendall(message)
        buffer = bytearray()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no SIP response from {transport} {host}:{port}")
            sock.settimeout(remaining)
            response = _maybe_response(read_stream_message(sock, buffer), call_id)
            if response is not None and response.status >= 200:
                return response
    finally:
        sock.close()


def _maybe_response(data: bytes, call_id: str) -> SipResponse | None:
    if not data.startswith(b"SIP/2.0 "):
        return None
    try:
        response = parse_response(data)
    except ValueError:
        return None
    return response if response.header("Call-ID") in (call_id, None) else None


def wait_for_port(
    host: str,
    port: int,
    transport: Transport = "udp",
    timeout: float = 5.0,
    *,
    peer: Peer | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> None:
    """Wait until a SIP peer is ready on ``port``.

    TCP: a connect succeeds. TLS: a connect and TLS handshake succeed (with
    ``ssl_context``, default unverified). UDP: an OPTIONS gets any SIP response.
    Raises TimeoutError, or PeerExited when ``peer`` exits first (with its log).
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        if peer is not None:
            peer.check_running()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(
                f"{transport} {host}:{port} not ready within {timeout} s ({last_error!r})"
            )
        try:
            if transport == "udp":
                send_options(host, port, "udp", timeout=min(0.5, remaining))
                return
            with socket.create_connection((host, port), timeout=min(1.0, remaining)) as sock:
                if transport == "tls":
                    context = ssl_context
                    if context is None:
                        context = ssl.create_default_context()
                        context.check_hostname = False
                        context.verify_mode = ssl.CERT_NONE
                    with context.wrap_socket(sock, server_hostname="localhost"):
                        pass
                return
        except (OSError, TimeoutError) as exc:
            last_error = exc
            time.sleep(0.05)


# --------------------------------------------------------------------------------- Peer


class PeerExited(RuntimeError):
    """A peer exited while it was expected to run; the message carries its log tail."""


_LIVE: set[Peer] = set()
_LIVE_LOCK = threading.Lock()


def _proc_pgid_members(pgid: int) -> list[int]:
    """PIDs (not zombies) whose process group is ``pgid``."""
    members: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid pgrp ..." - comm may contain spaces and parentheses
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) >= 3 and fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


class Peer:
    """A running external program: Popen + name + argv + log file (stdout and stderr)."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.argv = [str(arg) for arg in argv]
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_path.open("wb")
        try:
            self.process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=None if env is None else dict(env),
                start_new_session=True,  # own process group: stop() reaps helpers too
            )
        except BaseException:
            self._log.close()
            raise
        self.pgid = self.process.pid
        with _LIVE_LOCK:
            _LIVE.add(self)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        """The exit code once it has exited (negative: killed by that signal), else None."""
        return self.process.poll()

    def is_running(self) -> bool:
        return self.process.poll() is None

    def alive_pids(self) -> list[int]:
        """Processes of this peer's process group still alive (the main one and helpers)."""
        return _proc_pgid_members(self.pgid)

    def check_running(self) -> None:
        """Raise PeerExited (with the log tail) if the process has exited."""
        code = self.process.poll()
        if code is not None:
            raise PeerExited(f"{self.name} exited with {code}:\n{self.log_tail()}")

    def wait_exit(self, timeout: float) -> int:
        """Wait for the process to exit by itself and return its exit code.

        Raises subprocess.TimeoutExpired if it is still running after ``timeout`` s (it
        is not stopped: the fixture or ``with`` block does that).
        """
        code = self.process.wait(timeout)
        self._reap_group(grace=1.0)
        self._close_log()
        return code

    def stop(self, timeout: float = 5.0) -> int:
        """SIGTERM, wait up to ``timeout`` s, then SIGKILL (whole group). Idempotent."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pgid, signal.SIGKILL)
                self.process.wait(timeout)
        self._reap_group(grace=timeout)
        self._close_log()
        return self.process.returncode

    def _reap_group(self, grace: float) -> None:
        deadline = time.monotonic() + grace
        while self.alive_pids():
            if time.monotonic() >= deadline:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.pgid, signal.SIGKILL)
                break
            time.sleep(0.02)
        with _LIVE_LOCK:
            _LIVE.discard(self)

    def _close_log(self) -> None:
        if not self._log.closed:
            self._log.close()

    def log_text(self) -> str:
        """Everything the program wrote to stdout and stderr so far."""
        if not self._log.closed:
            self._log.flush()
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def wait_for_log(self, pattern: str, timeout: float = 5.0) -> re.Match[str]:
        """Wait until the log matches regex ``pattern``; PeerExited if the peer dies first."""
        regex = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout
        while True:
            match = regex.search(self.log_text())
            if match is not None:
                return match
            self.check_running()
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"{self.name}: {pattern!r} not in its log within {timeout} s:\n"
                    f"{self.log_tail()}"
                )
            time.sleep(0.02)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.is_running() else f"exited {self.returncode}"
        return f"<Peer {self.name} pid={self.pid} {state}>"


@atexit.register
def _stop_leftovers() -> None:
    with _LIVE_LOCK:
        leftovers = list(_LIVE)
    for peer in leftovers:
        with contextlib.suppress(Exception):
            peer.stop(timeout=2.0)


# --------------------------------------------------------------------------------- SIPp

# SIPp exit codes (sipp -h; 3.6.1):
SIPP_ALL_CALLS_OK = 0  # all calls were successful
SIPP_SOME_CALLS_FAILED = 1  # at least one call failed
SIPP_INTERNAL_COMMAND = 97  # exit on internal command (calls may have been processed)
SIPP_NO_CALLS = 99  # normal exit without calls processed
SIPP_FATAL = 255  # -1: fatal error (also: -timeout reached with -timeout_error)
SIPP_BIND_FAILED = 254  # -2: fatal error binding a socket
SIPP_EXIT_CODES: Mapping[int, str] = {
    SIPP_ALL_CALLS_OK: "all calls successful",
    SIPP_SOME_CALLS_FAILED: "at least one call failed",
    SIPP_INTERNAL_COMMAND: "exit on internal command",
    SIPP_NO_CALLS: "normal exit without calls processed",
    SIPP_FATAL: "fatal error (or global -timeout with -timeout_error)",
    SIPP_BIND_FAILED: "fatal error binding a socket",
}

SippTransport = Literal["u1", "un", "ui", "t1", "tn", "l1", "ln"]


class SippPeer(Peer):
    """A SIPp process; knows where its statistics and error files are."""

    stat_file: Path | None = None
    error_file: Path | None = None
    message_file: Path | None = None
    port: int | None = None

    def stats(self) -> dict[str, str]:
        """The last row of the -trace_stat CSV (SIPp writes one at exit), by column name.

        Useful columns: "SuccessfulCall(C)", "FailedCall(C)", "TotalCallCreated",
        "OutgoingCall(C)", "IncomingCall(C)", "FailedMaxUDPRetrans(C)", ...
        """
        if self.stat_file is None:
            raise RuntimeError("started without trace_stat=True")
        rows = list(csv.reader(io.StringIO(self.stat_file.read_text()), delimiter=";"))
        if len(rows) < 2:
            raise RuntimeError(f"no statistics in {self.stat_file}")
        return dict(zip(rows[0], rows[-1], strict=False))

    def screen_counter(self, label: str) -> int:
        """The cumulative value of a counter on SIPp's final screen in the log.

        ``label`` as shown, e.g. "Successful call", "Failed call", "Total Calls created".
        """
        pattern = rf"^\s*{re.escape(label)}\s*\|[^|\n]*\|\s*(\d+)"
        matches = re.findall(pattern, self.log_text(), re.MULTILINE)
        if not matches:
            raise ValueError(f"{label!r} not on SIPp's screen:\n{self.log_tail()}")
        return int(matches[-1])

    def errors(self) -> str:
        """The -trace_err file (unexpected messages, retransmission timeouts...)."""
        if self.error_file is None or not self.error_file.exists():
            return ""
        return self.error_file.read_text(errors="replace")


def sipp(
    args: Sequence[str],
    *,
    tmp_path: Path,
    name: str = "sipp",
    trace_stat: bool = True,
    trace_err: bool = True,
    trace_msg: bool = False,
) -> SippPeer:
    """Start ``sipp ARGS -nostdin`` in the foreground (no -bg: we keep its PID).

    Runs with cwd=tmp_path (SIPp writes its files into the working directory).
    trace_stat -> tmp_path/<name>_stat.csv (``-trace_stat -stf``), trace_err ->
    tmp_path/<name>_errors.log (``-trace_err -error_file``), trace_msg ->
    tmp_path/<name>_messages.log (``-trace_msg -message_file``).
    """
    argv = [require("sipp"), *args, "-nostdin"]
    stat_file = tmp_path / f"{name}_stat.csv"
    error_file = tmp_path / f"{name}_errors.log"
    message_file = tmp_path / f"{name}_messages.log"
    if trace_stat:
        argv += ["-trace_stat", "-stf", str(stat_file)]
    if trace_err:
        argv += ["-trace_err", "-error_file", str(error_file)]
    if trace_msg:
        argv += ["-trace_msg", "-message_file", str(message_file)]
    peer = SippPeer(name, argv, tmp_path / f"{name}.log", cwd=tmp_path)
    peer.stat_file = stat_file if trace_stat else None
    peer.error_file = error_file if trace_err else None
    peer.message_file = message_file if trace_msg else None
    return peer


def _sipp_bound_transport(transport: SippTransport) -> Literal["udp", "tcp"]:
    return "udp" if transport.startswith("u") else "tcp"


def sipp_uas(
    port: int,
    transport: SippTransport = "u1",
    *,
    tmp_path: Path,
    calls: int | None = None,
    auto_answer: bool = True,
    scenario: Path | None = None,
    extra: Sequence[str] = (),
    name: str = "sipp_uas",
    ready_timeout: float = 5.0,
    **kwargs: bool,
) -> SippPeer:
    """SIPp's built-in UAS (or ``scenario``) on 127.0.0.1:``port``, ready when it returns.

    ``calls`` -> ``-m N``: SIPp exits by itself after N calls, about 4 s after the last
    BYE (the built-in uas scenario ends with a 4 s timewait).
    ``auto_answer`` -> ``-aa``: 200 OK to out-of-call OPTIONS/INFO/NOTIFY/UPDATE, so
    OPTIONS pings work. Without it an OPTIONS is an unexpected message and counts as a
    failed call (exit code 1). With it, each OPTIONS still counts as an *incoming
    call* toward ``-m``. Readiness is therefore checked without sending anything (the
    port shows up in /proc/net).
    Also bound: media ports 6000+ (RTP echo) and the UDP control port 8888+ on 0.0.0.0;
    SIPp moves up to the next free ones when several run at once.
    """
    argv: list[str] = ["-sf", str(scenario)] if scenario is not None else ["-sn", "uas"]
    argv += ["-i", HOST, "-p", str(port), "-t", transport]
    if calls is not None:
        argv += ["-m", str(calls)]
    if auto_answer:
        argv.append("-aa")
    argv += list(extra)
    peer = sipp(argv, tmp_path=tmp_path, name=name, **kwargs)
    peer.port = port
    try:
        wait_for_bound(port, _sipp_bound_transport(transport), ready_timeout, peer=peer)
    except BaseException:
        peer.stop()
        raise
    return peer


def sipp_uac(
    target: str,
    *,
    tmp_path: Path,
    transport: SippTransport = "u1",
    calls: int = 1,
    rate: float = 10.0,
    service: str | None = None,
    local_port: int | None = None,
    scenario: Path | None = None,
    timeout: float = 10.0,
    extra: Sequence[str] = (),
    name: str = "sipp_uac",
    **kwargs: bool,
) -> SippPeer:
    """SIPp's built-in UAC (or ``scenario``) placing ``calls`` calls to ``target`` (host:port).

    ``-m calls -r rate``; ``service`` -> ``-s`` (user part of the R-URI, default
    "service"); ``local_port`` -> ``-p`` (default: a free port; SIPp itself would take
    5060 when that is free, which collides between concurrent runs); ``timeout`` ->
    ``-timeout Ns -timeout_error``, so a stuck run exits by itself with 255 instead of
    hanging. Wait with ``wait_exit()``: 0 means all calls OK.
    """
    argv: list[str] = ["-sf", str(scenario)] if scenario is not None else ["-sn", "uac"]
    argv += [target, "-i", HOST, "-t", transport, "-m", str(calls), "-r", f"{rate:g}"]
    if local_port is None:
        local_port = free_sip_port()  # SIPp's default is 5060 when free: never rely on it
    argv += ["-p", str(local_port)]
    if service is not None:
        argv += ["-s", service]
    argv += ["-timeout", f"{timeout:g}s", "-timeout_error", *extra]
    peer = sipp(argv, tmp_path=tmp_path, name=name, **kwargs)
    peer.port = local_port
    return peer


# SIPp scenarios for calls through a record-routing proxy (Kamailio). SIPp's built-in
# "uas" does not copy Record-Route into its responses and its built-in "uac" sends ACK
# and BYE to its own R-URI without a Route set, so behind a proxy their in-dialog
# requests get "404 Not here". These two do it right.

_PROXY_UAC = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<!-- UAC calling [service] through a record-routing proxy (the -s user at host:port):
     answers a 407/401 with -au/-ap credentials, keeps the Record-Route set (rrs) and
     sends ACK and BYE to the callee's Contact with Route headers. -->
<scenario name="sipwright tests: UAC via proxy">
  <send retrans="500">
    <![CDATA[

      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: {caller} <sip:{caller}@[remote_ip]:[remote_port]>;tag=[pid]SIPpTag00[call_number]
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:{caller}@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000

    ]]>
  </send>
  <recv response="100" optional="true"></recv>
  <recv response="401" optional="true" auth="true" next="auth"></recv>
  <recv response="407" optional="true" auth="true" next="auth"></recv>
  <recv response="180" optional="true"></recv>
  <recv response="183" optional="true"></recv>
  <recv response="200" rrs="true" rtd="true" next="answered">
    <action>
      <ereg regexp="[0-9]+" search_in="hdr" header="CSeq:" check_it="true" assign_to="invcseq"/>
    </action>
  </recv>

  <label id="auth"/>
  <!-- ACK of the 401/407: same branch as the INVITE, message 0 (this one is 7) -->
  <send>
    <![CDATA[

      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch-7]
      From: {caller} <sip:{caller}@[remote_ip]:[remote_port]>;tag=[pid]SIPpTag00[call_number]
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <send retrans="500">
    <![CDATA[

      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: {caller} <sip:{caller}@[remote_ip]:[remote_port]>;tag=[pid]SIPpTag00[call_number]
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 2 INVITE
      Contact: <sip:{caller}@[local_ip]:[local_port];transport=[transport]>
      [authentication]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000

    ]]>
  </send>
  <recv response="100" optional="true"></recv>
  <recv response="180" optional="true"></recv>
  <recv response="183" optional="true"></recv>
  <recv response="200" rrs="true" rtd="true">
    <action>
      <ereg regexp="[0-9]+" search_in="hdr" header="CSeq:" check_it="true" assign_to="invcseq"/>
    </action>
  </recv>

  <label id="answered"/>
  <send>
    <![CDATA[

      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: {caller} <sip:{caller}@[remote_ip]:[remote_port]>;tag=[pid]SIPpTag00[call_number]
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: [$invcseq] ACK
      Contact: <sip:{caller}@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <pause milliseconds="{hold_ms}"/>
  <send retrans="500">
    <![CDATA[

      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: {caller} <sip:{caller}@[remote_ip]:[remote_port]>;tag=[pid]SIPpTag00[call_number]
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 10 BYE
      Contact: <sip:{caller}@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true"></recv>
</scenario>
"""

_PROXY_UAS = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<!-- SIPp's built-in UAS, plus Record-Route copied into its responses (so the caller
     routes ACK/BYE through the proxy) and a configurable end timewait. -->
<scenario name="sipwright tests: UAS behind proxy">
  <recv request="INVITE" crlf="true"></recv>
  <send>
    <![CDATA[

      SIP/2.0 180 Ringing
      [last_Via:]
      [last_Record-Route:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0

    ]]>
  </send>
  <send retrans="500">
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_Record-Route:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000

    ]]>
  </send>
  <recv request="ACK" optional="true" rtd="true" crlf="true"></recv>
  <recv request="BYE"></recv>
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0

    ]]>
  </send>
  <timewait milliseconds="{timewait_ms}"/>
</scenario>
"""


def write_proxy_uac_scenario(path: Path, *, caller: str = "alice", hold_ms: int = 100) -> Path:
    """Write the UAC-through-a-proxy scenario (From/Contact user ``caller``); returns path.

    Use with ``sipp_uac(..., scenario=path, service=callee, extra=["-au", caller, "-ap",
    password])`` when the proxy challenges INVITEs. ``hold_ms``: pause between ACK and BYE.
    """
    path.write_text(_PROXY_UAC.replace("{caller}", caller).replace("{hold_ms}", str(hold_ms)))
    return path


def write_proxy_uas_scenario(path: Path, *, timewait_ms: int = 4000) -> Path:
    """Write the UAS-behind-a-proxy scenario (copies Record-Route); returns path.

    ``timewait_ms``: how long each call lingers after the BYE (SIPp exits that much
    after the last call when started with ``-m``).
    """
    path.write_text(_PROXY_UAS.replace("{timewait_ms}", str(timewait_ms)))
    return path


# ----------------------------------------------------------------------------- Kamailio


class KamailioPeer(Peer):
    """A Kamailio process started by ``kamailio()``, with its ports and control socket."""

    host: str = HOST
    udp_port: int = 0
    tcp_port: int = 0
    tls_port: int | None = None
    ctl_port: int = 0
    users: Mapping[str, str] = DEFAULT_USERS
    workdir: Path = Path()

    def port_for(self, transport: Transport) -> int:
        if transport == "udp":
            return self.udp_port
        if transport == "tcp":
            return self.tcp_port
        if self.tls_port is None:
            raise RuntimeError("started without a TLS port")
        return self.tls_port

    def uri(self, user: str | None = None, transport: Transport = "udp") -> str:
        """A SIP URI of this server: sip:[user@]127.0.0.1:PORT[;transport=tcp|tls]."""
        userinfo = f"{user}@" if user else ""
        suffix = "" if transport == "udp" else f";transport={transport}"
        return f"sip:{userinfo}{self.host}:{self.port_for(transport)}{suffix}"

    def rpc(self, *command: str, timeout: float = 5.0) -> str:
        """Run a Kamailio RPC command with kamcmd over the binrpc TCP socket; its output."""
        argv = [require("kamcmd"), "-s", f"tcp:{self.host}:{self.ctl_port}", *command]
        result = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"kamcmd {' '.join(command)}: {result.stdout}{result.stderr}")
        return result.stdout

    def contacts(self, user: str) -> list[str]:
        """The contact URIs registered for ``user`` (empty if none)."""
        try:
            text = self.rpc("ul.lookup", "location", user)
        except RuntimeError as exc:
            if "not found" in str(exc).lower():
                return []
            raise
        return re.findall(r"^\s*Address:\s*(\S+)", text, re.MULTILINE)


class KamailioServer:
    """A running Kamailio registrar + proxy as the ``kamailio_server`` fixture yields it."""

    def __init__(self, peer: KamailioPeer, certs: CertBundle) -> None:
        if peer.tls_port is None:
            raise ValueError("KamailioServer needs a Kamailio started with TLS")
        self.peer = peer
        self.certs = certs
        self.host: str = peer.host
        self.udp_port: int = peer.udp_port
        self.tcp_port: int = peer.tcp_port
        self.tls_port: int = peer.tls_port
        self.users: dict[str, str] = dict(peer.users)
        self.ca: Path = certs.ca_cert

    @property
    def log_path(self) -> Path:
        return self.peer.log_path

    @property
    def log(self) -> str:
        """Kamailio's log so far (one INFO line "METHOD R-URI from IP:PORT/proto" per request)."""
        return self.peer.log_text()

    def port_for(self, transport: Transport) -> int:
        return self.peer.port_for(transport)

    def uri(self, user: str | None = None, transport: Transport = "udp") -> str:
        """sip:[user@]127.0.0.1:PORT[;transport=tcp|tls]"""
        return self.peer.uri(user, transport)

    def contacts(self, user: str) -> list[str]:
        """Contact URIs registered for ``user`` now."""
        return self.peer.contacts(user)

    def rpc(self, *command: str) -> str:
        """Output of ``kamcmd <command>`` against this instance."""
        return self.peer.rpc(*command)


_NAME_OK = re.compile(r"[A-Za-z0-9._~!*'()+-]+")


def kamailio(
    tmp_path: Path,
    *,
    udp_port: int | None = None,
    tcp_port: int | None = None,
    tls_port: int | None = None,
    certs: CertBundle | None = None,
    users: Mapping[str, str] | None = None,
    require_client_cert: bool = False,
    invite_auth: bool = False,
    algorithm: Literal["MD5", "SHA-256"] | None = None,
    config: Path = KAMAILIO_DIR / "kamailio.cfg",
    defines: Iterable[str] = (),
    name: str = "kamailio",
    ready_timeout: float = 10.0,
) -> KamailioPeer:
    """Start Kamailio in the foreground with the project's config; ready when it returns.

    ``kamailio -DD -E -m 64 -M 8 -f <copy of config> -w <dir> -Y <dir> -A ...``:
    ports, the TLS config and the binrpc control socket are passed as pre-processor
    defines (see the header of tests/kamailio/kamailio.cfg). Ports default to free
    ones (UDP and TCP share one number; if another process grabs one before Kamailio
    binds it, it is started again on new ports, up to 3 times). TLS listens only when
    ``certs`` (a tests/certs.py CertBundle) is given; ``tls_port`` defaults to a free
    TCP port; ``require_client_cert`` makes the TLS server ask for and require a client
    certificate issued by the test CA.
    ``users`` adds/overrides users (alice/bob with "secret" are always there; names
    and passwords: letters, digits and ``._~!*'()+-``).
    ``invite_auth``: 407-challenge initial INVITE/MESSAGE/SUBSCRIBE too.
    ``algorithm``: digest algorithm of the challenges (default MD5).
    ``defines``: more ``-A`` pre-processor defines.
    Ready means: OPTIONS over UDP answered, TCP (and TLS) accepting, binrpc listening.
    Startup takes about 0.3 s.
    """
    require("kamailio")
    if certs is not None:
        require_kamailio_tls()
    all_users = {**DEFAULT_USERS, **(users or {})}
    for user, password in all_users.items():
        if not (_NAME_OK.fullmatch(user) and _NAME_OK.fullmatch(password)):
            raise ValueError(f"user/password must match {_NAME_OK.pattern}: {user!r}")
    workdir = tmp_path / name
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = workdir / "kamailio.cfg"
    shutil.copyfile(config, cfg)
    (workdir / "kamailio-users.cfg").write_text(
        "".join(f'\t$sht(users=>{user}) = "{password}";\n' for user, password in all_users.items())
    )
    tls_cfg = workdir / "tls.cfg"
    if certs is not None:
        template = string.Template((KAMAILIO_DIR / "tls.cfg").read_text())
        tls_cfg.write_text(
            template.substitute(
                verify="yes" if require_client_cert else "no",
                server_key=certs.server_key,
                server_cert=certs.server_cert,
                ca=certs.ca_cert,
            )
        )

    auto_ports = udp_port is None and tcp_port is None and tls_port is None
    for attempt in range(3 if auto_ports else 1):
        if auto_ports:
            udp_port = tcp_port = free_sip_port()
        udp = udp_port if udp_port is not None else free_port("udp")
        tcp = tcp_port if tcp_port is not None else free_port("tcp")
        tls = (tls_port if tls_port is not None else free_port("tcp")) if certs else None
        ctl = free_port("tcp")
        args = ["-DD", "-E", "-m", "64", "-M", "8", "-f", str(cfg), "-w", str(workdir)]
        args += ["-Y", str(workdir), "-A", f"SIP_UDP_PORT={udp}", "-A", f"SIP_TCP_PORT={tcp}"]
        args += ["-A", f'CTL_SOCKET="tcp:{HOST}:{ctl}"']
        if tls is not None:
            args += ["-A", "WITH_TLS", "-A", f"SIP_TLS_PORT={tls}"]
            args += ["-A", f'TLS_CONFIG="{tls_cfg}"']
        if invite_auth:
            args += ["-A", "WITH_INVITE_AUTH"]
        if algorithm is not None:
            args += ["-A", f'AUTH_ALGORITHM="{algorithm}"']
        for define in defines:
            args += ["-A", define]

        log = tmp_path / (f"{name}.log" if attempt == 0 else f"{name}.{attempt}.log")
        peer = KamailioPeer(name, [require("kamailio"), *args], log, cwd=workdir)
        peer.udp_port, peer.tcp_port, peer.tls_port, peer.ctl_port = udp, tcp, tls, ctl
        peer.users, peer.workdir = all_users, workdir
        try:
            wait_for_port(HOST, udp, "udp", ready_timeout, peer=peer)
            wait_for_port(HOST, tcp, "tcp", ready_timeout, peer=peer)
            if tls is not None:
                wait_for_port(HOST, tls, "tls", ready_timeout, peer=peer)
            wait_for_bound(ctl, "tcp", ready_timeout, peer=peer)
        except PeerExited:
            peer.stop()
            if auto_ports and "Address already in use" in peer.log_text() and attempt < 2:
                continue
            raise
        except BaseException:
            peer.stop()
            raise
        return peer
    raise AssertionError("unreachable")


# ------------------------------------------------------------------------------- sipsak


def sipsak(
    args: Sequence[str], *, timeout: float = 10.0, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run ``sipsak ARGS`` to completion (killed after ``timeout`` s; TimeoutExpired).

    Exit codes (man sipsak): 0 = a 200 was received (usrloc modes: all steps OK);
    1 = something other than 1xx/2xx was received; 2 = local error (unresolvable name,
    bad options); 3 = remote error: ICMP error, no answer (timeout), redirect without
    Contact. A silent UDP target makes sipsak retransmit for ~32 s (timeout it).

    Quirks (0.9.8.1): a 5-digit port inside ``-s`` is cut to 4 digits in the R-URI and
    To it writes (``-s sip:127.0.0.1:49256`` sends "OPTIONS sip:127.0.0.1:4925" to the
    right port): write ``-s sip:127.0.0.1 -r PORT`` (Kamailio takes a port-less
    127.0.0.1 as itself). It sends from another UDP port than the one its Via and
    Contact name (``--symmetric`` makes it use one). Usrloc mode (-U) prints the
    messages only with ``-vvv``.
    """
    argv = [require("sipsak"), *args]
    return subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )


def sipsak_register(
    port: int,
    user: str,
    password: str,
    *,
    contact: str | None = None,
    expires: int = 300,
    host: str = HOST,
    timeout: float = 10.0,
) -> subprocess.CompletedProcess[str]:
    """REGISTER ``user`` at host:port over UDP with digest auth, via sipsak's usrloc mode.

    ``contact`` (e.g. "sip:bob@127.0.0.1:5070", where a SIPp UAS listens) becomes the
    registered binding; without it sipsak registers its own address. Exit code 0 means
    401 then 200. ``expires`` below Kamailio's min_expires (60) is raised to 60.
    """
    args = ["-U", "-vvv", "-s", f"sip:{user}@{host}", "-r", str(port), "-a", password]
    args += ["-x", str(expires)]
    if contact is not None:
        args += ["-C", contact]
    return sipsak(args, timeout=timeout)


# ------------------------------------------------------------------------------- tshark


def pcap_packet_count(pcap: Path) -> int:
    """Number of packets in a classic pcap file written so far (pcapng: not supported)."""
    data = pcap.read_bytes()
    if len(data) < 24:
        return 0
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        order: Literal["little", "big"] = "little"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        order = "big"
    else:
        raise ValueError(f"{pcap} is not a classic pcap file")
    count, offset = 0, 24
    while offset + 16 <= len(data):
        captured = int.from_bytes(data[offset + 8 : offset + 12], order)
        if offset + 16 + captured > len(data):
            break
        count += 1
        offset += 16 + captured
    return count


@dataclass
class Capture:
    """A running tshark capture (see ``tshark_capture``)."""

    peer: Peer
    pcap: Path
    ports: list[int] = field(default_factory=list)

    def packet_count(self) -> int:
        """Packets written to the (classic pcap) file so far."""
        return pcap_packet_count(self.pcap)

    def wait_packets(self, count: int, timeout: float = 5.0) -> int:
        """Wait until at least ``count`` packets are in the file; returns the count.

        dumpcap hands packets over in batches (up to ~0.25 s late); raises TimeoutError.
        """
        deadline = time.monotonic() + timeout
        while True:
            have = self.packet_count()
            if have >= count:
                return have
            self.peer.check_running()
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{have} of {count} packets captured within {timeout} s")
            time.sleep(0.02)

    def stop(self, settle: float = 0.5, *, packets: int | None = None) -> Path:
        """Let the last packets reach the file, stop tshark, return the file.

        With ``packets``: wait until that many are in the file (pcap only; TimeoutError
        after 5 s), else sleep ``settle`` s: packets still in dumpcap's kernel buffer
        (it reads every ~0.25 s) are lost when tshark is stopped.
        """
        if self.peer.is_running():
            if packets is not None:
                self.wait_packets(packets)
            else:
                time.sleep(settle)
        self.peer.stop()
        return self.pcap

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.peer.stop()


def tshark_capture(
    out: Path,
    *,
    ports: Sequence[int],
    interface: str = "lo",
    capture_filter: str | None = None,
    ready_timeout: float = 10.0,
    name: str = "tshark",
) -> Capture:
    """Start ``tshark -i lo -w out -f "udp port X or tcp port X ..."``; wait until capturing.

    The file is classic pcap (``-F pcap``) unless ``out`` ends in ".pcapng". Ready means
    tshark printed "Capturing on 'Loopback: lo'" and then "Capture started." (about
    0.3-0.5 s after start). Stop it with ``Capture.stop()``: it first waits for the
    last packets to reach the file (``packets=N``, or a 0.5 s settle).
    """
    tshark = require("tshark")
    if capture_filter is None:
        if not ports:
            raise ValueError("give ports or a capture_filter")
        capture_filter = " or ".join(f"udp port {p} or tcp port {p}" for p in ports)
    file_format = "pcapng" if out.suffix == ".pcapng" else "pcap"
    argv = [tshark, "-n", "-i", interface, "-w", str(out), "-F", file_format]
    argv += ["-f", capture_filter]
    peer = Peer(name, argv, out.with_suffix(".tshark.log"), cwd=out.parent)
    try:
        # "Capturing on 'Loopback: lo'" comes before dumpcap really captures; tshark's
        # "-- Capture started." message comes once dumpcap has opened the interface
        # with the filter. Packets sent before it are lost.
        peer.wait_for_log(r"^Capturing on ", ready_timeout)
        try:
            peer.wait_for_log(r"Capture started", ready_timeout)
        except TimeoutError:  # a tshark that does not print it: give dumpcap a moment
            time.sleep(1.0)
    except BaseException:
        peer.stop()
        raise
    return Capture(peer, out, list(ports))


def tshark_read(
    pcap: Path,
    *fields: str,
    display_filter: str | None = None,
    verbose: bool = False,
    decode_as: Sequence[str] = (),
    timeout: float = 30.0,
) -> str:
    """Decode a capture with tshark and return its stdout.

    ``fields`` -> ``-T fields -e F ...`` (one line per packet, tab-separated);
    ``verbose`` -> ``-V`` (full packet details); neither -> the one-line summary.
    ``display_filter`` -> ``-Y``; ``decode_as`` -> ``-d`` (e.g. "udp.port==5070,sip";
    SIP on other ports is normally found by tshark's heuristics anyway).
    """
    argv = [require("tshark"), "-n", "-r", str(pcap)]
    for rule in decode_as:
        argv += ["-d", rule]
    if display_filter is not None:
        argv += ["-Y", display_filter]
    if fields:
        argv += ["-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|"]
        for name in fields:
            argv += ["-e", name]
    elif verbose:
        argv.append("-V")
    result = subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"tshark -r {pcap} failed ({result.returncode}): {result.stderr}")
    return result.stdout


def tshark_expert_errors(pcap: Path, *, decode_as: Sequence[str] = ()) -> list[str]:
    """Frames tshark flags as malformed or with an Error-level expert item.

    One entry per frame: "frame N: <expert messages>". Empty list = clean capture.
    """
    output = tshark_read(
        pcap,
        "frame.number",
        "_ws.expert.message",
        display_filter="_ws.malformed || _ws.expert.severity >= 0x800000",
        decode_as=decode_as,
    )
    errors = []
    for line in output.splitlines():
        if line.strip():
            number, _, messages = line.partition("\t")
            errors.append(f"frame {number}: {messages or 'malformed'}")
    return errors


def pcap_sip_summary(pcap: Path, *, decode_as: Sequence[str] = ()) -> list[tuple[str, str]]:
    """(request method or "", status code or "") for every SIP message in the capture."""
    output = tshark_read(
        pcap, "sip.Method", "sip.Status-Code", display_filter="sip", decode_as=decode_as
    )
    rows = []
    for line in output.splitlines():
        method, _, status = line.partition("\t")
        rows.append((method, status))
    return rows


__all__ = [
    "DEFAULT_USERS",
    "HOST",
    "KAMAILIO_DIR",
    "SIPP_EXIT_CODES",
    "Capture",
    "KamailioPeer",
    "KamailioServer",
    "Peer",
    "PeerExited",
    "SipResponse",
    "SippPeer",
    "build_options",
    "build_request",
    "free_port",
    "free_sip_port",
    "is_port_bound",
    "kamailio",
    "parse_response",
    "pcap_packet_count",
    "pcap_sip_summary",
    "read_stream_message",
    "require",
    "require_kamailio_tls",
    "send_options",
    "send_request",
    "sipp",
    "sipp_uac",
    "sipp_uas",
    "sipsak",
    "sipsak_register",
    "tshark_capture",
    "tshark_expert_errors",
    "tshark_read",
    "wait_for_bound",
    "wait_for_port",
    "which",
    "write_proxy_uac_scenario",
    "write_proxy_uas_scenario",
]


def start_sipwright_sipp(args: Sequence[str], cwd: Path) -> subprocess.Popen[str]:
    """``python -m sipwright sipp ARGS -nostdin`` with stdout and stderr in one pipe;
    end it with :func:`finish`."""
    return subprocess.Popen(
        [sys.executable, "-m", "sipwright", "sipp", *args, "-nostdin"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=cwd,
    )


def finish(process: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str]:
    """Wait for ``process`` (killed if it outlives ``timeout``): exit code and output."""
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        raise AssertionError(f"did not exit:\n{output}") from None
    return process.returncode, output
