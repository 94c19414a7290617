"""RFC 3264 offer/answer for audio streams, with SDES-SRTP keys (RFC 4568).

:func:`build_offer` makes an initial offer, :func:`build_answer` answers one, and
:func:`hold` / :func:`unhold` / :func:`reoffer` derive re-offers from a previous
description.  Codecs come from a small registry of well-known audio codecs (RFC 3551
static payload types and common dynamic ones), looked up by name.

Randomness (session ids, SRTP keys) comes from :mod:`secrets`; pass explicit values to
get reproducible output.  Nothing here reads the clock.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from sipwright.sip.errors import ParseError
from sipwright.sip.sdp import (
    DIRECTIONS,
    Attribute,
    Connection,
    Crypto,
    Direction,
    KeyParam,
    MediaDescription,
    MediaField,
    Origin,
    RtpMap,
    SessionDescription,
    Timing,
)

__all__ = [
    "CODECS",
    "DEFAULT_CODECS",
    "SRTP_KEY_LENGTHS",
    "Codec",
    "KeyProvider",
    "NegotiationError",
    "answer_direction",
    "build_answer",
    "build_offer",
    "hold",
    "lookup_codec",
    "make_crypto",
    "reoffer",
    "unhold",
]


class NegotiationError(ParseError):
    """An offer we cannot accept at all: no stream with a common codec/profile/key.

    It is a :class:`ParseError` so that a UAS answers with ``status_hint`` as it does for
    malformed bodies; the hint is 488 Not Acceptable Here (RFC 3261 §21.4.26).
    """

    def __init__(self, message: str, status_hint: int = 488, line: str | None = None) -> None:
        super().__init__(message, status_hint, line)


@dataclass(frozen=True, slots=True)
class Codec:
    """A codec we can offer or accept.

    ``payload_type`` is the static PT of RFC 3551 (below 96) or, for dynamic codecs, the
    number customarily offered (e.g. 101 for telephone-event); ``fmtp`` is what we put in
    our own a=fmtp line.
    """

    name: str
    clock_rate: int
    channels: int = 1
    payload_type: int | None = None
    fmtp: str | None = None

    @property
    def is_static(self) -> bool:
        return self.payload_type is not None and self.payload_type < 96

    @property
    def is_auxiliary(self) -> bool:
        """DTMF events (RFC 4733) and comfort noise (RFC 3389) cannot carry a call alone."""
        return self.name.lower() in ("telephone-event", "cn")

    def matches(self, rtpmap: RtpMap) -> bool:
        # Encoding names are case-insensitive media subtypes (RFC 4855 §3).
        return (
            rtpmap.encoding.lower() == self.name.lower()
            and rtpmap.clock_rate == self.clock_rate
            and rtpmap.channels == self.channels
        )

    def rtpmap(self, payload_type: int) -> RtpMap:
        return RtpMap(payload_type, self.name, self.clock_rate, self.channels)


#: Well-known audio codecs by lower-case name.  Static ones follow RFC 3551 §6 table 4
#: (G722's 8000 Hz is the RTP clock, not its 16 kHz sampling, RFC 3551 §4.5.2).
CODECS: dict[str, Codec] = {
    codec.name.lower(): codec
    for codec in (
        Codec("PCMU", 8000, payload_type=0),
        Codec("GSM", 8000, payload_type=3),
        Codec("G723", 8000, payload_type=4),
        Codec("PCMA", 8000, payload_type=8),
        Codec("G722", 8000, payload_type=9),
        Codec("CN", 8000, payload_type=13),
        Codec("G729", 8000, payload_type=18),
        Codec("telephone-event", 8000, payload_type=101, fmtp="0-16"),  # DTMF+flash, RFC 4733 §3.2
        Codec("opus", 48000, 2, payload_type=111, fmtp="useinbandfec=1"),  # RFC 7587 §6.1
        Codec("iLBC", 8000, fmtp="mode=30"),  # RFC 3952 §5
        Codec("speex", 8000),  # RFC 5574
        Codec("G726-32", 8000),  # RFC 3551 §4.5.4
        Codec("AMR", 8000, fmtp="octet-align=1"),  # RFC 4867 §8.1
        Codec("AMR-WB", 16000, fmtp="octet-align=1"),  # RFC 4867 §8.1
    )
}
DEFAULT_CODECS: tuple[str, ...] = ("PCMU", "PCMA", "telephone-event")

#: Master key + master salt length in bytes per SDES crypto-suite: RFC 4568 §6.2 (AES_CM
#: and F8 128-bit), RFC 6188 (AES-192/256) and RFC 7714 (AEAD GCM, with a 12-byte salt).
SRTP_KEY_LENGTHS: dict[str, int] = {
    "AES_CM_128_HMAC_SHA1_80": 30,
    "AES_CM_128_HMAC_SHA1_32": 30,
    "F8_128_HMAC_SHA1_80": 30,
    "AES_192_CM_HMAC_SHA1_80": 38,
    "AES_192_CM_HMAC_SHA1_32": 38,
    "AES_256_CM_HMAC_SHA1_80": 46,
    "AES_256_CM_HMAC_SHA1_32": 46,
    "AEAD_AES_128_GCM": 28,
    "AEAD_AES_256_GCM": 44,
}

#: Gives the master key || salt to use for a crypto-suite.
KeyProvider = Callable[[str], bytes]

_ANSWERABLE_PROTOS = ("RTP/AVP", "RTP/AVPF", "RTP/SAVP", "RTP/SAVPF")


def lookup_codec(spec: str | Codec) -> Codec:
    """A codec from the registry by name, or ``"name/rate[/channels]"`` for any other."""
    if isinstance(spec, Codec):
        return spec
    name, *rest = spec.split("/")
    known = CODECS.get(name.lower())
    if not rest:
        if known is None:
            raise ValueError(f"unknown codec {spec!r}; give it as name/rate[/channels]")
        return known
    if len(rest) > 2 or not all(part.isdigit() for part in rest):
        raise ValueError(f"bad codec {spec!r}; expected name/rate[/channels]")
    rate, channels = int(rest[0]), int(rest[1]) if len(rest) == 2 else 1
    if known is not None and (known.clock_rate, known.channels) == (rate, channels):
        return known
    # A static PT names one rate and channel count (RFC 3551 §6); any other needs a dynamic one.
    fmtp = known.fmtp if known is not None else None
    return Codec(name, rate, channels, None, fmtp)


def make_crypto(
    tag: int = 1,
    suite: str = "AES_CM_128_HMAC_SHA1_80",
    key_salt: bytes | None = None,
    *,
    lifetime: int | None = None,
    mki: int | None = None,
    mki_length: int | None = None,
) -> Crypto:
    """An ``a=crypto`` value with an inline key, random (from :mod:`secrets`) by default."""
    if key_salt is None:
        if suite not in SRTP_KEY_LENGTHS:
            raise ValueError(f"unknown crypto-suite {suite!r}: pass key_salt")
        key_salt = secrets.token_bytes(SRTP_KEY_LENGTHS[suite])
    elif len(key_salt) != SRTP_KEY_LENGTHS.get(suite, len(key_salt)):
        raise ValueError(f"{suite} needs a {SRTP_KEY_LENGTHS[suite]}-byte key||salt")
    return Crypto(tag, suite, (KeyParam(key_salt, lifetime, mki, mki_length),))


def answer_direction(offered: Direction, wanted: Direction = "sendrecv") -> Direction:
    """The direction to answer ``offered`` with when we would like ``wanted`` (RFC 3264 §6.1).

    We may send only if the offerer receives, and receive only if it sends: sendonly is
    answered recvonly, recvonly sendonly, inactive inactive.
    """
    send = wanted in ("sendrecv", "sendonly") and offered in ("sendrecv", "recvonly")
    recv = wanted in ("sendrecv", "recvonly") and offered in ("sendrecv", "sendonly")
    if send:
        return "sendrecv" if recv else "sendonly"
    return "recvonly" if recv else "inactive"


def _addrtype(address: str) -> str:
    try:
        return "IP6" if ipaddress.ip_address(address).version == 6 else "IP4"
    except ValueError:  # a host name (RFC 8866 §5.7 allows FQDNs)
        return "IP6" if ":" in address else "IP4"


def _origin(
    username: str, session_id: int | None, session_version: int | None, address: str
) -> Origin:
    # RFC 8866 §5.2 only asks for a unique sess-id; 62 random bits fit any stack's int64.
    sess_id = secrets.randbits(62) if session_id is None else session_id
    version = sess_id if session_version is None else session_version
    return Origin(username, sess_id, version, "IN", _addrtype(address), address)


def _check(port: int, direction: Direction) -> None:
    if not 0 <= port <= 65535:
        raise ValueError(f"port {port} is not in 0..65535")
    if direction not in DIRECTIONS:
        raise ValueError(f"bad direction {direction!r}")


def _audio_lines(
    pairs: Sequence[tuple[Codec, int]],
    fmtps: dict[int, str],
    ptime: int | None,
    direction: Direction,
    crypto: Sequence[Crypto],
) -> tuple[MediaField, ...]:
    lines: list[MediaField] = []
    for codec, pt in pairs:
        # rtpmap even for static PTs: RFC 8866 §6.6 allows it and it helps human readers.
        lines.append(codec.rtpmap(pt).to_attribute())
        if pt in fmtps:
            lines.append(Attribute("fmtp", f"{pt} {fmtps[pt]}"))
    if ptime is not None:
        lines.append(Attribute("ptime", str(ptime)))
    lines.append(Attribute(direction))
    lines.extend(c.to_attribute() for c in crypto)
    return tuple(lines)


def build_offer(
    *,
    address: str,
    port: int,
    codecs: Sequence[str | Codec] = DEFAULT_CODECS,
    ptime: int | None = 20,
    direction: Direction = "sendrecv",
    session_id: int | None = None,
    session_version: int | None = None,
    crypto: Sequence[Crypto] | None = None,
    proto: str = "RTP/AVP",
    username: str = "-",
    session_name: str = "-",
) -> SessionDescription:
    """An offer with one audio stream (RFC 3264 §5).

    Dynamic codecs get their customary PT when free, else the lowest free one from 96
    (RFC 3551 §3).  ``crypto`` lines are added as given; SDES keys belong with RTP/SAVP
    (RFC 4568 §6), but ``proto`` is left to the caller so that "best effort" SRTP
    offers (RTP/AVP with a=crypto) can be built too.  ``session_version`` defaults to the
    session id, as many stacks do.
    """
    _check(port, direction)
    chosen: dict[tuple[str, int, int], Codec] = {}
    for codec in map(lookup_codec, codecs):
        chosen.setdefault((codec.name.lower(), codec.clock_rate, codec.channels), codec)
    if not chosen:
        raise ValueError("an offer needs at least one codec")
    used = {c.payload_type for c in chosen.values() if c.is_static}
    pairs: list[tuple[Codec, int]] = []
    for codec in chosen.values():
        pt = codec.payload_type
        if pt is None or (not codec.is_static and pt in used):
            pt = next((n for n in range(96, 128) if n not in used), None)
            if pt is None:
                raise ValueError("more dynamic codecs than dynamic payload types (96-127)")
        used.add(pt)
        pairs.append((codec, pt))
    fmtps = {pt: codec.fmtp for codec, pt in pairs if codec.fmtp is not None}
    formats = tuple(str(pt) for _, pt in pairs)
    fields = _audio_lines(pairs, fmtps, ptime, direction, crypto or ())
    return SessionDescription.new(
        origin=_origin(username, session_id, session_version, address),
        session_name=session_name,
        connection=Connection("IN", _addrtype(address), address),
        media=(MediaDescription("audio", port, proto, formats, fields),),
    )


def _reject(offered: MediaDescription) -> MediaDescription:
    # RFC 3264 §6: a refused stream keeps its m= line with port 0 and the offered formats.
    return MediaDescription(offered.media, 0, offered.proto, offered.formats)


def _pick_crypto(offered: MediaDescription, suites: Sequence[str]) -> Crypto | None:
    """The first offered crypto line we can use (RFC 4568 §7.1.2: offerer's preference)."""
    try:
        lines = offered.crypto
    except ParseError:
        return None  # unreachable for parsed offers: a=crypto is checked while parsing
    for line in lines:
        keys = line.key_params
        length = SRTP_KEY_LENGTHS.get(line.suite)
        if line.suite not in suites or any(k.method.lower() != "inline" for k in keys):
            continue
        if length is None or all(len(k.key_salt) == length for k in keys):
            return line
    return None


def _answer_media(
    offer: SessionDescription,
    offered: MediaDescription,
    port: int,
    ours: Sequence[Codec],
    *,
    direction: Direction,
    ptime: int | None,
    crypto_suites: Sequence[str],
    key_provider: KeyProvider,
) -> MediaDescription | str:
    """Our answer to one offered stream, or the reason we refuse it."""
    if offered.media != "audio":
        return f"{offered.media} streams are not supported"
    if offered.rejected:
        return "the offerer disabled the stream"
    proto = offered.proto.upper()
    if proto not in _ANSWERABLE_PROTOS:  # e.g. UDP/TLS/RTP/SAVPF needs DTLS-SRTP
        return f"transport {offered.proto} is not supported"
    chosen = _pick_crypto(offered, crypto_suites)
    if "SAVP" in proto and chosen is None:
        return "no acceptable a=crypto line for SRTP"
    pairs: list[tuple[Codec, int]] = []
    offered_codecs = offered.codecs
    for codec in ours:  # our preference order (RFC 3264 §6.1 lets the answerer reorder)
        for rtpmap in offered_codecs:
            if codec.matches(rtpmap) and all(pt != rtpmap.payload_type for _, pt in pairs):
                # Keep the offerer's PT number for the codec (RFC 3264 §6.1).
                pairs.append((replace(codec, name=rtpmap.encoding), rtpmap.payload_type))
                break
    if not any(not codec.is_auxiliary for codec, _ in pairs):
        offered_names = " ".join(f"{m.encoding}/{m.clock_rate}" for m in offered_codecs)
        return f"no common codec (offered: {offered_names or 'none'})"
    pairs.sort(key=lambda pair: pair[0].is_auxiliary)  # stable: real codecs first
    offered_fmtps = offered.fmtps
    fmtps: dict[int, str] = {}
    for codec, pt in pairs:
        fmtp = codec.fmtp if codec.fmtp is not None else offered_fmtps.get(pt)
        if fmtp is not None:
            fmtps[pt] = fmtp
    answer_crypto: list[Crypto] = []
    if chosen is not None:  # same tag and suite, our own key (RFC 4568 §7.1.2)
        key = key_provider(chosen.suite)
        answer_crypto.append(make_crypto(chosen.tag, chosen.suite, key))
    fields = _audio_lines(
        pairs,
        fmtps,
        ptime if ptime is not None else offered.ptime,
        answer_direction(offer.effective_direction(offered), direction),
        answer_crypto,
    )
    formats = tuple(str(pt) for _, pt in pairs)
    return MediaDescription("audio", port, offered.proto, formats, fields)


def _random_key(suite: str) -> bytes:
    return secrets.token_bytes(SRTP_KEY_LENGTHS[suite])


def build_answer(
    offer: SessionDescription,
    *,
    address: str,
    port: int | Sequence[int],
    codecs: Sequence[str | Codec] = DEFAULT_CODECS,
    direction: Direction = "sendrecv",
    ptime: int | None = None,
    crypto_suites: Sequence[str] = (),
    key_provider: KeyProvider | None = None,
    session_id: int | None = None,
    session_version: int | None = None,
    username: str = "-",
    session_name: str = "-",
) -> SessionDescription:
    """Answer ``offer`` (RFC 3264 §6) for the audio we support.

    The answer has one m= line per offered one, in the same order (§6).  Audio streams
    are accepted while ``port`` (one port, or one per stream to accept) lasts; anything
    else, and audio with no common codec, transport or crypto-suite, is refused with
    port 0.  Accepted streams list the common codecs in ``codecs`` order under the
    offerer's payload type numbers, then telephone-event/CN if both sides have them.
    ``ptime`` defaults to the offer's.  SRTP: the first offered a=crypto whose suite is in
    ``crypto_suites`` is answered with its tag and a key from ``key_provider`` (random by
    default); RTP/SAVP without such a line is refused.

    Raises :class:`NegotiationError` (488) if the offer has streams but none is accepted.
    """
    ports = [port] if isinstance(port, int) else list(port)
    for number in ports:
        _check(number, direction)
    ours = [lookup_codec(spec) for spec in codecs]
    unknown = [s for s in crypto_suites if s not in SRTP_KEY_LENGTHS]
    if key_provider is None and unknown:
        raise ValueError(f"unknown crypto-suites {unknown}: pass a key_provider")
    media: list[MediaDescription] = []
    reasons: list[str] = []
    for index, offered in enumerate(offer.media):
        accepted = sum(not md.rejected for md in media)
        answer: MediaDescription | str = "no port left for another stream"
        if accepted < len(ports):
            answer = _answer_media(
                offer,
                offered,
                ports[accepted],
                ours,
                direction=direction,
                ptime=ptime,
                crypto_suites=crypto_suites,
                key_provider=key_provider or _random_key,
            )
        if isinstance(answer, str):
            reasons.append(f"m= line {index + 1}: {answer}")
            answer = _reject(offered)
        media.append(answer)
    # Refusing everything is a failure, unless the offer itself disabled every stream.
    if all(md.rejected for md in media) and not all(md.rejected for md in offer.media):
        raise NegotiationError("offer not acceptable: " + "; ".join(reasons))
    return SessionDescription.new(
        origin=_origin(username, session_id, session_version, address),
        session_name=session_name,
        connection=Connection("IN", _addrtype(address), address),
        # The answer's t= must equal the offer's (RFC 3264 §6).
        timing=[Timing(t.start, t.stop) for t in offer.timings],
        media=media,
    )


def reoffer(
    previous: SessionDescription, *, direction: Direction | None = None
) -> SessionDescription:
    """A re-offer (RFC 3264 §8): ``previous`` with sess-version + 1 and, if given, every
    active stream set to ``direction`` (any session-level direction is dropped)."""
    sd = previous.bump_version()
    if direction is None:
        return sd
    media = [md if md.rejected else md.with_direction(direction) for md in sd.media]
    return sd.with_direction(None).with_media(media)


_HOLD: dict[Direction, Direction] = {"sendrecv": "sendonly", "recvonly": "inactive"}
_UNHOLD: dict[Direction, Direction] = {"sendonly": "sendrecv", "inactive": "recvonly"}


def _redirect(sd: SessionDescription, mapping: dict[Direction, Direction]) -> SessionDescription:
    media: list[MediaDescription] = []
    for md in sd.media:
        current = sd.effective_direction(md)
        changed = mapping.get(current, current)
        media.append(md if md.rejected else md.with_direction(changed))
    return sd.bump_version().with_direction(None).with_media(media)


def hold(previous: SessionDescription) -> SessionDescription:
    """Put a call on hold (RFC 3264 §8.4): sendrecv becomes sendonly, recvonly inactive."""
    return _redirect(previous, _HOLD)


def unhold(previous: SessionDescription) -> SessionDescription:
    """Take a call off hold, undoing :func:`hold`: sendonly becomes sendrecv, inactive
    recvonly."""
    return _redirect(previous, _UNHOLD)
