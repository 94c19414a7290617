"""The async Agent against another Agent over real loopback sockets."""

from __future__ import annotations

import asyncio
import gc
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import pytest

from sipwright.sip.message import Request, Response, make_response, parse_message
from sipwright.sip.transaction import TimerConfig
from sipwright.ua import Agent, CallFailed, IncomingCall

import peers
from dnsserver import DNSServer


async def _answer_one(agent: Agent, *, ring: float = 0.0, code: int = 200) -> IncomingCall:
    call = await agent.next_call(timeout=5)
    await call.ring()
    if ring:
        await asyncio.sleep(ring)
    if code == 200:
        await call.answer()
    else:
        call.reject(code)
    return call


@pytest.mark.asyncio
@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_call_answer_hangup(transport: str) -> None:
    async with (
        Agent("sip:bob@127.0.0.1:0", transport=transport) as bob,
        Agent("sip:alice@127.0.0.1:0", transport=transport) as alice,
    ):
        port = bob.listening[0].port
        answering = asyncio.create_task(_answer_one(bob, ring=0.05))
        call = await alice.invite(f"sip:bob@127.0.0.1:{port};transport={transport}")
        response = await call.answered(timeout=5)
        assert response.status == 200
        incoming = await answering
        await asyncio.wait_for(incoming.acked.wait(), 5)
        assert call.remote_sdp is not None
        assert call.remote_sdp.media[0].port > 0
        await call.hangup()
        await incoming.wait_ended(5)
        assert incoming.record.ended_by == "remote"
        assert call.record.ended_by == "local"
        summaries = [e.summary.split()[0] for e in call.record.events]
        assert summaries == ["INVITE", "180", "200", "ACK", "BYE", "200"]
        assert call.record.setup_time is not None and call.record.setup_time >= 0.05
        assert call.record.post_dial_delay is not None
        assert call.record.succeeded
        record = call.record.to_dict()
        assert record["final_status"] == 200
        assert record["transport"] == transport


@pytest.mark.asyncio
async def test_rejected_call_raises_call_failed() -> None:
    async with Agent("sip:bob@127.0.0.1:0") as bob, Agent("sip:alice@127.0.0.1:0") as alice:
        answering = asyncio.create_task(_answer_one(bob, code=486))
        call = await alice.invite(f"sip:bob@127.0.0.1:{bob.listening[0].port}")
        with pytest.raises(CallFailed) as info:
            await call.answered(timeout=5)
        assert info.value.status == 486
        await answering
        assert call.record.final_status == 486


@pytest.mark.asyncio
async def test_cancel_while_ringing_gets_487() -> None:
    async with Agent("sip:bob@127.0.0.1:0") as bob, Agent("sip:alice@127.0.0.1:0") as alice:
        call = await alice.invite(f"sip:bob@127.0.0.1:{bob.listening[0].port}")
        incoming = await bob.next_call(timeout=5)
        await incoming.ring()
        for _ in range(100):
            if call.record.ringing is not None:
                break
            await asyncio.sleep(0.01)
        await call.hangup()
        with pytest.raises(CallFailed) as info:
            await call.answered(timeout=5)
        assert info.value.status == 487
        assert incoming.cancelled
        assert incoming.record.ended_by == "cancel"


@pytest.mark.asyncio
async def test_options_and_message() -> None:
    async with Agent("sip:bob@127.0.0.1:0") as bob, Agent("sip:alice@127.0.0.1:0") as alice:
        uri = f"sip:bob@127.0.0.1:{bob.listening[0].port}"
        response = await alice.options(uri)
        assert response.status == 200
        response = await alice.message(uri, "hello bob")
        assert response.status == 200
        received = await asyncio.wait_for(anext(bob.messages()), 5)
        assert received.body == b"hello bob"


