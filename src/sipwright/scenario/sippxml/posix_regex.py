"""SIPp's regular expressions are POSIX extended ones (``regcomp(REG_EXTENDED)``);
this turns them into Python ``re`` patterns.

What differs and matters in scenarios people write: the bracket classes
(``[[:alnum:]]``, ``[[:space:]]`` ...), and the backslash, which is an ordinary
character inside a POSIX bracket expression (``[\\.]`` is a backslash or a dot).
A ``]`` first in a bracket is literal.  Leftmost-longest alternation is not
emulated: Python takes the first alternative that matches.
"""

from __future__ import annotations

import functools
import re
import warnings

__all__ = ["compile_posix", "translate"]

_CLASSES = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "blank": " \\t",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": " \\t\\n\\r\\f\\v",
    "upper": "A-Z",
    "xdigit": "0-9A-Fa-f",
}


def translate(pattern: str) -> str:
    """The Python equivalent of a POSIX ERE; raises ``re.error`` like ``re``."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        if char == "\\" and i + 1 < n:
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if char != "[":
            out.append(char)
            i += 1
            continue
        end, body = _bracket(pattern, i + 1)
        out.append(body)
        i = end
    return "".join(out)


def _bracket(pattern: str, i: int) -> tuple[int, str]:
    """The bracket expression starting after ``[`` at ``i``: (index after it, text)."""
    n = len(pattern)
    parts = ["["]
    if i < n and pattern[i] == "^":
        parts.append("^")
        i += 1
    first = True
    while i < n:
        char = pattern[i]
        if char == "]" and not first:
            parts.append("]")
            return i + 1, "".join(parts)
        first = False
        if pattern.startswith("[:", i):
            close = pattern.find(":]", i + 2)
            name = pattern[i + 2 : close] if close >= 0 else ""
            if name not in _CLASSES:
                raise re.error(f"unknown character class [:{name}:]", pattern, i)
            parts.append(_CLASSES[name])
            i = close + 2
            continue
        if pattern.startswith(("[.", "[="), i):
            # Collating elements: single characters in the scenarios we know of.
            close = pattern.find(pattern[i + 1] + "]", i + 2)
            if close < 0:
                raise re.error("unterminated collating element", pattern, i)
            parts.append(re.escape(pattern[i + 2 : close]))
            i = close + 2
            continue
        # Inside a POSIX bracket everything is literal but "-" ranges and "]".
        parts.append(char if char == "-" else re.escape(char))
        i += 1
    raise re.error("unterminated character set", pattern, n)


@functools.lru_cache(maxsize=1024)
def compile_posix(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """Compile a SIPp regexp once (scenarios reuse a handful of them per call)."""
    with warnings.catch_warnings():
        # re's FutureWarnings about "[[" are about Python's future syntax, not ours.
        warnings.simplefilter("ignore", FutureWarning)
        return re.compile(translate(pattern), flags)
