"""SIPp XML scenario pairs (tests/compat/) run SIPp-vs-SIPp and with sipwright on one side.

Every pair is a client scenario ``<name>_uac.xml`` and a server scenario
``<name>_uas.xml`` of the kind people publish.  Three combinations run on loopback:

* A: SIPp client -> SIPp server (the reference; it must give the pair's expected result),
* B: ``sipwright sipp`` client -> SIPp server,
* C: SIPp client -> ``sipwright sipp`` server.

B and C must give A's result: the exit codes of both sides and SuccessfulCall(C) /
FailedCall(C) from both sides' ``-trace_stat`` files.  A is run once per pair (cached)
and concurrently with B.  Differences sipwright still has are recorded as strict xfails
(XFAIL below), so they show up when fixed.  Each process writes its log, -trace_stat and
-trace_msg files into ``tmp_path/<A|B|C>/``.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal

import pytest

import peers
from peers import SippPeer

pytestmark = pytest.mark.peers

COMPAT = Path(__file__).parent / "compat"
Transport = Literal["udp", "tcp"]
Combo = Literal["A", "B", "C"]
SIPP_T: dict[Transport, str] = {"udp": "u1", "tcp": "t1"}
CLIENT_WAIT = 30.0  # s; clients run with -timeout 20s -timeout_error
SERVER_GRACE = 5.0  # s a server may take to exit by itself once its client is done
# A client's recv without a timeout attribute gives up after this (ms), so a stuck call
# fails in seconds instead of waiting for the 20 s global timeout.
RECV_TIMEOUT_MS = "4000"


@dataclass(frozen=True)
class Outcome:
    """What is compared: exit codes (None: had to be stopped) and call counts."""

    client_rc: int | None
    server_rc: int | None
    client_ok: int | None
    client_failed: int | None
    server_ok: int | None
    server_failed: int | None

    def differences(self, other: Outcome) -> list[str]:
        return [
            f"{f.name} {getattr(self, f.name)} (expected {getattr(other, f.name)})"
            for f in fields(self)
            if getattr(self, f.name) != getattr(other, f.name)
        ]


def ok(calls: int = 1) -> Outcome:
    """Every call succeeds on both sides (exit code 0)."""
    return Outcome(0, 0, calls, 0, calls, 0)


class Mismatch(AssertionError):
    """sipwright gave another result than SIPp (the only failure an xfail accepts)."""


@dataclass(frozen=True)
class Pair:
    """A client/server scenario pair and how to run it.

    ``calls``: -m of the client (and of the server unless ``server_calls``);
    ``expected``: what SIPp-vs-SIPp gives (checked, so a broken pair is noticed).
    """

    name: str
    expected: Outcome
    transport: Transport = "udp"
    calls: int = 1
    server_calls: int | None = None
    client_args: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return self.name if self.transport == "udp" else f"{self.name}-tcp"

    @property
    def client_xml(self) -> Path:
        return COMPAT / f"{self.name}_uac.xml"

    @property
    def server_xml(self) -> Path:
        return COMPAT / f"{self.name}_uas.xml"


def _inf(name: str) -> tuple[str, ...]:
    return ("-inf", str(COMPAT / name))


PAIRS: list[Pair] = [
    # registration, calls and in-dialog requests
    Pair("register_auth", ok(2), calls=2),
    Pair("actions_verifyauth", ok(2), calls=2),
    Pair("invite_407_auth", ok()),
    Pair("reinvite_hold", ok()),
    Pair("early_media_183", ok()),
    Pair("prack_100rel", ok()),
    Pair("update_confirmed", ok()),
    Pair("info_dtmf", ok()),
    Pair("late_offer", ok()),
    Pair("long_call_pause", ok(2), calls=2),
    Pair("optional_provisionals", ok()),
    Pair("timewait_end", ok(2), calls=2),
    Pair("callee_bye", ok()),
    Pair("refer_notify", ok()),
    # out-of-dialog requests
    Pair("subscribe_notify", ok()),
    Pair("message_im", ok(3), calls=3),
    Pair("options_ping", ok(3), calls=3),
    Pair("publish_etag", ok()),
    Pair("compact_headers", ok()),
    # call set-up failures, CANCEL
    Pair("cancel_487", ok()),
    Pair("old_phone_cancel", ok()),
    Pair("busy_486", ok(2), calls=2),
    Pair("redirect_302", ok()),
    Pair("retry_503", ok()),
    Pair("retry_after_test", ok()),
    # keywords
    Pair("last_headers", ok()),
    Pair("content_length_len", ok()),
    Pair("routes_caller", ok()),
    Pair("routes_callee_bye", ok()),
    Pair("inf_sequential", ok(3), calls=3, client_args=_inf("users.csv")),
    Pair(
        "inf_lookup",
        ok(3),
        calls=3,
        client_args=(*_inf("users.csv"), "-infindex", "users.csv", "0"),
    ),
    # variables, actions and branching
    Pair("ereg_token", ok(2), calls=2),
    Pair("loop_counter", ok()),
    Pair("chance_branch", ok()),
    Pair("strcmp_jump", ok()),
    Pair("condexec_skip", ok()),
    Pair("ontimeout_label", ok()),
    Pair("pause_distributions", ok(), client_args=("-d", "150")),
    Pair("counter_rtd", ok(2), calls=2),
    # results other than "all calls successful", and SIPp 3.6.1's own rules
    Pair("stop_now", Outcome(97, 0, 0, 0, 1, 0), calls=3, server_calls=1),
    Pair("unexpected_404", Outcome(1, 0, 0, 2, 2, 0), calls=2),
    Pair("unexpected_486", Outcome(1, 0, 0, 1, 1, 0)),
    Pair("recv_timeout_fail", Outcome(1, 0, 0, 1, 1, 0)),
    Pair("ontimeout_to_end", Outcome(1, 0, 0, 1, 1, 0)),
    Pair("error_action", Outcome(255, 0, 0, 0, 1, 0)),
    Pair("reject_stop_call", Outcome(0, 1, 2, 0, 0, 2), calls=2),
    Pair("check_it_continues", Outcome(0, 1, 1, 0, 0, 1)),
    Pair("nop_check_ignored", ok()),
    # TCP
    Pair("register_auth", ok(2), calls=2, transport="tcp"),
    Pair("invite_407_auth", ok(), transport="tcp"),
    Pair("reinvite_hold", ok(), transport="tcp"),
    Pair("prack_100rel", ok(), transport="tcp"),
    Pair("callee_bye", ok(), transport="tcp"),
    Pair("subscribe_notify", ok(), transport="tcp"),
    Pair("message_im", ok(3), calls=3, transport="tcp"),
    Pair("cancel_487", ok(), transport="tcp"),
]

# "<pair id>-<our_uac|our_uas>": the difference seen (what SIPp did / what sipwright did)
XFAIL: dict[str, str] = {
    # Every difference found so far is fixed; new ones go here with what was seen.
}


# --------------------------------------------------------------------------- running


def _sipwright(args: list[str], directory: Path, name: str) -> SippPeer:
    """``python -m sipwright sipp ARGS`` with SIPp's trace files, like ``peers.sipp``."""
    stat_file = directory / f"{name}_stat.csv"
    message_file = directory / f"{name}_messages.log"
    argv = [sys.executable, "-m", "sipwright", "sipp", *args, "-nostdin"]
    argv += ["-trace_stat", "-stf", str(stat_file)]
    argv += ["-trace_msg", "-message_file", str(message_file)]
    peer = SippPeer(name, argv, directory / f"{name}.log", cwd=directory)
    peer.stat_file = stat_file
    peer.message_file = message_file
    return peer


