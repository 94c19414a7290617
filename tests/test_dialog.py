"""Dialogs (RFC 3261 §12), forking (§13.2.2.4) and the UAS 2xx retransmission
(§13.3.1.4).

The call flows go Alice (UAC) -> P1 -> P2 -> Bob (UAS); every message crosses the
"network" as bytes and is parsed back strictly, as a real peer would see it.
"""

from __future__ import annotations

import pytest

from sipwright.sip import ProtocolError
from sipwright.sip.answer_retransmit import AckTimeout, AnswerRetransmitter
from sipwright.sip.builders import build_request
from sipwright.sip.dialog import (
    Dialog,
    DialogId,
    DialogState,
    dialog_id_for_incoming,
    dialog_id_for_response,
)
from sipwright.sip.dialog_set import UacDialogSet
from sipwright.sip.message import Request, Response, make_response, parse_message

ALICE_CONTACT = "<sip:alice@192.0.2.10:5060>"
BOB_CONTACT = "<sip:bob@192.0.2.20:5070;transport=udp>"
P1 = "<sip:p1.example.com;lr>"
P2 = "<sip:p2.example.com;lr>"


def state(dialog: Dialog) -> DialogState:
    # A function, not the attribute: mypy would otherwise keep an earlier
    # ``assert dialog.state is ...`` narrowing across the calls that change it.
    return dialog.state


def wire_request(request: Request) -> Request:
    parsed = parse_message(bytes(request), strict=True)
    assert isinstance(parsed, Request)
    return parsed


def wire_response(response: Response) -> Response:
    parsed = parse_message(bytes(response), strict=True)
    assert isinstance(parsed, Response)
    return parsed


def alice_invite() -> Request:
    return build_request(
        "INVITE",
        "sip:bob@biloxi.example.com",
        from_='"Alice" <sip:alice@atlanta.example.com>',
        to="<sip:bob@biloxi.example.com>",
        via_host="192.0.2.10",
        via_port=5060,
        cseq=101,
        contact=ALICE_CONTACT,
        route=[P1],  # preloaded outbound proxy (§8.1.1.1)
    )


def through_proxies(invite: Request, record_routes: list[str]) -> Request:
    """The INVITE as Bob receives it: each proxy pops its Route, adds Via and
    pushes its Record-Route on top (§16.6)."""
    forwarded = wire_request(invite)
    forwarded.headers.remove("Route")
    for hop, rr in enumerate(record_routes):
        forwarded.headers.prepend("Via", f"SIP/2.0/UDP p{hop + 1}.example.com;branch=z9hG4bKp{hop}")
        forwarded.headers.prepend("Record-Route", rr)
    return wire_request(forwarded)


def bob_answers(request: Request, status: int, tag: str, contact: str = BOB_CONTACT) -> Response:
    response = make_response(request, status, to_tag=tag)  # copies Record-Route (§12.1.1)
    response.headers.add("Contact", contact)
    return wire_response(response)


def setup_call(record_routes: list[str]) -> tuple[Dialog, Dialog, Request]:
    """Alice's and Bob's confirmed dialogs, and the INVITE Alice sent."""
    invite = alice_invite()
    at_bob = through_proxies(invite, record_routes)
    ok = bob_answers(at_bob, 200, "bobtag")
    bob = Dialog.from_uas(at_bob, ok)
    # Back at Alice, the proxies' Vias have been removed again (§16.7).
    ok_at_alice = wire_response(ok)
    vias = ok_at_alice.headers.get_all("Via")[len(record_routes) :]
    ok_at_alice.headers.remove("Via")
    for via in reversed(vias):
        ok_at_alice.headers.prepend("Via", via)
    assert ok_at_alice.via.branch == invite.via.branch
    alice = Dialog.from_uac(invite, ok_at_alice)
    return alice, bob, invite


# --- creation and routing --------------------------------------------------


