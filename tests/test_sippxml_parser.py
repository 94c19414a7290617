"""SIPp XML scenario parser (sipwright.scenario.sippxml).

Here: the model built from the built-in scenarios and from tests/scenarios/*.xml.
Message text rules, errors and fuzzing are in test_sippxml_parser_errors.py.

The scenario files in tests/scenarios/ were also loaded by the real SIPp 3.6.1
(``sipp -sf FILE``): all load there except the SIPp 3.7 extensions they use on
purpose (urlencode/urldecode, ``<exec rtp_echo>``) and extended 3PCC, which needs
a -master/-slave_cfg command line.
"""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

from sipwright.scenario.sippxml import (
    BUILTIN,
    Nop,
    OptionalMode,
    Pause,
    Recv,
    RecvCmd,
    Scenario,
    ScenarioError,
    Send,
    SendCmd,
    load_builtin,
    parse_scenario,
)
from sipwright.scenario.sippxml.distributions import (
    Exponential,
    Fixed,
    Gamma,
    GeneralizedPareto,
    LogNormal,
    NegativeBinomial,
    Normal,
    Pareto,
    Uniform,
    Weibull,
)
from sipwright.scenario.sippxml.model_actions import (
    Arithmetic,
    AssignStr,
    CloseCon,
    Compare,
    Ereg,
    ExecCommand,
    GetTimeOfDay,
    Index,
    Insert,
    IntCmd,
    Jump,
    Log,
    Lookup,
    PauseRestore,
    PlayDtmf,
    PlayPcap,
    Replace,
    RtpEcho,
    RtpEchoStream,
    RtpStream,
    Sample,
    SetDest,
    StrCmp,
    Test,
    ToDouble,
    Trim,
    UrlDecode,
    UrlEncode,
    VerifyAuth,
)

from peers import which

SCENARIOS = Path(__file__).parent / "scenarios"


def load(name: str) -> Scenario:
    return parse_scenario(SCENARIOS / name)


def kinds(scenario: Scenario) -> list[str]:
    return [type(command).__name__ for command in scenario.commands]


# -- built-in scenarios ----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_every_builtin_parses(name: str) -> None:
    scenario = load_builtin(name)
    assert scenario.file == f"<builtin:{name}>"
    assert scenario.commands
    assert all(c.index == i for i, c in enumerate(scenario.commands))


def test_builtin_uac_flow() -> None:
    uac = load_builtin("uac")
    assert uac.name == "Basic Sipstone UAC"
    assert uac.is_uac and uac.creation_mode == "client" and uac.threepcc == "none"
    assert kinds(uac) == ["Send", "Recv", "Recv", "Recv", "Recv", "Send", "Pause", "Send", "Recv"]
    invite, r100, _, _, r200, ack, pause, bye, last = uac.commands
    assert isinstance(invite, Send) and invite.method == "INVITE" and invite.retrans == 500
    assert invite.lines[0] == "INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0"
    assert "tag=[pid]SIPpTag00[call_number]" in invite.message
    assert isinstance(r100, Recv) and r100.response == 100 and r100.optional is OptionalMode.YES
    assert isinstance(r200, Recv) and r200.rtd == "1" and r200.optional is OptionalMode.NO
    assert r200.cseq_methods == ("INVITE",)
    assert isinstance(ack, Send) and ack.method == "ACK" and ack.retrans is None
    assert isinstance(pause, Pause) and pause.distribution is None and pause.variable is None
    assert isinstance(bye, Send) and bye.method == "BYE"
    assert isinstance(last, Recv) and last.crlf and last.cseq_methods == ("INVITE", "ACK", "BYE")
    assert uac.response_time_repartition == (10, 20, 30, 40, 50, 100, 150, 200)
    assert uac.call_length_repartition == (10, 50, 100, 500, 1000, 5000, 10000)
    assert uac.rtds == ("1",) and uac.variables == ()


