"""HTTP Digest authentication for SIP, client side and shared parsing.

RFC 3261 §22.4 adopts HTTP Digest (RFC 2617) for SIP; RFC 8760 brings in the SHA-2
algorithms of RFC 7616 and requires "qop" support.  This module holds the auth-param
grammar, parses challenges (WWW-Authenticate / Proxy-Authenticate), computes digests
and answers challenges with ``DigestClient``.  The server side (credentials parsing,
issuing challenges, verification, nonce bookkeeping) is ``sipwright.sip.digest_server``.

Errors: text that does not follow the grammar raises ``ParseError`` (status 400).
A challenge that parses but that we cannot answer (unknown algorithm, no acceptable
qop, an unsupported scheme) raises ``UnsupportedChallenge``, a ``ParseError``
subclass, so one ``except ParseError`` covers "cannot use this header" while callers
that care can tell the two apart.  ``parse_challenge`` itself never raises
``UnsupportedChallenge``: an unknown algorithm is still a well-formed challenge.

Values are ``str``; all hashed text is encoded as UTF-8 (RFC 3261 §25 is UTF-8
throughout; RFC 7616 §4 charset=UTF-8).  Surrogate escapes, which stand for
non-UTF-8 octets received from the network, are turned back into those octets.
"""

from __future__ import annotations

import hashlib
import secrets
import string
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from sipwright.sip.errors import ParseError

__all__ = [
    "SUPPORTED_ALGORITHMS",
    "Challenge",
    "DigestClient",
    "UnsupportedChallenge",
    "compute_ha1",
    "compute_response",
    "compute_userhash",
    "format_params",
    "parse_challenge",
    "parse_challenges",
    "select_challenge",
]


class UnsupportedChallenge(ParseError):
    """A well-formed challenge this implementation cannot answer.

    Raised by ``DigestClient.authorize`` and ``compute_response`` for an unknown
    algorithm, a non-Digest scheme, or a qop list with nothing we can use.
    """


# ---------------------------------------------------------------------------
# Algorithms (RFC 7616 §3.3 "algorithm", §6.1; RFC 8760 §2.1)
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Algorithm:
    name: str  # canonical spelling from the IANA registry (RFC 7616 §6.1)
    hash_name: str  # hashlib name
    session: bool  # "-sess" variant: A1 includes nonce and cnonce (RFC 7616 §3.4.2)

    def hex(self, data: bytes) -> str:
        # usedforsecurity=False keeps MD5 usable on FIPS builds: Digest uses it as a
        # protocol function, not as our own security primitive.
        return hashlib.new(self.hash_name, data, usedforsecurity=False).hexdigest()

    @property
    def hex_len(self) -> int:
        return hashlib.new(self.hash_name, usedforsecurity=False).digest_size * 2


def _hash_available(name: str) -> bool:
    # SHA-512/256 comes from OpenSSL, not from Python itself; check that it works.
    try:
        hashlib.new(name, b"", usedforsecurity=False)
    except ValueError:
        return False
    return True


def _algorithm_table() -> dict[str, _Algorithm]:
    table = {}
    for base, hash_name in (("MD5", "md5"), ("SHA-256", "sha256"), ("SHA-512-256", "sha512_256")):
        if _hash_available(hash_name):
            for alg in (
                _Algorithm(base, hash_name, False),
                _Algorithm(base + "-sess", hash_name, True),
            ):
                table[alg.name.upper()] = alg
    return table


_ALGORITHMS = _algorithm_table()  # keyed by upper-case name

SUPPORTED_ALGORITHMS: tuple[str, ...] = tuple(a.name for a in _ALGORITHMS.values())
"""Canonical names of the algorithms this Python can compute, MD5 first."""


def _algorithm(name: str | None) -> _Algorithm:
    # An absent algorithm means MD5 (RFC 2617 §3.2.1, still so in RFC 7616 §3.3).
    # Names are matched case-insensitively: peers write "md5" and "MD5-sess" alike.
    alg = _ALGORITHMS.get("MD5" if name is None else name.upper())
    if alg is None:
        raise UnsupportedChallenge(f"unsupported digest algorithm {name!r}")
    return alg


