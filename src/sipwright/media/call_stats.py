"""The per-call media figures that go into call records and reports."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["DetectedDigit", "MediaStats"]


@dataclass(frozen=True, slots=True)
class DetectedDigit:
    digit: str
    at: float  # event-loop time when it was detected
    method: str  # "rfc4733" | "info" | "inband"


@dataclass(slots=True)
class MediaStats:
    """A snapshot of one call's media; loss and jitter are what we measured receiving,
    ``remote_*`` what the peer reported about our stream in its RTCP (RFC 3550 §6.4)."""

    codec: str = ""
    srtp_suite: str | None = None
    local_address: str = ""
    remote_address: str = ""
    packets_sent: int = 0
    bytes_sent: int = 0
    packets_received: int = 0
    bytes_received: int = 0
    packets_expected: int = 0
    packets_lost: int = 0
    loss: float = 0.0  # fraction 0-1
    jitter_ms: float = 0.0
    max_jitter_ms: float = 0.0
    rtt_ms: float | None = None
    remote_loss: float | None = None
    remote_jitter_ms: float | None = None
    r_factor: float | None = None
    mos: float | None = None
    srtp_auth_failures: int = 0
    malformed: int = 0
    rtcp_sent: int = 0
    rtcp_received: int = 0
    late_sends: int = 0  # packets sent more than 5 ms after their deadline
    digits: list[DetectedDigit] = field(default_factory=list)

    def to_dict(self, started: float = 0.0) -> dict[str, Any]:
        data = asdict(self)
        data["digits"] = [
            {"digit": d.digit, "after": round(d.at - started, 6), "method": d.method}
            for d in self.digits
        ]
        for key in ("loss", "jitter_ms", "max_jitter_ms", "rtt_ms", "remote_jitter_ms"):
            if isinstance(data[key], float):
                data[key] = round(data[key], 4 if key == "loss" else 3)
        return data
