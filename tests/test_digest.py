"""Tests for HTTP Digest authentication (sipwright.sip.digest, digest_server)."""

from __future__ import annotations

import contextlib
import hashlib
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipwright.sip.digest import (
    SUPPORTED_ALGORITHMS,
    Challenge,
    DigestClient,
    UnsupportedChallenge,
    compute_ha1,
    compute_response,
    compute_userhash,
    parse_challenge,
    parse_challenges,
    select_challenge,
)
from sipwright.sip.digest_server import (
    AuthResult,
    NonceStore,
    make_challenge,
    parse_authorization,
    verify,
)
from sipwright.sip.errors import ParseError

ALL_ALGORITHMS = ("MD5", "MD5-sess", "SHA-256", "SHA-256-sess", "SHA-512-256", "SHA-512-256-sess")


def fixed_cnonce(value: str) -> DigestClient:
    return DigestClient(cnonce_factory=lambda: value)


# --- Published examples ------------------------------------------------------------------

RFC2617_CHALLENGE = (
    'Digest\r\n realm="testrealm@host.com",\r\n qop="auth,auth-int",\r\n'
    ' nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",\r\n'
    ' opaque="5ccc069c403ebaf9f0171e9517f40e41"'
)


def test_rfc2617_section_3_5_example() -> None:
    challenge = parse_challenge(RFC2617_CHALLENGE)
    assert challenge.realm == "testrealm@host.com"
    assert challenge.qop == ("auth", "auth-int")
    assert challenge.algorithm is None
    header = fixed_cnonce("0a4f113b").authorize(
        challenge, method="GET", uri="/dir/index.html", username="Mufasa", password="Circle Of Life"
    )
    creds = parse_authorization(header)
    assert creds.response == "6629fae49393a05397450978507c4ef1"
    assert (creds.nc, creds.cnonce, creds.qop) == ("00000001", "0a4f113b", "auth")
    assert creds.opaque == "5ccc069c403ebaf9f0171e9517f40e41"
    assert "algorithm" not in header  # absent in the challenge, so absent in the answer
    assert verify(creds, method="GET", password="Circle Of Life", username="Mufasa")


def test_rfc2617_example_as_sent_by_the_rfc() -> None:
    sent = (
        'Digest username="Mufasa", realm="testrealm@host.com",'
        ' nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html",'
        ' qop=auth, nc=00000001, cnonce="0a4f113b",'
        ' response="6629fae49393a05397450978507c4ef1",'
        ' opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    creds = parse_authorization(sent)
    assert creds.nc_value == 1
    assert verify(creds, method="GET", password="Circle Of Life", expected_realm=creds.realm)
    assert not verify(creds, method="GET", password="Circle of Life")


RFC7616_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
RFC7616_OPAQUE = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc7616_section_3_9_1_examples(algorithm: str, expected: str) -> None:
    text = (
        'Digest\r\n    realm="http-auth@example.org",\r\n    qop="auth, auth-int",\r\n'
        f'    algorithm={algorithm},\r\n    nonce="{RFC7616_NONCE}",\r\n'
        f'    opaque="{RFC7616_OPAQUE}"'
    )
    challenge = parse_challenge(text)
    assert challenge.algorithm == algorithm
    assert challenge.qop == ("auth", "auth-int")
    header = fixed_cnonce(RFC7616_CNONCE).authorize(
        challenge,
        method="GET",
        uri="/dir/index.html",
        username="Mufasa",
        password="Circle of Life",
    )
    creds = parse_authorization(header)
    assert creds.response == expected
    assert creds.algorithm == algorithm
    assert verify(creds, method="GET", password="Circle of Life", username="Mufasa")
    ha1 = compute_ha1("Mufasa", "http-auth@example.org", "Circle of Life", algorithm)
    assert (
        compute_response(
            algorithm=algorithm,
            ha1=ha1,
            nonce=RFC7616_NONCE,
            method="GET",
            uri="/dir/index.html",
            qop="auth",
            nc="00000001",
            cnonce=RFC7616_CNONCE,
        )
        == expected
    )


# --- Round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("algorithm", "qop"),
    [
        (a, q)
        for a, q in itertools.product(ALL_ALGORITHMS, ("auth", "auth-int", None))
        if not (q is None and a.endswith("-sess"))
    ],
)
def test_round_trip_every_algorithm_and_qop(algorithm: str, qop: str | None) -> None:
    assert algorithm in SUPPORTED_ALGORITHMS
    body = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n"
    store = NonceStore()
    value = store.challenge("sip.example.com", 0.0, algorithm=algorithm, qop=(qop,) if qop else ())
    challenge = parse_challenge(value)
    assert challenge.algorithm == algorithm
    client = DigestClient()
    header = client.authorize(
        challenge,
        method="INVITE",
        uri="sip:bob@example.com",
        username="alice",
        password="s3cret",
        body=body,
    )
    creds = parse_authorization(header)
    assert creds.qop == qop
    assert (creds.nc is None) == (qop is None)
    assert len(creds.response) == (32 if algorithm.startswith("MD5") else 64)
    assert verify(creds, method="INVITE", password="s3cret", username="alice", body=body)
    assert not verify(creds, method="INVITE", password="wrong", username="alice", body=body)
    assert not verify(creds, password="s3cret", method="BYE", username="alice", body=body)
    assert not verify(creds, password="s3cret", method="INVITE", username="mallory", body=body)
    ha1 = compute_ha1("alice", "sip.example.com", "s3cret", algorithm)
    assert verify(creds, ha1=ha1.upper(), method="INVITE", body=body)
    if qop == "auth-int":
        assert not verify(creds, password="s3cret", method="INVITE", body=b"tampered")
    else:
        assert verify(creds, password="s3cret", method="INVITE", body=b"ignored")
    result = store.authenticate(creds, now=1.0, method="INVITE", password="s3cret", body=body)
    assert result is AuthResult.OK


