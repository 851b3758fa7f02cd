"""The `crypto` module (SPEC 2.11): the `crypto.random` part, over an injectable random source.

Inside workflows `rng` is replay-safe randomness, so `crypto.random.*` gives the same values on
every replay; host code uses OS_RANDOM.
"""

from __future__ import annotations

from typing import Any

from luaflow.lua._errors import INTERNAL, INVALID, LuaflowError
from luaflow.lua._modules import lua_result, lua_table
from luaflow.lua._runtime import LuaState
from luaflow.lua._uuid import OS_RANDOM, RandomSource, UuidGenerator

#: Largest `n` for crypto.random.bytes / crypto.random.string.
MAX_RANDOM_BYTES = 1_048_576

DEFAULT_CHARSET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _invalid(message: str) -> LuaflowError:
    return LuaflowError(message, INVALID, False)


def _count(n: Any) -> int:
    if isinstance(n, float) and n.is_integer():
        n = int(n)
    if not isinstance(n, int) or isinstance(n, bool):
        raise _invalid("length must be an integer")
    if not 1 <= n <= MAX_RANDOM_BYTES:
        raise _invalid(f"length must be between 1 and {MAX_RANDOM_BYTES}, got {n}")
    return n


def random_bytes(rng: RandomSource, n: int) -> bytes:
    data = rng.random_bytes(n)
    if len(data) != n:
        raise LuaflowError(f"random source returned {len(data)} bytes, not {n}", INTERNAL, False)
    return data


def random_indexes(rng: RandomSource, n: int, k: int) -> list[int]:
    """`n` uniform integers in [0, k): fixed-width draws, rejecting the biased top range."""
    if k == 1:
        return [0] * n
    width = ((k - 1).bit_length() + 7) // 8
    space = 1 << (8 * width)
    limit = space - space % k
    out: list[int] = []
    while len(out) < n:
        need = n - len(out)
        data = random_bytes(rng, need * width)
        if width == 1:
            draws: list[int] = list(data)
        else:
            draws = [int.from_bytes(data[i : i + width], "big") for i in range(0, len(data), width)]
        out.extend(r % k for r in draws if r < limit)
    return out


def random_string(rng: RandomSource, n: int, charset: str | bytes = DEFAULT_CHARSET) -> bytes:
    """`n` characters drawn uniformly from `charset` (UTF-8 characters, or raw bytes when the
    charset is not UTF-8)."""
    if isinstance(charset, bytes):
        try:
            text = charset.decode("utf-8")
        except UnicodeDecodeError:
            raw = charset
            return bytes(raw[i] for i in random_indexes(rng, n, len(raw)))
    else:
        text = charset
    if not text:
        raise _invalid("charset must not be empty")
    return "".join(text[i] for i in random_indexes(rng, n, len(text))).encode("utf-8")


def crypto_module(state: LuaState, rng: RandomSource) -> Any:
    """The Lua table `crypto` with `crypto.random.bytes/string/uuid` over `rng`."""
    uuids = UuidGenerator(rng, lambda: 0)

    def bytes_(n: Any = None, *_: Any) -> tuple[Any, Any]:
        return lua_result(state, lambda: random_bytes(rng, _count(n)))

    def string(n: Any = None, charset: Any = None, *_: Any) -> tuple[Any, Any]:
        def run() -> bytes:
            count = _count(n)
            if charset is None:
                return random_string(rng, count)
            if not isinstance(charset, bytes):
                raise _invalid("charset must be a string")
            if not charset:
                raise _invalid("charset must not be empty")
            return random_string(rng, count, charset)

        return lua_result(state, run)

    def uuid(*_: Any) -> tuple[Any, Any]:
        return lua_result(state, uuids.v4)

    random = lua_table(state, {"bytes": bytes_, "string": string, "uuid": uuid})
    table = state.runtime.table()
    table[b"random"] = random
    return table


__all__ = [
    "DEFAULT_CHARSET",
    "MAX_RANDOM_BYTES",
    "OS_RANDOM",
    "RandomSource",
    "crypto_module",
    "random_bytes",
    "random_indexes",
    "random_string",
]
