"""The async Agent against another Agent over real loopback sockets."""

from __future__ import annotations

import asyncio
import socket

import pytest

from sipwright.sip.message import Response, parse_message
from sipwright.ua import Agent, CallFailed, IncomingCall

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
