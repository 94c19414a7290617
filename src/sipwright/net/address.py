"""Where messages go and where they came from.

A ``Destination`` is what name resolution (RFC 3263) yields: a transport and an IP
address with a port.  A ``Flow`` is the path a message actually travelled (RFC 5626
§3: a UDP socket and remote address, or one TCP/TLS/WS connection); responses and,
for a registered agent, new requests go back along it.
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "DEFAULT_PORTS",
    "RELIABLE",
    "SECURE",
    "TRANSPORTS",
    "Connection",
    "Destination",
    "Flow",
    "format_host",
]

TRANSPORTS = ("udp", "tcp", "tls", "ws", "wss")
RELIABLE = frozenset({"tcp", "tls", "ws", "wss"})
SECURE = frozenset({"tls", "wss"})
# RFC 3261 §19.1.2 (5060/5061), RFC 7118 §5 leaves WS ports to the URI; 80/443 are
# what WebSocket servers use by default.
DEFAULT_PORTS = {"udp": 5060, "tcp": 5060, "tls": 5061, "ws": 80, "wss": 443}


def format_host(host: str) -> str:
    """An IPv6 address in brackets, as SIP URIs and Via want it (§25.1)."""
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return host


def strip_brackets(host: str) -> str:
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(strip_brackets(host))
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Destination:
    """A transport, an IP address (no brackets) and a port."""

    transport: str
    host: str
    port: int

    def __post_init__(self) -> None:
        if self.transport not in TRANSPORTS:
            raise ValueError(
                f"unknown transport {self.transport!r} (one of {', '.join(TRANSPORTS)})"
            )

    @property
    def reliable(self) -> bool:
        return self.transport in RELIABLE

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def __str__(self) -> str:
        return f"{self.transport}:{format_host(self.host)}:{self.port}"


class Flow(Protocol):
    """One path to a peer: a UDP socket plus remote address, or a connection."""

    @property
    def transport(self) -> str: ...

    @property
    def local(self) -> tuple[str, int]: ...

    @property
    def remote(self) -> tuple[str, int]: ...

    @property
    def is_open(self) -> bool: ...

    def send(self, data: bytes) -> None: ...


class Connection(Flow, Protocol):
    """A connection-oriented flow (TCP, TLS, WS, WSS) that the pool keeps."""

    @property
    def outgoing(self) -> bool: ...

    @property
    def closed(self) -> asyncio.Future[None]: ...

    def close(self) -> None: ...
