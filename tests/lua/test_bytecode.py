"""luaflow's own chunks load as bytecode compiled once per process; user code stays text."""

from __future__ import annotations

import pytest

from luaflow.lua import LuaflowError, LuaRuntimeError, LuaState
from luaflow.lua._bytecode import own_bytecode


def test_own_chunks_carry_no_debug_information() -> None:
    """Stripped (a quarter less code per state): their frames have no position, as C
    functions, while user code keeps its own."""
    plain = own_bytecode(b"local x = 1\nreturn function() return x end", b"@luaflow/p.lua")
    assert b"p.lua" not in plain
    state = LuaState()
    helper = state.call(state.load("return function() assert(false, 'nope') end", "luaflow/h.lua"))
    state.globals[b"helper"] = helper[0]
    for code, message in [("\nhelper()", "nope"), ("\nassert(false, 'x')", "app/user.lua:2: x")]:
        with pytest.raises(LuaflowError) as info:
            state.call(state.load(code, "app/user.lua"))
        assert info.value.message == message
    state.close()


def test_compiled_once_per_source() -> None:
    first = own_bytecode(b"return 1", b"@luaflow/once.lua")
    assert own_bytecode(b"return 1", b"@luaflow/once.lua") is first
    changed = own_bytecode(b"return 2", b"@luaflow/once.lua")
    assert changed != first
    state = LuaState()
    assert state.call(state.load("return 2", "luaflow/once.lua")) == [2]
    state.close()


def test_own_chunk_syntax_error_names_file_and_line() -> None:
    state = LuaState()
    with pytest.raises(LuaRuntimeError, match=r"^luaflow/bad\.lua:2: unexpected symbol"):
        state.load("local a = 1\nreturn +", "luaflow/bad.lua")
    state.close()


def test_user_chunks_cannot_be_bytecode() -> None:
    state = LuaState()
    binary = own_bytecode(b"return 'loaded'", b"@luaflow/binary.lua").decode("latin-1")
    with pytest.raises(LuaRuntimeError):
        state.load(binary, "app/user.lua")
    state.close()
