"""SIPp -inf injection files (sipwright.scenario.sippxml.injection).

Expected values marked "SIPp 3.6.1" were observed with the real binary: a uac
scenario printing [fieldN] / [field0 line=M] / [field0 file=pf.csv] headers, run with
-inf against a loopback peer that recorded the datagrams.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from sipwright.scenario.sippxml.injection import (
    InjectionError,
    InjectionFile,
    InjectionRegistry,
    Mode,
    base_name,
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- modes ---------------------------------------------------------------------------


def test_sequential_wraps_skips_comments_and_stops_at_empty_line(tmp_path: Path) -> None:
    # SIPp 3.6.1: "carol" after the empty line is never used; calls 1,2,3 get
    # alice, bob, alice.
    path = write(tmp_path, "users.csv", "SEQUENTIAL\n#comment\nalice;pw1;x\nbob;pw2\n\ncarol;pw3\n")
    data = InjectionFile.load(path)
    assert data.name == "users.csv"
    assert data.mode is Mode.SEQUENTIAL
    assert data.num_lines == 2
    assert data.line_numbers == [3, 4]
    rows = [data.row_for_call(n) for n in (1, 2, 3, 4)]
    assert rows == [["alice", "pw1", "x"], ["bob", "pw2"], ["alice", "pw1", "x"], ["bob", "pw2"]]


def test_missing_fields_and_lines_are_empty(tmp_path: Path) -> None:
    # SIPp 3.6.1: [field3] of "alice;pw1;x" and [field0 line=2] of a 2-line file
    # render as nothing (with a "Field 3 not found" warning).
    data = InjectionFile.load(write(tmp_path, "u.csv", "SEQUENTIAL\nalice;pw1;x\nbob;pw2\n"))
    assert data.field(0, 2) == "x"
    assert data.field(1, 2) == ""
    assert data.field(0, 9) == ""
    assert data.field(2, 0) == ""
    assert data.field(-1, 0) == ""
    assert data.field(None, 0) == ""
    assert data.row(5) == []


def test_empty_fields_are_kept(tmp_path: Path) -> None:
    data = InjectionFile.load(write(tmp_path, "e.csv", "SEQUENTIAL\na;;c;\n"))
    assert data.row(0) == ["a", "", "c", ""]


def test_crlf_file_does_not_leak_carriage_returns(tmp_path: Path) -> None:
    path = tmp_path / "crlf.csv"
    path.write_bytes(b"SEQUENTIAL\r\nalice;pw1\r\nbob;pw2\r\n")
    data = InjectionFile.load(path)
    assert data.row(0) == ["alice", "pw1"]
    assert data.row(1) == ["bob", "pw2"]


def test_random_uses_the_injected_generator(tmp_path: Path) -> None:
    path = write(tmp_path, "r.csv", "RANDOM\n" + "".join(f"u{i};p{i}\n" for i in range(10)))
    first = InjectionFile.load(path, rng=random.Random(7))
    second = InjectionFile.load(path, rng=random.Random(7))
    lines = [first.line_for_call(n) for n in range(1, 50)]
    assert lines == [second.line_for_call(n) for n in range(1, 50)]
    assert all(line is not None and 0 <= line < 10 for line in lines)
    assert len(set(lines)) > 1


def test_user_mode_picks_by_user_id(tmp_path: Path) -> None:
    data = InjectionFile.load(write(tmp_path, "u.csv", "USER\nu1;a\nu2;b\nu3;c\n"))
    assert data.mode is Mode.USER
    assert data.line_for_call(1, user_id=3) == 2
    assert data.row_for_call(1, user_id=1) == ["u1", "a"]
    # User 0 (no -users): no line at all, every field empty (SIPp 3.6.1).
    assert data.line_for_call(5, user_id=0) is None
    assert data.row_for_call(5, user_id=0) == []
    with pytest.raises(InjectionError, match=r"has only 3 lines, yet user 4 was requested"):
        data.line_for_call(1, user_id=4)


def test_users_spelling_and_strtoul_numbers(tmp_path: Path) -> None:
    # The SIPp manual writes "USERS,PRINTF=999"; the mode is found as a substring.
    data = InjectionFile.load(write(tmp_path, "p.csv", "USERS,PRINTF=0x10,PRINTFOFFSET=010\nu%d\n"))
    assert data.mode is Mode.USER
    assert data.num_lines == 16
    assert data.printf_offset == 8  # leading 0: octal, as C strtoul(..., 0)


# -- PRINTF ----------------------------------------------------------------------------


def test_printf_matches_sipp(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "pf.csv",
        "USERS,PRINTF=5,PRINTFOFFSET=100,PRINTFMULTIPLE=2\nu%03d;p%d;%-5d|;%.4d\nv%d;q\n",
    )
    data = InjectionFile.load(path)
    assert data.num_lines == 5
    # SIPp 3.6.1 with -users 3: user 3 -> line 2 -> 100 + 2*2.
    assert data.row_for_call(1, user_id=3) == ["u104", "p104", "104  |", "0104"]
    # user 2 -> line 1 -> second template line.
    assert data.row_for_call(2, user_id=2) == ["v102", "q"]
    # [field0 file=pf.csv line=4] and line=5 (past the 5 virtual lines).
    assert data.field(4, 0) == "u108"
    assert data.field(5, 0) == ""
    assert data.field(0, 0) == "u100"


def test_printf_underscore_spelling_and_double_percent(tmp_path: Path) -> None:
    # %% is a literal percent here (SIPp 3.6.1 fails on it: "ran off end of line").
    path = write(
        tmp_path, "p.csv", "SEQUENTIAL,PRINTF=3,PRINTF_MULTIPLE=10,PRINTF_OFFSET=1\nx%d;50%%\n"
    )
    data = InjectionFile.load(path)
    assert [data.row_for_call(n) for n in (1, 2, 3, 4)] == [
        ["x1", "50%"],
        ["x11", "50%"],
        ["x21", "50%"],
        ["x1", "50%"],
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [("u%s", "only %d conversions"), ("u%03", "ran off end"), ("u%", "ran off end")],
)
def test_printf_field_errors_name_the_line(tmp_path: Path, line: str, message: str) -> None:
    path = write(tmp_path, "bad.csv", f"SEQUENTIAL,PRINTF=2\n# c\nok%d\n{line}\n")
    with pytest.raises(InjectionError, match=message) as info:
        InjectionFile.load(path)
    assert info.value.line == 4
    assert str(info.value).startswith(f"{path}:4: ")


# -- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty injection file"),
        ("\nalice\n", "empty injection file"),
        ("ORDERED\nalice\n", "unknown mode 'ORDERED'"),
        ("SEQUENTIAL\n#only a comment\n", "no data lines"),
        ("SEQUENTIAL\n\nalice\n", "no data lines"),
        ("SEQUENTIAL,PRINTF\nu%d\n", "unknown option 'PRINTF'"),
        ("SEQUENTIAL,PRINTF=0\nu%d\n", "at least one virtual line"),
        ("SEQUENTIAL,PRINTF=x\nu%d\n", "PRINTF needs a number"),
        ("SEQUENTIAL,PRINTFOFFSET=3\nu\n", "need PRINTF=N"),
        ("SEQUENTIAL,LOOP=1\nu\n", "unknown option 'LOOP=1'"),
    ],
)
def test_header_errors_have_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "bad.csv", text)
    with pytest.raises(InjectionError, match=message) as info:
        InjectionFile.load(path)
    assert info.value.file == str(path)
    assert info.value.line == 1
    assert str(info.value).startswith(f"{path}:1: ")


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(InjectionError, match="cannot read") as info:
        InjectionFile.load(tmp_path / "missing.csv")
    assert info.value.line is None


# -- index, lookup, insert, replace ------------------------------------------------------


def test_index_and_lookup(tmp_path: Path) -> None:
    data = InjectionFile.load(
        write(tmp_path, "u.csv", "SEQUENTIAL\nalice;A\nbob;B\ncarol;C\nbob;B2\n")
    )
    with pytest.raises(InjectionError, match="without -infindex"):
        data.lookup("bob")
    assert data.index(0) == {"alice": 0, "bob": 3, "carol": 2}  # the last line wins
    assert data.indexed_field == 0
    assert data.lookup("carol") == 2
    assert data.lookup("dave") == -1
    assert data.field(data.lookup("alice"), 1) == "A"


def test_insert_and_replace_keep_the_index(tmp_path: Path) -> None:
    data = InjectionFile.load(write(tmp_path, "u.csv", "SEQUENTIAL\nalice;A\nbob;B\n"))
    data.index(0)
    data.insert("dave;D")
    assert data.num_lines == 3
    assert data.lookup("dave") == 2
    assert data.row_for_call(3) == ["dave", "D"]
    data.replace(0, "erin;E")
    assert data.lookup("alice") == -1
    assert data.lookup("erin") == 0
    with pytest.raises(InjectionError, match="invalid line number 7"):
        data.replace(7, "x")


def test_printf_files_are_read_only_but_indexable(tmp_path: Path) -> None:
    data = InjectionFile.load(write(tmp_path, "p.csv", "SEQUENTIAL,PRINTF=3\nuser%d;pw%d\n"))
    assert data.index(0) == {"user0": 0, "user1": 1, "user2": 2}
    assert data.field(data.lookup("user2"), 1) == "pw2"
    with pytest.raises(InjectionError, match="PRINTF file"):
        data.insert("x")
    with pytest.raises(InjectionError, match="PRINTF file"):
        data.replace(0, "x")


# -- registry -----------------------------------------------------------------------------


def test_registry_by_base_name_with_default(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    caller = write(tmp_path / "sub", "caller.csv", "USER\nalice\nbob\n")
    callee = write(tmp_path, "callee.csv", "SEQUENTIAL\n100\n200\n300\n")
    registry = InjectionRegistry.load([caller, callee], rng=random.Random(1))
    assert registry.names == ["caller.csv", "callee.csv"]
    assert registry.default is registry.get("caller.csv")
    assert "callee.csv" in registry
    assert str(callee) in registry  # looked up by base name
    assert len(registry) == 2
    assert [f.name for f in registry] == ["caller.csv", "callee.csv"]
    assert registry.lines_for_call(2, user_id=1) == {"caller.csv": 0, "callee.csv": 1}
    assert registry.index("callee.csv", 0) == {"100": 0, "200": 1, "300": 2}
    assert registry.get("callee.csv").lookup("300") == 2
    with pytest.raises(InjectionError, match="not an injection file of this run"):
        registry.get("other.csv")


def test_empty_registry() -> None:
    registry = InjectionRegistry()
    assert registry.default is None
    assert registry.lines_for_call(1) == {}
    assert 3 not in registry


def test_parse_from_text_and_base_name() -> None:
    data = InjectionFile.parse("RANDOM\nx;y\n", name="mem.csv", rng=random.Random(0))
    assert data.row_for_call(1) == ["x", "y"]
    assert base_name("a/b/c.csv") == "c.csv"
    assert base_name("a\\b\\c.csv") == "c.csv"
    assert base_name("c.csv") == "c.csv"
