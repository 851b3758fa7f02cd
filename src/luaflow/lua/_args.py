"""Module functions behind Lua-side argument checks (args.lua).

A wrong argument type must raise a plain Lua error at the caller's line, the way the reference
runtime does; raising a Python exception through Lua would instead surface as a Python message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from luaflow.lua._modules import lua_source
from luaflow.lua._runtime import LuaState

_ARGS_LUA = lua_source("args.lua")

#: name -> (spec, function). Spec letters, one per leading argument: s = string (numbers and
#: errors convert), n = number, t = table, S = nil or string, B = nil or boolean, . = anything.
Checked = Mapping[str, tuple[str, Callable[..., Any]]]


def args_lib(state: LuaState) -> Any:
    """The Lua table of args.lua (`checked`, `check`, `fail`, `typename`) for `state`."""
    return state.run_own(_ARGS_LUA, "luaflow/args.lua")[0]


def checked_table(state: LuaState, functions: Checked, lib: Any = None, table: Any = None) -> Any:
    """`table` (a new one by default) with `functions`, each behind the checks of its spec;
    `lib` is args_lib(state) when already loaded."""
    checked = state.index(lib if lib is not None else args_lib(state), "checked")
    if table is None:
        table = state.runtime.table()
    for name, (spec, fn) in functions.items():
        table[name.encode()] = checked(name.encode(), spec.encode(), fn)
    return table


__all__ = ["Checked", "args_lib", "checked_table"]
