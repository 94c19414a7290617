"""What one run of a SIPp scenario is told by the command line."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from sipwright.load.scheduler import RateSettings

__all__ = ["EngineSettings"]


@dataclass(frozen=True, slots=True)
class EngineSettings:
    transport: str  # udp | tcp | tls | ws | wss
    local_ip: str
    local_port: int
    remote: tuple[str, int] | None
    rate: RateSettings
    service: str = "service"
    call_id_format: str = "%u-%p@%s"
    base_cseq: int = 1
    global_timeout: float | None = None
    timeout_error: bool = False
    auto_answer: bool = False
    auth_username: str | None = None
    auth_password: str = "password"
    media_ip: str | None = None
    media_port: int = 6000
    stat_file: Path | None = None
    stat_period: float = 60.0
    message_file: Path | None = None
    seed: int | None = None
    client_ssl: ssl.SSLContext | None = None
    server_ssl: ssl.SSLContext | None = None
    stats_json: Path | None = None
    rate_quit: bool = True  # stop once a ramp passes -rate_max (-no_rate_quit: go on)
    twin: tuple[str, int] | None = None  # -3pcc host:port
    error_file: Path | None = None  # -trace_err
    screen_file: Path | None = None  # -trace_screen
    rtt_file: Path | None = None  # -trace_rtt: every rtd sample
    log_file: Path | None = None  # -trace_logs: <log> actions
    rtp_echo: bool = False  # -rtp_echo: echo RTP arriving at media_ip:media_port
    send_to: tuple[str, int] | None = None  # -rsa: where messages go (default: remote)
    worker_index: int = 0  # --workers: this process's share (0..count-1)
    worker_count: int = 1
