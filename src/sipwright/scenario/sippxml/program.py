"""A scenario made ready to run: message templates compiled once, run-wide settings,
and the checks for what this interpreter does not run yet (one clear error naming
the file and line, rather than a call that silently does something else)."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sipwright.media.errors import MediaError
from sipwright.scenario.sippxml.distributions import (
    Distribution,
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
from sipwright.scenario.sippxml.keywords import CompileOptions, Template, compile_template
from sipwright.scenario.sippxml.model import RecvCmd, Scenario, ScenarioError, Send, SendCmd
from sipwright.scenario.sippxml.model_actions import (
    Arithmetic,
    AssignStr,
    Ereg,
    ExecCommand,
    GetTimeOfDay,
    Index,
    Insert,
    IntCmd,
    Jump,
    Log,
    Lookup,
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
from sipwright.scenario.sippxml.scenario_media import load_capture, parse_stream, stream_audio

__all__ = ["SUPPORTED_ACTIONS", "Program", "RunSettings", "sample"]

# Actions this interpreter runs today; others are refused when the scenario loads.
SUPPORTED_ACTIONS = (
    Ereg, Log, Arithmetic, AssignStr, Test, StrCmp, Jump, IntCmd, ToDouble,
    PlayPcap, RtpEcho, RtpEchoStream, GetTimeOfDay, Index, Sample, Trim, UrlEncode,
    UrlDecode, VerifyAuth, ExecCommand, SetDest, Lookup, Insert, Replace, RtpStream,
)  # fmt: skip
# Where Debian's sip-tester puts SIPp's own captures (pcap/g711a.pcap ...): used when
# a scenario's relative capture path does not exist from the working directory.
SIPP_PCAP_DIR = Path("/usr/share/sip-tester")


def find_capture(path: str) -> Path:
    """A play_pcap_audio file: as written (relative to the working directory, as
    SIPp reads it), else SIPp's installed copy of the same name."""
    given = Path(path)
    if given.exists() or given.is_absolute():
        return given
    installed = SIPP_PCAP_DIR / given.name
    return installed if installed.exists() else given


@dataclass(frozen=True, slots=True)
class RunSettings:
    """Command-line values the calls need (SIPp defaults)."""

    default_pause: float = 0.0  # -d, seconds
    recv_timeout: float | None = None  # -recv_timeout, seconds
    max_invite_retrans: int = 5  # -max_invite_retrans
    max_non_invite_retrans: int = 7  # -max_non_invite_retrans
    t2: float = 4.0  # -T2, seconds
    reliable: bool = False  # TCP/TLS/WS: no retransmissions
    no_retrans: bool = False  # -nr
    auto_answer: bool = False  # -aa
    default_behaviors: bool = True  # off with -nd


@dataclass(slots=True)
class Program:
    scenario: Scenario
    settings: RunSettings
    templates: dict[int, Template] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        scenario: Scenario,
        settings: RunSettings,
        *,
        generic: Mapping[str, str] | None = None,
        injection_files: list[str] | None = None,
    ) -> Program:
        """Compile every ``<send>`` once; raises ``ScenarioError``/``KeywordError``."""
        program = cls(scenario, settings)
        options = CompileOptions(generic=dict(generic or {}), injection_files=injection_files)
        for index, command in enumerate(scenario.commands):
            peer = command.dest if isinstance(command, SendCmd) else None
            peer = command.src if isinstance(command, RecvCmd) else peer
            if peer:
                raise ScenarioError(
                    command.file, command.line, "extended 3PCC (dest/src peers) is not supported"
                )
            for action in command.actions:
                if not isinstance(action, SUPPORTED_ACTIONS):
                    name = type(action).__name__
                    raise ScenarioError(
                        action.file, action.line, f"action {name} not supported yet"
                    )
                if isinstance(action, PlayPcap):
                    _check_capture(action)
                if isinstance(action, RtpStream) and action.kind == "play":
                    _check_stream(action)
            if isinstance(command, Send):
                program.templates[index] = compile_template(
                    command.message, filename=command.file, line=command.text_line, options=options
                )
            elif isinstance(command, SendCmd):
                # A twin command is a SIP fragment (headers and maybe a body), not a
                # message: no start line to check.
                program.templates[index] = compile_template(
                    command.message,
                    filename=command.file,
                    line=command.text_line,
                    options=options,
                    fragment=True,
                )
        return program


def sample(distribution: Distribution, rng: random.Random) -> float:
    """A value in milliseconds drawn from a pause distribution (never negative)."""
    value: float
    match distribution:
        case Fixed(value=value):
            pass
        case Uniform(min=low, max=high):
            value = rng.uniform(low, high)
        case Normal(mean=mean, stdev=stdev):
            value = rng.gauss(mean, stdev)
        case LogNormal(mean=mean, stdev=stdev):
            value = rng.lognormvariate(mean, stdev)
        case Exponential(mean=mean):
            value = rng.expovariate(1 / mean) if mean > 0 else 0.0
        case Weibull(lambda_=scale, k=shape):
            value = rng.weibullvariate(scale, shape)
        case Pareto(k=shape, x_m=scale):
            value = scale * rng.paretovariate(shape)
        case GeneralizedPareto(shape=shape, scale=scale, location=location):
            u = rng.random()
            value = location + scale * ((1 - u) ** -shape - 1) / shape if shape else location
        case Gamma(k=shape, theta=scale):
            value = rng.gammavariate(shape, scale)
        case NegativeBinomial(n=n, p=p):
            # A gamma-Poisson mixture gives negative binomial counts.
            rate = rng.gammavariate(n, (1 - p) / p) if 0 < p < 1 else 0.0
            value = _poisson(rate, rng)
    return max(0.0, value) if math.isfinite(value) else 0.0


def _poisson(mean: float, rng: random.Random) -> float:
    if mean <= 0:
        return 0.0
    if mean > 500:  # normal approximation for large means
        return max(0.0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return float(count)


def _check_capture(action: PlayPcap) -> None:
    """Audio and video captures are played; a missing or unreadable file fails at load."""
    if action.media == "image":
        raise ScenarioError(action.file, action.line, "play_pcap_image (T.38) is not supported")
    try:
        load_capture(str(find_capture(action.path)))
    except MediaError as error:
        raise ScenarioError(
            action.file, action.line, f"play_pcap_{action.media}: {error}"
        ) from None


def _check_stream(action: RtpStream) -> None:
    """rtp_stream's file and payload type are checked when the scenario loads."""
    try:
        stream_audio(str(parse_stream(action.value).path))
    except MediaError as error:
        raise ScenarioError(action.file, action.line, str(error)) from None
