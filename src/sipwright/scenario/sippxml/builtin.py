"""The scenarios SIPp has built in (``sipp -sn uac`` ...), rewritten for sipwright.

Each one has the same message flow, keywords, RTDs and repartition tables as SIPp
3.6's embedded scenario of the same name, so ``sipwright sipp -sn NAME`` behaves
like ``sipp -sn NAME``. The XML is assembled from a few shared pieces (header
blocks, the SDP offer) to keep the flows readable.
"""

from __future__ import annotations

from sipwright.scenario.sippxml.model import Scenario, ScenarioError
from sipwright.scenario.sippxml.parser import parse_scenario_text

__all__ = ["BUILTIN", "load_builtin"]

_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'

# statistics tables shared by most scenarios (milliseconds)
_TABLES = """
  <ResponseTimeRepartition value="10, 20, 30, 40, 50, 100, 150, 200"/>
  <CallLengthRepartition value="10, 50, 100, 500, 1000, 5000, 10000"/>
"""

# -- pieces of requests sent by a UAC towards [service]@[remote_ip] ------------------

_SDP = """
v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
"""


def _request(method: str, cseq: str, tag: str, *, dialog: bool, tail: str) -> str:
    """A request of the simple UAC flows, From tag ``[pid]<tag>[call_number]``."""
    to_tag = "[peer_tag_param]" if dialog else ""
    return f"""
{method} sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]{tag}[call_number]
To: [service] <sip:[service]@[remote_ip]:[remote_port]>{to_tag}
Call-ID: [call_id]
CSeq: {cseq}
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Subject: Performance Test
{tail}"""


def _invite(tag: str, sdp: str = _SDP) -> str:
    return _request(
        "INVITE",
        "1 INVITE",
        tag,
        dialog=False,
        tail="Content-Type: application/sdp\nContent-Length: [len]\n" + sdp,
    )


def _ack(tag: str, tail: str = "Content-Length: 0\n") -> str:
    return _request("ACK", "1 ACK", tag, dialog=True, tail=tail)


def _bye(tag: str) -> str:
    return _request("BYE", "2 BYE", tag, dialog=True, tail="Content-Length: 0\n")


# -- pieces of responses sent by a UAS (copying the request's headers) ---------------


def _response(status: str, to_tag: str | None, tail: str = "Content-Length: 0\n") -> str:
    """A response; ``to_tag`` None keeps the received To (in-dialog requests)."""
    to_line = "[last_To:]" if to_tag is None else f"[last_To:];tag=[pid]{to_tag}[call_number]"
    return f"""
SIP/2.0 {status}
[last_Via:]
[last_From:]
{to_line}
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
{tail}"""


def _ok_with_sdp(to_tag: str) -> str:
    return _response(
        "200 OK", to_tag, "Content-Type: application/sdp\nContent-Length: [len]\n" + _SDP
    )


def _send(text: str, attrs: str = "", body: str = "") -> str:
    """A <send> element; ``text`` goes into a CDATA section as written."""
    space = " " if attrs else ""
    return f"  <send{space}{attrs}>\n    <![CDATA[{text}\n    ]]>{body}\n  </send>\n"


def _scenario(name: str, body: str) -> str:
    return f'{_HEAD}<scenario name="{name}">\n{body}</scenario>\n'


_PROVISIONAL = """
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
"""

_UAC = _scenario(
    "Basic Sipstone UAC",
    _send(_invite("SIPpTag00"), 'retrans="500"')
    + _PROVISIONAL
    + '  <recv response="200" rtd="true"/>\n'
    + _send(_ack("SIPpTag00"))
    + "  <!-- no duration given: the -d command line option decides -->\n"
    + "  <pause/>\n"
    + _send(_bye("SIPpTag00"), 'retrans="500"')
    + '  <recv response="200" crlf="true"/>\n'
    + _TABLES,
)

