"""RFC 3263 server location and RFC 6116 ENUM against a real DNS server on loopback."""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import TypeVar

import dns.asyncresolver
import pytest
import pytest_asyncio

from sipwright.net.resolver import (
    ResolutionError,
    Target,
    e164_domain,
    enum_lookup,
    order_srv,
    resolve,
)
from sipwright.sip.uri import SipURI, parse_uri

from dnsserver import DNSServer, Record

T = TypeVar("T")

ZONE: list[Record] = [
    # NAPTR -> SRV -> A/AAAA, four transports, plus records a SIP client must ignore.
    ("example.com", "NAPTR", '10 50 "s" "SIPS+D2T" "" _sips._tcp.example.com.'),
    ("example.com", "NAPTR", '20 50 "s" "SIP+D2T" "" _sip._tcp.example.com.'),
    ("example.com", "NAPTR", '20 40 "s" "SIP+D2U" "" _sip._udp.example.com.'),
    ("example.com", "NAPTR", '40 50 "s" "SIPS+D2W" "" _sips._ws.example.com.'),
    ("example.com", "NAPTR", '5 50 "a" "SIP+D2U" "" sip9.example.com.'),
    ("example.com", "NAPTR", '5 50 "s" "SIP+D2S" "" _sip._sctp.example.com.'),
    ("example.com", "NAPTR", '5 50 "u" "E2U+sip" "!^.*$!sip:x@example.com!" .'),
    ("example.com", "A", "192.0.2.10"),
    ("_sips._tcp.example.com", "SRV", "0 0 5061 tls1.example.com."),
    ("_sip._tcp.example.com", "SRV", "10 0 5060 sip1.example.com."),
    ("_sip._tcp.example.com", "SRV", "20 0 5060 sip2.example.com."),
    ("_sip._udp.example.com", "SRV", "0 0 5060 sip1.example.com."),
    ("_sips._ws.example.com", "SRV", "0 0 443 ws1.example.com."),
    ("_sip._sctp.example.com", "SRV", "0 0 5060 sip9.example.com."),
    ("sip1.example.com", "A", "192.0.2.1"),
    ("sip2.example.com", "A", "192.0.2.2"),
    ("tls1.example.com", "A", "192.0.2.3"),
    ("tls1.example.com", "AAAA", "2001:db8::3"),
    ("ws1.example.com", "A", "192.0.2.4"),
    ("sip9.example.com", "A", "192.0.2.9"),
    ("plain.example.com", "A", "192.0.2.5"),
    # A and AAAA, no NAPTR or SRV.
    ("dual.example.com", "A", "192.0.2.20"),
    ("dual.example.com", "AAAA", "2001:db8::20"),
    ("v6only.example.com", "AAAA", "2001:db8::21"),
    ("alias.example.com", "CNAME", "dual.example.com."),
    # SRV only (no NAPTR): a primary and a backup host, two transports.
    ("_sip._udp.srv.example.net", "SRV", "20 0 5070 backup.example.net."),
    ("_sip._udp.srv.example.net", "SRV", "10 0 5060 primary.example.net."),
    ("_sip._tcp.srv.example.net", "SRV", "10 0 5062 primary.example.net."),
    ("primary.example.net", "A", "198.51.100.1"),
    ("backup.example.net", "A", "198.51.100.2"),
    # One SRV priority with weights 60/30/10 and a lower-priority spare.
    ("_sip._udp.weighted.example.org", "SRV", "10 60 5060 w1.example.org."),
    ("_sip._udp.weighted.example.org", "SRV", "10 30 5060 w2.example.org."),
    ("_sip._udp.weighted.example.org", "SRV", "10 10 5060 w3.example.org."),
    ("_sip._udp.weighted.example.org", "SRV", "20 0 5060 w4.example.org."),
    ("w1.example.org", "A", "203.0.113.1"),
    ("w2.example.org", "A", "203.0.113.2"),
    ("w3.example.org", "A", "203.0.113.3"),
    ("w4.example.org", "A", "203.0.113.4"),
    # SRV pitfalls.
    ("_sip._tcp.closed.example.com", "SRV", "0 0 0 ."),
    ("_sip._udp.partial.example.com", "SRV", "10 0 5060 ghost.example.com."),
    ("_sip._udp.partial.example.com", "SRV", "20 0 5060 sip2.example.com."),
    ("_sip._udp.broken.example.com", "SRV", "10 0 5060 ghost.example.com."),
    ("broken.example.com", "A", "192.0.2.99"),
    # NAPTR present but useless to SIP: fall back to SRV.
    ("odd.example.com", "NAPTR", '10 10 "a" "SIP+D2U" "" sip1.example.com.'),
    ("odd.example.com", "NAPTR", '10 20 "s" "SIP+D2S" "" _sip._sctp.odd.example.com.'),
    ("_sip._udp.odd.example.com", "SRV", "0 0 5060 sip2.example.com."),
    # ENUM for +1-201-555-0123.
    (
        "3.2.1.0.5.5.5.1.0.2.1.e164.arpa",
        "NAPTR",
        r'100 20 "u" "E2U+SIP" "!^.*$!sip:info@example.com!" .',
    ),
    (
        "3.2.1.0.5.5.5.1.0.2.1.e164.arpa",
        "NAPTR",
        r'100 10 "u" "E2U+sip" "!^\\+1(.*)$!sip:\\1@example.com!" .',
    ),
    (
        "3.2.1.0.5.5.5.1.0.2.1.e164.arpa",
        "NAPTR",
        r'100 5 "u" "E2U+email:mailto" "!^.*$!mailto:info@example.com!" .',
    ),
    (
        "3.2.1.0.5.5.5.1.0.2.1.e164.arpa",
        "NAPTR",
        r'100 30 "u" "E2U+voice:tel+sip" "!^(\\+.*)$!sips:\\1@gw.example.com;user=phone!" .',
    ),
    (
        "3.2.1.0.5.5.5.1.0.2.1.e164.arpa",
        "NAPTR",
        r'200 10 "u" "E2U+sip" "!^.*$!sip:last@example.com!" .',
    ),
    # ENUM: a non-terminal NAPTR delegating to another domain.
    ("4.3.2.1.4.4.e164.arpa", "NAPTR", '100 10 "" "E2U+sip" "" enum.example.com.'),
    ("enum.example.com", "NAPTR", r'100 10 "u" "E2U+sip" "!^\\+44(.*)$!sip:\\1@uk.example.com!" .'),
    # ENUM: only non-SIP services.
    ("9.9.9.1.e164.arpa", "NAPTR", r'100 10 "u" "E2U+email:mailto" "!^.*$!mailto:a@b.example!" .'),
]


