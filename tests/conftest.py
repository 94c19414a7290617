"""Shared fixtures: free ports, test TLS certificates, a Kamailio registrar/proxy.

Fixtures that run a real program skip with "<program> not installed (make test installs
it)" when it is missing, and mark their tests with the ``peers`` marker (so
``pytest -m "not peers"`` leaves them out). Nothing here imports sipwright.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import peers
from peers import KamailioServer

if TYPE_CHECKING:
    from certs import CertBundle

# fixtures that start a real peer: tests using them get the "peers" marker
PEER_FIXTURES = frozenset({"kamailio_server"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if PEER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.peers)


@pytest.fixture
def sip_port() -> int:
    """A port number free on 127.0.0.1 for both UDP and TCP."""
    return peers.free_sip_port()


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertBundle:
    """A test CA with server (localhost/127.0.0.1/::1) and client certificates."""
    from certs import make_certs

    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def kamailio_server(tmp_path: Path, certs: CertBundle) -> Iterator[KamailioServer]:
    """A fresh Kamailio (registrar, digest auth, record-routing proxy) for one test.

    UDP+TCP on one free port, TLS on another, users alice/bob with password "secret",
    empty location table. Starts in about 0.1-0.3 s; stopped after the test, also on
    failure (its log tail is printed then, and shown by pytest for failing tests).
    """
    peers.require_kamailio_tls()
    peer = peers.kamailio(tmp_path, certs=certs)
    try:
        yield KamailioServer(peer, certs)
    finally:
        peer.stop()
        print(f"--- kamailio log tail ({peer.log_path}):\n{peer.log_tail(30)}")
