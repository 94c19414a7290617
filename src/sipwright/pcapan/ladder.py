"""Ladder (sequence) diagrams of SIP messages, as text and as HTML in which a click
on an arrow shows the whole message (what sngrep shows in a terminal)."""

from __future__ import annotations

import html
from collections.abc import Sequence

from sipwright.pcapan.sip_messages import SipPacket

__all__ = ["ladder_html", "ladder_text", "participants"]

COLUMN = 30


def _name(address: tuple[str, int]) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def participants(messages: Sequence[SipPacket]) -> list[str]:
    """The addresses in the order they first appear."""
    seen: list[str] = []
    for packet in messages:
        for address in (packet.source, packet.destination):
            name = _name(address)
            if name not in seen:
                seen.append(name)
    return seen


def ladder_text(messages: Sequence[SipPacket]) -> str:
    columns = participants(messages)
    if not columns:
        return ""
    width = COLUMN * (len(columns) - 1) + 1
    header = "           " + "".join(name[: COLUMN - 1].ljust(COLUMN) for name in columns)
    lines = [header.rstrip()]
    start = messages[0].time
    for packet in messages:
        left = columns.index(_name(packet.source))
        right = columns.index(_name(packet.destination))
        row = [" "] * width
        for index in range(len(columns)):
            row[index * COLUMN] = "|"
        low, high = sorted((left * COLUMN, right * COLUMN))
        for position in range(low + 1, high):
            row[position] = "-"
        if high > low:
            if right > left:
                row[high - 1] = ">"
            else:
                row[low + 1] = "<"
        label = f" {packet.short_label} "[: max(0, high - low - 4)]
        at = low + 2 + max(0, (high - low - 3 - len(label)) // 2)
        row[at : at + len(label)] = label
        lines.append(f"{packet.time - start:9.3f}  " + "".join(row).rstrip())
    return "\n".join(lines) + "\n"


_STYLE = """
body { font-family: sans-serif; margin: 1em; }
table { border-collapse: collapse; }
th { font-family: monospace; padding: 0 1em; text-align: center; }
td { padding: 2px 0; font-family: monospace; white-space: nowrap; }
td.time { padding-right: 1em; color: #555; text-align: right; }
td.lane { border-left: 1px solid #999; }
.arrow { cursor: pointer; text-align: center; border-bottom: 2px solid #2a6; }
.arrow.back { border-bottom-color: #26a; }
.arrow:hover { background: #eef; }
pre.msg { display: none; background: #f6f6f6; border: 1px solid #ccc; padding: .5em; }
pre.msg.open { display: block; }
"""

_SCRIPT = """
function toggle(n) { document.getElementById('m' + n).classList.toggle('open'); }
"""


def ladder_html(messages: Sequence[SipPacket], title: str = "SIP flow") -> str:
    """A self-contained page: one column per address, one arrow per message; click
    an arrow to show (or hide) the message under the diagram row."""
    columns = participants(messages)
    out = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style><script>{_SCRIPT}</script></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<table><tr><th></th>" + "".join(f"<th>{html.escape(c)}</th>" for c in columns) + "</tr>",
    ]
    start = messages[0].time if messages else 0.0
    for number, packet in enumerate(messages):
        left = columns.index(_name(packet.source))
        right = columns.index(_name(packet.destination))
        low, high = sorted((left, right))
        arrow = (
            f"{html.escape(packet.label)} &rarr;"
            if right > left
            else (f"&larr; {html.escape(packet.label)}")
        )
        back = "" if right > left else " back"
        cells = [f'<td class="time">{packet.time - start:.3f}</td>']
        cells += ['<td class="lane"></td>'] * low
        span = max(1, high - low)
        cells.append(
            f'<td class="lane arrow{back}" colspan="{span}" onclick="toggle({number})" '
            f'title="frame {packet.number}, {packet.transport.upper()}">{arrow}</td>'
        )
        cells += ['<td class="lane"></td>'] * (len(columns) - low - span)
        text = packet.raw.decode("utf-8", "replace")
        out.append("<tr>" + "".join(cells) + "</tr>")
        out.append(
            f'<tr><td></td><td colspan="{len(columns)}"><pre class="msg" id="m{number}">'
            f"{html.escape(text)}</pre></td></tr>"
        )
    out.append("</table></body></html>")
    return "\n".join(out) + "\n"