_UAS = _scenario(
    "Basic UAS responder",
    '  <recv request="INVITE" crlf="true"/>\n'
    + _send(_response("180 Ringing", "SIPpTag01"))
    + _send(_ok_with_sdp("SIPpTag01"), 'retrans="500"')
    + '  <recv request="ACK" optional="true" rtd="true" crlf="true"/>\n'
    + '  <recv request="BYE"/>\n'
    + _send(_response("200 OK", None))
    + "  <!-- linger so that a retransmitted BYE still gets its 200 -->\n"
    + '  <timewait milliseconds="4000"/>\n'
    + _TABLES,
)

_REGEXP_ACTIONS = """
    <action>
      <ereg regexp="[0-9]{1,3}[.][0-9]{1,3}[.][0-9]{1,3}[.][0-9]{1,3}[:][0-9]{1,5}"
            search_in="msg" check_it="true" assign_to="1"/>
      <ereg regexp=".*" search_in="hdr" header="Contact:" check_it="true" assign_to="6"/>
      <ereg regexp="o=([[:alnum:]]*) ([[:alnum:]]*) ([[:alnum:]]*)"
            search_in="msg" check_it="true" assign_to="3,4,5,8"/>
    </action>"""

_REGEXP_ACK_TAIL = """retrievedIp: [$1]
retrievedContact:[$6]
retrievedSdpOrigin:[$3]
retrievedSdpOrigin-username:[$4]
retrievedSdpOrigin-session-id:[$5]
retrievedSdpOrigin-version:[$8]
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Subject: Performance Test
Content-Length: 0"""

# The regexp client's ACK lists the captured values before Contact, so it is
# written out instead of using _ack().
_REGEXP_ACK = (
    """
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag02[call_number]
To: [service] <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
"""
    + _REGEXP_ACK_TAIL
)

_REGEXP = _scenario(
    "Client with regexp scenario",
    _send(_invite("SIPpTag02"), 'retrans="500"')
    + _PROVISIONAL
    + '  <recv response="200" start_rtd="true">'
    + _REGEXP_ACTIONS
    + "\n  </recv>\n"
    + _send(_REGEXP_ACK)
    + '  <pause milliseconds="1000"/>\n'
    + _send(_bye("SIPpTag02"), 'retrans="500"')
    + '  <recv response="200" crlf="true" rtd="true"/>\n'
    + '  <ResponseTimeRepartition value="1000, 1040, 1080, 1120, 1160, 1200"/>\n'
    + '  <CallLengthRepartition value="1000, 1100, 1200, 1300, 1400"/>\n',
)


def _branch_request(method: str, cseq: str, *, dialog: bool, tail: str) -> str:
    """Requests of the branching client (fixed domain names, ua1 calling ua2)."""
    to_tag = "[peer_tag_param]" if dialog else ""
    display = "ua[call_number]" if method == "INVITE" else "ua1"
    return f"""
{method} sip:ua2@CA.cym.com SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: {display} <sip:ua1@nnl.cym:[local_port]>;tag=[pid]SIPpTag07b[call_number]
To: ua2 <sip:ua2@nnl.cym:[remote_port]>{to_tag}
Call-ID: [call_id]
CSeq: {cseq}
Contact: sip:ua1@[local_ip]:[local_port]
Max-Forwards: 70
Subject: Performance Test
{tail}"""


_BRANCH_REGISTER = """
REGISTER sip:CA.cym.com SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: ua1 <sip:ua1@nnl.cym:[local_port]>;tag=[pid]SIPpTag07[call_number]
To: ua1 <sip:ua1@nnl.cym:[local_port]>
Call-ID: [call_id]
CSeq: 1 REGISTER
Contact: sip:ua1@[local_ip]:[local_port]
Content-Length: 0
Expires: 300
"""