def test_uac_and_uas_creation_with_two_loose_routers() -> None:
    alice, bob, invite = setup_call([P1, P2])
    # Bob received Record-Route: P2, P1 (the last proxy's on top).
    assert [str(r) for r in bob.route_set] == [P2, P1]  # §12.1.1: in order
    assert [str(r) for r in alice.route_set] == [P1, P2]  # §12.1.2: reversed
    assert str(alice.remote_target) == "sip:bob@192.0.2.20:5070;transport=udp"
    assert str(bob.remote_target) == "sip:alice@192.0.2.10:5060"
    assert alice.state is bob.state is DialogState.CONFIRMED
    assert alice.id == DialogId(invite.call_id, invite.from_tag or "", "bobtag")
    assert bob.id == DialogId(invite.call_id, "bobtag", invite.from_tag or "")
    assert (alice.local_seq, alice.remote_seq) == (101, None)
    assert (bob.local_seq, bob.remote_seq) == (None, 101)
    assert alice.local_uri.display_name == "Alice" and alice.local_uri.tag is None
    assert str(bob.remote_uri.uri) == "sip:alice@atlanta.example.com"
    assert not alice.secure and not alice.uses_strict_routing
    assert alice.is_caller and not bob.is_caller


def test_bye_follows_loose_route_set_on_both_sides() -> None:
    alice, bob, _ = setup_call([P1, P2])
    bye = wire_request(alice.create_request("BYE", via_host="192.0.2.10", via_port=5060))
    assert bye.uri == "sip:bob@192.0.2.20:5070;transport=udp"  # remote target
    assert [str(r) for r in bye.routes] == [P1, P2]
    assert (bye.cseq.number, bye.cseq.method) == (102, "BYE")
    assert bye.from_tag == alice.local_tag and bye.to_tag == "bobtag"
    assert "Contact" not in bye.headers  # BYE is no target refresh
    assert bye.via.is_rfc3261_branch

    bye_from_bob = wire_request(bob.create_request("BYE", via_host="192.0.2.20", via_port=5070))
    assert bye_from_bob.uri == "sip:alice@192.0.2.10:5060"
    assert [str(r) for r in bye_from_bob.routes] == [P2, P1]
    assert bye_from_bob.from_tag == "bobtag" and bye_from_bob.to_tag == alice.local_tag
    assert bob.local_seq == bye_from_bob.cseq.number  # chosen per §8.1.1.5

    # Each side finds its dialog from the other's request and the BYE ends it.
    assert dialog_id_for_incoming(bye) == bob.id
    assert bob.receive_request(bye) is None
    assert state(bob) is DialogState.TERMINATED
    with pytest.raises(ProtocolError):
        bob.create_request("INFO", via_host="192.0.2.20")


def test_strict_router_first_in_route_set() -> None:
    strict = "<sip:p1.example.com;method=INVITE>"  # RFC 2543 proxy: no lr
    alice, _, _ = setup_call([strict, P2])
    assert alice.uses_strict_routing
    bye = wire_request(alice.create_request("BYE", via_host="192.0.2.10"))
    # §12.2.1.1: Request-URI = first route without what a Request-URI may not
    # hold (§19.1.1: method); Route = the rest, then the remote target.
    assert bye.uri == "sip:p1.example.com"
    assert [str(r.uri) for r in bye.routes] == [
        "sip:p2.example.com;lr",
        "sip:bob@192.0.2.20:5070;transport=udp",
    ]


def test_no_route_set_goes_straight_to_the_target() -> None:
    alice, _, _ = setup_call([])
    info = alice.create_request(
        "INFO", via_host="192.0.2.10", body=b"Signal=1\r\n", content_type="application/dtmf-relay"
    )
    assert info.uri == "sip:bob@192.0.2.20:5070;transport=udp"
    assert "Route" not in info.headers
    assert wire_request(info).body == b"Signal=1\r\n"