async def bounded(aw: Awaitable[T], seconds: float = 5.0) -> T:
    async with asyncio.timeout(seconds):
        return await aw


@pytest_asyncio.fixture
async def dns_server() -> AsyncIterator[DNSServer]:
    async with DNSServer(ZONE) as server:
        yield server


def sip_uri(text: str) -> SipURI:
    uri = parse_uri(text)
    assert isinstance(uri, SipURI)
    return uri


def brief(targets: list[Target]) -> list[tuple[str, str, str, int]]:
    return [(t.transport, t.host, t.address, t.port) for t in targets]


def asked(server: DNSServer) -> set[str]:
    return {rdtype for _, rdtype, _ in server.queries}


# ----------------------------------------------------------------------------- NAPTR


@pytest.mark.asyncio
async def test_naptr_srv_a_chain_orders_by_naptr_then_srv_priority(dns_server: DNSServer) -> None:
    targets = await bounded(
        resolve(
            "sip:alice@example.com",
            resolver=dns_server.resolver(),
            transports=("udp", "tcp", "tls"),
        )
    )
    assert brief(targets) == [
        ("tls", "tls1.example.com", "192.0.2.3", 5061),
        ("tls", "tls1.example.com", "2001:db8::3", 5061),
        # order 20: SIP+D2U (preference 40) before SIP+D2T (preference 50)
        ("udp", "sip1.example.com", "192.0.2.1", 5060),
        ("tcp", "sip1.example.com", "192.0.2.1", 5060),
        ("tcp", "sip2.example.com", "192.0.2.2", 5060),
    ]
    assert [(t.priority, t.weight) for t in targets[3:]] == [(10, 0), (20, 0)]
    # The "a"-flag, SCTP and E2U records were not followed.
    assert ("sip9.example.com", "A", "udp") not in dns_server.queries
    assert ("_sip._sctp.example.com", "SRV", "udp") not in dns_server.queries


