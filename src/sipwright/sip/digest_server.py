"""HTTP Digest authentication for SIP, server side (RFC 3261 §22.4, RFC 8760).

Used by sipwright's own UAS and registrar: issue challenges, parse and verify
credentials, and keep nonce counts so replays are caught.  Time is always passed in
as ``now`` (seconds, any monotonic origin); nothing here reads the clock.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import secrets
import struct
import urllib.parse
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from sipwright.sip.digest import (
    _HEX,
    UnsupportedChallenge,
    _algorithm,
    _b,
    _check_token,
    _flag,
    _parse_list,
    compute_ha1,
    compute_response,
    compute_userhash,
    format_params,
)
from sipwright.sip.errors import ParseError

__all__ = [
    "AuthResult",
    "Authorization",
    "NonceStore",
    "make_challenge",
    "parse_authorization",
    "verify",
]

# ---------------------------------------------------------------------------
# Credentials (RFC 2617 §3.2.2, RFC 7616 §3.4, RFC 3261 §25 "credentials")
# ---------------------------------------------------------------------------

_AUTH_KNOWN = frozenset(
    "username username* realm nonce uri response algorithm cnonce nc qop opaque userhash".split()
)


@dataclass(frozen=True, slots=True)
class Authorization:
    """Parsed Authorization / Proxy-Authorization credentials.

    ``nc`` keeps the 8 hex digits as sent, because the digest is computed over that
    text; ``nc_value`` is its number.  With ``userhash`` the ``username`` is the hash
    H(username:realm) (RFC 7616 §3.4.4).  A ``username*`` parameter (RFC 7616 §3.4,
    RFC 8187 encoding) is decoded into ``username``.  For non-Digest schemes only
    ``scheme``, ``params`` and ``token68`` are filled.
    """

    scheme: str
    username: str = ""
    realm: str = ""
    nonce: str = ""
    uri: str = ""
    response: str = ""
    algorithm: str | None = None
    cnonce: str | None = None
    nc: str | None = None
    qop: str | None = None
    opaque: str | None = None
    userhash: bool = False
    params: dict[str, str] = field(default_factory=dict)
    token68: str | None = None

    @property
    def is_digest(self) -> bool:
        return self.scheme.lower() == "digest"

    @property
    def nc_value(self) -> int | None:
        return None if self.nc is None else int(self.nc, 16)


def _ext_value(value: str, text: str) -> str:
    # ext-value = charset "'" [ language ] "'" value-chars (RFC 8187 §3.2.1).
    parts = value.split("'", 2)
    if len(parts) != 3 or parts[0].lower() not in ("utf-8", "iso-8859-1"):
        raise ParseError("username* is not a valid ext-value", 400, text)
    try:
        return urllib.parse.unquote_to_bytes(parts[2]).decode(parts[0].lower())
    except UnicodeDecodeError:
        raise ParseError("username* does not decode in its charset", 400, text) from None


def parse_authorization(value: str) -> Authorization:
    """Parse an Authorization / Proxy-Authorization value (one set of credentials)."""
    items = _parse_list(value)
    if len(items) != 1:
        raise ParseError(f"expected one set of credentials, found {len(items)}", 400, value)
    scheme, params, token68 = items[0]
    if scheme.lower() != "digest":
        return Authorization(scheme=scheme, params=params, token68=token68)
    if "username" in params and "username*" in params:
        # RFC 7616 §3.4: the two MUST NOT both be present.
        raise ParseError("credentials carry both username and username*", 400, value)
    if "username*" in params:
        params["username"] = _ext_value(params["username*"], value)
    for required in ("username", "realm", "nonce", "uri", "response"):
        if required not in params:
            raise ParseError(f"Digest credentials lack {required!r}", 400, value)
    qop, nc, cnonce = params.get("qop"), params.get("nc"), params.get("cnonce")
    if qop is not None and (nc is None or cnonce is None):
        # RFC 2617 §3.2.2: cnonce and nc MUST be sent when qop is ...
        raise ParseError("Digest credentials with qop lack cnonce or nc", 400, value)
    if qop is None and nc is not None:
        # ... and MUST NOT be sent without it.
        raise ParseError("Digest credentials carry nc without qop", 400, value)
    if nc is not None and (len(nc) != 8 or not set(nc) <= _HEX):
        # nc-value = 8LHEX (RFC 3261 §25).
        raise ParseError(f"nc must be 8 hex digits, got {nc!r}", 400, value)
    return Authorization(
        scheme=scheme,
        username=params["username"],
        realm=params["realm"],
        nonce=params["nonce"],
        uri=params["uri"],
        response=params["response"],
        algorithm=params.get("algorithm"),
        cnonce=cnonce,
        nc=nc,
        qop=qop,
        opaque=params.get("opaque"),
        userhash=_flag(params.get("userhash")),
        params={k: v for k, v in params.items() if k not in _AUTH_KNOWN},
    )


# ---------------------------------------------------------------------------
# Challenges and verification
# ---------------------------------------------------------------------------


def make_challenge(
    realm: str,
    *,
    algorithm: str | None = "MD5",
    qop: Sequence[str] = ("auth",),
    nonce: str | None = None,
    opaque: str | None = None,
    stale: bool = False,
    domain: Sequence[str] = (),
    userhash: bool = False,
) -> str:
    """A WWW-Authenticate / Proxy-Authenticate value.

    ``algorithm=None`` or ``qop=()`` leave the parameter out (the RFC 2069 form that
    RFC 3261 §22.4 still allows).  Any token is accepted as algorithm or qop so a
    test can offer values a peer must refuse.  The nonce defaults to 24 random bytes.
    """
    items: list[tuple[str, str, bool]] = [("realm", realm, True)]
    if domain:
        items.append(("domain", " ".join(domain), True))
    items.append(("nonce", nonce if nonce is not None else secrets.token_urlsafe(24), True))
    if opaque is not None:
        items.append(("opaque", opaque, True))
    if stale:
        items.append(("stale", "TRUE", False))  # RFC 2617 §3.2.1 spelling
    if algorithm is not None:
        items.append(("algorithm", algorithm, False))
    if qop:
        # qop-options is a quoted list of tokens (RFC 3261 §25).
        items.append(("qop", ",".join(_check_token(q, "qop") for q in qop), True))
    if userhash:
        items.append(("userhash", "true", False))
    return format_params("Digest", items)


def verify(
    authorization: Authorization,
    *,
    method: str,
    password: str | None = None,
    ha1: str | None = None,
    username: str | None = None,
    body: bytes = b"",
    expected_realm: str | None = None,
    expected_nonce: str | None = None,
    expected_uri: str | None = None,
    offered_qop: Collection[str] | None = None,
    offered_algorithms: Collection[str] | None = None,
) -> bool:
    """True when ``authorization`` carries a correct digest.

    Give exactly one of ``password`` or ``ha1`` (base H(user:realm:password)).
    ``username`` is the account the secret belongs to; when given, the credentials
    must name it (as a userhash if ``userhash=true``).  With userhash and a password,
    ``username`` is required since the header only carries the hash.  ``expected_*``
    are compared when given.  ``offered_qop`` / ``offered_algorithms`` are what the
    challenge offered: a response using anything else fails (an empty ``offered_qop``
    means the RFC 2069 form, without qop, is the only one accepted).  Nonce freshness
    and nc replay are the caller's job, see ``NonceStore``.
    """
    if (password is None) == (ha1 is None):
        raise TypeError("give exactly one of password or ha1")
    a = authorization
    if not a.is_digest:
        return False
    for expected, got in ((expected_realm, a.realm), (expected_nonce, a.nonce)):
        if expected is not None and expected != got:
            return False
    if expected_uri is not None and expected_uri != a.uri:
        return False
    try:
        alg = _algorithm(a.algorithm)
    except UnsupportedChallenge:
        return False
    if offered_algorithms is not None and alg.name.upper() not in {
        o.upper() for o in offered_algorithms
    }:
        return False
    qop = None if a.qop is None else a.qop.lower()
    if offered_qop is not None and (
        (qop is None and offered_qop) or (qop is not None and qop not in offered_qop)
    ):
        return False
    if qop not in (None, "auth", "auth-int") or (alg.session and a.cnonce is None):
        return False
    if username is not None:
        shown = compute_userhash(username, a.realm, alg.name) if a.userhash else username
        # A userhash is hex, compared case-insensitively (RFC 8760 lower-case hex).
        if (a.username.lower() if a.userhash else a.username) != shown:
            return False
    if password is not None:
        if a.userhash and username is None:
            raise ValueError("userhash credentials need username= to compute HA1")
        account = username if username is not None else a.username
        ha1 = compute_ha1(account, a.realm, password, alg.name)
    elif ha1 is None:  # unreachable after the check above; narrows the type
        raise TypeError("give exactly one of password or ha1")
    expected_response = compute_response(
        algorithm=alg.name,
        ha1=ha1,
        nonce=a.nonce,
        method=method,
        uri=a.uri,
        qop=a.qop,
        nc=a.nc,
        cnonce=a.cnonce,
        body=body,
    )
    # Constant time, over bytes: the received value may hold any character.
    return hmac.compare_digest(_b(expected_response), _b(a.response.lower()))


# ---------------------------------------------------------------------------
# Nonces with replay protection (RFC 2617 §3.2.1, §3.2.2, §4.5; RFC 7616 §5.5)
# ---------------------------------------------------------------------------


class AuthResult(enum.Enum):
    """Outcome of ``NonceStore.authenticate``; the UAS answers all but OK with 401/407."""

    OK = "ok"
    BAD_CREDENTIALS = "bad-credentials"  # wrong digest, user, realm, qop or algorithm
    UNKNOWN_NONCE = "unknown-nonce"  # not issued by this store: challenge afresh
    STALE = "stale"  # right password, old nonce: challenge with stale=TRUE
    REPLAY = "replay"  # nc already used with this nonce


@dataclass(slots=True)
class _NonceState:
    issued: float
    realm: str | None = None
    offered_qop: tuple[str, ...] | None = None
    offered_algorithms: tuple[str, ...] | None = None
    seen: set[int] = field(default_factory=set)
    uses: int = 0


_TS = struct.Struct(">d")
_RAND_LEN = 8
_MAC_LEN = 16


class NonceStore:
    """Issues nonces and tracks the nc values used with each.

    A nonce is base64url(issue-time, random, HMAC(secret, issue-time || random)), the
    time-stamped design RFC 2617 §3.2.1 suggests: the store can tell one of its own
    expired nonces (answer stale=TRUE) from a forged one even after forgetting it.
    Seen nc values are kept per nonce in a set rather than as a high-water mark,
    because requests on UDP may arrive out of order; the same nc twice is a replay
    (RFC 2617 §3.2.2).  The RFC 2069 form (no qop) carries no nc, so it cannot be
    protected against replay beyond the nonce lifetime.

    ``lifetime`` is in the unit of ``now``; ``max_uses`` makes a nonce stale after
    that many accepted requests.  Pass a fixed ``secret`` to keep nonces valid
    across store instances.
    """

    __slots__ = ("_lifetime", "_max_uses", "_secret", "_states")

    def __init__(
        self, *, lifetime: float = 300.0, max_uses: int | None = None, secret: bytes | None = None
    ) -> None:
        self._lifetime = lifetime
        self._max_uses = max_uses
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        self._states: dict[str, _NonceState] = {}

    def _mac(self, data: bytes) -> bytes:
        return hmac.new(self._secret, data, hashlib.sha256).digest()[:_MAC_LEN]

    def issue(self, now: float) -> str:
        """A fresh nonce."""
        self.prune(now)
        data = _TS.pack(now) + secrets.token_bytes(_RAND_LEN)
        nonce = base64.urlsafe_b64encode(data + self._mac(data)).decode("ascii")
        self._states[nonce] = _NonceState(now)
        return nonce

    def _issued_at(self, nonce: str) -> float | None:
        try:
            raw = base64.b64decode(nonce.encode("ascii"), altchars=b"-_", validate=True)
        except (UnicodeEncodeError, binascii.Error):
            return None
        data, mac = raw[:-_MAC_LEN], raw[-_MAC_LEN:]
        if len(raw) != _TS.size + _RAND_LEN + _MAC_LEN or not hmac.compare_digest(
            mac, self._mac(data)
        ):
            return None
        issued: float = _TS.unpack_from(data)[0]
        return issued

    def challenges(
        self,
        realm: str,
        now: float,
        *,
        algorithms: Sequence[str] = ("MD5",),
        qop: Sequence[str] = ("auth",),
        opaque: str | None = None,
        stale: bool = False,
        userhash: bool = False,
    ) -> list[str]:
        """One challenge per algorithm, most preferred first, sharing a new nonce
        (RFC 8760: one WWW-Authenticate per algorithm).  The realm, qop list and
        algorithms are remembered and enforced by ``authenticate``."""
        nonce = self.issue(now)
        self._states[nonce] = _NonceState(
            now, realm, tuple(q.lower() for q in qop), tuple(algorithms)
        )
        return [
            make_challenge(
                realm,
                algorithm=a,
                qop=qop,
                nonce=nonce,
                opaque=opaque,
                stale=stale,
                userhash=userhash,
            )
            for a in algorithms
        ]

    def challenge(
        self,
        realm: str,
        now: float,
        *,
        algorithm: str = "MD5",
        qop: Sequence[str] = ("auth",),
        opaque: str | None = None,
        stale: bool = False,
        userhash: bool = False,
    ) -> str:
        """A single challenge with a new nonce; see ``challenges``."""
        return self.challenges(
            realm,
            now,
            algorithms=(algorithm,),
            qop=qop,
            opaque=opaque,
            stale=stale,
            userhash=userhash,
        )[0]

    def authenticate(
        self,
        authorization: Authorization,
        *,
        now: float,
        method: str,
        password: str | None = None,
        ha1: str | None = None,
        username: str | None = None,
        body: bytes = b"",
        realm: str | None = None,
    ) -> AuthResult:
        """Check credentials and nonce, recording the nc only when they are right.

        The digest is checked before the nc is recorded so that forged requests
        cannot burn nc values a legitimate client has yet to use.  ``realm`` overrides
        the realm remembered by ``challenge``; pass it for nonces made by ``issue`` or
        by another store instance, which carry no remembered realm, qop or algorithm.
        """
        a = authorization
        issued = self._issued_at(a.nonce) if a.is_digest else None
        if issued is None:
            return AuthResult.UNKNOWN_NONCE if a.is_digest else AuthResult.BAD_CREDENTIALS
        state = self._states.get(a.nonce)
        ok = verify(
            a,
            method=method,
            password=password,
            ha1=ha1,
            username=username,
            body=body,
            expected_realm=state.realm if realm is None and state is not None else realm,
            offered_qop=None if state is None else state.offered_qop,
            offered_algorithms=None if state is None else state.offered_algorithms,
        )
        if not ok:
            return AuthResult.BAD_CREDENTIALS
        if now - issued > self._lifetime:
            return AuthResult.STALE
        if state is None:  # ours but forgotten, e.g. issued by an earlier instance
            state = self._states[a.nonce] = _NonceState(issued)
        if self._max_uses is not None and state.uses >= self._max_uses:
            return AuthResult.STALE
        nc = a.nc_value
        if nc is not None:
            if nc in state.seen:
                return AuthResult.REPLAY
            state.seen.add(nc)
        state.uses += 1
        return AuthResult.OK

    def prune(self, now: float) -> None:
        """Forget nonces past their lifetime (they would only be STALE anyway)."""
        # Nonces are inserted in issue order, so expired ones sit at the front.
        while self._states:
            nonce, state = next(iter(self._states.items()))
            if now - state.issued <= self._lifetime:
                break
            del self._states[nonce]

    def __len__(self) -> int:
        return len(self._states)