def test_auth_int_without_body_hashes_the_empty_string() -> None:
    challenge = parse_challenge(make_challenge("r", qop=("auth-int",), nonce="n"))
    header = fixed_cnonce("c").authorize(
        challenge, method="REGISTER", uri="sip:r", username="u", password="p"
    )
    ha1 = compute_ha1("u", "r", "p")
    expected = compute_response(
        algorithm="MD5",
        ha1=ha1,
        nonce="n",
        method="REGISTER",
        uri="sip:r",
        qop="auth-int",
        nc="00000001",
        cnonce="c",
        body=b"",
    )
    assert parse_authorization(header).response == expected


def test_precomputed_ha1_gives_the_same_answer_as_the_password() -> None:
    challenge = parse_challenge(make_challenge("r", algorithm="SHA-256-sess", nonce="n"))
    with_password = fixed_cnonce("c").authorize(
        challenge, method="REGISTER", uri="sip:r", username="u", password="p"
    )
    ha1 = compute_ha1("u", "r", "p", "SHA-256")
    with_ha1 = fixed_cnonce("c").authorize(
        challenge, method="REGISTER", uri="sip:r", username="u", ha1=ha1
    )
    assert with_password == with_ha1
    with pytest.raises(ValueError, match="hex digits"):
        DigestClient().authorize(challenge, method="REGISTER", uri="sip:r", username="u", ha1="abc")
    with pytest.raises(TypeError):
        DigestClient().authorize(challenge, method="REGISTER", uri="sip:r", username="u")


def test_no_qop_uses_rfc2069_form() -> None:
    challenge = parse_challenge('Digest realm="r", nonce="n"')
    header = DigestClient().authorize(
        challenge, method="REGISTER", uri="sip:r", username="u", password="p"
    )
    creds = parse_authorization(header)
    assert creds.qop is None and creds.cnonce is None and creds.nc is None
    ha1 = hashlib.md5(b"u:r:p").hexdigest()
    ha2 = hashlib.md5(b"REGISTER:sip:r").hexdigest()
    assert creds.response == hashlib.md5(f"{ha1}:n:{ha2}".encode()).hexdigest()
    assert creds.response == compute_response(
        algorithm=None, ha1=ha1, nonce="n", method="REGISTER", uri="sip:r"
    )


