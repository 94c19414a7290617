"""``sipwright sipp`` behind and in front of a record-routing Kamailio, and with an
outbound proxy that is not the Request-URI's host (``-rsa``): each run gives the
result SIPp gives in its place."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import peers
from certs import CertBundle
from peers import SippPeer

pytestmark = pytest.mark.peers


def _sipwright(args: list[str], tmp_path: Path, name: str) -> SippPeer:
    stat_file = tmp_path / f"{name}_stat.csv"
    message_file = tmp_path / f"{name}_messages.log"
    argv = [sys.executable, "-m", "sipwright", "sipp", *args, "-nostdin", "--no-live"]
    argv += ["-trace_stat", "-stf", str(stat_file)]
    argv += ["-trace_msg", "-message_file", str(message_file)]
    peer = SippPeer(name, argv, tmp_path / f"{name}.log", cwd=tmp_path)
    peer.stat_file, peer.message_file = stat_file, message_file
    return peer


def _peer(args: list[str], tmp_path: Path, name: str, ours: bool) -> SippPeer:
    if ours:
        return _sipwright(args, tmp_path, name)
    return peers.sipp(args, tmp_path=tmp_path, name=name, trace_msg=True)


@pytest.mark.parametrize("ours", [False, True], ids=["sipp", "sipwright"])
def test_rsa_sends_to_the_outbound_proxy_not_the_request_uri_host(
    tmp_path: Path, ours: bool
) -> None:
    """-rsa: messages go to the outbound proxy (here SIPp's uas) while the
    Request-URI keeps the remote host, which nothing listens on and no SRV names."""
    port = peers.free_sip_port()
    nowhere = peers.free_sip_port()
    with peers.sipp_uas(port, tmp_path=tmp_path, name="proxy"):
        client = _peer(
            [
                "-sn",
                "uac",
                f"127.0.0.1:{nowhere}",
                "-rsa",
                f"127.0.0.1:{port}",
                "-i",
                "127.0.0.1",
                "-p",
                str(peers.free_sip_port()),
                "-m",
                "3",
                "-r",
                "10",
                "-timeout",
                "20s",
                "-timeout_error",
            ],
            tmp_path,
            "client",
            ours,
        )
        with client:
            assert client.wait_exit(30) == 0, client.log_tail()
    assert client.stats()["SuccessfulCall(C)"] == "3"
    assert client.message_file is not None
    assert f"INVITE sip:service@127.0.0.1:{nowhere} SIP/2.0" in client.message_file.read_text()


COMBOS = {"sipp-sipp": (False, False), "our-uac": (True, False), "our-uas": (False, True)}


@pytest.mark.parametrize("combo", list(COMBOS))
def test_routes_and_next_url_through_record_routing_kamailio(
    tmp_path: Path, certs: CertBundle, combo: str
) -> None:
    """A caller authenticating its INVITE (407) at Kamailio, which record-routes to a
    registered callee; ACK and BYE go to [next_url] with the [routes] learnt from
    the 200 (rrs="true"), so through Kamailio (loose routing)."""
    our_uac, our_uas = COMBOS[combo]
    with peers.kamailio(tmp_path, certs=certs, invite_auth=True) as kamailio:
        uas_port = peers.free_sip_port()
        uas_xml = peers.write_proxy_uas_scenario(tmp_path / "uas.xml", timewait_ms=200)
        uac_xml = peers.write_proxy_uac_scenario(tmp_path / "uac.xml", caller="alice")
        uas = _peer(
            ["-sf", str(uas_xml), "-i", "127.0.0.1", "-p", str(uas_port), "-m", "1"],
            tmp_path,
            "bob",
            our_uas,
        )
        with uas:
            peers.wait_for_bound(uas_port, "udp", 10, peer=uas)
            contact = f"sip:bob@127.0.0.1:{uas_port}"
            registered = peers.sipsak_register(kamailio.udp_port, "bob", "secret", contact=contact)
            assert registered.returncode == 0, registered.stdout + registered.stderr
            uac = _peer(
                [
                    "-sf",
                    str(uac_xml),
                    f"127.0.0.1:{kamailio.udp_port}",
                    "-i",
                    "127.0.0.1",
                    "-p",
                    str(peers.free_sip_port()),
                    "-s",
                    "bob",
                    "-au",
                    "alice",
                    "-ap",
                    "secret",
                    "-m",
                    "1",
                    "-timeout",
                    "20s",
                    "-timeout_error",
                ],
                tmp_path,
                "alice",
                our_uac,
            )
            with uac:
                assert uac.wait_exit(30) == 0, uac.log_tail()
            assert uas.wait_exit(15) == 0, uas.log_tail()
        log = kamailio.log_text()
    assert uac.stats()["SuccessfulCall(C)"] == uas.stats()["SuccessfulCall(C)"] == "1"
    assert uac.message_file is not None
    messages = uac.message_file.read_text()
    assert "407 Proxy Authentication Required" in messages
    assert f"Route: <sip:127.0.0.1:{kamailio.udp_port};lr>" in messages
    # ACK and BYE reached the callee through Kamailio, not directly.
    assert f"ACK sip:127.0.0.1:{uas_port};transport=UDP from" in log
    assert f"BYE sip:127.0.0.1:{uas_port};transport=UDP from" in log