@pytest.mark.asyncio
async def test_naptr_filters_by_supported_transports(dns_server: DNSServer) -> None:
    targets = await bounded(
        resolve(sip_uri("sip:example.com"), resolver=dns_server.resolver(), transports=("tcp",))
    )
    assert brief(targets) == [
        ("tcp", "sip1.example.com", "192.0.2.1", 5060),
        ("tcp", "sip2.example.com", "192.0.2.2", 5060),
    ]


@pytest.mark.asyncio
async def test_naptr_all_transports_includes_websocket(dns_server: DNSServer) -> None:
    targets = await bounded(resolve("sip:example.com", resolver=dns_server.resolver()))
    assert [t.transport for t in targets] == ["tls", "tls", "udp", "tcp", "tcp", "wss"]
    assert targets[-1].sockaddr == ("192.0.2.4", 443)


@pytest.mark.asyncio
async def test_sips_uri_yields_only_tls_and_wss(dns_server: DNSServer) -> None:
    targets = await bounded(resolve("sips:bob@example.com", resolver=dns_server.resolver()))
    assert brief(targets) == [
        ("tls", "tls1.example.com", "192.0.2.3", 5061),
        ("tls", "tls1.example.com", "2001:db8::3", 5061),
        ("wss", "ws1.example.com", "192.0.2.4", 443),
    ]
    with pytest.raises(ResolutionError, match="none of the transports"):
        await bounded(
            resolve("sips:example.com", resolver=dns_server.resolver(), transports=("udp", "tcp"))
        )


@pytest.mark.asyncio
async def test_unusable_naptr_falls_back_to_srv(dns_server: DNSServer) -> None:
    targets = await bounded(resolve("sip:odd.example.com", resolver=dns_server.resolver()))
    assert brief(targets) == [("udp", "sip2.example.com", "192.0.2.2", 5060)]


# ----------------------------------------------------------------------------- SRV


@pytest.mark.asyncio
async def test_srv_without_naptr_failover_order(dns_server: DNSServer) -> None:
    """The primary (priority 10) comes before the backup (20): the UA fails over in
    list order, so a dead first target leads to the live second one."""
    targets = await bounded(
        resolve("sip:srv.example.net", resolver=dns_server.resolver(), transports=("udp",))
    )
    assert brief(targets) == [
        ("udp", "primary.example.net", "198.51.100.1", 5060),
        ("udp", "backup.example.net", "198.51.100.2", 5070),
    ]
    assert [t.destination.address for t in targets] == [
        ("198.51.100.1", 5060),
        ("198.51.100.2", 5070),
    ]


@pytest.mark.asyncio
async def test_srv_without_naptr_follows_transport_preference(dns_server: DNSServer) -> None:
    targets = await bounded(
        resolve("sip:srv.example.net", resolver=dns_server.resolver(), transports=("tcp", "udp"))
    )
    assert [(t.transport, t.address, t.port) for t in targets] == [
        ("tcp", "198.51.100.1", 5062),
        ("udp", "198.51.100.1", 5060),
        ("udp", "198.51.100.2", 5070),
    ]


@pytest.mark.asyncio
async def test_srv_weighted_selection_is_deterministic_with_seeded_random(
    dns_server: DNSServer,
) -> None:
    async def hosts(seed: int) -> list[str]:
        targets = await bounded(
            resolve(
                "sip:weighted.example.org",
                resolver=dns_server.resolver(),
                rng=random.Random(seed),
            )
        )
        return [t.host.split(".")[0] for t in targets]

    first = await hosts(7)
    assert first == await hosts(7)
    assert sorted(first[:3]) == ["w1", "w2", "w3"]
    assert first[3] == "w4"  # priority 20 always after all of priority 10
    orders = {tuple(await hosts(seed)) for seed in range(12)}
    assert len(orders) > 1


@dataclass(frozen=True)
class Srv:
    name: str
    priority: int
    weight: int


