"""Forking: the dialogs one outgoing INVITE creates (RFC 3261 §12.1.2, §13.2.2.4).

A forking proxy can send the INVITE to several phones; each answers with its own To
tag, so each 1xx/2xx with a new tag is a new dialog.  ``UacDialogSet`` keeps them
apart, promotes the first one that gets a 2xx, says which other early dialogs have
no future, flags later 2xx from other forks (they must be ACKed, then ended with
BYE) and ends the leftover early dialogs 64*T1 after the first 2xx, when the UAC
core considers the INVITE complete.  Sans-I/O: that timer takes ``now``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sipwright.sip.dialog import Dialog, DialogId, DialogState, dialog_id_for_response
from sipwright.sip.errors import ProtocolError
from sipwright.sip.message import Request, Response

__all__ = ["ForkOutcome", "UacDialogSet"]

# RFC 3261 §17.1.1.1 default T1; the INVITE is complete 64*T1 after the first 2xx.
_T1 = 0.5


@dataclass(frozen=True, slots=True)
class ForkOutcome:
    """What one response to the INVITE did to the dialog set.

    ``dialog``: the dialog it created or updated (``None`` for a response that
    makes none, e.g. 100 Trying or a 1xx without To tag).  ``created``: it is new.
    ``surplus``: a 2xx confirmed a dialog after another one was already confirmed;
    the caller must ACK it and then, if it keeps only one call, send BYE
    (§13.2.2.4).  ``to_terminate``: early dialogs that this response leaves
    without a future: after the first 2xx, the other early dialogs (the caller may
    BYE them, §15, or let them lapse when the INVITE completes 64*T1 later);
    after a non-2xx final response, all early dialogs, already marked terminated
    (§12.3).
    """

    dialog: Dialog | None
    created: bool = False
    surplus: bool = False
    to_terminate: tuple[Dialog, ...] = ()


class UacDialogSet:
    """The dialogs created by the responses to one outgoing INVITE.

    Each distinct To tag in a 1xx or 2xx is a separate dialog (§12.1.2).  The first
    2xx makes its dialog ``primary``; 64*T1 after it the INVITE is complete and
    the early dialogs still left are terminated (§13.2.2.4): see ``next_timer`` and
    ``handle_timer``.
    """

    __slots__ = ("_completes_at", "_t1", "dialogs", "invite", "primary")

    def __init__(self, invite: Request, *, t1: float = _T1) -> None:
        if invite.method != "INVITE":
            raise ValueError(f"a dialog set follows an INVITE, not {invite.method}")
        self.invite = invite
        self.dialogs: dict[DialogId, Dialog] = {}
        self.primary: Dialog | None = None
        self._t1 = t1
        self._completes_at: float | None = None

    @property
    def early_dialogs(self) -> list[Dialog]:
        return [d for d in self.dialogs.values() if d.state is DialogState.EARLY]

    @property
    def confirmed_dialogs(self) -> list[Dialog]:
        return [d for d in self.dialogs.values() if d.state is DialogState.CONFIRMED]

    @property
    def completed(self) -> bool:
        """64*T1 have passed since the first 2xx: no new 2xx is expected."""
        return self._completes_at is None and self.primary is not None

    def receive_response(self, response: Response, now: float) -> ForkOutcome:
        """Route one response to the INVITE to its dialog, creating it if needed."""
        cseq = response.cseq
        invite = self.invite
        if (
            response.call_id != invite.call_id
            or response.from_tag != invite.from_tag
            or (cseq.number, cseq.method) != (invite.cseq.number, "INVITE")
        ):
            raise ProtocolError("response does not belong to this INVITE")
        status = response.status
        if status >= 300:
            return self._failed()
        if status == 100 or (status < 200 and response.to_tag is None):
            return ForkOutcome(None)  # §12.1: no To tag, no dialog
        dialog_id = dialog_id_for_response(response)
        dialog = self.dialogs.get(dialog_id)
        created = dialog is None or dialog.state is DialogState.TERMINATED
        if dialog is None or dialog.state is DialogState.TERMINATED:
            dialog = Dialog.from_uac(self.invite, response)
            self.dialogs[dialog_id] = dialog
        else:
            dialog.receive_response(response)
        if status < 200:
            return ForkOutcome(dialog, created=created)
        if self.primary is None:
            self.primary = dialog
            self._completes_at = now + 64 * self._t1
            others = tuple(d for d in self.early_dialogs if d is not dialog)
            return ForkOutcome(dialog, created=created, to_terminate=others)
        # A 2xx retransmission of the primary is not surplus; another fork's is.
        return ForkOutcome(dialog, created=created, surplus=dialog is not self.primary)

    def _failed(self) -> ForkOutcome:
        # §12.3: a non-2xx final response ends every early dialog of the request.
        ended = tuple(self.early_dialogs)
        for dialog in ended:
            dialog.terminate()
        return ForkOutcome(None, to_terminate=ended)

    def next_timer(self) -> float | None:
        """When ``handle_timer`` must be called next (64*T1 after the first 2xx)."""
        return self._completes_at

    def handle_timer(self, now: float) -> list[Dialog]:
        """Complete the INVITE if its time has come; returns the early dialogs ended."""
        if self._completes_at is None or now < self._completes_at:
            return []
        self._completes_at = None
        ended = self.early_dialogs
        for dialog in ended:
            dialog.terminate()
        return ended