@pytest.mark.asyncio
async def test_malformed_request_gets_400_with_warning_and_agent_keeps_running() -> None:
    async with Agent("sip:bob@127.0.0.1:0") as bob:
        port = bob.listening[0].port
        bad = (
            b"OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\n"
            b"Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKbad\r\n"
            b"From: <sip:x@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>\r\n"
            b"Call-ID: bad-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 300\r\n"
            b"Content-Length: 0\r\n\r\n"
        )
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            sock.bind(("127.0.0.1", 0))
            await loop.sock_sendto(sock, bad, ("127.0.0.1", port))
            data = await asyncio.wait_for(loop.sock_recv(sock, 65535), 5)
            response = parse_message(data)
            assert isinstance(response, Response)
            assert response.status == 400
            assert "Max-Forwards" in (response.headers.first("Warning") or "")
            # A malformed response is dropped silently, and the agent still works.
            await loop.sock_sendto(sock, b"SIP/2.0 999999 Nope\r\n\r\n", ("127.0.0.1", port))
        assert bob.endpoint.malformed_requests == 1
        async with Agent("sip:alice@127.0.0.1:0") as alice:
            ok = await alice.options(f"sip:bob@127.0.0.1:{port}")
            assert ok.status == 200
        assert bob.endpoint.malformed_responses == 1


@pytest.mark.asyncio
async def test_srv_resolved_call_fails_over_from_a_dead_target_to_a_live_one() -> None:
    # A port nobody listens on: TCP connection refused, the first SRV target is dead.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    async with Agent("sip:bob@127.0.0.1:0", transport="tcp") as bob:
        live = next(d for d in bob.listening if d.transport == "tcp")
        zone = [
            ("example.test", "NAPTR", '10 10 "s" "SIP+D2T" "" _sip._tcp.example.test.'),
            ("_sip._tcp.example.test", "SRV", f"10 0 {dead_port} dead.example.test."),
            ("_sip._tcp.example.test", "SRV", f"20 0 {live.port} live.example.test."),
            ("dead.example.test", "A", "127.0.0.1"),
            ("live.example.test", "A", "127.0.0.1"),
        ]
        async with (
            DNSServer(zone) as dns_server,
            Agent("sip:alice@127.0.0.1:0", resolver=dns_server.resolver()) as alice,
        ):
            answering = asyncio.create_task(_answer_one(bob))
            call = await alice.invite("sip:bob@example.test")
            response = await call.answered(timeout=10)
            assert response.status == 200
            await answering
            assert call.destination is not None
            assert (call.destination.transport, call.destination.port) == ("tcp", live.port)
            failovers = [e.summary for e in call.record.events if e.direction == "failover"]
            assert len(failovers) == 1
            assert str(dead_port) in failovers[0]
            assert call.record.succeeded
            await call.hangup()
            asked = {(name, rdtype) for name, rdtype, _ in dns_server.queries}
            assert ("example.test", "NAPTR") in asked
            assert ("_sip._tcp.example.test", "SRV") in asked


@pytest.mark.asyncio
async def test_call_over_websocket() -> None:
    async with (
        Agent("sip:bob@127.0.0.1:0", transport="ws") as bob,
        Agent("sip:alice@127.0.0.1:0", transport="ws") as alice,
    ):
        port = next(d.port for d in bob.listening if d.transport == "ws")
        answering = asyncio.create_task(_answer_one(bob))
        call = await alice.invite(f"sip:bob@127.0.0.1:{port};transport=ws")
        assert (await call.answered(timeout=5)).status == 200
        incoming = await answering
        assert incoming.flow.transport == "ws"
        await call.hangup()
        await incoming.wait_ended(5)
        assert alice.endpoint.transports.stats.connections_opened == 1
        assert bob.endpoint.transports.stats.connections_accepted == 1


