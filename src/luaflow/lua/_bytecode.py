"""Lua chunks compiled once per process and loaded as bytecode by every state.

Compiling the prelude and the module chunks from source was most of the CPU a fresh state cost;
loading their bytecode is several times cheaper, builds the same functions and leaves no source
text or parser buffers behind in the state. User sources are compiled the same way (with their
debug information, for positions in errors); no state gives Lua code a way to load bytecode.
"""

from __future__ import annotations

import threading
from typing import Any

import lupa.lua54 as lupa_lua

from luaflow.lua._values import decode_str

#: Compiles a text chunk under its name and dumps it; luaflow's own chunks without debug
#: information (a quarter of their code): their frames read as source "=?", which error
#: positions and call sites skip.
_DUMP = """function(source, name, strip)
    local fn, err = load(source, name, "t")
    if fn == nil then return nil, err end
    return string.dump(fn, strip)
end"""


class _Bytecode:
    """Bytecode of chunks by chunk name, compiled in a private runtime from their text.

    Only privileged code loads it (`load_own`, `load_user`, in mode "b").
    """

    def __init__(self, *, strip: bool) -> None:
        self._strip = strip
        self._lock = threading.Lock()
        self._dump: Any = None
        self._chunks: dict[bytes, tuple[bytes, bytes]] = {}  # name -> (source, bytecode)

    def __call__(self, source: bytes, chunkname: bytes) -> bytes:
        """The bytecode of `source`; a chunk that does not compile raises LuaRuntimeError."""
        with self._lock:
            known = self._chunks.get(chunkname)
            if known is not None and known[0] == source:
                return known[1]
            if self._dump is None:
                runtime = lupa_lua.LuaRuntime(
                    encoding=None,
                    register_eval=False,
                    register_builtins=False,
                    unpack_returned_tuples=True,
                )
                self._dump = runtime.eval(_DUMP)
            result = self._dump(source, chunkname, self._strip)
            if isinstance(result, tuple):
                raise _error(result[1])
            code = bytes(result)
            self._chunks[chunkname] = (source, code)
            return code

    def load(self, runtime: lupa_lua.LuaRuntime, source: bytes, chunkname: bytes) -> Any:
        """`source` as a function of `runtime`, loaded from its bytecode (which lupa reads from
        Python memory: no copy of it is left in the state for the collector)."""
        code = self(source, chunkname)
        try:
            return runtime.compile(code, chunkname, b"b")
        except lupa_lua.LuaError as exc:  # the state's memory cap, while loading
            raise _error(exc.args[0] if exc.args else b"cannot load " + chunkname) from None


#: The caches of the process (states of every thread share them): luaflow's own chunks, and
#: the (translated) sources of the app's entries, with their debug information.
own_bytecode = _Bytecode(strip=True)
_user_bytecode = _Bytecode(strip=False)
#: luaflow's chunk, and a user chunk (a syntax error raises LuaRuntimeError with Lua's message).
load_own = own_bytecode.load
load_user = _user_bytecode.load


def _error(message: Any) -> Exception:
    # Imported here: the runtime module loads its chunks through this one.
    from luaflow.lua._runtime import LuaRuntimeError

    text = decode_str(message) if isinstance(message, bytes) else message
    return LuaRuntimeError(str(text))
