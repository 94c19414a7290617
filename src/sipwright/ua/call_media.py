"""A call's media: offer/answer for an RTP session, SDES-SRTP policy and DTMF.

``MediaOptions`` say what a call should do with media (codecs, SRTP policy as in
pjsua's ``--use-srtp``/``--srtp-secure``, what to play and record, how to send DTMF);
``CallMedia`` owns the call's :class:`~sipwright.media.session.MediaSession`, builds
the SDP offer or answer around its real port and keys, and starts the session from
the peer's description (RFC 3264, RFC 4568).
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sipwright.media.codecs import AudioCodec, codec_problem, make_codec
from sipwright.media.errors import MediaError
from sipwright.media.pcap_source import PcapStream
from sipwright.media.session import MediaSession, StreamParams
from sipwright.media.sources import AudioSource
from sipwright.media.srtp import SRTP_SUITES, SrtpContext
from sipwright.sip.errors import ParseError
from sipwright.sip.sdp import MediaDescription, SessionDescription
from sipwright.sip.sdp_negotiation import NegotiationError, build_answer, build_offer, make_crypto

__all__ = ["CallMedia", "DtmfMode", "MediaOptions", "SrtpPolicy"]

SrtpPolicy = Literal["off", "optional", "mandatory"]
DtmfMode = Literal["rfc4733", "info", "inband"]
SRTP_POLICIES: tuple[SrtpPolicy, ...] = ("off", "optional", "mandatory")
DTMF_MODES: tuple[DtmfMode, ...] = ("rfc4733", "info", "inband")
#: Offered in this order; answered with the offerer's first one we know (RFC 4568 §7.1).
DEFAULT_SUITES = (
    "AES_CM_128_HMAC_SHA1_80",
    "AES_CM_128_HMAC_SHA1_32",
    "AEAD_AES_128_GCM",
    "AEAD_AES_256_GCM",
)
_SECURE_TRANSPORTS = ("tls", "wss")


@dataclass(frozen=True, slots=True)
class MediaOptions:
    """What a call does with media.  ``enabled=False`` keeps the old SDP-only calls."""

    enabled: bool = True
    codecs: tuple[str, ...] = ("PCMU", "PCMA")
    srtp: SrtpPolicy = "off"
    srtp_secure: bool = False  # SRTP only over TLS signalling (pjsua --srtp-secure=1)
    srtp_suites: tuple[str, ...] = DEFAULT_SUITES
    source: AudioSource | PcapStream | None = None  # None: silence
    echo: bool = False
    record_received: Path | None = None
    record_sent: Path | None = None
    dtmf_mode: DtmfMode = "rfc4733"
    detect_inband: bool = True

    def __post_init__(self) -> None:
        if not self.codecs:
            raise ValueError("at least one codec is needed")
        for codec in self.codecs:
            problem = codec_problem(codec)
            if problem is not None:
                raise ValueError(problem)
        if self.srtp not in SRTP_POLICIES:
            raise ValueError(f"SRTP policy must be one of {SRTP_POLICIES}, not {self.srtp!r}")
        if self.dtmf_mode not in DTMF_MODES:
            raise ValueError(f"DTMF mode must be one of {DTMF_MODES}, not {self.dtmf_mode!r}")
        bad = [s for s in self.srtp_suites if s not in SRTP_SUITES]
        if bad:
            raise ValueError(f"unsupported crypto-suites {bad}")


def _audio(sd: SessionDescription) -> MediaDescription | None:
    return next((m for m in sd.media if m.media == "audio" and not m.rejected), None)


class CallMedia:
    """The media half of one call."""

    def __init__(self, options: MediaOptions, transport: str) -> None:
        self.options = options
        self.transport = transport
        self.session: MediaSession | None = None
        self._keys: dict[int, tuple[str, bytes]] = {}  # our a=crypto tag -> (suite, key)
        self._answer_srtp: SrtpContext | None = None
        self.started = False

    @property
    def wants_srtp(self) -> bool:
        if self.options.srtp == "off":
            return False
        if self.options.srtp_secure and self.transport not in _SECURE_TRANSPORTS:
            if self.options.srtp == "mandatory":
                raise NegotiationError("--srtp-secure: SRTP needs TLS signalling (sips:)")
            return False  # optional: fall back to RTP rather than send keys in clear
        return True

    async def open(self, host: str) -> int:
        if self.session is None:
            options = self.options
            self.session = MediaSession(
                host,
                source=options.source,
                echo=options.echo,
                record_received=options.record_received,
                record_sent=options.record_sent,
                detect_inband=options.detect_inband,
            )
            await self.session.open()
        return self.session.port

    # --- offer/answer ------------------------------------------------------------------

    def offer(self, host: str) -> SessionDescription:
        """Our offer: RTP/AVP, or with SRTP optional RTP/AVP + a=crypto (best effort, as
        pjsua does), or with SRTP mandatory RTP/SAVP (RFC 4568 §3.1.4)."""
        assert self.session is not None
        crypto = []
        proto = "RTP/AVP"
        if self.wants_srtp:
            for tag, suite in enumerate(self.options.srtp_suites, 1):
                line = make_crypto(tag, suite)
                self._keys[tag] = (suite, line.key_salt)
                crypto.append(line)
            proto = "RTP/SAVP" if self.options.srtp == "mandatory" else "RTP/AVP"
        return build_offer(
            address=host,
            port=self.session.port,
            codecs=(*self.options.codecs, "telephone-event"),
            crypto=crypto,
            proto=proto,
        )

    def answer(self, offer: SessionDescription, host: str) -> SessionDescription:
        """Our answer to ``offer``; NegotiationError (488) when the policy refuses it."""
        assert self.session is not None
        offered = _audio(offer)
        if offered is None:
            raise NegotiationError("no audio stream offered")
        srtp = self.wants_srtp
        has_crypto = bool(offered.get_attributes("crypto"))
        if self.options.srtp == "mandatory" and not has_crypto:
            raise NegotiationError("SRTP is mandatory and the offer has no a=crypto")
        chosen: list[tuple[str, bytes]] = []

        def key_provider(suite: str) -> bytes:
            key = secrets.token_bytes(SRTP_SUITES[suite][1])
            chosen.append((suite, key))
            return key

        answer = build_answer(
            offer,
            address=host,
            port=self.session.port,
            codecs=(*self.options.codecs, "telephone-event"),
            crypto_suites=self.options.srtp_suites if srtp else (),
            key_provider=key_provider,
        )
        mine = _audio(answer)
        if mine is None:
            raise NegotiationError("no audio stream accepted")
        if chosen:
            suite, key = chosen[0]
            tag = mine.crypto[0].tag
            theirs = next(c for c in offered.crypto if c.tag == tag)
            self._answer_srtp = SrtpContext(suite, key, theirs.key_salt)
        if self.options.srtp == "mandatory" and self._answer_srtp is None:
            raise NegotiationError("SRTP is mandatory and no offered crypto-suite is usable")
        return answer

    def start(self, local: SessionDescription, remote: SessionDescription) -> None:
        """Start (or update, on a re-offer) the session from both descriptions."""
        if self.session is None:
            return
        params = self._params(local, remote)
        if self.started:
            self.session.update(params)
        else:
            self.started = True
            self.session.start(params)

    def _params(self, local: SessionDescription, remote: SessionDescription) -> StreamParams:
        ours, theirs = _audio(local), _audio(remote)
        if ours is None or theirs is None:
            raise NegotiationError("the answer accepted no audio stream")
        codec = self._codec(theirs)
        dtmf = next(
            (m.payload_type for m in theirs.codecs if m.encoding.lower() == "telephone-event"),
            None,
        )
        srtp = self._srtp(theirs)
        connection = remote.effective_connection(theirs)
        address = connection.address.split("/")[0] if connection else None
        remote_addr = None
        if address and address not in ("0.0.0.0", "::") and theirs.port:
            remote_addr = (address, theirs.port)
        remote_rtcp = None
        with contextlib.suppress(ParseError):
            if theirs.rtcp is not None and address:
                remote_rtcp = (theirs.rtcp.address or address, theirs.rtcp.port)
        direction = remote.effective_direction(theirs)
        return StreamParams(
            codec,
            remote_addr,
            remote_rtcp,
            dtmf_payload_type=dtmf,
            srtp=srtp,
            ptime_ms=theirs.ptime or 20,
            send=direction in ("sendrecv", "recvonly"),
        )

    def _codec(self, theirs: MediaDescription) -> AudioCodec:
        """The first of the peer's formats that we offered or accepted too (the answer's
        order decides, RFC 3264 §6.1), with its payload type (dynamic for Opus)."""
        wanted = {name.lower() for name in self.options.codecs}
        for rtpmap in theirs.codecs:
            name = rtpmap.encoding.lower()
            if name not in wanted:
                continue
            if name == "opus":  # RFC 7587 §7: always opus/48000/2, in a dynamic PT
                if rtpmap.clock_rate == 48000 and rtpmap.payload_type >= 96:
                    return make_codec(name, rtpmap.payload_type)
                continue
            codec = make_codec(name)
            if rtpmap.payload_type == codec.payload_type:  # the static PT of RFC 3551
                return codec
        raise NegotiationError(
            f"none of {', '.join(self.options.codecs)} in the peer's description"
        )

    def _srtp(self, theirs: MediaDescription) -> SrtpContext | None:
        if self._answer_srtp is not None:  # we answered: keys fixed in answer()
            return self._answer_srtp
        if not self._keys:
            return None
        for line in theirs.crypto:  # their answer: the tag says which of ours it took
            if line.tag in self._keys and self._keys[line.tag][0] == line.suite:
                suite, key = self._keys[line.tag]
                self._answer_srtp = SrtpContext(suite, key, line.key_salt)
                return self._answer_srtp
        if self.options.srtp == "mandatory":
            raise NegotiationError("SRTP is mandatory and the answer has no matching a=crypto")
        return None

    # --- DTMF and the end -----------------------------------------------------------------

    async def send_dtmf(self, digits: str, mode: DtmfMode) -> None:
        if self.session is None or not self.started:
            raise MediaError("no media session to send DTMF on")
        await self.session.send_dtmf(digits, mode=mode)

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
