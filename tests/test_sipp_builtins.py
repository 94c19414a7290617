"""SIPp's built-in scenarios (``-sn``) run by sipwright against real SIPp, both ways.

Every combination runs at the same time as SIPp against itself (the reference):
sipwright's side must end with SIPp's exit code and call counts.  uac/uas are in
test_sipp_command.py; here regexp, branchc/branchs and the four 3PCC roles.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Literal

import pytest

import peers
from peers import SippPeer

pytestmark = pytest.mark.peers

SIPP_T = {"udp": "u1", "tcp": "t1"}
WAIT = 40.0  # s; clients run with -timeout 20s


def _start(args: list[str], directory: Path, name: str, ours: bool) -> SippPeer:
    if not ours:
        return peers.sipp(args, tmp_path=directory, name=name, trace_err=False)
    stat_file = directory / f"{name}_stat.csv"
    argv = [sys.executable, "-m", "sipwright", "sipp", *args, "-nostdin"]
    argv += ["-trace_stat", "-stf", str(stat_file)]
    peer = SippPeer(name, argv, directory / f"{name}.log", cwd=directory)
    peer.stat_file = stat_file
    return peer


def _wait(peer: SippPeer) -> int | None:
    try:
        return peer.wait_exit(WAIT)
    except subprocess.TimeoutExpired:
        peer.stop()
        return None


def _calls(peer: SippPeer) -> tuple[int, int]:
    stats = peer.stats()
    return int(stats["SuccessfulCall(C)"]), int(stats["FailedCall(C)"])


def _describe(group: dict[str, SippPeer]) -> str:
    return "\n".join(
        f"--- {name}: {' '.join(peer.argv)}\n{peer.log_tail(12)}" for name, peer in group.items()
    )


# --------------------------------------------------------------------- client/server


Combo = Literal["reference", "our_client", "our_server"]
COMBOS: tuple[Combo, ...] = ("reference", "our_client", "our_server")


def _run_pair(
    client: str, server: str, transport: str, tmp_path: Path
) -> dict[Combo, tuple[tuple[int | None, int | None], tuple[int, int], tuple[int, int], str]]:
    kind: Literal["udp", "tcp"] = "udp" if transport == "udp" else "tcp"
    t = SIPP_T[transport]
    groups: dict[Combo, dict[str, SippPeer]] = {}
    ports: dict[Combo, int] = {}
    try:
        for combo in COMBOS:
            directory = tmp_path / combo
            directory.mkdir()
            port = ports[combo] = peers.free_sip_port()
            args = ["-sn", server, "-i", peers.HOST, "-p", str(port), "-t", t, "-m", "2"]
            groups[combo] = {"server": _start(args, directory, "server", combo == "our_server")}
        for combo in COMBOS:
            group = groups[combo]
            peers.wait_for_bound(ports[combo], kind, 10, peer=group["server"])
            args = ["-sn", client, f"{peers.HOST}:{ports[combo]}", "-i", peers.HOST]
            args += ["-p", str(peers.free_sip_port()), "-t", t, "-m", "2", "-r", "10"]
            args += ["-timeout", "20s", "-timeout_error"]
            group["client"] = _start(args, tmp_path / combo, "client", combo == "our_client")
        codes = {combo: _wait(group["client"]) for combo, group in groups.items()}
        results = {}
        for combo, group in groups.items():
            server_code = _wait(group["server"])
            results[combo] = (
                (codes[combo], server_code),
                _calls(group["client"]),
                _calls(group["server"]),
                _describe(group),
            )
        return results
    finally:
        for group in groups.values():
            for peer in group.values():
                peer.stop()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize(("client", "server"), [("regexp", "uas"), ("branchc", "branchs")])
def test_builtin_pair_gives_sipps_result(
    client: str, server: str, transport: str, tmp_path: Path
) -> None:
    peers.require("sipp")
    results = _run_pair(client, server, transport, tmp_path)
    ref_codes, ref_client, ref_server, ref_text = results["reference"]
    assert sum(ref_client) == 2, ref_text  # SIPp against itself
    for combo in ("our_client", "our_server"):
        codes, client_calls, server_calls, text = results[combo]
        if transport == "udp":
            assert codes == ref_codes, f"{combo}: exit codes\n{text}"
            assert client_calls == ref_client, f"{combo}: client calls\n{text}"
            assert server_calls == ref_server, f"{combo}: server calls\n{text}"
        else:
            # Over TCP the side that ends first closes the connection, and a call still
            # in the other side's final pause/timewait fails on it (SIPp against
            # itself too): how many are caught there depends on timing, so only the
            # settled totals are compared.
            assert sum(client_calls) == sum(ref_client) == 2, f"{combo}\n{text}"
            assert sum(server_calls) == sum(ref_server) == 2, f"{combo}\n{text}"


# --------------------------------------------------------------------------- 3PCC

ROLES = ("3pcc-A", "3pcc-B", "3pcc-C-B", "3pcc-C-A")


def _run_3pcc(directory: Path, ours: set[str], transport: str) -> dict[str, SippPeer]:
    """A and B answer; controller B listens on the twin socket; controller A calls
    A, hands A's offer to controller B (which invites B with it) and returns B's
    answer to A in the ACK."""
    directory.mkdir()
    t = SIPP_T[transport]
    kind: Literal["udp", "tcp"] = "udp" if transport == "udp" else "tcp"
    port = {role: peers.free_sip_port() for role in ROLES}
    twin = peers.free_port("tcp")
    remote = {"3pcc-C-B": port["3pcc-B"], "3pcc-C-A": port["3pcc-A"]}
    group: dict[str, SippPeer] = {}
    for role in ROLES:
        args = ["-sn", role, "-i", peers.HOST, "-p", str(port[role]), "-t", t, "-m", "1"]
        if role in remote:
            args += [f"{peers.HOST}:{remote[role]}", "-3pcc", f"{peers.HOST}:{twin}"]
            args += ["-timeout", "20s", "-timeout_error"]
        if role == "3pcc-C-A":
            peers.wait_for_bound(twin, "tcp", 10, peer=group["3pcc-C-B"])
        group[role] = _start(args, directory, role, role in ours)
        if role != "3pcc-C-A":
            peers.wait_for_bound(port[role], kind, 10, peer=group[role])
    return group


def test_3pcc_roles_interwork_with_sipp(tmp_path: Path) -> None:
    # UDP only: SIPp 3.6.1's own four 3PCC roles do not complete over -t t1 (the
    # reference run there ends 255/1/1/1), so there is no result to compare with.
    transport = "udp"
    peers.require("sipp")
    setups = {
        "reference": set(),
        "our_controllers": {"3pcc-C-A", "3pcc-C-B"},
        "our_sides": {"3pcc-A", "3pcc-B"},
        "our_controller_b": {"3pcc-C-B"},
    }
    groups: dict[str, dict[str, SippPeer]] = {}
    try:
        for name, ours in setups.items():
            groups[name] = _run_3pcc(tmp_path / name, ours, transport)
        for name, group in groups.items():
            codes = {role: _wait(peer) for role, peer in group.items()}
            text = f"{name}:\n{_describe(group)}"
            assert codes == dict.fromkeys(ROLES, 0), f"{codes}\n{text}"
            for role, peer in group.items():
                assert _calls(peer) == (1, 0), f"{role}\n{text}"
    finally:
        for group in groups.values():
            for peer in group.values():
                peer.stop()
