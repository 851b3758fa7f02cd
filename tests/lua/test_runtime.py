"""The sandboxed Lua state: values (B2), errors, sandbox, limits, deterministic pairs()."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

import luaflow.lua._runtime as runtime_module
from luaflow.lua import (
    WALL_CLOCK,
    LuaflowError,
    LuaLimits,
    LuaRuntimeError,
    LuaState,
    json_module,
    parse_go_duration,
    time_module,
)


def run(code: str, state: LuaState | None = None) -> list[Any]:
    state = state or LuaState()
    return [state.from_lua(v) for v in state.call(state.load(code, "test.lua"))]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("return {}", []),
        ("return {1, 2, 3}", [1, 2, 3]),
        ("return {a = 1, b = {c = 'x'}}", {"a": 1, "b": {"c": "x"}}),
        ("return 5.0", 5),
        ("return 2.5", 2.5),
        ("return 0/0", None),
        ("return math.huge", None),
        ("return 'h\\u{e9}'", "hé"),
        ("return '\\xff\\xfe'", b"\xff\xfe"),
        ("return function() end", None),
        ("return errors.new('boom')", "boom"),
    ],
)
def test_values_follow_b2(code: str, expected: Any) -> None:
    assert run(code) == [expected]


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("return {1, nil, 3}", "cannot encode sparse array"),
        ("return {1, a = 2}", "cannot encode mixed-key table"),
        ("local t = {} t.self = t return t", "cannot encode recursive table"),
    ],
)
def test_unencodable_tables_raise(code: str, message: str) -> None:
    with pytest.raises(LuaflowError, match=message):
        run(code)


def test_python_values_enter_lua_by_b2() -> None:
    state = LuaState()
    fn = state.load("local v = ... return v.a[2], v.s, v.n == nil, math.type(v.i)", "t.lua")
    values = state.call(fn, state.to_lua({"a": [1, 2], "s": "x", "n": None, "i": 3}))
    assert values == [2, b"x", True, b"integer"]


def test_sandbox_hides_dangerous_globals() -> None:
    names = "io load loadstring loadfile dofile debug python package utf8 collectgarbage"
    code = "local out = {} for n in (...):gmatch('%S+') do out[#out+1] = type(_G[n]) end return out"
    state = LuaState()
    fn = state.load(code, "t.lua")
    assert state.from_lua(state.call(fn, names.encode())[0]) == ["nil"] * 10
    assert run("return type(os.execute), type(os.exit), type(os.time), type(string.dump)") == [
        "nil",
        "nil",
        "function",
        "nil",
    ]


def test_strict_globals_metatable_in_user_code() -> None:
    # The strict-mode idiom: undeclared reads and writes raise. The runtime's own lookups into
    # the globals (lupa reads `debug` on every call into Lua) must not reach it: an error there
    # is unprotected and would abort the process.
    state = LuaState()
    strict = """
        local mt = {}
        mt.__index = function(_, k) error("undeclared " .. k, 2) end
        mt.__newindex = function(_, k) error("assignment to undeclared " .. k, 2) end
        setmetatable(_G, mt)
        return getmetatable(_G) == mt
    """
    assert run(strict, state) == [True]
    assert run("return pcall(function() return nope end)", state)[0] is False
    ok, err = run("return pcall(function() fresh = 1 end)", state)
    assert ok is False and "assignment to undeclared fresh" in err
    assert run("rawset(_G, 'declared', 2) return declared", state) == [2]
    # the dialect's primitive types become globals on the first typed chunk, past the check
    assert run("local n: integer = 3\nreturn integer(n * 2)", state) == [6]
    # a metatable that protects itself stays
    run("setmetatable(_G, {__metatable = 'locked'})", state)
    with pytest.raises(LuaflowError, match="cannot change a protected metatable"):
        run("setmetatable(_G, nil)", state)
    state.close()


def test_lazy_chunks_load_on_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[bytes] = []
    real = runtime_module._own_chunk
    monkeypatch.setattr(runtime_module, "_own_chunk", lambda name: loads.append(name) or real(name))
    state = LuaState()
    assert run("return tostring(3.0), ('ab'):upper(), #('x'):sub(1, 1), string.format('%d', 2.5)",
               state) == ["3", "AB", 1, "2"]  # fmt: skip
    assert loads == []  # a state that never calls them holds none of the chunks
    code = """local find = string.find           -- kept before the first call
        local a = find('abc', 'b')
        local b = ('abc'):match('(c)')
        local t = {3, 1, 2}
        table.insert(t, 4)
        return a, b, table.unpack(t)"""
    assert run(code, state) == [2, "c", 3, 1, 2, 4]
    assert run("return errors.new('x'):kind(), errors.INVALID", state) == ["", "Invalid"]
    assert loads.count(b"bounded.lua") == 1 and loads.count(b"errors.lua") == 1
    assert b"numbers.lua" not in loads
    code = "return tostring(1.5), tostring(0.1 + 0.2), math.tanh(0), math.sinh(1) > 1.17"
    assert run(code, state) == ["1.5", "0.30000000000000004", 0.0, True]
    assert loads.count(b"numbers.lua") == 1  # Go's float formatting and hyperbolic functions
    state.close()


def test_require_only_listed_modules() -> None:
    state = LuaState()
    state.install_require({"json": json_module}, "app:fn")
    assert run("return require('json').encode({a = 1})", state) == ['{"a":1}', None]
    assert run("return require('errors') == errors", state) == [True]
    with pytest.raises(LuaflowError, match=r'require\("http"\) is not declared.*app:fn'):
        run("return require('http')", state)


def test_errors_module() -> None:
    state = LuaState()
    code = """
    local e = errors.new({message = "nope", kind = errors.NOT_FOUND, retryable = false,
                          details = {id = 7}})
    local w = errors.wrap(e, "loading user")
    return w, errors.is(w, errors.NOT_FOUND), w:kind(), tostring(w), errors.NOT_FOUND,
           pcall(errors.new, "Invalid", "two args")
    """
    values = state.call(state.load(code, "t.lua"))
    err = state.error_from_lua(values[0])
    assert (err.kind, err.retryable, err.text()) == ("NotFound", False, "loading user: nope")
    assert err.chain()[1] == {
        "msg": "nope",
        "kind": "NotFound",
        "retry": False,
        "details": {"id": 7},
    }
    assert values[1:5] == [True, b"NotFound", b"nope", b"NotFound"]  # tostring: the message
    back = state.error_to_lua(LuaflowError.from_chain(err.chain()))  # type: ignore[arg-type]
    assert state.error_from_lua(back).chain() == err.chain()


def test_syntax_error_names_file_and_line() -> None:
    with pytest.raises(LuaRuntimeError, match=r"order\.lua:2:"):
        LuaState().load("local x = 1\nx = = 2", "order.lua")


def test_runaway_loop_hits_budget_even_under_pcall() -> None:
    state = LuaState(limits=LuaLimits(instructions=5_000_000))
    code = "while true do pcall(function() while true do end end) end"
    with pytest.raises(LuaflowError, match="instruction budget exceeded"):
        state.call(state.load(code, "spin.lua"))
    with pytest.raises(LuaflowError, match="instruction budget exceeded"):
        run("return 1 + 1", state)  # a state that ran into a limit is done: it is discarded


def test_memory_cap() -> None:
    state = LuaState(limits=LuaLimits(memory=8 * 1024 * 1024))
    code = "local t = {} for i = 1, 1e8 do t[i] = ('x'):rep(64) .. i end"
    with pytest.raises(LuaflowError, match="memory limit"):
        state.call(state.load(code, "mem.lua"))


def test_durations() -> None:
    assert parse_go_duration("1h30m") == 5400 * 10**9
    assert parse_go_duration("250ms") == 250 * 10**6
    assert parse_go_duration("-1.5s") == -1_500_000_000
    with pytest.raises(LuaflowError, match='unknown unit " minutes"'):
        parse_go_duration("5 minutes")
    state = LuaState()
    state.install_require({"time": lambda s: time_module(s, WALL_CLOCK)}, "app:t")
    code = """local time = require('time')
    return tostring(time.parse_duration('90s')), time.parse_duration(time.SECOND * 2):seconds(),
           select(2, time.parse_duration('bogus')):kind(), time.unix(0, 0):utc():format_rfc3339()"""
    assert run(code, state) == ["1m30s", 2.0, "Invalid", "1970-01-01T00:00:00Z"]


PAIRS = """
from luaflow.lua import LuaState
s = LuaState()
code = "local t = {} for i = 1, 200 do t['key' .. i] = i end local o = {} " \\
       "for k in pairs(t) do o[#o + 1] = k end return table.concat(o, ',')"
print(s.from_lua(s.call(s.load(code, 'p.lua'))[0]))
"""


def test_pairs_order_is_identical_across_processes() -> None:
    outputs = {
        subprocess.run(
            [sys.executable, "-c", PAIRS], capture_output=True, text=True, check=True
        ).stdout
        for _ in range(3)
    }
    assert len(outputs) == 1
    assert outputs.pop().count(",") == 199


def test_python_objects_are_opaque_to_lua() -> None:
    state = LuaState()
    state.install_require({"json": json_module}, "app:x")
    code = (
        "local ok, err = pcall(function() return require('json').encode.__globals__ end) return ok"
    )
    assert run(code, state) == [False]


def test_os_clock_reads_the_state_clock() -> None:
    """Wippy's os.clock: seconds on the state's clock (workflow time in workflows), not CPU time."""
    now = [1000.0]
    state = LuaState(clock=lambda: now[0])
    first = state.call(state.load("return os.clock()", "c.lua"))
    now[0] += 2.5
    assert first + state.call(state.load("return os.clock(), os.platform", "c.lua")) == [
        0.0,
        2.5,
        b"wippy",
    ]
