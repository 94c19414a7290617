"""Dialogs (RFC 3261 §12): the state two user agents share between requests.

A ``Dialog`` is created from the request and the response that establish it
(``from_uac`` on the caller side, ``from_uas`` on the callee side), builds the
requests sent inside it (``create_request``, ``create_ack``) and is told about what
arrives (``receive_request``, ``receive_response``) and what the callee answered
(``response_sent``).  Forked responses to one INVITE, each To tag its own dialog,
are sorted out by ``UacDialogSet`` in ``dialog_set.py``.

Sans-I/O: nothing here sends, waits or reads the clock.

ACK for 2xx on the caller side (§13.2.2.4): the transaction layer does not
retransmit it; the UAC core re-sends the *same* ACK every time the 2xx is
retransmitted.  Build it once with ``Dialog.create_ack`` and, for each 2xx that
arrives again, send what ``Dialog.ack_for_retransmission(response)`` returns.
The callee side's 2xx retransmissions are in ``answer_retransmit.py``.
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

from sipwright.sip.builders import build_request
from sipwright.sip.errors import ParseError, ProtocolError
from sipwright.sip.headers import NameAddr
from sipwright.sip.message import Request, Response
from sipwright.sip.uri import URI, SipURI

__all__ = [
    "TARGET_REFRESH_METHODS",
    "Dialog",
    "DialogId",
    "DialogState",
    "dialog_id_for_incoming",
    "dialog_id_for_response",
]

# Requests that replace the remote target with their Contact: INVITE (§12.2),
# UPDATE (RFC 3311 §5.1), and SUBSCRIBE and NOTIFY (RFC 6665 updates §12 for them).
TARGET_REFRESH_METHODS = frozenset({"INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY"})


class DialogState(enum.Enum):
    """§12: early (after a 1xx with a To tag), confirmed (after a 2xx), terminated."""

    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


@dataclass(frozen=True, slots=True)
class DialogId:
    """§12: Call-ID, local tag and remote tag identify a dialog.

    The remote tag is ``""`` when an RFC 2543 peer answered without a To tag
    (§12.1.2 calls it null).
    """

    call_id: str
    local_tag: str
    remote_tag: str


def dialog_id_for_incoming(request: Request) -> DialogId | None:
    """The id of the dialog an incoming request belongs to, seen from us.

    §12.2.2: local tag = To tag, remote tag = From tag.  ``None`` when the request
    has no To tag: it is outside any dialog.
    """
    to_tag = request.to_tag
    if to_tag is None:
        return None
    return DialogId(request.call_id, to_tag, request.from_tag or "")


def dialog_id_for_response(response: Response) -> DialogId:
    """The id of the dialog a response to one of our requests belongs to.

    We sent the request, so local tag = From tag and remote tag = To tag (§12.1.2).
    """
    return DialogId(response.call_id, response.from_tag or "", response.to_tag or "")


def _first_contact_uri(message: Request | Response) -> URI | None:
    contacts = message.contacts
    if not contacts:
        return None
    uri = contacts[0].uri
    if isinstance(uri, SipURI) and uri.host == "*":
        raise ParseError("Contact * cannot be a dialog's remote target", 400)
    return uri


def _request_uri_form(uri: URI) -> URI:
    """``uri`` without what §19.1.1's table forbids in a Request-URI.

    The method parameter and escaped headers are for building a request *from*
    a URI (§19.1.5); they must not appear in the Request-URI itself.
    """
    if isinstance(uri, SipURI):
        return uri.without_params("method").without_headers()
    return uri


def _initial_local_seq() -> int:
    # §12.2.1.1 defers to §8.1.1.5: an arbitrary start below 2**31.  Staying well
    # below leaves room for a long dialog's increments.
    return secrets.randbelow(2**16) + 1


@dataclass(slots=True, eq=False)
class Dialog:
    """The dialog state of §12: ids, URIs, target, route set, sequence numbers.

    ``local_uri``/``remote_uri`` are kept without their tag; the tags are separate.
    ``local_seq``/``remote_seq`` are ``None`` while empty (§12.1.1, §12.1.2).
    ``is_caller`` tells which side of the initial request we were (§15 lets only
    the caller send BYE on an early dialog).  ``local_target`` is our Contact, sent
    again in target refresh requests (§12.2.1.1).
    """

    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: NameAddr
    remote_uri: NameAddr
    remote_target: URI
    route_set: list[NameAddr] = field(default_factory=list)
    local_seq: int | None = None
    remote_seq: int | None = None
    secure: bool = False
    state: DialogState = DialogState.EARLY
    is_caller: bool = True
    local_target: NameAddr | None = None
    # The CSeq number of the last INVITE we sent (initial or re-INVITE): the
    # default for create_ack.
    invite_cseq: int | None = None
    _acks: dict[int, Request] = field(default_factory=dict, init=False, repr=False)
    # From and To as sent in our requests, rendered on first use.
    _from_text: str | None = field(default=None, init=False, repr=False)
    _to_text: str | None = field(default=None, init=False, repr=False)

    # --- creation ------------------------------------------------------------

    @classmethod
    def from_uac(
        cls, request: Request, response: Response, *, secure: bool | None = None
    ) -> Dialog:
        """The caller's dialog from its request and a 101-299 response (§12.1.2).

        Route set = Record-Route of the response in reverse order; remote target =
        Contact of the response; local seq = CSeq of the request.  A 1xx needs a
        To tag (§12.1) and gives an early dialog; a 2xx gives a confirmed one even
        without a tag (RFC 2543 peers, §12.1.2).  ``secure`` defaults to "the
        Request-URI was a SIPS URI", which can only have been sent over TLS
        (§26.2.2).
        """
        if not 101 <= response.status <= 299:
            raise ValueError(f"only 101-299 responses create dialogs (§12.1): {response}")
        to_tag = response.to_tag
        if response.status < 200 and to_tag is None:
            raise ValueError("a provisional response without a To tag creates no dialog")
        request_uri = request.request_uri
        # §12.1.2 wants the Contact of the response; a 1xx often has none (and
        # broken peers omit it in a 2xx): the Request-URI is then the only target.
        target = _first_contact_uri(response) or _request_uri_form(request_uri)
        contacts = request.contacts
        return cls(
            call_id=request.call_id,
            local_tag=request.from_tag or "",
            remote_tag=to_tag or "",
            local_uri=request.from_.without_tag(),
            remote_uri=request.to.without_tag(),
            remote_target=target,
            route_set=list(reversed(response.record_routes)),
            local_seq=request.cseq.number,
            remote_seq=None,
            secure=request_uri.scheme == "sips" if secure is None else secure,
            state=DialogState.EARLY if response.status < 200 else DialogState.CONFIRMED,
            is_caller=True,
            local_target=contacts[0] if contacts else None,
            invite_cseq=request.cseq.number if request.method == "INVITE" else None,
        )

    @classmethod
    def from_uas(
        cls, request: Request, response: Response, *, secure: bool | None = None
    ) -> Dialog:
        """The callee's dialog from the request and its 101-299 answer (§12.1.1).

        ``response`` must carry our To tag (``make_response(..., to_tag=...)``).
        Route set = Record-Route of the request in order; remote target = Contact of
        the request (missing: ParseError 400, §8.1.1.8 makes it mandatory); remote
        seq = CSeq of the request; local seq empty.
        """
        if not 101 <= response.status <= 299:
            raise ValueError(f"only 101-299 responses create dialogs (§12.1): {response}")
        local_tag = response.to_tag
        if local_tag is None:
            raise ValueError("the response creating a dialog must carry a To tag (§12.1.1)")
        target = _first_contact_uri(request)
        if target is None:
            raise ParseError("request creating a dialog has no Contact (§8.1.1.8)", 400)
        contacts = response.contacts
        return cls(
            call_id=request.call_id,
            local_tag=local_tag,
            remote_tag=request.from_tag or "",
            local_uri=request.to.without_tag(),
            remote_uri=request.from_.without_tag(),
            remote_target=target,
            route_set=list(request.record_routes),
            local_seq=None,
            remote_seq=request.cseq.number,
            secure=request.request_uri.scheme == "sips" if secure is None else secure,
            state=DialogState.EARLY if response.status < 200 else DialogState.CONFIRMED,
            is_caller=False,
            local_target=contacts[0] if contacts else None,
        )

    @property
    def id(self) -> DialogId:
        return DialogId(self.call_id, self.local_tag, self.remote_tag)

    @property
    def uses_strict_routing(self) -> bool:
        """The first route has no ``lr``: an RFC 2543 strict router (§12.2.1.1)."""
        if not self.route_set:
            return False
        first = self.route_set[0].uri
        return not (isinstance(first, SipURI) and first.lr)

    # --- requests we send (§12.2.1.1) ---------------------------------------

    def create_request(
        self,
        method: str,
        *,
        via_host: str,
        via_transport: str = "UDP",
        via_port: int | None = None,
        body: bytes = b"",
        content_type: str | None = None,
        extra_headers: Iterable[tuple[str, str]] = (),
        branch: str | None = None,
        contact: NameAddr | str | None = None,
        max_forwards: int = 70,
    ) -> Request:
        """A request inside this dialog (§12.2.1.1).

        The local sequence number goes up by one for each request except ACK and
        CANCEL, which reuse the number of the request they belong to (§13.2.2.4,
        §9.1).  For ACK of a 2xx prefer ``create_ack``.  Target refresh requests
        carry ``contact`` (default: our Contact from dialog creation).
        """
        if self.state is DialogState.TERMINATED and method != "ACK":
            raise ProtocolError(f"cannot send {method} in a terminated dialog")
        if method == "BYE" and not self.is_caller and self.state is DialogState.EARLY:
            raise ProtocolError("the callee must not send BYE on an early dialog (§15)")
        if method in ("ACK", "CANCEL"):
            if self.local_seq is None:
                raise ProtocolError(f"no request in this dialog for {method} to refer to")
            cseq = self.local_seq
        else:
            # §12.2.1.1: increment by one, or start per §8.1.1.5 if still empty.
            cseq = _initial_local_seq() if self.local_seq is None else self.local_seq + 1
            self.local_seq = cseq
            if method == "INVITE":
                self.invite_cseq = cseq
        if contact is None and method in TARGET_REFRESH_METHODS:
            contact = self.local_target
        return self._build(
            method,
            cseq,
            via_host=via_host,
            via_transport=via_transport,
            via_port=via_port,
            body=body,
            content_type=content_type,
            extra_headers=extra_headers,
            branch=branch,
            contact=contact,
            max_forwards=max_forwards,
        )

    def create_ack(
        self,
        invite_cseq: int | None = None,
        *,
        via_host: str,
        via_transport: str = "UDP",
        via_port: int | None = None,
        body: bytes = b"",
        content_type: str | None = None,
        extra_headers: Iterable[tuple[str, str]] = (),
        branch: str | None = None,
        max_forwards: int = 70,
    ) -> Request:
        """The ACK for a 2xx to INVITE number ``invite_cseq`` (§13.2.2.4).

        Built like any in-dialog request, with the INVITE's CSeq number and method
        ACK, and a new branch: unlike the ACK of a non-2xx, it is a transaction of
        its own (§8.1.1.7, §17.1.1.3).  Credentials of the INVITE, if any, go in ``extra_headers``
        (§13.2.2.4 wants the same ones).  The ACK is remembered for
        ``ack_for_retransmission``.  Default ``invite_cseq``: our last INVITE.
        """
        number = self.invite_cseq if invite_cseq is None else invite_cseq
        if number is None:
            raise ProtocolError("no INVITE sent in this dialog to acknowledge")
        ack = self._build(
            "ACK",
            number,
            via_host=via_host,
            via_transport=via_transport,
            via_port=via_port,
            body=body,
            content_type=content_type,
            extra_headers=extra_headers,
            branch=branch,
            contact=None,
            max_forwards=max_forwards,
        )
        self._acks = {number: ack}  # only the latest INVITE's 2xx can still repeat
        return ack

    def ack_for_retransmission(self, response: Response) -> Request | None:
        """The ACK to send again for a retransmitted 2xx to INVITE (§13.2.2.4).

        ``None`` if ``response`` is not a 2xx to an INVITE we already acknowledged.
        """
        cseq = response.cseq
        if not response.is_success or cseq.method != "INVITE":
            return None
        return self._acks.get(cseq.number)

    def _build(
        self,
        method: str,
        cseq: int,
        *,
        via_host: str,
        via_transport: str,
        via_port: int | None,
        body: bytes,
        content_type: str | None,
        extra_headers: Iterable[tuple[str, str]],
        branch: str | None,
        contact: NameAddr | str | None,
        max_forwards: int,
    ) -> Request:
        request_uri, route = self._request_uri_and_route()
        if self._from_text is None or self._to_text is None:
            # Rendered once per dialog: the URIs and tags do not change (§12.2.1.1).
            remote = self.remote_uri
            self._to_text = str(remote.with_tag(self.remote_tag) if self.remote_tag else remote)
            self._from_text = str(self.local_uri.with_tag(self.local_tag))
        return build_request(
            method,
            request_uri,
            from_=self._from_text,
            to=self._to_text,
            call_id=self.call_id,
            cseq=cseq,
            via_transport=via_transport,
            via_host=via_host,
            via_port=via_port,
            branch=branch,
            contact=contact,
            max_forwards=max_forwards,
            route=route,
            extra_headers=extra_headers,
            body=body,
            content_type=content_type,
        )

    def _request_uri_and_route(self) -> tuple[URI, list[NameAddr]]:
        """Request-URI and Route of §12.2.1.1 (loose or strict routing)."""
        if not self.route_set:
            return _request_uri_form(self.remote_target), []
        if not self.uses_strict_routing:
            # Loose routing: the request is addressed to the remote target and the
            # proxies are listed in Route; the transport sends it to the first (§8.1.2).
            return _request_uri_form(self.remote_target), list(self.route_set)
        # Strict routing (RFC 2543 proxies): the first route becomes the
        # Request-URI and the remote target goes last in Route, where the strict
        # router will pick it up.
        first, *rest = self.route_set
        target = NameAddr(uri=self.remote_target)
        return _request_uri_form(first.uri), [*rest, target]

    # --- what arrives ------------------------------------------------------

    def receive_request(self, request: Request) -> int | None:
        """Account for a request received in this dialog (§12.2.2).

        Returns the status to reject it with, or ``None`` to process it: 481 when
        it is not for this dialog, 500 when its CSeq is lower than the remote
        sequence number (out of order).  Updates the remote sequence number, the
        remote target on a target refresh request, and terminates on BYE (§15.1.2).
        ACK and CANCEL carry an earlier request's number and are not checked.
        """
        if dialog_id_for_incoming(request) != self.id:
            return 481
        method = request.method
        if method in ("ACK", "CANCEL"):
            return None
        number = request.cseq.number
        if self.remote_seq is not None and number < self.remote_seq:
            return 500
        self.remote_seq = number
        if method in TARGET_REFRESH_METHODS:
            # §12.2.2: the Contact of a target refresh replaces the remote target;
            # Record-Route in it does not touch the route set (§12.2).
            target = _first_contact_uri(request)
            if target is not None:
                self.remote_target = target
        elif method == "BYE":
            self.state = DialogState.TERMINATED
        return None

    def receive_response(self, response: Response) -> None:
        """Account for a response to a request we sent in this dialog.

        - Early dialog and a 2xx to the INVITE: confirmed, with the route set
          recomputed from the 2xx (§13.2.2.4).  A 1xx or 2xx here also refreshes
          the remote target from its Contact.
        - 2xx to a target refresh request: new remote target (§12.2.1.2).
        - 481 or 408: the dialog is gone (§12.2.1.2).
        - Final response to BYE, other than 401/407 (to be retried with
          credentials): terminated (§15.1.1).
        - Early dialog and a non-2xx final to the INVITE: terminated (§12.3).
        """
        if dialog_id_for_response(response) != self.id:
            raise ProtocolError(f"response is not for dialog {self.id}")
        status = response.status
        method = response.cseq.method
        if status in (408, 481):
            self.state = DialogState.TERMINATED
            return
        if self.state is DialogState.EARLY and method == "INVITE":
            if status >= 300:
                self.state = DialogState.TERMINATED
                return
            if status >= 200:
                self.route_set = list(reversed(response.record_routes))
                self.state = DialogState.CONFIRMED
            if status > 100:
                target = _first_contact_uri(response)
                if target is not None:
                    self.remote_target = target
            return
        if method == "BYE" and status >= 200 and status not in (401, 407):
            self.state = DialogState.TERMINATED
            return
        if 200 <= status < 300 and method in TARGET_REFRESH_METHODS:
            target = _first_contact_uri(response)
            if target is not None:
                self.remote_target = target

    def response_sent(self, response: Response) -> None:
        """Account for a response we (the callee) sent to a request in the dialog.

        A 2xx to the initial INVITE confirms the early dialog; a non-2xx final
        one ends it (§12.3).  Only the early dialog's state is touched here.
        """
        if self.state is not DialogState.EARLY or response.cseq.method != "INVITE":
            return
        if 200 <= response.status < 300:
            self.state = DialogState.CONFIRMED
        elif response.status >= 300:
            self.state = DialogState.TERMINATED

    def terminate(self) -> None:
        """End the dialog (a BYE timed out, §15.1.1; or the TU gave up on it)."""
        self.state = DialogState.TERMINATED