def _start(args: list[str], directory: Path, name: str, ours: bool) -> SippPeer:
    if ours:
        return _sipwright(args, directory, name)
    return peers.sipp(args, tmp_path=directory, name=name, trace_msg=True)


@dataclass
class Run:
    """One combination while it runs: its directory, ports and processes."""

    combo: Combo
    directory: Path
    port: int
    server: SippPeer
    client: SippPeer | None = None
    client_rc: int | None = None
    server_rc: int | None = None

    def describe(self) -> str:
        parts = [f"--- combination {self.combo} ({self.directory})"]
        for peer in (self.client, self.server):
            if peer is not None:
                parts.append(f"--- {peer.name}: {' '.join(peer.argv)}\n{peer.log_tail(15)}")
                errors = peer.errors().strip()
                if errors:
                    parts.append(f"--- {peer.name} errors:\n{errors[-1500:]}")
        return "\n".join(parts)


def _count(peer: SippPeer | None, column: str) -> int | None:
    if peer is None:
        return None
    try:
        return int(peer.stats()[column])
    except (RuntimeError, FileNotFoundError, KeyError, ValueError):
        return None


def _outcome(run: Run) -> Outcome:
    return Outcome(
        run.client_rc,
        run.server_rc,
        _count(run.client, "SuccessfulCall(C)"),
        _count(run.client, "FailedCall(C)"),
        _count(run.server, "SuccessfulCall(C)"),
        _count(run.server, "FailedCall(C)"),
    )


