"""usrloc check (sipsak -U): register bindings, list them back, remove them.

RFC 3261 §10.2: a REGISTER with several Contact values adds several bindings to
one address-of-record; one without Contact is a query (§10.2.3) whose 200 lists
every binding with its remaining ``expires`` (§10.3 step 8); ``expires=0`` on a
contact removes it (§10.2.2).  The check of the listing is a plain function.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from sipwright.diag.requests import Dialogless, Exchange
from sipwright.net.transport_layer import TransportError
from sipwright.sip.errors import ParseError
from sipwright.sip.headers import NameAddr
from sipwright.sip.message import Response
from sipwright.sip.uri import SipURI, parse_uri
from sipwright.ua import Agent, CallFailed

__all__ = ["Step", "UsrlocResult", "check_bindings", "make_contacts", "run_usrloc"]


class Step(IntEnum):
    """The exit code of ``sipwright usrloc``: which step failed."""

    OK = 0
    REGISTER = 1
    LIST = 3
    REMOVE = 4


@dataclass(frozen=True, slots=True)
class UsrlocResult:
    step: Step
    lines: tuple[str, ...]


def _same_uri(left: str, right: str) -> bool:
    """§19.1.4 in short: scheme, user, host and port (parameters are ignored)."""
    try:
        a, b = parse_uri(left), parse_uri(right)
    except ParseError:
        return left == right
    if not isinstance(a, SipURI) or not isinstance(b, SipURI):
        return str(a) == str(b)
    return (a.scheme, a.user, a.host.lower(), a.port or 5060) == (
        b.scheme,
        b.user,
        b.host.lower(),
        b.port or 5060,
    )


def check_bindings(
    listed: Sequence[NameAddr], wanted: Sequence[str], expires: int, *, slack: int = 10
) -> list[str]:
    """Problems with a registrar's listing: a binding of ours missing, or listed with
    an expiry above what we asked or more than ``slack`` seconds below it."""
    problems: list[str] = []
    for contact in wanted:
        found = [entry for entry in listed if _same_uri(str(entry.uri), contact)]
        if not found:
            problems.append(f"{contact}: not listed")
            continue
        value = found[0].params.get("expires")
        if value is None or not value.isdigit():
            problems.append(f"{contact}: listed without an expires parameter")
            continue
        granted = int(value)
        if not expires - slack <= granted <= expires:
            problems.append(f"{contact}: expires={granted}, asked for {expires}")
    return problems


def _contacts_of(response: Response) -> list[NameAddr]:
    try:
        return response.contacts
    except ParseError:
        return []


async def run_usrloc(
    agent: Agent,
    registrar: str,
    aor: str,
    contacts: Sequence[str],
    *,
    expires: int,
    timeout: float,
) -> UsrlocResult:
    """The three steps; stops at the first that fails."""
    requests = Dialogless(agent, registrar, aor=aor)
    lines: list[str] = []

    async def send(contact_values: Sequence[str], expires_header: int | None) -> Exchange:
        headers = [] if expires_header is None else [("Expires", str(expires_header))]
        return await asyncio.wait_for(
            requests.send("REGISTER", headers=headers, contacts=contact_values), timeout
        )

    def failed(step: Step, what: str) -> UsrlocResult:
        return UsrlocResult(step, (*lines, what))

    bracketed = [f"<{contact}>" for contact in contacts]
    try:
        registered = await send(bracketed, expires)
    except (TimeoutError, CallFailed, TransportError) as error:
        return failed(Step.REGISTER, f"register: {error or 'no response'}")
    status = registered.response
    if not 200 <= status.status < 300:
        return failed(Step.REGISTER, f"register: {status.status} {status.reason}")
    lines.append(f"registered {len(contacts)} bindings for {aor} ({registered.rtt_ms:.2f} ms)")

    try:
        listing = await send([], None)
    except (TimeoutError, CallFailed, TransportError) as error:
        return failed(Step.LIST, f"list: {error or 'no response'}")
    if not 200 <= listing.response.status < 300:
        return failed(Step.LIST, f"list: {listing.response.status} {listing.response.reason}")
    problems = check_bindings(_contacts_of(listing.response), contacts, expires)
    if problems:
        return failed(Step.LIST, "list: " + "; ".join(problems))
    lines.append(f"listed back all {len(contacts)} bindings with expires <= {expires}")

    try:
        removed = await send([f"{value};expires=0" for value in bracketed], 0)
        after = await send([], None)
    except (TimeoutError, CallFailed, TransportError) as error:
        return failed(Step.REMOVE, f"remove: {error or 'no response'}")
    if not 200 <= removed.response.status < 300:
        return failed(Step.REMOVE, f"remove: {removed.response.status} {removed.response.reason}")
    left = [
        contact
        for contact in contacts
        if any(_same_uri(str(entry.uri), contact) for entry in _contacts_of(after.response))
    ]
    if left:
        return failed(Step.REMOVE, "remove: still listed: " + ", ".join(left))
    lines.append(f"removed all {len(contacts)} bindings")
    return UsrlocResult(Step.OK, tuple(lines))


def make_contacts(user: str, host: str, port: int, count: int) -> list[str]:
    """sipsak -U style bindings: distinct users on our address, one per binding."""
    return [f"sip:{user}-{number}@{host}:{port}" for number in range(1, count + 1)]
