"""`Payload:transcode`: a payload's value converted to what another format can carry.

A payload holds a Lua value. JSON, YAML and msgpack hold JSON data, so transcoding to them runs
the value through the JSON rules (a value JSON cannot hold fails, functions become null, tables
are copied); text and bytes hold a string; `golang/error` an error value.
"""

from __future__ import annotations

from typing import Any

from luaflow.lua._errors import INTERNAL, LuaflowError
from luaflow.lua._json import decode_json, encode_lua
from luaflow.lua._modules import lua_result
from luaflow.lua._runtime import LuaState

#: Format names of `payload.format` (the keys Lua code sees).
PAYLOAD_FORMATS = {
    "JSON": "json/plain",
    "YAML": "yaml/plain",
    "STRING": "text/plain",
    "BYTES": "application/octet-stream",
    "MSGPACK": "application/msgpack",
    "LUA": "lua/any",
    "GOLANG": "golang/any",
    "ERROR": "golang/error",
}
_DATA = frozenset({PAYLOAD_FORMATS["JSON"], PAYLOAD_FORMATS["YAML"], PAYLOAD_FORMATS["MSGPACK"]})
_STRINGS = frozenset({PAYLOAD_FORMATS["STRING"], PAYLOAD_FORMATS["BYTES"]})
_ANY = frozenset({PAYLOAD_FORMATS["LUA"], PAYLOAD_FORMATS["GOLANG"]})


def _failed(message: str) -> LuaflowError:
    return LuaflowError(f"transcode failed: {message}", INTERNAL, False)


def transcode_payload(state: LuaState, value: Any, target: bytes) -> tuple[Any, Any]:
    """`value, nil` as payload data of format `target`, or `nil, err` (Internal)."""

    def run() -> Any:
        name = target.decode("utf-8", "replace")
        if name in _ANY:
            return value
        if name in _DATA:
            try:
                return decode_json(encode_lua(state, value).encode())
            except LuaflowError as err:
                raise _failed(err.message) from None
        if name in _STRINGS:
            if not isinstance(value, bytes):
                raise _failed(f"{name} needs a string")
            return value
        if name == PAYLOAD_FORMATS["ERROR"]:
            if not state.is_error(value):
                raise _failed(f"{name} needs an error value")
            return value
        raise _failed(f'unsupported format "{name}"')

    return lua_result(state, run)


__all__ = ["PAYLOAD_FORMATS", "transcode_payload"]
