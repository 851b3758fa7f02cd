"""From registry entries to running Lua: module allow-lists, imports, entry functions.

Shared by every engine: a workflow run and an activity call both start from a fresh LuaState
holding exactly the modules and libraries their entry lists.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import lupa.lua54 as lupa_lua

from luaflow.lua import (
    HOST_LIMITS,
    INTERNAL,
    IO_MODULES,
    LuaflowError,
    LuaLimits,
    LuaRuntimeError,
    LuaState,
    ModuleLoader,
)
from luaflow.registry import Entry, Registry, RegistryError
from luaflow.workflow import (
    CommandRunner,
    HostEnv,
    HostModules,
    Scheduler,
    WorkflowEnv,
    new_host_state,
    new_workflow_run,
    run_host,
)


def meta_worker(entry: Entry, role: str) -> str | None:
    """The `temporal.worker` an entry is bound to (`meta.temporal.<role>.worker`)."""
    temporal = entry.meta.get("temporal") or {}
    section = temporal.get(role) if isinstance(temporal, dict) else None
    worker = section.get("worker") if isinstance(section, dict) else None
    return str(worker) if worker else None


def workflow_type(entry: Entry) -> str:
    """Temporal workflow type of a `workflow.lua` entry: `meta.temporal.workflow.name` or its id."""
    temporal = entry.meta.get("temporal") or {}
    name = (temporal.get("workflow") or {}).get("name") if isinstance(temporal, dict) else None
    return str(name) if name else str(entry.id)


def task_queue_of(registry: Registry, worker: Entry) -> str:
    """A worker's task queue with its client's `tq_prefix` applied."""
    client = registry.get(str(worker.data["client"]))
    return str(client.data.get("tq_prefix", "")) + str(worker.data["task_queue"])


def worker_for_queue(registry: Registry, queue: str) -> Entry | None:
    """The `temporal.worker` entry serving a raw task queue (with or without the prefix)."""
    for worker in registry.by_kind("temporal.worker"):
        if queue in (str(worker.data.get("task_queue")), task_queue_of(registry, worker)):
            return worker
    return None


def host_limits(entry: Entry) -> LuaLimits:
    """The bounds of an entry's host code: HOST_LIMITS, with the time limit per activation set by
    `options.limits.max_execution_ms` (Wippy's name for a function's wall-clock budget)."""
    options = entry.data.get("options")
    limits = options.get("limits") if isinstance(options, Mapping) else None
    value = limits.get("max_execution_ms") if isinstance(limits, Mapping) else None
    if value is None:
        return HOST_LIMITS
    field = "options.limits.max_execution_ms"
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise entry.error(f"expected a positive number of milliseconds, got {value!r}", field)
    return replace(HOST_LIMITS, seconds=value / 1000, source=f"{field} of {entry.id}")


def check_entry_modules(entry: Entry) -> None:
    """Reject at load time what can never work: I/O modules in workflows (B1), bad lists, bad
    limits."""
    if entry.kind != "workflow.lua":
        host_limits(entry)
    modules = entry.data.get("modules") or []
    for i, name in enumerate(modules):
        if entry.kind == "workflow.lua" and name in IO_MODULES:
            raise entry.error(
                f'module "{name}" does I/O and is not allowed in a workflow; '
                "call it from an activity (function.lua) instead",
                f"modules[{i}]",
            )


def chunk_name(registry: Registry, entry: Entry) -> str:
    """The name Lua errors carry: the source path relative to the app folder."""
    if entry.source_path is None:
        return str(entry.id)
    return _relative(entry.source_path, registry.root)


@functools.lru_cache(maxsize=4096)
def _relative(path: Path, root: Path) -> str:
    """`path` relative to `root` (once per file: every host call and run names its chunk)."""
    try:
        return os.path.relpath(path, root)
    except ValueError:
        return str(path)


class _NoEntryPoint(LuaRuntimeError):
    """The module returns neither a function nor a table holding the entry's `method`."""

    def __init__(self, chunk: str, entry: Entry, reason: str) -> None:
        super().__init__(f"{chunk}: entry {entry.id}: field method: {reason}")
        self.reason = reason


def entry_function(state: LuaState, registry: Registry, entry: Entry) -> Any:
    """Run the entry's chunk and return its entry point: `method` of the returned table
    (default `main`), or the returned function itself (R18)."""
    name = chunk_name(registry, entry)
    if entry.source is None:
        raise RegistryError("no source", file=entry.file, entry=str(entry.id), field="source")
    results = state.call(state.load(entry.source, name))
    value = results[0] if results else None
    if lupa_lua.lua_type(value) == "function":
        return value
    method = entry.method or "main"
    if lupa_lua.lua_type(value) == "table":
        fn = state.index(value, method)
        if lupa_lua.lua_type(fn) == "function":
            return fn
    kind = lupa_lua.lua_type(value) or "nil"
    raise _NoEntryPoint(
        name,
        entry,
        f"no function {method!r} in the table the module returns"
        if kind == "table"
        else f"the module returns {kind}, not a function or a table with function {method!r}",
    )


