"""SIPp ``-inf`` injection files: CSV data rows that ``[fieldN]`` keywords insert.

File format (SIPp 3.6.1, checked against the real binary)::

    SEQUENTIAL                     <- mode line: SEQUENTIAL, RANDOM or USER
    # comment lines start with '#'
    alice;secret1                  <- one row per line, fields separated by ';'
    bob;secret2

* The mode is found in the first item of the first line, as a substring like SIPp
  does, so ``USERS`` means ``USER``.  ``,PRINTF=N``, ``,PRINTFOFFSET=N`` and
  ``,PRINTFMULTIPLE=N`` may follow (``PRINTF_OFFSET``/``PRINTF_MULTIPLE`` are
  accepted too).  Numbers follow C ``strtoul(…, 0)``: ``0x10`` and ``010`` work.
* Reading stops at the first empty line: SIPp ignores everything after it.
* A trailing ``\\r`` is removed from each line (a CRLF file would otherwise leak a CR
  into the last field; SIPp keeps it).
* ``SEQUENTIAL``: call number *n* (1-based) uses line ``(n - 1) % lines``.  SIPp keeps
  a counter advanced once per new call (automatic out-of-call answers take neither
  a number nor a line), so the two agree.  ``RANDOM``: a line drawn from the injected
  ``random.Random``.  ``USER``: user *u* (1-based, ``-users``) uses line ``u - 1``;
  user 0 (no ``-users``) has no line and every field is empty; a user beyond the
  last line is an error.
* A field past the end of the row, a line past the end of the file, or a negative
  line renders as the empty string (SIPp prints a warning and inserts nothing).
* ``PRINTF=N`` makes ``N`` virtual lines; virtual line *k* uses template line
  ``k % real_lines`` and replaces each ``%…d`` with ``OFFSET + k * MULTIPLE``.  Only
  flags ``-``, digits and ``.`` are allowed before ``d`` (SIPp's rule).  ``%%`` is a
  literal ``%`` here; SIPp 3.6.1 mishandles it (it fails with "ran off end of line").
* ``-infindex file field``: ``index(field)`` maps each field value to its (last) line
  for the ``<lookup>`` action; ``<insert>``/``<replace>`` keep the index in step.

Files are named by their base name (``-inf data/users.csv`` is ``users.csv``), which
is what ``[field0 file="users.csv"]`` and ``-infindex users.csv 0`` refer to.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

__all__ = ["InjectionError", "InjectionFile", "InjectionRegistry", "Mode", "base_name"]


class InjectionError(Exception):
    """A malformed injection file, or a request it cannot answer.

    ``str()`` is ``"file:line: message"`` (``"file: message"`` without a line).
    """

    def __init__(self, file: str, line: int | None, message: str) -> None:
        super().__init__(f"{file}:{line}: {message}" if line is not None else f"{file}: {message}")
        self.file = file
        self.line = line
        self.message = message


class Mode(StrEnum):
    SEQUENTIAL = "SEQUENTIAL"
    RANDOM = "RANDOM"
    USER = "USER"


def base_name(path: str) -> str:
    """The name SIPp files an injection file under: the path after the last / or \\."""
    return re.split(r"[/\\]", path)[-1]


# One printf item: "%%", a conversion "%" + flags/width/precision + "d", or (third
# branch) something SIPp refuses.
_PRINTF_RE = re.compile(r"%(%|[0-9.\-]*d|[0-9.\-]*.?)", re.DOTALL)


def _c_ulong(text: str) -> int:
    """C strtoul(text, 0): decimal, 0x hexadecimal or 0 octal; ValueError otherwise."""
    text = text.strip()
    if text[:2].lower() == "0x":
        return int(text[2:], 16)
    if len(text) > 1 and text[0] == "0":
        return int(text[1:], 8)
    if not text.isdigit():
        raise ValueError(text)
    return int(text)


# A PRINTF field: literal text and ("%-5d"-style spec) items.
_Pieces = tuple[tuple[bool, str], ...]


@dataclass(eq=False)
class InjectionFile:
    """One loaded ``-inf`` file.  Build with :meth:`load` or :meth:`parse`."""

    name: str
    mode: Mode
    lines: list[str]
    line_numbers: list[int] = field(default_factory=list)
    printf: int | None = None
    printf_offset: int = 0
    printf_multiple: int = 1
    rng: random.Random = field(default_factory=random.Random)
    path: str = ""
    _rows: list[list[str]] = field(default_factory=list, repr=False)
    _templates: list[list[_Pieces]] = field(default_factory=list, repr=False)
    _index_field: int | None = field(default=None, repr=False)
    _index: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self.line_numbers:
            self.line_numbers = list(range(2, len(self.lines) + 2))
        if self.printf is None:
            self._rows = [text.split(";") for text in self.lines]
        else:
            self._templates = [
                [self._compile_printf(value, number) for value in text.split(";")]
                for text, number in zip(self.lines, self.line_numbers, strict=True)
            ]

    # -- loading --------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path, *, rng: random.Random | None = None) -> InjectionFile:
        """Read and parse the file at ``path`` (UTF-8; undecodable octets kept)."""
        text_path = str(path)
        try:
            data = Path(path).read_bytes()
        except OSError as error:
            raise InjectionError(text_path, None, f"cannot read: {error.strerror}") from None
        text = data.decode("utf-8", "surrogateescape")
        return cls.parse(text, name=base_name(text_path), path=text_path, rng=rng)

    @classmethod
    def parse(
        cls, text: str, *, name: str, path: str = "", rng: random.Random | None = None
    ) -> InjectionFile:
        """Parse the contents of an injection file; errors name ``path`` (or ``name``)."""
        where = path or name
        all_lines = text.split("\n")
        header = all_lines[0].rstrip("\r")
        if not header.strip():
            raise InjectionError(
                where, 1, "empty injection file (the first line must be SEQUENTIAL, RANDOM or USER)"
            )
        mode, options = cls._parse_header(header, where)
        lines: list[str] = []
        numbers: list[int] = []
        for number, raw in enumerate(all_lines[1:], start=2):
            line = raw.rstrip("\r")
            if not line:
                break  # SIPp stops reading at the first empty line
            if line.startswith("#"):
                continue
            lines.append(line)
            numbers.append(number)
        if not lines:
            raise InjectionError(where, 1, "injection file has no data lines")
        return cls(
            name=name,
            mode=mode,
            lines=lines,
            line_numbers=numbers,
            printf=options.get("PRINTF"),
            printf_offset=options.get("PRINTFOFFSET", 0),
            printf_multiple=options.get("PRINTFMULTIPLE", 1),
            rng=rng if rng is not None else random.Random(),
            path=path,
        )

    @staticmethod
    def _parse_header(header: str, where: str) -> tuple[Mode, dict[str, int]]:
        items = [item.strip() for item in header.split(",")]
        upper = items[0].upper()
        # SIPp looks for these words anywhere in the line, RANDOM first.
        mode = next((m for m in (Mode.RANDOM, Mode.SEQUENTIAL, Mode.USER) if m in upper), None)
        if mode is None:
            raise InjectionError(
                where, 1, f"unknown mode {items[0]!r} (valid: SEQUENTIAL, RANDOM, USER)"
            )
        options: dict[str, int] = {}
        for item in items[1:]:
            key, equals, value = item.partition("=")
            key = key.strip().upper().replace("_", "")
            if key not in ("PRINTF", "PRINTFOFFSET", "PRINTFMULTIPLE") or not equals:
                valid = "PRINTF=, PRINTFOFFSET=, PRINTFMULTIPLE="
                raise InjectionError(where, 1, f"unknown option {item!r} (valid: {valid})")
            try:
                options[key] = _c_ulong(value)
            except ValueError:
                raise InjectionError(where, 1, f"{key} needs a number: {item!r}") from None
        if options.get("PRINTF", 1) == 0:
            raise InjectionError(where, 1, "a PRINTF file needs at least one virtual line")
        if "PRINTF" not in options and len(options) > 0:
            raise InjectionError(where, 1, "PRINTFOFFSET/PRINTFMULTIPLE need PRINTF=N")
        return mode, options

    def _compile_printf(self, value: str, number: int) -> _Pieces:
        pieces: list[tuple[bool, str]] = []
        last = 0
        for match in _PRINTF_RE.finditer(value):
            pieces.append((False, value[last : match.start()]))
            spec = match.group(1)
            if spec == "%":
                pieces.append((False, "%"))
            elif spec.endswith("d"):
                try:
                    ("%" + spec) % 0
                except ValueError:
                    raise self._error(
                        number, f"invalid printf format %{spec} in {value!r}"
                    ) from None
                pieces.append((True, "%" + spec))
            else:
                ran_off = not spec or spec[-1] in "0123456789.-"
                reason = "ran off end of field" if ran_off else "only %d conversions are allowed"
                raise self._error(number, f"invalid printf field {value!r}: {reason}")
            last = match.end()
        pieces.append((False, value[last:]))
        return tuple(p for p in pieces if p[1])

    def _error(self, line: int | None, message: str) -> InjectionError:
        return InjectionError(self.path or self.name, line, message)

    # -- reading --------------------------------------------------------------------

    @property
    def num_lines(self) -> int:
        """Lines a call can be given (the virtual line count for PRINTF files)."""
        return self.printf if self.printf is not None else len(self.lines)

    def line_for_call(self, call_number: int, user_id: int = 0) -> int | None:
        """The line of a new call (see the module notes); ``None``: no line (user 0)."""
        count = self.num_lines
        if self.mode is Mode.SEQUENTIAL:
            return (call_number - 1) % count
        if self.mode is Mode.RANDOM:
            return self.rng.randrange(count)
        if user_id <= 0:
            return None
        if user_id > count:
            raise self._error(None, f"has only {count} lines, yet user {user_id} was requested")
        return user_id - 1

    def row(self, line: int | None) -> list[str]:
        """All fields of ``line`` (PRINTF expanded); ``[]`` for no line or out of range."""
        if line is None or not 0 <= line < self.num_lines:
            return []
        if self.printf is None:
            return list(self._rows[line])
        number = self.printf_offset + line * self.printf_multiple
        return [
            "".join(text % number if is_spec else text for is_spec, text in pieces)
            for pieces in self._templates[line % len(self._templates)]
        ]

    def row_for_call(self, call_number: int, user_id: int = 0) -> list[str]:
        return self.row(self.line_for_call(call_number, user_id))

    def field(self, line: int | None, index: int) -> str:
        """Field ``index`` of ``line``; "" when either is out of range (like SIPp)."""
        if self.printf is None:
            if line is None or not 0 <= line < len(self._rows) or index < 0:
                return ""
            row = self._rows[line]
            return row[index] if index < len(row) else ""
        values = self.row(line)
        return values[index] if 0 <= index < len(values) else ""

    # -- index, lookup, insert, replace ---------------------------------------------

    def index(self, field_index: int) -> dict[str, int]:
        """Index the file on ``field_index`` (``-infindex``): value -> line, last wins."""
        self._index_field = field_index
        self._index = {}
        for line in range(self.num_lines):
            self._index[self.field(line, field_index)] = line
        return dict(self._index)

    @property
    def indexed_field(self) -> int | None:
        return self._index_field

    def lookup(self, key: str) -> int:
        """The line whose indexed field is ``key``, -1 if none (``<lookup>``)."""
        if self._index_field is None:
            raise InjectionError(self.path or self.name, None, "lookup in a file without -infindex")
        return self._index.get(key, -1)

    def insert(self, value: str) -> None:
        """Append a line (``<insert>``); not allowed in a PRINTF file."""
        self._check_editable()
        self.lines.append(value)
        self.line_numbers.append(0)
        self._rows.append(value.split(";"))
        if self._index_field is not None:
            self._index[self.field(len(self.lines) - 1, self._index_field)] = len(self.lines) - 1

    def replace(self, line: int, value: str) -> None:
        """Overwrite line ``line`` (``<replace>``); not allowed in a PRINTF file."""
        self._check_editable()
        if not 0 <= line < len(self.lines):
            raise self._error(None, f"invalid line number {line} ({len(self.lines)} lines)")
        if self._index_field is not None:
            old = self.field(line, self._index_field)
            if self._index.get(old) == line:
                del self._index[old]
        self.lines[line] = value
        self._rows[line] = value.split(";")
        if self._index_field is not None:
            self._index[self.field(line, self._index_field)] = line

    def _check_editable(self) -> None:
        if self.printf is not None:
            raise self._error(None, "cannot insert or replace into a PRINTF file")


class InjectionRegistry:
    """The ``-inf`` files of a run, by base name; the first added is the default
    file of a plain ``[fieldN]``."""

    __slots__ = ("_files",)

    def __init__(self, files: Iterable[InjectionFile] = ()) -> None:
        self._files: dict[str, InjectionFile] = {}
        for item in files:
            self.add(item)

    @classmethod
    def load(
        cls, paths: Sequence[str | Path], *, rng: random.Random | None = None
    ) -> InjectionRegistry:
        """Load each ``-inf`` path in command-line order (one shared ``rng``)."""
        shared = rng if rng is not None else random.Random()
        return cls(InjectionFile.load(path, rng=shared) for path in paths)

    def add(self, item: InjectionFile) -> None:
        # A second -inf with the same base name replaces the first, as in SIPp.
        self._files[item.name] = item

    @property
    def default(self) -> InjectionFile | None:
        return next(iter(self._files.values()), None)

    @property
    def names(self) -> list[str]:
        return list(self._files)

    def get(self, name: str) -> InjectionFile:
        found = self._files.get(base_name(name))
        if found is None:
            known = ", ".join(self._files) or "none"
            raise InjectionError(name, None, f"not an injection file of this run (-inf: {known})")
        return found

    def index(self, name: str, field_index: int) -> dict[str, int]:
        """``-infindex name field``."""
        return self.get(name).index(field_index)

    def lines_for_call(self, call_number: int, user_id: int = 0) -> dict[str, int | None]:
        """The line of every file for a new call, by file name."""
        return {
            name: item.line_for_call(call_number, user_id) for name, item in self._files.items()
        }

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and base_name(name) in self._files

    def __iter__(self) -> Iterator[InjectionFile]:
        return iter(self._files.values())

    def __len__(self) -> int:
        return len(self._files)
