"""``Agent``: the async user agent people write tests with.

    async with Agent(contact="sip:alice@127.0.0.1", transport="tcp") as alice:
        await alice.register("sip:127.0.0.1", user="alice", password="secret")
        call = await alice.invite("sip:bob@127.0.0.1")
        await call.answered()          # raises CallFailed(status) on 4xx-6xx
        await call.hangup()

No callbacks are required: incoming calls arrive through ``async for call in
agent.incoming()``.  The agent answers OPTIONS by itself (keep-alive pings) and
queues MESSAGE requests for ``agent.messages()``.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from types import TracebackType

import dns.asyncresolver

from sipwright.net.address import SECURE, Destination, Flow, strip_brackets
from sipwright.net.endpoint import ClientTransactionHandle, MessageLog, SipEndpoint
from sipwright.net.resolver import ResolutionError, enum_lookup
from sipwright.net.transport_layer import TransportError
from sipwright.sip.builders import build_request, new_call_id
from sipwright.sip.digest import DigestClient, parse_challenge
from sipwright.sip.errors import ParseError
from sipwright.sip.message import Request, Response
from sipwright.sip.transaction import TimerConfig
from sipwright.sip.uri import SipURI, parse_uri
from sipwright.ua.addressing import Addressing
from sipwright.ua.call import CallFailed
from sipwright.ua.call_media import MediaOptions
from sipwright.ua.incoming_call import IncomingCall
from sipwright.ua.outgoing_call import OutgoingCall
from sipwright.ua.registration import Registration

__all__ = ["Agent", "CallFailed", "Credentials"]

Credentials = tuple[str, str]  # (user, password)


async def _bounded(work: Sequence[Coroutine[object, object, object]], timeout: float) -> None:
    """Run ``work`` concurrently for at most ``timeout`` s; cancel what is left and
    collect every outcome, so no failure goes unretrieved."""
    tasks = [asyncio.ensure_future(coroutine) for coroutine in work]
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class Agent(Addressing):
    """One SIP user agent: listens, registers, calls and answers."""

    def __init__(
        self,
        contact: str = "sip:sipwright@127.0.0.1",
        *,
        transport: str = "udp",
        proxy: str | None = None,
        user: str | None = None,
        password: str | None = None,
        display_name: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        client_ssl: ssl.SSLContext | None = None,
        timers: TimerConfig | None = None,
        trace: Callable[[MessageLog], None] | None = None,
        user_agent: str = "sipwright",
        resolver: dns.asyncresolver.Resolver | None = None,
    ) -> None:
        uri = parse_uri(contact)
        if not isinstance(uri, SipURI):
            raise ValueError(f"contact must be a sip: or sips: URI, not {contact!r}")
        self.contact_uri = uri
        self.transport = transport.lower()
        self.proxy = parse_uri(proxy) if proxy else None
        self.credentials: Credentials | None = (
            (user, password) if user is not None and password is not None else None
        )
        self.display_name = display_name
        self.resolver = resolver
        self.server_ssl = ssl_context
        self.user_agent = user_agent
        self.endpoint = SipEndpoint(
            timers=timers,
            client_ssl=client_ssl,
            on_request=self._on_request,
            trace=trace,
            user_agent=user_agent,
        )
        self.digest = DigestClient()
        self.registrations: list[Registration] = []
        self.calls: list[OutgoingCall | IncomingCall] = []
        self._dialogs: dict[tuple[str, str, str], OutgoingCall | IncomingCall] = {}
        self._incoming: asyncio.Queue[IncomingCall] = asyncio.Queue()
        self._messages: asyncio.Queue[Request] = asyncio.Queue()
        self._pending_invites: dict[tuple[str, str], IncomingCall] = {}
        self.listening: list[Destination] = []

    # --- life cycle --------------------------------------------------------------------

    async def __aenter__(self) -> Agent:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        host = strip_brackets(self.contact_uri.host)
        port = self.contact_uri.port or 0
        transports = {self.transport}
        if self.transport != "udp":
            transports.add("udp")  # answer UDP too: peers may fall back to it
        for transport in sorted(transports):
            context = self.server_ssl if transport in SECURE else None
            if transport in SECURE and context is None:
                continue  # a TLS/WSS client needs no listener; connections are reused
            listen_port = port if transport == self.transport else 0
            self.listening.append(
                await self.endpoint.listen(transport, host, listen_port, ssl_context=context)
            )
        if not any(d.transport == "udp" for d in self.listening):
            self.listening.append(await self.endpoint.listen("udp", host, 0))

    async def close(self, timeout: float = 2.0) -> None:
        """End calls in progress and unregister, all at once and for at most
        ``timeout`` seconds in all; then close the sockets.

        A call that cannot be hung up in time (its peer does not answer the BYE, or
        it still waits for the ACK of its 2xx, before which §15 forbids a BYE) is
        abandoned: it ends here, with the reason in its record's errors."""
        live = [call for call in self.calls if not call.is_ended]
        await _bounded([call.hangup() for call in live], timeout)
        for call in live:
            call.abandon("abandoned: the agent closed before the call could be hung up")
        await _bounded([r.unregister() for r in self.registrations], timeout)
        for call in self.calls:
            if call.call_media is not None:
                call.call_media.close()  # also for calls whose hangup failed
        await self.endpoint.close()

    # --- sending requests --------------------------------------------------------------

    async def send(
        self,
        make: Callable[[Destination], Request],
        target: SipURI,
        *,
        route: Sequence[str] = (),
    ) -> tuple[ClientTransactionHandle, Response, Request]:
        """Build with ``make(destination)`` and send, failing over to the next
        destination on timeout, transport error or 503 (RFC 3263 §4.3)."""
        hop = self.next_hop(target, route)
        destinations = await self.destinations(hop)
        last_error: Exception | None = None
        for destination in destinations:
            request = make(destination)
            try:
                handle = await self.endpoint.request(request, destination)
                response = await handle.final_response()
            except (TimeoutError, TransportError) as error:
                last_error = error
                continue
            if response.status == 503 and destination is not destinations[-1]:
                last_error = CallFailed(response)
                continue
            return handle, response, request
        if isinstance(last_error, CallFailed):
            raise last_error
        raise CallFailed(None, str(last_error) if last_error else "no destination")

    def authorize(self, request: Request, challenge_response: Response, uri: str) -> bool:
        """Add Authorization/Proxy-Authorization for a 401/407 (§22.2, §22.3)."""
        if self.credentials is None:
            return False
        header = "WWW-Authenticate" if challenge_response.status == 401 else "Proxy-Authenticate"
        answer = "Authorization" if challenge_response.status == 401 else "Proxy-Authorization"
        value = challenge_response.headers.first(header)
        if value is None:
            return False
        user, password = self.credentials
        try:
            credentials = self.digest.authorize(
                parse_challenge(value),
                method=request.method,
                uri=uri,
                username=user,
                password=password,
                body=request.body,
            )
        except ParseError:
            return False
        request.headers.set(answer, credentials)
        return True

    async def register(
        self,
        registrar: str,
        *,
        user: str | None = None,
        password: str | None = None,
        expires: int = 3600,
        refresh: bool = True,
        extra_contacts: Sequence[str] = (),
    ) -> Registration:
        """REGISTER our contact (and ``extra_contacts``) at ``registrar``; 401/407 are
        answered with digest.  ``registration.bindings`` lists what the registrar has."""
        if user is not None and password is not None:
            self.credentials = (user, password)
        registration = Registration(
            self,
            registrar,
            user or self.contact_uri.user,
            expires,
            extra_contacts=extra_contacts,
        )
        await registration.register(refresh=refresh)
        self.registrations.append(registration)
        return registration

    async def invite(
        self,
        uri: str,
        *,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes | None = None,
        content_type: str = "application/sdp",
        session_expires: int | None = None,
        media: MediaOptions | None = None,
    ) -> OutgoingCall:
        """Start a call to ``uri``; ``await call.answered()`` waits for the 2xx.
        ``session_expires`` asks for RFC 4028 session timers (we refresh).  A ``tel:``
        URI is turned into a SIP URI by an ENUM lookup (RFC 6116).  ``media`` says what
        to do with RTP (default: a real session sending silence; see MediaOptions)."""
        if uri.lower().startswith("tel:"):
            uri = await self.enum(uri)
        call = OutgoingCall(
            self,
            uri,
            headers=headers,
            body=body,
            content_type=content_type,
            session_expires=session_expires,
            media=media,
        )
        self.calls.append(call)
        call.start()
        return call

    async def enum(self, number: str) -> str:
        """The first SIP URI ENUM (RFC 6116) gives for a ``tel:`` URI or E.164 number."""
        try:
            uris = await enum_lookup(number.removeprefix("tel:"), resolver=self.resolver)
        except (ResolutionError, ValueError) as error:
            raise CallFailed(None, f"ENUM lookup for {number} failed: {error}") from None
        if not uris:
            raise CallFailed(None, f"ENUM lookup for {number}: no SIP URI")
        return uris[0]

    async def options(self, uri: str, *, headers: Sequence[tuple[str, str]] = ()) -> Response:
        """Send OPTIONS (a ping) and return the final response."""
        return await self.request("OPTIONS", uri, headers=headers)

    async def message(self, uri: str, text: str, *, content_type: str = "text/plain") -> Response:
        return await self.request("MESSAGE", uri, body=text.encode(), content_type=content_type)

    async def request(
        self,
        method: str,
        uri: str,
        *,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str | None = None,
    ) -> Response:
        """An out-of-dialog request with digest retry; returns the final response."""
        target = parse_uri(uri)
        if not isinstance(target, SipURI):
            raise ValueError(f"cannot send to {uri!r}: not a sip: or sips: URI")
        call_id = new_call_id()
        from_ = self.from_header(target.host)
        cseq = 1
        extra = list(headers)

        def make(destination: Destination) -> Request:
            host, port, contact = self.local_parts(destination)
            return build_request(
                method,
                target,
                from_=from_,
                to=f"<{target.without_params('transport')}>",
                call_id=call_id,
                cseq=cseq,
                via_transport=destination.transport.upper(),
                via_host=host,
                via_port=port,
                contact=contact if method != "MESSAGE" else None,
                extra_headers=[*extra, ("User-Agent", self.user_agent)],
                body=body,
                content_type=content_type,
            )

        _, response, request = await self.send(make, target)
        if response.status in (401, 407):
            cseq += 1
            challenge = response

            def make_authorized(destination: Destination) -> Request:
                retry = make(destination)
                self.authorize(retry, challenge, str(target))
                return retry

            if self.credentials is not None:
                _, response, _ = await self.send(make_authorized, target)
        del request
        return response

    # --- incoming ----------------------------------------------------------------------

    async def incoming(self) -> AsyncIterator[IncomingCall]:
        """Each incoming call, as it arrives."""
        while True:
            yield await self._incoming.get()

    async def next_call(self, timeout: float | None = None) -> IncomingCall:
        return await asyncio.wait_for(self._incoming.get(), timeout)

    async def messages(self) -> AsyncIterator[Request]:
        while True:
            yield await self._messages.get()

    def register_dialog(self, key: tuple[str, str, str], call: OutgoingCall | IncomingCall) -> None:
        self._dialogs[key] = call

    def _on_request(self, request: Request, flow: Flow) -> None:
        method = request.method
        to_tag = request.to_tag
        if to_tag is not None:
            key = (request.call_id, to_tag, request.from_tag or "")
            call = self._dialogs.get(key)
            if call is not None:
                call.in_dialog(request, flow)
                return
            if method == "ACK":
                return  # an ACK for a dialog we no longer know: nothing to answer
            self.endpoint.accept(request, flow).reply(481)
            return
        if method == "ACK":
            return
        if method == "CANCEL":
            self._cancel(request, flow)
            return
        handle = self.endpoint.accept(request, flow)
        if method == "INVITE":
            incoming = IncomingCall(self, handle, flow)
            problem = incoming.dialog_problem()
            if problem is not None:  # malformed for a dialog: 400, counted, not a call
                self.endpoint.malformed_requests += 1
                incoming.refuse(problem)
                return
            self.calls.append(incoming)
            self._pending_invites[(request.call_id, request.from_tag or "")] = incoming
            self._incoming.put_nowait(incoming)
        elif method == "OPTIONS":
            response = handle.reply(200)
            del response
        elif method == "MESSAGE":
            handle.reply(200)
            self._messages.put_nowait(request)
        else:
            handle.reply(405 if method in ("REGISTER", "PUBLISH", "SUBSCRIBE") else 501)

    def _cancel(self, cancel: Request, flow: Flow) -> None:
        handle = self.endpoint.accept(cancel, flow)
        target = self.endpoint.find_invite(cancel)
        call = self._pending_invites.get((cancel.call_id, cancel.from_tag or ""))
        if target is None or call is None or call.answered_response is not None:
            handle.reply(481)  # §9.2: no matching INVITE (or already answered)
            return
        handle.reply(200)
        call.cancelled_by_peer()
