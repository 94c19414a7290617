"""The record every call leaves behind, for reports and exit codes.

Times are the event loop's monotonic clock (seconds) plus the wall-clock start, so
durations are exact and the start can still be shown as a date.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sipwright.media.call_stats import DetectedDigit, MediaStats

__all__ = ["CallEvent", "CallRecord"]


@dataclass(frozen=True, slots=True)
class CallEvent:
    """One message of the call: when, which way, and its first line."""

    at: float
    direction: str  # "sent" | "received" (messages), "dtmf" (a digit detected), ...
    summary: str


@dataclass(slots=True)
class CallRecord:
    """Everything a report needs about one call (RFC 6076 names where they exist)."""

    call_id: str
    direction: str  # "outgoing" | "incoming"
    local_uri: str
    remote_uri: str
    transport: str
    started: float  # loop time of the INVITE
    started_wall: float = field(default_factory=time.time)
    ringing: float | None = None  # first 18x
    answered: float | None = None  # 2xx
    ended: float | None = None
    final_status: int | None = None
    final_reason: str = ""
    ended_by: str | None = None  # "local" | "remote" | "cancel" | "error"
    errors: list[str] = field(default_factory=list)
    events: list[CallEvent] = field(default_factory=list)
    digits: list[DetectedDigit] = field(default_factory=list)  # DTMF we detected
    media: MediaStats | None = None  # RTP figures, from when the call ended

    @property
    def post_dial_delay(self) -> float | None:
        """Time to the first ringing (RFC 6076 §4.1 PDD, here to the first 18x)."""
        return None if self.ringing is None else self.ringing - self.started

    @property
    def setup_time(self) -> float | None:
        """INVITE to 2xx (RFC 6076 §4.2 session request delay for successes)."""
        return None if self.answered is None else self.answered - self.started

    @property
    def talk_time(self) -> float | None:
        if self.answered is None or self.ended is None:
            return None
        return self.ended - self.answered

    @property
    def succeeded(self) -> bool:
        return self.answered is not None and not self.errors

    def digit(self, detected: DetectedDigit) -> None:
        self.digits.append(detected)
        self.note(detected.at, "dtmf", f"{detected.digit} ({detected.method})")

    def note(self, at: float, direction: str, summary: str) -> None:
        self.events.append(CallEvent(at, direction, summary))

    def to_dict(self) -> dict[str, Any]:
        def rel(value: float | None) -> float | None:
            return None if value is None else round(value - self.started, 6)

        return {
            "call_id": self.call_id,
            "direction": self.direction,
            "local_uri": self.local_uri,
            "remote_uri": self.remote_uri,
            "transport": self.transport,
            "started": self.started_wall,
            "ringing_after": rel(self.ringing),
            "answered_after": rel(self.answered),
            "ended_after": rel(self.ended),
            "final_status": self.final_status,
            "final_reason": self.final_reason,
            "ended_by": self.ended_by,
            "pdd": self.post_dial_delay,
            "setup_time": self.setup_time,
            "talk_time": self.talk_time,
            "errors": list(self.errors),
            "dtmf": [
                {"digit": d.digit, "after": round(d.at - self.started, 6), "method": d.method}
                for d in self.digits
            ],
            "media": None if self.media is None else self.media.to_dict(self.started),
            "events": [
                {
                    "after": round(e.at - self.started, 6),
                    "direction": e.direction,
                    "message": e.summary,
                }
                for e in self.events
            ],
        }
