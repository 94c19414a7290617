"""Statistical distributions of ``<pause>`` and the ``<sample>`` action.

Values are in milliseconds for pauses. Parameter names follow SIPp's attribute
names (``lambda`` is spelled ``lambda_`` here).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, TypeAlias

__all__ = [
    "DISTRIBUTION_PARAMS",
    "Distribution",
    "Exponential",
    "Fixed",
    "Gamma",
    "GeneralizedPareto",
    "LogNormal",
    "NegativeBinomial",
    "Normal",
    "Pareto",
    "Uniform",
    "Weibull",
    "percentile_99",
]

# z such that Phi(z) = 0.99 (standard normal quantile)
_Z99 = 2.3263478740408408


@dataclass(frozen=True, slots=True)
class Fixed:
    """``distribution="fixed" value=...`` (also ``<pause milliseconds=...>``)."""

    name: ClassVar[str] = "fixed"
    value: float


@dataclass(frozen=True, slots=True)
class Uniform:
    """``distribution="uniform" min=... max=...``."""

    name: ClassVar[str] = "uniform"
    min: float
    max: float


@dataclass(frozen=True, slots=True)
class Normal:
    """``distribution="normal" mean=... stdev=...``."""

    name: ClassVar[str] = "normal"
    mean: float
    stdev: float


@dataclass(frozen=True, slots=True)
class LogNormal:
    """``distribution="lognormal" mean=... stdev=...`` (of the underlying normal)."""

    name: ClassVar[str] = "lognormal"
    mean: float
    stdev: float


@dataclass(frozen=True, slots=True)
class Exponential:
    """``distribution="exponential" mean=...``."""

    name: ClassVar[str] = "exponential"
    mean: float


@dataclass(frozen=True, slots=True)
class Weibull:
    """``distribution="weibull" lambda=... k=...``."""

    name: ClassVar[str] = "weibull"
    lambda_: float
    k: float


@dataclass(frozen=True, slots=True)
class Pareto:
    """``distribution="pareto" k=... x_m=...``."""

    name: ClassVar[str] = "pareto"
    k: float
    x_m: float


@dataclass(frozen=True, slots=True)
class GeneralizedPareto:
    """``distribution="gpareto" shape=... scale=... location=...``."""

    name: ClassVar[str] = "gpareto"
    shape: float
    scale: float
    location: float


@dataclass(frozen=True, slots=True)
class Gamma:
    """``distribution="gamma" k=... theta=...``."""

    name: ClassVar[str] = "gamma"
    k: float
    theta: float


@dataclass(frozen=True, slots=True)
class NegativeBinomial:
    """``distribution="negbin" n=... p=...``."""

    name: ClassVar[str] = "negbin"
    n: float
    p: float


Distribution: TypeAlias = (
    Fixed
    | Uniform
    | Normal
    | LogNormal
    | Exponential
    | Weibull
    | Pareto
    | GeneralizedPareto
    | Gamma
    | NegativeBinomial
)

# distribution name -> (class, attribute names in constructor order)
DISTRIBUTION_PARAMS: dict[str, tuple[type[Distribution], tuple[str, ...]]] = {
    "fixed": (Fixed, ("value",)),
    "uniform": (Uniform, ("min", "max")),
    "normal": (Normal, ("mean", "stdev")),
    "lognormal": (LogNormal, ("mean", "stdev")),
    "exponential": (Exponential, ("mean",)),
    "weibull": (Weibull, ("lambda", "k")),
    "pareto": (Pareto, ("k", "x_m")),
    "gpareto": (GeneralizedPareto, ("shape", "scale", "location")),
    "gamma": (Gamma, ("k", "theta")),
    "negbin": (NegativeBinomial, ("n", "p")),
}


def percentile_99(dist: Distribution) -> float | None:
    """The 99th percentile of ``dist``, or None where it has no closed form here.

    SIPp refuses a pause whose 99th percentile exceeds INT_MAX milliseconds unless
    ``sanity_check="false"``; the parser uses this for the same check.
    """
    try:
        match dist:
            case Fixed(value):
                return value
            case Uniform(low, high):
                return low + 0.99 * (high - low)
            case Normal(mean, stdev):
                return mean + _Z99 * stdev
            case LogNormal(mean, stdev):
                return math.exp(mean + _Z99 * stdev)
            case Exponential(mean):
                return -mean * math.log(0.01)
            case Weibull(lam, k):
                return lam * math.pow(-math.log(0.01), 1.0 / k)
            case Pareto(k, x_m):
                return x_m / math.pow(0.01, 1.0 / k)
            case _:
                return None
    except (OverflowError, ZeroDivisionError, ValueError):
        return math.inf