def _b(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


# ---------------------------------------------------------------------------
# Auth-param grammar (RFC 3261 §25 challenge/credentials; RFC 7235 §2.1)
# ---------------------------------------------------------------------------

# RFC 3261 token plus the extra tchar of RFC 7230 §3.2.6, so HTTP-style peers parse.
_TOKEN = frozenset(string.ascii_letters + string.digits + "-.!%*_+`'~#$&^|")
# token68 (RFC 7235 §2.1), only for non-Digest schemes such as Basic or Bearer.
_TOKEN68 = frozenset(string.ascii_letters + string.digits + "-._~+/")
_HEX = frozenset(string.hexdigits)
_WSP = " \t"


class _Scanner:
    __slots__ = ("pos", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, what: str) -> ParseError:
        return ParseError(f"{what} at offset {self.pos}", 400, self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def skip_lws(self) -> bool:
        """Skip LWS = [*WSP CRLF] 1*WSP (RFC 3261 §25.1); True if any was skipped."""
        start, text = self.pos, self.text
        while self.pos < len(text):
            if text[self.pos] in _WSP:
                self.pos += 1
            elif text.startswith("\r\n", self.pos) and text[self.pos + 2 : self.pos + 3] in (
                " ",
                "\t",
            ):
                self.pos += 3  # a folded line continues the header value
            else:
                break
        return self.pos > start

    def run(self, chars: frozenset[str]) -> str:
        start, text = self.pos, self.text
        while self.pos < len(text) and text[self.pos] in chars:
            self.pos += 1
        return text[start : self.pos]

    def quoted_string(self) -> str:
        """quoted-string = DQUOTE *(qdtext / quoted-pair) DQUOTE, returned unquoted."""
        text, out = self.text, list[str]()
        self.pos += 1  # opening DQUOTE
        while self.pos < len(text):
            c = text[self.pos]
            if c == '"':
                self.pos += 1
                return "".join(out)
            if c == "\\":
                # quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F): CR and LF never.
                nxt = text[self.pos + 1 : self.pos + 2]
                if nxt in ("", "\r", "\n"):
                    raise self.error("bad escape in quoted-string")
                self._check_char(nxt)
                out.append(nxt)
                self.pos += 2
            elif c in "\r\n":
                if not self.skip_lws():  # only a fold (CRLF WSP) may break the line
                    raise self.error("line break inside quoted-string")
                out.append(" ")
            elif c == "\t" or (" " <= c < "\x7f") or c >= "\x80":
                self._check_char(c)
                out.append(c)
                self.pos += 1
            else:
                raise self.error(f"control character {c!r} inside quoted-string")
        raise self.error("unterminated quoted-string")

    def _check_char(self, c: str) -> None:
        # Lone surrogates other than surrogate escapes cannot be encoded for hashing.
        if "\ud800" <= c <= "\udfff" and not "\udc80" <= c <= "\udcff":
            raise self.error("invalid character inside quoted-string")


_Parsed = tuple[str, dict[str, str], str | None]  # scheme, params, token68


def _parse_list(text: str) -> list[_Parsed]:
    """Split a header value into 1#challenge / credentials (RFC 7235 §4.1)."""
    sc = _Scanner(text)
    items: list[_Parsed] = []
    while True:
        sc.skip_lws()
        while sc.peek() == ",":  # empty list elements are allowed (RFC 7230 §7)
            sc.pos += 1
            sc.skip_lws()
        if sc.at_end():
            break
        scheme = sc.run(_TOKEN)
        if not scheme:
            raise sc.error("expected an auth-scheme")
        if sc.at_end() or sc.peek() == ",":
            items.append((scheme, {}, None))  # a scheme without parameters
            continue
        if not sc.skip_lws():
            raise sc.error(f"expected whitespace after scheme {scheme!r}")
        token68 = None if scheme.lower() == "digest" else _try_token68(sc)
        if token68 is not None:
            items.append((scheme, {}, token68))
            continue
        items.append((scheme, _parse_params(sc), None))
    if not items:
        raise ParseError("empty authentication header value", 400, text)
    return items


def _try_token68(sc: _Scanner) -> str | None:
    start = sc.pos
    value = sc.run(_TOKEN68)
    while sc.peek() == "=":
        value += "="
        sc.pos += 1
    end = sc.pos
    sc.skip_lws()
    if value and not value.startswith("=") and (sc.at_end() or sc.peek() == ","):
        return sc.text[start:end]
    sc.pos = start
    return None


def _parse_params(sc: _Scanner) -> dict[str, str]:
    """auth-param *(COMMA auth-param); stops before a following challenge."""
    params: dict[str, str] = {}
    while True:
        start = sc.pos
        name = sc.run(_TOKEN)
        if not name:
            raise sc.error("expected a parameter name")
        sc.skip_lws()
        if sc.peek() != "=":
            if params:
                # "name" not followed by "=" starts the next challenge (RFC 7235 §4.1).
                sc.pos = start
                return params
            raise sc.error(f"expected '=' after parameter {name!r}")
        sc.pos += 1
        sc.skip_lws()
        if sc.peek() == '"':
            value = sc.quoted_string()
        else:
            value = sc.run(_TOKEN)
            if not value:
                raise sc.error(f"expected a token or quoted-string value for {name!r}")
        key = name.lower()  # parameter names are case-insensitive (RFC 7235 §2.1)
        if key in params:
            # RFC 7235 §2.1: each parameter name MUST only occur once per challenge.
            raise sc.error(f"duplicate parameter {name!r}")
        params[key] = value
        sc.skip_lws()
        if sc.at_end():
            return params
        if sc.peek() != ",":
            raise sc.error(f"expected ',' after parameter {name!r}")
        while sc.peek() == ",":
            sc.pos += 1
            sc.skip_lws()
        if sc.at_end():
            return params


def _quote(value: str) -> str:
    if "\r" in value or "\n" in value:
        # quoted-pair cannot carry CR or LF (RFC 3261 §25.1): refuse header injection.
        raise ValueError(f"CR/LF cannot appear in a quoted-string: {value!r}")
    esc = ("\\" + c if c in '"\\' or (c < " " and c != "\t") or c == "\x7f" else c for c in value)
    return '"' + "".join(esc) + '"'


def _check_token(value: str, what: str) -> str:
    if not value or not set(value) <= _TOKEN:
        raise ValueError(f"{what} must be a token, got {value!r}")
    return value


def format_params(scheme: str, params: Iterable[tuple[str, str, bool]]) -> str:
    """``scheme name=value, ...``; each item is (name, value, quoted)."""
    parts = [
        f"{_check_token(name, 'parameter name')}="
        + (_quote(value) if quoted else _check_token(value, name))
        for name, value, quoted in params
    ]
    return f"{_check_token(scheme, 'scheme')} " + ", ".join(parts)


def _flag(value: str | None) -> bool:
    # RFC 2617 §3.2.1: stale is FALSE when "anything other than TRUE"; userhash
    # (RFC 7616 §3.3) follows the same case-insensitive rule.
    return value is not None and value.lower() == "true"


# ---------------------------------------------------------------------------
# Challenges (RFC 2617 §3.2.1, RFC 7616 §3.3, RFC 3261 §25 "challenge")
# ---------------------------------------------------------------------------

_CHALLENGE_KNOWN = frozenset(
    "realm nonce algorithm qop opaque stale domain userhash charset".split()
)


@dataclass(frozen=True, slots=True)
class Challenge:
    """One parsed challenge.  For non-Digest schemes only ``scheme``, ``params`` and
    ``token68`` are filled, so a caller can report "unsupported scheme".

    ``algorithm`` is ``None`` when absent (which means MD5); ``qop`` holds the
    lower-cased qop-options, empty when absent (RFC 2069 compatibility); ``params``
    keeps parameters this module does not interpret, names lower-cased.
    """

    scheme: str
    realm: str = ""
    nonce: str = ""
    algorithm: str | None = None
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False
    domain: tuple[str, ...] = ()
    userhash: bool = False
    charset: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    token68: str | None = None

    @property
    def is_digest(self) -> bool:
        return self.scheme.lower() == "digest"

    @property
    def supported(self) -> bool:
        """A Digest challenge whose algorithm this Python can compute."""
        return self.is_digest and (self.algorithm or "MD5").upper() in _ALGORITHMS


def _challenge(item: _Parsed, text: str) -> Challenge:
    scheme, params, token68 = item
    if scheme.lower() != "digest":
        return Challenge(scheme=scheme, params=params, token68=token68)
    for required in ("realm", "nonce"):
        if required not in params:
            # realm and nonce are mandatory (RFC 2617 §3.2.1, RFC 7616 §3.3).
            raise ParseError(f"Digest challenge lacks {required!r}", 400, text)
    qop: tuple[str, ...] = ()
    if "qop" in params:
        # qop-options is a quoted, comma-separated list (RFC 3261 §25); a bare token
        # is accepted too since some servers send qop=auth.
        qop = tuple(q.strip(" \t").lower() for q in params["qop"].split(",") if q.strip(" \t"))
        if not qop:
            raise ParseError("Digest challenge has an empty qop list", 400, text)
    if "algorithm" in params and not set(params["algorithm"]) <= _TOKEN:
        raise ParseError("Digest challenge algorithm is not a token", 400, text)
    return Challenge(
        scheme=scheme,
        realm=params["realm"],
        nonce=params["nonce"],
        algorithm=params.get("algorithm"),
        qop=qop,
        opaque=params.get("opaque"),
        stale=_flag(params.get("stale")),
        # domain is a space-separated URI list (RFC 2617 §3.2.1).
        domain=tuple(params.get("domain", "").split()),
        userhash=_flag(params.get("userhash")),
        charset=params.get("charset"),
        params={k: v for k, v in params.items() if k not in _CHALLENGE_KNOWN},
    )


def parse_challenges(value: str) -> list[Challenge]:
    """Every challenge in one WWW-Authenticate / Proxy-Authenticate value.

    SIP forbids combining these headers into one row (RFC 3261 §7.3.1), but HTTP
    peers do it (RFC 7235 §4.1), so a comma-separated list of challenges is split.
    """
    return [_challenge(item, value) for item in _parse_list(value)]


def parse_challenge(value: str) -> Challenge:
    """The single challenge in a WWW-Authenticate / Proxy-Authenticate value."""
    found = parse_challenges(value)
    if len(found) != 1:
        raise ParseError(
            f"expected one challenge, found {len(found)} (use parse_challenges)", 400, value
        )
    return found[0]


def select_challenge(challenges: Iterable[Challenge]) -> Challenge | None:
    """The first Digest challenge with an algorithm we support, or ``None``.

    RFC 8760 has a UAS list one challenge per algorithm, most preferred first, and
    a UAC use the topmost one it supports.
    """
    return next((c for c in challenges if c.supported), None)


# ---------------------------------------------------------------------------
# Digest computation (RFC 7616 §3.4.1-§3.4.4, RFC 2617 §3.2.2.1-§3.2.2.3)
# ---------------------------------------------------------------------------


def _check_ha1(alg: _Algorithm, ha1: str) -> str:
    ha1 = ha1.lower()
    if len(ha1) != alg.hex_len or not set(ha1) <= _HEX:
        raise ValueError(f"ha1 must be {alg.hex_len} hex digits for {alg.name}")
    return ha1


def compute_ha1(username: str, realm: str, password: str, algorithm: str | None = "MD5") -> str:
    """H(username ":" realm ":" password), the value a registrar may store instead of
    the password.  For "-sess" algorithms this is still the base hash; the session
    part is added per request by ``compute_response``."""
    return _algorithm(algorithm).hex(_b(f"{username}:{realm}:{password}"))


def compute_userhash(username: str, realm: str, algorithm: str | None = "MD5") -> str:
    """H(username ":" realm), sent as username when userhash=true (RFC 7616 §3.4.4)."""
    return _algorithm(algorithm).hex(_b(f"{username}:{realm}"))


def compute_response(
    *,
    algorithm: str | None,
    ha1: str,
    nonce: str,
    method: str,
    uri: str,
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
    body: bytes = b"",
) -> str:
    """The request-digest.  ``ha1`` is the base H(user:realm:password).

    Raises ``UnsupportedChallenge`` for an unknown algorithm or qop, ``ValueError``
    when qop or a -sess algorithm comes without the cnonce/nc it needs or ``ha1`` has
    the wrong length for the algorithm.
    """
    alg = _algorithm(algorithm)
    ha1 = _check_ha1(alg, ha1)
    if alg.session:
        if cnonce is None:
            raise ValueError(f"{alg.name} needs a cnonce")
        # RFC 7616 §3.4.2: A1 = H(user:realm:passwd) ":" nonce ":" cnonce.
        ha1 = alg.hex(_b(f"{ha1}:{nonce}:{cnonce}"))
    qop_kind = None if qop is None else qop.lower()
    if qop_kind == "auth-int":
        # RFC 7616 §3.4.3 / RFC 2617 §3.2.2.3: A2 = Method ":" uri ":" H(entity-body);
        # a SIP message without a body has an empty entity-body, so H("") is used.
        ha2 = alg.hex(_b(f"{method}:{uri}:") + alg.hex(body).encode("ascii"))
    elif qop_kind in (None, "auth"):
        ha2 = alg.hex(_b(f"{method}:{uri}"))
    else:
        raise UnsupportedChallenge(f"unsupported qop {qop!r}")
    if qop is None:
        # RFC 2617 §3.2.2.1 compatibility with RFC 2069: H(HA1:nonce:HA2).
        return alg.hex(_b(f"{ha1}:{nonce}:{ha2}"))
    if nc is None or cnonce is None:
        raise ValueError("qop needs both nc and cnonce")
    # RFC 7616 §3.4.1: KD(H(A1), nonce:nc:cnonce:qop:H(A2)), KD(s, d) = H(s ":" d).
    return alg.hex(_b(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}"))


# ---------------------------------------------------------------------------
# Client
# ---------------------------------------------------------------------------

_QOP_IMPLEMENTED = ("auth", "auth-int")


def _new_cnonce() -> str:
    return secrets.token_hex(16)


class DigestClient:
    """Answers Digest challenges and keeps the nonce count per nonce.

    RFC 2617 §3.2.2: nc counts the requests sent with one nonce, starting at
    00000001, so the server can detect replays; a new nonce (for instance after a
    stale=TRUE challenge) starts again at 1.  Only the ``max_nonces`` most recently
    used nonces are remembered.

    ACK for a non-2xx response and CANCEL reuse the credentials of the request they
    belong to (RFC 3261 §22.1): copy that header instead of calling ``authorize``.
    """

    __slots__ = ("_counts", "_max_nonces", "_new_cnonce")

    def __init__(
        self, *, cnonce_factory: Callable[[], str] | None = None, max_nonces: int = 256
    ) -> None:
        self._counts: dict[str, int] = {}
        self._max_nonces = max_nonces
        self._new_cnonce = cnonce_factory or _new_cnonce

    def nonce_count(self, nonce: str) -> int:
        """The last nc sent with ``nonce`` (0 if never used)."""
        return self._counts.get(nonce, 0)

    def forget(self, nonce: str | None = None) -> None:
        """Drop the count of one nonce, or of all of them."""
        if nonce is None:
            self._counts.clear()
        else:
            self._counts.pop(nonce, None)

    def _count(self, nonce: str) -> None:
        count = self._counts.pop(nonce, 0) + 1  # pop + insert keeps LRU order
        self._counts[nonce] = count
        while len(self._counts) > self._max_nonces:
            del self._counts[next(iter(self._counts))]

    def authorize(
        self,
        challenge: Challenge | str,
        *,
        method: str,
        uri: str,
        username: str,
        password: str | None = None,
        ha1: str | None = None,
        body: bytes = b"",
        cnonce: str | None = None,
        qop_preference: Sequence[str] = _QOP_IMPLEMENTED,
    ) -> str:
        """The Authorization / Proxy-Authorization value answering ``challenge``.

        Give exactly one of ``password`` or ``ha1`` (the base H(user:realm:password)
        for the challenge's algorithm).  ``qop_preference`` orders the qop values we
        are willing to use; the first one the server offers wins.  Without a qop in
        the challenge the RFC 2069 form is used.  Raises ``UnsupportedChallenge``
        when the challenge cannot be answered.
        """
        if isinstance(challenge, str):
            challenge = parse_challenge(challenge)
        if (password is None) == (ha1 is None):
            raise TypeError("give exactly one of password or ha1")
        unknown = [q for q in qop_preference if q not in _QOP_IMPLEMENTED]
        if unknown:
            raise ValueError(f"qop_preference holds unimplemented values {unknown}")
        if not challenge.is_digest:
            raise UnsupportedChallenge(f"unsupported auth scheme {challenge.scheme!r}")
        alg = _algorithm(challenge.algorithm)
        qop: str | None = None
        if challenge.qop:
            # RFC 2617 §3.2.2: with qop offered the client MUST pick one it supports.
            qop = next((q for q in qop_preference if q in challenge.qop), None)
            if qop is None:
                raise UnsupportedChallenge(
                    f"server offers qop {list(challenge.qop)}, we accept {list(qop_preference)}"
                )
        elif alg.session:
            # -sess needs a cnonce, which RFC 2617 forbids without qop.
            raise UnsupportedChallenge(f"{alg.name} challenge without qop")
        if password is not None:
            base_ha1 = compute_ha1(username, challenge.realm, password, alg.name)
        elif ha1 is not None:
            base_ha1 = _check_ha1(alg, ha1)
        else:  # unreachable after the check above; narrows the type
            raise TypeError("give exactly one of password or ha1")
        nc_text: str | None = None
        if qop is not None:
            cnonce = cnonce if cnonce is not None else self._new_cnonce()
            # Committed by _count() only once the header is built, so a failure here
            # does not leave a gap in the nc sequence.
            nc_text = f"{self.nonce_count(challenge.nonce) + 1:08x}"
        else:
            cnonce = None
        response = compute_response(
            algorithm=alg.name,
            ha1=base_ha1,
            nonce=challenge.nonce,
            method=method,
            uri=uri,
            qop=qop,
            nc=nc_text,
            cnonce=cnonce,
            body=body,
        )
        shown_user = username
        if challenge.userhash:
            shown_user = compute_userhash(username, challenge.realm, alg.name)
        items: list[tuple[str, str, bool]] = [
            ("username", shown_user, True),
            ("realm", challenge.realm, True),
            ("nonce", challenge.nonce, True),
            ("uri", uri, True),
            ("response", response, True),
        ]
        if challenge.algorithm is not None:
            # Echo the server's spelling; omit it when the server did (RFC 2069 peers).
            items.append(("algorithm", challenge.algorithm, False))
        if cnonce is not None:
            items.append(("cnonce", cnonce, True))
        if challenge.opaque is not None:
            items.append(("opaque", challenge.opaque, True))  # RFC 2617 §3.2.2: echo
        if qop is not None and nc_text is not None:
            items += [("qop", qop, False), ("nc", nc_text, False)]
        if challenge.userhash:
            items.append(("userhash", "true", False))
        header = format_params("Digest", items)
        if qop is not None:
            self._count(challenge.nonce)
        return header
