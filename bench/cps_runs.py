"""One measured run for bench/cps.py: a UAS and a UAC started by PID, the UAC's
``-trace_stat`` file, CPU seconds from ``os.wait4`` and RSS from ``/proc``.

Both tools take SIPp's command line (``sipp`` or ``sipwright sipp``), so a run is the
same argument list after the program.  Every process started here is stopped by PID
(SIGTERM, then SIGKILL) before ``measure`` returns, also on errors and Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
RSS_PERIOD = 0.2  # seconds between RSS samples
POLL_PERIOD = 0.01  # seconds between wait4 polls when not sampling (wall time error)
UNKNOWN_OPTION = ("invalid argument", "unknown option", "unrecognized", "no such option")


@dataclass(frozen=True, slots=True)
class Tool:
    """A program that reads SIPp's command line: ``argv`` is what precedes it."""

    name: str
    argv: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Run:
    """What one UAC run against one UAS did, and what it cost."""

    rate: int
    calls: int  # -m
    hold_ms: int  # -d
    successful: int  # SuccessfulCall(C) of the last -trace_stat row
    failed: int  # FailedCall(C), plus calls that never ended (-m minus processed)
    created: int  # OutgoingCall(C)
    span_s: float  # CurrentTime - StartTime of the last row (the wall time without it)
    peak_concurrent: int  # largest CurrentCall over the rows (-fd 1)
    wall_s: float
    exit_code: int
    client_cpu_s: float  # ru_utime + ru_stime from wait4, children included
    uas_cpu_s: float
    client_rss_kib: int  # peak, summed over the process and its descendants
    uas_rss_kib: int
    note: str = ""  # why a figure is missing, or the last line the client printed

    @property
    def processed(self) -> int:
        return self.successful + self.failed


class Unsupported(Exception):
    """The client refused an option (``--workers`` on an older sipwright)."""


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind((HOST, 0))
        return int(udp.getsockname()[1])


def _udp_bound(port: int) -> bool:
    """Whether some process has bound 127.0.0.1:``port`` over UDP (/proc/net/udp)."""
    wanted = f"0100007F:{port:04X}"
    with contextlib.suppress(OSError), open("/proc/net/udp") as table:
        return any(line.split()[1] == wanted for line in list(table)[1:])
    return False


