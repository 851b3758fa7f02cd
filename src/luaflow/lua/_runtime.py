"""One sandboxed Lua interpreter per workflow run or function call."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import lupa.lua54 as lupa_lua

from luaflow.lua._errors import INTERNAL, HostFailure, LuaflowError
from luaflow.lua._regex import regex_search
from luaflow.lua._values import decode_str, from_lua, to_lua

#: Modules that do I/O and must never be loaded by workflow code (B1).
IO_MODULES = frozenset(
    {"http", "http_client", "fs", "sql", "env", "io", "exec", "store", "queue", "websocket"}
)

#: Globals that `require` also returns (R19).
GLOBAL_MODULES = ("process", "errors", "channel", "payload", "coroutine", "string", "table", "math")

ModuleLoader = Callable[["LuaState"], Any]


@dataclass(frozen=True)
class LuaLimits:
    """Bounds that keep one bad script from hurting the worker (DESIGN invariant 2).

    The instruction budget applies per activation (one scheduler step, one function call) and is
    far below what Lua runs in the Python SDK's 2-second deadlock window.
    """

    instructions: int = 100_000_000
    seconds: float = 1.0
    memory: int = 64 * 1024 * 1024


#: Host code (functions, handlers) may wait on Temporal inside a call and run long: no wall-clock
#: deadline, a large budget that still stops a runaway loop.
HOST_LIMITS = LuaLimits(instructions=10_000_000_000, seconds=math.inf)


class LuaRuntimeError(LuaflowError):
    """A Lua syntax or load error; the message names the file and line."""

    def __init__(self, message: str) -> None:
        super().__init__(message, INTERNAL, False)


def _prelude_source() -> bytes:
    return resources.files("luaflow.lua").joinpath("prelude.lua").read_bytes()


_PRELUDE = _prelude_source()
#: The run-time type library: handed to the prelude, which compiles it on first use in a state.
_TYPES = resources.files("luaflow.lua").joinpath("types.lua").read_bytes()


class LuaState:
    """A fresh Lua 5.4 state with the sandbox prelude, a memory cap and an instruction budget.

    States are never shared between workflow runs: one run cannot see another's globals.
    """

    def __init__(
        self,
        *,
        limits: LuaLimits | None = None,
        clock: Callable[[], float] = time.time,
        printer: Callable[[str], None] | None = None,
    ) -> None:
        self.limits = limits or LuaLimits()
        self.runtime = lupa_lua.LuaRuntime(
            encoding=None,
            register_eval=False,
            register_builtins=False,
            unpack_returned_tuples=True,
            max_memory=self.limits.memory,
            attribute_filter=_deny_attributes,
        )
        self._clock = clock
        self._on_close: list[Callable[[], None]] = []
        bridge = self.runtime.table()
        bridge[b"now_seconds"] = lambda: int(self._clock())
        bridge[b"monotonic"] = time.monotonic
        bridge[b"print"] = lambda text: (printer or _print)(str(decode_str(text)))
        bridge[b"lua_error"] = self._python_error
        bridge[b"error_token"] = object  # a fresh host object per error: see prelude.lua
        bridge[b"types_source"] = _types_source
        bridge[b"re_search"] = regex_search
        self.rt = self.runtime.execute(_PRELUDE, bridge)
        # Read every helper now: lupa mis-reads table items from Python while a coroutine runs
        # (calls and `.items()` are fine), so runtime code never indexes Lua tables directly.
        self._load = self.rt[b"load"]
        self._new_task = self.rt[b"new_task"]
        self._set_budget = self.rt[b"set_budget"]
        self._install_require = self.rt[b"install_require"]
        self.awaiting = self.rt[b"awaiting"]
        self.await_ = self.rt[b"await"]
        self._ptr = self.rt[b"ptr"]
        self._is_opaque = self.rt[b"is_opaque"]
        self._index = self.rt[b"index"]
        self._identity = self.rt[b"identity"]
        self._is_error = self.rt[b"is_error"]
        self._error_fields = self.rt[b"error_fields"]
        self._make_error = self.rt[b"make_error"]
        self._is_budget = self.rt[b"is_budget"]
        self._teardown = self.rt[b"teardown"]
        self.globals = self.runtime.globals()

    def on_close(self, callback: Callable[[], None]) -> None:
        """Run `callback` when the state closes (watchers and the like end with their state)."""
        self._on_close.append(callback)

    def close(self) -> None:
        """Free this state now, by reference counting.

        A state's Python callables and its Lua objects reference each other, so without this
        the state is only freed by Python's cycle collector, which tears lupa runtimes down in
        an unsafe order (seen as heap corruption in busy workers). Idempotent; the state is
        unusable afterwards.
        """
        runtime = self.__dict__.get("runtime")
        if runtime is None:
            return
        for callback in self._on_close:
            callback()
        self._on_close.clear()
        teardown = self._teardown
        for name, value in list(vars(self).items()):
            if lupa_lua.lua_type(value) is not None:
                setattr(self, name, None)
        teardown()
        del teardown
        runtime.gccollect()
        del self.runtime

    # -- modules ---------------------------------------------------------------------------------

    def install_require(self, modules: Mapping[str, ModuleLoader], entry_id: str) -> None:
        """Make exactly `modules` (plus the globals of R19) loadable with `require`."""
        loaders = self.runtime.table()
        for name, loader in modules.items():
            loaders[name.encode()] = self._loader(loader)
        for name in GLOBAL_MODULES:
            value = self.globals[name.encode()]
            if value is not None:
                loaders[name.encode()] = self._constant(value)

        def describe(name: bytes) -> bytes:
            text = decode_str(name)
            return (
                f'require("{text!s}") is not declared in the modules or imports of {entry_id}'
            ).encode()

        self._install_require(loaders, describe)

    def _loader(self, loader: ModuleLoader) -> Callable[[], Any]:
        return lambda: loader(self)

    @staticmethod
    def _constant(value: Any) -> Callable[[], Any]:
        return lambda: value

    # -- code --------------------------------------------------------------------------------------

    def load(self, source: str, chunkname: str) -> Any:
        """Compile a text chunk; its errors read `chunkname:line: message`.

        User sources may be written in Wippy's typed dialect: they are translated to Lua 5.4
        first (same line numbers). luaflow's own modules are plain Lua and skip that step.
        """
        # Imported here: the dialect module derives its syntax error from LuaRuntimeError.
        from luaflow.lua._dialect import translate

        if not chunkname.startswith("luaflow/"):
            source = translate(source, chunkname)
        fn, err = (*_as_tuple(self._load(source.encode(), b"@" + chunkname.encode())), None)[:2]
        if fn is None:
            raise LuaRuntimeError(str(decode_str(err)))
        return fn

    def new_task(self, fn: Any, *args: Any) -> Any:
        """A resumable task (a coroutine with the budget hook) that calls `fn(*args)`."""
        return self._new_task(fn, *args)

    def resume(self, task: Any, *args: Any) -> tuple[str, Any]:
        """Resume a task under a fresh instruction budget.

        Returns ("await", request) when it waits on the runtime, ("dead", [results]) when it
        returned, ("error", error value) when it raised.
        """
        self._set_budget(self.limits.instructions, self.limits.seconds)
        try:
            first, *rest = _as_tuple(task(*args))
        except lupa_lua.LuaMemoryError as exc:
            raise LuaflowError(
                f"Lua memory limit of {self.limits.memory} bytes exceeded", INTERNAL, False
            ) from exc
        if first is True:
            return "dead", rest
        if first is False:
            return "error", rest[0] if rest else None
        return "await", rest[0] if rest else None

    def call(self, fn: Any, *args: Any) -> list[Any]:
        """Run `fn` to completion (it must not wait on the runtime) and return its results."""
        status, value = self.resume(self.new_task(fn, *args))
        if status == "dead":
            return list(value)
        if status == "await":
            raise LuaflowError(
                "this operation is only available inside a workflow", "Invalid", False
            )
        raise self.error_from_lua(value)

    # -- values and errors -----------------------------------------------------------------------

    def to_lua(self, value: Any) -> Any:
        return to_lua(self, value)

    def from_lua(self, value: Any, path: str = "value") -> Any:
        return from_lua(self, value, path)

    def ptr(self, table: Any) -> bytes:
        return bytes(self._ptr(table))

    def keep(self, value: Any) -> Any:
        """A Lua object received as a callback argument, made safe to keep.

        lupa binds such objects to the coroutine that passed them; once that coroutine is
        collected, using or even freeing them touches freed memory. Passing the value through a
        Lua call made from Python rebinds it to the main state. Plain values pass unchanged.
        """
        if lupa_lua.lua_type(value) in (None, "thread"):
            return value
        return self._identity(value)

    def index(self, table: Any, key: str) -> Any:
        """`table[key]`, safe at any time (see the note in __init__)."""
        return self._index(table, key.encode())

    def is_error(self, value: Any) -> bool:
        return bool(self._is_error(value))

    def is_opaque(self, table: Any) -> bool:
        return bool(self._is_opaque(table))

    def error_from_lua(self, value: Any) -> LuaflowError:
        """Any raised or returned Lua error value as a LuaflowError (B7)."""
        if self._is_budget(value):
            return LuaflowError(
                f"instruction budget exceeded ({self.limits.instructions} instructions or "
                f"{self.limits.seconds:g} s in one step): runaway loop?",
                INTERNAL,
                False,
            )
        if isinstance(value, LuaflowError):
            return value  # raised by a Python module function
        if isinstance(value, BaseException):
            return LuaflowError(f"{type(value).__name__}: {value}", INTERNAL, False)
        if self.is_error(value):
            message, kind, retryable, details, cause = self._error_fields(value)
            return LuaflowError(
                str(decode_str(message)) if message is not None else "",
                str(decode_str(kind)) if kind is not None else "",
                retryable,
                self.from_lua(details, "details") if details is not None else None,
                self.error_from_lua(cause) if cause is not None else None,
            )
        if value == b"not enough memory":
            return LuaflowError(
                f"Lua memory limit of {self.limits.memory} bytes exceeded", INTERNAL, False
            )
        if isinstance(value, bytes):
            return LuaflowError(str(decode_str(value)), INTERNAL, False)
        if value is None:
            return LuaflowError("unknown error", INTERNAL, False)
        converted = self.from_lua(value, "error")
        return LuaflowError(str(converted), INTERNAL, False)

    def _python_error(self, exc: Any) -> Any:
        """A Python exception caught by Lua `pcall`, as a Lua error object (a HostFailure stays
        a Python exception so the host can still see it)."""
        if isinstance(exc, HostFailure):
            return exc
        return self.error_to_lua(self.error_from_lua(exc))

    def error_to_lua(self, err: LuaflowError) -> Any:
        """A Lua error object; a cause becomes the wrapped error and the message its context."""
        details = self.to_lua(err.details) if err.details is not None else None
        if err.cause is None:
            return self._make_error(err.message.encode(), err.kind.encode(), err.retryable, details)
        return self._make_error(
            err.cause.text().encode(),
            err.kind.encode(),
            err.retryable,
            details,
            self.error_to_lua(err.cause),
            None,
            err.message.encode(),
        )


def _deny_attributes(obj: Any, name: Any, is_setting: bool) -> Any:
    """Python objects handed to Lua stay opaque: `fn.__globals__` would escape the sandbox."""
    raise AttributeError("Python attributes are not accessible from Lua")


def _types_source() -> bytes:
    """A call, not a bridge value: states that never use types never hold the source."""
    return _TYPES


def _print(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _as_tuple(value: Any) -> tuple[Any, ...]:
    return value if isinstance(value, tuple) else (value,)
