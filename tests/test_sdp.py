"""SDP model, parser and serializer (RFC 8866/4566) and RFC 3264 offer/answer."""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipwright.sip.errors import ParseError
from sipwright.sip.sdp import (
    DIRECTIONS,
    STATIC_RTPMAPS,
    Attribute,
    Bandwidth,
    Connection,
    Crypto,
    Direction,
    KeyParam,
    Line,
    MediaDescription,
    Origin,
    Rtcp,
    RtpMap,
    SessionDescription,
    Timing,
)
from sipwright.sip.sdp_negotiation import (
    CODECS,
    Codec,
    NegotiationError,
    answer_direction,
    build_answer,
    build_offer,
    hold,
    lookup_codec,
    make_crypto,
    reoffer,
    unhold,
)

VECTORS = Path(__file__).parent / "vectors" / "sdp"
VECTOR_NAMES = sorted(path.name for path in VECTORS.glob("*.sdp"))
# The line-ending style each file is meant to have, so that a checkout that rewrites line
# endings fails loudly here instead of quietly testing something else.
EOL = dict.fromkeys(VECTOR_NAMES, "\r\n") | {"linphone_lf_only.sdp": "\n"}

KEY_30 = bytes(range(30))
HEAD = "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\n"


def vector(name: str) -> bytes:
    return (VECTORS / name).read_bytes()


def parse_vector(name: str) -> SessionDescription:
    return SessionDescription.parse(vector(name))


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(old) == len(new)
    return [(a, b) for a, b in zip(old, new, strict=True) if a != b]


# -- round trip --------------------------------------------------------------------------


def test_there_are_enough_vectors() -> None:
    assert len(VECTOR_NAMES) >= 6


@pytest.mark.parametrize("name", VECTOR_NAMES)
def test_vector_round_trips_byte_for_byte(name: str) -> None:
    data = vector(name)
    sd = SessionDescription.parse(data)
    assert bytes(sd) == data
    assert str(SessionDescription.parse(data.decode())) == data.decode()
    assert SessionDescription.parse(bytes(sd)) == sd


@pytest.mark.parametrize("name", VECTOR_NAMES)
def test_vector_keeps_its_line_ending_style(name: str) -> None:
    data = vector(name)
    eol = EOL[name].encode()
    assert data.count(b"\n") == data.count(eol), f"{name}: line endings were rewritten"
    assert SessionDescription.parse(data).eol == EOL[name]


def test_missing_final_line_ending_is_kept() -> None:
    data = vector("polycom_no_final_eol.sdp")
    assert not data.endswith(b"\n")
    sd = SessionDescription.parse(data)
    assert bytes(sd) == data
    assert sd.media[0].rtpmap(127) == RtpMap(127, "telephone-event", 8000)


@pytest.mark.parametrize(
    "text",
    [
        "v=0\r\no=- 1 1 IN IP4 h\ns=-\r\nt=0 0\n",  # mixed endings
        "v=0\no=- 1 1 IN IP4 h\ns=-\nt=0 0\n\n\n",  # trailing empty lines
        "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\n\r\n",
        "v=0\r\no=-  0001   02 IN IP4 h\r\ns=\r\nt=0 0\r\nm=audio  4000/2 RTP/AVP 0 \r\n",
        "v=0\r\no=- 1 1 IN IP4 h\r\ns=caf\u00e9 \u2603\r\nt=0 0\r\nX=unknown line\r\n",
        "v=0\no=- 1 1 IN IP4 h\ns=-\nt=0 0\nr=7d 1h 0 25h\nz=2882844526 -1h\nk=prompt\n",
    ],
)
def test_unusual_but_parseable_text_round_trips(text: str) -> None:
    assert str(SessionDescription.parse(text)) == text
    assert bytes(SessionDescription.parse(text.encode())) == text.encode()


def test_non_utf8_octets_round_trip() -> None:
    data = b"v=0\r\no=- 1 1 IN IP4 h\r\ns=Caf\xe9\r\nt=0 0\r\n"
    assert bytes(SessionDescription.parse(data)) == data


# -- field values and accessors ----------------------------------------------------------


def test_asterisk_offer_fields() -> None:
    sd = parse_vector("asterisk_offer.sdp")
    assert sd.version == 0
    assert sd.origin == Origin("-", 1837272466, 1837272466, "IN", "IP4", "192.168.1.10")
    assert sd.session_name == "Asterisk"
    assert sd.connection == Connection("IN", "IP4", "192.168.1.10")
    assert sd.timing == Timing(0, 0)
    assert sd.attributes == ()
    (md,) = sd.media
    assert (md.media, md.port, md.port_count, md.proto) == ("audio", 14672, None, "RTP/AVP")
    assert md.formats == ("0", "8", "3", "101")
    assert md.payload_types == (0, 8, 3, 101)
    assert md.rtpmap(101) == RtpMap(101, "telephone-event", 8000)
    assert md.rtpmap(3) == RtpMap(3, "GSM", 8000)
    assert md.rtpmap(96) is None
    assert md.fmtp(101) == "0-16"
    assert md.fmtp(0) is None
    assert (md.ptime, md.maxptime) == (20, 150)
    assert md.direction == "sendrecv"
    assert md.rtcp is None
    assert md.crypto == ()
    assert [c.encoding for c in md.codecs] == ["PCMU", "PCMA", "GSM", "telephone-event"]
    assert sd.effective_connection(0) == sd.connection
    assert not md.rejected


def test_freeswitch_crypto_lines() -> None:
    sd = parse_vector("freeswitch_srtp_offer.sdp")
    md = sd.media[0]
    assert md.proto == "RTP/SAVP"
    assert md.rtcp == Rtcp(24581, "IN", "IP4", "10.0.0.5")
    first, second = md.crypto
    assert (first.tag, first.suite) == (1, "AES_CM_128_HMAC_SHA1_80")
    (key,) = first.key_params
    assert key.method == "inline"
    assert len(key.key_salt) == 30  # 16-byte master key + 14-byte salt (RFC 4568 §6.2.1)
    assert key.key_salt == base64.b64decode("7f0lWnShbdGnjwALkrM44+soLbUnZV0xBVcL1lAn")
    assert key.lifetime == 2**31
    assert (key.mki, key.mki_length) == (1, 1)
    assert first.session_params == ()
    assert (second.tag, second.suite) == (2, "AES_CM_128_HMAC_SHA1_32")
    assert len(second.key_salt) == 30
    assert second.key_params[0].lifetime is None
    assert second.key_params[0].mki is None
    # The original text is preserved and reused.
    raw = md.get_attributes("crypto")[0].value
    assert first.raw == raw
    assert first.value == raw
    assert first.to_attribute() == md.get_attributes("crypto")[0]
    assert [c.encoding for c in md.codecs] == ["G722", "PCMU", "PCMA", "telephone-event", "CN"]


