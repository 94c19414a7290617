"""SIPp ``[keyword]`` message templates: compiled once per scenario, rendered per call.

``compile_template(text, filename=..., line=...)`` splits a message (already cleaned
like SIPp cleans a CDATA section, see :mod:`.message_text`, with ``\\n`` line ends)
into literal text and keyword slots; ``Template.render(context)`` joins them into
the bytes to send.  Unknown keywords fail at compile time with ``file:line``.

Semantics follow SIPp 3.6.1 (source read and outputs checked with the real binary):

* Line ends become CRLF; ``\\xHH`` escapes give one octet (``\\x5b`` is a literal
  ``[``); with one hex digit the following character is swallowed, as in SIPp.
* ``[len]`` is the body length (octets after the first empty line, after every other
  substitution) printed ``%5u`` (``Content-Length:   129``); ``[len+N]`` adds N; an
  empty body gives ``    0``.  Every ``[len]`` is filled (SIPp fills only the last).
* ``[last_Name:]`` (colon optional) is ``Name: v1, v2`` from every ``Name`` header of
  the last received message, the first name as the peer wrote it; the compact form
  is tried only when the long one is absent (SIPp's list: i m e l c f t v).  Folded
  lines come out unfolded with one space after the colon (SIPp copies the raw
  line).  ``[last_Name:value]`` (a sipwright extension) gives only the values.
* ``[last_*]``, ``[$var]``, ``[fieldN]`` and ``[routes]`` that leave the output at a
  line start remove the rest of the line end that follows (so an absent header
  leaves no blank line).  SIPp strips all following whitespace, which merges the
  body into the headers when such a keyword is the last header; here only spaces,
  tabs and one line end go.
* ``[routes]``: ``Route: <set>`` from the Record-Route of the first ``rrs="true"``
  message (reversed for a response, as a UAC must); ``[next_url]``: the Contact URI
  (or a strict router).  ``[peer_tag_param]``: ``;tag=`` + the To tag of the last
  response.  ``[cseq]`` counts requests other than ACK/CANCEL (:meth:`on_send`) and
  follows received requests.  See :meth:`KeywordContext.on_receive`.
* ``[branch]`` is ``z9hG4bK-<pid>-<call_number>-<message index + offset>``.
* ``[authentication username=.. password=..]`` is the whole ``Authorization:`` (401)
  or ``Proxy-Authorization:`` line answering the challenge kept by
  ``on_receive(auth=True)``, digest ``uri`` ``sip:<remote_ip>:<remote_port>`` (or
  ``-auth_uri``), qop auth-int preferred like SIPp, via :mod:`sipwright.sip.digest`.
  A ``[fieldN]`` value holding ``[authentication ...]`` is expanded the same way.
* Offsets ``+N``/``-N`` apply to remote_port, local_port, media_port,
  auto_media_port, cseq, branch, len and last_cseq_number; elsewhere they are
  accepted and ignored, like SIPp.  ``[users]`` is -1 without ``-users``.
* ``[$x]``: ``str`` as is, ``bool`` true/false, ``float`` ``%f`` (SIPp stores numbers
  as doubles: ``3.000000``), ``int`` in decimal, missing/None empty.
* SIPp rejects every bracketed word it does not know, even ``[::1]``.  Here text in
  brackets that is an IPv6 address, or does not start with a letter or ``$``, is
  literal text; a word that looks like a keyword but is not one is an error.

The message is encoded as UTF-8 with surrogate escapes, so received octets and
``\\x80``-``\\xff`` escapes go out unchanged.
"""

from __future__ import annotations

import ipaddress
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from sipwright.scenario.sippxml.call_context import (
    DynamicId,
    KeywordContext,
    RenderError,
    RunContext,
)
from sipwright.scenario.sippxml.injection import InjectionError, base_name
from sipwright.sip.digest import DigestClient, parse_challenges, select_challenge
from sipwright.sip.errors import ParseError
from sipwright.sip.message import Request, Response

__all__ = [
    "CompileOptions",
    "DynamicId",
    "KeywordContext",
    "KeywordError",
    "RenderError",
    "RunContext",
    "Template",
    "compile_template",
]

_ENC, _ERRORS = "utf-8", "surrogateescape"
_Message = Request | Response


class KeywordError(Exception):
    """A keyword the compiler cannot accept; ``str()`` is ``"file:line: message"``."""

    def __init__(self, file: str, line: int, message: str) -> None:
        super().__init__(f"{file}:{line}: {message}")
        self.file = file
        self.line = line
        self.message = message


