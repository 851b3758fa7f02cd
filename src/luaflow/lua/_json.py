"""JSON the way the reference runtime writes and reads it (Go `encoding/json` semantics).

`json.encode` of a Lua value, `json.decode` into Python data, the `ToGoAny` view of a Lua value
(JWT claims, schema validation data), Go's `json.Marshal` of plain data with sorted keys, and
JSON Schema validation over the `jsonschema` package.
"""

from __future__ import annotations

import functools
import json
import math
import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import lupa.lua54 as lupa_lua

from luaflow.lua._errors import INTERNAL, INVALID, LuaflowError

if TYPE_CHECKING:
    from jsonschema import ValidationError
    from jsonschema.protocols import Validator

    from luaflow.lua._runtime import LuaState

#: Deepest nesting encode and decode accept.
MAX_DEPTH = 128

_INT64 = 2**63


def _internal(message: str) -> LuaflowError:
    return LuaflowError(message, INTERNAL, False)


def invalid(message: str) -> LuaflowError:
    return LuaflowError(message, INVALID, False)


# -- writing -------------------------------------------------------------------------------------

_ESCAPES = re.compile('[\x00-\x1f"\\\\<>&\u2028\u2029\ud800-\udfff]')
_SHORT = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    short = _SHORT.get(char)
    if short is not None:
        return short
    if "\ud800" <= char <= "\udfff":  # a byte that is not UTF-8
        return "\\ufffd"
    return f"\\u{ord(char):04x}"


def go_string(value: bytes | str) -> str:
    """A JSON string as Go writes it: HTML-safe (`<` -> `\\u003c`), U+2028/2029 escaped, and
    each byte that is not UTF-8 as `\\ufffd`."""
    text = value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value
    return '"' + _ESCAPES.sub(_escape, text) + '"'


def fixed_float(f: float) -> str:
    """Go's `FormatFloat(f, 'f', -1, 64)`: the shortest digits, never an exponent."""
    return format(Decimal(repr(f)).normalize(), "f")


