"""Typed model of a SIPp XML scenario (SIPp 3.x language).

The parser (:mod:`.parser`) builds these objects and has already checked everything
SIPp checks when it loads a scenario; an interpreter can rely on:

* every ``next``/``ontimeout`` names a label of :attr:`Scenario.labels` (or of
  :attr:`Scenario.init_labels` for the ``<init>`` commands);
* a :class:`Recv` waits for a response (``response``, or ``response_pattern``
  with ``regexp_match``) or for a ``request``, never both;
* numbers are converted (milliseconds as ``int``, percentages/values as ``float``);
* message texts are normalised like SIPp does (:mod:`.message_text`) but keywords
  (``[call_id]``, ``[$1]``, ``[last_Via:]``, ``[field0]``...) are still plain text.

All classes are frozen slotted dataclasses; commands and actions carry ``file`` and
``line`` (1-based line of the element's start tag).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, TypeAlias

from sipwright.scenario.sippxml.distributions import Distribution
from sipwright.scenario.sippxml.message_text import message_lines, to_wire_template
from sipwright.scenario.sippxml.model_actions import Action

__all__ = [
    "Command",
    "CommandBase",
    "Nop",
    "OptionalMode",
    "Pause",
    "Recv",
    "RecvCmd",
    "Scenario",
    "ScenarioError",
    "Send",
    "SendCmd",
    "ThreePccMode",
]


class ScenarioError(Exception):
    """A scenario that cannot be loaded: ``str(err)`` is ``"file:line: message"``.

    ``line`` is 1-based; 0 when the problem is not tied to a line (unreadable file).
    """

    def __init__(self, file: str, line: int, message: str) -> None:
        super().__init__(file, line, message)
        self.file = file
        self.line = line
        self.message = message

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class OptionalMode(StrEnum):
    """``optional`` of ``<recv>``/``<recvCmd>``.

    ``GLOBAL``: the message may match when received at any later point of the
    scenario, not only right after the previous mandatory step.
    """

    NO = "false"
    YES = "true"
    GLOBAL = "global"


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandBase:
    """Attributes every scenario command accepts (SIPp's "common attributes").

    ``index`` is the position in :attr:`Scenario.commands` (or :attr:`Scenario.init`).
    ``next``: label to continue at after this command; ``test``: take ``next`` only
    if that variable is set; ``chance``: probability (0..1) of taking ``next``, None
    meaning always. ``condexec``: run the command only if that variable is set
    (unset with ``condexec_inverse``). ``start_rtd``/``rtd``: name of the response
    time duration started/stopped here (``"true"`` is normalised to ``"1"``).
    ``counter``: statistics counter incremented here. ``lost``: percentage of
    messages to drop on purpose. ``hide``/``display``/``crlf``: screen display only.
    ``ontimeout``: label to go to when ``timeout`` expires (Send/Recv).
    """

    file: str
    line: int
    index: int
    next: str | None = None
    test: str | None = None
    chance: float | None = None
    condexec: str | None = None
    condexec_inverse: bool = False
    counter: str | None = None
    display: str | None = None
    start_rtd: str | None = None
    rtd: str | None = None
    repeat_rtd: bool = False
    crlf: bool = False
    hide: bool = False
    ignoresdp: bool = False
    lost: float | None = None
    ontimeout: str | None = None
    actions: tuple[Action, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Send(CommandBase):
    """``<send>``: send a SIP message (request or response).

    ``message`` is the normalised text (``\\n`` line ends, keywords unexpanded) whose
    first line was written on source line ``text_line``. ``method`` is the request
    method, or ``status`` the response code, read from the literal start line.
    ``retrans``: UDP retransmission timer T1 in ms (None: no retransmission).
    ``timeout``: ms to wait for the send to complete (stream transports).
    ``start_txn``/``ack_txn``: name of the client transaction started/ACKed here.
    """

    message: str
    text_line: int
    method: str | None = None
    status: int | None = None
    retrans: int | None = None
    timeout: int | None = None
    start_txn: str | None = None
    ack_txn: str | None = None

    @property
    def is_response(self) -> bool:
        return self.status is not None

    @property
    def lines(self) -> list[str]:
        """The message template lines (see :func:`.message_text.message_lines`)."""
        return message_lines(self.message)

    @property
    def wire_template(self) -> str:
        """The message with CRLF line ends, keywords unexpanded."""
        return to_wire_template(self.message)


@dataclass(frozen=True, slots=True, kw_only=True)
class Recv(CommandBase):
    """``<recv>``: wait for a response (``response`` code) or a request (``request``).

    ``request`` is a method name, or a POSIX regexp when ``regexp_match``. With
    ``regexp_match`` a response is matched by the regexp ``response_pattern``
    (SIPp 3.7, e.g. ``"^18.$"``); ``response`` is then the code only if the pattern
    is a plain number. :attr:`expects_response` tells responses from requests.
    ``cseq_methods``: for a response without ``response_txn``, the request methods
    sent before it in the scenario (SIPp accepts a response only if its CSeq method
    is one of them). ``timeout`` ms (None: the global default). ``rrs``: record the
    Record-Route set for ``[routes]``; ``auth``: keep the challenge for
    ``[authentication]``. ``advance_state`` False: an optional message that does not
    move the scenario forward.
    """

    response: int | None = None
    response_pattern: str | None = None
    request: str | None = None
    optional: OptionalMode = OptionalMode.NO
    advance_state: bool = True
    regexp_match: bool = False
    timeout: int | None = None
    rrs: bool = False
    auth: bool = False
    response_txn: str | None = None
    cseq_methods: tuple[str, ...] = ()

    @property
    def expects_response(self) -> bool:
        return self.request is None


@dataclass(frozen=True, slots=True, kw_only=True)
class Pause(CommandBase):
    """``<pause>`` or ``<timewait>`` (``timewait=True``, always the last command).

    The duration in ms comes from ``variable`` if set, else from ``distribution``;
    both None means SIPp's default pause (the ``-d`` option).
    """

    distribution: Distribution | None = None
    variable: str | None = None
    sanity_check: bool = True
    timewait: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Nop(CommandBase):
    """``<nop>``: no SIP traffic; runs its actions, counters and RTDs."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SendCmd(CommandBase):
    """``<sendCmd>``: send a 3PCC command (``message``, normalised) to the twin SIPp.

    ``dest`` names the peer in extended 3PCC mode (None in plain 3PCC).
    """

    message: str
    text_line: int
    dest: str | None = None

    @property
    def lines(self) -> list[str]:
        return message_lines(self.message)


@dataclass(frozen=True, slots=True, kw_only=True)
class RecvCmd(CommandBase):
    """``<recvCmd>``: wait for a 3PCC command; ``src`` names the peer (extended mode)."""

    optional: OptionalMode = OptionalMode.NO
    src: str | None = None


Command: TypeAlias = Send | Recv | Pause | Nop | SendCmd | RecvCmd

ThreePccMode: TypeAlias = Literal["none", "controller-a", "controller-b", "a-passive"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """A loaded scenario.

    ``labels`` maps a label id to the index of the command that follows it (equal to
    ``len(commands)`` for a label at the very end). ``init``/``init_labels``: the
    ``<init>`` stanza, run once before any call. ``variables``: every call variable
    the scenario names, in order of first use. ``creation_mode``: "client" when the
    first command (pauses/nops aside) sends (SIPp places calls), "server" when it
    receives. ``threepcc``: the 3PCC role implied by the first sendCmd/recvCmd.
    """

    name: str
    file: str
    commands: tuple[Command, ...]
    labels: Mapping[str, int]
    init: tuple[Nop, ...] = ()
    init_labels: Mapping[str, int]
    variables: tuple[str, ...] = ()
    global_variables: tuple[str, ...] = ()
    user_variables: tuple[str, ...] = ()
    rtds: tuple[str, ...] = ()
    counters: tuple[str, ...] = ()
    response_time_repartition: tuple[int, ...] | None = None
    call_length_repartition: tuple[int, ...] | None = None
    default_messages: Mapping[str, str]
    creation_mode: Literal["client", "server"] = "client"
    threepcc: ThreePccMode = "none"
    has_media: bool = False

    @property
    def is_uac(self) -> bool:
        """True when the scenario starts calls by itself (first real command sends)."""
        return self.creation_mode == "client"

    @property
    def init_actions(self) -> tuple[Action, ...]:
        """All actions of the ``<init>`` stanza, in order."""
        return tuple(action for nop in self.init for action in nop.actions)

    @property
    def unexpected_jump(self) -> int | None:
        """Index of label ``_unexp.main`` (where unexpected messages go), if any."""
        return self.labels.get("_unexp.main")

    def label_of(self, index: int) -> list[str]:
        """The labels placed right before command ``index``."""
        return [name for name, at in self.labels.items() if at == index]
