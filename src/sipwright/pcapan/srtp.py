"""SRTP decryption with SDES keys (RFC 4568) via libsrtp (pylibsrtp).

``a=crypto:<tag> <suite> inline:<base64 key||salt>[|lifetime][|MKI:len]`` in the SDP
of the capture gives the master key and salt each side sends with (§6.1).  A stream
is tried with the keys announced for its own address first, then with every other
key of the capture: the authentication tag tells which one is right, and a key that
authenticates no packet is reported as wrong.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import pylibsrtp

from sipwright.pcapan.capture import Packet
from sipwright.pcapan.rtp import parse_rtp

__all__ = [
    "DecryptResult",
    "SrtpKey",
    "SrtpKeyError",
    "decrypt_packets",
    "parse_crypto",
    "parse_inline_key",
]

# RFC 4568 §6.2 suites libsrtp knows: name -> (profile, master key+salt octets)
SUITES = {
    "AES_CM_128_HMAC_SHA1_80": (pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80, 30),
    "AES_CM_128_HMAC_SHA1_32": (pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32, 30),
    "AEAD_AES_128_GCM": (pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM, 28),
    "AEAD_AES_256_GCM": (pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM, 44),
}


class SrtpKeyError(ValueError):
    """A key that cannot be used (bad base64, wrong length, unknown suite)."""


@dataclass(frozen=True, slots=True)
class SrtpKey:
    suite: str
    key: bytes  # master key || master salt

    def session(self) -> pylibsrtp.Session:
        profile, _ = SUITES[self.suite]
        policy = pylibsrtp.Policy(
            key=self.key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND, srtp_profile=profile
        )
        return pylibsrtp.Session(policy=policy)


def parse_inline_key(text: str, suite: str = "AES_CM_128_HMAC_SHA1_80") -> SrtpKey:
    """``inline:BASE64[|...]`` or bare base64, for ``suite``."""
    if suite not in SUITES:
        raise SrtpKeyError(f"unknown crypto suite {suite!r} (known: {', '.join(SUITES)})")
    value = text.strip().removeprefix("inline:").split("|")[0]
    try:
        key = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise SrtpKeyError(f"key is not base64: {value[:40]!r}") from None
    wanted = SUITES[suite][1]
    if len(key) != wanted:
        raise SrtpKeyError(f"{suite} wants {wanted} octets of key and salt, got {len(key)}")
    return SrtpKey(suite, key)


def parse_crypto(attribute: str) -> SrtpKey | None:
    """An ``a=crypto`` value (without ``crypto:``); None for suites we cannot use."""
    parts = attribute.split()
    if len(parts) < 3 or parts[1] not in SUITES or not parts[2].startswith("inline:"):
        return None
    try:
        return parse_inline_key(parts[2], parts[1])
    except SrtpKeyError:
        return None


@dataclass(slots=True)
class DecryptResult:
    plain: dict[int, bytes] = field(default_factory=dict)  # frame number -> RTP packet
    streams: dict[tuple[tuple[str, int], int], SrtpKey | None] = field(default_factory=dict)
    failed: dict[tuple[tuple[str, int], int], int] = field(default_factory=dict)

    @property
    def undecrypted_streams(self) -> list[tuple[tuple[str, int], int]]:
        return [key for key, found in self.streams.items() if found is None]


def decrypt_packets(
    packets: Sequence[Packet],
    keys_by_address: dict[tuple[str, int], list[SrtpKey]],
    all_keys: Iterable[SrtpKey],
    *,
    media: set[tuple[str, int]] | None = None,
) -> DecryptResult:
    """Decrypt every SRTP packet (per source address and SSRC, one key)."""
    result = DecryptResult()
    everything = list(dict.fromkeys(all_keys))
    sessions: dict[tuple[tuple[str, int], int], pylibsrtp.Session] = {}
    for packet in packets:
        if packet.transport != "udp":
            continue
        if media is not None and not (packet.source in media or packet.destination in media):
            continue
        header = parse_rtp(packet.payload)
        if header is None:
            continue
        stream = (packet.source, header.ssrc)
        if stream not in result.streams:
            result.streams[stream] = None
        session = sessions.get(stream)
        if session is None:
            candidates = list(dict.fromkeys(keys_by_address.get(packet.source, []) + everything))
            for key in candidates:
                trial = key.session()
                try:
                    plain = trial.unprotect(packet.payload)
                except pylibsrtp.Error:
                    continue
                sessions[stream] = trial
                result.streams[stream] = key
                result.plain[packet.number] = plain
                break
            else:
                result.failed[stream] = result.failed.get(stream, 0) + 1
            continue
        try:
            result.plain[packet.number] = session.unprotect(packet.payload)
        except pylibsrtp.Error:
            result.failed[stream] = result.failed.get(stream, 0) + 1
    return result
