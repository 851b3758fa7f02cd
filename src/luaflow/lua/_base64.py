"""The `base64` module: standard alphabet, padded (Go's StdEncoding); deterministic."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from luaflow.lua._errors import INVALID, LuaflowError
from luaflow.lua._modules import lua_table
from luaflow.lua._runtime import LuaState


def decode_std(text: bytes) -> bytes:
    """Strict padded base64, skipping CR and LF as Go's decoder does."""
    try:
        return binascii.a2b_base64(text.replace(b"\r", b"").replace(b"\n", b""), strict_mode=True)
    except binascii.Error as exc:
        raise LuaflowError(f"decode failed: {exc}", INVALID, False) from None


def base64_module(state: LuaState) -> Any:
    """The Lua table `base64`; results are single values, failures `nil, err` (Invalid)."""

    def fail(err: LuaflowError) -> tuple[None, Any]:
        return None, state.error_to_lua(err)

    def encode(data: Any = None, *_: Any) -> Any:
        if not isinstance(data, bytes):
            return fail(LuaflowError("string expected", INVALID, False))
        return base64.b64encode(data)

    def decode(text: Any = None, *_: Any) -> Any:
        if not isinstance(text, bytes):
            return fail(LuaflowError("string expected", INVALID, False))
        try:
            return decode_std(text)
        except LuaflowError as err:
            return fail(err)

    return lua_table(state, {"encode": encode, "decode": decode})


__all__ = ["base64_module", "decode_std"]