def test_sipp_uac_fields() -> None:
    sd = parse_vector("sipp_uac.sdp")
    assert sd.origin == Origin("user1", 53655765, 2353687637, "IN", "IP4", "127.0.0.1")
    assert sd.session_name == "-"
    md = sd.media[0]
    assert (md.port, md.formats) == (6000, ("0",))
    assert md.codecs == (RtpMap(0, "PCMU", 8000),)
    assert md.direction is None
    assert sd.effective_direction(md) == "sendrecv"  # RFC 3264 §5.1 default


def test_chrome_webrtc_offer_fields() -> None:
    sd = parse_vector("chrome_webrtc_offer.sdp")
    assert sd.origin.sess_id == 4611731400430051336
    assert sd.connection is None
    msid = "3b7b9a4c-1f2e-4c1a-9d8e-7f6a5b4c3d2e"
    assert sd.get_attribute("group") == Attribute("group", "BUNDLE 0")
    assert sd.get_attribute("extmap-allow-mixed") == Attribute("extmap-allow-mixed")
    assert sd.get_attribute("msid-semantic") == Attribute("msid-semantic", f" WMS {msid}")
    md = sd.media[0]
    assert (md.port, md.proto) == (9, "UDP/TLS/RTP/SAVPF")
    assert sd.effective_connection(md) == Connection("IN", "IP4", "0.0.0.0")
    assert md.rtcp == Rtcp(9, "IN", "IP4", "0.0.0.0")
    assert md.rtpmap(111) == RtpMap(111, "opus", 48000, 2)
    assert md.fmtp(111) == "minptime=10;useinbandfec=1"
    assert md.fmtp(63) == "111/111"
    assert md.rtpmap(110) == RtpMap(110, "telephone-event", 48000)
    assert md.rtpmap(126) == RtpMap(126, "telephone-event", 8000)
    assert len(md.get_attributes("extmap")) == 4
    assert len(md.get_attributes("ssrc")) == 2
    ice_pwd = md.get_attribute("ice-pwd")
    assert ice_pwd is not None and ice_pwd.value == "YbBfgVnMHy00bUDADGzGNWAq"
    fingerprint = md.get_attribute("fingerprint")
    assert fingerprint is not None and fingerprint.value is not None
    assert fingerprint.value.startswith("sha-256 28:9E:")
    assert md.get_attribute("rtcp-mux") == Attribute("rtcp-mux")
    assert md.direction == "sendrecv"
    assert md.payload_types == (111, 63, 9, 0, 8, 13, 110, 126)


def test_cisco_gateway_fields() -> None:
    sd = parse_vector("cisco_gateway_offer.sdp")
    assert sd.session_name == "SIP Call"
    assert sd.bandwidths == (Bandwidth("AS", 64),)
    md = sd.media[0]
    assert md.bandwidths == (Bandwidth("TIAS", 64000),)
    assert md.connection == Connection("IN", "IP4", "10.1.1.2")
    assert sd.effective_connection(md) == Connection("IN", "IP4", "10.1.1.2")
    assert md.fmtp(18) == "annexb=no"
    assert md.rtpmap(19) == RtpMap(19, "CN", 8000)
    caps = [a.value for a in md.get_attributes("X-cap")]
    assert caps == [" 1 audio RTP/AVP 100", " 2 image udptl t38"]
    assert md.get_attribute("X-cisco-media") == Attribute("X-cisco-media", "umoh")
    assert md.direction is None


def test_linphone_lf_only_fields() -> None:
    sd = parse_vector("linphone_lf_only.sdp")
    assert sd.eol == "\n"
    assert sd.get_attribute("record") == Attribute("record", "off")
    md = sd.media[0]
    assert md.rtpmap(96) == RtpMap(96, "opus", 48000, 2)
    assert md.fmtps == {96: "useinbandfec=1", 97: "vbr=on", 98: "vbr=on"}
    rates = {m.payload_type: m.clock_rate for m in md.codecs if m.encoding == "telephone-event"}
    assert rates == {101: 48000, 99: 16000, 100: 8000}


def test_audio_video_fields() -> None:
    sd = parse_vector("audio_video.sdp")
    audio, video = sd.media
    assert (audio.media, video.media) == ("audio", "video")
    assert video.proto == "RTP/AVPF"
    assert sd.effective_connection(audio) == Connection("IN", "IP4", "203.0.113.7")
    assert sd.effective_connection(video) == Connection("IN", "IP4", "203.0.113.8")
    assert video.bandwidths == (Bandwidth("AS", 1920), Bandwidth("TIAS", 1920000))
    assert video.fmtp(96) == "profile-level-id=42e01f;packetization-mode=1"
    assert audio.rtpmap(97) == RtpMap(97, "iLBC", 8000)
    assert audio.codecs[0] == STATIC_RTPMAPS[0]


def test_ipv6_fields() -> None:
    sd = parse_vector("ipv6.sdp")
    assert (sd.origin.addrtype, sd.origin.address) == ("IP6", "2001:db8::1")
    assert sd.connection == Connection("IN", "IP6", "::1")
    md = sd.media[0]
    assert md.ptime == 30
    assert md.rtcp == Rtcp(5005, "IN", "IP6", "::1")
    assert sd.effective_direction(0) == "recvonly"


def test_rfc4566_example_fields() -> None:
    sd = parse_vector("rfc4566_example.sdp")
    assert sd.origin.sess_version == 2890842807
    assert Line("i", "A Seminar on the session description protocol") in sd.fields
    assert Line("e", "j.doe@example.com (Jane Doe)") in sd.fields
    assert sd.connection == Connection("IN", "IP4", "224.2.17.12/127")
    assert sd.timing == Timing(2873397496, 2873404696)
    assert sd.direction == "recvonly"
    audio, video = sd.media
    assert audio.fields == ()
    assert audio.direction is None
    assert [sd.effective_direction(md) for md in sd.media] == ["recvonly", "recvonly"]
    assert audio.codecs == (RtpMap(0, "PCMU", 8000),)
    assert video.codecs == (RtpMap(99, "h263-1998", 90000),)


