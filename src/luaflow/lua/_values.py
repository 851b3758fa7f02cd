"""Lua <-> Python values by the JSON rules of SPEC B2.

Lupa's own conversions are ambiguous (`{}` vs `[]`, `{1, nil, 3}`) and decode strings strictly, so
every value that leaves or enters Lua goes through these two functions instead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import lupa.lua54 as lupa_lua

from luaflow.lua._errors import INTERNAL, LuaflowError

if TYPE_CHECKING:
    from luaflow.lua._runtime import LuaState

MAX_DEPTH = 128


class ValueConversionError(LuaflowError):
    """A Lua value that has no JSON form (mixed keys, holes, cycles, too deep)."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(f"{message} at {path}", INTERNAL, False)
        self.path = path


def decode_str(value: bytes) -> str | bytes:
    """A Lua string as text when it is UTF-8, else as raw bytes (travels as binary/plain)."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value


def from_lua(state: LuaState, value: Any, path: str = "value") -> Any:
    """Convert a Lua value into plain JSON-able Python data (B2)."""
    return _from_lua(state, value, path, 0, set())


def _from_lua(state: LuaState, value: Any, path: str, depth: int, seen: set[bytes]) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None
        if value.is_integer() and abs(value) < 2**63:
            return int(value)
        return value
    if isinstance(value, bytes):
        return decode_str(value)
    if isinstance(value, str):
        return value
    if state.is_error(value):
        return state.error_from_lua(value).text()
    if lupa_lua.lua_type(value) != "table":
        return None  # functions, coroutines, userdata: not serialisable (B2)
    if state.is_opaque(value):
        return None
    if depth >= MAX_DEPTH:
        raise ValueConversionError("cannot encode table deeper than 128 levels", path)
    ident = state.ptr(value)
    if ident in seen:
        raise ValueConversionError("cannot encode recursive table", path)
    seen.add(ident)
    try:
        return _table_from_lua(state, value, path, depth, seen)
    finally:
        seen.discard(ident)


def _table_from_lua(state: LuaState, table: Any, path: str, depth: int, seen: set[bytes]) -> Any:
    items = list(table.items())
    if not items:
        return []
    int_keys = [k for k, _ in items if isinstance(k, int) and not isinstance(k, bool)]
    if len(int_keys) == len(items):
        if sorted(int_keys) != list(range(1, len(items) + 1)):
            raise ValueConversionError("cannot encode sparse array", path)
        values = dict(items)
        return [
            _from_lua(state, values[i], f"{path}[{i}]", depth + 1, seen)
            for i in range(1, len(items) + 1)
        ]
    if int_keys:
        raise ValueConversionError("cannot encode mixed-key table", path)
    out: dict[str, Any] = {}
    for key, item in items:
        if not isinstance(key, bytes):
            raise ValueConversionError(
                f"cannot encode table key of type {type(key).__name__}", path
            )
        name = key.decode("utf-8", errors="replace")
        out[name] = _from_lua(state, item, f"{path}.{name}", depth + 1, seen)
    return out


def to_lua(state: LuaState, value: Any) -> Any:
    """Convert plain Python data (JSON-decoded, bytes allowed) into Lua values."""
    if value is None or isinstance(value, bool | int | float | bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, LuaflowError):
        return state.error_to_lua(value)
    if isinstance(value, Mapping):
        table = state.runtime.table()
        for key, item in value.items():
            table[str(key).encode("utf-8")] = to_lua(state, item)
        return table
    if isinstance(value, list | tuple):
        table = state.runtime.table()
        for i, item in enumerate(value, 1):
            table[i] = to_lua(state, item)
        return table
    if lupa_lua.lua_type(value) is not None:
        return value  # already a Lua object
    raise TypeError(f"cannot pass {type(value).__name__} to Lua")
