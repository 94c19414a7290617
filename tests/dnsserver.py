"""A small authoritative DNS server on loopback, for tests.

It serves an in-memory zone over UDP and TCP on 127.0.0.1 and an ephemeral port::

    async with DNSServer([("example.com", "A", "192.0.2.1", 300)]) as server:
        targets = await resolve("sip:example.com", resolver=server.resolver())

Records are ``(name, rdtype, rdata-text[, ttl])`` tuples or a ``{name: [(rdtype,
rdata-text), ...]}`` mapping; names in the rdata text are taken as absolute.  Unknown
names get NXDOMAIN, known names (and the empty non-terminals above them) without the
asked type get NOERROR with an empty answer, CNAMEs are followed.  UDP answers that do
not fit get the TC bit, so the client retries over TCP.  ``silent=True`` makes a server
that receives queries and never answers (for timeout tests).  ``queries`` records every
``(name, rdtype, "udp"|"tcp")`` asked, names without the final dot.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import cast

import dns.asyncresolver
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.CNAME
import dns.rrset

__all__ = ["DNSServer", "Record"]

Record = tuple[str, str, str] | tuple[str, str, str, int]
Zone = Iterable[Record] | Mapping[str, Iterable[tuple[str, str]]]

_MAX_CNAME_CHAIN = 8


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: DNSServer) -> None:
        self._server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's datagram transport does not subclass DatagramTransport.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | bytes, int]) -> None:
        reply = self._server.answer(data, "udp")
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


class DNSServer:
    """An authoritative server for an in-memory zone; an async context manager."""

    def __init__(self, records: Zone = (), *, silent: bool = False, tcp: bool = True) -> None:
        self.silent = silent
        self.tcp = tcp and not silent
        self.queries: list[tuple[str, str, str]] = []
        self._rrsets: dict[tuple[dns.name.Name, dns.rdatatype.RdataType], dns.rrset.RRset] = {}
        self._names: set[dns.name.Name] = set()
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp_server: asyncio.Server | None = None
        self._host = "127.0.0.1"
        self._port = 0
        if isinstance(records, Mapping):
            for name, entries in records.items():
                for rdtype, text in entries:
                    self.add(name, rdtype, text)
        else:
            for record in records:
                self.add(*record)

    # -- zone

    def add(self, name: str, rdtype: str, text: str, ttl: int = 300) -> None:
        """Add one record (the zone may change while the server runs)."""
        owner = dns.name.from_text(name)
        kind = dns.rdatatype.from_text(rdtype)
        rdata = dns.rdata.from_text(
            dns.rdataclass.IN, kind, text, origin=dns.name.root, relativize=False
        )
        rrset = self._rrsets.get((owner, kind))
        if rrset is None:
            rrset = dns.rrset.RRset(owner, dns.rdataclass.IN, kind)
            self._rrsets[(owner, kind)] = rrset
        rrset.add(rdata, ttl)
        node = owner
        while node != dns.name.root:
            self._names.add(node)
            node = node.parent()

    def answer(self, wire: bytes, proto: str) -> bytes | None:
        """The reply to one query in wire format, or None to stay silent."""
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        if not query.question:
            return None
        question = query.question[0]
        self.queries.append(
            (
                question.name.to_text(omit_final_dot=True).lower(),
                dns.rdatatype.to_text(question.rdtype),
                proto,
            )
        )
        if self.silent:
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        name = question.name
        if name not in self._names:
            response.set_rcode(dns.rcode.NXDOMAIN)
        else:
            for _ in range(_MAX_CNAME_CHAIN):
                rrset = self._rrsets.get((name, question.rdtype))
                if rrset is not None:
                    response.answer.append(rrset)
                    break
                cname = self._rrsets.get((name, dns.rdatatype.CNAME))
                if cname is None or question.rdtype == dns.rdatatype.CNAME:
                    break
                response.answer.append(cname)
                alias = next(iter(cname))
                assert isinstance(alias, dns.rdtypes.ANY.CNAME.CNAME)
                name = alias.target
        if proto == "tcp":
            return response.to_wire()
        limit = max(512, query.payload) if query.edns >= 0 else 512
        try:
            return response.to_wire(max_size=limit)
        except dns.exception.TooBig:
            truncated = dns.message.make_response(query)
            truncated.flags |= dns.flags.AA | dns.flags.TC
            return truncated.to_wire()

    # -- lifecycle

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        if self._udp is None:
            raise RuntimeError("DNSServer is not started")
        return self._port

    def resolver(self, *, lifetime: float = 2.0) -> dns.asyncresolver.Resolver:
        """A resolver that asks only this server, with no search list and no cache."""
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [self.host]
        resolver.port = self.port
        resolver.timeout = lifetime
        resolver.lifetime = lifetime
        return resolver

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(20):  # the UDP port must also be free for TCP
            transport, _protocol = await loop.create_datagram_endpoint(
                lambda: _UdpProtocol(self), local_addr=(self._host, 0)
            )
            port = transport.get_extra_info("sockname")[1]
            if not self.tcp:
                break
            try:
                self._tcp_server = await asyncio.start_server(self._serve_tcp, self._host, port)
            except OSError:
                transport.close()
                continue
            break
        else:
            raise RuntimeError("no port free for both UDP and TCP")
        self._udp = transport
        self._port = port

    async def stop(self) -> None:
        if self._tcp_server is not None:
            self._tcp_server.close()
            await self._tcp_server.wait_closed()
            self._tcp_server = None
        if self._udp is not None:
            self._udp.close()
            self._udp = None
            await asyncio.sleep(0)  # let the transport finish closing its socket

    async def __aenter__(self) -> DNSServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                header = await reader.readexactly(2)
                wire = await reader.readexactly(struct.unpack("!H", header)[0])
                reply = self.answer(wire, "tcp")
                if reply is None:
                    continue
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
