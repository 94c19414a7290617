"""SIPp's command line, read the way SIPp 3.6/3.7 reads it.

SIPp options are single-dash words (``-sf file``, ``-trace_stat``), some taking one
value, ``-key``/``-set``/``-infindex`` taking two, and the remote host is the one
word that is not an option.  Durations carry SIPp's units: a bare number means the
option's default unit (milliseconds for ``-d``, seconds for ``-timeout``...), and a
suffix ``ms``, ``s``, ``m`` or ``h`` overrides it.  Bad input is one
``SippUsageError`` naming the option, which the command prints as one line and
exits 1 with, as SIPp does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["OPTIONS", "SippOptions", "SippUsageError", "parse_duration", "parse_sipp_args"]

Kind = Literal["flag", "int", "float", "str", "ms", "s", "bool", "pair", "list", "trans"]

# name -> kind.  "ms"/"s": a duration whose bare number is in milliseconds/seconds.
# "list": repeatable single value; "pair": two values (repeatable).
OPTIONS: dict[str, Kind] = {
    # scenario
    "sd": "str", "sf": "list", "sn": "str", "oocsf": "str", "oocsn": "str",
    # transport and addresses
    "t": "trans", "i": "str", "p": "int", "bind_local": "flag", "ci": "str", "cp": "int",
    "max_socket": "int", "max_reconnect": "int", "reconnect_close": "bool",
    "reconnect_sleep": "ms", "rsa": "str", "buff_size": "int", "sendbuffer_warn": "bool",
    "multihome": "str", "heartbeat": "ms", "assocmaxret": "int", "pathmaxret": "int",
    "pmtu": "int", "gracefulclose": "bool",
    # process
    "v": "flag", "bg": "flag", "nostdin": "flag", "plugin": "str", "sleep": "s",
    "skip_rlimit": "flag",
    # call behaviour
    "lost": "float", "key": "pair", "set": "pair", "tdmmap": "str", "dynamicStart": "int",
    "dynamicMax": "int", "dynamicStep": "int", "aa": "flag", "base_cseq": "int",
    "cid_str": "str", "d": "ms", "deadcall_wait": "ms", "auth_uri": "str", "au": "str",
    "ap": "str", "s": "str", "default_behaviors": "str", "nd": "flag",
    "pause_msg_ign": "flag", "callid_slash_ign": "flag",
    # injection
    "inf": "list", "infindex": "pair", "ip_field": "int",
    # media
    "mi": "str", "rtp_echo": "flag", "mb": "int", "mp": "int", "rtp_payload": "int",
    "rtp_threadtasks": "int", "rtp_buffsize": "int",
    # load
    "r": "float", "rp": "ms", "rate_scale": "float", "rate_increase": "float",
    "rate_max": "float", "rate_interval": "s", "no_rate_quit": "flag", "l": "int",
    "m": "int", "users": "int",
    # timeouts and retransmissions
    "recv_timeout": "ms", "send_timeout": "ms", "timeout": "s", "timeout_error": "flag",
    "max_retrans": "int", "max_invite_retrans": "int", "max_non_invite_retrans": "int",
    "nr": "flag", "rtcheck": "str", "T2": "ms",
    # 3PCC
    "3pcc": "str", "master": "str", "slave": "str", "slave_cfg": "str",
    # scheduling and watchdog
    "timer_resol": "ms", "max_recv_loops": "int", "max_sched_loops": "int",
    "watchdog_interval": "ms", "watchdog_reset": "ms", "watchdog_minor_threshold": "ms",
    "watchdog_major_threshold": "ms", "watchdog_major_maxtriggers": "int",
    "watchdog_minor_maxtriggers": "int",
    # statistics and traces
    "f": "s", "trace_stat": "flag", "stat_delimiter": "str", "stf": "str", "fd": "s",
    "periodic_rtd": "flag", "trace_msg": "flag", "message_file": "str",
    "message_overwrite": "bool", "trace_shortmsg": "flag", "shortmessage_file": "str",
    "shortmessage_overwrite": "bool", "trace_counts": "flag", "trace_err": "flag",
    "error_file": "str", "error_overwrite": "bool", "trace_error_codes": "flag",
    "trace_calldebug": "flag", "calldebug_file": "str", "calldebug_overwrite": "bool",
    "trace_screen": "flag", "screen_file": "str", "screen_overwrite": "bool",
    "trace_rtt": "flag", "rtt_freq": "int", "trace_logs": "flag", "log_file": "str",
    "log_overwrite": "bool", "ringbuffer_files": "int", "ringbuffer_size": "int",
    "max_log_size": "int",
    # TLS: SIPp's certificate options, and sipwright's own for verifying the peer
    # (verification is on by default; -tls_insecure turns it off explicitly).
    "tls_cert": "str", "tls_key": "str", "tls_crl": "str", "tls_version": "str",
    "tls_ca": "str", "tls_insecure": "flag",
    # sipwright: the -trace_stat numbers as JSON (--stats-json FILE).
    "-stats-json": "str",
    # sipwright's load engine: worker processes, live display, reports, Prometheus.
    "-workers": "int", "-report-json": "str", "-report-html": "str",
    "-prometheus-port": "int", "-live": "flag", "-no-live": "flag",
    # internal: how the coordinator starts a worker (index/count, shared start, pipe fd,
    # -trace_stat dumps into the pipe)
    "-worker": "str", "-worker-start": "float", "-worker-fd": "int", "-worker-stat": "flag",
}  # fmt: skip

# SIPp's -t values (u1 one UDP socket, un one per call, ui one per IP, t1/tn TCP,
# l1/ln TLS) plus what SIPp cannot do: WebSocket (issue: -t w1/ws/wss).
TRANSPORTS = {
    "u1": "udp", "un": "udp", "ui": "udp", "t1": "tcp", "tn": "tcp", "l1": "tls",
    "ln": "tls", "c1": "sctp", "cn": "sctp", "w1": "ws", "ws": "ws", "wss": "wss",
}  # fmt: skip

_DURATION_RE = re.compile(r"([0-9]+(?:\.[0-9]*)?)(ms|s|m|h)?")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class SippUsageError(Exception):
    """A malformed SIPp command line (one line for the user, exit code 1)."""


def parse_duration(text: str, default_unit: str, option: str) -> float:
    """A SIPp duration in seconds: ``10`` (default unit), ``10ms``, ``2s``, ``1m``."""
    match = _DURATION_RE.fullmatch(text.strip())
    if match is None:
        raise SippUsageError(f'-{option}, "{text}" is not a valid time')
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2) or default_unit]


@dataclass
class SippOptions:
    """The parsed command line: ``values`` by option name, plus the remote host."""

    values: dict[str, object] = field(default_factory=dict)
    remote: str | None = None
    given: list[str] = field(default_factory=list)  # option names in command-line order

    def get(self, name: str, default: object = None) -> object:
        return self.values.get(name, default)

    # Typed accessors: the parser already checked each value against its kind.
    def flag(self, name: str) -> bool:
        return bool(self.values.get(name, False))

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.values.get(name)
        return default if value is None else str(value)

    def number(self, name: str, default: float | None = None) -> float | None:
        value = self.values.get(name)
        return default if not isinstance(value, int | float) else float(value)

    def integer(self, name: str, default: int | None = None) -> int | None:
        value = self.values.get(name)
        return default if not isinstance(value, int) or isinstance(value, bool) else value

    def pairs(self, name: str) -> list[tuple[str, str]]:
        value = self.values.get(name, [])
        return (
            [pair for pair in value if isinstance(pair, tuple)] if isinstance(value, list) else []
        )

    @property
    def transport(self) -> str:
        """sipwright's transport name for ``-t`` (default u1, UDP)."""
        return TRANSPORTS[str(self.values.get("t", "u1"))]

    @property
    def scenario_files(self) -> list[str]:
        value = self.values.get("sf", [])
        return list(value) if isinstance(value, list) else []

    @property
    def remote_host_port(self) -> tuple[str, int | None] | None:
        if self.remote is None:
            return None
        text = self.remote
        if text.startswith("["):
            host, _, rest = text[1:].partition("]")
            return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
        host, colon, port = text.rpartition(":")
        if colon and port.isdigit() and ":" not in host:
            return host, int(port)
        return text, None