@pytest.mark.asyncio
async def test_hold_unhold_and_session_timer_refresh() -> None:
    from sipwright.sip.sdp import SessionDescription

    async with Agent("sip:bob@127.0.0.1:0") as bob, Agent("sip:alice@127.0.0.1:0") as alice:
        answering = asyncio.create_task(_answer_one(bob))
        call = await alice.invite(f"sip:bob@127.0.0.1:{bob.listening[0].port}", session_expires=2)
        answer = await call.answered(timeout=5)
        incoming = await answering
        assert answer.headers.first("Session-Expires") == "2;refresher=uac"
        assert "timer" in (answer.headers.first("Require") or "")
        assert (await call.hold()).status == 200
        assert call.on_hold
        assert (await call.unhold()).status == 200
        assert not call.on_hold
        reinvites = [e.summary for e in incoming.record.events if e.summary.startswith("INVITE")]
        assert len(reinvites) == 3  # the call and the two re-INVITEs
        # The session refresh (at half of 2 s) arrives as one more re-INVITE.
        for _ in range(40):
            await asyncio.sleep(0.1)
            if any(e.direction == "refresh" for e in call.record.events):
                break
        assert any(e.summary == "session refresh 200" for e in call.record.events)
        assert call.session.local_sdp is not None
        sdp = SessionDescription.parse(bytes(call.session.local_sdp))
        assert sdp.effective_direction(sdp.media[0]) == "sendrecv"
        await call.hangup()
        await incoming.wait_ended(5)


@pytest.mark.asyncio
@pytest.mark.parametrize("transport", ["tls", "wss"])
async def test_call_over_tls_verifies_the_server(transport: str) -> None:
    import ssl

    import trustme

    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1", "localhost")
    server_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_cert.configure_cert(server_ssl)
    client_ssl = ssl.create_default_context()
    ca.configure_trust(client_ssl)
    async with (
        Agent("sip:bob@127.0.0.1:0", transport=transport, ssl_context=server_ssl) as bob,
        Agent("sip:alice@127.0.0.1:0", transport=transport, client_ssl=client_ssl) as alice,
        Agent("sip:eve@127.0.0.1:0", transport=transport) as untrusting,
    ):
        port = next(d.port for d in bob.listening if d.transport == transport)
        answering = asyncio.create_task(_answer_one(bob))
        call = await alice.invite(f"sips:bob@127.0.0.1:{port};transport={transport}")
        assert (await call.answered(timeout=5)).status == 200
        incoming = await answering
        assert incoming.flow.transport == transport
        await call.hangup()
        # Without our CA the peer's certificate is rejected (verification is the default).
        rejected = await untrusting.invite(f"sips:bob@127.0.0.1:{port};transport={transport}")
        with pytest.raises(CallFailed) as info:
            await rejected.answered(timeout=5)
        assert "CERTIFICATE_VERIFY_FAILED" in str(info.value) or "certificate" in str(info.value)


@pytest.mark.asyncio
async def test_oversized_header_block_closes_the_connection_not_the_agent() -> None:
    async with Agent("sip:bob@127.0.0.1:0", transport="tcp") as bob:
        port = next(d.port for d in bob.listening if d.transport == "tcp")
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        chunk = b"INVITE sip:bob@127.0.0.1 SIP/2.0\r\nX-Junk: " + b"a" * 65536
        closed = False
        try:
            for _ in range(160):  # up to 10 MB, but the agent hangs up long before
                writer.write(chunk)
                await writer.drain()
        except (ConnectionResetError, BrokenPipeError):
            closed = True
        if not closed:
            assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        assert bob.endpoint.transports.stats.malformed == 1
        async with Agent("sip:alice@127.0.0.1:0", transport="tcp") as alice:
            ok = await alice.options(f"sip:bob@127.0.0.1:{port};transport=tcp")
            assert ok.status == 200


@pytest.mark.asyncio
async def test_crlf_keepalive_ping_gets_a_pong_on_tcp() -> None:
    async with Agent("sip:bob@127.0.0.1:0", transport="tcp") as bob:
        port = next(d.port for d in bob.listening if d.transport == "tcp")
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"\r\n\r\n")  # RFC 5626 §4.4.1 ping
        await writer.drain()
        assert await asyncio.wait_for(reader.readexactly(2), 5) == b"\r\n"
        writer.close()
        await writer.wait_closed()


@pytest.mark.asyncio
async def test_call_over_ipv6() -> None:
    async with Agent("sip:bob@[::1]:0") as bob, Agent("sip:alice@[::1]:0") as alice:
        answering = asyncio.create_task(_answer_one(bob))
        call = await alice.invite(f"sip:bob@[::1]:{bob.listening[0].port}")
        assert (await call.answered(timeout=5)).status == 200
        incoming = await answering
        assert incoming.flow.remote[0] == "::1"
        assert "IN IP6 ::1" in incoming.request.body.decode()
        await call.hangup()
        await incoming.wait_ended(5)