def test_formats_of_non_rtp_media_are_strings() -> None:
    text = HEAD + (
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
        "a=fmtp:webrtc-datachannel max-message-size=262144\r\n"
    )
    md = SessionDescription.parse(text).media[0]
    assert md.formats == ("webrtc-datachannel",)
    assert md.payload_types == ()
    assert md.codecs == ()
    assert md.fmtps == {}


# -- edits re-render only what changed ---------------------------------------------------


def test_changing_the_port_rewrites_only_the_m_line() -> None:
    sd = parse_vector("asterisk_offer.sdp")
    changed = sd.with_media([dataclasses.replace(sd.media[0], port=0)])
    assert changed_lines(str(sd), str(changed)) == [
        ("m=audio 14672 RTP/AVP 0 8 3 101\r\n", "m=audio 0 RTP/AVP 0 8 3 101\r\n")
    ]


def test_bump_version_rewrites_only_the_o_line_in_lf_style() -> None:
    sd = parse_vector("linphone_lf_only.sdp")
    bumped = sd.bump_version()
    assert bumped.origin.sess_version == 1574
    assert changed_lines(str(sd), str(bumped)) == [
        ("o=alice 2398 1573 IN IP4 192.168.1.20\n", "o=alice 2398 1574 IN IP4 192.168.1.20\n")
    ]


def test_odd_spacing_is_kept_until_the_line_changes() -> None:
    text = "v=0\r\no=-  007 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio  4000 RTP/AVP 0\r\n"
    sd = SessionDescription.parse(text)
    assert sd.origin.sess_id == 7
    assert str(sd) == text
    # Lines that ended in the document's style follow it, so this converts to LF.
    assert str(dataclasses.replace(sd, eol="\n")) == text.replace("\r\n", "\n")
    moved = sd.with_media([dataclasses.replace(sd.media[0], port=4002)]).bump_version()
    assert str(moved) == ("v=0\r\no=- 7 2 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 4002 RTP/AVP 0\r\n")


def test_with_direction_replaces_in_place_or_appends() -> None:
    sd = parse_vector("asterisk_offer.sdp")
    held = sd.with_media([sd.media[0].with_direction("sendonly")])
    assert changed_lines(str(sd), str(held)) == [("a=sendrecv\r\n", "a=sendonly\r\n")]
    example = parse_vector("rfc4566_example.sdp")
    audio = example.media[0].with_direction("inactive")
    assert audio.fields == (Attribute("inactive"),)
    assert example.with_direction(None).direction is None
    assert example.with_direction("sendonly").get_attribute("sendonly") == Attribute("sendonly")


def test_added_lines_follow_rfc_8866_order() -> None:
    sd = parse_vector("chrome_webrtc_offer.sdp")
    with_c = sd.with_connection(Connection("IN", "IP4", "198.51.100.1"))
    assert str(with_c).startswith(
        "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\n"
        "c=IN IP4 198.51.100.1\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
    )
    lf = parse_vector("linphone_lf_only.sdp")
    added = lf.with_media([lf.media[0].with_added_attribute(Attribute("ptime", "20"))])
    assert str(added) == vector("linphone_lf_only.sdp").decode() + "a=ptime:20\n"
    md = MediaDescription("audio", 1, "RTP/AVP", ("0",), (Attribute("sendrecv"),))
    md = md.with_connection(Connection("IN", "IP4", "h")).with_attribute("ptime", "20")
    assert [str(f) for f in md.fields] == ["c=IN IP4 h", "a=sendrecv", "a=ptime:20"]
    assert md.with_connection(None).connection is None


def test_attribute_edits() -> None:
    sd = parse_vector("freeswitch_srtp_offer.sdp")
    md = sd.media[0]
    plain = md.without_attributes("crypto")
    assert plain.crypto == ()
    assert len(plain.fields) == len(md.fields) - 2
    faster = md.with_attribute("ptime", "10")
    assert faster.ptime == 10
    assert changed_lines(str(sd), str(sd.with_media([faster]))) == [
        ("a=ptime:20\r\n", "a=ptime:10\r\n")
    ]
    rekeyed = plain.with_added_attribute(make_crypto(1, key_salt=KEY_30).to_attribute())
    assert rekeyed.crypto[0].key_salt == KEY_30
    assert sd.with_attribute("tool", "sipwright").get_attribute("tool") == Attribute(
        "tool", "sipwright"
    )


def test_appending_after_an_unterminated_last_line() -> None:
    sd = parse_vector("polycom_no_final_eol.sdp")
    md = sd.media[0].with_added_attribute(Attribute("ptime", "20"))
    assert str(sd.with_media([md])) == vector("polycom_no_final_eol.sdp").decode() + (
        "\r\na=ptime:20\r\n"
    )


def test_build_from_scratch() -> None:
    origin = Origin("-", 1, 2, "IN", "IP4", "h")
    sd = SessionDescription.new(origin=origin, eol="\n")
    assert str(sd) == "v=0\no=- 1 2 IN IP4 h\ns=-\nt=0 0\n"
    assert SessionDescription.parse(str(sd)) == sd
    with pytest.raises(ValueError, match="t="):
        SessionDescription((Line("v", "0"), origin, Line("s", "-")))
    with pytest.raises(ValueError, match="v="):
        SessionDescription((origin, Line("s", "-"), Timing()))


# -- value types -------------------------------------------------------------------------


