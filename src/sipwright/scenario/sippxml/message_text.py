"""The text of ``<send>``/``<sendCmd>`` messages: SIPp's whitespace rules.

A scenario writes a message indented inside a CDATA section. SIPp normalises it
before compiling keywords, and this module does the same, so that a message here
is byte-for-byte what SIPp would compile (with ``\\n`` line ends; the keyword
compiler turns every ``\\n`` into CRLF, see :func:`to_wire_template`):

* leading and trailing spaces, tabs and newlines of the whole text are removed;
* spaces and tabs at the start and end of every line are removed;
* when the text has no empty line (no ``\\n\\n``), ``\\n\\n`` is appended, which ends
  the header section of a body-less message;
* for ``<send>`` only: when the text had trailing newlines and does not end with
  one now (a message with a body), one ``\\n`` is appended to end the last body line.

Keywords such as ``[call_id]`` and escapes such as ``\\x5B`` are left untouched.
"""

from __future__ import annotations

__all__ = [
    "StartLine",
    "clean_message",
    "message_lines",
    "parse_start_line",
    "to_wire_template",
]

_WS = " \t\n"


def clean_message(raw: str, *, for_send: bool = True) -> str:
    """Normalise the CDATA ``raw`` the way SIPp does; "" when nothing but whitespace.

    ``raw`` must already have XML line ends (``\\n``; the XML parser folds CRLF).
    """
    text = raw.lstrip(_WS)
    stripped = text.rstrip(_WS)
    removed_newlines = text[len(stripped) :].count("\n")
    text = stripped
    if not text:
        return ""
    # SIPp applies these four rewrites one after the other, each until none is
    # left; the order matters for lines indented with a mix of spaces and tabs.
    for old, new in (("\n ", "\n"), (" \n", "\n"), ("\n\t", "\n"), ("\t\n", "\n")):
        while old in text:
            text = text.replace(old, new)
    if "\n\n" not in text:
        text += "\n\n"
    if for_send and removed_newlines and not text.endswith("\n"):
        text += "\n"
    return text


def message_lines(message: str) -> list[str]:
    """The lines of a cleaned message, without line ends.

    ``"\\r\\n".join(message_lines(m))`` is the wire form of ``m`` before keyword
    substitution; the last item is ``""`` when the message ends with a line end.
    Line ``i`` (0-based) was written on source line ``Send.text_line + i``.
    """
    return message.split("\n")


def to_wire_template(message: str) -> str:
    """The cleaned message with CRLF line ends, as SIPp sends it (keywords unexpanded)."""
    return message.replace("\n", "\r\n")


class StartLine:
    """What SIPp reads from a message's first line before any keyword.

    ``method`` is the request method (None for a response) and ``status`` the
    response code (None for a request).
    """

    __slots__ = ("method", "status")

    def __init__(self, method: str | None, status: int | None) -> None:
        self.method = method
        self.status = status


def parse_start_line(message: str) -> StartLine:
    """Method or status code of a ``<send>`` message; ValueError with SIPp's reason.

    Like SIPp, the method (or ``SIP/2.0`` and the status code) must be literal
    text: a keyword there would break CSeq and transaction matching.
    """
    first = message.split("\n", 1)[0]
    literal = first.split("[", 1)[0].lstrip(" \t")
    if " " not in literal:
        raise ValueError(
            "the start line must begin with a literal method or 'SIP/2.0 <code>' "
            f"(no keyword before the first space): {first!r}"
        )
    head, rest = literal.split(" ", 1)
    if head != "SIP/2.0":
        return StartLine(head, None)
    code_text = rest.lstrip(" \t")
    digits = len(code_text) - len(code_text.lstrip("0123456789"))
    code = int(code_text[:digits]) if digits else 0
    trailing = code_text[digits:]
    if trailing and not trailing[0].isspace():
        raise ValueError(f"invalid response code in start line: {first!r}")
    if not 100 <= code <= 699:
        raise ValueError(f"response code must be 100-699 (a literal number): {first!r}")
    return StartLine(None, code)
