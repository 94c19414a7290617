"""Call quality estimate: a simplified ITU-T G.107 E-model for G.711.

R = R0 - Is - Id - Ie,eff + A with the G.107 defaults (R0 - Is = 93.2, A = 0):
- Ie,eff = Ie + (95 - Ie) * Ppl / (Ppl / BurstR + Bpl)  (G.107 §3.5), with G.113
  Appendix I's values for G.711: Ie = 0 and Bpl = 25.1 (with packet loss
  concealment) or 4.3 (without); random loss, BurstR = 1.
- Id from the one-way delay Ta (ms) with the usual approximation of G.107's delay
  curve (Cole & Rosenbluth 2001): 0.024 Ta + 0.11 (Ta - 177.3) for Ta > 177.3.
- MOS from R as in G.107 Annex B.
The mouth-to-ear delay is the network latency (half the RTCP round trip) plus a jitter
buffer taken as twice the measured jitter plus one packet.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Quality", "estimate", "mos_from_r", "r_factor"]

_R_DEFAULT = 93.2  # G.107 Table 3 defaults: Ro - Is - Idte... with A = 0


def r_factor(loss: float, delay_ms: float, *, plc: bool = True, burst_ratio: float = 1.0) -> float:
    """R for G.711 with ``loss`` (0-1) packet loss and one-way delay ``delay_ms``."""
    ie, bpl = 0.0, 25.1 if plc else 4.3
    ppl = max(0.0, min(1.0, loss)) * 100.0
    ie_eff = ie + (95.0 - ie) * ppl / (ppl / burst_ratio + bpl)
    delay = max(0.0, delay_ms)
    idd = 0.024 * delay + (0.11 * (delay - 177.3) if delay > 177.3 else 0.0)
    return _R_DEFAULT - idd - ie_eff


def mos_from_r(r: float) -> float:
    """G.107 Annex B: the estimated mean opinion score (conversational) for R."""
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    return 1.0 + 0.035 * r + 7e-6 * r * (r - 60.0) * (100.0 - r)


@dataclass(frozen=True, slots=True)
class Quality:
    r: float
    mos: float
    delay_ms: float


def estimate(
    loss: float, jitter_ms: float, rtt_ms: float | None, *, ptime_ms: float = 20.0
) -> Quality:
    """R and MOS from what a call measured (RTT unknown: latency taken as 0)."""
    latency = (rtt_ms or 0.0) / 2.0
    delay = latency + 2.0 * jitter_ms + ptime_ms
    r = r_factor(loss, delay)
    return Quality(round(r, 2), round(mos_from_r(r), 2), round(delay, 2))
