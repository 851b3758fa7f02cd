"""The `hash` module: digests, FNV-1, HMACs and PBKDF2 (deterministic, so allowed in workflows).

Unlike most modules, wrong argument types are returned as `nil, err` (Invalid), not raised, and
only real strings count (a number is not data here).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any

from luaflow.lua._crypto import pbkdf2
from luaflow.lua._errors import INVALID, LuaflowError
from luaflow.lua._modules import lua_result, lua_table
from luaflow.lua._runtime import LuaState

_FNV32 = (0x811C9DC5, 0x01000193, 2**32)
_FNV64 = (0xCBF29CE484222325, 0x100000001B3, 2**64)

_DIGESTS = ("md5", "sha1", "sha256", "sha512")


def fnv1(data: bytes, basis: int, prime: int, modulus: int) -> int:
    """FNV-1 (multiply, then xor), as Go's hash/fnv New32/New64."""
    value = basis
    for byte in data:
        value = (value * prime) % modulus ^ byte
    return value


def _truthy(value: Any) -> bool:
    """Lua truthiness: everything but nil and false (0 and "" included)."""
    return value is not None and value is not False


def hash_module(state: LuaState) -> Any:
    """The Lua table `hash`: hex digests (raw bytes when the last argument is truthy)."""

    def fail(message: str) -> tuple[None, Any]:
        return None, state.error_to_lua(LuaflowError(message, INVALID, False))

    def digest(name: str) -> Callable[..., tuple[Any, Any]]:
        def run(data: Any = None, raw: Any = None, *_: Any) -> tuple[Any, Any]:
            if not isinstance(data, bytes):
                return fail("data must be a string")
            out = hashlib.new(name, data, usedforsecurity=False)
            return (out.digest() if _truthy(raw) else out.hexdigest().encode()), None

        return run

    def keyed(name: str) -> Callable[..., tuple[Any, Any]]:
        def run(data: Any = None, secret: Any = None, raw: Any = None, *_: Any) -> Any:
            if not isinstance(data, bytes):
                return fail("data must be a string")
            if not isinstance(secret, bytes):
                return fail("secret must be a string")
            mac = hmac.new(secret, data, name)
            return (mac.digest() if _truthy(raw) else mac.hexdigest().encode()), None

        return run

    def fnv(params: tuple[int, int, int], as_float: bool) -> Callable[..., tuple[Any, Any]]:
        def run(data: Any = None, *_: Any) -> tuple[Any, Any]:
            if not isinstance(data, bytes):
                return fail("data must be a string")
            value = fnv1(data, *params)
            return (float(value) if as_float else value), None

        return run

    def derive(
        password: Any = None,
        salt: Any = None,
        iterations: Any = None,
        length: Any = None,
        algo: Any = None,
        *_: Any,
    ) -> tuple[Any, Any]:
        """Raw PBKDF2-HMAC key bytes (sha256 unless `algo` is "sha512"), as crypto.pbkdf2."""
        for value, name in ((password, "password"), (salt, "salt")):
            if not isinstance(value, bytes):
                return fail(f"{name} must be a string")
        for value, name in ((iterations, "iterations"), (length, "key length")):
            if isinstance(value, bool) or not isinstance(value, int | float):
                return fail(f"{name} must be a number")
        return lua_result(state, lambda: pbkdf2(password, salt, iterations, length, algo))

    functions: dict[str, Callable[..., Any]] = {"pbkdf2": derive}
    for name in _DIGESTS:
        functions[name] = digest(name)
        functions[f"hmac_{name}"] = keyed(name)
    functions["fnv32"] = fnv(_FNV32, as_float=False)
    functions["fnv64"] = fnv(_FNV64, as_float=True)  # a float, as upstream (exact below 2^53)
    return lua_table(state, functions)


__all__ = ["fnv1", "hash_module"]
