"""Actions of a SIPp scenario: the children of an ``<action>`` element.

Every action is a frozen, slotted dataclass carrying ``file`` and ``line`` (where the
action element starts) so that an interpreter can report run-time problems against
the scenario source. Attribute values that SIPp expands at run time (``[$var]``,
``[last_From:]``, ...) are kept verbatim as ``str``; numbers are already converted.

Variable names are kept as written (SIPp allows any name without ``$`` or ``,``,
including numbers such as ``"1"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, TypeAlias

from sipwright.scenario.sippxml.distributions import Distribution

__all__ = [
    "Action",
    "ActionBase",
    "Arithmetic",
    "ArithmeticOp",
    "AssignStr",
    "CloseCon",
    "Compare",
    "Ereg",
    "ExecCommand",
    "GetTimeOfDay",
    "Index",
    "Insert",
    "IntCmd",
    "Jump",
    "Log",
    "Lookup",
    "PauseRestore",
    "PlayDtmf",
    "PlayPcap",
    "Replace",
    "RtpEcho",
    "RtpEchoStream",
    "RtpStream",
    "Sample",
    "SearchIn",
    "SetDest",
    "StrCmp",
    "Test",
    "ToDouble",
    "Trim",
    "UrlDecode",
    "UrlEncode",
    "VerifyAuth",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionBase:
    """Where an action was written: file name and 1-based line of its element."""

    file: str
    line: int


SearchIn: TypeAlias = Literal["msg", "hdr", "body", "var"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Ereg(ActionBase):
    """``<ereg>``: match a POSIX extended regexp, store the match and sub-matches.

    ``assign_to[0]`` receives the whole match, ``assign_to[1:]`` the groups. The
    regexp is kept as written (POSIX ERE, e.g. ``[[:alnum:]]``), not compiled here.
    ``occurrence`` (the n-th header of that name) and ``case_indep``/``start_line``
    matter only for ``search_in="hdr"``; ``variable`` only for ``search_in="var"``.
    """

    regexp: str
    assign_to: tuple[str, ...]
    search_in: SearchIn = "msg"
    header: str | None = None
    variable: str | None = None
    case_indep: bool = False
    start_line: bool = False
    occurrence: int = 1
    check_it: bool = False
    check_it_inverse: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Log(ActionBase):
    """``<log>`` (trace log), ``<warning>`` or ``<error>``: ``message`` has keywords."""

    level: Literal["log", "warning", "error"]
    message: str


ArithmeticOp: TypeAlias = Literal["assign", "add", "subtract", "multiply", "divide"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Arithmetic(ActionBase):
    """``<assign>``, ``<add>``, ``<subtract>``, ``<multiply>``, ``<divide>``.

    ``assign_to op= value`` with exactly one of ``value`` (a number) or ``variable``.
    """

    op: ArithmeticOp
    assign_to: str
    value: float | None = None
    variable: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AssignStr(ActionBase):
    """``<assignstr>``: store a string (``value`` may contain keywords)."""

    assign_to: str
    value: str


@dataclass(frozen=True, slots=True, kw_only=True)
class GetTimeOfDay(ActionBase):
    """``<gettimeofday assign_to="sec,usec">``: wall clock into two variables."""

    seconds: str
    microseconds: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Index(ActionBase):
    """``<index>``: store the index of the current scenario command."""

    assign_to: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Jump(ActionBase):
    """``<jump>``: continue at command index ``value`` or the index held in ``variable``."""

    value: float | None = None
    variable: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PauseRestore(ActionBase):
    """``<pauserestore>``: resume a paused call at index ``value``/``variable``."""

    value: float | None = None
    variable: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Sample(ActionBase):
    """``<sample>``: draw a value from ``distribution`` into ``assign_to``."""

    assign_to: str
    distribution: Distribution


@dataclass(frozen=True, slots=True, kw_only=True)
class ToDouble(ActionBase):
    """``<todouble>``: convert string ``variable`` to a number in ``assign_to``."""

    assign_to: str
    variable: str


class Compare(StrEnum):
    """``compare`` of ``<test>``."""

    EQUAL = "equal"
    NOT_EQUAL = "not_equal"
    GREATER_THAN = "greater_than"
    LESS_THAN = "less_than"
    GREATER_THAN_EQUAL = "greater_than_equal"
    LESS_THAN_EQUAL = "less_than_equal"


@dataclass(frozen=True, slots=True, kw_only=True)
class Test(ActionBase):
    """``<test>``: numeric comparison of ``variable`` with ``value`` or ``variable2``.

    ``assign_to`` (a boolean variable) may be omitted when ``check_it`` or
    ``check_it_inverse`` is set (the call then fails on a false/true result).
    """

    __test__ = False  # not a pytest test class

    variable: str
    compare: Compare
    assign_to: str | None = None
    value: float | None = None
    variable2: str | None = None
    check_it: bool = False
    check_it_inverse: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class StrCmp(ActionBase):
    """``<strcmp>``: compare string ``variable`` with ``value`` or ``variable2``.

    ``assign_to`` receives the strcmp() result (0 when equal); optional as for Test.
    """

    variable: str
    assign_to: str | None = None
    value: str | None = None
    variable2: str | None = None
    check_it: bool = False
    check_it_inverse: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyAuth(ActionBase):
    """``<verifyauth>``: check the received Authorization against username/password."""

    assign_to: str
    username: str
    password: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Lookup(ActionBase):
    """``<lookup>``: line number of ``key`` in the indexed injection file ``path``."""

    assign_to: str
    path: str
    key: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Insert(ActionBase):
    """``<insert>``: append ``value`` to injection file ``path``."""

    path: str
    value: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Replace(ActionBase):
    """``<replace>``: overwrite line ``target_line`` of injection file ``path``.

    ``target_line`` is the attribute ``line`` (a template such as ``[$index]``).
    """

    path: str
    target_line: str
    value: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SetDest(ActionBase):
    """``<setdest>``: change the call's remote address (templates, e.g. ``[$host]``)."""

    host: str
    port: str
    protocol: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CloseCon(ActionBase):
    """``<closecon>``: close the call's connection (stream transports)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Trim(ActionBase):
    """``<trim>``: strip leading/trailing whitespace of string variable ``assign_to``."""

    assign_to: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UrlEncode(ActionBase):
    """``<urlencode variable="v">``: percent-encode ``variable`` in place."""

    variable: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UrlDecode(ActionBase):
    """``<urldecode variable="v">``: percent-decode ``variable`` in place."""

    variable: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecCommand(ActionBase):
    """``<exec command="...">``: run a shell command (keywords expanded first)."""

    command: str


@dataclass(frozen=True, slots=True, kw_only=True)
class IntCmd(ActionBase):
    """``<exec int_cmd="...">``: stop this call, stop gracefully, or stop now."""

    command: Literal["stop_call", "stop_gracefully", "stop_now"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PlayPcap(ActionBase):
    """``<exec play_pcap_audio|play_pcap_image|play_pcap_video="file.pcap">``."""

    media: Literal["audio", "image", "video"]
    path: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PlayDtmf(ActionBase):
    """``<exec play_dtmf="123">``: send the digits as RTP events."""

    digits: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RtpStream(ActionBase):
    """``<exec rtp_stream="...">``: ``pause``, ``resume`` or ``file[,loops[,payload]]``."""

    value: str

    @property
    def kind(self) -> Literal["play", "pause", "resume"]:
        if self.value == "pause":
            return "pause"
        if self.value == "resume":
            return "resume"
        return "play"


@dataclass(frozen=True, slots=True, kw_only=True)
class RtpEcho(ActionBase):
    """``<rtp_echo value="1"/>``: turn RTP echo on (non-zero) or off."""

    value: float | None = None
    variable: str | None = None


RtpEchoKind: TypeAlias = Literal[
    "startaudio", "updateaudio", "stopaudio", "startvideo", "updatevideo", "stopvideo"
]
RTP_ECHO_KINDS: tuple[RtpEchoKind, ...] = (
    "startaudio",
    "updateaudio",
    "stopaudio",
    "startvideo",
    "updatevideo",
    "stopvideo",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class RtpEchoStream(ActionBase):
    """``<exec rtp_echo="startaudio,0,PCMU/8000">`` (SIPp 3.7): echo RTP of one medium.

    ``kind`` is the leading word (start/update/stop + audio/video); ``value`` the
    whole attribute, parameters included.
    """

    kind: RtpEchoKind
    value: str


Action: TypeAlias = (
    Ereg
    | Log
    | Arithmetic
    | AssignStr
    | GetTimeOfDay
    | Index
    | Jump
    | PauseRestore
    | Sample
    | ToDouble
    | Test
    | StrCmp
    | VerifyAuth
    | Lookup
    | Insert
    | Replace
    | SetDest
    | CloseCon
    | Trim
    | UrlEncode
    | UrlDecode
    | ExecCommand
    | IntCmd
    | PlayPcap
    | PlayDtmf
    | RtpStream
    | RtpEcho
    | RtpEchoStream
)