def test_order_srv_follows_weights() -> None:
    records = [Srv("a", 10, 60), Srv("b", 10, 30), Srv("c", 10, 10), Srv("z", 5, 0)]
    rng = random.Random(2024)
    firsts = Counter(order_srv(records, rng)[1].name for _ in range(4000))
    assert all(order_srv(records, rng)[0].name == "z" for _ in range(50))
    assert 0.54 < firsts["a"] / 4000 < 0.66
    assert 0.25 < firsts["b"] / 4000 < 0.35
    assert 0.07 < firsts["c"] / 4000 < 0.13
    zero = [Srv("zero", 1, 0), Srv("heavy", 1, 100)]
    assert Counter(order_srv(zero, rng)[0].name for _ in range(2000))["zero"] < 100
    assert order_srv([], rng) == []


@pytest.mark.asyncio
async def test_srv_target_that_does_not_resolve_is_skipped(dns_server: DNSServer) -> None:
    targets = await bounded(resolve("sip:partial.example.com", resolver=dns_server.resolver()))
    assert brief(targets) == [("udp", "sip2.example.com", "192.0.2.2", 5060)]


@pytest.mark.asyncio
async def test_srv_whose_targets_all_fail_does_not_fall_back_to_a(dns_server: DNSServer) -> None:
    with pytest.raises(ResolutionError, match=r"ghost\.example\.com"):
        await bounded(resolve("sip:broken.example.com", resolver=dns_server.resolver()))


@pytest.mark.asyncio
async def test_srv_dot_target_means_not_available(dns_server: DNSServer) -> None:
    with pytest.raises(ResolutionError, match=r"_sip\._tcp\.closed\.example\.com SRV: service"):
        await bounded(
            resolve("sip:closed.example.com;transport=tcp", resolver=dns_server.resolver())
        )


# ----------------------------------------------------------------------------- explicit parts


@pytest.mark.asyncio
async def test_explicit_port_skips_naptr_and_srv(dns_server: DNSServer) -> None:
    targets = await bounded(resolve("sip:example.com:5080", resolver=dns_server.resolver()))
    assert brief(targets) == [("udp", "example.com", "192.0.2.10", 5080)]
    assert asked(dns_server) == {"A", "AAAA"}
    targets = await bounded(resolve("sips:example.com:5081", resolver=dns_server.resolver()))
    assert brief(targets) == [("tls", "example.com", "192.0.2.10", 5081)]
    targets = await bounded(
        resolve("sip:example.com:5082;transport=TCP", resolver=dns_server.resolver())
    )
    assert brief(targets) == [("tcp", "example.com", "192.0.2.10", 5082)]


@pytest.mark.asyncio
async def test_explicit_transport_skips_naptr(dns_server: DNSServer) -> None:
    targets = await bounded(
        resolve("sip:example.com;transport=tcp", resolver=dns_server.resolver())
    )
    assert brief(targets) == [
        ("tcp", "sip1.example.com", "192.0.2.1", 5060),
        ("tcp", "sip2.example.com", "192.0.2.2", 5060),
    ]
    assert "NAPTR" not in asked(dns_server)
    assert ("_sip._tcp.example.com", "SRV", "udp") in dns_server.queries


@pytest.mark.asyncio
async def test_explicit_transport_without_srv_uses_default_port(dns_server: DNSServer) -> None:
    resolver = dns_server.resolver()
    targets = await bounded(resolve("sip:plain.example.com;transport=tcp", resolver=resolver))
    assert brief(targets) == [("tcp", "plain.example.com", "192.0.2.5", 5060)]
    targets = await bounded(resolve("sips:plain.example.com;transport=tcp", resolver=resolver))
    assert brief(targets) == [("tls", "plain.example.com", "192.0.2.5", 5061)]
    targets = await bounded(resolve("sip:plain.example.com;transport=ws", resolver=resolver))
    assert brief(targets) == [("ws", "plain.example.com", "192.0.2.5", 80)]


