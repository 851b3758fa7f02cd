"""Lua <-> Python values by the JSON rules of SPEC B2, bounded in depth, size and time.

Lupa's own conversions are ambiguous (`{}` vs `[]`, `{1, nil, 3}`) and decode strings strictly, so
every value that leaves or enters Lua goes through these functions instead. They run in Python
while Lua waits in a call, where the count hook cannot stop them, so they check the activation's
deadline as they go, never build more in Lua than its memory cap leaves room for, and refuse what
the other side cannot hold (kind Invalid, naming the place in the value).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import lupa.lua54 as lupa_lua

from luaflow.lua._errors import INVALID, LuaflowError

if TYPE_CHECKING:
    from luaflow.lua._runtime import LuaState

MAX_DEPTH = 128
#: Largest value Temporal stores as one payload (an argument, a result, a message value): the
#: server's default `limit.blobSize.error`. Checked before the SDK, whose failure would fail the
#: workflow task (retried forever) instead of the operation that made the value.
PAYLOAD_LIMIT = 2 * 1024 * 1024
#: Longest error message kept when an error leaves a run (the rest is cut, saying so).
MESSAGE_LIMIT = 16 * 1024
#: Most links of an error chain kept when an error leaves a run.
CHAIN_LIMIT = 16
_INT64 = 2**63
#: Items converted between two looks at the activation's deadline.
_CHECK_EVERY = 4096
#: Bytes Lua needs per table slot while it fills a table from Python (slot, growth, rehash).
_ARRAY_SLOT, _HASH_SLOT, _TABLE, _STRING = 48, 96, 64, 40


class ValueConversionError(LuaflowError):
    """A value that has no form on the other side (mixed keys, holes, cycles, too deep, too big,
    not UTF-8, out of range)."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(f"{message} at {path}" if path else message, INVALID, False)
        self.path = path