def test_cseq_increments_except_ack_and_cancel() -> None:
    alice, _, _ = setup_call([P1])
    numbers = [alice.create_request(m, via_host="h").cseq.number for m in ("INFO", "UPDATE")]
    assert numbers == [102, 103]
    reinvite = alice.create_request("INVITE", via_host="h")
    assert reinvite.cseq.number == 104 and alice.invite_cseq == 104
    cancel = alice.create_request("CANCEL", via_host="h")
    assert (cancel.cseq.number, cancel.cseq.method) == (104, "CANCEL")
    assert alice.local_seq == 104
    assert alice.create_request("BYE", via_host="h").cseq.number == 105


def test_target_refresh_requests_carry_our_contact() -> None:
    alice, _, _ = setup_call([P1])
    reinvite = alice.create_request("INVITE", via_host="h")
    assert [str(c) for c in reinvite.contacts] == [ALICE_CONTACT]
    moved = alice.create_request("UPDATE", via_host="h", contact="<sip:alice@198.51.100.7>")
    assert [str(c.uri) for c in moved.contacts] == ["sip:alice@198.51.100.7"]


# --- requests and responses received -----------------------------------------


def test_remote_cseq_check_rejects_out_of_order_with_500() -> None:
    alice, bob, _ = setup_call([P1, P2])
    first = wire_request(alice.create_request("INFO", via_host="h"))  # 102
    second = wire_request(alice.create_request("INFO", via_host="h"))  # 103
    assert bob.receive_request(second) is None
    assert bob.remote_seq == 103
    assert bob.receive_request(first) == 500  # §12.2.2: lower than remote seq
    assert bob.remote_seq == 103
    # ACK carries the INVITE's (lower) number and is never rejected for it.
    ack = wire_request(alice.create_ack(101, via_host="h"))
    assert bob.receive_request(ack) is None
    assert bob.remote_seq == 103


def test_request_for_another_dialog_gets_481() -> None:
    alice, bob, _ = setup_call([P1])
    info = wire_request(alice.create_request("INFO", via_host="h"))
    info.headers.set("To", "<sip:bob@biloxi.example.com>;tag=other")
    assert dialog_id_for_incoming(info) != bob.id
    assert bob.receive_request(info) == 481
    info.headers.set("To", "<sip:bob@biloxi.example.com>")
    assert dialog_id_for_incoming(info) is None


def test_uas_first_request_sets_remote_seq_when_empty() -> None:
    alice, bob, _ = setup_call([P1])
    notify = wire_request(bob.create_request("NOTIFY", via_host="h"))
    assert alice.remote_seq is None
    assert alice.receive_request(notify) is None
    assert alice.remote_seq == notify.cseq.number


def test_target_refresh_by_reinvite() -> None:
    alice, bob, _ = setup_call([P1, P2])
    reinvite = alice.create_request(
        "INVITE", via_host="198.51.100.7", contact="<sip:alice@198.51.100.7:5062>"
    )
    # A proxy Record-Routing the re-INVITE does not change the route set (§12.2).
    reinvite.headers.prepend("Record-Route", "<sip:p9.example.com;lr>")
    assert bob.receive_request(wire_request(reinvite)) is None
    assert str(bob.remote_target) == "sip:alice@198.51.100.7:5062"
    assert [str(r) for r in bob.route_set] == [P2, P1]
    bye = bob.create_request("BYE", via_host="h")
    assert bye.uri == "sip:alice@198.51.100.7:5062"

    # And the other way: the 2xx to Alice's re-INVITE moves Bob's target.
    ok = make_response(wire_request(reinvite), 200)
    ok.headers.add("Contact", "<sip:bob@203.0.113.5:5080>")
    alice.receive_response(wire_response(ok))
    assert str(alice.remote_target) == "sip:bob@203.0.113.5:5080"
    assert state(alice) is DialogState.CONFIRMED


