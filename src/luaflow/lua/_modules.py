"""Pure Lua modules (json, time) and the module tables they are built from."""

from __future__ import annotations

import json
import time as _time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from luaflow.lua._duration import time_duration_ns
from luaflow.lua._errors import INTERNAL, LuaflowError
from luaflow.lua._runtime import LuaState
from luaflow.lua._values import ValueConversionError, decode_str


def lua_source(name: str, package: str = "luaflow.lua") -> bytes:
    """A Lua file shipped inside a luaflow package."""
    return resources.files(package).joinpath(name).read_bytes()


_TIME_LUA = lua_source("time.lua")


def lua_table(state: LuaState, functions: dict[str, Callable[..., Any]]) -> Any:
    """A Lua table of Python callables (bridges take and return Lua values)."""
    table = state.runtime.table()
    for name, fn in functions.items():
        table[name.encode()] = fn
    return table


def lua_result(state: LuaState, fn: Callable[[], Any]) -> tuple[Any, Any]:
    """Run `fn` and return `value, nil` or `nil, err` the Lua way."""
    try:
        return state.to_lua(fn()), None
    except LuaflowError as err:
        return None, state.error_to_lua(err)


@dataclass(frozen=True)
class Clock:
    """Where `time` gets "now" and how it sleeps: wall clock for host code, workflow time inside
    workflows (then `sleep` suspends the task on a durable timer)."""

    now_ns: Callable[[], int]
    sleep: Any  # a Python or Lua callable taking nanoseconds
    #: Durable timers (`after`, `timer`, ...) that only workflows provide.
    timers: Mapping[str, Any] = field(default_factory=dict)


WALL_CLOCK = Clock(now_ns=_time.time_ns, sleep=lambda ns: _time.sleep(ns / 1e9))


def format_duration(ns: int) -> str:
    """Go's Duration.String() for the common cases ("1h30m0s", "1.5s", "250ms")."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000:
        return f"{sign}{ns}ns"
    if ns < 1_000_000:
        return f"{sign}{ns / 1_000:g}µs"
    if ns < 1_000_000_000:
        return f"{sign}{ns / 1_000_000:g}ms"
    hours, rest = divmod(ns, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    seconds = f"{rest / 10**9:.9f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}"
    if minutes:
        return f"{sign}{minutes}m{seconds}"
    return sign + seconds


def time_module(state: LuaState, clock: Clock) -> Any:
    """The `time` module of SPEC 2.3 over `clock`."""

    def parse(value: Any) -> tuple[Any, Any]:
        if isinstance(value, bytes):
            value = decode_str(value)
        return lua_result(state, lambda: time_duration_ns(value))

    bridge = lua_table(
        state,
        {
            "now_ns": clock.now_ns,
            "sleep": clock.sleep,
            "parse_duration": parse,
            "format_duration": lambda ns: format_duration(int(ns)).encode(),
            **clock.timers,
        },
    )
    return state.call(state.load(_TIME_LUA.decode(), "luaflow/time.lua"), bridge)[0]


def ctx_module(state: LuaState, context: Mapping[str, Any] | None) -> Any:
    """`ctx.get/all` over the values propagated with `with_context` (SPEC 2.6)."""

    def get(key: Any) -> tuple[Any, Any]:
        def run() -> Any:
            if not isinstance(key, bytes) or not key:
                raise LuaflowError("ctx.get: key must be a non-empty string", "Invalid", False)
            if context is None:
                raise LuaflowError("no context", INTERNAL, False)
            name = key.decode("utf-8", errors="replace")
            if name not in context:
                raise LuaflowError(f"context key {name} not found", "NotFound", False)
            return context[name]

        return lua_result(state, run)

    def get_all() -> tuple[Any, Any]:
        return lua_result(state, lambda: dict(context or {}))

    return lua_table(state, {"get": get, "all": get_all})


def json_module(state: LuaState) -> Any:
    """`json.encode/decode` with the B2 rules; failures are `nil, err` (kind Internal)."""

    def encode(value: Any) -> tuple[Any, Any]:
        def run() -> str:
            return json.dumps(state.from_lua(value), ensure_ascii=False, separators=(",", ":"))

        return lua_result(state, run)

    def decode(text: Any) -> tuple[Any, Any]:
        def run() -> Any:
            if not isinstance(text, bytes):
                raise LuaflowError("json.decode expects a string", INTERNAL, False)
            try:
                return json.loads(text)
            except (ValueError, UnicodeDecodeError) as exc:
                raise LuaflowError(f"invalid JSON: {exc}", INTERNAL, False) from None

        return lua_result(state, run)

    return lua_table(state, {"encode": encode, "decode": decode})


__all__ = [
    "WALL_CLOCK",
    "Clock",
    "ValueConversionError",
    "ctx_module",
    "json_module",
    "lua_result",
    "lua_table",
    "time_module",
]
