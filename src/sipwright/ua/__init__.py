"""The async user agent API: ``Agent``, registrations and calls."""

from sipwright.ua.agent import Agent
from sipwright.ua.call import CallFailed, IncomingCall, OutgoingCall
from sipwright.ua.call_media import MediaOptions
from sipwright.ua.record import CallRecord
from sipwright.ua.registration import Registration, RegistrationFailed

__all__ = [
    "Agent",
    "CallFailed",
    "CallRecord",
    "IncomingCall",
    "MediaOptions",
    "OutgoingCall",
    "Registration",
    "RegistrationFailed",
]