@pytest.mark.asyncio
async def test_tel_uri_is_resolved_with_enum() -> None:
    async with Agent("sip:bob@127.0.0.1:0") as bob:
        port = bob.listening[0].port
        zone = [
            (
                "3.2.1.0.5.5.5.1.0.2.1.e164.arpa",
                "NAPTR",
                f'10 10 "u" "E2U+sip" "!^\\\\+(.*)$!sip:\\\\1@127.0.0.1:{port}!" .',
            )
        ]
        async with (
            DNSServer(zone) as dns_server,
            Agent("sip:alice@127.0.0.1:0", resolver=dns_server.resolver()) as alice,
        ):
            answering = asyncio.create_task(_answer_one(bob))
            call = await alice.invite("tel:+1-201-555-0123")
            assert (await call.answered(timeout=5)).status == 200
            incoming = await answering
            assert incoming.request.uri == f"sip:12015550123@127.0.0.1:{port}"
            await call.hangup()


@pytest.mark.asyncio
async def test_cancel_of_an_rfc2543_invite_without_branch() -> None:
    """§17.2.3 fallback: a CANCEL whose Via has no z9hG4bK branch still finds its
    INVITE (by Request-URI, tags, Call-ID, CSeq number and top Via)."""
    async with Agent("sip:bob@127.0.0.1:0") as bob:
        port = bob.listening[0].port
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            sock.bind(("127.0.0.1", 0))
            me = sock.getsockname()[1]
            common = (
                f"Via: SIP/2.0/UDP 127.0.0.1:{me}\r\n"
                "From: <sip:old@127.0.0.1>;tag=2543\r\nTo: <sip:bob@127.0.0.1>\r\n"
                "Call-ID: rfc2543-cancel@127.0.0.1\r\n"
            )
            invite = (
                f"INVITE sip:bob@127.0.0.1:{port} SIP/2.0\r\n{common}CSeq: 7 INVITE\r\n"
                "Contact: <sip:old@127.0.0.1>\r\nContent-Length: 0\r\n\r\n"
            )
            await loop.sock_sendto(sock, invite.encode(), ("127.0.0.1", port))
            incoming = await bob.next_call(timeout=5)
            await incoming.ring()
            cancel = (
                f"CANCEL sip:bob@127.0.0.1:{port} SIP/2.0\r\n{common}CSeq: 7 CANCEL\r\n"
                "Content-Length: 0\r\n\r\n"
            )
            await loop.sock_sendto(sock, cancel.encode(), ("127.0.0.1", port))
            statuses: dict[str, int] = {}
            while len(statuses) < 2:
                data = await asyncio.wait_for(loop.sock_recv(sock, 65535), 5)
                response = parse_message(data)
                assert isinstance(response, Response)
                if response.status >= 200:
                    statuses[response.cseq.method] = response.status
        assert statuses == {"CANCEL": 200, "INVITE": 487}
        assert incoming.cancelled


@pytest.mark.asyncio
async def test_503_fails_over_to_the_next_srv_target() -> None:
    async with (
        Agent("sip:busy@127.0.0.1:0") as overloaded,
        Agent("sip:bob@127.0.0.1:0") as bob,
    ):
        zone = [
            ("_sip._udp.example.test", "SRV", f"10 0 {overloaded.listening[0].port} a.test."),
            ("_sip._udp.example.test", "SRV", f"20 0 {bob.listening[0].port} b.test."),
            ("a.test", "A", "127.0.0.1"),
            ("b.test", "A", "127.0.0.1"),
        ]
        async with (
            DNSServer(zone) as dns_server,
            Agent("sip:alice@127.0.0.1:0", resolver=dns_server.resolver()) as alice,
        ):
            rejecting = asyncio.create_task(_answer_one(overloaded, code=503))
            answering = asyncio.create_task(_answer_one(bob))
            call = await alice.invite("sip:bob@example.test;transport=udp")
            assert (await call.answered(timeout=10)).status == 200
            await rejecting
            await answering
            assert [e.summary for e in call.record.events if e.direction == "failover"] == [
                f"udp:127.0.0.1:{overloaded.listening[0].port}: 503"
            ]
            await call.hangup()