def test_builtin_uas_and_branches() -> None:
    uas = load_builtin("uas")
    assert not uas.is_uac and uas.creation_mode == "server"
    ringing, ok = uas.commands[1], uas.commands[2]
    assert isinstance(ringing, Send) and ringing.status == 180 and ringing.method is None
    assert isinstance(ok, Send) and ok.is_response and ok.retrans == 500
    timewait = uas.commands[-1]
    assert isinstance(timewait, Pause) and timewait.timewait
    assert timewait.distribution == Fixed(4000.0)

    branchc = load_builtin("branchc")
    assert branchc.labels == {"5": 3, "1": 11}
    ack = branchc.commands[9]
    assert isinstance(ack, Send) and (ack.next, ack.test) == ("1", "8")
    assert branchc.variables == ("8",)
    branchs = load_builtin("branchs")
    assert branchs.labels == {"1": 5, "2": 8}
    assert [c.next for c in branchs.commands[3:5]] == ["1", "2"]


def test_builtin_regexp_and_3pcc() -> None:
    regexp = load_builtin("regexp")
    ereg_recv = regexp.commands[4]
    assert isinstance(ereg_recv, Recv) and ereg_recv.start_rtd == "1"
    eregs = ereg_recv.actions
    assert all(isinstance(a, Ereg) for a in eregs)
    assert [a.assign_to for a in eregs if isinstance(a, Ereg)] == [
        ("1",),
        ("6",),
        ("3", "4", "5", "8"),
    ]
    assert regexp.variables == ("1", "6", "3", "4", "5", "8")

    controller_a = load_builtin("3pcc-C-A")
    assert controller_a.threepcc == "controller-a" and controller_a.is_uac
    cmd = controller_a.commands[5]
    assert isinstance(cmd, SendCmd) and cmd.message == "Call-ID: [call_id]\n[$1]\n\n"
    assert isinstance(controller_a.commands[6], RecvCmd)
    controller_b = load_builtin("3pcc-C-B")
    assert controller_b.threepcc == "controller-b" and not controller_b.is_uac
    assert load_builtin("3pcc-A").threepcc == "none"

    pcap = load_builtin("uac_pcap")
    assert pcap.has_media
    plays = [a for c in pcap.commands for a in c.actions]
    assert [(type(a), getattr(a, "path", None)) for a in plays] == [
        (PlayPcap, "pcap/g711a.pcap"),
        (PlayPcap, "pcap/dtmf_2833_1.pcap"),
    ]


def test_unknown_builtin_lists_known_names() -> None:
    with pytest.raises(ScenarioError) as info:
        load_builtin("uacc")
    assert str(info.value) == (
        "<builtin:uacc>:0: unknown built-in scenario (known: uac, uas, regexp, branchc, "
        "branchs, 3pcc-C-A, 3pcc-C-B, 3pcc-A, 3pcc-B, uac_pcap)"
    )


def _without_location(obj: object) -> object:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return (
            type(obj).__name__,
            {
                f.name: _without_location(getattr(obj, f.name))
                for f in dataclasses.fields(obj)
                if f.name not in ("file", "line", "text_line")
            },
        )
    if isinstance(obj, tuple | list):
        return [_without_location(item) for item in obj]
    return obj


@pytest.mark.peers
@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_builtin_matches_sipp_embedded_scenario(name: str, tmp_path: Path) -> None:
    """Same model as SIPp's own text of the scenario (``sipp -sd NAME``)."""
    sipp = which("sipp")
    if sipp is None:
        pytest.skip("sipp not installed (make test installs it)")
    # sipp -sd prints the scenario, then exits with status 99
    dumped = subprocess.run([sipp, "-sd", name], capture_output=True, check=False).stdout
    assert dumped.lstrip().startswith(b"<?xml")
    path = tmp_path / f"{name}.xml"
    path.write_bytes(dumped)
    theirs, ours = parse_scenario(path), load_builtin(name)
    assert _without_location(ours.commands) == _without_location(theirs.commands)
    assert (ours.name, ours.labels, ours.variables, ours.rtds) == (
        theirs.name,
        theirs.labels,
        theirs.variables,
        theirs.rtds,
    )
    assert ours.response_time_repartition == theirs.response_time_repartition
    assert ours.call_length_repartition == theirs.call_length_repartition


# -- scenario files --------------------------------------------------------------------


def test_every_scenario_file_parses() -> None:
    files = sorted(SCENARIOS.glob("*.xml"))
    assert len(files) >= 12
    for path in files:
        scenario = parse_scenario(path)
        assert scenario.file == str(path)
        assert all(c.file == str(path) and c.line > 0 for c in scenario.commands)


