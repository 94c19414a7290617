"""The async user agent API: ``Agent``, registrations and calls."""

from sipwright.ua.agent import Agent
from sipwright.ua.call import CallFailed
from sipwright.ua.call_media import MediaOptions
from sipwright.ua.incoming_call import IncomingCall
from sipwright.ua.outgoing_call import OutgoingCall
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
