"""SDES-SRTP (RFC 4568) through libsrtp (pylibsrtp): one context per call direction.

Keys come from ``a=crypto`` inline key-params as master key || master salt.  Our
outbound stream uses our own key, the inbound one the key the peer offered or
answered (RFC 4568 §6.1: each side sends with the key it announced).  Packets that
fail authentication (a wrong key, tampering) are dropped and counted, never played.
"""

from __future__ import annotations

from dataclasses import dataclass

import pylibsrtp

from sipwright.media.errors import MediaError

__all__ = ["SRTP_SUITES", "SrtpContext", "SrtpCounters"]

#: SDES crypto-suite name -> (libsrtp profile, master key + salt length).
SRTP_SUITES: dict[str, tuple[int, int]] = {
    "AES_CM_128_HMAC_SHA1_80": (pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80, 30),
    "AES_CM_128_HMAC_SHA1_32": (pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32, 30),
    "AEAD_AES_128_GCM": (pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM, 28),
    "AEAD_AES_256_GCM": (pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM, 44),
}


@dataclass(slots=True)
class SrtpCounters:
    auth_failures: int = 0  # SRTP packets that failed authentication (or replay check)
    rtcp_auth_failures: int = 0
    last_error: str = ""


class SrtpContext:
    """Protects what we send and unprotects what we receive, for one suite."""

    def __init__(self, suite: str, local_key: bytes, remote_key: bytes) -> None:
        if suite not in SRTP_SUITES:
            raise MediaError(f"crypto-suite {suite} is not supported")
        profile, length = SRTP_SUITES[suite]
        for name, key in (("our", local_key), ("the peer's", remote_key)):
            if len(key) != length:
                raise MediaError(f"{suite} needs a {length}-byte key||salt; {name} has {len(key)}")
        self.suite = suite
        self.counters = SrtpCounters()
        tx = pylibsrtp.Policy(
            key=local_key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile
        )
        rx = pylibsrtp.Policy(
            key=remote_key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND, srtp_profile=profile
        )
        self._tx = pylibsrtp.Session(tx)
        self._rx = pylibsrtp.Session(rx)

    def protect(self, rtp: bytes) -> bytes:
        return self._tx.protect(rtp)

    def protect_rtcp(self, rtcp: bytes) -> bytes:
        return self._tx.protect_rtcp(rtcp)

    def unprotect(self, srtp: bytes) -> bytes | None:
        """The RTP packet, or None (counted) when it does not authenticate."""
        try:
            return self._rx.unprotect(srtp)
        except pylibsrtp.Error as error:
            self.counters.auth_failures += 1
            self.counters.last_error = str(error)
            return None

    def unprotect_rtcp(self, srtcp: bytes) -> bytes | None:
        try:
            return self._rx.unprotect_rtcp(srtcp)
        except pylibsrtp.Error as error:
            self.counters.rtcp_auth_failures += 1
            self.counters.last_error = str(error)
            return None
