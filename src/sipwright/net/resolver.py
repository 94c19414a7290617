"""Locating SIP servers in DNS (RFC 3263 §4) and ENUM (RFC 6116), on dnspython's asyncio resolver.

``resolve`` turns a SIP or SIPS URI into an ordered list of ``Target`` (transport, IP
address, port).  The list is the whole failover plan of RFC 3263 §4.3: a client sends to
the first target and moves on to the next one when the transaction times out, the
transport reports a failure, or a 503 (Service Unavailable) comes back; the list is only
exhausted when every target failed.  Entries keep the order the procedure produced:
NAPTR order/preference, then SRV priority with weighted random selection within a
priority (RFC 2782), then every address of each SRV target (A before AAAA unless
``prefer_ipv6``).

``enum_lookup`` turns an E.164 number into SIP URIs through ``E2U+sip`` NAPTR records.

Both raise ``ResolutionError`` (never a dnspython exception) when nothing usable is found,
naming the DNS name and record type that failed and why (NXDOMAIN, no records, timeout).
Both take an optional ``dns.asyncresolver.Resolver``; tests point one at a local server
with ``resolver.nameservers = ["127.0.0.1"]`` and ``resolver.port = <port>``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import dns.asyncresolver
import dns.exception
import dns.name
import dns.rdata
import dns.rdatatype
import dns.rdtypes.IN.NAPTR
import dns.rdtypes.IN.SRV
import dns.resolver

from sipwright.net.address import DEFAULT_PORTS, TRANSPORTS, Destination
from sipwright.sip.errors import ParseError
from sipwright.sip.uri import SipURI, parse_uri

__all__ = [
    "DEFAULT_PORTS",
    "NAPTR_SERVICES",
    "SRV_PREFIXES",
    "TRANSPORTS",
    "ResolutionError",
    "Target",
    "e164_domain",
    "enum_lookup",
    "order_srv",
    "resolve",
]

# RFC 3263 §4.1 and RFC 7118 §7: NAPTR service field -> transport.
NAPTR_SERVICES = {
    "SIP+D2U": "udp",
    "SIP+D2T": "tcp",
    "SIPS+D2T": "tls",
    "SIP+D2W": "ws",
    "SIPS+D2W": "wss",
}
# RFC 3263 §4.1 / RFC 7118 §7: transport -> SRV service/protocol labels.
SRV_PREFIXES = {
    "udp": "_sip._udp",
    "tcp": "_sip._tcp",
    "tls": "_sips._tcp",
    "ws": "_sip._ws",
    "wss": "_sips._ws",
}
_SECURE_TRANSPORTS = ("tls", "wss")
# Transport used when the URI has a numeric host or an explicit port but no transport
# parameter (RFC 3263 §4.1: UDP for sip, TLS over TCP for sips), in fallback order for a
# caller that does not support the first choice.  WebSocket is never guessed: it needs
# transport=ws in the URI (RFC 7118 §5).
_IMPLICIT_TRANSPORTS = {"sip": ("udp", "tcp", "tls"), "sips": ("tls",)}


class ResolutionError(Exception):
    """No usable target: the message names the DNS name, the record type and the reason."""

    def __init__(self, message: str, *, name: str | None = None, rdtype: str | None = None):
        super().__init__(message)
        self.name = name
        self.rdtype = rdtype


@dataclass(frozen=True, slots=True)
class Target:
    """One place to send to: a transport, the name (or IP) it came from and an IP address.

    ``host`` is the SRV target or the URI host/maddr as found (no trailing dot, IPv6
    without brackets); ``priority``/``weight`` are the SRV values (0 when no SRV was
    used).
    """

    transport: str
    host: str
    address: str
    port: int
    priority: int = 0
    weight: int = 0

    @property
    def sockaddr(self) -> tuple[str, int]:
        return (self.address, self.port)

    @property
    def destination(self) -> Destination:
        """The ``Destination`` the transport layer sends to."""
        return Destination(self.transport, self.address, self.port)

    def __str__(self) -> str:
        address = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.transport}:{address}:{self.port} ({self.host})"


class _Weighted(Protocol):
    @property
    def priority(self) -> int: ...

    @property
    def weight(self) -> int: ...


_W = TypeVar("_W", bound=_Weighted)


def order_srv(records: Iterable[_W], rng: random.Random | None = None) -> list[_W]:
    """Order SRV-like records per RFC 2782: ascending priority, then weighted random
    selection within each priority (weight-0 records first, so they rarely win).

    The result depends only on the input order and ``rng``.
    """
    rng = rng if rng is not None else random.Random()
    by_priority: dict[int, list[_W]] = {}
    for record in records:
        by_priority.setdefault(record.priority, []).append(record)
    ordered: list[_W] = []
    for priority in sorted(by_priority):
        group = by_priority[priority]
        # RFC 2782: "arrange all SRV RRs (that have not been ordered yet) in any order,
        # except that all those with weight 0 are placed at the beginning of the list."
        pending = [r for r in group if r.weight == 0] + [r for r in group if r.weight != 0]
        while pending:
            total = sum(r.weight for r in pending)
            pick = rng.randint(0, total)
            running = 0
            for index, record in enumerate(pending):
                running += record.weight
                if running >= pick:
                    ordered.append(pending.pop(index))
                    break
    return ordered


# --------------------------------------------------------------------------- DNS queries


@dataclass(frozen=True, slots=True)
class _Answer:
    name: str
    rdtype: str
    records: tuple[dns.rdata.Rdata, ...]
    nxdomain: bool = False

    @property
    def reason(self) -> str:
        return "NXDOMAIN (no such name)" if self.nxdomain else f"no {self.rdtype} records"


def _display(name: str) -> str:
    return name[:-1] if name.endswith(".") and len(name) > 1 else name


async def _query(resolver: dns.asyncresolver.Resolver, name: str, rdtype: str) -> _Answer:
    """Records of one type; empty on NXDOMAIN or no data, ResolutionError on failure."""
    shown = _display(name)
    try:
        qname = dns.name.from_text(name)
        answer = await resolver.resolve(qname, rdtype, search=False, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return _Answer(shown, rdtype, (), nxdomain=True)
    except dns.resolver.NoAnswer:
        return _Answer(shown, rdtype, ())
    except dns.exception.Timeout as exc:
        raise ResolutionError(
            f"{shown} {rdtype}: timed out ({exc})", name=shown, rdtype=rdtype
        ) from None
    except dns.resolver.NoNameservers as exc:
        raise ResolutionError(
            f"{shown} {rdtype}: no name server answered ({exc})", name=shown, rdtype=rdtype
        ) from None
    except (dns.exception.DNSException, OSError) as exc:
        reason = str(exc) or type(exc).__name__
        raise ResolutionError(f"{shown} {rdtype}: {reason}", name=shown, rdtype=rdtype) from None
    return _Answer(shown, rdtype, tuple(answer.rrset) if answer.rrset is not None else ())


def _default_resolver() -> dns.asyncresolver.Resolver:
    try:
        return dns.asyncresolver.get_default_resolver()
    except (dns.exception.DNSException, OSError) as exc:
        raise ResolutionError(f"no DNS resolver configuration: {exc}") from None


def _first_error(results: Sequence[object]) -> ResolutionError | None:
    for result in results:
        if isinstance(result, ResolutionError):
            return result
        if isinstance(result, BaseException):
            raise result
    return None


async def _addresses(
    resolver: dns.asyncresolver.Resolver, name: str, prefer_ipv6: bool
) -> list[str]:
    """All A and AAAA addresses of a name (A first unless prefer_ipv6)."""
    families = ("AAAA", "A") if prefer_ipv6 else ("A", "AAAA")
    results = await asyncio.gather(
        *(_query(resolver, name, rdtype) for rdtype in families), return_exceptions=True
    )
    addresses = [
        record.to_text()
        for result in results
        if isinstance(result, _Answer)
        for record in result.records
    ]
    if addresses:
        return addresses
    error = _first_error(results)
    if error is not None:
        raise error
    answers = [r for r in results if isinstance(r, _Answer)]
    shown = _display(name)
    if any(a.nxdomain for a in answers):
        raise ResolutionError(
            f"{shown} A/AAAA: NXDOMAIN (no such name)", name=shown, rdtype="A/AAAA"
        )
    raise ResolutionError(f"{shown}: no A or AAAA records", name=shown, rdtype="A/AAAA")


# --------------------------------------------------------------------------- RFC 3263


@dataclass(frozen=True, slots=True)
class _Context:
    resolver: dns.asyncresolver.Resolver
    rng: random.Random
    prefer_ipv6: bool


async def _from_srv(ctx: _Context, srv_name: str, transport: str) -> list[Target] | None:
    """Targets of the SRV records at ``srv_name``; None when there are none.

    Raises ResolutionError when SRV records exist but lead nowhere (target "." or no
    target resolves): RFC 3263 §4.2 falls back to A/AAAA only when no SRV is found.
    """
    answer = await _query(ctx.resolver, srv_name, "SRV")
    records = [r for r in answer.records if isinstance(r, dns.rdtypes.IN.SRV.SRV)]
    if not records:
        return None
    usable = [r for r in records if r.target != dns.name.root]
    if not usable:
        raise ResolutionError(
            f"{answer.name} SRV: service not available (target '.')",
            name=answer.name,
            rdtype="SRV",
        )
    # Name servers shuffle records; a fixed starting order makes a seeded rng repeatable.
    usable.sort(key=lambda r: (r.priority, r.weight, r.target, r.port))
    ordered = order_srv(usable, ctx.rng)
    results = await asyncio.gather(
        *(_addresses(ctx.resolver, r.target.to_text(), ctx.prefer_ipv6) for r in ordered),
        return_exceptions=True,
    )
    targets = [
        Target(
            transport=transport,
            host=record.target.to_text(omit_final_dot=True),
            address=address,
            port=record.port,
            priority=record.priority,
            weight=record.weight,
        )
        for record, result in zip(ordered, results, strict=True)
        if isinstance(result, list)
        for address in result
    ]
    if targets:
        return targets
    error = _first_error(results)
    assert error is not None  # every target failed, so each result is an error
    raise ResolutionError(
        f"{answer.name} SRV: no target resolves ({error})", name=error.name, rdtype=error.rdtype
    )


async def _collect(
    lookups: Sequence[tuple[str, str]], ctx: _Context
) -> tuple[list[Target], ResolutionError | None]:
    """Run SRV lookups concurrently: the targets in the given order and the first error."""
    results = await asyncio.gather(
        *(_from_srv(ctx, name, transport) for name, transport in lookups),
        return_exceptions=True,
    )
    targets = [t for result in results if isinstance(result, list) for t in result]
    return targets, _first_error(results)


async def _from_naptr(ctx: _Context, domain: str, allowed: Sequence[str]) -> list[Target]:
    answer = await _query(ctx.resolver, domain, "NAPTR")
    records = sorted(
        (r for r in answer.records if isinstance(r, dns.rdtypes.IN.NAPTR.NAPTR)),
        key=lambda r: (r.order, r.preference),
    )
    lookups: list[tuple[str, str]] = []
    for record in records:
        transport = NAPTR_SERVICES.get(record.service.decode("ascii", "replace").upper())
        # Only the "s" flag (next lookup is SRV) is meaningful for SIP (RFC 3263 §4.1).
        if transport is None or transport not in allowed or record.flags.lower() != b"s":
            continue
        if record.replacement == dns.name.root:
            continue
        lookups.append((record.replacement.to_text(), transport))
    if not lookups:
        return []
    targets, _ = await _collect(lookups, ctx)
    return targets


def _explicit_transport(uri: SipURI) -> str | None:
    transport = uri.transport
    if transport is None:
        return None
    if uri.secure:
        if transport == "udp":
            raise ResolutionError(f"{uri}: a sips URI cannot use transport=udp")
        transport = {"tcp": "tls", "ws": "wss"}.get(transport, transport)
    if transport not in TRANSPORTS:
        raise ResolutionError(f"{uri}: unsupported transport {transport!r}")
    return transport


def _check_transports(transports: Iterable[str]) -> tuple[str, ...]:
    checked = tuple(t.lower() for t in transports)
    unknown = [t for t in checked if t not in TRANSPORTS]
    if unknown or not checked:
        raise ValueError(
            f"transports must be a non-empty selection of {', '.join(TRANSPORTS)}; "
            f"got {', '.join(checked) or 'nothing'}"
        )
    return checked


def _ip_literal(host: str) -> str | None:
    text = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


async def resolve(
    uri: SipURI | str,
    *,
    transports: Iterable[str] = TRANSPORTS,
    resolver: dns.asyncresolver.Resolver | None = None,
    prefer_ipv6: bool = False,
    rng: random.Random | None = None,
) -> list[Target]:
    """The ordered failover list of targets for ``uri`` (RFC 3263 §4).

    ``transports`` are those the caller supports (a subset of ``TRANSPORTS``; its order
    is the preference used when there are no NAPTR records).  ``rng`` drives the SRV
    weighted selection (pass a seeded ``random.Random`` for repeatable results).

    - ``maddr`` replaces the host (§4).
    - Numeric host: that address, the URI port or the transport's default port, the
      ``transport`` parameter or UDP (TLS for sips).
    - Explicit port: A/AAAA of the host, no SRV (§4.2).
    - Explicit ``transport``, no port: SRV for that transport, else A/AAAA on the
      default port.
    - Otherwise NAPTR (``SIP+D2U``, ``SIP+D2T``, ``SIPS+D2T``, ``SIP+D2W``,
      ``SIPS+D2W``; ``s`` flag only), else SRV for every supported transport, else
      A/AAAA with UDP (TLS for sips) on the default port.

    A sips URI only yields TLS and WSS targets.  Raises ``ResolutionError`` when no
    target can be found; never returns an empty list.
    """
    supported = _check_transports(transports)
    if isinstance(uri, str):
        try:
            parsed = parse_uri(uri)
        except ParseError as exc:
            raise ResolutionError(f"cannot resolve {uri!r}: {exc}") from None
        if not isinstance(parsed, SipURI):
            raise ResolutionError(f"cannot resolve {uri!r}: not a sip or sips URI")
        uri = parsed
    allowed = [t for t in supported if t in _SECURE_TRANSPORTS] if uri.secure else list(supported)
    if not allowed:
        raise ResolutionError(f"{uri}: none of the transports {', '.join(supported)} is usable")
    explicit = _explicit_transport(uri)
    if explicit is not None and explicit not in allowed:
        raise ResolutionError(f"{uri}: transport {explicit!r} is not among {', '.join(allowed)}")
    implicit = explicit or next((t for t in _IMPLICIT_TRANSPORTS[uri.scheme] if t in allowed), None)

    host = uri.maddr or uri.host
    ip = _ip_literal(host)
    if ip is not None:
        if implicit is None:
            raise ResolutionError(f"{uri}: no transport parameter and no default transport")
        port = uri.port if uri.port is not None else DEFAULT_PORTS[implicit]
        return [Target(implicit, ip, ip, port)]

    ctx = _Context(
        resolver if resolver is not None else _default_resolver(),
        rng if rng is not None else random.Random(),
        prefer_ipv6,
    )
    domain = host if host.endswith(".") else host + "."
    shown = _display(domain)

    async def by_address(transport: str | None, port: int | None) -> list[Target]:
        if transport is None:
            raise ResolutionError(
                f"{uri}: no NAPTR or SRV records and no default transport among "
                f"{', '.join(allowed)}",
                name=shown,
            )
        addresses = await _addresses(ctx.resolver, domain, prefer_ipv6)
        port = port if port is not None else DEFAULT_PORTS[transport]
        return [Target(transport, shown, address, port) for address in addresses]

    if uri.port is not None:
        return await by_address(implicit, uri.port)

    if explicit is not None:
        srv = await _from_srv(ctx, f"{SRV_PREFIXES[explicit]}.{domain}", explicit)
        return srv if srv is not None else await by_address(explicit, None)

    targets = await _from_naptr(ctx, domain, allowed)
    if targets:
        return targets
    targets, error = await _collect([(f"{SRV_PREFIXES[t]}.{domain}", t) for t in allowed], ctx)
    if targets:
        return targets
    if error is not None:  # SRV records that lead nowhere, or a failed SRV query
        raise error
    return await by_address(implicit, None)


# --------------------------------------------------------------------------- ENUM

_E164_SEPARATORS = re.compile(r"[\s\-.()/]")
_BACKREF = re.compile(r"\\(.)")


def e164_domain(number: str, suffix: str = "e164.arpa") -> str:
    """``+1-201-555-0123`` -> ``3.2.1.0.5.5.5.1.0.2.1.e164.arpa`` (RFC 6116 §2.4).

    Accepts visual separators and a ``tel:`` prefix; raises ValueError for anything that
    is not a string of digits (a leading ``+`` is optional).
    """
    digits = _e164_digits(number)
    return ".".join(reversed(digits)) + "." + suffix.strip(".")


def _e164_digits(number: str) -> str:
    text = number.strip()
    if text.lower().startswith("tel:"):
        text = text[4:].split(";", 1)[0]
    text = _E164_SEPARATORS.sub("", text).removeprefix("+")
    if not text.isascii() or not text.isdigit():
        raise ValueError(f"not an E.164 number: {number!r}")
    return text


def _apply_regexp(regexp: str, subject: str) -> str | None:
    """Apply a DDDS substitution expression (RFC 3402 §3.2) like sed's ``s///``.

    ``delim ere delim repl delim [i]``: ``\\1``..``\\9`` in the replacement are
    back-references, ``\\`` followed by any other character is that character.  Returns
    None when the expression does not match or is malformed.
    """
    if len(regexp) < 3:
        return None
    delim = regexp[0]
    if delim.isalnum() or delim == "\\":
        return None
    parts: list[str] = []
    current: list[str] = []
    index = 1
    while index < len(regexp):
        char = regexp[index]
        if char == "\\" and index + 1 < len(regexp) and regexp[index + 1] == delim:
            current.append(delim)  # an escaped delimiter is a literal delimiter
            index += 2
            continue
        if char == "\\" and index + 1 < len(regexp):
            current.append(regexp[index : index + 2])
            index += 2
            continue
        if char == delim:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    if len(parts) != 2 or "".join(current) not in ("", "i"):
        return None
    pattern_text, replacement = parts
    try:
        pattern = re.compile(pattern_text, re.IGNORECASE if current else 0)
    except re.error:
        return None
    match = pattern.search(subject)
    if match is None:
        return None

    def substitute(ref: re.Match[str]) -> str:
        char = ref.group(1)
        if char.isdigit() and char != "0":
            group = int(char)
            if group > (pattern.groups or 0):
                raise IndexError(group)
            return match.group(group) or ""
        return char

    try:
        result = _BACKREF.sub(substitute, replacement)
    except IndexError:
        return None
    return subject[: match.start()] + result + subject[match.end() :]


def _is_sip_service(service: str) -> bool:
    # service-field = "E2U" 1*("+" enumservice), enumservice = type [":" subtype]
    parts = service.lower().split("+")
    return parts[0] == "e2u" and any(p.split(":", 1)[0] == "sip" for p in parts[1:])


async def enum_lookup(
    number: str,
    *,
    suffix: str = "e164.arpa",
    resolver: dns.asyncresolver.Resolver | None = None,
    max_hops: int = 5,
) -> list[str]:
    """SIP URIs for an E.164 number from ``E2U+sip`` NAPTR records (RFC 6116).

    The number's digits, reversed and dotted under ``suffix``, are queried for NAPTR;
    terminal (``u`` flag) records with a ``sip`` enumservice have their regexp applied to
    ``+digits`` (back-references included) and yield ``sip:``/``sips:`` URIs, ordered by
    order then preference; non-terminal records (empty flags) are followed to their
    replacement domain, at most ``max_hops`` deep.  Raises ``ResolutionError`` when no
    SIP URI is found, ``ValueError`` for a malformed number.
    """
    digits = _e164_digits(number)
    aus = "+" + digits
    start = ".".join(reversed(digits)) + "." + suffix.strip(".") + "."
    ctx_resolver = resolver if resolver is not None else _default_resolver()

    async def walk(domain: str, hops: int) -> tuple[list[str], list[str]]:
        answer = await _query(ctx_resolver, domain, "NAPTR")
        if not answer.records:
            return [], [f"{answer.name} NAPTR: {answer.reason}"]
        uris: list[str] = []
        notes: list[str] = []
        records = sorted(
            (r for r in answer.records if isinstance(r, dns.rdtypes.IN.NAPTR.NAPTR)),
            key=lambda r: (r.order, r.preference),
        )
        for record in records:
            flags = record.flags.decode("ascii", "replace").lower()
            if flags == "" and record.replacement != dns.name.root:
                if hops >= max_hops:
                    notes.append(f"{answer.name} NAPTR: too many non-terminal hops")
                    continue
                more, more_notes = await walk(record.replacement.to_text(), hops + 1)
                uris.extend(more)
                notes.extend(more_notes)
                continue
            if flags != "u" or not _is_sip_service(record.service.decode("ascii", "replace")):
                continue
            regexp = record.regexp.decode("utf-8", "replace")
            uri = _apply_regexp(regexp, aus)
            if uri is None:
                notes.append(f"{answer.name} NAPTR: regexp {regexp!r} does not apply")
            elif uri.lower().startswith(("sip:", "sips:")):
                uris.append(uri)
        if not uris and not notes:
            notes.append(f"{answer.name} NAPTR: no E2U+sip records")
        return uris, notes

    uris, notes = await walk(start, 0)
    if uris:
        return uris
    shown = _display(start)
    raise ResolutionError(
        f"ENUM {aus}: no SIP URI ({'; '.join(notes)})", name=shown, rdtype="NAPTR"
    )
