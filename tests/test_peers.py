"""The peer helpers (tests/peers.py) against the real programs: SIPp, Kamailio, sipsak, tshark.

Each test is bounded (well under 10 s) and leaves no process behind.
"""

from __future__ import annotations

import hashlib
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Literal

import pytest

import peers
from certs import CertBundle
from peers import KamailioServer

pytestmark = pytest.mark.peers


def assert_gone(peer: peers.Peer) -> None:
    """The process and every helper of its process group have exited."""
    assert not peer.is_running()
    assert peer.returncode is not None
    assert peer.alive_pids() == []
    with pytest.raises(ProcessLookupError):
        os.kill(peer.pid, 0)


# ------------------------------------------------------------------------ ports, Peer


def test_free_sip_port_is_free_on_udp_and_tcp() -> None:
    port = peers.free_sip_port()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind((peers.HOST, port))
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((peers.HOST, port))
    assert 0 < peers.free_port("tcp") < 65536
    assert 0 < peers.free_port("udp") < 65536


def test_peer_stop_terminates_and_logs(tmp_path: Path) -> None:
    script = "import sys, time; print('hello', flush=True); time.sleep(60)"
    with peers.Peer("sleeper", [sys.executable, "-c", script], tmp_path / "sleeper.log") as peer:
        peer.wait_for_log("^hello$", timeout=5)
        assert peer.is_running()
    assert_gone(peer)
    assert peer.returncode == -15  # SIGTERM
    assert peer.log_text() == "hello\n"


def test_peer_stop_kills_what_ignores_sigterm(tmp_path: Path) -> None:
    script = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(60)"
    )
    peer = peers.Peer("stubborn", [sys.executable, "-c", script], tmp_path / "stubborn.log")
    try:
        peer.wait_for_log("^ready$", timeout=5)
        started = time.monotonic()
        assert peer.stop(timeout=0.5) == -9  # SIGKILL after the timeout
        assert time.monotonic() - started < 3
    finally:
        peer.stop()
    assert_gone(peer)


def test_peer_wait_exit_and_stdin_is_devnull(tmp_path: Path) -> None:
    script = "import sys; data = sys.stdin.read(); print(repr(data)); sys.exit(3)"
    with peers.Peer("reader", [sys.executable, "-c", script], tmp_path / "reader.log") as peer:
        assert peer.wait_exit(timeout=5) == 3
    assert peer.log_text() == "''\n"
    assert_gone(peer)


def test_require_skips_when_missing() -> None:
    with pytest.raises(pytest.skip.Exception, match=r"not installed \(make test installs it\)"):
        peers.require("no-such-program-sipwright")


# ---------------------------------------------------------------------------------- SIPp


def test_sipp_uac_makes_three_calls_to_sipp_uas(tmp_path: Path, sip_port: int) -> None:
    uas = peers.sipp_uas(sip_port, "u1", tmp_path=tmp_path, calls=3)
    try:
        uac = peers.sipp_uac(f"{peers.HOST}:{sip_port}", tmp_path=tmp_path, calls=3, rate=20)
        with uac:
            code = uac.wait_exit(timeout=10)
            assert code == peers.SIPP_ALL_CALLS_OK, uac.log_tail()
        assert_gone(uac)
        stats = uac.stats()
        assert stats["SuccessfulCall(C)"] == "3"
        assert stats["FailedCall(C)"] == "0"
        assert uac.screen_counter("Successful call") == 3
        assert uac.errors() == ""
        # -m 3: the UAS exits by itself, ~4 s after the last BYE (built-in timewait)
        assert uas.wait_exit(timeout=8) == peers.SIPP_ALL_CALLS_OK, uas.log_tail()
        assert uas.stats()["SuccessfulCall(C)"] == "3"
    finally:
        uas.stop()
    assert_gone(uas)