_BRANCHC = _scenario(
    "branch_client",
    _send(_BRANCH_REGISTER, 'retrans="500"')
    + "  <!-- the first 200 jumps over the second one -->\n"
    + '  <recv response="200" rtd="true" next="5"/>\n'
    + '  <recv response="200"/>\n'
    + '  <label id="5"/>\n'
    + _send(
        _branch_request(
            "INVITE",
            "1 INVITE",
            dialog=False,
            tail="Content-Type: application/sdp\nContent-Length: [len]\n" + _SDP,
        ),
        'retrans="500"',
    )
    + _PROVISIONAL
    + "  <!-- a 403 skips the ACK and the pause -->\n"
    + '  <recv response="403" optional="true" next="1"/>\n'
    + '  <recv response="200">\n'
    + "    <action>\n"
    + '      <ereg regexp="ua25" search_in="hdr" header="From: " assign_to="8"/>\n'
    + "    </action>\n"
    + "  </recv>\n"
    + "  <!-- variable 8 is set on call 25: ACK, then hang up without the pause -->\n"
    + _send(
        _branch_request("ACK", "1 ACK", dialog=True, tail="Content-Length: 0\n"),
        'next="1" test="8"',
    )
    + '  <pause milliseconds="5000"/>\n'
    + '  <label id="1"/>\n'
    + _send(
        _branch_request("BYE", "2 BYE", dialog=True, tail="Content-Length: 0\n"),
        'retrans="500"',
    )
    + '  <recv response="200" crlf="true"/>\n'
    + '  <pause milliseconds="4000"/>\n'
    + _TABLES,
)

_BRANCHS = _scenario(
    "branch_server",
    '  <recv request="REGISTER"/>\n'
    + _send(_response("200 OK", "SIPpTag08", "Content-Length: 0\nExpires: 300\n"))
    + "  <!-- variable 3 is set when the caller is ua2... -->\n"
    + '  <recv request="INVITE" crlf="true">\n'
    + "    <action>\n"
    + '      <ereg regexp="ua2" search_in="hdr" header="From: " assign_to="3"/>\n'
    + "    </action>\n"
    + "  </recv>\n"
    + _send(_response("180 Ringing", "SIPpTag08b"), 'next="1" test="3"')
    + "  <!-- any other caller is refused and the BYE awaited -->\n"
    + _send(_response("403 Error", "SIPpTag08b"), 'next="2"')
    + '  <label id="1"/>\n'
    + _send(_response("100 Trying", "SIPpTag08b"))
    + _send(_ok_with_sdp("SIPpTag08b"), 'retrans="500"')
    + '  <recv request="ACK" optional="true" rtd="true" crlf="true"/>\n'
    + '  <label id="2"/>\n'
    + '  <recv request="BYE"/>\n'
    + _send(_response("200 OK", None))
    + '  <timewait milliseconds="4000"/>\n'
    + _TABLES,
)


def _content_type_ereg(variable: str) -> str:
    return (
        "\n    <action>\n"
        f'      <ereg regexp="Content-Type:.*" search_in="msg" assign_to="{variable}"/>\n'
        "    </action>\n"
    )


def _send_cmd(variable: str) -> str:
    return (
        "  <sendCmd>\n    <![CDATA[\n      Call-ID: [call_id]\n"
        f"      [${variable}]\n    ]]>\n  </sendCmd>\n"
    )


_3PCC_C_A = _scenario(
    "3PCC Controller - A side",
    "  <!-- A is invited without SDP; its offer goes to the B side controller -->\n"
    + _send(
        _request("INVITE", "1 INVITE", "SIPpTag03", dialog=False, tail="Content-Length: 0\n"),
        'retrans="500"',
    )
    + _PROVISIONAL
    + '  <recv response="200" crlf="true" start_rtd="true">'
    + _content_type_ereg("1")
    + "  </recv>\n"
    + _send_cmd("1")
    + "  <recvCmd>"
    + _content_type_ereg("2")
    + "  </recvCmd>\n"
    + "  <!-- B's answer goes to A in the ACK -->\n"
    + _send(_ack("SIPpTag03", tail="[$2]\n"), 'rtd="true"')
    + '  <pause milliseconds="1000"/>\n'
    + _send(_bye("SIPpTag03"), 'retrans="500"')
    + '  <recv response="200" crlf="true"/>\n',
)