def test_crypto_render_and_parse() -> None:
    crypto = Crypto.parse(
        "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32"
    )
    (key,) = crypto.key_params
    assert (key.lifetime, key.mki, key.mki_length) == (2**20, 1, 32)
    assert dataclasses.replace(crypto, tag=5).value == (
        "5 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32"
    )
    built = Crypto(2, "AES_CM_128_HMAC_SHA1_32", (KeyParam(KEY_30, 1000),), ("KDR=1",))
    assert built.value == (
        "2 AES_CM_128_HMAC_SHA1_32 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd|1000 KDR=1"
    )
    assert Crypto.parse(built.value) == built
    # Unpadded base64, tabs between fields, several keys and an unknown key method.
    odd = Crypto.parse("3\tAES_256_CM_HMAC_SHA1_80  inline:QUJD;inline:QUI|7:4;uri:http://k")
    assert [k.key_salt for k in odd.key_params[:2]] == [b"ABC", b"AB"]
    assert odd.key_params[1].lifetime is None and odd.key_params[1].mki == 7
    assert odd.key_params[2] == KeyParam(b"", method="uri", info="http://k")
    assert odd.value == "3\tAES_256_CM_HMAC_SHA1_80  inline:QUJD;inline:QUI|7:4;uri:http://k"


@pytest.mark.parametrize(
    "value",
    [
        "1 AES_CM_128_HMAC_SHA1_80",
        "x AES_CM_128_HMAC_SHA1_80 inline:QUJD",
        "1234567890 AES_CM_128_HMAC_SHA1_80 inline:QUJD",
        "1 AES_CM_128_HMAC_SHA1_80 inline:QUJD|2^x",
        "1 AES_CM_128_HMAC_SHA1_80 inline:QUJD|1:2|3",
        "1 AES_CM_128_HMAC_SHA1_80 inline:QUJD|1|2|3",
        "1 AES_CM_128_HMAC_SHA1_80 inline:Q",
        "1 AES_CM_128_HMAC_SHA1_80 inline:QU=JD",
        "1 AES_CM_128_HMAC_SHA1_80 inline",
        "1 AES_CM_128_HMAC_SHA1_80 inline:QUJD;",
    ],
)
def test_bad_crypto_values(value: str) -> None:
    with pytest.raises(ParseError):
        Crypto.parse(value)


def test_rtpmap_and_rtcp_values() -> None:
    assert RtpMap.parse("111 opus/48000/2").value == "111 opus/48000/2"
    assert RtpMap(0, "PCMU", 8000).to_attribute() == Attribute("rtpmap", "0 PCMU/8000")
    assert Rtcp(53020).value == "53020"
    assert Rtcp.parse("53020 IN IP4 126.16.64.4").to_attribute() == Attribute(
        "rtcp", "53020 IN IP4 126.16.64.4"
    )
    assert STATIC_RTPMAPS[9] == RtpMap(9, "G722", 8000)
    assert STATIC_RTPMAPS[18] == RtpMap(18, "G729", 8000)


# -- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "number", "bad"),
    [
        ("o=- 1 1 IN IP4 h\r\nv=0\r\n", 1, "o=- 1 1 IN IP4 h"),
        ("v=0\r\no=- 1 IN IP4 h\r\n", 2, "o=- 1 IN IP4 h"),
        ("v=0\r\no=- x 1 IN IP4 h\r\n", 2, "o=- x 1 IN IP4 h"),
        ("v=zero\r\n", 1, "v=zero"),
        ("v=0\r\nv=0\r\n", 2, "v=0"),
        ("v=0\r\no=- 1 1 IN IP4 h\r\no=- 1 1 IN IP4 h\r\n", 3, "o=- 1 1 IN IP4 h"),
        ("v=0\r\n\r\no=- 1 1 IN IP4 h\r\n", 2, ""),
        ("v=0\r\nthis is not sdp\r\n", 2, "this is not sdp"),
        ("v=0\r\n1=x\r\n", 2, "1=x"),
        ("v=0\r\nc=IN IP4\r\n", 2, "c=IN IP4"),
        ("v=0\r\nb=AS\r\n", 2, "b=AS"),
        ("v=0\r\nb=AS:fast\r\n", 2, "b=AS:fast"),
        ("v=0\r\nt=0\r\n", 2, "t=0"),
        ("v=0\r\na=\r\n", 2, "a="),
        ("v=0\r\ns=a\rb\r\n", 2, "s=a\rb"),
        (HEAD + "m=audio\r\n", 5, "m=audio"),
        (HEAD + "m=audio 4000 RTP/AVP\r\n", 5, "m=audio 4000 RTP/AVP"),
        (HEAD + "m=audio port RTP/AVP 0\r\n", 5, "m=audio port RTP/AVP 0"),
        (HEAD + "m=audio 70000 RTP/AVP 0\r\n", 5, "m=audio 70000 RTP/AVP 0"),
        (HEAD + "m=audio 4000/x RTP/AVP 0\r\n", 5, "m=audio 4000/x RTP/AVP 0"),
        (HEAD + "m=audio -1 RTP/AVP 0\r\n", 5, "m=audio -1 RTP/AVP 0"),
        (HEAD + "m=audio 4000 RTP/AVP PCMU\r\n", 5, "m=audio 4000 RTP/AVP PCMU"),
        (HEAD + "m=audio 4000 RTP/AVP 128\r\n", 5, "m=audio 4000 RTP/AVP 128"),
        (HEAD + "m=audio 1 RTP/AVP 0\r\nt=0 0\r\n", 6, "t=0 0"),
        (HEAD + "m=audio 1 RTP/AVP 0\r\ns=x\r\n", 6, "s=x"),
        (HEAD + "m=audio 1 RTP/AVP 0\r\na=rtpmap:x PCMU/8000\r\n", 6, "a=rtpmap:x PCMU/8000"),
        (HEAD + "m=audio 1 RTP/AVP 0\r\na=rtpmap:0 PCMU\r\n", 6, "a=rtpmap:0 PCMU"),
        (HEAD + "m=audio 1 RTP/AVP 0\r\na=rtpmap\r\n", 6, "a=rtpmap"),
        (HEAD + "m=audio 1 RTP/AVP 0\r\na=ptime:fast\r\n", 6, "a=ptime:fast"),
        (HEAD + "m=audio 1 RTP/AVP 0\r\na=rtcp:99999\r\n", 6, "a=rtcp:99999"),
        (HEAD + "m=audio 1 RTP/AVP 0\r\na=fmtp: 0\r\n", 6, "a=fmtp: 0"),
        (HEAD + "m=audio 1 RTP/AVP 0\r\na=crypto:1 X inline:!!\r\n", 6, "a=crypto:1 X inline:!!"),
    ],
)
def test_malformed_line_is_reported_with_its_number(text: str, number: int, bad: str) -> None:
    with pytest.raises(ParseError) as info:
        SessionDescription.parse(text)
    assert info.value.status_hint == 400
    assert info.value.line == bad
    assert info.value.message.startswith(f"line {number}: ")


