"""Malformed variants of a valid SIP message, reproducible from (seed, case number).

Each case draws from its own ``random.Random(f"{seed}:{number}")`` (string seeds
are hashed with SHA-512, so the stream is the same on every run and platform), so
``--replay SEED:N`` rebuilds case N exactly without replaying cases 0..N-1.

Mutations: ``randtrash`` is sipsak -R (random octets overwritten anywhere); the
others are structured and aim at the parser rules of RFC 3261 §7 and the torture
cases of RFC 4475: a header field removed or repeated (§20 mandatory/single-valued
fields), an oversized field, a Content-Length that lies (§18.3, §20.14), octets that
are not UTF-8 (§25.1 TEXT-UTF8), line folding where it is and is not allowed
(§7.3.1), a truncated message, a mangled start line (§7.1) and bare LF / missing
empty line (§7).  All are plain functions of (rng, message) -> (message, detail).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["MUTATIONS", "FuzzCase", "make_case", "parse_case_id"]

Mutation = Callable[[random.Random, bytes], tuple[bytes, str]]

# The largest message we make; a UDP datagram holds 65507 octets (RFC 768 / IPv4).
MAX_SIZE = 60_000


def _split(message: bytes) -> tuple[list[bytes], bytes]:
    head, _, body = message.partition(b"\r\n\r\n")
    return head.split(b"\r\n"), body


def _join(lines: Sequence[bytes], body: bytes) -> bytes:
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _header_index(rng: random.Random, lines: Sequence[bytes]) -> int:
    return rng.randrange(1, len(lines)) if len(lines) > 1 else 0


def randtrash(rng: random.Random, message: bytes) -> tuple[bytes, str]:
    """sipsak -R: overwrite 1-32 random octets with random values."""
    data = bytearray(message)
    count = rng.randint(1, 32)
    for _ in range(count):
        data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data), f"{count} random octets"


def remove_header(rng: random.Random, message: bytes) -> tuple[bytes, str]:
    lines, body = _split(message)
    index = _header_index(rng, lines)
    name = lines[index].split(b":", 1)[0].decode("latin-1")
    del lines[index]
    return _join(lines, body), f"without {name}"


def duplicate_header(rng: random.Random, message: bytes) -> tuple[bytes, str]:
    lines, body = _split(message)
    index = _header_index(rng, lines)
    copy = lines[index]
    if rng.random() < 0.5:  # a second, different value
        name, _, value = copy.partition(b":")
        copy = name + b": " + value.strip()[::-1]
    lines.insert(rng.randrange(1, len(lines) + 1), copy)
    return _join(lines, body), f"extra {copy.split(b':', 1)[0].decode('latin-1')}"


def oversize(rng: random.Random, message: bytes) -> tuple[bytes, str]:
    lines, body = _split(message)
    index = _header_index(rng, lines)
    size = rng.choice((256, 1024, 4096, 16384, 40000))
    filler = bytes([rng.choice(b'aZ9;=,@ "<>')]) * size
    position = rng.choice(("value", "name", "uri"))
    if position == "name" or index == 0:
        lines[index] = filler.replace(b" ", b"x") + b": " + lines[index]
    elif position == "uri":
        lines[index] = lines[index] + b";p=" + filler
    else:
        name, _, _ = lines[index].partition(b":")
        lines[index] = name + b": " + filler
    return _join(lines, body)[:MAX_SIZE], f"{size}-octet field at line {index} ({position})"


def bad_content_length(rng: random.Random, message: bytes) -> tuple[bytes, str]:
    lines, body = _split(message)
    lies = (b"-1", b"99999999999999999999", b"abc", b"", b"1 2", b"+5", b"0x10", b"4294967296")
    value = rng.choice((*lies, str(len(body) + rng.randint(1, 500)).encode()))
    lines = [line for line in lines if not line.lower().startswith((b"content-length", b"l:"))]
    lines.append(b"Content-Length: " + value)
    return _join(lines, body), f"Content-Length: {value.decode()!r}"


def non_utf8(rng: random.Random, message: bytes) -> tuple[bytes, str]:
    lines, body = _split(message)
    index = _header_index(rng, lines)
    junk = rng.choice((b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\x80\x81\x82", b"\x00"))
    at = rng.randrange(len(lines[index]) + 1)
    lines[index] = lines[index][:at] + junk + lines[index][at:]
    return _join(lines, body), f"{junk!r} in line {index}"


def folding(rng: random.Random, message: bytes) -> tuple[bytes, str]:
    lines, body = _split(message)
    index = _header_index(rng, lines)
    line = lines[index]
    kind = rng.choice(("value", "first-line", "empty", "name"))
    if kind == "value" and b" " in line:
        at = line.index(b" ") + 1
        lines[index] = line[:at] + b"\r\n " + line[at:]
    elif kind == "first-line":
        lines.insert(1, b" folded onto the start line")
    elif kind == "empty":
        lines.insert(index + 1, b" ")
    else:
        name, _, value = line.partition(b":")
        lines[index] = name + b"\r\n\t:" + value
    return _join(lines, body), f"folding ({kind}) at line {index}"


def truncate(rng: random.Random, message: bytes) -> tuple[bytes, str]:
    cut = rng.randrange(1, len(message))
    return message[:cut], f"cut after {cut} octets"


def start_line(rng: random.Random, message: bytes) -> tuple[bytes, str]:
    lines, body = _split(message)
    method, _, rest = lines[0].partition(b" ")
    uri, _, version = rest.partition(b" ")
    choice = rng.choice(
        (
            method + b" " + uri,  # no version
            method + b"  " + uri + b" " + version,  # two spaces
            method + b" " + uri + b" SIP/7.0",
            method + b" <" + uri + b"> " + version,
            method + b" sip: " + version,
            method.lower() + b" " + uri + b" " + version,
            method + b" " + uri + b"\x00 " + version,
            b"SIP/2.0 999 " + method,
            method + b"/" + uri + b" " + version,
        )
    )
    lines[0] = choice
    return _join(lines, body), f"start line {choice[:60]!r}"


def line_endings(rng: random.Random, message: bytes) -> tuple[bytes, str]:
    kind = rng.choice(("lf", "cr", "no-empty-line", "extra-crlf"))
    if kind == "lf":
        return message.replace(b"\r\n", b"\n"), "bare LF line ends"
    if kind == "cr":
        return message.replace(b"\r\n", b"\r"), "bare CR line ends"
    if kind == "no-empty-line":
        head, _, body = message.partition(b"\r\n\r\n")
        return head + b"\r\n" + body, "no empty line after the headers"
    return b"\r\n\r\n" + message.replace(b"\r\n", b"\r\n\r\n", 1), "empty line inside headers"


MUTATIONS: dict[str, Mutation] = {
    "randtrash": randtrash,
    "remove-header": remove_header,
    "duplicate-header": duplicate_header,
    "oversize": oversize,
    "content-length": bad_content_length,
    "non-utf8": non_utf8,
    "folding": folding,
    "truncate": truncate,
    "start-line": start_line,
    "line-endings": line_endings,
}


@dataclass(frozen=True, slots=True)
class FuzzCase:
    seed: int
    number: int
    mutation: str
    detail: str
    data: bytes

    @property
    def case_id(self) -> str:
        return f"{self.seed}:{self.number}"


def make_case(base: bytes, seed: int, number: int, mutations: Sequence[str]) -> FuzzCase:
    """Case ``number`` of run ``seed``: one or two mutations (chosen from
    ``mutations``) applied to ``base``."""
    if not mutations:
        raise ValueError("no mutations to choose from")
    unknown = [name for name in mutations if name not in MUTATIONS]
    if unknown:
        raise ValueError(f"unknown mutation {unknown[0]!r} (known: {', '.join(MUTATIONS)})")
    rng = random.Random(f"{seed}:{number}")
    data = base
    names: list[str] = []
    details: list[str] = []
    for _ in range(1 if rng.random() < 0.8 else 2):
        name = rng.choice(list(mutations))
        data, detail = MUTATIONS[name](rng, data)
        names.append(name)
        details.append(detail)
        if not data:
            data = b"\r\n"
    return FuzzCase(seed, number, "+".join(names), "; ".join(details), data[:MAX_SIZE])


def parse_case_id(text: str) -> tuple[int, int]:
    """``SEED:N`` -> (seed, number); ValueError with a readable message otherwise."""
    seed, colon, number = text.partition(":")
    if not colon or not seed.lstrip("-").isdigit() or not number.isdigit():
        raise ValueError(f"a case id is SEED:NUMBER (as logged), not {text!r}")
    return int(seed), int(number)