def test_responses_ending_the_dialog() -> None:
    alice, _, _ = setup_call([P1])
    info = alice.create_request("INFO", via_host="h")
    alice.receive_response(make_response(info, 200))
    assert state(alice) is DialogState.CONFIRMED
    bye = alice.create_request("BYE", via_host="h")
    alice.receive_response(make_response(bye, 407))  # to be retried with credentials
    assert state(alice) is DialogState.CONFIRMED
    alice.receive_response(make_response(bye, 200))
    assert state(alice) is DialogState.TERMINATED

    other, _, _ = setup_call([P1])
    update = other.create_request("UPDATE", via_host="h")
    other.receive_response(make_response(update, 481))  # §12.2.1.2
    assert state(other) is DialogState.TERMINATED
    with pytest.raises(ProtocolError):
        alice.receive_response(make_response(update, 200))  # not alice's dialog


def test_ack_for_2xx_has_invite_cseq_and_new_branch() -> None:
    alice, bob, invite = setup_call([P1, P2])
    alice.create_request("INFO", via_host="h")  # local seq moves on to 102
    built = alice.create_ack(via_host="192.0.2.10", via_port=5060)
    ack = wire_request(built)
    assert (ack.cseq.number, ack.cseq.method) == (101, "ACK")
    assert ack.via.branch != invite.via.branch and ack.via.is_rfc3261_branch
    assert ack.uri == "sip:bob@192.0.2.20:5070;transport=udp"
    assert [str(r) for r in ack.routes] == [P1, P2]
    assert alice.local_seq == 102  # ACK does not consume a number
    # A retransmitted 2xx is answered with the very same ACK (§13.2.2.4).
    ok_again = make_response(invite, 200, to_tag="bobtag")
    assert alice.ack_for_retransmission(ok_again) is built
    assert alice.ack_for_retransmission(make_response(invite, 180, to_tag="bobtag")) is None
    assert dialog_id_for_incoming(ack) == bob.id


def test_in_dialog_request_round_trip_through_parser() -> None:
    alice, bob, _ = setup_call([P1, P2])
    request = alice.create_request(
        "MESSAGE",
        via_host="192.0.2.10",
        via_port=5060,
        body=b"hello",
        content_type="text/plain",
        extra_headers=[("Subject", "hi")],
    )
    parsed = wire_request(request)
    assert parsed.headers == request.headers
    assert parsed.body == b"hello"
    assert bob.receive_request(parsed) is None
    response = wire_response(make_response(parsed, 200))
    assert dialog_id_for_response(response) == alice.id
    alice.receive_response(response)
    assert state(alice) is DialogState.CONFIRMED


# --- early dialogs and forking --------------------------------------------------


def test_early_dialog_confirmed_by_2xx_recomputes_route_set() -> None:
    invite = alice_invite()
    at_bob = through_proxies(invite, [P1])
    ringing = bob_answers(at_bob, 180, "b1", contact="<sip:bob@192.0.2.20>")
    alice = Dialog.from_uac(invite, ringing)
    assert state(alice) is DialogState.EARLY
    assert [str(r) for r in alice.route_set] == [P1]

    uas = Dialog.from_uas(at_bob, ringing)
    assert state(uas) is DialogState.EARLY
    with pytest.raises(ProtocolError):  # §15: the callee never BYEs an early dialog
        uas.create_request("BYE", via_host="h")

    # The 2xx came through one more Record-Routing proxy and a new Contact.
    ok = make_response(at_bob, 200, to_tag="b1")
    ok.headers.prepend("Record-Route", P2)
    ok.headers.add("Contact", BOB_CONTACT)
    alice.receive_response(wire_response(ok))
    assert state(alice) is DialogState.CONFIRMED
    assert [str(r) for r in alice.route_set] == [P1, P2]
    assert str(alice.remote_target) == "sip:bob@192.0.2.20:5070;transport=udp"
    uas.response_sent(ok)
    assert state(uas) is DialogState.CONFIRMED


def test_early_dialog_ended_by_failure() -> None:
    invite = alice_invite()
    at_bob = through_proxies(invite, [])
    alice = Dialog.from_uac(invite, bob_answers(at_bob, 183, "b1"))
    alice.receive_response(make_response(invite, 486, to_tag="b1"))
    assert state(alice) is DialogState.TERMINATED
    uas = Dialog.from_uas(at_bob, bob_answers(at_bob, 180, "b1"))
    uas.response_sent(make_response(at_bob, 603, to_tag="b1"))
    assert state(uas) is DialogState.TERMINATED


