"""sipwright: one tool for testing SIP/VoIP systems from the outside."""

__version__ = "0.1.0"

__all__ = ["__version__"]