_3PCC_C_B = _scenario(
    "3PCC Controller - B side",
    "  <recvCmd>"
    + _content_type_ereg("1")
    + "  </recvCmd>\n"
    + "  <!-- invite B with A's offer -->\n"
    + _send(
        _request("INVITE", "1 INVITE", "SIPpTag04", dialog=False, tail="[$1]\n"), 'retrans="500"'
    )
    + _PROVISIONAL
    + '  <recv response="200" crlf="true">'
    + _content_type_ereg("2")
    + "  </recv>\n"
    + _send(_ack("SIPpTag04"), 'start_rtd="true"')
    + _send_cmd("2")
    + '  <pause milliseconds="1000"/>\n'
    + _send(_bye("SIPpTag04"), 'retrans="500" rtd="true"')
    + '  <recv response="200" crlf="true"/>\n',
)


def _3pcc_side(name: str, tag: str, bye_crlf: bool) -> str:
    bye_attrs = ' crlf="true"' if bye_crlf else ""
    return _scenario(
        name,
        '  <recv request="INVITE" crlf="true"/>\n'
        + _send(_ok_with_sdp(tag))
        + '  <recv request="ACK" rtd="true" crlf="true"/>\n'
        + "  <!-- media flows from here on -->\n"
        + f'  <recv request="BYE"{bye_attrs}/>\n'
        + _send(_response("200 OK", None))
        + '  <timewait milliseconds="2000"/>\n',
    )


_3PCC_A = _3pcc_side("3PCC A side", "SIPpTag05", bye_crlf=True)
_3PCC_B = _3pcc_side("3PCC B side", "SIPpTag06", bye_crlf=False)

_PCAP_SDP = """
v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[local_ip_type] [local_ip]
t=0 0
m=audio [auto_media_port] RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-11,16
"""


def _play(path: str) -> str:
    return (
        f'  <nop>\n    <action>\n      <exec play_pcap_audio="{path}"/>\n    </action>\n  </nop>\n'
    )


_UAC_PCAP = _scenario(
    "UAC with media",
    _send(_invite("SIPpTag09", _PCAP_SDP), 'retrans="500"')
    + '  <recv response="100" optional="true"/>\n'
    + '  <recv response="180" optional="true"/>\n'
    + '  <recv response="200" rtd="true" crlf="true"/>\n'
    + _send(_ack("SIPpTag09"))
    + "  <!-- about 8 s of G.711 A-law RTP, then an RFC 2833 digit '1' -->\n"
    + _play("pcap/g711a.pcap")
    + '  <pause milliseconds="8000"/>\n'
    + _play("pcap/dtmf_2833_1.pcap")
    + '  <pause milliseconds="1000"/>\n'
    + _send(_bye("SIPpTag09"), 'retrans="500"')
    + '  <recv response="200" crlf="true"/>\n'
    + _TABLES,
)

BUILTIN: dict[str, str] = {
    "uac": _UAC,
    "uas": _UAS,
    "regexp": _REGEXP,
    "branchc": _BRANCHC,
    "branchs": _BRANCHS,
    "3pcc-C-A": _3PCC_C_A,
    "3pcc-C-B": _3PCC_C_B,
    "3pcc-A": _3PCC_A,
    "3pcc-B": _3PCC_B,
    "uac_pcap": _UAC_PCAP,
}


def load_builtin(name: str) -> Scenario:
    """Parse the built-in scenario ``name`` (file name ``<builtin:NAME>`` in errors)."""
    text = BUILTIN.get(name)
    if text is None:
        known = ", ".join(BUILTIN)
        raise ScenarioError(f"<builtin:{name}>", 0, f"unknown built-in scenario (known: {known})")
    return parse_scenario_text(text, f"<builtin:{name}>")
