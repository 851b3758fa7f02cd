"""Pure Lua modules (json, time) and the module tables they are built from."""

from __future__ import annotations

import json
import time as _time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from luaflow.lua._duration import parse_go_duration
from luaflow.lua._errors import INTERNAL, LuaflowError
from luaflow.lua._json import (
    check_schema,
    compile_schema,
    decode_json,
    encode_lua,
    invalid,
    schema_text,
    validation_data,
)
from luaflow.lua._runtime import LuaState
from luaflow.lua._time import (
    WORKFLOW_LOCAL,
    FixedZone,
    LocationError,
    TimeParseError,
    ZoneTable,
    civil,
    date_unix,
    fixed_zone,
    format_duration,
    format_time,
    go_quote,
    load_location,
    parse_time,
    system_local,
)
from luaflow.lua._time import add_date as add_date_unix
from luaflow.lua._time import sub as sub_time
from luaflow.lua._time import truncate as truncate_time
from luaflow.lua._values import ValueConversionError, decode_str


def lua_source(name: str, package: str = "luaflow.lua") -> bytes:
    """A Lua file shipped inside a luaflow package."""
    return resources.files(package).joinpath(name).read_bytes()


_TIME_LUA = lua_source("time.lua")
_TIME_CALENDAR_LUA = lua_source("time_calendar.lua")


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
    #: Workflows: `time.localtz` is UTC (named "Local"), the same on every worker, so formatting
    #: replays identically. Host code gets the machine's zone, as Go's `time.Local`.
    fixed_local: bool = False


WALL_CLOCK = Clock(now_ns=_time.time_ns, sleep=lambda ns: _time.sleep(ns / 1e9))

_I64 = 2**64