# --- Nonce counts, replay, stale ----------------------------------------------------------


def test_nc_increments_per_nonce_and_restarts_for_a_new_nonce() -> None:
    client = DigestClient()
    first = parse_challenge(make_challenge("r", nonce="one"))
    second = parse_challenge(make_challenge("r", nonce="two"))

    def nc_of(challenge: Challenge) -> str | None:
        header = client.authorize(
            challenge, method="MESSAGE", uri="sip:b", username="u", password="p"
        )
        return parse_authorization(header).nc

    assert [nc_of(first) for _ in range(3)] == ["00000001", "00000002", "00000003"]
    assert nc_of(second) == "00000001"
    assert nc_of(first) == "00000004"
    assert client.nonce_count("one") == 4
    client.forget("one")
    assert nc_of(first) == "00000001"
    client.forget()
    assert client.nonce_count("two") == 0


def test_nc_is_hex_and_client_remembers_a_bounded_number_of_nonces() -> None:
    client = DigestClient(max_nonces=2)
    challenge = parse_challenge(make_challenge("r", nonce="n"))
    for _ in range(16):
        header = client.authorize(challenge, method="M", uri="u", username="u", password="p")
    assert parse_authorization(header).nc == "00000010"
    for nonce in ("a", "b"):
        client.authorize(
            parse_challenge(make_challenge("r", nonce=nonce)),
            method="M",
            uri="u",
            username="u",
            password="p",
        )
    assert client.nonce_count("n") == 0
    assert client.nonce_count("a") == client.nonce_count("b") == 1


def test_replayed_nc_is_rejected_but_out_of_order_is_not() -> None:
    store = NonceStore()
    challenge = parse_challenge(store.challenge("r", 10.0, qop=("auth",)))
    client = DigestClient()
    headers = [
        client.authorize(challenge, method="OPTIONS", uri="sip:r", username="u", password="p")
        for _ in range(3)
    ]

    def check(header: str) -> AuthResult:
        return store.authenticate(
            parse_authorization(header), now=11.0, method="OPTIONS", password="p", username="u"
        )

    assert check(headers[1]) is AuthResult.OK
    assert check(headers[0]) is AuthResult.OK  # UDP may reorder requests
    assert check(headers[0]) is AuthResult.REPLAY
    assert check(headers[1]) is AuthResult.REPLAY
    assert check(headers[2]) is AuthResult.OK


def test_failed_attempt_does_not_burn_the_nc() -> None:
    store = NonceStore()
    challenge = parse_challenge(store.challenge("r", 0.0))
    header = fixed_cnonce("c").authorize(
        challenge, method="INVITE", uri="sip:r", username="u", password="p"
    )
    creds = parse_authorization(header)
    wrong = store.authenticate(creds, now=0.0, method="INVITE", password="guess")
    assert wrong is AuthResult.BAD_CREDENTIALS
    assert store.authenticate(creds, now=0.0, method="INVITE", password="p") is AuthResult.OK


def test_stale_nonce_then_fresh_challenge() -> None:
    store = NonceStore(lifetime=30.0)
    client = DigestClient()
    old = parse_challenge(store.challenge("r", 0.0, algorithm="SHA-256"))
    for _ in range(2):
        header = client.authorize(old, method="REGISTER", uri="sip:r", username="u", password="p")
    creds = parse_authorization(header)
    assert creds.nc == "00000002"
    late = store.authenticate(creds, now=31.0, method="REGISTER", password="p")
    assert late is AuthResult.STALE
    # A wrong password on a stale nonce is not "stale": the user must be asked again.
    guess = store.authenticate(creds, now=31.0, method="REGISTER", password="x")
    assert guess is AuthResult.BAD_CREDENTIALS
    fresh = parse_challenge(store.challenge("r", 31.0, algorithm="SHA-256", stale=True))
    assert fresh.stale and fresh.nonce != old.nonce
    header = client.authorize(fresh, method="REGISTER", uri="sip:r", username="u", password="p")
    creds = parse_authorization(header)
    assert creds.nc == "00000001"
    assert store.authenticate(creds, now=32.0, method="REGISTER", password="p") is AuthResult.OK
    store.prune(100.0)
    assert len(store) == 0