def _children() -> dict[int, list[int]]:
    """Parent PID -> child PIDs, from /proc/*/stat (field 4, after the command)."""
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = Path(entry.path, "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def descendants(pid: int, tree: dict[int, list[int]] | None = None) -> list[int]:
    tree = _children() if tree is None else tree
    found: list[int] = []
    todo = list(tree.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(tree.get(child, []))
    return found


def _rss_kib(pid: int) -> int:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def tree_rss_kib(pid: int, tree: dict[int, list[int]]) -> int:
    return sum(_rss_kib(p) for p in [pid, *descendants(pid, tree)])


def _reap(proc: subprocess.Popen[bytes]) -> tuple[int, float] | None:
    """(exit code, CPU seconds) if the process has ended; reaped with wait4 so its
    rusage (and that of the children it waited for) is ours."""
    pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
    if pid == 0:
        return None
    proc.returncode = os.waitstatus_to_exitcode(status)  # Popen must not reap it again
    return proc.returncode, usage.ru_utime + usage.ru_stime


def stop(proc: subprocess.Popen[bytes], grace: float = 3.0) -> tuple[int, float]:
    """SIGTERM, then SIGKILL after ``grace`` seconds, to the process and the
    descendants it had; returns (exit code, CPU seconds)."""
    if proc.returncode is not None:
        return proc.returncode, 0.0
    family = descendants(proc.pid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while (ended := _reap(proc)) is None and time.monotonic() < deadline:
        time.sleep(POLL_PERIOD)
    for pid in [proc.pid, *family] if ended is None else family:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)  # workers left behind, or a parent that hung
    if ended is None:
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        ended = proc.returncode, usage.ru_utime + usage.ru_stime
    return ended


def read_stats(path: Path) -> tuple[dict[str, str], int]:
    """The last row of a ``-trace_stat`` file by column name, and the largest
    CurrentCall over all rows."""
    with contextlib.suppress(OSError):
        lines = [line for line in path.read_text().splitlines() if line.strip()]
        if len(lines) >= 2:
            header = lines[0].split(";")
            rows = [dict(zip(header, line.split(";"), strict=False)) for line in lines[1:]]
            rows = [row for row in rows if row.get("StartTime") != "StartTime"]
            peak = max((_int(row.get("CurrentCall")) for row in rows), default=0)
            return (rows[-1] if rows else {}), peak
    return {}, 0


def _int(text: str | None) -> int:
    try:
        return int(float(text or "0"))
    except ValueError:
        return 0


def _epoch(text: str | None) -> float:
    """SIPp writes dates as 'YYYY-MM-DD<TAB>HH:MM:SS.us<TAB>epoch.us'."""
    try:
        return float((text or "").split("\t")[-1])
    except ValueError:
        return 0.0


def measure(
    client: Tool,
    uas: Tool,
    *,
    rate: int,
    calls: int,
    hold_ms: int,
    workdir: Path,
    stop_after: float | None = None,
    sample_rss: bool = False,
    extra: tuple[str, ...] = (),
) -> Run:
    """Start ``uas``, run ``client`` for ``calls`` calls at ``rate``/s held ``hold_ms``,
    stop both.  With ``stop_after`` the client is stopped (SIGTERM) after that many
    seconds, for memory runs that need the calls up, not finished."""
    busy_s = calls / rate + hold_ms / 1000
    limit = int(busy_s * 3 + 10)
    port = free_udp_port()
    stats = workdir / f"{client.name}-{rate}-{calls}-{port}.csv"
    output = workdir / f"{client.name}-{port}.out"
    uas_argv = [*uas.argv, "-sn", "uas", "-i", HOST, "-p", str(port), "-nostdin"]
    uas_argv += ["-timeout", f"{limit + 30}s"]  # a safety net if this script dies
    client_argv = [*client.argv, *extra, "-sn", "uac", f"{HOST}:{port}", "-i", HOST]
    if client.name == "sipp":  # SIPp binds 5060 unless told; sipwright takes a free port
        client_argv += ["-p", str(free_udp_port())]
    client_argv += ["-r", str(rate), "-m", str(calls), "-d", str(hold_ms), "-nostdin"]
    client_argv += ["-l", str(max(1000, rate * (hold_ms // 1000 + 1) * 3))]
    client_argv += ["-trace_stat", "-stf", str(stats), "-fd", "1"]
    client_argv += ["-timeout", f"{limit}s", "-timeout_error"]
    procs: list[subprocess.Popen[bytes]] = []
    client_rss = uas_rss = 0
    try:
        uas_proc = subprocess.Popen(
            uas_argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, cwd=workdir,
        )  # fmt: skip
        procs.append(uas_proc)
        deadline = time.monotonic() + 10
        while not _udp_bound(port) and uas_proc.poll() is None and time.monotonic() < deadline:
            time.sleep(POLL_PERIOD)
        if not _udp_bound(port):
            raise RuntimeError(f"{uas.name} UAS did not bind {HOST}:{port}")
        started = time.monotonic()
        with output.open("wb") as out:
            client_proc = subprocess.Popen(
                client_argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, cwd=workdir
            )
        procs.append(client_proc)
        ended: tuple[int, float] | None = None
        while ended is None:
            ended = _reap(client_proc)
            elapsed = time.monotonic() - started
            if ended is not None:
                break
            if sample_rss:
                tree = _children()
                client_rss = max(client_rss, tree_rss_kib(client_proc.pid, tree))
                uas_rss = max(uas_rss, tree_rss_kib(uas_proc.pid, tree))
            if (stop_after is not None and elapsed >= stop_after) or elapsed > limit + 5:
                ended = stop(client_proc)
                break
            time.sleep(RSS_PERIOD if sample_rss else POLL_PERIOD)
        wall = time.monotonic() - started
        _, uas_cpu = stop(uas_proc)
    finally:
        for proc in procs:
            stop(proc)
    code, client_cpu = ended
    said = output.read_text(errors="replace").strip().splitlines()
    last = said[-1] if said else ""
    for line in said if code in (1, 2) else []:
        if "--workers" in line and any(word in line.lower() for word in UNKNOWN_OPTION):
            raise Unsupported(line)
    row, peak = read_stats(stats)
    successful = _int(row.get("SuccessfulCall(C)"))
    failed = _int(row.get("FailedCall(C)"))
    if stop_after is None:
        failed = max(failed, calls - successful)  # calls that never ended count too
    span = _epoch(row.get("CurrentTime")) - _epoch(row.get("StartTime"))
    created = _int(row.get("OutgoingCall(C)")) or successful + failed
    return Run(
        rate=rate, calls=calls, hold_ms=hold_ms, successful=successful, failed=failed,
        created=created, span_s=span if span > 0 else wall, peak_concurrent=peak, wall_s=wall,
        exit_code=code, client_cpu_s=client_cpu, uas_cpu_s=uas_cpu, client_rss_kib=client_rss,
        uas_rss_kib=uas_rss, note="" if row else f"no -trace_stat row; said: {last[:120]}",
    )  # fmt: skip