#: The process layer's part in host code: builds the `process` global of a fresh host state and
#: returns how that state's commands (function calls...) run.
HostLayer = Callable[[HostModules, HostEnv], CommandRunner]


class Programs:
    """Creates the Lua states of an app's entries."""

    def __init__(
        self,
        registry: Registry,
        limits: LuaLimits | None = None,
        host_layer: HostLayer | None = None,
    ) -> None:
        self.registry = registry
        self.limits = limits or LuaLimits()
        #: The host `process` global and command runner (the process layer provides them).
        self.host_layer = host_layer

    def _loaders(
        self, entry: Entry, available: Mapping[str, ModuleLoader]
    ) -> dict[str, ModuleLoader]:
        loaders: dict[str, ModuleLoader] = {}
        for name in entry.data.get("modules") or []:
            if name in available:
                loaders[name] = available[name]
            else:
                loaders[name] = _missing(name, entry, available)
        for alias, target in (entry.data.get("imports") or {}).items():
            library = self.registry.get(target)
            loaders[alias] = self._library_loader(library)
        return loaders

    def _library_loader(self, library: Entry) -> ModuleLoader:
        def load(state: LuaState) -> Any:
            name = chunk_name(self.registry, library)
            results = state.call(state.load(library.source or "", name))
            return results[0] if results else None

        return load

    def check_workflow(self, entry: Entry) -> None:
        """Run a workflow module's top level once, as each of its runs will: a module that
        raises there or lacks its `method` is one load error naming the entry, instead of a
        workflow task that fails and is retried forever. (Workflow modules cannot do I/O, so
        running them early is safe.)"""
        try:
            scheduler, _ = self.workflow(entry, _LoadOnlyEnv())
        except _NoEntryPoint as err:
            raise entry.error(err.reason, "method") from None
        except LuaflowError as err:
            raise entry.error(f"the module fails to load: {err.text()}", "source") from None
        scheduler.close()

    def workflow(self, entry: Entry, env: WorkflowEnv) -> tuple[Scheduler, Any]:
        """A fresh state and scheduler for one workflow run, and its entry function."""
        run = new_workflow_run(env, self.limits, str(entry.id))
        try:
            run.state.install_require(self._loaders(entry, run.loaders()), str(entry.id))
            main = run.settled(entry_function(run.state, self.registry, entry))
        except BaseException:
            run.scheduler.close()
            raise
        # What building the state left (the chunks' top-level code, temporaries) is freed now:
        # otherwise it stays in the run's heap for as long as the worker caches the run.
        run.state.runtime.gccollect()
        return run.scheduler, main

    def call(
        self,
        entry: Entry,
        args: list[Any],
        context: dict[str, Any] | None = None,
        modules: Mapping[str, ModuleLoader] | None = None,
        env: HostEnv | None = None,
    ) -> Any:
        """Run a function or process entry as host code on this thread until it returns; its
        `nil, err` or raised error becomes a LuaflowError (B7). `env` presets the PID and
        mailbox (a spawned process is addressable before it runs)."""
        env = env or HostEnv(context_values=dict(context or {}))
        host, loaders = new_host_state(env, host_limits(entry), str(entry.id))
        try:
            execute = self.host_layer(host, env) if self.host_layer is not None else None
            host.state.install_require(
                self._loaders(entry, {**loaders, **(modules or {})}), str(entry.id)
            )
            fn = entry_function(host.state, self.registry, entry)
            outcome = run_host(host, fn, args, env, execute)
        finally:
            host.scheduler.close()
        if outcome.error is not None:
            raise outcome.error
        return outcome.value


class _LoadOnlyEnv:
    """The engine of a workflow run that only loads its module (`Programs.check_workflow`)."""

    def now_ns(self) -> int:
        return 0

    def info(self) -> dict[str, Any]:
        return {}

    def history_length(self) -> int:
        return 0

    def history_size(self) -> int:
        return 0

    def random_bytes(self, n: int) -> bytes:
        return bytes(n)

    def pid(self) -> str:
        return ""

    def print(self, text: str) -> None:
        """Silent: the module's runs print, not its check."""

    def upsert_attrs(self, search: dict[str, Any], memo: dict[str, Any]) -> None:
        """Nothing runs to keep them."""

    def context(self) -> dict[str, Any]:
        return {}

    def patched(self, patch_id: str) -> bool:
        return True

    def resolve_child(self, target: str, host: str | None) -> tuple[str, str, str]:
        raise LuaflowError("child workflows cannot start while the module loads", INTERNAL, False)


def _missing(name: str, entry: Entry, available: Mapping[str, ModuleLoader]) -> ModuleLoader:
    def fail(_: LuaState) -> Any:
        raise LuaflowError(
            f'module "{name}" is not available to {entry.kind} entry {entry.id} '
            f"(available here: {', '.join(sorted(available))})",
            INTERNAL,
            False,
        )

    return fail