def test_max_uses_makes_a_nonce_stale() -> None:
    store = NonceStore(max_uses=2)
    challenge = parse_challenge(store.challenge("r", 0.0))
    client = DigestClient()
    results = [
        store.authenticate(
            parse_authorization(
                client.authorize(challenge, method="M", uri="sip:r", username="u", password="p")
            ),
            now=0.0,
            method="M",
            password="p",
        )
        for _ in range(3)
    ]
    assert results == [AuthResult.OK, AuthResult.OK, AuthResult.STALE]
    # The RFC 2069 form has no nc, but its uses are counted all the same.
    bare = parse_challenge(store.challenge("r", 0.0, qop=()))
    header = client.authorize(bare, method="M", uri="sip:r", username="u", password="p")
    creds = parse_authorization(header)
    assert creds.qop is None
    outcomes = [store.authenticate(creds, now=0.0, method="M", password="p") for _ in range(3)]
    assert outcomes == [AuthResult.OK, AuthResult.OK, AuthResult.STALE]


def test_unknown_and_forged_nonces() -> None:
    store = NonceStore()
    other = NonceStore()
    for nonce in ("made-up", other.issue(0.0), "", "\u00e9t\u00e9", "AAAA"):
        header = fixed_cnonce("c").authorize(
            parse_challenge(make_challenge("r", nonce=nonce)),
            method="M",
            uri="sip:r",
            username="u",
            password="p",
        )
        result = store.authenticate(parse_authorization(header), now=0.0, method="M", password="p")
        assert result is AuthResult.UNKNOWN_NONCE, nonce


def test_nonce_survives_a_new_store_with_the_same_secret() -> None:
    first = NonceStore(secret=b"k" * 32)
    challenge = parse_challenge(first.challenge("r", 0.0))
    header = DigestClient().authorize(
        challenge, method="M", uri="sip:r", username="u", password="p"
    )
    creds = parse_authorization(header)
    second = NonceStore(secret=b"k" * 32)
    assert second.authenticate(creds, now=1.0, method="M", password="p") is AuthResult.OK
    assert second.authenticate(creds, now=1.0, method="M", password="p") is AuthResult.REPLAY


def test_store_enforces_what_the_challenge_offered() -> None:
    store = NonceStore()
    value = store.challenge("r", 0.0, algorithm="SHA-256", qop=("auth",))
    nonce = parse_challenge(value).nonce
    client = DigestClient()
    # A man in the middle rewrites the challenge to MD5 without qop (a downgrade).
    downgraded = parse_challenge(make_challenge("r", algorithm="MD5", qop=(), nonce=nonce))
    header = client.authorize(downgraded, method="M", uri="sip:r", username="u", password="p")
    result = store.authenticate(parse_authorization(header), now=0.0, method="M", password="p")
    assert result is AuthResult.BAD_CREDENTIALS
    other_realm = parse_challenge(make_challenge("evil", algorithm="SHA-256", nonce=nonce))
    header = client.authorize(other_realm, method="M", uri="sip:r", username="u", password="p")
    result = store.authenticate(parse_authorization(header), now=0.0, method="M", password="p")
    assert result is AuthResult.BAD_CREDENTIALS


def test_several_challenges_share_a_nonce_and_client_picks_the_topmost() -> None:
    store = NonceStore()
    values = store.challenges("r", 0.0, algorithms=("SHA-512-256", "SHA-256", "MD5"))
    challenges = [parse_challenge(v) for v in values]
    assert len({c.nonce for c in challenges}) == 1
    sha1 = parse_challenge('Digest realm="r", nonce="x", algorithm=SHA-1')
    chosen = select_challenge([sha1, *challenges])
    assert chosen is not None and chosen.algorithm == "SHA-512-256"
    header = DigestClient().authorize(chosen, method="M", uri="sip:r", username="u", password="p")
    creds = parse_authorization(header)
    assert store.authenticate(creds, now=0.0, method="M", password="p") is AuthResult.OK
    assert select_challenge([parse_challenge("Basic realm=x")]) is None


