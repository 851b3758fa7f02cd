"""luaflow's own chunks load as bytecode compiled once per process; user code stays text."""

from __future__ import annotations

import pytest

from luaflow.lua import LuaflowError, LuaRuntimeError, LuaState
from luaflow.lua._bytecode import own_bytecode


def test_own_chunk_keeps_its_debug_information() -> None:
    """Error positions and variable names read as if the state had compiled the source."""
    state = LuaState()
    fn = state.load("local x = nil\nreturn x.y", "luaflow/probe.lua")
    with pytest.raises(LuaflowError) as info:
        state.call(fn)
    assert info.value.message == "luaflow/probe.lua:2: attempt to index a nil value (local 'x')"
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