def _i64(value: int) -> int:
    """Wrap to a Lua integer, as Go's int64 arithmetic wraps for absurd years."""
    return (value + _I64 // 2) % _I64 - _I64 // 2


def _raw(text: str) -> bytes:
    """Back to a Lua string (texts hold one character per byte, see _time)."""
    return text.encode("latin-1", errors="replace")


def _format(layout: bytes, sec: int, nsec: int, offset: int, abbr: bytes) -> bytes:
    text = format_time(layout.decode("latin-1"), sec, nsec, offset, abbr.decode("latin-1"))
    return _raw(text)


def time_module(state: LuaState, clock: Clock) -> Any:
    """The `time` module of SPEC 2.3 over `clock`: Go's time package (lua/_time.py); Lua code
    holds zones by id. Bridge functions take and return numbers and strings only, and report
    failures as `nil, message` (never Python exceptions through Lua)."""
    zones = ZoneTable(WORKFLOW_LOCAL if clock.fixed_local else system_local())

    def zone_info(zone_id: int) -> tuple[bytes, int | None, bytes | None]:
        zone = zones.get(zone_id)
        if isinstance(zone, FixedZone):
            return _raw(zone.name), zone.offset, _raw(zone.abbr)
        return _raw(zone.name), None, None

    def zone_at(zone_id: int, unix: int) -> tuple[int, bytes]:
        abbr, offset = zones.get(zone_id).lookup(unix)
        return offset, _raw(abbr)

    def parse_duration(text: bytes) -> Any:
        decoded = decode_str(text)
        try:
            if isinstance(decoded, bytes):  # not UTF-8: no unit can match
                raise LuaflowError(f"time: invalid duration {go_quote(text.decode('latin-1'))}")
            return parse_go_duration(decoded)
        except LuaflowError as err:
            return None, err.message.encode()

    bridge = lua_table(
        state,
        {
            "now_ns": clock.now_ns,
            "sleep": clock.sleep,
            "zone_info": zone_info,
            "zone_at": zone_at,
            "format": _format,
            "parse_duration": parse_duration,
            # time.lua calls it on first use of the calendar half: a state that only sleeps
            # never holds its code nor its bridge.
            "calendar": lambda: _time_calendar(state, zones),
            **clock.timers,
        },
    )
    bridge[b"objects"] = state.objects  # Time, Duration and Location are userdata, as in Wippy
    return state.run_own(_TIME_LUA, "luaflow/time.lua", bridge)[0]


def _time_calendar(state: LuaState, zones: ZoneTable) -> tuple[Any, Any]:
    """The chunk luaflow/time_calendar.lua and its bridge (dates, layouts, zones by name)."""

    def date(y: int, mo: int, d: int, h: int, mi: int, s: int, ns: int, zone_id: int) -> Any:
        sec, nsec = date_unix(y, mo, d, h, mi, s, ns, zones.get(zone_id))
        return _i64(sec), nsec

    def add_date(sec: int, nsec: int, zone_id: int, y: int, m: int, d: int) -> Any:
        new_sec, new_nsec = add_date_unix(sec, nsec, zones.get(zone_id), y, m, d)
        return _i64(new_sec), new_nsec

    def parse(layout: bytes, value: bytes, zone_id: int) -> Any:
        try:
            sec, nsec, zone = parse_time(
                layout.decode("latin-1"), value.decode("latin-1"), zones.get(zone_id)
            )
        except TimeParseError as exc:
            return None, _raw(str(exc))
        return _i64(sec), nsec, zones.id_of(zone)

    def load(name: bytes) -> Any:
        try:
            return zones.id_of(load_location(name.decode("latin-1"), zones.local))
        except LocationError as exc:
            return None, _raw(str(exc))

    def fixed(name: bytes, offset: int) -> int:
        return zones.id_of(fixed_zone(name.decode("latin-1"), offset))

    def truncate(sec: int, nsec: int, period: int, round_half_up: bool) -> tuple[int, int]:
        new_sec, new_nsec = truncate_time(sec, nsec, period, round_half_up)
        return _i64(new_sec), new_nsec

    bridge = lua_table(
        state,
        {
            "civil": lambda wall: tuple(civil(wall)),
            "date": date,
            "add_date": add_date,
            "sub": sub_time,
            "truncate": truncate,
            "format": _format,
            "parse": parse,
            "load_location": load,
            "fixed_zone": fixed,
            "format_duration": lambda ns: format_duration(ns).encode(),
        },
    )
    chunk = state.load(_TIME_CALENDAR_LUA.decode(), "luaflow/time_calendar.lua")
    return chunk, bridge


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
    """`json.encode/decode/validate/validate_string` (Go `encoding/json` rules, JSON Schema).

    Failures are `nil, err` (`false, err` for validation), never raised: Internal for what JSON
    cannot hold or parse, Invalid for bad arguments and schema violations.
    """

    def encode(value: Any = None, *_: Any) -> tuple[Any, Any]:
        def run() -> str:
            try:
                return encode_lua(state, value)
            except LuaflowError as err:
                raise LuaflowError(f"encode failed: {err.message}", INTERNAL, False) from None

        return lua_result(state, run)

    def decode(text: Any = None, *_: Any) -> tuple[Any, Any]:
        def run() -> Any:
            if not isinstance(text, bytes):
                raise invalid("string expected")
            if not text:
                raise invalid("empty string is not valid JSON")
            try:
                return decode_json(text)
            except LuaflowError as err:
                raise LuaflowError(f"decode failed: {err.message}", INTERNAL, False) from None

        return lua_result(state, run)

    def validated(check: Callable[[], None]) -> Any:
        try:
            check()
        except LuaflowError as err:
            return False, state.error_to_lua(err)
        return True

    def validate(schema: Any = None, data: Any = None, *_: Any) -> Any:
        def check() -> None:
            if schema is None:
                raise invalid("schema is required")
            if data is None:
                raise invalid("data is required")
            text = schema_text(state, schema)
            check_schema(text, validation_data(state, data))

        return validated(check)

    def validate_string(schema: Any = None, data: Any = None, *_: Any) -> Any:
        def check() -> None:
            if schema is None:
                raise invalid("schema is required")
            if not isinstance(data, bytes):
                raise invalid("data must be a JSON string")
            text = schema_text(state, schema)
            compile_schema(text)  # a bad schema is reported before bad data
            try:
                value = json.loads(data.decode("utf-8", "replace"))
            except ValueError as exc:
                raise invalid(f"validation failed: invalid JSON: {exc}") from None
            check_schema(text, value)

        return validated(check)

    return lua_table(
        state,
        {
            "encode": encode,
            "decode": decode,
            "validate": validate,
            "validate_string": validate_string,
        },
    )


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
