"""SIPp XML scenario parser: message text rules, error messages, robustness.

Companion of test_sippxml_parser.py (the model built from valid scenarios). Every
error is asserted as the exact ``file:line: message`` a user sees.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipwright.scenario.sippxml import (
    BUILTIN,
    Recv,
    Scenario,
    ScenarioError,
    Send,
    clean_message,
    message_lines,
    parse_scenario,
    parse_scenario_text,
    to_wire_template,
)

SCENARIOS = Path(__file__).parent / "scenarios"


def error_of(text: str, filename: str = "t.xml") -> str:
    with pytest.raises(ScenarioError) as info:
        parse_scenario_text(text, filename)
    err = info.value
    assert str(err) == f"{err.file}:{err.line}: {err.message}"
    return str(err)


def scenario_xml(body: str) -> str:
    """A scenario: line 1 is the declaration, line 2 <scenario>, ``body`` from line 3."""
    return f'<?xml version="1.0"?>\n<scenario name="t">\n{body}\n</scenario>\n'


OPTIONS = """  <send><![CDATA[
    OPTIONS sip:x SIP/2.0
    Content-Length: 0
  ]]></send>"""


# -- message text ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # headers only: the empty line that ends the headers is added
        ("\n\n   OPTIONS sip:x SIP/2.0\n   A: 1\n\n  ", "OPTIONS sip:x SIP/2.0\nA: 1\n\n"),
        # with a body: one line end closes the last body line
        ("\n  M sip:x SIP/2.0\n  L: 2\n\n  ab\n  ", "M sip:x SIP/2.0\nL: 2\n\nab\n"),
        # body without trailing newline in the CDATA: left as is
        ("M sip:x SIP/2.0\n\nab", "M sip:x SIP/2.0\n\nab"),
        # indentation and trailing blanks go; inner blanks stay
        ("\n    A: 1  \n    B:  2\t\n", "A: 1\nB:  2\n\n"),
        # SIPp's four rewrites run in a fixed order (leading spaces, trailing spaces,
        # leading tabs, trailing tabs), so mixed indentation is only partly removed
        ("\tA: 1 \t\n\t  B:  2\t\n", "A: 1 \n  B:  2\n\n"),
        ("X\n \t Y", "X\n Y\n\n"),
        ("  \n\t \n", ""),
    ],
)
def test_clean_message_follows_sipp(raw: str, expected: str) -> None:
    assert clean_message(raw) == expected


def test_message_lines_and_wire_form() -> None:
    message = clean_message("\n  A sip:x SIP/2.0\n  B: [len]\n\n  body\n")
    assert message_lines(message) == ["A sip:x SIP/2.0", "B: [len]", "", "body", ""]
    assert to_wire_template(message) == "A sip:x SIP/2.0\r\nB: [len]\r\n\r\nbody\r\n"
    assert clean_message("Call-ID: x\n", for_send=False) == "Call-ID: x\n\n"


def test_crlf_file_and_latin1_without_declaration(tmp_path: Path) -> None:
    text = scenario_xml(OPTIONS + '\n  <recv response="200"/>')
    crlf = tmp_path / "crlf.xml"
    crlf.write_bytes(text.replace("\n", "\r\n").encode())
    (send, _) = parse_scenario(crlf).commands
    assert isinstance(send, Send) and send.message == "OPTIONS sip:x SIP/2.0\nContent-Length: 0\n\n"
    latin = tmp_path / "latin.xml"
    latin.write_bytes(text.replace('name="t"', 'name="caf\xe9"').encode("latin-1"))
    assert parse_scenario(latin).name == "café"
    declared = '<?xml version="1.0" encoding="ISO-8859-1"?>' + text.split("?>", 1)[1]
    assert parse_scenario_text(declared).name == "t"


# -- errors ----------------------------------------------------------------------------


def test_malformed_xml() -> None:
    assert error_of(scenario_xml("  <send>\n  </recv>")) == (
        "t.xml:4: malformed XML: Opening and ending tag mismatch: send line 3 and recv (column 10)"
    )
    assert error_of("") == "t.xml:1: malformed XML: Document is empty (column 1)"


def test_unknown_command() -> None:
    assert error_of(scenario_xml(OPTIONS + '\n  <sned retrans="500"/>')).startswith(
        "t.xml:7: unknown element <sned> in scenario (known: send, recv, pause, timewait, "
    )


def test_recv_needs_exactly_one_of_response_and_request() -> None:
    assert error_of(scenario_xml(OPTIONS + "\n  <recv/>")) == (
        "t.xml:7: <recv> needs exactly one of response/request, it has neither"
    )
    assert error_of(scenario_xml('  <recv request="A"\n        response="200"/>')) == (
        "t.xml:3: <recv> needs exactly one of response/request, it has both"
    )


def test_undefined_labels() -> None:
    assert error_of(scenario_xml(OPTIONS + '\n  <recv response="200" next="nowhere"/>')) == (
        "t.xml:7: next='nowhere': label 'nowhere' is not defined"
    )
    text = scenario_xml(OPTIONS + '\n  <recv response="200" timeout="100" ontimeout="x"/>')
    assert error_of(text) == "t.xml:7: ontimeout='x': label 'x' is not defined"


def test_bad_pause_distribution() -> None:
    assert error_of(scenario_xml(OPTIONS + '\n  <pause distribution="poisson" mean="3"/>')) == (
        "t.xml:7: unknown distribution 'poisson' (known: fixed, uniform, normal, lognormal, "
        "exponential, weibull, pareto, gpareto, gamma, negbin)"
    )
    assert error_of(scenario_xml(OPTIONS + '\n  <pause distribution="normal" mean="3"/>')) == (
        "t.xml:7: <pause> is missing the required 'stdev' attribute"
    )
    text = scenario_xml(OPTIONS + '\n  <pause distribution="exponential" mean="1e12"/>')
    assert error_of(text).startswith(
        "t.xml:7: the exponential pause has a 99th percentile of 4.60517e+12 ms"
    )


def test_unknown_action() -> None:
    text = scenario_xml(OPTIONS + '\n  <recv response="200">\n    <action>\n      <eregx/>')
    text = text.replace("</scenario>", "</action></recv></scenario>")
    assert error_of(text).startswith("t.xml:9: unknown action <eregx> (known: add, assign, ")


def test_bad_numbers() -> None:
    bad_retrans = scenario_xml(OPTIONS.replace("<send>", '<send retrans="5OO">'))
    assert error_of(bad_retrans) == (
        "t.xml:3: <send> attribute retrans='5OO' is not a valid integer"
    )
    assert error_of(scenario_xml(OPTIONS.replace("<send>", '<send retrans="">'))) == (
        "t.xml:3: <send> attribute retrans='' is not a valid integer"
    )
    assert error_of(scenario_xml(OPTIONS.replace("<send>", '<send lost="nan">'))) == (
        "t.xml:3: <send> attribute lost='nan' is not a valid number"
    )
    assert error_of(scenario_xml(OPTIONS.replace("<send>", '<send lost="120">'))) == (
        "t.xml:3: lost=120 is not a percentage (0-100)"
    )
    assert error_of(scenario_xml('  <recv response="20x"/>')) == (
        "t.xml:3: <recv> attribute response='20x' is not a valid integer"
    )
    # strtol(..., 0) rules, like SIPp: hexadecimal and octal
    sc = parse_scenario_text(scenario_xml(OPTIONS.replace("<send>", '<send retrans="0x1F4">')))
    assert isinstance(sc.commands[0], Send) and sc.commands[0].retrans == 500


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            '  <recv response="200" rtd="true" foo="1"/>',
            "t.xml:3: unknown attribute 'foo' on <recv> (allowed: advance_state, auth, chance, "
            "condexec, condexec_inverse, counter, crlf, display, hide, hiderest, ignoresdp, "
            "lost, next, ontimeout, optional, regexp_match, repeat_rtd, request, response, "
            "response_txn, rrs, rtd, start_rtd, test, timeout)",
        ),
        (
            OPTIONS + '\n  <recv response="200"><action>\n'
            '    <test assign_to="x" variable="x" compare="bigger" value="1"/>\n'
            "  </action></recv>",
            "t.xml:8: unknown compare operator 'bigger' (known: equal, not_equal, "
            "greater_than, less_than, greater_than_equal, less_than_equal)",
        ),
        (
            OPTIONS + '\n  <recv response="200"><action>\n'
            '    <ereg regexp="a" assign_to="once"/>\n  </action></recv>',
            "t.xml:8: variable 'once' is used only once (SIPp requires each variable to be "
            'set and used; list it in <Reference variables="..."/> if that is intended)',
        ),
        (
            '  <label id="a"/>\n' + OPTIONS + '\n  <label id="a"/>',
            "t.xml:8: label 'a' is defined twice",
        ),
        (
            '  <recv request="INVITE" optional="true"/>\n' + OPTIONS,
            "t.xml:4: <send> follows an optional <recv> without a mandatory <recv> in "
            "between: make one of the preceding receives non-optional",
        ),
        (
            '  <recv request="INVITE"/>\n  <timewait milliseconds="10"/>\n' + OPTIONS,
            "t.xml:5: <timewait> must be the last command of the scenario",
        ),
        (
            '  <recv request="INVITE" start_rtd="setup"/>\n' + OPTIONS,
            "t.xml:3: response time duration 'setup' is started but never stopped",
        ),
        (
            OPTIONS.replace("<send>", '<send start_txn="t">') + '\n  <recv response="200"/>',
            "t.xml:3: transaction 't' has no response defined",
        ),
        (
            "  <send>\n    <![CDATA[\n\n      [method] sip:x SIP/2.0\n    ]]>\n  </send>",
            "t.xml:6: the start line must begin with a literal method or 'SIP/2.0 <code>' "
            "(no keyword before the first space): '[method] sip:x SIP/2.0'",
        ),
        (
            "  <send><![CDATA[\n  SIP/2.0 [$code] OK\n  ]]></send>",
            "t.xml:4: response code must be 100-699 (a literal number): 'SIP/2.0 [$code] OK'",
        ),
        ("  <send>\n  </send>", "t.xml:3: <send> has no message text (CDATA section)"),
        (
            OPTIONS + '\n  <nop><action><divide assign_to="a" value="0"/></action></nop>',
            "t.xml:7: <divide> can not have a value of zero",
        ),
        (
            OPTIONS.replace("<send>", '<send next="x" chance="1.5">') + '\n  <label id="x"/>',
            "t.xml:3: chance=1.5 is not in the range 0..1",
        ),
        (
            "  <nop/>\n  <pause/>",
            "t.xml:2: the scenario neither sends nor receives any SIP message",
        ),
        ("", "t.xml:2: the scenario has no commands (send, recv, pause, nop...)"),
        (
            OPTIONS + '\n  <recv response="200">\n    <ation/>\n  </recv>',
            "t.xml:8: unknown element <ation> inside <recv> (only <action>)",
        ),
        (
            OPTIONS + '\n  <nop><action><exec int_cmd="stop"/></action></nop>',
            "t.xml:7: unknown int_cmd 'stop' (known: stop_call, stop_gracefully, stop_now)",
        ),
        (
            OPTIONS + '\n  <nop><action><ereg regexp="x" search_in="hdr" assign_to="v"/>'
            "</action></nop>",
            't.xml:7: <ereg search_in="hdr"> requires a non-empty header attribute',
        ),
        (
            OPTIONS + '\n  <Reference variables="ghost"/>',
            "t.xml:7: <Reference> names variable 'ghost', which is never used",
        ),
        (
            OPTIONS + '\n  <ResponseTimeRepartition value="10, 20, x"/>',
            "t.xml:7: <ResponseTimeRepartition> value='10, 20, x' is not a comma separated "
            "list of integers",
        ),
        (
            '  <recv request="BYE"/>\n  <timewait milliseconds="10" next="x"/>\n  <label id="x"/>',
            "t.xml:4: next and ontimeout are not allowed on <timewait>",
        ),
    ],
)
def test_error_messages(body: str, expected: str) -> None:
    assert error_of(scenario_xml(body)) == expected


def test_errors_point_at_the_opening_line_of_a_multi_line_tag() -> None:
    body = OPTIONS + '\n  <recv\n     response="200"\n     rtd="true"\n     bogus="1"/>'
    assert error_of(scenario_xml(body)).startswith("t.xml:7: unknown attribute 'bogus' on <recv>")


def test_text_line_of_messages_after_comments_and_actions() -> None:
    text = scenario_xml(
        "  <send\n"
        '     retrans="500">\n'
        "    <!-- a\n"
        "         comment -->\n"
        "    <![CDATA[\n"
        "\n"
        "      OPTIONS sip:x SIP/2.0\n"
        "    ]]>\n"
        "  </send>\n"
        '  <recv response="200"/>\n'
        '  <send><action><assign assign_to="w" value="1"/>\n'
        "  </action>\n"
        "  <![CDATA[\n"
        "  OPTIONS sip:y SIP/2.0\n"
        "  X: [$w]\n"
        "  ]]></send>"
    )
    first, _, second = parse_scenario_text(text).commands
    assert isinstance(first, Send) and (first.line, first.text_line) == (3, 9)
    assert isinstance(second, Send) and (second.line, second.text_line) == (13, 16)
    assert second.actions[0].line == 13


def test_entities_and_children_of_declarations_are_rejected() -> None:
    text = '<!DOCTYPE scenario [<!ENTITY e "x">]>\n<scenario>\n  <nop>&e;</nop>\n</scenario>'
    assert error_of(text) == "t.xml:3: entity references are not supported here"
    body = OPTIONS + '\n  <Global variables="g">\n    <action/>\n  </Global>'
    assert error_of(scenario_xml(body)) == "t.xml:8: <Global> may not contain elements"


def test_missing_file() -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario("/nonexistent/x.xml")
    assert (
        str(info.value) == "/nonexistent/x.xml:0: cannot read scenario: No such file or directory"
    )


def test_sipp_37_response_regexp() -> None:
    sc = parse_scenario_text(
        scenario_xml(OPTIONS + '\n  <recv response="^20." regexp_match="true"/>')
    )
    recv = sc.commands[1]
    assert isinstance(recv, Recv) and recv.response is None and recv.expects_response
    assert (recv.response_pattern, recv.regexp_match) == ("^20.", True)


# -- robustness ------------------------------------------------------------------------

_TOKENS = [
    "<",
    ">",
    "/>",
    '"',
    "&",
    "&amp;",
    "]]>",
    "<![CDATA[",
    "<!--",
    "-->",
    "\n",
    "\x00",
    "\xe9",
    '<recv response="200"/>',
    '<recv request="BYE" optional="true"/>',
    '<pause distribution="weibull" lambda="1" k="0"/>',
    '<label id="1"/>',
    ' next="1"',
    ' next="nope"',
    ' retrans="-3"',
    ' start_rtd="true"',
    ' rtd="x"',
    ' optional="global"',
    ' assign_to="1,2"',
    '<nop><action><jump value="1e400"/></action></nop>',
    '<init><nop><action><assign assign_to="1" value="2"/></action></nop></init>',
    "<sendCmd><![CDATA[ x ]]></sendCmd>",
    '<!DOCTYPE scenario [<!ENTITY e "x">]>',
    "&e;",
    "<?pi x?>",
]
_SOURCES = [*BUILTIN.values(), *(p.read_text() for p in sorted(SCENARIOS.glob("*.xml")))]


@st.composite
def mutated_scenarios(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(_SOURCES))
    for _ in range(draw(st.integers(1, 4))):
        start = draw(st.integers(0, len(text)))
        end = draw(st.integers(start, min(len(text), start + 40)))
        replacement = draw(st.one_of(st.sampled_from(_TOKENS), st.text(max_size=8)))
        text = text[:start] + replacement + text[end:]
    return text


def _check_outcome(text: str | bytes) -> None:
    try:
        if isinstance(text, bytes):
            with tempfile.TemporaryDirectory() as directory:
                path = Path(directory) / "fuzz.xml"
                path.write_bytes(text)
                scenario = parse_scenario(path)
        else:
            scenario = parse_scenario_text(text, "fuzz.xml")
    except ScenarioError as err:
        assert err.line >= 0
        assert re.fullmatch(r".*fuzz\.xml:\d+: .+", str(err), re.DOTALL)
    else:
        assert isinstance(scenario, Scenario) and scenario.commands


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_scenarios())
def test_mutated_scenarios_give_scenario_or_scenario_error(text: str) -> None:
    _check_outcome(text)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300))
def test_random_input_gives_scenario_or_scenario_error(data: bytes | str) -> None:
    _check_outcome(data)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_scenarios())
def test_mutated_bytes_in_a_file(text: str) -> None:
    _check_outcome(text.encode("utf-8", "surrogatepass"))