def _wait(peer: SippPeer, timeout: float) -> int | None:
    try:
        return peer.wait_exit(timeout)
    except subprocess.TimeoutExpired:
        peer.stop()
        return None


def run_pair(pair: Pair, combos: list[Combo], tmp_path: Path) -> dict[Combo, tuple[Outcome, str]]:
    """Run ``combos`` of ``pair`` at the same time; each one's Outcome and description."""
    t = SIPP_T[pair.transport]
    server_calls = pair.server_calls if pair.server_calls is not None else pair.calls
    runs: list[Run] = []
    try:
        for combo in combos:
            directory = tmp_path / combo
            directory.mkdir()
            port = peers.free_sip_port()
            args = ["-sf", str(pair.server_xml), "-i", peers.HOST, "-p", str(port), "-t", t]
            args += ["-m", str(server_calls)]
            server = _start(args, directory, "uas", ours=combo == "C")
            runs.append(Run(combo, directory, port, server))
        kind: Literal["udp", "tcp"] = "udp" if pair.transport == "udp" else "tcp"
        for run in runs:
            try:
                peers.wait_for_bound(run.port, kind, 10, peer=run.server)
            except peers.PeerExited:
                continue  # e.g. a scenario it refuses: no client then (client_rc None)
            args = ["-sf", str(pair.client_xml), f"{peers.HOST}:{run.port}", "-i", peers.HOST]
            args += ["-p", str(peers.free_sip_port()), "-t", t, "-m", str(pair.calls), "-r", "20"]
            args += ["-timeout", "20s", "-timeout_error", "-recv_timeout", RECV_TIMEOUT_MS]
            args += list(pair.client_args)
            run.client = _start(args, run.directory, "uac", ours=run.combo == "B")
        for run in runs:
            if run.client is not None:
                run.client_rc = _wait(run.client, CLIENT_WAIT)
        for run in runs:
            run.server_rc = _wait(run.server, SERVER_GRACE)
    finally:
        for run in runs:
            for peer in (run.client, run.server):
                if peer is not None:
                    peer.stop()
    return {run.combo: (_outcome(run), run.describe()) for run in runs}


_REFERENCE: dict[str, tuple[Outcome, str]] = {}


def _params() -> list[object]:
    params: list[object] = []
    for pair in PAIRS:
        for side in ("our_uac", "our_uas"):
            test_id = f"{pair.id}-{side}"
            marks = []
            if test_id in XFAIL:
                marks.append(pytest.mark.xfail(strict=True, raises=Mismatch, reason=XFAIL[test_id]))
            params.append(pytest.param(pair, side, id=test_id, marks=marks))
    return params


def test_pair_files_exist() -> None:
    names = {pair.name for pair in PAIRS}
    on_disk = {p.name.removesuffix("_uac.xml") for p in COMPAT.glob("*_uac.xml")}
    assert names == on_disk
    for name in names:
        assert (COMPAT / f"{name}_uas.xml").is_file(), name


@pytest.mark.parametrize(("pair", "side"), _params())
def test_sipwright_gives_sipps_result(pair: Pair, side: str, tmp_path: Path) -> None:
    peers.require("sipp")
    combo: Combo = "B" if side == "our_uac" else "C"
    combos: list[Combo] = [combo] if pair.id in _REFERENCE else ["A", combo]
    results = run_pair(pair, combos, tmp_path)
    if "A" in results:
        _REFERENCE[pair.id] = results["A"]
    reference, reference_log = _REFERENCE[pair.id]
    wrong = reference.differences(pair.expected)
    if wrong:
        pytest.fail(f"SIPp-vs-SIPp is not as expected: {'; '.join(wrong)}\n{reference_log}")
    outcome, log = results[combo]
    difference = outcome.differences(reference)
    if difference:
        raise Mismatch(f"{combo} differs from SIPp-vs-SIPp: {'; '.join(difference)}\n{log}")
