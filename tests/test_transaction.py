"""RFC 3261 §17 / RFC 6026 transaction state machines on a fake clock, and matching."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from sipwright.sip.builders import new_branch
from sipwright.sip.errors import ProtocolError
from sipwright.sip.headers import Headers
from sipwright.sip.message import Request, Response, make_response, parse_message
from sipwright.sip.transaction import (
    Event,
    LegacyKey,
    RequestReceived,
    ResponseReceived,
    State,
    TimedOut,
    TimerConfig,
    Transaction,
    TransactionKey,
    TransactionTerminated,
    TransportFailed,
    has_rfc3261_branch,
)
from sipwright.sip.transaction_client import (
    InviteClientTransaction,
    NonInviteClientTransaction,
    make_cancel,
    make_non_2xx_ack,
)
from sipwright.sip.transaction_server import InviteServerTransaction, NonInviteServerTransaction
from sipwright.sip.transaction_table import TransactionTable

VECTORS = Path("/work/shared/vectors/rfc4475")
ROUTES = ("<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>")


def request(
    method: str = "OPTIONS",
    *,
    branch: str | None = None,
    cseq: int = 1,
    sent_by: str = "client.example.com:5060",
    extra_via: str | None = None,
    routes: tuple[str, ...] = (),
) -> Request:
    headers = Headers([("Via", f"SIP/2.0/UDP {sent_by};branch={branch or new_branch()}")])
    if extra_via is not None:
        headers.add("Via", extra_via)
    for route in routes:
        headers.add("Route", route)
    headers.add("Max-Forwards", "69")
    headers.add("From", "Alice <sip:alice@example.com>;tag=from1")
    headers.add("To", "Bob <sip:bob@example.com>")
    headers.add("Call-ID", "call-1@client.example.com")
    headers.add("CSeq", f"{cseq} {method}")
    headers.add("Contact", "<sip:alice@client.example.com>")
    headers.add("Content-Length", "0")
    return Request(headers=headers, method=method, uri="sip:bob@example.com")


def state(txn: Transaction) -> State:
    """``txn.state`` through a call: mypy would keep a narrowed property across calls."""
    return txn.state


def reply(req: Request, status: int, tag: str | None = "to1") -> Response:
    return make_response(req, status, to_tag=tag)


def events(txn: Transaction) -> list[Event]:
    out = []
    while (event := txn.next_event()) is not None:
        out.append(event)
    return out


def run_timers(txn: Transaction, until: float = 1000.0) -> list[float]:
    """Advance the clock timer by timer; the times at which something was sent."""
    sent = []
    while (deadline := txn.next_timer()) is not None and deadline <= until:
        txn.handle_timer(deadline)
        if txn.messages_to_send():
            sent.append(deadline)
    return sent


def intervals(times: list[float], start: float) -> list[float]:
    return [b - a for a, b in itertools.pairwise([start, *times])]


# --- INVITE client (§17.1.1, RFC 6026 §8.4) ----------------------------------------


def test_invite_client_timer_a_doubles_without_cap_and_b_times_out_at_64_t1() -> None:
    invite = request("INVITE")
    txn = InviteClientTransaction(invite)
    assert state(txn) is State.CALLING
    txn.start(0.0)
    assert txn.messages_to_send() == [invite]
    assert txn.next_timer() == 0.5
    sent = run_timers(txn, until=31.9)
    assert sent == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]  # no T2 cap for INVITE (§17.1.1.2)
    assert txn.next_timer() == 32.0
    txn.handle_timer(32.0)
    assert state(txn) is State.TERMINATED
    assert events(txn) == [TimedOut("B"), TransactionTerminated()]
    assert txn.next_timer() is None and txn.messages_to_send() == []


def test_invite_client_reliable_has_no_timer_a() -> None:
    txn = InviteClientTransaction(request("INVITE"), reliable=True)
    txn.start(10.0)
    txn.messages_to_send()
    assert txn.next_timer() == 42.0
    assert run_timers(txn) == []
    assert events(txn) == [TimedOut("B"), TransactionTerminated()]


def test_invite_client_provisional_stops_retransmission_and_timer_b() -> None:
    invite = request("INVITE")
    txn = InviteClientTransaction(invite)
    txn.start(0.0)
    assert run_timers(txn, until=0.5) == [0.5]
    trying, ringing = reply(invite, 100, None), reply(invite, 180)
    txn.receive(trying, 0.7)
    assert state(txn) is State.PROCEEDING
    assert txn.next_timer() is None  # §17.1.1.2: Timer A and B no longer run
    txn.receive(ringing, 0.8)
    txn.receive(ringing, 0.9)  # every provisional goes up, copies included
    assert events(txn) == [ResponseReceived(r) for r in (trying, ringing, ringing)]
    assert txn.messages_to_send() == [] and txn.last_response is ringing


def test_invite_client_builds_and_repeats_the_ack_for_a_non_2xx() -> None:
    invite = request("INVITE", cseq=7, routes=ROUTES, extra_via="SIP/2.0/UDP a.example.com")
    txn = InviteClientTransaction(invite)
    txn.start(0.0)
    txn.messages_to_send()
    busy = reply(invite, 486, "callee-tag")
    txn.receive(reply(invite, 180), 1.0)
    txn.receive(busy, 2.0)
    assert state(txn) is State.COMPLETED
    [ack] = txn.messages_to_send()
    assert isinstance(ack, Request) and ack is txn.ack
    assert (ack.method, ack.uri) == ("ACK", invite.uri)
    assert list(ack.headers) == [
        ("Via", invite.headers.values("Via")[0]),
        ("Route", ROUTES[0]),
        ("Route", ROUTES[1]),
        ("Max-Forwards", "70"),
        ("From", invite.headers.first("From")),
        ("To", "Bob <sip:bob@example.com>;tag=callee-tag"),
        ("Call-ID", invite.call_id),
        ("CSeq", "7 ACK"),
        ("Content-Length", "0"),
    ]
    assert ack.via.branch == invite.via.branch and ack.body == b""
    assert [type(e) for e in events(txn)] == [ResponseReceived, ResponseReceived]
    for when in (3.0, 5.0):  # each retransmission of the final response: the ACK again
        txn.receive(busy, when)
        [again] = txn.messages_to_send()
        assert bytes(again) == bytes(ack)
    assert events(txn) == []  # retransmissions are not passed up
    assert txn.next_timer() == 34.0  # Timer D: 32 s from entering "Completed"
    txn.handle_timer(34.0)
    assert state(txn) is State.TERMINATED and events(txn) == [TransactionTerminated()]


def test_invite_client_reliable_timer_d_is_zero() -> None:
    invite = request("INVITE")
    txn = InviteClientTransaction(invite, reliable=True)
    txn.start(0.0)
    txn.messages_to_send()
    txn.receive(reply(invite, 603), 1.0)
    assert state(txn) is State.TERMINATED
    assert [m.method for m in txn.messages_to_send() if isinstance(m, Request)] == ["ACK"]
    assert [type(e) for e in events(txn)] == [ResponseReceived, TransactionTerminated]


@pytest.mark.parametrize("provisional_first", [False, True])
def test_invite_client_accepted_state_passes_every_2xx_up(provisional_first: bool) -> None:
    invite = request("INVITE")
    txn = InviteClientTransaction(invite)
    txn.start(0.0)
    txn.messages_to_send()
    if provisional_first:
        txn.receive(reply(invite, 180), 0.2)
        events(txn)
    ok, other_fork = reply(invite, 200, "fork-a"), reply(invite, 200, "fork-b")
    txn.receive(ok, 1.0)
    assert state(txn) is State.ACCEPTED
    assert txn.next_timer() == 33.0  # Timer M = 64*T1 (RFC 6026 §8.4)
    txn.receive(ok, 2.0)
    txn.receive(other_fork, 3.0)
    txn.receive(reply(invite, 180), 3.5)  # absorbed
    txn.receive(reply(invite, 486), 3.6)  # absorbed
    assert events(txn) == [ResponseReceived(r) for r in (ok, ok, other_fork)]
    assert txn.messages_to_send() == []  # the TU ACKs a 2xx, not the transaction
    assert run_timers(txn, until=32.9) == [] and state(txn) is State.ACCEPTED
    txn.handle_timer(33.0)
    assert state(txn) is State.TERMINATED and events(txn) == [TransactionTerminated()]


def test_invite_client_transport_error() -> None:
    txn = InviteClientTransaction(request("INVITE"))
    txn.start(0.0)
    txn.transport_error(0.1, "ICMP port unreachable")
    assert state(txn) is State.TERMINATED
    assert events(txn) == [TransportFailed("ICMP port unreachable"), TransactionTerminated()]


def test_client_misuse_is_refused() -> None:
    invite = request("INVITE")
    with pytest.raises(ProtocolError):
        NonInviteClientTransaction(invite)
    with pytest.raises(ProtocolError):
        InviteClientTransaction(request("BYE"))
    no_branch = request("OPTIONS")
    no_branch.headers.set("Via", "SIP/2.0/UDP client.example.com")
    with pytest.raises(ProtocolError):
        NonInviteClientTransaction(no_branch)
    txn = InviteClientTransaction(invite)
    txn.receive(reply(invite, 200), 0.0)  # not started: ignored
    assert state(txn) is State.CALLING and events(txn) == []
    txn.start(0.0)
    with pytest.raises(ProtocolError):
        txn.start(1.0)


# --- non-INVITE client (§17.1.2) ---------------------------------------------------


def test_non_invite_client_timer_e_capped_at_t2_and_f_at_64_t1() -> None:
    txn = NonInviteClientTransaction(request("REGISTER"))
    txn.start(0.0)
    assert state(txn) is State.TRYING and len(txn.messages_to_send()) == 1
    sent = run_timers(txn, until=31.99)
    assert intervals(sent, 0.0) == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    txn.handle_timer(32.0)
    assert events(txn) == [TimedOut("F"), TransactionTerminated()]


def test_non_invite_client_proceeding_retransmits_every_t2() -> None:
    options = request("OPTIONS")
    txn = NonInviteClientTransaction(options)
    txn.start(0.0)
    assert run_timers(txn, until=0.5) == [0.5]
    trying = reply(options, 100, None)
    txn.receive(trying, 0.7)
    assert state(txn) is State.PROCEEDING and events(txn) == [ResponseReceived(trying)]
    # Timer E keeps its deadline (1.5), then fires every T2; Timer F still bounds it.
    sent = run_timers(txn, until=31.99)
    assert sent == [1.5, 5.5, 9.5, 13.5, 17.5, 21.5, 25.5, 29.5]
    txn.handle_timer(32.0)
    assert events(txn) == [TimedOut("F"), TransactionTerminated()]


def test_non_invite_client_completed_absorbs_retransmissions_until_timer_k() -> None:
    options = request("OPTIONS")
    txn = NonInviteClientTransaction(options)
    txn.start(0.0)
    txn.messages_to_send()
    ok = reply(options, 200)
    txn.receive(reply(options, 180), 0.1)
    txn.receive(ok, 0.3)
    assert state(txn) is State.COMPLETED and txn.last_response is ok
    txn.receive(ok, 1.0)
    assert [type(e) for e in events(txn)] == [ResponseReceived, ResponseReceived]
    assert txn.next_timer() == 5.3  # Timer K = T4
    assert run_timers(txn) == [] and state(txn) is State.TERMINATED
    assert events(txn) == [TransactionTerminated()]


def test_non_invite_client_reliable() -> None:
    bye = request("BYE")
    txn = NonInviteClientTransaction(bye, reliable=True)
    txn.start(0.0)
    txn.messages_to_send()
    assert txn.next_timer() == 32.0  # only Timer F
    txn.receive(reply(bye, 481), 2.0)
    assert state(txn) is State.TERMINATED  # Timer K = 0
    assert [type(e) for e in events(txn)] == [ResponseReceived, TransactionTerminated]


def test_timer_config_scales_every_timer() -> None:
    txn = NonInviteClientTransaction(request(), config=TimerConfig(t1=0.1, t2=0.4, t4=1.0))
    txn.start(0.0)
    sent = run_timers(txn, until=7.0)
    assert [round(x, 9) for x in intervals(sent, 0.0)[:5]] == [0.1, 0.2, 0.4, 0.4, 0.4]
    assert state(txn) is State.TERMINATED and TimedOut("F") in events(txn)
    with pytest.raises(ValueError):
        TimerConfig(t1=0.0)


# --- INVITE server (§17.2.1, RFC 6026 §7.1) ----------------------------------------


def test_invite_server_sends_100_trying_after_200_ms() -> None:
    invite = request("INVITE")
    txn = InviteServerTransaction(invite, 0.0)
    assert state(txn) is State.PROCEEDING and txn.next_timer() == 0.2
    txn.handle_timer(0.2)
    [trying] = txn.messages_to_send()
    assert isinstance(trying, Response) and trying.status == 100 and trying.to_tag is None
    assert txn.next_timer() is None
    txn.receive(invite, 0.5)  # a retransmitted INVITE: the last provisional again
    assert txn.messages_to_send() == [trying]
    immediate = InviteServerTransaction(invite, 0.0, auto_trying=0.0)
    assert [m.status for m in immediate.messages_to_send() if isinstance(m, Response)] == [100]
    silent = InviteServerTransaction(invite, 0.0, auto_trying=None)
    assert silent.next_timer() is None and silent.messages_to_send() == []


def test_invite_server_tu_provisional_cancels_the_automatic_100() -> None:
    invite = request("INVITE")
    txn = InviteServerTransaction(invite, 0.0)
    ringing = reply(invite, 180)
    txn.send_response(ringing, 0.1)
    assert txn.messages_to_send() == [ringing] and txn.next_timer() is None
    txn.receive(invite, 0.5)
    assert txn.messages_to_send() == [ringing] and state(txn) is State.PROCEEDING
    assert events(txn) == []


def test_invite_server_completed_timer_g_capped_and_timer_h() -> None:
    invite = request("INVITE")
    txn = InviteServerTransaction(invite, 0.0, auto_trying=None)
    busy = reply(invite, 486)
    txn.send_response(busy, 1.0)
    assert state(txn) is State.COMPLETED and txn.messages_to_send() == [busy]
    txn.receive(invite, 1.2)  # retransmitted INVITE: the final response again
    assert txn.messages_to_send() == [busy]
    sent = run_timers(txn, until=32.99)
    assert intervals(sent, 1.0) == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    assert txn.next_timer() == 33.0  # Timer H = 64*T1
    txn.handle_timer(33.0)
    assert state(txn) is State.TERMINATED
    assert events(txn) == [TimedOut("H"), TransactionTerminated()]
    with pytest.raises(ProtocolError):
        txn.send_response(reply(invite, 500), 34.0)


def test_invite_server_ack_confirms_then_timer_i() -> None:
    invite = request("INVITE")
    txn = InviteServerTransaction(invite, 0.0, auto_trying=None)
    busy = reply(invite, 486)
    txn.send_response(busy, 0.0)
    txn.messages_to_send()
    ack = make_non_2xx_ack(invite, busy)
    txn.receive(ack, 0.7)
    assert state(txn) is State.CONFIRMED
    assert txn.next_timer() == 5.7  # Timer I = T4; Timer G and H are gone
    txn.receive(ack, 1.0)
    txn.receive(invite, 1.1)
    assert txn.messages_to_send() == [] and events(txn) == []  # absorbed
    with pytest.raises(ProtocolError):
        txn.send_response(reply(invite, 180), 1.2)
    txn.handle_timer(5.7)
    assert state(txn) is State.TERMINATED and events(txn) == [TransactionTerminated()]


def test_invite_server_reliable_has_no_timer_g_and_zero_timer_i() -> None:
    invite = request("INVITE")
    txn = InviteServerTransaction(invite, 0.0, reliable=True, auto_trying=None)
    busy = reply(invite, 486)
    txn.send_response(busy, 0.0)
    assert txn.next_timer() == 32.0  # only Timer H
    txn.receive(make_non_2xx_ack(invite, busy), 0.1)
    assert state(txn) is State.TERMINATED and events(txn) == [TransactionTerminated()]


def test_invite_server_accepted_state() -> None:
    invite = request("INVITE")
    txn = InviteServerTransaction(invite, 0.0, auto_trying=None)
    ok = reply(invite, 200)
    txn.send_response(ok, 1.0)
    assert state(txn) is State.ACCEPTED and txn.messages_to_send() == [ok]
    assert txn.next_timer() == 33.0  # Timer L; no retransmission timer of its own
    txn.receive(invite, 1.5)  # absorbed, not a new request (the RFC 6026 fix)
    assert txn.messages_to_send() == []
    txn.send_response(ok, 1.5)  # the TU's own 2xx retransmission goes out
    assert txn.messages_to_send() == [ok]
    ack = request("ACK", branch=invite.via.branch)
    txn.receive(ack, 2.0)
    assert events(txn) == [RequestReceived(ack)]
    with pytest.raises(ProtocolError):
        txn.send_response(reply(invite, 486), 2.0)
    assert run_timers(txn) == [] and state(txn) is State.TERMINATED
    assert events(txn) == [TransactionTerminated()]


def test_invite_server_transport_error_and_bad_status() -> None:
    invite = request("INVITE")
    txn = InviteServerTransaction(invite, 0.0)
    with pytest.raises(ProtocolError):
        txn.send_response(Response(status=99), 0.0)
    with pytest.raises(ProtocolError):
        InviteServerTransaction(request("OPTIONS"), 0.0)
    txn.transport_error(0.1)
    assert state(txn) is State.TERMINATED
    assert [type(e) for e in events(txn)] == [TransportFailed, TransactionTerminated]


# --- non-INVITE server (§17.2.2) ---------------------------------------------------


def test_non_invite_server_full_cycle() -> None:
    register = request("REGISTER")
    txn = NonInviteServerTransaction(register, 0.0)
    assert state(txn) is State.TRYING and txn.next_timer() is None
    txn.receive(register, 0.5)  # "Trying" absorbs retransmissions
    assert txn.messages_to_send() == []
    trying, ok = reply(register, 100, None), reply(register, 200)
    txn.send_response(trying, 0.6)
    assert state(txn) is State.PROCEEDING and txn.messages_to_send() == [trying]
    txn.receive(register, 1.5)
    assert txn.messages_to_send() == [trying]
    txn.send_response(ok, 2.0)
    assert state(txn) is State.COMPLETED and txn.messages_to_send() == [ok]
    txn.receive(register, 3.5)
    assert txn.messages_to_send() == [ok]
    txn.send_response(reply(register, 500), 3.6)  # §17.2.2: discarded
    assert txn.messages_to_send() == [] and txn.last_response is ok
    with pytest.raises(ProtocolError):
        txn.send_response(reply(register, 180), 3.7)
    assert txn.next_timer() == 34.0  # Timer J = 64*T1
    txn.handle_timer(34.0)
    assert state(txn) is State.TERMINATED and events(txn) == [TransactionTerminated()]


def test_non_invite_server_reliable_timer_j_is_zero() -> None:
    options = request()
    txn = NonInviteServerTransaction(options, 0.0, reliable=True)
    txn.send_response(reply(options, 404), 0.1)
    assert state(txn) is State.TERMINATED and len(txn.messages_to_send()) == 1
    with pytest.raises(ProtocolError):
        NonInviteServerTransaction(request("INVITE"), 0.0)


# --- requests derived from an INVITE, keys -----------------------------------------


def test_make_cancel() -> None:
    invite = request("INVITE", cseq=3, routes=ROUTES, extra_via="SIP/2.0/UDP a.example.com")
    invite.headers.set("To", "Bob <sip:bob@example.com>;tag=dialog-tag")  # a re-INVITE
    cancel = make_cancel(invite)
    assert (cancel.method, cancel.uri) == ("CANCEL", invite.uri)
    assert list(cancel.headers) == [
        ("Via", invite.headers.values("Via")[0]),
        ("Route", ROUTES[0]),
        ("Route", ROUTES[1]),
        ("Max-Forwards", "70"),
        ("From", invite.headers.first("From")),
        ("To", "Bob <sip:bob@example.com>;tag=dialog-tag"),
        ("Call-ID", invite.call_id),
        ("CSeq", "3 CANCEL"),
        ("Content-Length", "0"),
    ]
    assert parse_message(bytes(cancel)).headers == cancel.headers


def test_new_branch() -> None:
    branches = {new_branch() for _ in range(100)}
    assert len(branches) == 100
    assert all(b.startswith("z9hG4bK") and len(b) > 16 for b in branches)


# --- matching (§17.1.3, §17.2.3, §9.2) ---------------------------------------------


def test_match_response_by_branch_and_cseq_method() -> None:
    table = TransactionTable()
    invite = request("INVITE")
    options = request("OPTIONS", cseq=2)
    inv_txn, opt_txn = InviteClientTransaction(invite), NonInviteClientTransaction(options)
    cancel = make_cancel(invite)
    cancel_txn = NonInviteClientTransaction(cancel)
    for txn in (inv_txn, opt_txn, cancel_txn):
        table.add(txn)
        txn.start(0.0)
    assert isinstance(inv_txn.key, TransactionKey) and inv_txn.key.method == "INVITE"
    assert table.match_response(reply(invite, 487)) is inv_txn
    assert table.match_response(reply(options, 200)) is opt_txn
    assert table.match_response(reply(cancel, 200)) is cancel_txn  # same branch, CANCEL
    stray = reply(options, 200)
    stray.headers.set("Via", f"SIP/2.0/UDP client.example.com:5060;branch={new_branch()}")
    assert table.match_response(stray) is None
    with pytest.raises(ProtocolError):
        table.add(NonInviteClientTransaction(options))  # same key, still alive


def test_match_request_invite_cancel_and_ack_share_the_branch() -> None:
    table = TransactionTable()
    invite = request("INVITE")
    inv_txn = InviteServerTransaction(invite, 0.0)
    table.add(inv_txn)
    cancel = make_cancel(invite)
    assert table.match_request(invite) is inv_txn
    assert table.match_request(cancel) is None  # CANCEL is a transaction of its own
    assert table.match_cancel_target(cancel) is inv_txn
    cancel_txn = NonInviteServerTransaction(cancel, 0.1)
    table.add(cancel_txn)
    assert table.match_request(cancel) is cancel_txn
    assert table.match_request(invite) is inv_txn
    busy = reply(invite, 487)
    inv_txn.send_response(busy, 0.2)
    assert table.match_request(make_non_2xx_ack(invite, busy)) is inv_txn
    assert table.match_request(request("ACK")) is None  # an ACK for a 2xx: new branch
    elsewhere = request("INVITE", branch=invite.via.branch, sent_by="other.example.com")
    assert table.match_request(elsewhere) is None  # §17.2.3: sent-by must match too
    assert table.match_cancel_target(make_cancel(elsewhere)) is None
    assert table.match_cancel_target(invite) is None


def _vector(name: str) -> Request:
    message = parse_message((VECTORS / name).read_bytes())
    assert isinstance(message, Request)
    return message


def test_rfc2543_fallback_with_inv2543() -> None:
    table = TransactionTable()
    invite = _vector("inv2543.dat")
    assert invite.via.branch is None
    txn = InviteServerTransaction(invite, 0.0)
    assert isinstance(txn.key, LegacyKey)
    table.add(txn)
    assert table.match_request(_vector("inv2543.dat")) is txn  # a retransmission
    busy = make_response(invite, 486, to_tag="uas-tag")
    txn.send_response(busy, 0.5)
    ack = make_non_2xx_ack(invite, busy)
    assert ack.via.branch is None
    assert table.match_request(ack) is txn
    wrong_tag = make_non_2xx_ack(invite, make_response(invite, 486, to_tag="other"))
    assert table.match_request(wrong_tag) is None
    cancel = make_cancel(invite)
    assert table.match_cancel_target(cancel) is txn
    assert table.match_request(cancel) is None
    cancel_txn = NonInviteServerTransaction(cancel, 0.6)
    table.add(cancel_txn)
    assert table.match_request(make_cancel(invite)) is cancel_txn
    assert table.match_cancel_target(cancel) is txn
    other_uri = make_cancel(invite)
    other_uri.uri = "sip:UserC@example.com"
    assert table.match_cancel_target(other_uri) is None
    # The comparison rules of §19.1.4/§20.42: case of host names does not matter.
    shouting = _vector("inv2543.dat")
    shouting.uri = "sip:UserB@EXAMPLE.com"
    shouting.headers.set("Via", "SIP/2.0/UDP IFTGW.example.com")
    assert table.match_request(shouting) is txn
    moved = _vector("inv2543.dat")
    moved.headers.set("Via", "SIP/2.0/UDP gw2.example.com")
    assert table.match_request(moved) is None


def test_a_branch_that_is_only_the_cookie_falls_back_to_rfc2543() -> None:
    options = _vector("badbranch.dat")
    assert options.via.branch == "z9hG4bK" and not has_rfc3261_branch(options.via)
    table = TransactionTable()
    txn = NonInviteServerTransaction(options, 0.0)
    assert isinstance(txn.key, LegacyKey)
    table.add(txn)
    assert table.match_request(_vector("badbranch.dat")) is txn
    unrelated = _vector("badbranch.dat")  # same bare cookie, another call
    unrelated.headers.set("Call-ID", "another-call@example.org")
    assert table.match_request(unrelated) is None


# --- the table's timer loop --------------------------------------------------------


def test_table_timer_loop_over_many_transactions() -> None:
    table = TransactionTable()
    txns = []
    for i in range(2000):
        txn = NonInviteClientTransaction(request(cseq=i + 1))
        table.add(txn)
        txn.start(i * 0.001)
        txns.append(txn)
    answered = txns[::2]
    for txn in answered:  # half get a 200 at once and end by Timer K
        txn.receive(reply(txn.request, 200), 0.1 + txn.request.cseq.number * 1e-6)
    assert table.next_timer() == 0.501  # txns[0] was answered; txns[1] started at 1 ms
    fired_at: list[float] = []
    while (deadline := table.next_timer()) is not None:
        if len(fired_at) % 101 == 0:  # sampled: the full scan is O(n) per step
            assert deadline == min(t for t in (x.next_timer() for x in txns) if t is not None)
        fired_at.append(deadline)
        for fired in table.handle_timer(deadline):
            fired.messages_to_send()
    assert all(state(txn) is State.TERMINATED for txn in txns)
    assert fired_at == sorted(fired_at)
    assert sum(TimedOut("F") in events(t) for t in txns) == 1000
    assert len(table) == 2000
    assert len(table.remove_terminated()) == 2000 and len(table) == 0


def test_table_sees_deadlines_changed_directly_on_a_transaction() -> None:
    table = TransactionTable()
    invite = request("INVITE")
    txn = InviteServerTransaction(invite, 0.0, auto_trying=None)
    table.add(txn)
    assert table.next_timer() is None
    txn.send_response(reply(invite, 486), 1.0)  # the TU talks to the transaction itself
    assert table.next_timer() == 1.5  # Timer G
    txn.receive(make_non_2xx_ack(invite, reply(invite, 486)), 1.2)
    assert table.next_timer() == 6.2  # Timer I
    assert table.handle_timer(6.2) == [txn] and txn.terminated
    assert table.match_request(invite) is None  # terminated: gone for matching
    assert table.remove_terminated() == [txn] and table.next_timer() is None
    table.add(InviteServerTransaction(invite, 7.0))  # the key is free again
    assert table.next_timer() == 7.2