def test_register_with_auth() -> None:
    reg = load("register_auth.xml")
    assert kinds(reg) == ["Send", "Recv", "Recv", "Send", "Recv"]
    challenge = reg.commands[2]
    assert isinstance(challenge, Recv) and challenge.response == 401 and challenge.auth
    second = reg.commands[3]
    assert isinstance(second, Send) and second.method == "REGISTER"
    assert "[authentication username=[field0] password=[field1]]" in second.lines
    assert second.message.startswith("REGISTER sip:[remote_ip] SIP/2.0\nVia: ")
    # the <send> tag is on line 25, its message (after an empty line) on line 28
    assert (second.line, second.text_line) == (25, 28)
    assert (
        second.lines[6] == "Contact: <sip:[field0]@[local_ip]:[local_port];transport=[transport]>"
    )
    assert reg.rtds == ("1",)


def test_invite_with_407() -> None:
    call = load("invite_407.xml")
    first = call.commands[0]
    assert isinstance(first, Send) and first.start_rtd == "call"
    challenge = call.commands[2]
    assert isinstance(challenge, Recv) and (challenge.response, challenge.auth) == (407, True)
    answer = call.commands[7]
    assert isinstance(answer, Recv) and answer.rrs and answer.rtd == "call"
    ack = call.commands[8]
    assert isinstance(ack, Send) and ack.method == "ACK" and ack.lines[2] == "[routes]"
    # a body without a trailing empty line gets exactly one line end
    assert first.message.endswith("a=rtpmap:0 PCMU/8000\n")
    assert call.rtds == ("call",)


def test_reinvite_transactions() -> None:
    call = load("reinvite_txn.xml")
    invite, r100, r200 = call.commands[0], call.commands[1], call.commands[2]
    assert isinstance(invite, Send) and invite.start_txn == "invite"
    assert isinstance(r100, Recv) and r100.response_txn == "invite"
    assert isinstance(r200, Recv) and r200.response_txn == "invite"
    reinvite_ok = call.commands[6]
    assert isinstance(reinvite_ok, Recv)
    assert (reinvite_ok.timeout, reinvite_ok.ontimeout) == (5000, "hangup")
    assert call.labels["hangup"] == 8
    last = call.commands[-1]
    assert isinstance(last, Recv) and last.cseq_methods == ("BYE",)


def test_uas_early_media() -> None:
    uas = load("uas_early_media.xml")
    assert kinds(uas) == ["Recv", "Send", "Nop", "Pause", "Send", "Recv", "Recv", "Send", "Pause"]
    progress = uas.commands[1]
    assert isinstance(progress, Send) and progress.status == 183
    assert progress.lines[2] == "[last_Record-Route:]"
    nop = uas.commands[2]
    assert nop.display == "announcement"
    assert isinstance(nop.actions[0], PlayPcap) and nop.actions[0].path == "pcap/g711a.pcap"
    pause = uas.commands[3]
    assert isinstance(pause, Pause) and pause.distribution == Uniform(1000.0, 3000.0)
    assert uas.has_media and not uas.is_uac


def test_prack_captures_rseq() -> None:
    call = load("uac_prack.xml")
    progress = call.commands[2]
    assert isinstance(progress, Recv) and progress.response == 183
    (ereg,) = progress.actions
    assert isinstance(ereg, Ereg)
    assert (ereg.search_in, ereg.header, ereg.check_it, ereg.assign_to) == (
        "hdr",
        "RSeq:",
        True,
        ("rseq",),
    )
    prack = call.commands[3]
    assert isinstance(prack, Send) and prack.method == "PRACK"
    assert "RAck: [$rseq] 1 INVITE" in prack.lines
    assert call.variables == ("rseq",)
    prack_ok = call.commands[4]
    assert isinstance(prack_ok, Recv) and prack_ok.cseq_methods == ("INVITE", "PRACK")


def test_subscribe_notify() -> None:
    sub = load("subscribe_notify.xml")
    assert sub.labels == {"wait_notify": 3, "give_up": 5}
    accepted = sub.commands[1]
    assert isinstance(accepted, Recv) and accepted.next == "wait_notify"
    notify = sub.commands[3]
    assert isinstance(notify, Recv) and notify.request == "NOTIFY"
    assert (notify.timeout, notify.ontimeout) == (10000, "give_up")
    ereg, log = notify.actions
    assert isinstance(ereg, Ereg) and ereg.case_indep and ereg.assign_to == ("state",)
    assert log == Log(
        file=str(SCENARIOS / "subscribe_notify.xml"),
        line=25,
        level="log",
        message="subscription is [$state]",
    )