@pytest.mark.parametrize(
    ("text", "missing"),
    [
        ("v=0\r\ns=-\r\nt=0 0\r\n", "o="),
        ("v=0\r\no=- 1 1 IN IP4 h\r\nt=0 0\r\n", "s="),
        ("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\n", "t="),
        ("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nm=audio 1 RTP/AVP 0\r\n", "t="),
    ],
)
def test_missing_mandatory_line(text: str, missing: str) -> None:
    with pytest.raises(ParseError, match=f"missing mandatory {missing}") as info:
        SessionDescription.parse(text)
    assert info.value.status_hint == 400
    assert info.value.line is None


@pytest.mark.parametrize("data", [b"", "", "\r\n\r\n", "v=0\ud800\r\n"])
def test_empty_or_unencodable_input(data: bytes | str) -> None:
    with pytest.raises(ParseError):
        SessionDescription.parse(data)


# -- property tests ----------------------------------------------------------------------

SDP_LINES = [
    line
    for name in VECTOR_NAMES
    for line in vector(name).decode().replace("\r\n", "\n").split("\n")
    if line
]
EOLS = st.sampled_from(["\r\n", "\n", "\r", ""])


def check_parse(data: bytes | str) -> None:
    """Either a ParseError, or a description that renders back to exactly ``data``."""
    try:
        sd = SessionDescription.parse(data)
    except ParseError:
        return
    rendered: bytes | str = bytes(sd) if isinstance(data, bytes) else str(sd)
    assert rendered == data
    assert SessionDescription.parse(data) == sd


@given(st.binary(max_size=400))
def test_any_bytes_parse_or_raise_parse_error(data: bytes) -> None:
    check_parse(data)


@given(st.text(max_size=400))
def test_any_text_parses_or_raises_parse_error(text: str) -> None:
    check_parse(text)


@st.composite
def sdp_like(draw: st.DrawFn) -> str:
    """Real SDP lines, mutated lines and junk, in random order with random endings."""
    alphabet = st.sampled_from("vosctmab= :/|;^0123456789IP46RTPAVinle\t\r\x00\u00e9-.")
    mutated = st.builds(
        lambda line, junk, at: line[:at] + junk + line[at + 1 :],
        st.sampled_from(SDP_LINES),
        st.text(alphabet, max_size=3),
        st.integers(0, 40),
    )
    line = st.one_of(st.sampled_from(SDP_LINES), mutated, st.text(alphabet, max_size=12))
    head = draw(st.sampled_from([[], ["v=0", "o=- 1 1 IN IP4 h", "s=-", "t=0 0"]]))
    body = draw(st.lists(line, max_size=25))
    return "".join(text + draw(EOLS) for text in [*head, *body])


@settings(max_examples=400)
@given(sdp_like())
def test_sdp_like_text_parses_or_raises_parse_error(text: str) -> None:
    check_parse(text)
    check_parse(text.encode("utf-8", "surrogateescape"))


@given(st.sampled_from(VECTOR_NAMES), st.data())
def test_vectors_with_a_line_replaced(name: str, data: st.DataObject) -> None:
    lines = vector(name).split(b"\n")
    index = data.draw(st.integers(0, len(lines) - 1))
    lines[index] = data.draw(st.binary(max_size=30))
    check_parse(b"\n".join(lines))


DIRECTION = st.sampled_from(DIRECTIONS)

TOKEN = st.text(st.sampled_from("abcXYZ0189-._*+!#$%&'~"), min_size=1, max_size=8)
TEXT = st.text(st.characters(exclude_characters="\r\n\x00", exclude_categories=["Cs"]), max_size=16)
DIGITS = st.from_regex(r"[0-9]{1,12}", fullmatch=True)
SP = st.sampled_from([" ", "  "])


@st.composite
def well_formed_sdp(draw: st.DrawFn) -> str:
    """Valid SDP with random values, spacing, optional and unknown lines, and endings."""

    def ints(low: int, high: int) -> str:
        return draw(st.sampled_from(["", "0", "00"])) + str(draw(st.integers(low, high)))

    def attribute(media: bool) -> str:
        pt, sp = ints(0, 127), draw(SP)
        b64 = base64.b64encode(draw(st.binary(min_size=1, max_size=46))).decode()
        lifetime = draw(st.sampled_from(["", "|2^31", "|2^48", "|1000"]))
        mki = draw(st.sampled_from(["", "|1:1", "|0007:4"]))
        choices = [f"a={draw(TOKEN)}", f"a={draw(TOKEN)}:{draw(TEXT)}"]
        if media:
            choices += [
                f"a=rtpmap:{pt}{sp}{draw(TOKEN)}/{ints(1, 99999)}",
                f"a=rtpmap:{pt} {draw(TOKEN)}/{ints(1, 99999)}/{ints(1, 8)}",
                f"a=fmtp:{pt}{sp}{draw(TEXT)}",
                f"a=ptime:{ints(1, 200)}{draw(st.sampled_from(['', '.0', '.5']))}",
                f"a=rtcp:{ints(0, 65535)}{draw(st.sampled_from(['', ' IN IP4 h']))}",
                f"a=crypto:{ints(0, 9)}{sp}{draw(TOKEN)} inline:{b64}{lifetime}{mki}",
                f"a={draw(st.sampled_from(['sendrecv', 'sendonly', 'recvonly', 'inactive']))}",
            ]
        return draw(st.sampled_from(choices))

    sp = draw(SP)
    lines = [
        "v=0",
        f"o={draw(TOKEN)}{sp}{draw(DIGITS)}{sp}{draw(DIGITS)} IN {draw(TOKEN)} {draw(TOKEN)}",
        f"s={draw(TEXT)}",
    ]
    lines += [f"{c}={draw(TEXT)}" for c in draw(st.lists(st.sampled_from("iuep"), max_size=2))]
    lines += draw(st.lists(st.just(f"c=IN IP4{sp}{draw(TOKEN)}"), max_size=1))
    lines += draw(st.lists(st.just(f"b={draw(TOKEN)}:{draw(DIGITS)}"), max_size=2))
    lines += [f"t={draw(DIGITS)}{sp}{draw(DIGITS)}" for _ in range(draw(st.integers(1, 2)))]
    lines += draw(st.lists(st.just(f"X={draw(TEXT)}"), max_size=1))
    lines += [attribute(False) for _ in range(draw(st.integers(0, 3)))]
    for _ in range(draw(st.integers(0, 3))):
        proto = draw(
            st.sampled_from(["RTP/AVP", "RTP/SAVP", "UDP/TLS/RTP/SAVPF", "udp", "TCP/MSRP"])
        )
        count = draw(st.sampled_from(["", "/2"]))
        fmts = [
            draw(st.sampled_from(["0", "8", ints(0, 127)])) if "RTP/" in proto else draw(TOKEN)
            for _ in range(draw(st.integers(1, 4)))
        ]
        media = draw(st.sampled_from(["audio", "audio", "video", draw(TOKEN)]))
        lines.append(f"m={media} {ints(0, 65535)}{count}{sp}{proto} {' '.join(fmts)}")
        lines += draw(st.lists(st.just(f"c=IN IP6 {draw(TOKEN)}"), max_size=1))
        lines += draw(st.lists(st.just(f"i={draw(TEXT)}"), max_size=1))
        lines += [attribute(True) for _ in range(draw(st.integers(0, 5)))]
    style = draw(st.sampled_from(["\r\n", "\n"]))
    endings = st.sampled_from([style, style, style, "\r\n", "\n"])
    text = "".join(line + draw(endings) for line in lines)
    if draw(st.booleans()):
        text = text.rstrip("\r\n")
    return text + draw(st.sampled_from(["", "\r\n", "\n\n"]))


