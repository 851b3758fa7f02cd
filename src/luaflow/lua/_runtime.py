"""One sandboxed Lua interpreter per workflow run or function call."""

from __future__ import annotations

import contextlib
import functools
import math
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import lupa.lua54 as lupa_lua

from luaflow.lua._bytecode import load_own, load_user, own_bytecode
from luaflow.lua._errors import INTERNAL, HostFailure, LuaflowError
from luaflow.lua._regex import regex_search
from luaflow.lua._values import PAYLOAD_LIMIT, decode_str, from_lua, to_lua

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

    Instructions and seconds apply per activation: the Lua code that runs between two waits
    (one scheduler step). Memory is the cap of the whole state, output what its `print` may
    write in all, payload the largest value one workflow operation may hand to Temporal.
    The workflow defaults end an activation far inside the Python SDK's 2-second deadlock window.
    """

    instructions: int = 100_000_000
    seconds: float = 1.0
    memory: int = 64 * 1024 * 1024
    output: int = 1024 * 1024
    payload: int | None = PAYLOAD_LIMIT
    #: Where `seconds` was set, for the error that names the limit.
    source: str = ""


#: Host code (functions, handlers, processes) has a wall-clock limit per activation (waits on
#: Temporal, timers and messages do not count) that an entry can change; its values cross to
#: Temporal only as activity results, which the worker checks.
HOST_LIMITS = LuaLimits(instructions=10**15, seconds=5.0, payload=None)

#: Room above the memory cap for what Python builds in Lua while Lua waits in a call into it.
_RESERVE = 8 * 1024 * 1024
_MIB = 1024 * 1024

#: The state whose activation runs on this thread (see `waiting`).
_ACTIVE = threading.local()


@contextlib.contextmanager
def waiting() -> Iterator[None]:
    """Time spent in this block (host code blocked on Temporal or another process) does not
    count against the time limit of the activation running on this thread."""
    state: LuaState | None = getattr(_ACTIVE, "state", None)
    started = time.monotonic()
    try:
        yield
    finally:
        if state is not None:
            state.extend_deadline(time.monotonic() - started)


class LuaRuntimeError(LuaflowError):
    """A Lua syntax or load error; the message names the file and line."""

    def __init__(self, message: str) -> None:
        super().__init__(message, INTERNAL, False)


def _prelude_source() -> bytes:
    return resources.files("luaflow.lua").joinpath("prelude.lua").read_bytes()


_PRELUDE = _prelude_source()
#: Chunks the prelude loads on first use in a state: the run-time type library, the bounded
#: string and table functions, the cost model of patterns, the bounded pattern matcher, the
#: methods of errors with the `errors` module, and Go's float formatting and hyperbolic functions.
_LAZY_CHUNKS = {
    name.encode(): resources.files("luaflow.lua").joinpath(name).read_bytes()
    for name in (
        "types.lua",
        "bounded.lua",
        "pattern_cost.lua",
        "pattern.lua",
        "errors.lua",
        "numbers.lua",
    )
}


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
            max_memory=self.limits.memory + _RESERVE,
            attribute_filter=_deny_attributes,
        )
        self._clock = clock
        self._on_close: list[Callable[[], None]] = []
        self._printer = printer or _print
        self._printed = 0
        #: End of the running activation (inf between activations), and how deep resumes nest.
        self._deadline = math.inf
        self._depth = 0
        #: The limit this state ran into (it only fails from then on).
        self._exceeded: LuaflowError | None = None
        bridge = self.runtime.table()
        bridge[b"now_seconds"] = lambda: int(self._clock())
        bridge[b"now_precise"] = lambda: float(self._clock())
        bridge[b"expired"] = lambda: time.monotonic() > self._deadline
        bridge[b"own_chunk"] = _own_chunk
        bridge[b"print"] = self._print
        bridge[b"lua_error"] = self._python_error
        bridge[b"error_token"] = object  # a fresh token per host object (errors, time values)
        bridge[b"re_search"] = regex_search
        # A named chunk: its frames are luaflow's own (skipped in error positions).
        self.rt = load_own(self.runtime, _PRELUDE, b"@luaflow/prelude.lua")(bridge)
        # Read every helper now: lupa mis-reads table items from Python while a coroutine runs
        # (calls and `.items()` are fine), so runtime code never indexes Lua tables directly.
        self._new_task = self.rt[b"new_task"]
        self._set_budget = self.rt[b"set_budget"]
        self._limit_of = self.rt[b"limit_of"]
        self._fail = self.rt[b"fail"]
        self._install_require = self.rt[b"install_require"]
        self._lazy_global = self.rt[b"lazy_global"]
        self._global_of = self.rt[b"global_of"]
        #: Globals built on first use (see `lazy_globals`).
        self._lazy: set[str] = set()
        self.awaiting = self.rt[b"awaiting"]
        self.await_ = self.rt[b"await"]
        self._ptr = self.rt[b"ptr"]
        self._is_opaque = self.rt[b"is_opaque"]
        self._index = self.rt[b"index"]
        self._identity = self.rt[b"identity"]
        self._is_error = self.rt[b"is_error"]
        self._error_fields = self.rt[b"error_fields"]
        self._make_error = self.rt[b"make_error"]
        #: Lua's constructor, field reader and finalizer of host objects (userdata values of
        #: luaflow's own types), for modules that make such values (time).
        self.objects = self.rt[b"objects"]
        self._teardown = self.rt[b"teardown"]
        self.globals = self.runtime.globals()
        # The prelude's soft cap counts in Lua's own terms, which include what the runtime
        # allocated before the cap applied.
        builtins = self.rt[b"memory_used"]() - self.runtime.get_memory_used()
        self.rt[b"set_memory_limit"]((self.limits.memory + builtins) / 1024)

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
            if name in self._lazy:
                loaders[name.encode()] = functools.partial(self._global_of, name.encode())
                continue
            value = self.globals[name.encode()]
            if value is not None:
                loaders[name.encode()] = self._constant(value)

        def describe(name: bytes) -> bytes:
            text = decode_str(name)
            return (
                f'require("{text!s}") is not declared in the modules or imports of {entry_id}'
            ).encode()

        self._install_require(loaders, describe)

    def lazy_globals(self, names: tuple[str, ...], build: Callable[[], None]) -> None:
        """Globals `build` makes the first time Lua code reads or requires one of `names` (a run
        that never uses them never holds their code). `build` may run again: it must do its
        work once."""
        for name in names:
            self._lazy.add(name)
            self._lazy_global(name.encode(), build)

    def _loader(self, loader: ModuleLoader) -> Callable[[], Any]:
        return lambda: loader(self)

    @staticmethod
    def _constant(value: Any) -> Callable[[], Any]:
        return lambda: value

    # -- code --------------------------------------------------------------------------------------

    def load(self, source: str, chunkname: str) -> Any:
        """Compile a text chunk; its errors read `chunkname:line: message`.

        User sources may be written in Wippy's typed dialect: they are translated to Lua 5.4
        first (same line numbers). Both user sources and luaflow's own modules load from
        bytecode compiled once per process (luaflow's without debug information).
        """
        # Imported here: the dialect module derives its syntax error from LuaRuntimeError.
        from luaflow.lua._dialect import translate

        if chunkname.startswith("luaflow/"):
            return load_own(self.runtime, source.encode(), b"@" + chunkname.encode())
        return load_user(
            self.runtime, translate(source, chunkname).encode(), b"@" + chunkname.encode()
        )

    def new_task(self, fn: Any, *args: Any) -> Any:
        """A resumable task (a coroutine with the budget hook) that calls `fn(*args)`."""
        return self._new_task(fn, *args)

    @contextlib.contextmanager
    def activation(self) -> Iterator[None]:
        """Everything Lua runs until it waits again (a scheduler step, a call) shares one
        instruction budget and one deadline; nested activations join the running one."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._set_budget(self.limits.instructions)
        self._deadline = time.monotonic() + self.limits.seconds
        previous, _ACTIVE.state = getattr(_ACTIVE, "state", None), self
        self._depth = 1
        try:
            yield
        finally:
            self._depth = 0
            self._deadline = math.inf
            _ACTIVE.state = previous

    def resume(self, task: Any, *args: Any) -> tuple[str, Any]:
        """Resume a task within the running activation (or one of its own).

        Returns ("await", request) when it waits on the runtime, ("dead", [results]) when it
        returned, ("error", error value) when it raised or ran into a limit.
        """
        if self._exceeded is not None:
            return "error", self._exceeded
        with self.activation():
            try:
                first, *rest = _as_tuple(task(*args))
            except lupa_lua.LuaMemoryError:
                first, rest = False, [b"not enough memory"]
        if self.runtime.get_memory_used() > self.limits.memory:
            # Lua may stop above the cap (the checks run between instructions): Python must
            # not touch a state without its reserve, so the task fails.
            self.runtime.gccollect()
            if self.runtime.get_memory_used() > self.limits.memory:
                self._fail(b"memory")
                self._exceeded = self._limit_error("memory")
                return "error", self._exceeded
        if first is True:
            return "dead", rest
        if first is False:
            error = rest[0] if rest else None
            limit = self._limit_name(error)
            if limit is not None:
                self._exceeded = self._limit_error(limit)
            return "error", error
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

    def run_own(self, source: bytes, chunkname: str, *args: Any) -> list[Any]:
        """Run one of luaflow's own module chunks (`luaflow/<name>.lua`) with `args` and return
        its results. Such chunks only build tables and closures, so they run as a plain call:
        no task, no activation (a quarter of a state's set-up was spent making those). The
        results are safe to keep: a chunk run from a callback of a coroutine (a module built on
        first use) returns values lupa binds to that coroutine (see `keep`)."""
        fn = load_own(self.runtime, source, b"@" + chunkname.encode())
        try:
            return [self.keep(value) for value in _as_tuple(fn(*args))]
        except lupa_lua.LuaError as exc:  # the memory cap, or a bug in luaflow's own code
            message = exc.args[0] if exc.args else b"error in " + chunkname.encode()
            raise LuaRuntimeError(str(decode_str(message))) from None

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
        """`table[key]`, safe at any time (see the note in __init__); metamethods run bounded,
        their errors raise."""
        ok, value = (*_as_tuple(self._index(table, key.encode())), None)[:2]
        if not ok:
            raise self.error_from_lua(value)
        return value

    # -- limits ----------------------------------------------------------------------------------

    @property
    def exceeded(self) -> LuaflowError | None:
        """The limit this state ran into, if any: it only fails from then on (discard it)."""
        return self._exceeded

    def check_time(self) -> None:
        """Raise when the running activation is past its time limit: long work done in Python
        for Lua (conversions) calls this, as the hook cannot interrupt it."""
        if time.monotonic() > self._deadline:
            raise self._limit_error("time")

    def extend_deadline(self, seconds: float) -> None:
        """Give the running activation `seconds` more (it spent them waiting, see `waiting`)."""
        self._deadline += seconds

    def reserve(self, size: int) -> None:
        """Refuse to build `size` more bytes in Lua beyond the memory cap: building from Python
        must never meet the allocator's limit (the failure would unwind through Python)."""
        if not size:
            return
        if self.runtime.get_memory_used() + size > self.limits.memory:
            self.runtime.gccollect()
            used = self.runtime.get_memory_used()
            if used + size > self.limits.memory:
                raise LuaflowError(
                    f"a value of about {size / _MIB:.1f} MiB does not fit in the Lua memory "
                    f"limit of {self.limits.memory // _MIB} MiB "
                    f"({max(self.limits.memory - used, 0) / _MIB:.1f} MiB free)",
                    INTERNAL,
                    False,
                )

    def _limit_error(self, name: str) -> LuaflowError:
        limits = self.limits
        if name == "memory":
            message = f"Lua memory limit of {limits.memory // _MIB} MiB exceeded"
        elif name == "time":
            where = f" (set by {limits.source})" if limits.source else ""
            message = (
                f"Lua time limit exceeded: ran over {limits.seconds:g} s without waiting{where}"
                " (runaway loop or expensive call?)"
            )
        else:
            message = (
                f"Lua instruction budget exceeded: over {limits.instructions:,} instructions "
                "without waiting (runaway loop?)"
            )
        return LuaflowError(message, INTERNAL, False)

    def _print(self, text: bytes) -> bool:
        """Lua `print`, within the state's output limit (the line that crosses it is cut);
        False once the limit is spent."""
        with self.output(len(text) + 1) as fit:
            if fit > len(text):
                self._printer(str(decode_str(text)))
            elif fit:
                self._printer(text[:fit].decode("utf-8", "replace"))
        return self._printed <= self.limits.output

    @contextlib.contextmanager
    def output(self, size: int) -> Iterator[int]:
        """Count `size` more bytes of output against `limits.output` (shared by `print` and
        `logger` lines) and yield how many of them fit; after the block that crosses the limit,
        one line says so, and later output is dropped."""
        limit = self.limits.output
        fit = min(size, max(limit - self._printed, 0))
        crossed = self._printed <= limit < self._printed + size
        self._printed += size
        yield fit
        if crossed:
            self._printer(
                f"[output limit: this run printed over {limit} bytes; the rest is dropped]"
            )

    def is_error(self, value: Any) -> bool:
        return bool(self._is_error(value))

    def is_opaque(self, table: Any) -> bool:
        return bool(self._is_opaque(table))

    def error_from_lua(self, value: Any) -> LuaflowError:
        """Any raised or returned Lua error value as a LuaflowError (B7); never raises."""
        if isinstance(value, LuaflowError):
            return value  # raised by a Python module function
        if isinstance(value, BaseException):
            return LuaflowError(f"{type(value).__name__}: {value}", INTERNAL, False)
        limit = self._limit_name(value)
        if limit is not None:
            return self._limit_error(limit)
        if self.is_error(value):
            message, kind, retryable, details, cause = self._error_fields(value)
            try:
                data = self.from_lua(details, "details") if details is not None else None
            except LuaflowError:
                data = None  # details that cannot travel are dropped, the error still does
            return LuaflowError(
                str(decode_str(message)) if message is not None else "",
                str(decode_str(kind)) if kind is not None else "",
                retryable,
                data,
                self.error_from_lua(cause) if cause is not None else None,
            )
        if isinstance(value, bytes):
            return LuaflowError(str(decode_str(value)), INTERNAL, False)
        if value is None:
            return LuaflowError("unknown error", INTERNAL, False)
        try:
            converted = self.from_lua(value, "error")
        except LuaflowError as err:
            return err
        return LuaflowError(str(converted), INTERNAL, False)

    def _limit_name(self, value: Any) -> str | None:
        """The limit a raised Lua value stands for, or None."""
        if value == b"not enough memory":
            return "memory"
        if lupa_lua.lua_type(value) != "table":
            return None
        name = self._limit_of(value)
        return None if name is None else str(decode_str(name))

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


def _own_chunk(name: bytes) -> bytes:
    """The bytecode of one of the chunks the prelude loads on first use (a call, not a bridge
    value: states that never use them never hold them)."""
    return own_bytecode(_LAZY_CHUNKS[name], b"@luaflow/" + name)


def _print(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _as_tuple(value: Any) -> tuple[Any, ...]:
    return value if isinstance(value, tuple) else (value,)
