"""sipwright against real SIP peers on loopback: SIPp, Kamailio, sipsak, tshark.

Every peer is started by the test and stopped by PID afterwards (tests/peers.py).
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sipwright.ua import Agent, IncomingCall

import peers
from peers import KamailioServer, SippTransport

pytestmark = pytest.mark.peers

SIPP_TRANSPORT: dict[str, SippTransport] = {"udp": "u1", "tcp": "t1"}


class Answerer:
    """``sipwright answer`` as a real process (the CLI, not the library)."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.log = tmp_path / "answer.log"
        self._log = self.log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sipwright", "answer", *args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while "listening on" not in self.log.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sipwright answer did not start:\n{self.log.read_text()}")
            time.sleep(0.05)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._log.close()
        return code

    @property
    def output(self) -> str:
        return self.log.read_text()


@pytest.fixture
def answerer(tmp_path: Path) -> Iterator[list[Answerer]]:
    started: list[Answerer] = []
    yield started
    for answer in started:
        answer.stop()


# --- SIPp ------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_sipwright_calls_sipp_uas(transport: str, tmp_path: Path, sip_port: int) -> None:
    uas = peers.sipp_uas(sip_port, SIPP_TRANSPORT[transport], tmp_path=tmp_path, calls=1)
    try:

        async def call() -> tuple[list[str], int]:
            async with Agent("sip:sipwright@127.0.0.1:0", transport=transport) as agent:
                outgoing = await agent.invite(
                    f"sip:service@127.0.0.1:{sip_port};transport={transport}"
                )
                response = await outgoing.answered(timeout=10)
                assert response.status == 200
                await asyncio.sleep(0.2)
                await outgoing.hangup()
                assert outgoing.record.succeeded
                # SIPp counts a call as failed if its TCP connection closes before the
                # scenario's final 4 s pause ends: keep it open until SIPp exits.
                code = await asyncio.to_thread(uas.wait_exit, 15)
                return [e.summary.split()[0] for e in outgoing.record.events], code

        events, code = asyncio.run(call())
        assert events == ["INVITE", "180", "200", "ACK", "BYE", "200"]  # SIPp sends no 100
        assert code == 0, uas.log_tail()
        stats = uas.stats()
        assert stats["SuccessfulCall(C)"] == "1"
        assert stats["FailedCall(C)"] == "0"
    finally:
        uas.stop()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_sipp_uac_calls_sipwright_answer(
    transport: str, tmp_path: Path, sip_port: int, answerer: list[Answerer]
) -> None:
    answer = Answerer(tmp_path, "--listen", f"{transport}:127.0.0.1:{sip_port}", "--ring", "0.1")
    answerer.append(answer)
    uac = peers.sipp_uac(
        f"127.0.0.1:{sip_port}",
        tmp_path=tmp_path,
        transport=SIPP_TRANSPORT[transport],
        calls=3,
        rate=10,
    )
    try:
        assert uac.wait_exit(30) == 0, uac.log_tail() + uac.errors() + answer.output
        stats = uac.stats()
        assert stats["SuccessfulCall(C)"] == "3"
        assert stats["FailedCall(C)"] == "0"
    finally:
        uac.stop()
    time.sleep(0.2)
    assert answer.stop() == 0, answer.output
    assert "3 calls, 0 failed" in answer.output


# --- sipsak -----------------------------------------------------------------------------