@settings(max_examples=200)
@given(well_formed_sdp())
def test_well_formed_sdp_round_trips(text: str) -> None:
    sd = SessionDescription.parse(text)
    assert str(sd) == text
    assert bytes(SessionDescription.parse(text.encode())) == text.encode()
    for md in sd.media:  # the accessors accept whatever the parser accepted
        assert len(md.codecs) <= len(md.payload_types)
        assert set(md.rtpmaps) | set(md.fmtps) <= set(range(128))
        assert all(Crypto.parse(crypto.value) == crypto for crypto in md.crypto)
        assert (md.ptime or 0) >= 0 and (md.maxptime or 0) >= 0
        assert md.rtcp is None or 0 <= md.rtcp.port <= 65535
        assert sd.effective_direction(md) in DIRECTIONS


@settings(max_examples=150)
@given(well_formed_sdp())
def test_answering_any_offer_gives_an_answer_or_a_negotiation_error(text: str) -> None:
    offer = SessionDescription.parse(text)
    try:
        result = build_answer(
            offer,
            address="192.0.2.9",
            port=[4000, 4002],
            codecs=("PCMU", "PCMA", "telephone-event"),
            crypto_suites=("AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32"),
        )
    except NegotiationError:
        return
    assert len(result.media) == len(offer.media)
    assert [md.media for md in result.media] == [md.media for md in offer.media]
    assert SessionDescription.parse(bytes(result)) == result


@settings(max_examples=150)
@given(well_formed_sdp(), st.integers(0, 65535), DIRECTION)
def test_edited_sdp_reparses_to_the_edit(text: str, port: int, direction: Direction) -> None:
    sd = SessionDescription.parse(text)
    edited = hold(sd).with_attribute("tool", "x").with_connection(Connection("IN", "IP4", "h"))
    edited = edited.with_media(
        dataclasses.replace(md, port=port).with_direction(direction).without_attributes("crypto")
        for md in edited.media
    )
    assert SessionDescription.parse(str(edited)) == edited
    assert SessionDescription.parse(bytes(edited)) == edited


codec_lists = st.lists(st.sampled_from(sorted(CODECS)), min_size=1, max_size=6)


@given(codec_lists, st.integers(0, 65535), DIRECTION, st.integers(0, 2**64), st.booleans())
def test_built_offers_reparse_equal(
    codecs: list[str], port: int, direction: Direction, sess_id: int, lf: bool
) -> None:
    offer = build_offer(
        address="2001:db8::7",
        port=port,
        codecs=codecs,
        direction=direction,
        session_id=sess_id,
        crypto=[make_crypto(1)],
    )
    if lf:
        offer = dataclasses.replace(offer, eol="\n")
    again = SessionDescription.parse(bytes(offer))
    assert again == offer
    assert bytes(again) == bytes(offer)
    assert len(set(again.media[0].payload_types)) == len(again.media[0].payload_types)


# -- codecs ------------------------------------------------------------------------------


def test_codec_registry() -> None:
    assert CODECS["pcmu"].payload_type == 0
    assert CODECS["pcma"].payload_type == 8
    assert CODECS["g722"].payload_type == 9
    assert CODECS["g729"].payload_type == 18
    assert CODECS["gsm"].payload_type == 3
    assert CODECS["g723"].payload_type == 4
    assert (CODECS["opus"].clock_rate, CODECS["opus"].channels) == (48000, 2)
    assert CODECS["telephone-event"].clock_rate == 8000
    for codec in CODECS.values():
        if codec.is_static:
            assert codec.matches(STATIC_RTPMAPS[codec.payload_type or 0])


def test_lookup_codec() -> None:
    assert lookup_codec("pcmu") is CODECS["pcmu"]
    assert lookup_codec("OPUS/48000/2") is CODECS["opus"]
    wideband = lookup_codec("telephone-event/48000")
    assert (wideband.clock_rate, wideband.payload_type, wideband.fmtp) == (48000, None, "0-16")
    assert lookup_codec("PCMU/16000").payload_type is None
    assert lookup_codec("EVS/16000") == Codec("EVS", 16000)
    custom = Codec("L16", 16000)
    assert lookup_codec(custom) is custom
    for bad in ("nope", "PCMU/x", "PCMU/8000/1/1"):
        with pytest.raises(ValueError):
            lookup_codec(bad)


# -- offers ------------------------------------------------------------------------------