@pytest.mark.asyncio
async def test_numeric_hosts_need_no_dns() -> None:
    silent_resolver_unused = None
    cases = {
        "sip:192.0.2.55": ("udp", "192.0.2.55", 5060),
        "sip:alice@192.0.2.55:5070;transport=tcp": ("tcp", "192.0.2.55", 5070),
        "sips:192.0.2.55": ("tls", "192.0.2.55", 5061),
        "sip:[2001:db8::1]:5062": ("udp", "2001:db8::1", 5062),
        "sip:[2001:DB8:0::1];transport=tls": ("tls", "2001:db8::1", 5061),
        "sip:example.com;maddr=192.0.2.77": ("udp", "192.0.2.77", 5060),
        "sip:example.com:5099;maddr=[2001:db8::7]": ("udp", "2001:db8::7", 5099),
    }
    for text, expected in cases.items():
        targets = await bounded(resolve(text, resolver=silent_resolver_unused))
        assert [(t.transport, t.address, t.port) for t in targets] == [expected], text
        assert targets[0].host == targets[0].address
    assert str((await resolve("sip:[2001:db8::1]"))[0]) == "udp:[2001:db8::1]:5060 (2001:db8::1)"


@pytest.mark.asyncio
async def test_numeric_host_with_tcp_only_support() -> None:
    targets = await bounded(resolve("sip:192.0.2.55", transports=("tcp",)))
    assert [(t.transport, t.port) for t in targets] == [("tcp", 5060)]


@pytest.mark.asyncio
async def test_maddr_name_replaces_host(dns_server: DNSServer) -> None:
    uri = SipURI(host="nowhere.invalid").with_params(maddr="plain.example.com")
    targets = await bounded(resolve(uri, resolver=dns_server.resolver(), transports=("udp",)))
    assert brief(targets) == [("udp", "plain.example.com", "192.0.2.5", 5060)]


# ----------------------------------------------------------------------------- A / AAAA


@pytest.mark.asyncio
async def test_a_and_aaaa_fallback(dns_server: DNSServer) -> None:
    resolver = dns_server.resolver()
    targets = await bounded(resolve("sip:dual.example.com", resolver=resolver))
    assert brief(targets) == [
        ("udp", "dual.example.com", "192.0.2.20", 5060),
        ("udp", "dual.example.com", "2001:db8::20", 5060),
    ]
    targets = await bounded(resolve("sip:dual.example.com", resolver=resolver, prefer_ipv6=True))
    assert [t.address for t in targets] == ["2001:db8::20", "192.0.2.20"]
    targets = await bounded(resolve("sips:v6only.example.com", resolver=resolver))
    assert brief(targets) == [("tls", "v6only.example.com", "2001:db8::21", 5061)]
    targets = await bounded(resolve("sip:alias.example.com:5090", resolver=resolver))
    assert [t.address for t in targets] == ["192.0.2.20", "2001:db8::20"]


@pytest.mark.asyncio
async def test_truncated_udp_answer_is_retried_over_tcp() -> None:
    records: list[Record] = [
        ("big.example.com", "A", f"10.0.{i // 250}.{i % 250 + 1}") for i in range(120)
    ]
    async with DNSServer(records) as server:
        targets = await bounded(resolve("sip:big.example.com:5060", resolver=server.resolver()))
        assert len(targets) == 120
        assert ("big.example.com", "A", "tcp") in server.queries


# ----------------------------------------------------------------------------- errors


@pytest.mark.asyncio
async def test_nxdomain_names_the_name(dns_server: DNSServer) -> None:
    with pytest.raises(ResolutionError, match=r"nope\.example\.com A/AAAA: NXDOMAIN") as info:
        await bounded(resolve("sip:nope.example.com", resolver=dns_server.resolver()))
    assert info.value.name == "nope.example.com"
    assert info.value.__cause__ is None
    with pytest.raises(ResolutionError, match=r"nope\.example\.com A/AAAA: NXDOMAIN"):
        await bounded(resolve("sip:nope.example.com:5060", resolver=dns_server.resolver()))


@pytest.mark.asyncio
async def test_name_without_addresses(dns_server: DNSServer) -> None:
    # _sip._tcp.srv.example.net exists (SRV only) so srv.example.net is a known name.
    with pytest.raises(ResolutionError, match=r"srv\.example\.net: no A or AAAA records"):
        await bounded(resolve("sip:srv.example.net:5060", resolver=dns_server.resolver()))


@pytest.mark.asyncio
async def test_timeout_becomes_resolution_error() -> None:
    async with DNSServer(silent=True) as server:
        started = time.monotonic()
        with pytest.raises(ResolutionError, match=r"example\.com NAPTR: timed out") as info:
            await bounded(resolve("sip:example.com", resolver=server.resolver(lifetime=0.5)))
        assert time.monotonic() - started < 2.0
        assert info.value.rdtype == "NAPTR"
        assert server.queries  # the query did reach the silent server
        with pytest.raises(ResolutionError, match="timed out"):
            await bounded(enum_lookup("+1 555", resolver=server.resolver(lifetime=0.3)))