def decode_str(value: bytes) -> str | bytes:
    """A Lua string as text when it is UTF-8, else as raw bytes (travels as binary/plain)."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"


# -- Lua -> Python ---------------------------------------------------------------------------------


class _FromLua:
    def __init__(self, state: LuaState) -> None:
        self.state = state
        self.seen: set[bytes] = set()
        self.count = 0

    def value(self, value: Any, path: str, depth: int) -> Any:
        if value is None or isinstance(value, bool | int | str):
            return value
        if isinstance(value, float):
            if math.isnan(value) or math.isinf(value):
                return None
            if value.is_integer() and abs(value) < _INT64:
                return int(value)
            return value
        if isinstance(value, bytes):
            return decode_str(value)
        kind = lupa_lua.lua_type(value)
        if kind == "userdata" and self.state.is_error(value):
            return self.state.error_from_lua(value).text()
        if kind != "table" or self.state.is_opaque(value):
            return None  # functions, coroutines, userdata, time objects: not serialisable (B2)
        if depth >= MAX_DEPTH:
            raise ValueConversionError(f"cannot encode table deeper than {MAX_DEPTH} levels", path)
        ident = self.state.ptr(value)
        if ident in self.seen:
            raise ValueConversionError("cannot encode recursive table", path)
        self.seen.add(ident)
        try:
            return self.table(value, path, depth)
        finally:
            self.seen.discard(ident)

    def tick(self, n: int) -> None:
        before, self.count = self.count, self.count + n
        if before // _CHECK_EVERY != self.count // _CHECK_EVERY:
            self.state.check_time()

    def table(self, table: Any, path: str, depth: int) -> Any:
        items = list(table.items())
        self.tick(len(items))
        if not items:
            return []
        int_keys = [k for k, _ in items if isinstance(k, int) and not isinstance(k, bool)]
        if len(int_keys) == len(items):
            if sorted(int_keys) != list(range(1, len(items) + 1)):
                raise ValueConversionError("cannot encode sparse array", path)
            values = dict(items)
            return [
                self.value(values[i], f"{path}[{i}]", depth + 1) for i in range(1, len(items) + 1)
            ]
        if int_keys:
            raise ValueConversionError("cannot encode mixed-key table", path)
        out: dict[str, Any] = {}
        for key, item in items:
            if not isinstance(key, bytes):
                raise ValueConversionError(
                    f"cannot encode table key of type {type(key).__name__}", path
                )
            name = decode_str(key)
            if isinstance(name, bytes):
                raise ValueConversionError("table key is not valid UTF-8", path)
            out[name] = self.value(item, f"{path}.{name}", depth + 1)
        return out


def from_lua(state: LuaState, value: Any, path: str = "value") -> Any:
    """Convert a Lua value into plain Python data by the JSON rules (B2); strings that are not
    UTF-8 stay bytes (see `check_payload` for what may leave for Temporal)."""
    return _FromLua(state).value(value, path, 0)


def _no_bytes(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} has no JSON form")


def _bytes_at(value: Any, path: str) -> str | None:
    """Where a bytes value sits inside converted data, if anywhere."""
    if isinstance(value, bytes):
        return path
    if isinstance(value, dict):
        items: Any = ((f"{path}.{k}", v) for k, v in value.items())
    elif isinstance(value, list):
        items = ((f"{path}[{i}]", v) for i, v in enumerate(value, 1))
    else:
        return None
    for where, item in items:
        found = _bytes_at(item, where)
        if found is not None:
            return found
    return None


def payload_size(value: Any, what: str = "value") -> int:
    """Bytes of converted data as the SDK's converter writes it. Raw bytes travel as the whole
    value only (binary/plain): inside JSON they are refused, never turned into numbers."""
    if isinstance(value, bytes):
        return len(value)
    try:
        return len(json.dumps(value, separators=(",", ":"), default=_no_bytes))
    except (TypeError, ValueError):
        where = _bytes_at(value, what)
        if where is not None:
            raise ValueConversionError("string is not valid UTF-8", where) from None
        raise ValueConversionError("value has no JSON form", what) from None


def check_payload(value: Any, what: str, limit: int = PAYLOAD_LIMIT) -> None:
    """Refuse converted data Temporal would not take as one payload (the operation that made
    it fails with kind Invalid, before the SDK sees it)."""
    size = payload_size(value, what)
    if size > limit:
        raise ValueConversionError(
            f"{what} is {_mib(size)} as JSON, over the payload limit of {_mib(limit)}"
        )


def bounded_error(err: LuaflowError, limit: int = PAYLOAD_LIMIT) -> LuaflowError:
    """An error that can always be recorded: long messages cut, oversized or unencodable
    details dropped, the chain shortened (a failure that cannot be stored would fail the
    workflow task forever instead of the run)."""
    links: list[LuaflowError] = []
    link: LuaflowError | None = err
    while link is not None and len(links) < CHAIN_LIMIT:
        links.append(link)
        link = link.cause
    if link is None and all(_fits(e, limit // CHAIN_LIMIT) for e in links):
        return err
    out: LuaflowError | None = None
    for e in reversed(links):
        message = e.message
        if len(message) > MESSAGE_LIMIT:
            message = f"{message[:MESSAGE_LIMIT]}... [cut: {len(e.message)} characters]"
        details = e.details if _details_fit(e.details, limit // CHAIN_LIMIT) else None
        out = LuaflowError(message, e.kind, e.retryable, details, out)
    assert out is not None
    return out


def _details_fit(details: Any, limit: int) -> bool:
    try:
        return details is None or payload_size(details) <= limit
    except ValueConversionError:
        return False


def _fits(err: LuaflowError, limit: int) -> bool:
    return len(err.message) <= MESSAGE_LIMIT and _details_fit(err.details, limit)


# -- Python -> Lua ---------------------------------------------------------------------------------


class _Refused(Exception):
    """A value that cannot enter Lua; the walk adds where it is."""


#: Where a container sits in the value: None at the top, else (its parent's place, its key).
_Place = tuple[Any, str] | None


def _path(base: str, place: _Place, key: str = "") -> str:
    keys = [key]
    while place is not None:
        place, step = place
        keys.append(step)
    return base + "".join(reversed(keys))


def _leaf_size(value: Any) -> int:
    """Bytes Lua needs for a value that is not a container, -1 for a container."""
    if value is None or isinstance(value, bool | float):
        return 0
    if isinstance(value, int):
        if not -_INT64 <= value < _INT64:
            raise _Refused("integer out of the 64-bit range Lua holds")
        return 0
    if isinstance(value, bytes):
        return len(value) + _STRING
    if isinstance(value, str):
        if value.isascii():
            return len(value) + _STRING
        try:
            return len(value.encode("utf-8")) + _STRING
        except UnicodeEncodeError:
            raise _Refused("string with a lone surrogate is not text") from None
    if isinstance(value, LuaflowError) or lupa_lua.lua_type(value) is not None:
        return 0
    if isinstance(value, Mapping | list | tuple):
        return -1
    raise TypeError(f"cannot pass {type(value).__name__} to Lua")


def _footprint(value: Any, base: str, cap: float) -> int:
    """Checks a Python value can enter Lua (depth, 64-bit integers, encodable strings) and
    estimates the bytes Lua needs to hold it, before any of it is built; stops once the
    estimate passes `cap` (the value will not fit anyway). Level by level, a type test per value:
    where a refused value is, is only worked out for it."""
    try:
        total = _leaf_size(value)
    except _Refused as exc:
        raise ValueConversionError(str(exc), base) from None
    if total >= 0:
        return total
    total, depth = 0, 0
    level: list[tuple[Any, _Place]] = [(value, None)]
    while level:
        if depth >= MAX_DEPTH:
            raise ValueConversionError(
                f"nested deeper than {MAX_DEPTH} levels", _path(base, level[0][1])
            )
        below: list[tuple[Any, _Place]] = []
        for container, place in level:
            mapping = isinstance(container, Mapping)
            total += _TABLE + (_HASH_SLOT if mapping else _ARRAY_SLOT) * len(container)
            if total > cap:
                return total
            key: Any = None
            try:
                for key, item in container.items() if mapping else enumerate(container, 1):
                    if mapping:
                        text = key if type(key) is str else str(key)
                        total += len(text) + _STRING if text.isascii() else _leaf_size(text)
                    kind = type(item)
                    if kind is str and item.isascii():
                        total += len(item) + _STRING
                    elif kind is float or kind is bool or item is None:
                        pass
                    elif kind is int:
                        if not -_INT64 <= item < _INT64:
                            raise _Refused("integer out of the 64-bit range Lua holds")
                    else:
                        size = _leaf_size(item)
                        if size < 0:
                            below.append((item, (place, _step(key, mapping))))
                        else:
                            total += size
            except _Refused as exc:
                raise ValueConversionError(
                    str(exc), _path(base, place, _step(key, mapping))
                ) from None
            if total > cap:
                return total
        level, depth = below, depth + 1
    return total


def _step(key: Any, mapping: bool) -> str:
    return f".{key}" if mapping else f"[{key}]"


def check_incoming(value: Any, what: str = "value") -> None:
    """Refuse data from outside (a signal, an update, a start input) that cannot enter Lua."""
    _footprint(value, what, math.inf)


def lua_footprint(value: Any, cap: float = math.inf) -> int:
    """Bytes Lua needs to hold `value` (an upper estimate; the walk stops once past `cap`);
    ValueConversionError when it cannot enter Lua at all."""
    return _footprint(value, "value", cap)


def to_lua(state: LuaState, value: Any) -> Any:
    """Convert plain Python data (JSON-decoded, bytes allowed) into Lua values, after checking
    it fits in the state's memory."""
    if value is None or isinstance(value, bool | float):
        return value
    if isinstance(value, LuaflowError):
        return state.error_to_lua(value)
    if lupa_lua.lua_type(value) is not None:
        return value  # already a Lua object
    state.reserve(lua_footprint(value, state.limits.memory))
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, int | bytes):
        return value
    return _Build(state).value(value)


class _Build:
    def __init__(self, state: LuaState) -> None:
        self.state = state
        self.count = 0

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return value.encode("utf-8")
        if isinstance(value, Mapping):
            table = self.state.runtime.table()
            for key, item in value.items():
                table[str(key).encode("utf-8")] = self.value(item)
            self.tick(len(value))
            return table
        if isinstance(value, list | tuple):
            table = self.state.runtime.table()
            for i, item in enumerate(value, 1):
                table[i] = self.value(item)
            self.tick(len(value))
            return table
        if isinstance(value, LuaflowError):
            return self.state.error_to_lua(value)
        return value

    def tick(self, n: int) -> None:
        before, self.count = self.count, self.count + n
        if before // _CHECK_EVERY != self.count // _CHECK_EVERY:
            self.state.check_time()