def test_message_body_keeps_text() -> None:
    im = load("message_im.xml")
    message = im.commands[0]
    assert isinstance(message, Send) and message.counter == "messages_sent"
    assert message.lines[-2:] == ["Hello & welcome <[call_number]>", ""]
    assert im.counters == ("messages_sent",)
    assert im.labels == {"done": 3}


def test_uas_update_regexp_request() -> None:
    uas = load("uas_update.xml")
    update = uas.commands[3]
    assert isinstance(update, Recv)
    assert (update.request, update.regexp_match, update.optional) == (
        "UPDATE|INFO",
        True,
        OptionalMode.YES,
    )
    assert update.response is None and not update.expects_response
    assert uas.labels == {"loop": 3, "answer": 5, "bye": 6}
    assert uas.commands[5].next == "loop"


def test_cancel_after_180() -> None:
    call = load("uac_cancel.xml")
    assert kinds(call) == ["Send", "Recv", "Recv", "Pause", "Send", "Recv", "Recv", "Send"]
    cancel = call.commands[4]
    assert isinstance(cancel, Send) and cancel.method == "CANCEL"
    cancel_ok = call.commands[5]
    assert isinstance(cancel_ok, Recv) and cancel_ok.cseq_methods == ("INVITE", "CANCEL")


def test_3pcc_extended_controller() -> None:
    master = load("3pcc_controller.xml")
    assert master.threepcc == "controller-a" and master.is_uac
    send_cmd, recv_cmd = master.commands[4], master.commands[5]
    assert isinstance(send_cmd, SendCmd) and send_cmd.dest == "b"
    assert send_cmd.lines == ["Call-ID: [call_id]", "From: master", "[$offer]", "", ""]
    assert isinstance(recv_cmd, RecvCmd) and recv_cmd.src == "b"
    assert master.variables == ("offer", "answer")


def test_uas_branching() -> None:
    uas = load("uas_branching.xml")
    assert uas.labels == {"reject": 7, "_unexp.main": 8, "bye": 9, "end": 10}
    assert uas.unexpected_jump == 8
    trying = uas.commands[1]
    assert (trying.next, trying.test) == ("reject", "blocked")
    ringing = uas.commands[2]
    assert (ringing.condexec, ringing.condexec_inverse) == ("vip", True)
    ack = uas.commands[5]
    assert isinstance(ack, Recv) and ack.ontimeout == "end" and ack.timeout == 32000
    bye = uas.commands[6]
    assert (bye.next, bye.chance) == ("bye", 1.0)
    nop = uas.commands[8]
    assert isinstance(nop, Nop) and nop.hide
    assert [type(a) for a in nop.actions] == [Log, IntCmd]
    assert uas.counters == ("rejected",)
    assert uas.label_of(8) == ["_unexp.main"]


def test_ereg_captures() -> None:
    sc = load("ereg_to_tag.xml")
    recv = sc.commands[1]
    to_tag, via, allow, body, var, strcmp, test = recv.actions
    assert isinstance(to_tag, Ereg) and to_tag.assign_to == ("to_full", "to_tag")
    assert isinstance(via, Ereg) and (via.occurrence, via.case_indep) == (2, True)
    assert via.assign_to == ("_", "second_hop")
    assert isinstance(allow, Ereg) and allow.start_line and allow.check_it_inverse
    assert isinstance(body, Ereg) and body.search_in == "body"
    assert isinstance(var, Ereg) and (var.search_in, var.variable) == ("var", "to_tag")
    assert isinstance(strcmp, StrCmp) and (strcmp.value, strcmp.variable2) == ("abc", None)
    assert isinstance(test, Test)
    assert (test.compare, test.value, test.assign_to) == (Compare.NOT_EQUAL, 0.0, "late")
    assert "to_tag" in sc.variables and "_" in sc.variables


