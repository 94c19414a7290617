"""TLS certificates made at test time for the loopback SIP peers.

``make_certs(directory)`` writes, with ``trustme`` (a dev dependency):

* ``ca.pem`` (+ ``ca-key.pem``): a throw-away CA; trust it to verify the others.
* ``server.pem`` + ``server-key.pem``: leaf for ``localhost``, ``127.0.0.1`` and ``::1``
  (Kamailio's TLS listener, a sipwright TLS server, SIPp ``-tls_cert/-tls_key``).
* ``client.pem`` + ``client-key.pem``: leaf for ``alice@localhost`` / ``alice`` as
  common name, for mutual TLS.

Keys are ECDSA P-256 in "traditional" PEM (``BEGIN EC PRIVATE KEY``), unencrypted, which
OpenSSL-based programs (Kamailio, SIPp, baresip) read as they are.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme

SERVER_IDENTITIES = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class CertBundle:
    """Paths of one CA and the server and client certificates it issued."""

    directory: Path
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def client_context(self, *, with_client_cert: bool = False) -> ssl.SSLContext:
        """A client context that trusts only the test CA and checks the host name."""
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.ca_cert))
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if with_client_cert:
            ctx.load_cert_chain(str(self.client_cert), str(self.client_key))
        return ctx

    def server_context(self, *, require_client_cert: bool = False) -> ssl.SSLContext:
        """A server context presenting the server certificate."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(self.ca_cert))
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(str(self.server_cert), str(self.server_key))
        ctx.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_NONE
        return ctx


def make_certs(directory: Path, *, client_user: str = "alice") -> CertBundle:
    """Create a CA plus server and client certificates in ``directory`` (made if missing)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="sipwright tests")
    server = ca.issue_cert(*SERVER_IDENTITIES, common_name="localhost")
    client = ca.issue_cert(f"{client_user}@localhost", common_name=client_user)

    bundle = CertBundle(
        directory=directory,
        ca_cert=directory / "ca.pem",
        ca_key=directory / "ca-key.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server-key.pem",
        client_cert=directory / "client.pem",
        client_key=directory / "client-key.pem",
    )
    ca.cert_pem.write_to_path(str(bundle.ca_cert))
    ca.private_key_pem.write_to_path(str(bundle.ca_key))
    _write_chain(server, bundle.server_cert)
    server.private_key_pem.write_to_path(str(bundle.server_key))
    _write_chain(client, bundle.client_cert)
    client.private_key_pem.write_to_path(str(bundle.client_key))
    for key in (bundle.ca_key, bundle.server_key, bundle.client_key):
        key.chmod(0o600)
    return bundle


def _write_chain(leaf: trustme.LeafCert, path: Path) -> None:
    path.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