# --- userhash (RFC 7616 §3.4.4) -------------------------------------------------------------


def test_userhash_round_trip() -> None:
    store = NonceStore()
    challenge = parse_challenge(store.challenge("r", 0.0, algorithm="SHA-256", userhash=True))
    assert challenge.userhash
    header = DigestClient().authorize(
        challenge, method="M", uri="sip:r", username="J\u00e4s\u00f8n", password="p"
    )
    creds = parse_authorization(header)
    assert creds.userhash
    assert creds.username == compute_userhash("J\u00e4s\u00f8n", "r", "SHA-256")
    assert "J\u00e4s\u00f8n" not in header
    ok = store.authenticate(creds, now=0.0, method="M", password="p", username="J\u00e4s\u00f8n")
    assert ok is AuthResult.OK
    assert not verify(creds, method="M", password="p", username="Jason")
    with pytest.raises(ValueError, match="username"):
        verify(creds, method="M", password="p")


def test_username_star_is_decoded() -> None:
    header = (
        'Digest username*=UTF-8\'\'J%C3%A4s%C3%B8n%20Doe, realm="r", nonce="n",'
        ' uri="sip:r", response="00"'
    )
    assert parse_authorization(header).username == "J\u00e4s\u00f8n Doe"
    with pytest.raises(ParseError, match="both"):
        parse_authorization(header.replace("Digest ", 'Digest username="x", '))
    with pytest.raises(ParseError, match="ext-value"):
        parse_authorization(header.replace("UTF-8''", "KOI8-R''"))


# --- Grammar ----------------------------------------------------------------------------


def test_quoted_string_escapes_round_trip() -> None:
    challenge = parse_challenge(r'Digest realm="a\"b\\c\d", nonce="n\,", opaque="x, y=z"')
    assert challenge.realm == 'a"b\\cd'
    assert challenge.nonce == "n,"
    assert challenge.opaque == "x, y=z"
    realm = 'say "hi" \\ \t\x01 caf\u00e9'
    again = parse_challenge(make_challenge(realm, nonce='q"\\', opaque=""))
    assert (again.realm, again.nonce, again.opaque) == (realm, 'q"\\', "")


def test_case_insensitive_names_and_lws() -> None:
    challenge = parse_challenge(
        'dIgEsT  REALM = "r" ,NoNcE=\t"n",  ALGORITHM=sha-256 , QoP="AUTH , Auth-Int",'
        " STALE=true, UserHash=TRUE, X-Extra=tok"
    )
    assert challenge.is_digest and challenge.scheme == "dIgEsT"
    assert (challenge.realm, challenge.nonce, challenge.algorithm) == ("r", "n", "sha-256")
    assert challenge.qop == ("auth", "auth-int")
    assert challenge.stale and challenge.userhash
    assert challenge.params == {"x-extra": "tok"}
    header = DigestClient().authorize(challenge, method="M", uri="u", username="u", password="p")
    creds = parse_authorization(header)
    assert creds.userhash and creds.username == compute_userhash("u", "r", "SHA-256")
    assert verify(creds, method="M", password="p", username="u")


def test_other_fields() -> None:
    challenge = parse_challenge(
        'Digest realm="r", nonce="n", domain="sip:a.example sip:b.example", stale=maybe,'
        " charset=UTF-8, qop=auth"
    )
    assert challenge.domain == ("sip:a.example", "sip:b.example")
    assert not challenge.stale  # anything other than TRUE (RFC 2617 §3.2.1)
    assert challenge.charset == "UTF-8"
    assert challenge.qop == ("auth",)


def test_non_digest_schemes_parse_with_their_scheme() -> None:
    basic = parse_challenge('Basic realm="WallyWorld"')
    assert not basic.is_digest and basic.scheme == "Basic"
    assert basic.params == {"realm": "WallyWorld"}
    bearer = parse_challenge("Bearer dGVzdA==")
    assert bearer.token68 == "dGVzdA=="
    with pytest.raises(UnsupportedChallenge, match="scheme"):
        DigestClient().authorize(basic, method="M", uri="u", username="u", password="p")
    assert not parse_authorization("Basic dXNlcjpwYXNz").is_digest