def test_pause_distributions() -> None:
    sc = load("pause_distributions.xml")
    pauses = [c for c in sc.commands if isinstance(c, Pause)]
    assert [(p.distribution, p.variable) for p in pauses[:3]] == [
        (None, None),
        (Fixed(250.0), None),
        (None, "think"),
    ]
    assert [p.distribution for p in pauses[3:]] == [
        Fixed(1000.0),
        Uniform(500.0, 1500.0),
        Normal(1000.0, 100.0),
        LogNormal(7.0, 0.5),
        Exponential(900.0),
        Weibull(3.0, 4.0),
        Pareto(1.0, 2.0),
        GeneralizedPareto(0.1, 100.0, 10.0),
        Gamma(3.0, 2.0),
        NegativeBinomial(10.0, 0.5),
        Uniform(100.0, 200.0),
        Exponential(1e12),
    ]
    assert not pauses[-1].sanity_check and pauses[-2].crlf
    sample = sc.commands[0].actions[0]
    assert isinstance(sample, Sample) and sample.distribution == Normal(2000.0, 250.0)


def test_injection_init_and_statistics() -> None:
    sc = load("injection_init.xml")
    assert sc.init_labels == {"init_end": 1}
    assert [type(a) for a in sc.init_actions] == [Arithmetic, GetTimeOfDay, Log]
    assert sc.init_actions[1] == GetTimeOfDay(
        file=sc.file, line=9, seconds="start_s", microseconds="start_us"
    )
    nop = sc.commands[0]
    assert (nop.hide, nop.start_rtd, nop.counter) == (True, "register", "attempts")
    assert nop.actions[1] == AssignStr(
        file=sc.file, line=19, assign_to="user", value="[field0 line=0]"
    )
    send = sc.commands[1]
    assert isinstance(send, Send) and send.hide  # hiderest: this and later commands
    assert 'X-Other: [field3 file="other.csv"]' in send.lines
    recv = sc.commands[2]
    assert recv.hide and (recv.rtd, recv.repeat_rtd, recv.display) == (
        "register",
        True,
        "registered",
    )
    assert sc.response_time_repartition == (10, 20, 50, 100, 500)
    assert sc.call_length_repartition == (100, 1000, 10000)
    assert sc.counters == ("attempts",) and sc.rtds == ("register",)


def test_every_action() -> None:
    sc = load("actions_all.xml")
    assert sc.global_variables == ("total",) and sc.user_variables == ("per_user",)
    actions = sc.commands[0].actions
    f = sc.file
    assert [type(a) for a in actions] == [
        *[Arithmetic] * 5,
        AssignStr,
        Trim,
        ToDouble,
        Test,
        Test,
        StrCmp,
        UrlEncode,
        UrlDecode,
        VerifyAuth,
        Lookup,
        Insert,
        Replace,
        SetDest,
        CloseCon,
        Index,
        Jump,
        Jump,
        PauseRestore,
        GetTimeOfDay,
        Sample,
        Log,
        Log,
        Log,
        ExecCommand,
        IntCmd,
        PlayPcap,
        PlayDtmf,
        RtpStream,
        RtpStream,
        RtpEchoStream,
        RtpEcho,
    ]
    arith = [a for a in actions if isinstance(a, Arithmetic)]
    assert [(a.op, a.value, a.variable) for a in arith] == [
        ("assign", 10.0, None),
        ("add", 5.0, None),
        ("subtract", 2.0, None),
        ("multiply", None, "a"),
        ("divide", 2.5, None),
    ]
    second_test = actions[9]
    assert isinstance(second_test, Test) and second_test.assign_to is None
    assert (second_test.variable2, second_test.check_it) == ("d", True)
    assert actions[16] == Replace(
        file=f, line=24, path="users.csv", target_line="[$row]", value="[$s];2"
    )
    assert actions[17] == SetDest(file=f, line=25, host="127.0.0.1", port="5070", protocol="udp")
    assert actions[20] == Jump(file=f, line=28, value=2.0)
    assert [a.level for a in actions if isinstance(a, Log)] == ["log", "warning", "error"]
    streams = [a for a in actions if isinstance(a, RtpStream)]
    assert [s.kind for s in streams] == ["play", "pause"]
    echo = actions[34]
    assert isinstance(echo, RtpEchoStream) and echo.kind == "startaudio"
    assert sc.has_media
    recv, send = sc.commands[1], sc.commands[2]
    assert recv.lost == 10.0 and send.lost == 2.5 and send.ignoresdp
