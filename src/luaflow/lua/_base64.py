"""The `base64` module: standard alphabet, padded (Go's StdEncoding); deterministic."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from luaflow.lua._errors import INVALID, LuaflowError
from luaflow.lua._modules import lua_table
from luaflow.lua._runtime import LuaState

_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_NEWLINES = frozenset(b"\r\n")
_PAD = ord("=")


def _corrupt_offset(src: bytes) -> int:
    """The input byte Go's StdEncoding.DecodeString names in its CorruptInputError for `src`
    (the quantum walk of Go's decodeQuantum); len(src) if it finds nothing wrong."""
    si, n = 0, len(src)
    while si < n:
        j = 0  # symbols of the current quantum
        while j < 4:
            if si == n:
                return si - j
            c = src[si]
            si += 1
            if c in _ALPHABET:
                j += 1
            elif c in _NEWLINES:
                continue
            elif c != _PAD or j < 2:
                return si - 1
            else:
                if j == 2:  # "==" expected: the second "=" may follow newlines
                    while si < n and src[si] in _NEWLINES:
                        si += 1
                    if si == n:
                        return n
                    if src[si] != _PAD:
                        return si - 1
                    si += 1
                while si < n and src[si] in _NEWLINES:
                    si += 1
                return si  # trailing data after the padding, or the end
    return n


def decode_std(text: bytes) -> bytes:
    """Padded base64, skipping CR and LF as Go's decoder does. Errors read as Go's
    ("illegal base64 data at input byte N"), in the context "decode failed"."""
    try:
        return binascii.a2b_base64(text.replace(b"\r", b"").replace(b"\n", b""), strict_mode=True)
    except binascii.Error:
        cause = LuaflowError(f"illegal base64 data at input byte {_corrupt_offset(text)}")
        raise LuaflowError("decode failed", INVALID, False, cause=cause) from None


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