# -- rendering helpers ------------------------------------------------------------

_Fn = Callable[[KeywordContext], str]


def _esc(ip: str) -> str:
    return f"[{ip}]" if ":" in ip and not ip.startswith("[") else ip


def _timestamp(c: KeywordContext) -> str:
    now = c.run.wall_clock()
    seconds, micros = int(now), round((now - int(now)) * 1_000_000) % 1_000_000
    return time.strftime("%Y-%m-%d\t%H:%M:%S", time.localtime(seconds)) + (
        f".{micros:06d}\t{seconds:010d}.{micros:06d}"
    )


def _tdm_map(c: KeywordContext) -> str:
    if c.tdm_map is None:
        raise RenderError("[tdmmap] without -tdmmap")
    return c.tdm_map


# SIPp looks for these compact forms when the long name is absent.
_COMPACT_TEXT = "call-id:i contact:m content-encoding:e content-length:l content-type:c from:f"
_COMPACT = dict(pair.split(":") for pair in (_COMPACT_TEXT + " to:t via:v").split())


def _last_header(c: KeywordContext, lower_name: str, value_only: bool) -> str:
    message = c.last_message
    if message is None:
        return ""
    found = [(n, v) for n, v in message.headers if n.lower() == lower_name]
    if not found and lower_name in _COMPACT:
        found = [(n, v) for n, v in message.headers if n.lower() == _COMPACT[lower_name]]
    if not found:
        return ""
    values = ", ".join(v for _, v in found)
    return values if value_only else f"{found[0][0]}: {values}"


def _last_request_uri(c: KeywordContext) -> str:
    to = _last_header(c, "to", True)
    start, end = to.find("<"), to.find(">")
    return to[start + 1 : end] if 0 <= start < end else ""


def _last_cseq(c: KeywordContext) -> int:
    match = re.match(r"\s*([+-]?\d+)", _last_header(c, "cseq", True))
    return int(match.group(1)) if match else 0


def _last_message(c: KeywordContext) -> str:
    if c.last_raw is not None:
        return c.last_raw.decode(_ENC, _ERRORS)
    return "" if c.last_message is None else bytes(c.last_message).decode(_ENC, _ERRORS)


def _format_var(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        # SIPp holds numbers as doubles and treats 0 as "not set": it prints nothing.
        return f"{value:f}" if value else ""
    return str(value)


def _number(value: object) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return 0.0


# name -> (renderer factory taking the offset, offset applies)
_SIMPLE: dict[str, Callable[[int], _Fn]] = {
    "service": lambda o: lambda c: c.run.service,
    "remote_ip": lambda o: lambda c: _esc(c.run.remote_ip),
    "remote_host": lambda o: lambda c: c.run.remote_host or c.run.remote_ip,
    "remote_port": lambda o: lambda c: str(c.run.remote_port + o),
    "transport": lambda o: lambda c: c.run.transport,
    "local_ip": lambda o: lambda c: _esc(c.run.local_ip),
    "local_ip_type": lambda o: lambda c: "6" if ":" in c.run.local_ip else "4",
    "local_port": lambda o: lambda c: str((c.local_port or c.run.local_port) + o),
    "server_ip": lambda o: lambda c: c.server_ip or c.run.local_ip,
    "media_ip": lambda o: lambda c: c.run.media_ip or c.run.local_ip,
    "media_ip_type": lambda o: lambda c: "6" if ":" in (c.run.media_ip or c.run.local_ip) else "4",
    "media_port": lambda o: lambda c: str((c.media_port or c.run.media_port) + o),
    "auto_media_port": lambda o: (
        lambda c: str(c.run.media_port + (4 * (c.call_number - 1)) % 10000 + o)
    ),
    "rtpstream_audio_port": lambda o: lambda c: str(c.media_port or c.run.media_port),
    "rtpstream_video_port": lambda o: lambda c: str(c.media_port or c.run.media_port),
    "call_number": lambda o: lambda c: str(c.call_number),
    "dynamic_id": lambda o: lambda c: str(c.run.dynamic_id.next()),
    "call_id": lambda o: lambda c: c.call_id,
    "cseq": lambda o: lambda c: str(c.cseq + o),
    "pid": lambda o: lambda c: str(c.run.pid),
    "branch": lambda o: lambda c: f"z9hG4bK-{c.run.pid}-{c.call_number}-{c.msg_index + o}",
    "msg_index": lambda o: lambda c: str(c.msg_index),
    "next_url": lambda o: lambda c: c.next_url or "",
    "peer_tag_param": lambda o: lambda c: f";tag={c.peer_tag}" if c.peer_tag else "",
    "last_Request_URI": lambda o: _last_request_uri,
    "last_cseq_number": lambda o: lambda c: str(_last_cseq(c) + o),
    "last_message": lambda o: _last_message,
    "tdmmap": lambda o: _tdm_map,
    "clock_tick": lambda o: lambda c: str(c.run.clock()),
    "users": lambda o: lambda c: str(c.run.users),
    "userid": lambda o: lambda c: str(c.user_id),
    "timestamp": lambda o: _timestamp,
    "date": lambda o: (
        lambda c: time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(c.run.wall_clock()))
    ),
    "sipp_version": lambda o: lambda c: c.run.sipp_version,
}