def test_default_offer() -> None:
    offer = build_offer(address="192.0.2.1", port=4000, session_id=1234, session_version=1)
    assert str(offer) == (
        "v=0\r\n"
        "o=- 1234 1 IN IP4 192.0.2.1\r\n"
        "s=-\r\n"
        "c=IN IP4 192.0.2.1\r\n"
        "t=0 0\r\n"
        "m=audio 4000 RTP/AVP 0 8 101\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:8 PCMA/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\n"
        "a=fmtp:101 0-16\r\n"
        "a=ptime:20\r\n"
        "a=sendrecv\r\n"
    )


def test_offer_session_id_defaults() -> None:
    first = build_offer(address="192.0.2.1", port=4000)
    second = build_offer(address="192.0.2.1", port=4000)
    assert first.origin.sess_id != second.origin.sess_id
    assert first.origin.sess_version == first.origin.sess_id


def test_offer_payload_type_assignment() -> None:
    offer = build_offer(
        address="::1",
        port=5000,
        codecs=("opus", "G722", "iLBC", "speex", "telephone-event", "telephone-event/48000"),
        ptime=None,
        direction="recvonly",
    )
    md = offer.media[0]
    assert offer.origin.addrtype == "IP6"
    assert offer.connection == Connection("IN", "IP6", "::1")
    assert md.formats == ("111", "9", "96", "97", "101", "98")
    assert md.rtpmap(111) == RtpMap(111, "opus", 48000, 2)
    assert md.rtpmap(98) == RtpMap(98, "telephone-event", 48000)
    assert md.fmtps == {111: "useinbandfec=1", 96: "mode=30", 101: "0-16", 98: "0-16"}
    assert md.ptime is None
    assert md.direction == "recvonly"


def test_offer_with_crypto() -> None:
    crypto = make_crypto(1, key_salt=KEY_30, lifetime=2**31)
    offer = build_offer(
        address="192.0.2.1", port=4000, codecs=["PCMA"], crypto=[crypto], proto="RTP/SAVP"
    )
    md = offer.media[0]
    assert md.m_line == "m=audio 4000 RTP/SAVP 8"
    assert md.get_attribute("crypto") == Attribute(
        "crypto", "1 AES_CM_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd|2^31"
    )
    assert md.crypto == (crypto,)


def test_offer_argument_checks() -> None:
    with pytest.raises(ValueError):
        build_offer(address="h", port=70000)
    with pytest.raises(ValueError):
        build_offer(address="h", port=1, codecs=())
    with pytest.raises(ValueError):
        make_crypto(1, "NO_SUCH_SUITE")
    with pytest.raises(ValueError):
        make_crypto(1, key_salt=b"short")
    assert len(make_crypto(1, "AES_256_CM_HMAC_SHA1_80").key_salt) == 46


# -- answers -----------------------------------------------------------------------------


def answer(offer: SessionDescription, **kwargs: object) -> SessionDescription:
    options: dict[str, object] = {"address": "198.51.100.9", "port": 30000, "session_id": 77}
    options.update(kwargs)
    return build_answer(offer, **options)  # type: ignore[arg-type]


def test_answer_to_asterisk_keeps_common_codecs_in_our_order() -> None:
    offer = parse_vector("asterisk_offer.sdp")
    result = answer(offer, codecs=("G729", "PCMA", "PCMU", "telephone-event"))
    assert str(result) == (
        "v=0\r\n"
        "o=- 77 77 IN IP4 198.51.100.9\r\n"
        "s=-\r\n"
        "c=IN IP4 198.51.100.9\r\n"
        "t=0 0\r\n"
        "m=audio 30000 RTP/AVP 8 0 101\r\n"
        "a=rtpmap:8 PCMA/8000\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\n"
        "a=fmtp:101 0-16\r\n"
        "a=ptime:20\r\n"
        "a=sendrecv\r\n"
    )


def test_answer_keeps_the_offerers_dynamic_payload_types() -> None:
    offer = parse_vector("linphone_lf_only.sdp")
    result = answer(offer, codecs=("opus", "PCMU", "telephone-event"), ptime=40)
    md = result.media[0]
    assert md.formats == ("96", "0", "100")  # telephone-event/8000 is PT 100 in the offer
    assert md.rtpmap(96) == RtpMap(96, "opus", 48000, 2)
    assert md.rtpmap(100) == RtpMap(100, "telephone-event", 8000)
    assert md.ptime == 40
    assert result.eol == "\r\n"


def test_answer_without_telephone_event_when_we_lack_it() -> None:
    offer = parse_vector("asterisk_offer.sdp")
    assert answer(offer, codecs=("PCMU",)).media[0].formats == ("0",)
    sipp = parse_vector("sipp_uac.sdp")  # offers no telephone-event
    assert answer(sipp).media[0].formats == ("0",)


def test_answer_mirrors_offered_fmtp_when_we_have_none() -> None:
    offer = parse_vector("cisco_gateway_offer.sdp")
    md = answer(offer, codecs=("G729", "telephone-event", "CN")).media[0]
    assert md.formats == ("18", "101", "19")
    assert md.fmtps == {18: "annexb=no", 101: "0-16"}


@pytest.mark.parametrize(
    ("offered", "answered"),
    [
        ("sendrecv", "sendrecv"),
        ("sendonly", "recvonly"),
        ("recvonly", "sendonly"),
        ("inactive", "inactive"),
    ],
)
def test_answer_direction_mapping(offered: Direction, answered: Direction) -> None:
    offer = build_offer(address="192.0.2.1", port=4000, direction=offered)
    assert answer(offer).media[0].direction == answered
    assert answer_direction(offered) == answered


def test_answer_direction_with_our_wishes() -> None:
    assert answer_direction("sendrecv", "sendonly") == "sendonly"
    assert answer_direction("sendrecv", "recvonly") == "recvonly"
    assert answer_direction("sendonly", "sendonly") == "inactive"
    assert answer_direction("recvonly", "recvonly") == "inactive"
    assert answer_direction("sendrecv", "inactive") == "inactive"


def test_answer_uses_session_level_direction() -> None:
    offer = parse_vector("rfc4566_example.sdp")  # a=recvonly at session level
    result = answer(offer)
    audio, video = result.media
    assert audio.direction == "sendonly"
    assert result.timing == Timing(2873397496, 2873404696)  # t= copied (RFC 3264 §6)
    assert video.m_line == "m=video 0 RTP/AVP 99"
    assert video.fields == ()


