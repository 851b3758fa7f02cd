"""The sandboxed Lua layer: states, values (SPEC B2), errors (SPEC 2.8) and pure modules."""

from luaflow.lua._duration import option_duration, parse_go_duration, time_duration_ns
from luaflow.lua._errors import LuaflowError
from luaflow.lua._modules import (
    WALL_CLOCK,
    Clock,
    ctx_module,
    json_module,
    lua_result,
    lua_table,
    time_module,
)
from luaflow.lua._runtime import HOST_LIMITS, IO_MODULES, LuaLimits, LuaRuntimeError, LuaState
from luaflow.lua._values import ValueConversionError, decode_str

__all__ = [
    "HOST_LIMITS",
    "IO_MODULES",
    "WALL_CLOCK",
    "Clock",
    "LuaLimits",
    "LuaRuntimeError",
    "LuaState",
    "LuaflowError",
    "ValueConversionError",
    "ctx_module",
    "decode_str",
    "json_module",
    "lua_result",
    "lua_table",
    "option_duration",
    "parse_go_duration",
    "time_duration_ns",
    "time_module",
]
