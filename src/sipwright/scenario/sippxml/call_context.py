"""Per-run and per-call state the SIPp keywords read (``RunContext``,
``KeywordContext``): addresses, counters, the last message received, the route set
and the digest challenge kept for ``[authentication]``.  See :mod:`.keywords`."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from sipwright import __version__
from sipwright.scenario.sippxml.injection import InjectionRegistry
from sipwright.sip.digest import DigestClient
from sipwright.sip.errors import ParseError
from sipwright.sip.grammar import split_list
from sipwright.sip.message import Request, Response, parse_message

if TYPE_CHECKING:
    from sipwright.scenario.sippxml.keywords import Template

__all__ = ["DynamicId", "KeywordContext", "RenderError", "RunContext"]

_Message = Request | Response


class RenderError(Exception):
    """A keyword that cannot be expanded for this call (no challenge, no -inf, ...)."""


class DynamicId:
    """``[dynamic_id]``: one counter for the whole run, from ``start`` by ``step``,
    back to ``start`` after passing ``maximum`` (SIPp -dynamicStart/-Step/-Max)."""

    __slots__ = ("maximum", "start", "step", "value")

    def __init__(self, start: int = 10000, step: int = 4, maximum: int = 18000) -> None:
        self.start, self.step, self.maximum, self.value = start, step, maximum, start

    def next(self) -> int:
        value = self.value
        self.value = value + self.step if value + self.step <= self.maximum else self.start
        return value


def _monotonic_ms() -> Callable[[], int]:
    start = time.monotonic()
    return lambda: int((time.monotonic() - start) * 1000)


@lru_cache(maxsize=256)
def _read_file(name: str) -> bytes:
    return Path(name).read_bytes()


@dataclass(slots=True, kw_only=True)
class RunContext:
    """What every call of a run shares (command-line values, clocks, -inf files)."""

    service: str = "service"
    remote_ip: str = "127.0.0.1"
    remote_host: str = ""  # "" means remote_ip
    remote_port: int = 5060
    local_ip: str = "127.0.0.1"
    local_port: int = 5060
    transport: str = "UDP"
    media_ip: str = ""  # "" means local_ip
    media_port: int = 6000
    pid: int = field(default_factory=os.getpid)
    users: int = -1
    auth_username: str | None = None  # -au (else the service)
    auth_password: str = "password"  # -ap
    auth_uri: str | None = None  # -auth_uri
    sipp_version: str = f"sipwright-{__version__}"  # SIPp prints e.g. "3.6.1"
    clock: Callable[[], int] = field(default_factory=_monotonic_ms)  # [clock_tick], ms
    wall_clock: Callable[[], float] = time.time  # [timestamp] (local time), [date] (GMT)
    injection: InjectionRegistry | None = None
    dynamic_id: DynamicId = field(default_factory=DynamicId)
    read_file: Callable[[str], bytes] = _read_file  # [file name=...]
    cnonce_factory: Callable[[], str] | None = None

    def __post_init__(self) -> None:
        self.transport = self.transport.upper()


@dataclass(slots=True, kw_only=True)
class KeywordContext:
    """One call's keyword state; the interpreter updates it as the call runs.

    ``cseq`` starts at ``-base_cseq`` minus one (0 by default) and is advanced by
    :meth:`on_send`; :meth:`on_receive` records the last message, peer tag, route
    set and challenge.  ``injection_lines`` holds the -inf line of each file
    (``RunContext.injection.lines_for_call``); ``msg_index`` is the index of the
    scenario message being rendered.
    """

    run: RunContext
    call_number: int = 1
    call_id: str = ""
    cseq: int = 0
    msg_index: int = 0
    user_id: int = 0
    local_port: int | None = None  # the call's own socket (-t un)
    server_ip: str | None = None  # the call socket's address; None: local_ip
    media_port: int | None = None
    variables: dict[str, object] = field(default_factory=dict)
    injection_lines: dict[str, int | None] = field(default_factory=dict)
    tdm_map: str | None = None
    parsed_last: _Message | None = None  # see last_message
    last_raw: bytes | None = None
    peer_tag: str | None = None
    route_set: str | None = None
    next_url: str | None = None
    challenges: list[str] | None = None
    challenge_status: int = 0
    digest: DigestClient | None = None

    @classmethod
    def for_call(
        cls,
        run: RunContext,
        *,
        call_number: int,
        call_id: str,
        user_id: int = 0,
        base_cseq: int = 1,
    ) -> KeywordContext:
        """A fresh call: -inf lines chosen, ``cseq`` ready for ``-base_cseq``."""
        ctx = cls(run=run, call_number=call_number, call_id=call_id, user_id=user_id)
        ctx.cseq = base_cseq - 1
        if run.injection is not None:
            ctx.injection_lines = run.injection.lines_for_call(call_number, user_id)
        return ctx

    def on_send(self, template: Template) -> None:
        """Call before rendering a message: a request other than ACK/CANCEL takes the
        next ``[cseq]``."""
        if template.method is not None and template.method not in ("ACK", "CANCEL"):
            self.cseq += 1

    @property
    def last_message(self) -> _Message | None:
        """The last message received, parsed again from its bytes if it was released
        (a call waiting in a pause holds bytes, not the parsed object)."""
        if self.parsed_last is None and self.last_raw is not None:
            try:
                self.parsed_last = parse_message(self.last_raw, lazy=True, strict=False)
            except ParseError:
                return None
        return self.parsed_last

    def release(self) -> None:
        """Drop the parsed last message (kept as bytes): memory per waiting call."""
        if self.last_raw is not None:
            self.parsed_last = None

    def on_receive(
        self, message: _Message, raw: bytes | None = None, *, rrs: bool = False, auth: bool = False
    ) -> None:
        """Record a message matched by a ``<recv>`` (``rrs``/``auth`` its attributes).

        Like SIPp, call it for messages that advance the scenario, not for
        retransmissions.  A 401/407 with ``auth`` lacking a challenge raises
        :class:`RenderError`."""
        self.parsed_last, self.last_raw = message, raw
        is_response = isinstance(message, Response)
        try:
            if is_response:
                tag = message.to_tag
                if tag is not None:
                    self.peer_tag = tag
            else:
                self.cseq = max(self.cseq, message.cseq.number)
        except (ParseError, ValueError):
            pass  # a broken To/CSeq leaves the state as it was
        headers = message.headers
        if rrs and self.route_set is None:
            contact = ", ".join(headers.get_all("Contact"))
            self._record_routes(headers.get_all("Record-Route"), contact, not is_response)
        if auth and isinstance(message, Response) and message.status in (401, 407):
            found = headers.get_all("Proxy-Authenticate") or headers.get_all("WWW-Authenticate")
            if not found:
                raise RenderError(f"{message.status} without Proxy-/WWW-Authenticate")
            self.challenges, self.challenge_status = found, message.status
            if self.digest is not None:
                self.digest.forget()  # SIPp restarts nc at 1 for every challenge

    def _record_routes(self, rr_values: list[str], contact: str, incoming: bool) -> None:
        if not contact.strip():
            return  # SIPp: "Cannot record route set if there is no Contact"
        hops = [hop.strip() for value in rr_values for hop in split_list(value) if hop.strip()]
        if not hops:
            self.next_url = _url_of(contact)
            return
        if not incoming:
            hops.reverse()
        target = ""
        if ";lr" not in hops[0]:  # strict router: it is the target, Contact goes last
            target = hops.pop(0)
            hops.append(contact.strip())
        if hops:
            self.route_set = ", ".join(hops)
        self.next_url = _url_of(target or contact)


def _url_of(contact: str) -> str:
    contact = contact.lstrip(" \t")
    if contact.startswith("<"):
        end = contact.find(">")
        return contact[1:end] if end >= 0 else contact[1:]
    return contact