def test_sipp_over_tcp_and_stop(tmp_path: Path, sip_port: int) -> None:
    with peers.sipp_uas(sip_port, "t1", tmp_path=tmp_path) as uas:
        assert peers.is_port_bound(sip_port, "tcp")
        uac = peers.sipp_uac(f"{peers.HOST}:{sip_port}", tmp_path=tmp_path, transport="t1")
        with uac:
            assert uac.wait_exit(timeout=8) == peers.SIPP_ALL_CALLS_OK, uac.log_tail()
        assert uas.is_running()  # no -m: runs until stopped
    assert_gone(uas)
    assert not peers.is_port_bound(sip_port, "tcp")


def test_sipp_uas_auto_answers_options(tmp_path: Path, sip_port: int) -> None:
    with peers.sipp_uas(sip_port, tmp_path=tmp_path) as uas:
        response = peers.send_options(peers.HOST, sip_port, "udp")
        assert response.status == 200
        assert uas.is_running()
    assert_gone(uas)


# ------------------------------------------------------------------------------ Kamailio


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_kamailio_answers_options(
    kamailio_server: KamailioServer, transport: peers.Transport
) -> None:
    port = kamailio_server.port_for(transport)
    response = peers.send_options(kamailio_server.host, port, transport)
    assert response.status == 200
    assert response.header("Server") == "sipwright-test-kamailio"
    assert f"OPTIONS sip:127.0.0.1:{port}" in kamailio_server.log
    assert f"/{transport}\n" in kamailio_server.log


def test_sipsak_options_to_kamailio(kamailio_server: KamailioServer) -> None:
    # sipsak 0.9.8.1 cuts a 5-digit port in -s to 4 digits in the R-URI it writes
    # (sip:127.0.0.1:4925 for :49256), so name the port with -r instead
    port = str(kamailio_server.udp_port)
    result = peers.sipsak(["-vv", "-s", "sip:127.0.0.1", "-r", port])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SIP/2.0 200 OK" in result.stdout


def test_sipsak_register_with_digest(kamailio_server: KamailioServer) -> None:
    port = kamailio_server.udp_port
    assert kamailio_server.users == {"alice": "secret", "bob": "secret"}
    ok = peers.sipsak(["-U", "-vvv", "-s", "sip:alice@127.0.0.1", "-r", str(port), "-a", "secret"])
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "401 Unauthorized" in ok.stdout  # challenged first ...
    assert "SIP/2.0 200 OK" in ok.stdout  # ... then registered
    assert len(kamailio_server.contacts("alice")) == 1

    wrong = peers.sipsak_register(port, "bob", "wrong")
    assert wrong.returncode != 0
    assert kamailio_server.contacts("bob") == []

    unknown = peers.sipsak_register(port, "carol", "secret")
    assert unknown.returncode != 0
    assert kamailio_server.contacts("carol") == []

    contact = "sip:bob@127.0.0.1:5999"
    registered = peers.sipsak_register(port, "bob", "secret", contact=contact)
    assert registered.returncode == 0, registered.stdout + registered.stderr
    assert kamailio_server.contacts("bob") == [contact]