def _value(name: str, kind: Kind, text: str) -> object:
    if kind == "int":
        try:
            return int(text, 0)
        except ValueError:
            raise SippUsageError(f'-{name}, "{text}" is not a valid integer!') from None
    if kind == "float":
        try:
            return float(text)
        except ValueError:
            raise SippUsageError(f'-{name}, "{text}" is not a floating point number!') from None
    if kind == "bool":
        lowered = text.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise SippUsageError(f'-{name}, "{text}" is not a valid boolean!')
    if kind == "ms":
        return parse_duration(text, "ms", name)
    if kind == "s":
        return parse_duration(text, "s", name)
    if kind == "trans":
        if text not in TRANSPORTS:
            known = ", ".join(TRANSPORTS)
            raise SippUsageError(f'-t, "{text}" is not a valid transport mode ({known})')
        return text
    return text


def parse_sipp_args(argv: list[str]) -> SippOptions:
    """Read a SIPp command line (everything after ``sipwright sipp``)."""
    options = SippOptions()
    i = 0
    while i < len(argv):
        word = argv[i]
        if not word.startswith("-") or word == "-":
            if options.remote is not None:
                raise SippUsageError(f"Invalid argument: '{word}' (only one remote host)")
            options.remote = word
            i += 1
            continue
        name = word[1:]
        kind = OPTIONS.get(name)
        if kind is None:
            raise SippUsageError(f"Invalid argument: '{word}'.")
        options.given.append(name)
        if kind == "flag":
            options.values[name] = True
            i += 1
            continue
        needed = 2 if kind == "pair" else 1
        args = argv[i + 1 : i + 1 + needed]
        # A value may start with "-" (a negative number), but not be another option.
        if len(args) < needed or any(a.startswith("-") and a[1:] in OPTIONS for a in args):
            raise SippUsageError(f"Missing argument for param '{word}'.")
        if kind == "pair":
            pairs = options.values.setdefault(name, [])
            assert isinstance(pairs, list)
            pairs.append((args[0], args[1]))
        elif kind == "list":
            items = options.values.setdefault(name, [])
            assert isinstance(items, list)
            items.append(args[0])
        else:
            options.values[name] = _value(name, kind, args[0])
        i += 1 + needed
    if "sf" in options.values and "sn" in options.values:
        raise SippUsageError("-sf and -sn cannot be used together")
    return options
