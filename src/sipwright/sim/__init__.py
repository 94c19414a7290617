"""Run SIP elements built on the sans-I/O core over a simulated network and clock."""

from sipwright.sim.calls import Callee, Caller, CallRecord
from sipwright.sim.network import SimEndpoint, SimNetwork

__all__ = ["CallRecord", "Callee", "Caller", "SimEndpoint", "SimNetwork"]
