"""SIPp XML scenarios: parse them into a typed, validated model.

>>> from sipwright.scenario.sippxml import load_builtin
>>> load_builtin("uac").is_uac
True

Public API: :func:`parse_scenario`, :func:`parse_scenario_text`, :func:`load_builtin`
and :data:`BUILTIN` (SIPp's embedded scenarios, rewritten), :class:`ScenarioError`,
the model classes (:mod:`.model`, :mod:`.model_actions`, :mod:`.distributions`) and
the message text helpers (:mod:`.message_text`).
"""

from sipwright.scenario.sippxml.builtin import BUILTIN, load_builtin
from sipwright.scenario.sippxml.distributions import Distribution
from sipwright.scenario.sippxml.message_text import (
    clean_message,
    message_lines,
    to_wire_template,
)
from sipwright.scenario.sippxml.model import (
    Command,
    CommandBase,
    Nop,
    OptionalMode,
    Pause,
    Recv,
    RecvCmd,
    Scenario,
    ScenarioError,
    Send,
    SendCmd,
    ThreePccMode,
)
from sipwright.scenario.sippxml.model_actions import Action
from sipwright.scenario.sippxml.parser import parse_scenario, parse_scenario_text

__all__ = [
    "BUILTIN",
    "Action",
    "Command",
    "CommandBase",
    "Distribution",
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
    "clean_message",
    "load_builtin",
    "message_lines",
    "parse_scenario",
    "parse_scenario_text",
    "to_wire_template",
]