@pytest.mark.asyncio
async def test_closed_port_becomes_resolution_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = port
    resolver.lifetime = 0.5
    with pytest.raises(ResolutionError, match=r"dual\.example\.com A"):
        await bounded(resolve("sip:dual.example.com:5060", resolver=resolver))


@pytest.mark.asyncio
async def test_bad_input() -> None:
    with pytest.raises(ResolutionError, match="not a sip or sips URI"):
        await resolve("tel:+12015550123")
    with pytest.raises(ResolutionError, match="cannot resolve"):
        await resolve("sip:")
    with pytest.raises(ResolutionError, match="transport=udp"):
        await resolve("sips:192.0.2.1;transport=udp")
    with pytest.raises(ResolutionError, match="unsupported transport 'sctp'"):
        await resolve("sip:192.0.2.1;transport=sctp")
    with pytest.raises(ResolutionError, match="not among"):
        await resolve("sip:192.0.2.1;transport=tcp", transports=("udp",))
    with pytest.raises(ValueError, match="transports"):
        await resolve("sip:192.0.2.1", transports=("udp", "carrier-pigeon"))


# ----------------------------------------------------------------------------- ENUM


def test_e164_domain() -> None:
    assert e164_domain("+1-201-555-0123") == "3.2.1.0.5.5.5.1.0.2.1.e164.arpa"
    assert e164_domain("tel:+44 (1234);phone-context=x", suffix="e164.example.") == (
        "4.3.2.1.4.4.e164.example"
    )
    with pytest.raises(ValueError, match=r"not an E\.164 number"):
        e164_domain("+1-800-FLOWERS")


@pytest.mark.asyncio
async def test_enum_lookup_applies_regexp_with_backreference(dns_server: DNSServer) -> None:
    uris = await bounded(enum_lookup("+1-201-555-0123", resolver=dns_server.resolver()))
    assert uris == [
        "sip:2015550123@example.com",  # order 100 pref 10, \1 back-reference
        "sip:info@example.com",  # order 100 pref 20, service spelled E2U+SIP
        "sips:+12015550123@gw.example.com;user=phone",  # E2U+voice:tel+sip
        "sip:last@example.com",  # order 200
    ]
    assert ("3.2.1.0.5.5.5.1.0.2.1.e164.arpa", "NAPTR", "udp") in dns_server.queries


@pytest.mark.asyncio
async def test_enum_non_terminal_rule(dns_server: DNSServer) -> None:
    uris = await bounded(enum_lookup("+44 1234", resolver=dns_server.resolver()))
    assert uris == ["sip:1234@uk.example.com"]


@pytest.mark.asyncio
async def test_enum_errors(dns_server: DNSServer) -> None:
    with pytest.raises(ResolutionError, match=r"1\.2\.3\.e164\.arpa NAPTR: NXDOMAIN") as info:
        await bounded(enum_lookup("+321", resolver=dns_server.resolver()))
    assert info.value.name == "1.2.3.e164.arpa"
    with pytest.raises(ResolutionError, match="no E2U\\+sip records"):
        await bounded(enum_lookup("+1999", resolver=dns_server.resolver()))


def test_regexp_edge_cases() -> None:
    from sipwright.net.resolver import _apply_regexp

    assert _apply_regexp(r"!^\+(1)(2)(.*)$!sip:\3-\2-\1@x!", "+12345") == "sip:345-2-1@x"
    assert _apply_regexp(r"#^.*$#sip:a\#b@x#", "+1") == "sip:a#b@x"
    assert _apply_regexp(r"!^\+1!sip:!", "+1555") == "sip:555"
    assert _apply_regexp(r"!^ABC$!sip:x!i", "abc") == "sip:x"
    assert _apply_regexp(r"!^\+9!sip:x!", "+1") is None
    assert _apply_regexp(r"!^(.*)$!sip:\2!", "+1") is None
    assert _apply_regexp("!(!x!", "+1") is None
    assert _apply_regexp("!^.*$!x", "+1") is None