def go_float(f: float) -> str:
    """Go's `json.Marshal(float64)`: fixed notation, exponent below 1e-6 and from 1e21 on."""
    size = abs(f)
    if size == 0 or 1e-6 <= size < 1e21:
        return fixed_float(f)
    sign, digits, exponent = Decimal(repr(f)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    power = exponent + len(text) - 1
    mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
    tail = f"e-{-power}" if -10 < power < 0 else f"e{power:+03d}"
    return ("-" if sign else "") + mantissa + tail


def _number(value: int | float, nested: bool) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isnan(value) or math.isinf(value):
        return "null"
    if not nested:
        return go_float(value)
    if value.is_integer() and -_INT64 <= value < _INT64:
        return str(int(value))
    return fixed_float(value)


def marshal(data: Any) -> str:
    """Go's `json.Marshal` of plain data (maps with sorted keys), for values built by
    `to_go_any`."""
    if data is None:
        return "null"
    if isinstance(data, bool):
        return "true" if data else "false"
    if isinstance(data, int | float):
        return _number(data, False)
    if isinstance(data, str | bytes):
        return go_string(data)
    if isinstance(data, dict):
        items = sorted(data.items())
        return "{" + ",".join(f"{go_string(k)}:{marshal(v)}" for k, v in items) + "}"
    if isinstance(data, list | tuple):
        return "[" + ",".join(marshal(v) for v in data) + "]"
    return "null"


def _key_text(key: Any) -> str | None:
    """An object key that is not an array index: strings, numbers, booleans (others: skipped)."""
    if isinstance(key, bytes):
        return key.decode("utf-8", "surrogateescape")
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    if isinstance(key, float):
        return fixed_float(key)
    return None


def _is_index(key: Any) -> bool:
    if isinstance(key, bool):
        return False
    if isinstance(key, int):
        return key > 0
    return isinstance(key, float) and key.is_integer() and key > 0


class _Encoder:
    """`json.encode` of one Lua value (json.go `marshalTableDirect`)."""

    def __init__(self, state: LuaState) -> None:
        self.state = state
        self.visiting: set[bytes] = set()

    def value(self, value: Any, depth: int) -> str:
        if value is None:
            return "null"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return _number(value, depth > 0)
        if isinstance(value, bytes):
            return go_string(value)
        state = self.state
        if lupa_lua.lua_type(value) is not None and state.is_error(value):
            return go_string(state.error_from_lua(value).text())
        if lupa_lua.lua_type(value) != "table" or state.is_opaque(value):
            return "null"  # functions, coroutines, userdata, time values...
        if depth > MAX_DEPTH:
            raise _internal("exceeded maximum nesting depth for JSON encoding")
        ident = state.ptr(value)
        if ident in self.visiting:
            raise _internal("cannot encode recursively nested tables to JSON")
        self.visiting.add(ident)
        try:
            return self.table(value, depth)
        finally:
            self.visiting.discard(ident)

    def table(self, table: Any, depth: int) -> str:
        items = list(table.items())
        indexes = {int(k): v for k, v in items if _is_index(k)}
        if len(indexes) == len(items):
            if not items:
                return "[]"
            if len(indexes) != max(indexes):
                raise _internal("cannot encode sparse array: non-contiguous numeric keys found")
            return (
                "["
                + ",".join(self.value(indexes[i], depth + 1) for i in range(1, len(indexes) + 1))
                + "]"
            )
        if indexes:
            raise _internal(
                "cannot encode mixed-key table: table has both numeric and non-numeric keys"
            )
        fields = sorted((text, v) for k, v in items if (text := _key_text(k)) is not None)
        return "{" + ",".join(f"{go_string(k)}:{self.value(v, depth + 1)}" for k, v in fields) + "}"


def encode_lua(state: LuaState, value: Any) -> str:
    """`json.encode(value)`; LuaflowError (Internal) for values JSON cannot hold."""
    return _Encoder(state).value(value, 0)


# -- reading -------------------------------------------------------------------------------------

_SURROGATES = re.compile("[\ud800-\udfff]")


def _float(text: str) -> float | str:
    number = float(text)
    return text if math.isinf(number) else number  # out of float range: the digits as a string


def _big(number: int) -> float | str:
    """An integer beyond 64 bits, as Lua can hold it."""
    try:
        return float(number)
    except OverflowError:
        return str(number)  # out of float range: the digits as a string


def _constant(name: str) -> Any:
    raise ValueError(f"invalid character {name[0]!r} looking for beginning of value")


_DECODER = json.JSONDecoder(parse_float=_float, parse_constant=_constant)
_DEPTH_EXCEEDED = "json: maximum nesting depth exceeded"


def _clean(value: Any, surrogates: bool) -> Any:
    """In place, level by level: the depth limit, integers beyond 64 bits as floats, and (when
    the text has `\\ud800` escapes) lone surrogates as U+FFFD, as in Go."""
    holder = [value]
    level: list[Any] = [holder]
    depth = 0  # of the values in the containers of `level`
    while level:
        below: list[Any] = []
        for item in level:
            if item and depth > MAX_DEPTH:
                raise _internal(_DEPTH_EXCEEDED)
            if surrogates and isinstance(item, dict):
                fixed = {_SURROGATES.sub("\ufffd", k): v for k, v in item.items()}
                item.clear()
                item.update(fixed)
            for key, child in enumerate(item) if isinstance(item, list) else item.items():
                kind = type(child)
                if kind is list or kind is dict:
                    below.append(child)
                elif kind is int:
                    if not -_INT64 <= child < _INT64:
                        item[key] = _big(child)
                elif surrogates and kind is str:
                    item[key] = _SURROGATES.sub("\ufffd", child)
        level, depth = below, depth + 1
    return holder[0]


def decode_json(data: bytes) -> Any:
    """The first JSON value in `data` (what follows it is ignored, as Go's Decoder does)."""
    text = data.decode("utf-8", "replace")
    start = len(text) - len(text.lstrip(" \t\r\n"))
    try:
        value, _ = _DECODER.raw_decode(text, start)
    except RecursionError:
        raise _internal(_DEPTH_EXCEEDED) from None
    except ValueError as exc:
        raise _internal(str(exc)) from None
    return _clean(value, "\\u" in text)


# -- Go's view of Lua values ---------------------------------------------------------------------


def to_go_any(state: LuaState, value: Any, depth: int = 0) -> Any:
    """A Lua value as Go's `ToGoAny` sees it: a table with `[1]` is a list up to its first hole,
    any other table (the empty one too) a map with string keys."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    if lupa_lua.lua_type(value) is not None and state.is_error(value):
        return state.error_from_lua(value).text()
    if lupa_lua.lua_type(value) != "table" or state.is_opaque(value):
        return None
    if depth > MAX_DEPTH:
        raise _internal("exceeded maximum nesting depth for JSON encoding")
    items = dict(value.items())
    if 1 in items:
        end = 1
        while end + 1 in items:
            end += 1
        return [to_go_any(state, items[i], depth + 1) for i in range(1, end + 1)]
    return {
        text: to_go_any(state, item, depth + 1)
        for key, item in items.items()
        if (text := _key_text(key)) is not None
    }


# -- JSON Schema ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=100)
def compile_schema(text: str) -> Validator:
    """The validator of a JSON schema text, compiled once (the last 100 distinct texts kept)."""
    # Imported on first use, not with the module: jsonschema costs ~100 ms at every CLI start.
    import jsonschema

    try:
        schema = json.loads(text)
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise invalid(f"compile schema: {exc.message}") from None
    except ValueError as exc:
        raise invalid(f"compile schema: {str(exc).splitlines()[0]}") from None
    return cls(schema)


def _pointer(error: ValidationError) -> str:
    return "".join(f"/{part}" for part in error.absolute_path)


def schema_text(state: LuaState, schema: Any) -> str:
    """A schema argument (a JSON string or a table) as JSON text."""
    if isinstance(schema, bytes):
        return schema.decode("utf-8", "replace")
    if lupa_lua.lua_type(schema) == "table":
        try:
            return encode_lua(state, schema)
        except LuaflowError as err:
            raise invalid(f"schema error: {err.message}") from None
    raise invalid("schema error: schema must be a string or table")


def check_schema(schema_json: str, data: Any) -> None:
    """Validate plain data against a schema; LuaflowError (Invalid) listing every violation."""
    validator = compile_schema(schema_json)
    try:
        errors = sorted(validator.iter_errors(data), key=lambda e: (_pointer(e), e.message))
    except Exception as exc:  # unresolvable $ref, bad pattern...: the schema is at fault
        raise invalid(f"validation failed: {exc}") from None
    if errors:
        detail = "; ".join(
            f"{_pointer(e)}: {e.message}" if e.absolute_path else e.message for e in errors
        )
        raise invalid(f"validation failed: {detail}")


def validation_data(state: LuaState, data: Any) -> Any:
    """What `json.validate` checks: the map view of a table, else the value's JSON."""
    view = to_go_any(state, data)
    if isinstance(view, dict):
        return view
    try:
        return json.loads(encode_lua(state, data))
    except LuaflowError as err:
        raise invalid(f"convert data: {err.message}") from None


__all__ = [
    "MAX_DEPTH",
    "check_schema",
    "compile_schema",
    "decode_json",
    "encode_lua",
    "fixed_float",
    "go_float",
    "go_string",
    "invalid",
    "marshal",
    "schema_text",
    "to_go_any",
    "validation_data",
]
