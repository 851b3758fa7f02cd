"""The sandboxed Lua layer: states, values (SPEC B2), errors (SPEC 2.8) and pure modules."""

from luaflow.lua._base64 import base64_module
from luaflow.lua._crypto import crypto_module
from luaflow.lua._dialect import Analysis, LuaSyntaxError, analyze, translate
from luaflow.lua._duration import option_duration, parse_go_duration
from luaflow.lua._env import env_module
from luaflow.lua._errors import (
    ALREADY_EXISTS,
    CANCELED,
    INTERNAL,
    INVALID,
    NOT_FOUND,
    TIMEOUT,
    UNAVAILABLE,
    HostFailure,
    LuaflowError,
)
from luaflow.lua._hash import hash_module
from luaflow.lua._logger import LogLine, LogSink, logger_module, printed, to_logging
from luaflow.lua._modules import (
    WALL_CLOCK,
    Clock,
    ctx_module,
    json_module,
    lua_result,
    lua_source,
    lua_table,
    time_module,
)
from luaflow.lua._payload import PAYLOAD_FORMATS, transcode_payload
from luaflow.lua._runtime import (
    GLOBAL_MODULES,
    HOST_LIMITS,
    IO_MODULES,
    LuaLimits,
    LuaRuntimeError,
    LuaState,
    ModuleLoader,
    waiting,
)
from luaflow.lua._uuid import uuid_module
from luaflow.lua._values import (
    MAX_DEPTH,
    PAYLOAD_LIMIT,
    ValueConversionError,
    bounded_error,
    check_incoming,
    check_payload,
    decode_str,
)

__all__ = [
    "ALREADY_EXISTS",
    "CANCELED",
    "GLOBAL_MODULES",
    "HOST_LIMITS",
    "INTERNAL",
    "INVALID",
    "IO_MODULES",
    "MAX_DEPTH",
    "NOT_FOUND",
    "PAYLOAD_FORMATS",
    "PAYLOAD_LIMIT",
    "TIMEOUT",
    "UNAVAILABLE",
    "WALL_CLOCK",
    "Analysis",
    "Clock",
    "HostFailure",
    "LogLine",
    "LogSink",
    "LuaLimits",
    "LuaRuntimeError",
    "LuaState",
    "LuaSyntaxError",
    "LuaflowError",
    "ModuleLoader",
    "ValueConversionError",
    "analyze",
    "base64_module",
    "bounded_error",
    "check_incoming",
    "check_payload",
    "crypto_module",
    "ctx_module",
    "decode_str",
    "env_module",
    "hash_module",
    "json_module",
    "logger_module",
    "lua_result",
    "lua_source",
    "lua_table",
    "option_duration",
    "parse_go_duration",
    "printed",
    "time_module",
    "to_logging",
    "transcode_payload",
    "translate",
    "uuid_module",
    "waiting",
]
