"""The `env` module (host code only): environment variables of the luaflow process.

Reads see the OS environment under the values Lua code has set; `env.set` never changes the
real environment of the process, only that overlay, which all host code of the process shares.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from luaflow.lua._args import checked_table
from luaflow.lua._errors import INVALID, NOT_FOUND, LuaflowError
from luaflow.lua._modules import lua_result
from luaflow.lua._runtime import LuaState


class Environment:
    """Variables over a base mapping (the OS environment), with an overlay for `env.set`."""

    def __init__(self, base: Mapping[str, str] = os.environ) -> None:
        self._base = base
        self._overlay: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        with self._lock:
            value = self._overlay.get(key)
        return value if value is not None else self._base.get(key)

    def set(self, key: str, value: str) -> None:
        with self._lock:
            self._overlay[key] = value

    def all(self) -> dict[str, str]:
        with self._lock:
            return {**self._base, **self._overlay}


#: The process-wide environment host code sees.
ENVIRONMENT = Environment()


def _key(raw: bytes) -> str:
    if not raw:
        raise LuaflowError("empty key", INVALID, False)
    return raw.decode("utf-8", "surrogateescape")


def _raw(text: str) -> bytes:
    """Back to the bytes of the OS environment (Python decodes them with surrogateescape)."""
    return text.encode("utf-8", "surrogateescape")


def env_module(state: LuaState, environment: Environment = ENVIRONMENT) -> Any:
    """The Lua table `env`: get/set/get_all; a non-string key raises, the rest is `nil, err`."""

    def get(key: bytes, *_: Any) -> tuple[Any, Any]:
        def run() -> bytes:
            value = environment.get(_key(key))
            if value is None:
                raise LuaflowError(
                    "get environment variable failed: environment variable not found",
                    NOT_FOUND,
                    False,
                )
            return _raw(value)

        return lua_result(state, run)

    def set_(key: bytes, value: bytes, *_: Any) -> tuple[Any, Any]:
        def run() -> bool:
            environment.set(_key(key), value.decode("utf-8", "surrogateescape"))
            return True

        return lua_result(state, run)

    def get_all(*_: Any) -> tuple[Any, None]:
        table = state.runtime.table()
        for key, value in environment.all().items():
            table[_raw(key)] = _raw(value)
        return table, None

    return checked_table(state, {"get": ("s", get), "set": ("ss", set_), "get_all": ("", get_all)})


__all__ = ["ENVIRONMENT", "Environment", "env_module"]