def test_sipsak_options_against_sipwright_answer(
    tmp_path: Path, sip_port: int, answerer: list[Answerer]
) -> None:
    answerer.append(Answerer(tmp_path, "--listen", f"udp:127.0.0.1:{sip_port}"))
    # sipsak 0.9.8 cuts 5-digit ports in -s; the port goes in -r (see tests/peers.py).
    result = peers.sipsak(["-v", "-s", "sip:sipwright@127.0.0.1", "-r", str(sip_port)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "200 OK" in result.stdout


# --- Kamailio ---------------------------------------------------------------------------


def test_sipwright_options_against_kamailio(kamailio_server: KamailioServer) -> None:
    for transport in ("udp", "tcp"):
        result = subprocess.run(
            [sys.executable, "-m", "sipwright", "options", kamailio_server.uri(None, transport)],
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "200" in result.stdout


def test_wrong_password_is_one_line_and_exit_1(kamailio_server: KamailioServer) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sipwright",
            "register",
            kamailio_server.uri(),
            "--user",
            "alice",
            "--password",
            "wrong",
            "--timeout",
            "10",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 1
    text = (result.stdout + result.stderr).strip()
    assert len(text.splitlines()) == 1, text
    assert "registration failed" in text
    assert "Traceback" not in text


async def _call_through_kamailio(server: KamailioServer, transport: str) -> None:
    client_ssl = None
    if transport == "tls":
        import ssl

        client_ssl = ssl.create_default_context(cafile=str(server.ca))
    registrar = server.uri(None, transport)  # type: ignore[arg-type]
    async with (
        Agent(
            "sip:bob@127.0.0.1:0", transport=transport, client_ssl=client_ssl, user="bob",
            password="secret",
        ) as bob,
        Agent(
            "sip:alice@127.0.0.1:0", transport=transport, client_ssl=client_ssl, user="alice",
            password="secret", proxy=registrar,
        ) as alice,
    ):  # fmt: skip
        bob_registration = await bob.register(registrar, expires=300)
        await alice.register(registrar, expires=300)
        assert bob_registration.expires is not None and bob_registration.expires > 0
        assert server.contacts("bob"), server.log
        answering: asyncio.Task[IncomingCall] = asyncio.create_task(bob.next_call(timeout=10))
        call = await alice.invite(f"sip:bob@127.0.0.1:{server.port_for(transport)}")  # type: ignore[arg-type]
        incoming = await answering
        await incoming.ring()
        await incoming.answer()
        response = await call.answered(timeout=10)
        assert response.status == 200
        if transport != "udp":
            # Kamailio reached bob over the very connection bob registered on.
            assert incoming.flow is bob_registration.flow
        # The route set makes ACK and BYE go through the record-routing proxy.
        assert call.dialog is not None and call.dialog.route_set
        await asyncio.wait_for(incoming.acked.wait(), 5)
        await call.hangup()
        await incoming.wait_ended(5)
        bye_answer = [e for e in call.record.events if e.summary.endswith("(BYE)")]
        assert bye_answer and bye_answer[-1].summary.startswith("200"), call.record.events


def test_registration_with_two_contacts_and_unregister(kamailio_server: KamailioServer) -> None:
    async def run() -> None:
        registrar = kamailio_server.uri()
        async with Agent("sip:alice@127.0.0.1:0", user="alice", password="secret") as alice:
            registration = await alice.register(
                registrar, expires=120, extra_contacts=["sip:alice@127.0.0.1:5999"]
            )
            assert len(registration.bindings) == 2, registration.bindings
            assert len(kamailio_server.contacts("alice")) == 2
            await registration.unregister()  # Expires: 0 for every contact it registered
            assert kamailio_server.contacts("alice") == []

    asyncio.run(run())


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])
def test_register_and_call_through_kamailio(
    transport: str, kamailio_server: KamailioServer
) -> None:
    asyncio.run(_call_through_kamailio(kamailio_server, transport))
    log = kamailio_server.log
    assert "BYE" in log


# --- tshark -----------------------------------------------------------------------------


def test_tshark_decodes_a_sipwright_call_without_malformed_packets(
    tmp_path: Path, sip_port: int
) -> None:
    uas = peers.sipp_uas(sip_port, "u1", tmp_path=tmp_path, calls=1)
    capture = peers.tshark_capture(ports=[sip_port], out=tmp_path / "call.pcap")
    # "Capturing on" comes before the capture really runs; this line comes after.
    capture.peer.wait_for_log("Capture started", 10)
    try:

        async def call() -> None:
            async with Agent("sip:sipwright@127.0.0.1:0") as agent:
                outgoing = await agent.invite(f"sip:service@127.0.0.1:{sip_port}")
                await outgoing.answered(timeout=10)
                await outgoing.hangup()

        asyncio.run(call())
    finally:
        pcap = capture.stop()
        uas.stop()
    assert peers.tshark_expert_errors(pcap) == []
    methods = peers.tshark_read(pcap, "sip.CSeq.method", display_filter="sip")
    seen = set(methods.split())
    assert {"INVITE", "ACK", "BYE"} <= seen