def test_parse_challenges_splits_a_combined_header() -> None:
    found = parse_challenges(
        'Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple", '
        'Digest realm="r", nonce="n", algorithm=SHA-256, Negotiate'
    )
    assert [c.scheme for c in found] == ["Newauth", "Basic", "Digest", "Negotiate"]
    assert found[0].params["title"] == 'Login to "apps"'
    assert found[2].algorithm == "SHA-256"
    with pytest.raises(ParseError, match="one challenge"):
        parse_challenge('Digest realm="r", nonce="n", Basic realm="x"')


def test_unsupported_challenges_raise_unsupported_challenge() -> None:
    client = DigestClient()

    def answer(text: str, preference: tuple[str, ...] = ("auth", "auth-int")) -> str:
        challenge = parse_challenge(text)
        return client.authorize(
            challenge, method="M", uri="u", username="u", password="p", qop_preference=preference
        )

    unknown = 'Digest realm="r", nonce="n", algorithm=SHA-1'
    assert not parse_challenge(unknown).supported
    with pytest.raises(UnsupportedChallenge, match="algorithm"):
        answer(unknown)
    with pytest.raises(UnsupportedChallenge, match="qop"):
        answer('Digest realm="r", nonce="n", qop="auth-conf"')
    with pytest.raises(UnsupportedChallenge, match="without qop"):
        answer('Digest realm="r", nonce="n", algorithm=MD5-sess')
    with pytest.raises(UnsupportedChallenge, match="qop"):
        answer('Digest realm="r", nonce="n", qop="auth-int"', ("auth",))
    with pytest.raises(ValueError, match="unimplemented"):
        answer('Digest realm="r", nonce="n", qop="auth"', ("auth-conf",))
    assert isinstance(UnsupportedChallenge("x"), ParseError)
    assert client.nonce_count("n") == 0  # nothing was sent, nothing was counted


def test_crlf_is_refused_in_generated_headers() -> None:
    challenge = parse_challenge('Digest realm="r", nonce="n"')
    client = DigestClient()
    with pytest.raises(ValueError, match="CR/LF"):
        client.authorize(
            challenge, method="M", uri="sip:r\r\nVia: evil", username="u", password="p"
        )
    with pytest.raises(ValueError, match="CR/LF"):
        client.authorize(challenge, method="M", uri="sip:r", username="u\nX: y", password="p")
    header = client.authorize(challenge, method="M", uri="sip:r", username="u", password="p")
    assert parse_authorization(header).nc is None  # RFC 2069 form: no nc at all
    with_qop = parse_challenge('Digest realm="r", nonce="q", qop=auth')
    with pytest.raises(ValueError, match="CR/LF"):
        client.authorize(with_qop, method="M", uri="sip:\r\n", username="u", password="p")
    assert client.nonce_count("q") == 0  # the failed attempt used no nc
    with pytest.raises(ValueError, match="token"):
        make_challenge("r", algorithm="MD5, qop=auth")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("Digest", "realm"),
        ('Digest nonce="n"', "realm"),
        ('Digest realm="r"', "nonce"),
        ('Digest realm="r, nonce=n', "unterminated"),
        ('Digest realm="r" nonce="n"', "expected ','"),
        ("Digest realm", "expected '='"),
        ('Digest realm=, nonce="n"', "value"),
        ('Digest realm="r", realm="s", nonce="n"', "duplicate"),
        ('Digest realm="r", nonce="n", qop=""', "qop"),
        ('Digest realm="r", nonce="n", algorithm="MD 5"', "algorithm"),
        ('Digest realm="a\\', "escape"),
        ('Digest realm="a\r\nb", nonce="n"', "line break"),
        ('Digest realm="a\x00", nonce="n"', "control"),
        ('Digest realm="\ud800", nonce="n"', "invalid character"),
        ('"Digest" realm="r"', "auth-scheme"),
        ('Digest=realm="r"', "whitespace"),
        ('Digest realm="r",, nonce="n", @', "parameter name"),
    ],
)
def test_malformed_challenges_raise_parse_error(text: str, fragment: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_challenge(text)
    assert type(info.value) is ParseError
    assert info.value.status_hint == 400
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('Digest realm="r", nonce="n", uri="u", response="x"', "username"),
        ('Digest username="u", realm="r", nonce="n", response="x"', "uri"),
        ('Digest username="u", realm="r", nonce="n", uri="u"', "response"),
        ('Digest username="u", realm="r", nonce="n", uri="u", response="x", qop=auth', "cnonce"),
        (
            'Digest username="u", realm="r", nonce="n", uri="u", response="x", nc=00000001',
            "without qop",
        ),
        (
            'Digest username="u", realm="r", nonce="n", uri="u", response="x", qop=auth,'
            ' cnonce="c", nc=1',
            "8 hex",
        ),
        ('Digest username="u", realm="r", nonce="n", uri="u", response="x", Basic', "one set"),
    ],
)
def test_malformed_credentials_raise_parse_error(text: str, fragment: str) -> None:
    with pytest.raises(ParseError, match=fragment):
        parse_authorization(text)


