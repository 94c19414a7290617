"""How an agent addresses its requests: transports, RFC 3263 destinations, the next
hop (§8.1.2), its own Via/Contact parts and the RFC 5923 ``alias``.

``Addressing`` is the part of :class:`~sipwright.ua.agent.Agent` that only reads the
agent's configuration (contact, transport, proxy, resolver) and its endpoint's
listeners; it lives apart to keep the agent module about calls and requests.
"""

from __future__ import annotations

from collections.abc import Sequence

import dns.asyncresolver

from sipwright.net.address import DEFAULT_PORTS, SECURE, Destination, is_ip, strip_brackets
from sipwright.net.endpoint import SipEndpoint
from sipwright.net.resolver import ResolutionError, resolve
from sipwright.sip.builders import new_tag
from sipwright.sip.message import Request
from sipwright.sip.uri import URI, SipURI, parse_uri
from sipwright.ua.call import CallFailed

__all__ = ["Addressing"]

_CLIENT_TRANSPORTS = ("udp", "tcp", "tls")


class Addressing:
    """Where requests go and how we name ourselves in them."""

    contact_uri: SipURI
    transport: str
    proxy: URI | None
    resolver: dns.asyncresolver.Resolver | None
    display_name: str | None
    endpoint: SipEndpoint

    def transport_for(self, uri: SipURI) -> str:
        wanted = uri.transport or (self.transport if uri.scheme != "sips" else "tls")
        if uri.scheme == "sips" and wanted not in SECURE:
            wanted = "tls"
        return wanted

    async def destinations(self, uri: SipURI) -> list[Destination]:
        """Where to send a request for ``uri`` (RFC 3263, failover order)."""
        transport = self.transport_for(uri)
        host = strip_brackets(uri.maddr or uri.host)
        if is_ip(host):
            return [Destination(transport, host, uri.port or DEFAULT_PORTS[transport])]
        # No transport in the URI: let RFC 3263 choose among those we speak, ours first.
        preference = (self.transport, *(t for t in _CLIENT_TRANSPORTS if t != self.transport))
        try:
            targets = await resolve(uri, transports=preference, resolver=self.resolver)
        except ResolutionError as error:
            raise CallFailed(None, f"cannot resolve {uri}: {error}") from None
        return [Destination(t.transport, t.address, t.port) for t in targets]

    def next_hop(self, request_uri: SipURI, route: Sequence[str] = ()) -> SipURI:
        """§8.1.2: the first Route (loose) or the Request-URI, else our outbound proxy."""
        if route:
            first = parse_uri(route[0].strip().lstrip("<").split(">")[0])
            if isinstance(first, SipURI):
                return first
        if self.proxy is not None and isinstance(self.proxy, SipURI):
            return self.proxy
        return request_uri

    def local_parts(self, destination: Destination) -> tuple[str, int, str]:
        """Via host, Via port and Contact URI for a request toward ``destination``.

        Our listener of that transport if we have one; otherwise (a TLS client with
        no certificate of its own) the UDP listener's address: responses and, with
        RFC 5923 aliases, new requests come back over the connection anyway.
        """
        transport = destination.transport
        if self.endpoint.transports.local_for(transport, destination.host) is None:
            transport = "udp"
        host, port = self.endpoint.local_address(transport, destination.host)
        user = self.contact_uri.user or "sipwright"
        scheme = "sips" if destination.transport in SECURE else "sip"
        param = "" if destination.transport == "udp" else f";transport={destination.transport}"
        return host, port, f"<{scheme}:{user}@{host}:{port}{param}>"

    def finish_via(self, request: Request, destination: Destination) -> None:
        """RFC 5923 §6: on a connection we opened, ``alias`` in our Via lets the peer
        send its requests back over it (the registered-UA-behind-TCP case)."""
        if destination.reliable:
            via = request.headers.first("Via")
            if via is not None and ";alias" not in via:
                request.headers.set("Via", via + ";alias")

    def aor(self, domain: str | None = None) -> str:
        user = self.contact_uri.user or "sipwright"
        return f"sip:{user}@{domain or self.contact_uri.host}"

    def from_header(self, domain: str | None = None) -> str:
        display = f'"{self.display_name}" ' if self.display_name else ""
        return f"{display}<{self.aor(domain)}>;tag={new_tag()}"