# Slot kinds.  SUPPRESS and above may leave the output at a line start.
_PLAIN, _LEN, _AUTH, _SUPPRESS, _FIELD = range(5)
_AUTH_MARK = "[authentication]"  # stands in for the header until the body is known
_LEN_MARK = "     "  # stands in for a [len] until the body is known (5 wide, as SIPp)


@dataclass(frozen=True, slots=True)
class _Lit:
    text: str
    after_suppress: str  # the text once the rest of a line end is removed


@dataclass(frozen=True, slots=True)
class _Auth:
    username: Template | None
    password: Template | None


@dataclass(frozen=True, slots=True)
class _Slot:
    kind: int
    fn: _Fn
    offset: int = 0
    auth: _Auth | None = None


@dataclass(frozen=True, slots=True)
class CompileOptions:
    """Run-wide facts the compiler checks against.

    ``generic``: ``-key name value`` keywords.  ``injection_files``: the ``-inf``
    base names, first the default; ``None`` skips the checks (resolved at render).
    """

    generic: Mapping[str, str] = field(default_factory=dict)
    injection_files: Sequence[str] | None = None


_DEFAULT_OPTIONS = CompileOptions()


@dataclass(eq=False, slots=True)
class Template:
    """A compiled message.  ``method``/``status`` come from the literal start line;
    ``variables`` are the scenario variables it reads."""

    _ops: list[_Lit | _Slot]
    filename: str
    line: int
    fragment: bool = False
    method: str | None = None
    status: int | None = None
    variables: frozenset[str] = frozenset()
    _fast: list[str | _Fn] | None = field(init=False, default=None)
    # [len] slots of a fast template: (index in _fast, offset).  Every message of a
    # scenario has a Content-Length: [len], so the fast path must take them too.
    _fast_lens: tuple[tuple[int, int], ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        # Plain keywords and [len] never leave the output at a line start (only
        # SUPPRESS and FIELD slots do), so the slow path's line-end handling is moot.
        if all(isinstance(op, _Lit) or op.kind in (_PLAIN, _LEN) for op in self._ops):
            self._fast = [
                op.text if isinstance(op, _Lit) else _LEN_MARK if op.kind == _LEN else op.fn
                for op in self._ops
            ]
            self._fast_lens = tuple(
                (index, op.offset)
                for index, op in enumerate(self._ops)
                if isinstance(op, _Slot) and op.kind == _LEN
            )

    @property
    def is_response(self) -> bool:
        return self.status is not None

    def render(self, context: KeywordContext) -> bytes:
        """The message to send, keywords expanded (UTF-8, surrogate escapes kept)."""
        return self.render_text(context).encode(_ENC, _ERRORS)

    def render_text(self, context: KeywordContext) -> str:
        fast = self._fast
        if fast is not None:
            texts: list[str] = [p if p.__class__ is str else p(context) for p in fast]  # type: ignore[operator]
            return _fill_lens(texts, self._fast_lens) if self._fast_lens else "".join(texts)
        parts: list[str] = []
        lens: list[tuple[int, int]] = []
        auth_at, auth = -1, None
        pending = False  # a keyword left the output at a line start
        for op in self._ops:
            if isinstance(op, _Lit):
                parts.append(op.after_suppress if pending else op.text)
                pending = False
                continue
            kind = op.kind
            if kind == _LEN:
                lens.append((len(parts), op.offset))
                parts.append(_LEN_MARK)
                pending = False
                continue
            if kind == _AUTH:
                if auth is not None:
                    raise RenderError("only one [authentication] per message")
                auth_at, auth = len(parts), op.auth
                parts.append(_AUTH_MARK)
                continue
            value = op.fn(context)
            if kind == _FIELD and "[authentication" in value:
                head, _, tail = value.partition("[authentication")
                spec, _, rest = tail.partition("]")
                if auth is not None:
                    raise RenderError("only one [authentication] per message")
                parts.append(head)
                auth_at, auth = len(parts), _field_auth(spec)
                parts.append(_AUTH_MARK)
                value = rest
            parts.append(value)
            if kind >= _SUPPRESS:
                pending = value.endswith("\n") if value else _at_line_start(parts)
            elif value:
                pending = False
        if auth is None:
            return _fill_lens(parts, lens) if lens else "".join(parts)
        text = "".join(parts)
        head_end = text.find("\r\n\r\n")
        body = text[head_end + 4 :].encode(_ENC, _ERRORS) if head_end >= 0 else b""
        for index, offset in lens:
            parts[index] = f"{len(body) + offset:5d}" if body else "    0"
        if auth is not None:
            if 0 <= head_end < len("".join(parts[:auth_at])):
                raise RenderError("[authentication] must be in the headers, not the body")
            parts[auth_at] = self._authorization(context, auth, body)
        return "".join(parts)

    def _authorization(self, c: KeywordContext, auth: _Auth, body: bytes) -> str:
        run = c.run
        if c.challenges is None:
            raise RenderError('[authentication] without a 401/407 received with auth="true"')
        if self.method is None:
            raise RenderError("[authentication] needs a request")
        user = auth.username.render_text(c) if auth.username is not None else None
        password = auth.password.render_text(c) if auth.password is not None else None
        try:
            offered = [ch for value in c.challenges for ch in parse_challenges(value)]
        except ParseError as error:
            raise RenderError(f"cannot parse the challenge: {error}") from None
        chosen = select_challenge(offered)
        if chosen is None:
            raise RenderError(f"no supported Digest challenge in {c.challenges!r}")
        uri = "sip:" + (run.auth_uri or f"{_esc(run.remote_ip)}:{run.remote_port}")
        if c.digest is None:
            c.digest = DigestClient(cnonce_factory=run.cnonce_factory)
        value = c.digest.authorize(
            chosen,
            method=self.method,
            uri=uri,
            username=user or run.auth_username or run.service,
            password=password or run.auth_password,
            body=body,
            qop_preference=("auth-int", "auth"),
        )
        name = "Authorization" if c.challenge_status == 401 else "Proxy-Authorization"
        return f"{name}: {value}"

    def __repr__(self) -> str:
        return f"<Template {self.filename}:{self.line} {self.method or self.status}>"


def _fill_lens(parts: list[str], lens: Sequence[tuple[int, int]]) -> str:
    """The text with each [len] placeholder (at ``lens``) set to the length of the
    body after the first empty line, plus its offset ("    0" with no body, as SIPp)."""
    text = "".join(parts)
    head_end = text.find("\r\n\r\n")
    body = text[head_end + 4 :].encode(_ENC, _ERRORS) if head_end >= 0 else b""
    for index, offset in lens:
        parts[index] = f"{len(body) + offset:5d}" if body else "    0"
    return "".join(parts)


def _nothing(c: KeywordContext) -> str:
    return ""


def _at_line_start(parts: list[str]) -> bool:
    for part in reversed(parts):
        if part:
            return part.endswith("\n")
    return False


@lru_cache(maxsize=1024)
def _field_auth(spec: str) -> _Auth:
    """An ``[authentication ...]`` found in an injected field (compiled once per text)."""
    try:
        return _Compiler("<injected field>", _DEFAULT_OPTIONS).auth(_params(spec), 0)
    except KeywordError as error:
        raise RenderError(f"in an injected [authentication{spec}]: {error.message}") from None


# -- compiling --------------------------------------------------------------------

_SCAN_RE = re.compile(r"\\x|\[")
_HEX_ESCAPE_RE = re.compile(r"\\x(?:([0-9A-Fa-f]{2})|([0-9A-Fa-f])(?s:.)?|(?s:.)?)")
_PARAM_RE = re.compile(r'([A-Za-z_][\w-]*)=("(?:[^"\\]|\\.)*"?|[^\s\]]*)')
_OFFSET_RE = re.compile(r"(.+?)([+-]\d+)")
_LINE_END_RE = re.compile(r"[ \t]*\r?\n")
_CODE_RE = re.compile(r"\s*(\d+)(?=\s|$)")


def _octet(value: int) -> str:
    return chr(value) if value < 0x80 else chr(0xDC00 + value)


def _params(text: str) -> dict[str, str]:
    """SIPp keyword parameters: name=value, name="quoted \\" value" or name=0xHEX."""
    params: dict[str, str] = {}
    for match in _PARAM_RE.finditer(text):
        value = match.group(2)
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:].removesuffix('"'))
        elif value[:2] == "0x":
            digits = re.match(r"[0-9A-Fa-f]*", value[2:])
            hexed = digits.group(0) if digits else ""
            value = "".join(_octet(int(hexed[i : i + 2], 16)) for i in range(0, len(hexed), 2))
        params.setdefault(match.group(1), value)
    return params


