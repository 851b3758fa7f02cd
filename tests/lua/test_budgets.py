"""Bounded Lua (DESIGN invariant 2): runaway code in C functions, metamethods, finalizers and
value conversion ends within its bound with an error naming the limit, and never freezes the
process. Offenders run in a child process, so that a regression fails the test instead of
hanging it."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import textwrap
import time
from importlib import resources
from typing import Any

import lupa.lua54 as lupa_lua
import pytest

from luaflow.lua import (
    HOST_LIMITS,
    PAYLOAD_LIMIT,
    LogLine,
    LuaflowError,
    LuaLimits,
    LuaState,
    ValueConversionError,
    bounded_error,
    check_incoming,
    check_payload,
    json_module,
    logger_module,
    waiting,
)

#: Runs each case in a fresh state of the child process and prints what happened, as JSON.
RUNNER = textwrap.dedent(
    """
    import json, sys, time
    from luaflow.lua import LuaLimits, LuaState, json_module
    out = []
    for code, limits in json.loads(sys.stdin.read()):
        printed = []
        state = LuaState(limits=LuaLimits(**limits), printer=printed.append)
        state.install_require({"json": json_module}, "app:test")
        started = time.monotonic()
        try:
            values = [state.from_lua(v) for v in state.call(state.load(code, "case.lua"))]
            result = {"values": values}
        except Exception as exc:
            result = {"error": str(exc), "type": type(exc).__name__}
        result["elapsed"] = time.monotonic() - started
        result["printed"] = sum(len(line) + 1 for line in printed)
        result["last_line"] = printed[-1] if printed else ""
        state.close()
        result["closed"] = time.monotonic() - started
        out.append(result)
    print(json.dumps(out))
    """
)


def run_cases(*cases: str | tuple[str, dict[str, Any]], timeout: float = 60) -> list[Any]:
    jobs = [(c, {}) if isinstance(c, str) else c for c in cases]
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER],
        input=json.dumps(jobs),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr
    results: list[Any] = json.loads(proc.stdout)
    return results


LIMIT = r"instruction budget exceeded|time limit exceeded"


@pytest.mark.parametrize(
    "code",
    [
        'return string.find(string.rep("a", 1e5), ".-.-.-.-.-b")',
        'return (string.rep("a", 1e5)):match("(a*)*b")',
        'local n = 0 for _ in string.rep("a", 1e5):gmatch("a-a-a-a-b") do n = n + 1 end return n',
        'return (string.gsub(string.rep("a", 1e5), "a*a*a*b", "x"))',
        'return string.find(string.rep("a", 3e7), string.rep("a", 1e6) .. "b", 1, true)',
    ],
    ids=["find", "match", "gmatch", "gsub", "plain-find"],
)
def test_catastrophic_patterns_hit_the_budget(code: str) -> None:
    [result] = run_cases(code)
    assert result.get("error") is not None, result
    assert re.search(LIMIT, result["error"]), result
    assert result["elapsed"] < 5


def test_metamethod_loops_hit_the_budget() -> None:
    eq, lt, tostring_loop = run_cases(
        "local mt = {__eq = function() while true do end end} "
        "return setmetatable({}, mt) == setmetatable({}, mt)",
        "local mt = {__lt = function() while true do end end} "
        "return setmetatable({}, mt) < setmetatable({}, mt)",
        "return tostring(setmetatable({}, {__tostring = function() while true do end end}))",
    )
    for result in (eq, lt, tostring_loop):
        assert re.search(LIMIT, result["error"]) and result["elapsed"] < 5


def test_values_whose_metatable_loops_convert_without_running_it() -> None:
    """Python reads such values (errors? opaque?) without running user code."""
    [result] = run_cases(
        "local loop = setmetatable({}, {__eq = function() while true do end end}) "
        "return setmetatable({}, {__metatable = loop, __index = function() while true do end end})"
    )
    assert result["values"] == [[]] and result["elapsed"] < 1


def test_finalizers_are_ignored() -> None:
    [result] = run_cases(
        """
        ran = 0
        for _ = 1, 200 do
            setmetatable({}, {__gc = function() ran = ran + 1 while true do end end})
        end
        local junk = {}
        for i = 1, 3e5 do junk[i % 100] = {i} end
        return ran
        """
    )
    assert result["values"] == [0]
    assert result["closed"] < 2


def test_c_loops_without_instructions_are_bounded() -> None:
    rep, move, insert, upper, concat = run_cases(
        'return #string.rep("", 1e15), #string.rep("", 1e15, "")',
        ("return table.move({}, 1, 1e12, 2)", {"instructions": 10**15, "seconds": 0.5}),
        "local t = setmetatable({}, {__len = function() return 1e15 end}) table.insert(t, 1, 'x')",
        (
            'local s = string.rep("x", 8e6) while true do s:upper() end',
            {"instructions": 10**15, "seconds": 0.5},
        ),
        (
            'local s = string.rep("x", 4e6) while true do local _ = s .. "y" end',
            {"instructions": 10**15, "seconds": 0.5},
        ),
    )
    assert rep["values"] == [0, 0] and rep["elapsed"] < 1
    for result in (move, upper, concat):
        assert "time limit exceeded: ran over 0.5 s" in result["error"], result
        assert result["elapsed"] < 2.5
    assert re.search(LIMIT, insert["error"]) and insert["elapsed"] < 5


def test_memory_cap_is_an_error_never_a_freeze() -> None:
    lua_side, decode, after = run_cases(
        (
            "local t = {} for i = 1, 1e8 do t[i] = ('x'):rep(64) .. i end",
            {"instructions": 10**15, "seconds": 30},
        ),
        (
            'local json = require("json") '
            'local v, err = json.decode("[" .. string.rep("0,", 3e6) .. "0]") '
            "return v == nil, err and err:message()",
            {"instructions": 10**15, "seconds": 30},
        ),
        "return 1 + 1",
        timeout=120,
    )
    assert "Lua memory limit of 64 MiB exceeded" in lua_side["error"]
    assert decode["values"][0] is True
    assert "does not fit in the Lua memory limit of 64 MiB" in decode["values"][1]
    assert after["values"] == [2]


def test_output_is_limited_per_state() -> None:
    [result] = run_cases(
        'local line = string.rep("x", 999) for _ = 1, 1e5 do print(line) end return "done"'
    )
    assert result["values"] == ["done"]
    assert result["printed"] < 1024 * 1024 + 200
    assert "output limit" in result["last_line"]


def test_logger_lines_share_the_output_limit() -> None:
    lines: list[LogLine] = []
    printed: list[str] = []
    state = LuaState(printer=printed.append)
    state.globals[b"logger"] = logger_module(state, lines.append, "app:x", lambda: "pid")
    code = 'for i = 1, 3000 do logger:info(string.rep("x", 500), {i = i}) end print("after")'
    state.call(state.load(code, "flood.lua"))
    assert 1000 < len(lines) < 2100  # ~520 bytes a line: about 1 MiB of them got through
    assert printed == ["[output limit: this run printed over 1048576 bytes; the rest is dropped]"]
    state.close()


def test_time_limit_names_where_it_was_set() -> None:
    limits = LuaLimits(instructions=10**15, seconds=0.3, source="options.limits.x of app:f")
    state = LuaState(limits=limits)
    started = time.monotonic()
    with pytest.raises(LuaflowError, match=r"ran over 0.3 s without waiting \(set by options"):
        state.call(state.load("while true do end", "spin.lua"))
    assert time.monotonic() - started < 1.5
    assert HOST_LIMITS.seconds == 5.0


def test_waiting_does_not_count_against_the_time_limit() -> None:
    state = LuaState(limits=LuaLimits(seconds=0.3))

    def block() -> int:
        with waiting():
            time.sleep(0.6)
        return 7

    state.globals[b"block"] = block
    code = "local n = block() for i = 1, 1e5 do end return n"
    assert state.call(state.load(code, "w.lua")) == [7]


def test_a_state_that_hit_a_limit_stays_failed() -> None:
    state = LuaState(limits=LuaLimits(instructions=1_000_000))
    spin = "while true do pcall(error, 'x') end"
    with pytest.raises(LuaflowError, match="instruction budget exceeded"):
        state.call(state.load(spin, "spin.lua"))
    assert state.exceeded is not None
    with pytest.raises(LuaflowError, match="instruction budget exceeded"):
        state.call(state.load("return 1", "one.lua"))


@pytest.mark.parametrize(
    "code",
    [
        "local co = coroutine.wrap(function() while true do end end) co()",
        "local co = coroutine.create(function() while true do end end) "
        "while true do coroutine.resume(co) end",
        "while true do pcall(function() while true do end end) end",
        "while true do xpcall(function() while true do end end, function(e) return e end) end",
    ],
    ids=["wrap", "resume", "pcall", "xpcall"],
)
def test_limits_cannot_be_caught(code: str) -> None:
    state = LuaState(limits=LuaLimits(instructions=2_000_000))
    with pytest.raises(LuaflowError, match="instruction budget exceeded"):
        state.call(state.load(code, "catch.lua"))


def test_index_metamethod_loop_from_python_raises() -> None:
    state = LuaState(limits=LuaLimits(instructions=1_000_000))
    [table] = state.call(
        state.load("return setmetatable({}, {__index = function() while true do end end})", "t")
    )
    with pytest.raises(LuaflowError, match="instruction budget exceeded"):
        state.index(table, "main")


def test_python_objects_hide_their_metatable() -> None:
    state = LuaState()
    state.install_require({"json": json_module}, "app:t")
    code = 'local json = require("json") return getmetatable(json.encode), getmetatable(print)'
    assert state.call(state.load(code, "t.lua")) == [False, None]


# -- the bounded pattern matcher ----------------------------------------------------------------


def _compare() -> Any:
    """A Lua function running one pattern call on Lua's C library and on luaflow/pattern.lua
    (in a plain Lua runtime), returning both outcomes as text."""
    runtime = lupa_lua.LuaRuntime(encoding=None)
    source = resources.files("luaflow.lua").joinpath("pattern.lua").read_bytes()
    c = runtime.eval(
        "{byte = string.byte, char = string.char, sub = string.sub, find = string.find, "
        "concat = table.concat, unpack = table.unpack, match = string.match, "
        "gmatch = string.gmatch, gsub = string.gsub}"
    )
    bounded = runtime.execute(source, c)
    compare = runtime.eval(
        """function(c, m, op, s, p, a, b)
            local function run(lib)
                local r
                if op == "gmatch" then
                    r = table.pack(pcall(function()
                        local out = {}
                        for x, y in lib.gmatch(s, p, a) do
                            out[#out + 1] = tostring(x) .. "," .. tostring(y)
                        end
                        return table.concat(out, ";")
                    end))
                else
                    local repl = a
                    if a == "@table" then repl = {a = "A", ab = false, x = 1} end
                    if a == "@fn" then
                        repl = function(x, y)
                            if x == "b" then return nil end
                            return "<" .. x .. tostring(y) .. ">"
                        end
                    end
                    r = table.pack(pcall(lib[op], s, p, repl, b))
                end
                if not r[1] and type(r[2]) == "table" then r[2] = r[2].pattern_error end
                if not r[1] then r[2] = (r[2]:gsub('^%[string "[^"]*"%]:%d+: ', "")) end
                for i = 1, r.n do r[i] = tostring(r[i]) end
                return table.concat(r, "|", 1, r.n)
            end
            return run(c), run(m)
        end"""
    )
    return lambda *args: compare(c, bounded, *args)


PATTERNS = [
    "a", "a*", "a+b", "a-b", "a?b", "^a", "a$", ".", "%a+", "%d*%.?%d+", "[abc]+", "[^a]",
    "[a-c]+", "(a)(b)", "()a()", "(a*(.))", "%bxy", "%f[%w]%w+", "(a)%1", "[%]]", "%", "[a",
    "(a", "a)", "%g+", "%p", "%S+", "%x%x", "[%a_][%w_]*", "%u%l*", "x*$", "(%w+)=(%w+)",
    "%z", "[]]", "[^]]", "%b()", "(()a)", "%f[%z]",
]  # fmt: skip
SUBJECTS = ["", "a", "aab", "xayby", "abcabc", "a1 b2", "x(a(b)c)y", "key=val k2=v2", "  \t\n"]


def test_bounded_matcher_agrees_with_lua() -> None:
    compare = _compare()
    rng = random.Random(7)
    subjects = SUBJECTS + ["".join(rng.choice("ab(x)=1 ") for _ in range(12)) for _ in range(20)]
    checked = 0
    for p in PATTERNS:
        for s in subjects:
            for op, a, b in [
                ("find", None, None), ("find", 2, None), ("find", -3, None), ("find", 1, True),
                ("match", None, None), ("match", 3, None), ("gmatch", None, None),
                ("gsub", "<%0>", None), ("gsub", "%1", 2), ("gsub", "%%", None),
                ("gsub", "%2", None), ("gsub", "@table", None), ("gsub", "@fn", 3),
            ]:  # fmt: skip
                text = a.encode() if isinstance(a, str) else a
                c, lua = compare(op.encode(), s.encode(), p.encode(), text, b)
                assert c == lua, (op, s, p, a, b)
                checked += 1
    assert checked > 10_000


# -- values crossing to and from Temporal --------------------------------------------------------


def test_payload_checks_name_the_place() -> None:
    check_payload({"a": [1, "x"]}, "argument 1")
    check_payload(b"\xff" * 10, "argument 1")  # raw bytes as a whole value: binary/plain
    with pytest.raises(ValueConversionError, match=r"not valid UTF-8 at argument 1\.a\[2\]"):
        check_payload({"a": [1, b"\xff"]}, "argument 1")
    with pytest.raises(ValueConversionError, match=r"over the payload limit of 2\.0 MiB") as info:
        check_payload("x" * PAYLOAD_LIMIT, "argument 2")
    assert info.value.kind == "Invalid"


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (2**70, "integer out of the 64-bit range Lua holds at signal payload 1"),
        ({"a": "\ud800"}, "lone surrogate is not text at signal payload 1.a"),
        ([[[[]]]], None),
    ],
)
def test_incoming_values_are_checked(value: Any, words: str | None) -> None:
    if words is None:
        check_incoming(value, "signal payload 1")
        return
    with pytest.raises(ValueConversionError, match=words.replace(".", r"\.")):
        check_incoming(value, "signal payload 1")


def test_incoming_nesting_is_bounded() -> None:
    deep: Any = []
    for _ in range(200):
        deep = [deep]
    with pytest.raises(ValueConversionError, match="nested deeper than 128 levels"):
        check_incoming(deep)
    state = LuaState()
    with pytest.raises(ValueConversionError):
        state.to_lua(deep)


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("local t = {} t[true] = 1 return t", "cannot encode table key of type bool"),
        ('return {["\\255"] = 1}', "table key is not valid UTF-8"),
        ("local t = {} t.me = t return {t}", "cannot encode recursive table at value[1].me"),
    ],
)
def test_tables_without_a_json_form_are_invalid(code: str, words: str) -> None:
    state = LuaState()
    [value] = state.call(state.load(code, "v.lua"))
    with pytest.raises(ValueConversionError, match=words.replace("[", r"\[").replace("]", r"\]")):
        state.from_lua(value)


def test_errors_leaving_a_run_are_bounded() -> None:
    small = LuaflowError("fine", "NotFound", False, {"id": 1})
    assert bounded_error(small) is small
    chain: LuaflowError | None = None
    for i in range(100):
        chain = LuaflowError(f"level {i}", "Internal", None, None, chain)
    assert chain is not None
    big = LuaflowError("x" * 10**6, "Internal", False, {"blob": "y" * 10**6}, chain)
    bounded = bounded_error(big)
    assert bounded.message.endswith("[cut: 1000000 characters]") and bounded.details is None
    assert len(bounded.chain()) == 16 and bounded.kind == "Internal"