def test_forking_two_early_dialogs_one_confirmed() -> None:
    invite = alice_invite()
    at_bob = through_proxies(invite, [P1])
    forks = UacDialogSet(invite)
    assert forks.receive_response(make_response(invite, 100), now=0.0).dialog is None

    first = forks.receive_response(bob_answers(at_bob, 180, "fork1"), now=0.1)
    second = forks.receive_response(bob_answers(at_bob, 180, "fork2"), now=0.2)
    assert first.created and second.created
    assert first.dialog is not None and second.dialog is not None
    assert first.dialog is not second.dialog
    assert [d.remote_tag for d in forks.early_dialogs] == ["fork1", "fork2"]
    again = forks.receive_response(bob_answers(at_bob, 180, "fork1"), now=0.3)
    assert again.dialog is first.dialog and not again.created

    ok = forks.receive_response(bob_answers(at_bob, 200, "fork2"), now=1.0)
    assert ok.dialog is second.dialog and not ok.created and not ok.surplus
    assert state(second.dialog) is DialogState.CONFIRMED
    assert forks.primary is second.dialog
    assert ok.to_terminate == (first.dialog,)  # the other early dialog
    assert forks.confirmed_dialogs == [second.dialog]

    # §13.2.2.4: 64*T1 after the first 2xx the leftover early dialogs end.
    assert forks.next_timer() == pytest.approx(33.0)
    assert forks.handle_timer(32.9) == []
    assert forks.handle_timer(33.0) == [first.dialog]
    assert state(first.dialog) is DialogState.TERMINATED
    assert forks.completed and forks.next_timer() is None


def test_forking_second_2xx_is_surplus() -> None:
    invite = alice_invite()
    at_bob = through_proxies(invite, [P1])
    forks = UacDialogSet(invite)
    forks.receive_response(bob_answers(at_bob, 200, "fork1"), now=0.0)
    retransmitted = forks.receive_response(bob_answers(at_bob, 200, "fork1"), now=0.5)
    assert not retransmitted.surplus and not retransmitted.created
    late = forks.receive_response(bob_answers(at_bob, 200, "fork2"), now=1.0)
    assert late.created and late.surplus  # ACK it, then BYE it
    dialog = late.dialog
    assert dialog is not None and dialog.state is DialogState.CONFIRMED
    ack = dialog.create_ack(via_host="h")
    bye = dialog.create_request("BYE", via_host="h")
    assert (ack.cseq.number, bye.cseq.number) == (101, 102)
    assert ack.to_tag == bye.to_tag == "fork2"


def test_forking_failure_ends_every_early_dialog() -> None:
    invite = alice_invite()
    at_bob = through_proxies(invite, [])
    forks = UacDialogSet(invite)
    forks.receive_response(bob_answers(at_bob, 180, "f1"), now=0.0)
    forks.receive_response(bob_answers(at_bob, 183, "f2"), now=0.0)
    outcome = forks.receive_response(make_response(invite, 480, to_tag="f3"), now=1.0)
    assert outcome.dialog is None
    assert len(outcome.to_terminate) == 2
    assert all(d.state is DialogState.TERMINATED for d in forks.dialogs.values())


def test_dialog_set_rejects_responses_to_other_requests() -> None:
    invite = alice_invite()
    forks = UacDialogSet(invite)
    other = alice_invite()  # another Call-ID and From tag
    with pytest.raises(ProtocolError):
        forks.receive_response(make_response(other, 180, to_tag="x"), now=0.0)
    info = build_request(
        "INFO", "sip:b@y", from_=invite.from_, to="<sip:b@y>", via_host="h",
        call_id=invite.call_id, cseq=101,
    )  # fmt: skip
    with pytest.raises(ProtocolError):
        forks.receive_response(make_response(info, 200, to_tag="x"), now=0.0)
    with pytest.raises(ValueError):
        UacDialogSet(info)
    assert forks.dialogs == {} and forks.next_timer() is None and not forks.completed