def test_answer_rejects_unsupported_streams_with_port_zero() -> None:
    offer = parse_vector("audio_video.sdp")
    result = answer(offer, codecs=("PCMU", "iLBC"))
    audio, video = result.media
    assert audio.m_line == "m=audio 30000 RTP/AVP 0 97"
    assert audio.fmtp(97) == "mode=30"
    assert video.rejected
    assert str(video.m_line) == "m=video 0 RTP/AVPF 96 98"


def test_answer_to_several_audio_streams() -> None:
    offer = build_offer(address="192.0.2.1", port=4000)
    offer = offer.with_media([*offer.media, dataclasses.replace(offer.media[0], port=4002)])
    one = answer(offer)
    assert [md.port for md in one.media] == [30000, 0]
    two = answer(offer, port=[30000, 30002])
    assert [md.port for md in two.media] == [30000, 30002]
    disabled = offer.with_media([dataclasses.replace(offer.media[0], port=0), offer.media[1]])
    assert [md.port for md in answer(disabled).media] == [0, 30000]


def test_answer_to_an_offer_that_disabled_everything() -> None:
    offer = build_offer(address="192.0.2.1", port=4000)
    offer = offer.with_media([dataclasses.replace(offer.media[0], port=0)])
    assert [md.port for md in answer(offer).media] == [0]
    assert answer(offer.with_media([])).media == ()


@pytest.mark.parametrize(
    ("name", "codecs", "reason"),
    [
        ("sipp_uac.sdp", ("PCMA", "telephone-event"), "no common codec"),
        ("asterisk_offer.sdp", ("G729", "telephone-event"), "no common codec"),
        ("chrome_webrtc_offer.sdp", ("opus", "PCMU"), "UDP/TLS/RTP/SAVPF"),
        ("freeswitch_srtp_offer.sdp", ("PCMU",), "crypto"),
    ],
)
def test_negotiation_failure(name: str, codecs: tuple[str, ...], reason: str) -> None:
    with pytest.raises(NegotiationError, match=reason) as info:
        answer(parse_vector(name), codecs=codecs)
    assert info.value.status_hint == 488
    assert isinstance(info.value, ParseError)


def test_srtp_answer_picks_the_first_supported_crypto_line() -> None:
    offer = parse_vector("freeswitch_srtp_offer.sdp")
    ours = bytes(range(100, 130))
    result = answer(
        offer,
        codecs=("G722", "PCMU", "telephone-event"),
        crypto_suites=("AES_CM_128_HMAC_SHA1_32",),
        key_provider=lambda suite: ours,
    )
    md = result.media[0]
    assert md.m_line == "m=audio 30000 RTP/SAVP 9 0 101"
    (crypto,) = md.crypto
    assert (crypto.tag, crypto.suite, crypto.key_salt) == (2, "AES_CM_128_HMAC_SHA1_32", ours)
    both = answer(offer, crypto_suites=("AES_CM_128_HMAC_SHA1_32", "AES_CM_128_HMAC_SHA1_80"))
    (chosen,) = both.media[0].crypto
    assert (chosen.tag, chosen.suite) == (1, "AES_CM_128_HMAC_SHA1_80")
    assert len(chosen.key_salt) == 30
    assert chosen.key_salt != offer.media[0].crypto[0].key_salt


def test_best_effort_srtp_over_rtp_avp() -> None:
    offer = build_offer(address="192.0.2.1", port=4000, crypto=[make_crypto(7)])
    assert answer(offer).media[0].crypto == ()  # plain RTP is still acceptable
    secured = answer(offer, crypto_suites=("AES_CM_128_HMAC_SHA1_80",))
    assert [c.tag for c in secured.media[0].crypto] == [7]
    assert secured.media[0].proto == "RTP/AVP"


def test_answer_argument_checks() -> None:
    offer = parse_vector("sipp_uac.sdp")
    with pytest.raises(ValueError):
        answer(offer, port=-1)
    with pytest.raises(ValueError):
        answer(offer, crypto_suites=("NO_SUCH_SUITE",))


# -- re-offers ---------------------------------------------------------------------------


def test_hold_and_unhold() -> None:
    offer = build_offer(address="192.0.2.1", port=4000, session_id=10, session_version=10)
    held = hold(offer)
    assert held.origin.sess_version == 11
    assert held.media[0].direction == "sendonly"
    assert changed_lines(str(offer), str(held)) == [
        ("o=- 10 10 IN IP4 192.0.2.1\r\n", "o=- 10 11 IN IP4 192.0.2.1\r\n"),
        ("a=sendrecv\r\n", "a=sendonly\r\n"),
    ]
    assert hold(held).media[0].direction == "sendonly"
    resumed = unhold(held)
    assert (resumed.origin.sess_version, resumed.media[0].direction) == (12, "sendrecv")
    listening = build_offer(address="192.0.2.1", port=4000, direction="recvonly")
    assert hold(listening).media[0].direction == "inactive"
    assert unhold(hold(listening)).media[0].direction == "recvonly"


def test_hold_on_a_parsed_offer_changes_two_lines() -> None:
    offer = parse_vector("asterisk_offer.sdp")
    assert changed_lines(str(offer), str(hold(offer))) == [
        (
            "o=- 1837272466 1837272466 IN IP4 192.168.1.10\r\n",
            "o=- 1837272466 1837272467 IN IP4 192.168.1.10\r\n",
        ),
        ("a=sendrecv\r\n", "a=sendonly\r\n"),
    ]


def test_hold_moves_session_level_direction_to_the_media() -> None:
    offer = parse_vector("rfc4566_example.sdp")  # session-level recvonly
    held = hold(offer)
    assert held.direction is None
    assert [md.direction for md in held.media] == ["inactive", "inactive"]


def test_reoffer() -> None:
    offer = parse_vector("audio_video.sdp")
    same = reoffer(offer)
    assert same.origin.sess_version == offer.origin.sess_version + 1
    assert same.media == offer.media
    quiet = reoffer(offer, direction="inactive")
    assert [md.direction for md in quiet.media] == ["inactive", "inactive"]
    rejected = offer.with_media([offer.media[0], dataclasses.replace(offer.media[1], port=0)])
    assert reoffer(rejected, direction="inactive").media[1].direction == "sendrecv"