def test_kamailio_tls_handshake_and_options(
    kamailio_server: KamailioServer, certs: CertBundle
) -> None:
    port = kamailio_server.tls_port
    context = certs.client_context()  # trusts only the test CA, checks "localhost"
    with (
        socket.create_connection((kamailio_server.host, port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
        assert tls.getpeercert() is not None
    response = peers.send_options(kamailio_server.host, port, "tls", ssl_context=context)
    assert response.status == 200
    assert "/tls" in kamailio_server.log

    untrusting = ssl.create_default_context()  # system CAs only
    with (
        pytest.raises(ssl.SSLCertVerificationError),
        socket.create_connection((kamailio_server.host, port), timeout=5) as raw,
    ):
        untrusting.wrap_socket(raw, server_hostname="localhost").close()


@pytest.mark.parametrize("invite_auth", [False, True], ids=["open", "invite-auth"])
def test_kamailio_proxies_call_with_record_route(
    tmp_path: Path, certs: CertBundle, sip_port: int, invite_auth: bool
) -> None:
    with peers.kamailio(tmp_path, certs=certs, invite_auth=invite_auth) as kamailio:
        server_port = kamailio.udp_port
        uas_scenario = peers.write_proxy_uas_scenario(tmp_path / "uas.xml", timewait_ms=200)
        uac_scenario = peers.write_proxy_uac_scenario(tmp_path / "uac.xml", caller="alice")
        with peers.sipp_uas(sip_port, tmp_path=tmp_path, scenario=uas_scenario, calls=1) as bob:
            contact = f"sip:bob@127.0.0.1:{sip_port}"
            result = peers.sipsak_register(server_port, "bob", "secret", contact=contact)
            assert result.returncode == 0, result.stdout + result.stderr
            assert kamailio.contacts("bob") == [contact]

            alice = peers.sipp_uac(
                f"127.0.0.1:{server_port}",
                tmp_path=tmp_path,
                scenario=uac_scenario,
                service="bob",
                extra=["-au", "alice", "-ap", "secret"],
                trace_msg=True,
            )
            with alice:
                assert alice.wait_exit(timeout=8) == 0, alice.log_tail() + alice.errors()
            assert bob.wait_exit(timeout=5) == 0, bob.log_tail() + bob.errors()
        assert alice.message_file is not None
        messages = alice.message_file.read_text()
        assert f"Record-Route: <sip:127.0.0.1:{server_port};lr>" in messages
        assert f"Route: <sip:127.0.0.1:{server_port};lr>" in messages
        assert ("407 Proxy Authentication Required" in messages) is invite_auth
        log = kamailio.log_text()
        # ACK and BYE went through Kamailio (loose routing) to bob's contact
        assert f"ACK sip:127.0.0.1:{sip_port};transport=UDP from" in log
        assert f"BYE sip:127.0.0.1:{sip_port};transport=UDP from" in log
    assert_gone(kamailio)
    assert_gone(bob)


def test_kamailio_extra_users_and_client_certificates(tmp_path: Path, certs: CertBundle) -> None:
    users = {"carol": "pw-123"}
    with peers.kamailio(tmp_path, certs=certs, users=users, require_client_cert=True) as server:
        assert server.users == {"alice": "secret", "bob": "secret", "carol": "pw-123"}
        result = peers.sipsak_register(server.udp_port, "carol", "pw-123")
        assert result.returncode == 0, result.stdout + result.stderr
        assert len(server.contacts("carol")) == 1

        assert server.tls_port is not None
        with_cert = certs.client_context(with_client_cert=True)
        response = peers.send_options(server.host, server.tls_port, "tls", ssl_context=with_cert)
        assert response.status == 200
        with pytest.raises((ssl.SSLError, ConnectionError)):
            peers.send_options(
                server.host, server.tls_port, "tls", ssl_context=certs.client_context()
            )
    assert_gone(server)


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
def test_kamailio_challenge_algorithm(tmp_path: Path, algorithm: Literal["MD5", "SHA-256"]) -> None:
    with peers.kamailio(tmp_path, algorithm=algorithm) as server:
        challenge = peers.send_request(
            "REGISTER",
            server.host,
            server.udp_port,
            uri="sip:127.0.0.1",
            user="alice",
            to="sip:alice@127.0.0.1",
            headers=["Expires: 60"],
        )
        invite = peers.send_request(
            "INVITE", server.host, server.udp_port, uri="sip:bob@127.0.0.1", user="alice"
        )
    assert challenge.status == 401
    www = challenge.header("WWW-Authenticate") or ""
    assert 'realm="127.0.0.1"' in www
    assert 'qop="auth"' in www
    assert f"algorithm={algorithm}" in www or (algorithm == "MD5" and "algorithm" not in www)
    assert invite.status == 404  # bob not registered; no 407 without invite_auth


class StreamUA:
    """A bare-bones SIP UA on one TCP/TLS connection, written by hand (no sipwright).

    It registers a Contact where nothing listens (port 9), so the only way to reach it
    is the connection it registered on.
    """

    def __init__(self, sock: socket.socket, transport: str, user: str) -> None:
        self.sock = sock
        self.transport = transport
        self.user = user
        self.buffer = bytearray()
        self.contact = f"sip:{user}@127.0.0.1:9;transport={transport}"
        local = sock.getsockname()
        self.via_host = f"{local[0]}:{local[1]}"

    def read(self) -> tuple[str, list[tuple[str, str]], bytes]:
        raw = peers.read_stream_message(self.sock, self.buffer)
        head, _, body = raw.partition(b"\r\n\r\n")
        first, *lines = head.decode().split("\r\n")
        headers = [(n.strip(), v.strip()) for n, _, v in (line.partition(":") for line in lines)]
        return first, headers, body

    def register(self, domain: str, password: str) -> str:
        """REGISTER with digest (MD5, qop=auth); returns the final status line."""

        def md5(text: str) -> str:
            return hashlib.md5(text.encode()).hexdigest()

        uri = f"sip:{domain}"
        authorization = ""
        for cseq in (1, 2):
            request = (
                f"REGISTER {uri} SIP/2.0\r\n"
                f"Via: SIP/2.0/{self.transport.upper()} {self.via_host}"
                f";branch=z9hG4bKreg{cseq};rport\r\n"
                f"Max-Forwards: 70\r\nFrom: <sip:{self.user}@{domain}>;tag=reg1\r\n"
                f"To: <sip:{self.user}@{domain}>\r\nCall-ID: reg-{self.user}@127.0.0.1\r\n"
                f"CSeq: {cseq} REGISTER\r\nContact: <{self.contact}>\r\nExpires: 300\r\n"
                f"{authorization}Content-Length: 0\r\n\r\n"
            )
            self.sock.sendall(request.encode())
            status, headers, _ = self.read()
            if not status.startswith("SIP/2.0 401"):
                return status
            challenge = dict(headers)["WWW-Authenticate"]
            params = {
                k.strip(): v.strip().strip('"')
                for k, _, v in (p.partition("=") for p in challenge[len("Digest ") :].split(","))
            }
            ha1 = md5(f"{self.user}:{params['realm']}:{password}")
            ha2 = md5(f"REGISTER:{uri}")
            response = md5(f"{ha1}:{params['nonce']}:00000001:0a4f113b:auth:{ha2}")
            authorization = (
                f'Authorization: Digest username="{self.user}", realm="{params["realm"]}", '
                f'nonce="{params["nonce"]}", uri="{uri}", response="{response}", '
                f'algorithm=MD5, qop=auth, nc=00000001, cnonce="0a4f113b"\r\n'
            )
        return status

    def answer_one_call(self) -> list[str]:
        """Answer an INVITE with 200 (copying Via and Record-Route), take ACK, answer BYE."""
        seen: list[str] = []
        while True:
            first, headers, _ = self.read()
            method = first.split(" ", 1)[0]
            seen.append(first)
            if method == "ACK":
                continue
            copied = "".join(
                f"{name}: {value}\r\n"
                for name, value in headers
                if name.lower() in ("via", "v", "record-route", "from", "f", "call-id", "i", "cseq")
            )
            to = next(v for n, v in headers if n.lower() in ("to", "t"))
            if method == "INVITE":
                to += ";tag=bobtag1"
                body = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
                body += b"t=0 0\r\nm=audio 40000 RTP/AVP 0\r\n"
                extra = "Content-Type: application/sdp\r\n"
            else:
                body, extra = b"", ""
            reply = (
                f"SIP/2.0 200 OK\r\n{copied}To: {to}\r\nContact: <{self.contact}>\r\n"
                f"{extra}Content-Length: {len(body)}\r\n\r\n"
            ).encode() + body
            self.sock.sendall(reply)
            if method == "BYE":
                return seen


@pytest.mark.parametrize("transport", ["tcp", "tls"])
def test_kamailio_reaches_stream_ua_over_its_connection(
    kamailio_server: KamailioServer,
    certs: CertBundle,
    tmp_path: Path,
    transport: peers.Transport,
) -> None:
    server = kamailio_server
    sock = socket.create_connection((server.host, server.port_for(transport)), timeout=5)
    if transport == "tls":
        sock = certs.client_context().wrap_socket(sock, server_hostname="localhost")
    with sock:
        bob = StreamUA(sock, transport, "bob")
        assert bob.register("127.0.0.1", "secret") == "SIP/2.0 200 OK"
        assert server.contacts("bob") == [bob.contact]

        seen: list[str] = []
        errors: list[BaseException] = []

        def run_bob() -> None:
            try:
                seen.extend(bob.answer_one_call())
            except BaseException as exc:  # reported by the test thread
                errors.append(exc)

        thread = threading.Thread(target=run_bob, daemon=True)
        thread.start()
        scenario = peers.write_proxy_uac_scenario(tmp_path / "uac.xml", caller="alice")
        alice = peers.sipp_uac(
            f"127.0.0.1:{server.udp_port}",
            tmp_path=tmp_path,
            scenario=scenario,
            service="bob",
            trace_msg=True,
        )
        with alice:
            assert alice.wait_exit(timeout=8) == 0, alice.log_tail() + alice.errors()
        thread.join(timeout=5)
        assert not errors, errors
    assert [line.split(" ", 1)[0] for line in seen] == ["INVITE", "ACK", "BYE"]
    assert seen[0] == f"INVITE {bob.contact} SIP/2.0"
    # Kamailio put an alias of bob's connection into bob's Contact for alice ...
    assert alice.message_file is not None
    assert ";alias=127.0.0.1~" in alice.message_file.read_text()
    # ... and routed alice's ACK and BYE back over bob's connection
    assert seen[1].startswith(f"ACK {bob.contact}")


# -------------------------------------------------------------------------------- tshark


def test_tshark_captures_sipsak_options(tmp_path: Path, kamailio_server: KamailioServer) -> None:
    port = kamailio_server.udp_port
    with peers.tshark_capture(tmp_path / "options.pcap", ports=[port]) as capture:
        result = peers.sipsak(["-s", "sip:127.0.0.1", "-r", str(port)])
        assert result.returncode == 0, result.stdout + result.stderr
        pcap = capture.stop(packets=2)
    assert_gone(capture.peer)
    assert peers.pcap_sip_summary(pcap) == [("OPTIONS", ""), ("", "200")]
    assert peers.tshark_expert_errors(pcap) == []
    details = peers.tshark_read(pcap, verbose=True)
    assert "Session Initiation Protocol (OPTIONS)" in details
    assert "Status-Line: SIP/2.0 200 OK" in details


def test_tshark_flags_a_malformed_packet(tmp_path: Path, sip_port: int) -> None:
    bad = (
        b"INVITE sip:bob@127.0.0.1 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 127.0.0.1:5000;branch=z9hG4bKbad\r\n"
        b"From: <sip:alice@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>\r\n"
        b"Call-ID: bad@127.0.0.1\r\nCSeq: 1 INVITE\r\n"
        b"Content-Type: application/sdp\r\nContent-Length: 10\r\n\r\nv=0\r\no=\r\n"
    )
    with peers.tshark_capture(tmp_path / "bad.pcap", ports=[sip_port]) as capture:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(bad, (peers.HOST, sip_port))
        pcap = capture.stop(packets=1)
    errors = peers.tshark_expert_errors(pcap)
    assert len(errors) == 1
    assert errors[0].startswith("frame 1: ")


def test_sipsak_timeout_is_enforced(sip_port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind((peers.HOST, sip_port))  # bound, never answers: sipsak retransmits
        started = time.monotonic()
        with pytest.raises(subprocess.TimeoutExpired):
            peers.sipsak(["-s", f"sip:127.0.0.1:{sip_port}"], timeout=0.5)
        assert time.monotonic() - started < 3
