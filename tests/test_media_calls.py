"""Calls between two Agents with media: the Python API for RTP, SRTP policy and DTMF.

Over real loopback sockets; every wait is bounded and nothing asserts timings.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace

import pytest

from sipwright.media.srtp import SrtpContext
from sipwright.ua import Agent, CallFailed, IncomingCall, MediaOptions, OutgoingCall

SUITE = "AES_CM_128_HMAC_SHA1_80"


async def wait_until(check: object, timeout: float = 5.0) -> None:
    async def poll() -> None:
        while not check():  # type: ignore[operator]
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


async def connect(
    alice: Agent, bob: Agent, caller: MediaOptions, callee: MediaOptions
) -> tuple[OutgoingCall, IncomingCall]:
    async def answer() -> IncomingCall:
        incoming = await bob.next_call(timeout=5)
        await incoming.answer(media=callee)
        return incoming

    answering = asyncio.create_task(answer())
    call = await alice.invite(f"sip:bob@127.0.0.1:{bob.listening[0].port}", media=caller)
    try:
        await call.answered(timeout=5)
    except CallFailed:
        answering.cancel()
        await asyncio.gather(answering, return_exceptions=True)
        raise
    return call, await asyncio.wait_for(answering, 5)


async def collect(call: IncomingCall | OutgoingCall, count: int) -> str:
    digits = ""
    async for found in call.dtmf():
        digits += found.digit
        if len(digits) >= count:
            return digits
    return digits


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", ["rfc4733", "info", "inband"])
async def test_srtp_mandatory_call_with_dtmf_both_ways(mode: str) -> None:
    options = MediaOptions(srtp="mandatory", codecs=("PCMA",))
    async with Agent("sip:bob@127.0.0.1:0") as bob, Agent("sip:alice@127.0.0.1:0") as alice:
        call, incoming = await connect(alice, bob, options, options)
        assert call.remote_sdp is not None and call.remote_sdp.media[0].proto == "RTP/SAVP"
        heard = asyncio.create_task(collect(incoming, 5))
        await asyncio.wait_for(call.send_dtmf("1234#", mode), 10)  # type: ignore[arg-type]
        assert await asyncio.wait_for(heard, 5) == "1234#"
        back = asyncio.create_task(collect(call, 2))
        await asyncio.wait_for(incoming.send_dtmf("*9", mode), 10)  # type: ignore[arg-type]
        assert await asyncio.wait_for(back, 5) == "*9"
        assert call.media is not None and incoming.media is not None
        await wait_until(lambda: call.media.stats.packets_received > 10)
        await call.hangup()
        await incoming.wait_ended(5)
    for record in (call.record, incoming.record):
        assert record.media is not None
        assert record.media.srtp_suite == SUITE and record.media.codec == "PCMA"
        assert record.media.packets_received > 0 and record.media.srtp_auth_failures == 0
    assert "".join(d.digit for d in incoming.record.digits) == "1234#"
    assert {d.method for d in incoming.record.digits} == {mode}
    data = incoming.record.to_dict()
    assert [d["digit"] for d in data["dtmf"]] == list("1234#")
    assert data["media"]["srtp_suite"] == SUITE and data["media"]["mos"] > 4


@pytest.mark.asyncio
async def test_wrong_key_shows_as_authentication_failures() -> None:
    options = MediaOptions(srtp="mandatory")
    async with Agent("sip:bob@127.0.0.1:0") as bob, Agent("sip:alice@127.0.0.1:0") as alice:
        call, incoming = await connect(alice, bob, options, options)
        assert call.media is not None and incoming.media is not None
        await wait_until(lambda: incoming.media.stats.packets_received > 5)
        # From now on alice encrypts with a key other than the one she announced.
        params = call.media.params
        assert params is not None
        wrong = SrtpContext(SUITE, os.urandom(30), os.urandom(30))
        call.media.update(replace(params, srtp=wrong))
        before = incoming.media.stats.packets_received
        await wait_until(lambda: incoming.media.stats.srtp_auth_failures >= 10)
        assert incoming.media.stats.packets_received <= before + 2  # in flight at the switch
        await call.hangup()


@pytest.mark.asyncio
async def test_srtp_policies_refuse_what_they_must() -> None:
    async with Agent("sip:bob@127.0.0.1:0") as bob, Agent("sip:alice@127.0.0.1:0") as alice:
        # Mandatory callee, plain caller: 488 (like pjsua --use-srtp=2).
        with pytest.raises(CallFailed) as failed:
            await connect(alice, bob, MediaOptions(), MediaOptions(srtp="mandatory"))
        assert failed.value.status == 488
        # Optional caller: RTP/AVP with a=crypto; a plain callee answers without keys.
        call, incoming = await connect(alice, bob, MediaOptions(srtp="optional"), MediaOptions())
        assert call.invite is not None and b"a=crypto:1 " in call.invite.body
        assert b"RTP/AVP" in call.invite.body
        await wait_until(
            lambda: incoming.media is not None and incoming.media.stats.packets_received > 3
        )
        assert call.media is not None and call.media.stats.srtp_suite is None
        await call.hangup()
        # Optional both sides: SRTP is used.
        both = MediaOptions(srtp="optional", srtp_suites=("AEAD_AES_128_GCM",))
        call, incoming = await connect(alice, bob, both, both)
        assert call.media is not None and call.media.stats.srtp_suite == "AEAD_AES_128_GCM"
        await call.hangup()
        # --srtp-secure over UDP: SRTP mandatory cannot be had, so no INVITE goes out.
        secure = MediaOptions(srtp="mandatory", srtp_secure=True)
        with pytest.raises(CallFailed, match="TLS"):
            await connect(alice, bob, secure, secure)


@pytest.mark.asyncio
async def test_media_can_be_disabled() -> None:
    off = MediaOptions(enabled=False)
    async with Agent("sip:bob@127.0.0.1:0") as bob, Agent("sip:alice@127.0.0.1:0") as alice:
        call, incoming = await connect(alice, bob, off, off)
        assert call.media is None and incoming.media is None
        await call.hangup()
    assert call.record.media is None and call.record.to_dict()["media"] is None