# --- answered calls that never get their ACK (found by `sipwright fuzz -m INVITE`) -----


class RawPeer(asyncio.DatagramProtocol):
    """A caller written by hand on a UDP socket: sends what it is told, keeps what it
    gets, answers nothing by itself (so a BYE to it never gets a response)."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[bytes] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        self.port = int(self.transport.get_extra_info("sockname")[1])

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.received.put_nowait(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def drain(self) -> list[Request | Response]:
        """What arrived and was not read yet."""
        found = []
        while not self.received.empty():
            found.append(parse_message(self.received.get_nowait()))
        return found

    def send(self, data: bytes, port: int) -> None:
        assert self.transport is not None
        self.transport.sendto(data, ("127.0.0.1", port))

    async def next_message(self, timeout: float = 5.0) -> Request | Response:
        return parse_message(await asyncio.wait_for(self.received.get(), timeout))


async def raw_peer() -> RawPeer:
    loop = asyncio.get_running_loop()
    _, peer = await loop.create_datagram_endpoint(RawPeer, local_addr=("127.0.0.1", 0))
    return peer


def ack_for(invite: bytes, ok: Response) -> bytes:
    """The ACK for a 2xx (§13.2.2.4), written by hand from the INVITE we sent."""
    head = invite.decode().split("\r\n")
    uri = head[0].split()[1]
    lines = [f"ACK {uri} SIP/2.0"]
    for line in head[1:]:
        name = line.split(":", 1)[0].lower()
        if name == "via":
            lines.append(line.replace(";branch=z9hG4bK", ";branch=z9hG4bKack"))
        elif name in ("from", "call-id", "max-forwards"):
            lines.append(line)
        elif name == "cseq":
            lines.append(line.replace("INVITE", "ACK"))
    lines.append(f"To: {ok.headers.first('To')}")
    return ("\r\n".join([*lines, "Content-Length: 0", "", ""])).encode()


@contextmanager
def unretrieved_task_errors() -> Iterator[list[str]]:
    """Collect what the loop would print as "Task exception was never retrieved"."""
    loop = asyncio.get_running_loop()
    found: list[str] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: found.append(str(context.get("message"))))
    try:
        yield found
    finally:
        gc.collect()  # unretrieved task exceptions are reported when the task is freed
        loop.set_exception_handler(previous)


@pytest.mark.asyncio
async def test_closing_the_agent_abandons_unacked_calls_in_parallel_without_leaks() -> None:
    peer = await raw_peer()
    with unretrieved_task_errors() as leaked:
        bob = Agent("sip:bob@127.0.0.1:0")
        await bob.start()
        port = bob.listening[0].port
        calls = []
        for _ in range(5):
            invite, _ = peers.build_request("INVITE", "127.0.0.1", port, local_port=peer.port)
            peer.send(invite, port)
            call = await bob.next_call(timeout=5)
            await call.answer()
            calls.append(call)
        # Nobody ACKs: §15 forbids a BYE before the ACK, so close() cannot hang these
        # up; it waits once (not once per call) and abandons them.
        await asyncio.wait_for(bob.close(timeout=0.5), 10)
        assert all(call.is_ended and not call.acked.is_set() for call in calls)
        for call in calls:
            assert call.record.ended_by == "local"
            assert any("abandoned" in error for error in call.record.errors)
            assert call.dialog is not None
    peer.close()
    assert leaked == []
    got = [m.method if isinstance(m, Request) else m.status for m in peer.drain()]
    assert "BYE" not in got and 200 in got


@pytest.mark.asyncio
async def test_hangup_of_an_unacked_call_waits_for_the_ack_then_sends_bye() -> None:
    peer = await raw_peer()
    async with Agent("sip:bob@127.0.0.1:0") as bob:
        port = bob.listening[0].port
        invite, _ = peers.build_request("INVITE", "127.0.0.1", port, local_port=peer.port)
        peer.send(invite, port)
        call = await bob.next_call(timeout=5)
        await call.answer()
        ok = await peer.next_message()
        assert isinstance(ok, Response) and ok.status == 200
        hanging_up = asyncio.create_task(call.hangup())
        await asyncio.sleep(0.2)
        assert not hanging_up.done()  # §15: no BYE before the ACK
        assert not [m for m in peer.drain() if isinstance(m, Request) and m.method == "BYE"]
        peer.send(ack_for(invite, ok), port)
        while True:
            bye = await peer.next_message()
            if isinstance(bye, Request) and bye.method == "BYE":
                break
        peer.send(bytes(make_response(bye, 200)), port)
        await asyncio.wait_for(hanging_up, 5)
        assert call.acked.is_set() and call.record.ended_by == "local"
        assert call.record.errors == []
    peer.close()


@pytest.mark.asyncio
async def test_ack_timeout_sends_bye_and_a_failing_bye_ends_the_call_quietly() -> None:
    """§13.3.1.4: no ACK within 64*T1 -> BYE; the BYE gets no answer either (Timer F):
    the call still ends, with both problems in its record, and nothing leaks."""
    peer = await raw_peer()
    timers = TimerConfig(t1=0.01, t2=0.04)
    with unretrieved_task_errors() as leaked:
        async with Agent("sip:bob@127.0.0.1:0", timers=timers) as bob:
            port = bob.listening[0].port
            invite, _ = peers.build_request("INVITE", "127.0.0.1", port, local_port=peer.port)
            peer.send(invite, port)
            call = await bob.next_call(timeout=5)
            await call.answer()
            await call.wait_ended(10)
            assert "no ACK for the 2xx" in call.record.errors
            assert any(error.startswith("BYE failed") for error in call.record.errors)
    peer.close()
    assert leaked == []
    assert {m.method for m in peer.drain() if isinstance(m, Request)} == {"BYE"}


@pytest.mark.asyncio
async def test_invite_without_contact_gets_400_and_is_not_a_call() -> None:
    peer = await raw_peer()
    async with Agent("sip:bob@127.0.0.1:0") as bob:
        port = bob.listening[0].port
        invite, _ = peers.build_request("INVITE", "127.0.0.1", port, local_port=peer.port)
        invite = b"".join(
            line for line in invite.splitlines(keepends=True) if not line.startswith(b"Contact:")
        )
        peer.send(invite, port)
        response = await peer.next_message()
        assert isinstance(response, Response) and response.status == 400
        assert "Contact" in (response.headers.first("Warning") or "")
        assert bob.calls == [] and bob.endpoint.malformed_requests == 1
    peer.close()


# --- the `sipwright answer` command ---------------------------------------------------


def _sipwright(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sipwright", *args],
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip


def test_answer_bad_code_is_a_one_line_usage_error() -> None:
    result = _sipwright("answer", "--code", "99", timeout=30)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and "--code" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.peers
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_answer_stops_cleanly_after_fuzzed_invites(
    tmp_path: Path, sip_port: int, stop: signal.Signals
) -> None:
    """`sipwright fuzz -m INVITE` leaves answered calls that are never ACKed; a stop
    then hangs up what it can at once (bounded) and exits 0 with no traceback."""
    argv = [sys.executable, "-m", "sipwright", "answer", "-l", f"udp:127.0.0.1:{sip_port}"]
    with peers.Peer("answer", argv, tmp_path / "answer.log") as callee:
        callee.wait_for_log("^listening on", timeout=10)
        fuzz = _sipwright(
            "fuzz", f"sip:127.0.0.1:{sip_port}", "--seed", "3", "--count", "100",
            "--method", "INVITE", timeout=60,
        )  # fmt: skip
        assert fuzz.returncode == 0, fuzz.stdout + fuzz.stderr
        callee.wait_for_log("^call from", timeout=10)
        callee.process.send_signal(stop)
        code = callee.wait_exit(timeout=20)
        log = callee.log_text()
    assert code == 0, log
    assert "Traceback" not in log and "never retrieved" not in log
    assert "stopping: hanging up" in log
    assert " 0 failed" in log
