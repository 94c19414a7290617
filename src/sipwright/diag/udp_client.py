"""A bare UDP socket for the flood and fuzz runners.

Flooding and fuzzing must send exactly the bytes they made, without a transaction
layer retransmitting them or a parser refusing them, so they bypass the endpoint.
Every datagram still goes to the tracer (-v, --trace, --pcap, --hep) as a
``MessageLog``, like the endpoint's messages do.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from sipwright.net.endpoint import MessageLog

__all__ = ["UdpClient"]


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, client: UdpClient) -> None:
        self.client = client

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self.client._received(data, (str(addr[0]), int(str(addr[1]))))

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from an earlier send (the target is not listening)
        self.client.errors += 1


class UdpClient:
    """Sends datagrams to one remote address; ``on_datagram`` gets what comes back."""

    def __init__(
        self,
        remote: tuple[str, int],
        on_datagram: Callable[[bytes], None],
        *,
        trace: Callable[[MessageLog], None] | None = None,
    ) -> None:
        self.remote = remote
        self.on_datagram = on_datagram
        self.trace = trace
        self.local: tuple[str, int] = ("", 0)
        self.errors = 0
        self._transport: asyncio.DatagramTransport | None = None

    async def open(self, local_host: str, local_port: int = 0) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self), local_addr=(local_host, local_port)
        )
        self._transport = transport
        sockname = transport.get_extra_info("sockname")
        self.local = (str(sockname[0]), int(sockname[1]))

    def send(self, data: bytes) -> None:
        if self._transport is None:
            raise RuntimeError("UdpClient.open() first")
        if self.trace is not None:
            self.trace(MessageLog(time.monotonic(), "sent", "udp", self.local, self.remote, data))
        self._transport.sendto(data, self.remote)

    def _received(self, data: bytes, source: tuple[str, int]) -> None:
        if self.trace is not None:
            self.trace(MessageLog(time.monotonic(), "received", "udp", self.local, source, data))
        self.on_datagram(data)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