def _find_close(text: str, start: int) -> tuple[int, int]:
    """Positions of the next "]" and "[" from ``start``, skipping "quoted" text."""
    i, n = start, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            end = text.find('"', i + 1)
            i = n if end < 0 else end + 1
        elif ch in "[]":
            return (i, -1) if ch == "]" else (-1, i)
        else:
            i += 1
    return -1, -1


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _after_suppress(text: str) -> str:
    end = _LINE_END_RE.match(text)
    return text[end.end() :] if end else text.lstrip(" \t")


def compile_template(
    text: str,
    *,
    filename: str,
    line: int,
    options: CompileOptions | None = None,
    fragment: bool = False,
) -> Template:
    """Compile one message template (or, with ``fragment``, an action's text).

    ``line`` is the source line of the first line of ``text``.  A message must start
    with a literal method or ``SIP/2.0 <code>``.  Raises :class:`KeywordError`.
    """
    return _Compiler(filename, options or _DEFAULT_OPTIONS).template(text, line, fragment)


class _Compiler:
    __slots__ = ("filename", "opts", "variables")

    def __init__(self, filename: str, opts: CompileOptions) -> None:
        self.filename, self.opts = filename, opts
        self.variables: set[str] = set()

    def error(self, line: int, message: str) -> KeywordError:
        return KeywordError(self.filename, line, message)

    def template(self, text: str, line: int, fragment: bool) -> Template:
        text = text.replace("\r\n", "\n")
        ops: list[_Lit | _Slot] = []
        literal: list[str] = []

        def flush() -> None:
            joined = "".join(literal)
            literal.clear()
            if joined:
                ops.append(_Lit(joined, _after_suppress(joined)))

        pos, n = 0, len(text)
        while (match := _SCAN_RE.search(text, pos)) is not None:
            start = match.start()
            literal.append(text[pos:start].replace("\n", "\r\n"))
            if match.group() == "\\x":
                esc = _HEX_ESCAPE_RE.match(text, start)
                assert esc is not None  # the pattern matches any "\x"
                digits = esc.group(1) or esc.group(2)
                literal.append(_octet(int(digits, 16)) if digits else "")
                pos = esc.end()
                continue
            where = line + text.count("\n", 0, start)
            close, reopen = _find_close(text, start + 1)
            inner = text[start + 1 : close] if close >= 0 else ""
            looks_like = start + 1 < n and (text[start + 1].isalpha() or text[start + 1] == "$")
            if close < 0 or not looks_like or _is_ipv6(inner):
                if looks_like and close < 0 and reopen < 0:
                    raise self.error(where, f"unterminated keyword {text[start : start + 40]!r}")
                literal.append("[")  # a literal bracket (see the module notes)
                pos = start + 1
                continue
            slot = self.keyword(inner, where)
            if isinstance(slot, str):
                literal.append(slot)  # a -key value
            else:
                flush()
                ops.append(slot)
            pos = close + 1
        literal.append(text[pos:].replace("\n", "\r\n"))
        flush()
        method = status = None
        if not fragment:
            method, status = self.start_line(ops, line)
        return Template(
            ops, self.filename, line, fragment, method, status, frozenset(self.variables)
        )

    def start_line(self, ops: list[_Lit | _Slot], line: int) -> tuple[str | None, int | None]:
        first = ops[0] if ops else None
        head = first.text.split("\r\n", 1)[0].lstrip(" \t") if isinstance(first, _Lit) else ""
        if " " not in head:
            raise self.error(
                line,
                "a message must start with a literal method or 'SIP/2.0 <code>', not a keyword",
            )
        in_body = seen = False
        for op in ops:
            if isinstance(op, _Lit):
                in_body = in_body or "\r\n\r\n" in op.text
            elif op.kind == _AUTH:
                if seen or in_body:
                    raise self.error(line, "one [authentication] per message, in the headers")
                seen = True
        word, rest = head.split(" ", 1)
        if word != "SIP/2.0":
            return word, None
        code = _CODE_RE.match(rest)
        if code is None or not 100 <= int(code.group(1)) <= 699:
            raise self.error(line, f"invalid response code in {head!r} (100-699)")
        return None, int(code.group(1))

    def sub(self, value: str | None, line: int) -> Template | None:
        """A keyword parameter that may hold keywords itself (``line="[$n]"``)."""
        if not value:
            return None
        inner = _Compiler(self.filename, self.opts)
        template = inner.template(value, line, True)
        self.variables |= inner.variables
        return template

    def auth(self, params: dict[str, str], line: int) -> _Auth:
        return _Auth(self.sub(params.get("username"), line), self.sub(params.get("password"), line))

    def keyword(self, keyword: str, line: int) -> _Slot | str:
        head, _, rest = keyword.partition(" ")
        found = _OFFSET_RE.fullmatch(head)
        base, offset = (found.group(1), int(found.group(2))) if found else (head, 0)
        simple = _SIMPLE.get(base) if not rest else None
        if simple is not None:
            return _Slot(_PLAIN, simple(offset), offset)
        if base == "len" and not rest:
            return _Slot(_LEN, _nothing, offset)
        if base == "routes" and not rest:
            return _Slot(_SUPPRESS, lambda c: f"Route: {c.route_set}" if c.route_set else "")
        params = _params(rest)
        if head.startswith("field"):
            if not base[5:].isdigit():
                raise self.error(line, f"bad injection field [{keyword}]")
            return _Slot(_FIELD, self.field(int(base[5:]), params, line))
        if head.startswith("file"):
            path = self.sub(params.get("name"), line)
            if path is None:
                raise self.error(line, f"[{keyword}] needs name=")
            return _Slot(
                _PLAIN, lambda c: c.run.read_file(path.render_text(c)).decode(_ENC, _ERRORS)
            )
        if head.startswith("$"):
            var = base[1:]
            if not var:
                raise self.error(line, f"empty variable name in [{keyword}]")
            self.variables.add(var)
            return _Slot(_SUPPRESS, lambda c: _format_var(c.variables.get(var)))
        if head.startswith("fill"):
            var = params.get("variable", "")
            if not var:
                raise self.error(line, f"[{keyword}] needs variable=")
            self.variables.add(var)
            return _Slot(_PLAIN, _fill_fn(var, params.get("text") or "X"))
        if head.startswith("last_"):
            name, _, after = keyword[5:].partition(":")
            if after not in ("", "value") or not name.strip():
                raise self.error(line, f"bad header keyword [{keyword}]")
            lower, value_only = name.strip().lower(), bool(after)
            return _Slot(_SUPPRESS, lambda c: _last_header(c, lower, value_only))
        if head.startswith("authentication"):
            return _Slot(_AUTH, _nothing, 0, self.auth(params, line))
        if keyword in self.opts.generic:
            return self.opts.generic[keyword]
        raise self.error(line, f"unknown keyword [{keyword}]")

    def field(self, index: int, params: dict[str, str], line: int) -> _Fn:
        file, line_tpl = params.get("file"), self.sub(params.get("line"), line)
        known = self.opts.injection_files
        if known is not None:
            if not known:
                raise self.error(line, f"[field{index}] but no injection file (-inf)")
            if file is not None and base_name(file) not in {base_name(k) for k in known}:
                raise self.error(
                    line, f"unknown injection file {file!r} (-inf: {', '.join(known)})"
                )
            file = file or known[0]
        return _field_fn(index, file, line_tpl)


def _fill_fn(var: str, text: str) -> _Fn:
    def render(c: KeywordContext) -> str:
        count = max(0, int(_number(c.variables.get(var, 0))))
        return (text * (count // len(text) + 1))[:count]

    return render


def _field_fn(index: int, file: str | None, line_tpl: Template | None) -> _Fn:
    def render(c: KeywordContext) -> str:
        registry = c.run.injection
        if registry is None or len(registry) == 0:
            raise RenderError(f"[field{index}] without an injection file (-inf)")
        try:
            data = registry.get(file) if file is not None else registry.default
        except InjectionError as error:
            raise RenderError(str(error)) from None
        assert data is not None
        if line_tpl is None:
            chosen = c.injection_lines.get(data.name)
        else:
            text = line_tpl.render_text(c).lstrip()
            try:
                chosen = int(float(text)) if text else 0  # C strtod
            except ValueError:
                raise RenderError(f"invalid line number generated: {text!r}") from None
        return data.field(chosen, index)

    return render