# --- UAS 2xx retransmission (§13.3.1.4) -----------------------------------------


def _ok_to_invite() -> tuple[Request, Response]:
    """Alice's INVITE and Bob's 200 to it."""
    invite = alice_invite()
    return invite, bob_answers(through_proxies(invite, [P1]), 200, "bobtag")


def _run(retransmitter: AnswerRetransmitter, until: float) -> list[float]:
    """Drive the timer on a fake clock; the times at which a copy was sent."""
    sent: list[float] = []
    while (when := retransmitter.next_timer()) is not None and when <= until:
        retransmitter.handle_timer(when)
        sent.extend(when for _ in retransmitter.messages_to_send())
    return sent


def test_answer_retransmit_intervals_double_to_t2() -> None:
    _, ok = _ok_to_invite()
    retransmitter = AnswerRetransmitter(ok, now=0.0)
    sent = _run(retransmitter, until=20.0)
    gaps = [round(b - a, 6) for a, b in zip([0.0, *sent], sent, strict=False)]
    assert gaps == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    assert sent[:3] == [0.5, 1.5, 3.5]
    assert retransmitter.active


def test_answer_retransmit_stops_on_ack() -> None:
    invite, ok = _ok_to_invite()
    retransmitter = AnswerRetransmitter(ok, now=10.0, send_first=True)
    assert retransmitter.messages_to_send() == [ok]
    assert _run(retransmitter, until=11.6) == [10.5, 11.5]
    alice_side = Dialog.from_uac(invite, ok)
    ack = wire_request(alice_side.create_ack(via_host="h"))
    assert retransmitter.matches(ack)
    assert not retransmitter.matches(wire_request(alice_side.create_request("INFO", via_host="h")))
    retransmitter.ack_received()
    assert retransmitter.next_timer() is None and not retransmitter.active
    retransmitter.handle_timer(100.0)
    assert retransmitter.messages_to_send() == []
    assert retransmitter.next_event() is None


def test_answer_retransmit_gives_up_after_64_t1() -> None:
    _, ok = _ok_to_invite()
    retransmitter = AnswerRetransmitter(ok, now=0.0)
    sent = _run(retransmitter, until=1000.0)
    assert sent[-1] == 31.5 and len(sent) == 10  # last copy before the deadline
    assert retransmitter.next_timer() is None
    event = retransmitter.next_event()
    assert isinstance(event, AckTimeout) and event.response is ok
    assert retransmitter.next_event() is None


def test_answer_retransmit_timeout_fires_at_32_seconds() -> None:
    _, ok = _ok_to_invite()
    retransmitter = AnswerRetransmitter(ok, now=0.0)
    _run(retransmitter, until=31.9)
    assert retransmitter.events == []
    assert retransmitter.next_timer() == 32.0
    retransmitter.handle_timer(32.0)
    assert retransmitter.events == [AckTimeout(ok)]


def test_answer_retransmit_late_timer_sends_one_copy() -> None:
    _, ok = _ok_to_invite()
    retransmitter = AnswerRetransmitter(ok, now=0.0)
    retransmitter.handle_timer(10.0)  # the loop was stuck: no burst of five copies
    assert len(retransmitter.messages_to_send()) == 1
    next_at = retransmitter.next_timer()
    assert next_at is not None and next_at > 10.0


def test_answer_retransmit_rejects_non_2xx() -> None:
    invite, _ = _ok_to_invite()
    with pytest.raises(ValueError):
        AnswerRetransmitter(make_response(invite, 180, to_tag="x"), now=0.0)
    info = build_request("INFO", "sip:b@y", from_="<sip:a@x>", to="<sip:b@y>", via_host="h")
    with pytest.raises(ValueError):
        AnswerRetransmitter(make_response(info, 200, to_tag="x"), now=0.0)