def test_verify_rejects_mismatches() -> None:
    challenge = parse_challenge(make_challenge("r", nonce="n", qop=("auth", "auth-int")))
    header = DigestClient().authorize(
        challenge, method="M", uri="sip:r", username="u", password="p"
    )
    creds = parse_authorization(header)
    assert verify(creds, method="M", password="p", expected_realm="r", expected_nonce="n")
    assert not verify(creds, method="M", password="p", expected_realm="other")
    assert not verify(creds, method="M", password="p", expected_nonce="other")
    assert not verify(creds, method="M", password="p", expected_uri="sip:other")
    assert not verify(creds, method="M", password="p", offered_qop=("auth-int",))
    assert not verify(creds, method="M", password="p", offered_algorithms=("SHA-256",))
    assert verify(creds, method="M", password="p", offered_algorithms=("md5",))
    garbage = parse_authorization(header.replace(creds.response, "\u00e9" * 32))
    assert not verify(garbage, method="M", password="p")
    assert not verify(parse_authorization("Basic dXNlcjpwYXNz"), method="M", password="p")
    with pytest.raises(TypeError):
        verify(creds, method="M")


# --- Properties ---------------------------------------------------------------------------

# Pieces of the grammar, so that generated text often gets deep into the parser.
GRAMMAR_PIECES = [
    *"Digest Basic realm nonce qop auth username* = == \" \\ , / ' x".split(" "),
    *("Digest ", " ", "\t", "\r\n", "\r", "\n", "\x00", "\u00e9", "\udcff", "\ud800"),
]
GRAMMAR_ALPHABET = st.sampled_from(GRAMMAR_PIECES)
ANY_HEADERISH = st.one_of(st.text(), st.lists(GRAMMAR_ALPHABET).map("".join))


@given(ANY_HEADERISH)
def test_parse_challenge_returns_or_raises_parse_error(text: str) -> None:
    try:
        challenge = parse_challenge(text)
    except ParseError:
        return
    assert challenge.scheme


@given(ANY_HEADERISH)
def test_parse_challenges_and_authorization_raise_only_parse_error(text: str) -> None:
    for parse in (parse_challenges, parse_authorization):
        with contextlib.suppress(ParseError):
            parse(text)


@given(
    realm=st.text().filter(lambda s: "\r" not in s and "\n" not in s),
    nonce=st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc"))),
)
def test_make_challenge_round_trips_any_text(realm: str, nonce: str) -> None:
    value = make_challenge(realm, nonce=nonce)
    try:
        challenge = parse_challenge(value)
    except ParseError:
        # Only lone surrogates outside the surrogate-escape range are refused.
        assert any("\ud800" <= c <= "\udfff" and not "\udc80" <= c <= "\udcff" for c in realm)
        return
    assert (challenge.realm, challenge.nonce) == (realm, nonce)
