"""Host-side processes: Lua code outside workflows that calls functions, starts and talks to
workflows (B6) and to other host processes.

Host Lua runs on threads (host calls on HostThreads, spawned processes on their own, activities
on the worker's); every Temporal call it makes is run on the app's event loop and waited for, so
Lua code stays plain and blocking. Its function calls (`funcs`) run as host calls of their own
while the caller's other coroutines go on.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import itertools
import os
import socket
import threading
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import activity
from temporalio.client import (
    Client,
    Interceptor,
    OutboundInterceptor,
    SignalWorkflowInput,
    StartWorkflowInput,
    WorkflowFailureError,
    WorkflowHandle,
)
from temporalio.common import RetryPolicy, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.converter import default as default_converter
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from luaflow.engine import Programs, task_queue_of, worker_for_queue, workflow_type
from luaflow.engine.temporal import (
    CONTEXT_HEADER,
    SENDER_HEADER,
    ClientSettings,
    code_build_id,
    from_failure,
    temporal_retry_policy,
    typed_search_attributes,
)
from luaflow.lua import (
    ALREADY_EXISTS,
    CANCELED,
    INTERNAL,
    INVALID,
    NOT_FOUND,
    UNAVAILABLE,
    LuaflowError,
    LuaLimits,
    ModuleLoader,
    decode_str,
    lua_result,
    lua_source,
    lua_table,
    option_duration,
    waiting,
)
from luaflow.process._threads import HostThreads
from luaflow.registry import Entry, Registry
from luaflow.workflow import (
    DELIVER_ACTIVITY,
    SYSTEM_CLOCK,
    CallFunction,
    CancelCall,
    Command,
    CommandRunner,
    Event,
    HostClock,
    HostEnv,
    HostModules,
    Mailbox,
    Message,
    host_pid,
    node_of,
    node_queue,
    parse_cron_schedule,
    parse_retry_policy,
    workflow_id_of,
)

_PROCESS_LUA = lua_source("process.lua", "luaflow.process")
_T = TypeVar("_T")

#: Headers for the Temporal calls the current host call makes (read by the client interceptor).
_outgoing_context: ContextVar[dict[str, Any] | None] = ContextVar("luaflow_ctx", default=None)
_outgoing_sender: ContextVar[str] = ContextVar("luaflow_sender", default="")

_CONFLICT = {
    "use_existing": WorkflowIDConflictPolicy.USE_EXISTING,
    "fail": WorkflowIDConflictPolicy.FAIL,
    "terminate_existing": WorkflowIDConflictPolicy.TERMINATE_EXISTING,
}
_REUSE = {
    "allow_duplicate": WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    "allow_duplicate_failed_only": WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
    "reject_duplicate": WorkflowIDReusePolicy.REJECT_DUPLICATE,
    "terminate_if_running": WorkflowIDReusePolicy.TERMINATE_IF_RUNNING,
}


class HeaderClientInterceptor(Interceptor):
    """Puts the host call's context and PID on the workflows it starts and signals it sends."""

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _ClientOutbound(next)


class _ClientOutbound(OutboundInterceptor):
    @staticmethod
    def _headers(headers: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(headers)
        converter = default_converter().payload_converter
        context, sender = _outgoing_context.get(), _outgoing_sender.get()
        if context:
            out[CONTEXT_HEADER] = converter.to_payload(context)
        if sender:
            out[SENDER_HEADER] = converter.to_payload(sender)
        return out

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
        input.headers = self._headers(input.headers)
        return await super().start_workflow(input)

    async def signal_workflow(self, input: SignalWorkflowInput) -> None:
        input.headers = self._headers(input.headers)
        await super().signal_workflow(input)


def _text(value: Any) -> str:
    return str(decode_str(value)) if isinstance(value, bytes) else str(value)


def _option(options: Mapping[str, Any], name: str) -> Any:
    for key in (f"temporal.workflow.{name}", f"workflow.{name}"):
        if key in options:
            return options[key]
    return None


def _enum(options: Mapping[str, Any], name: str, table: Mapping[str, _T]) -> _T | None:
    value = _option(options, name)
    if value is None:
        return None
    if value not in table:
        raise LuaflowError(
            f"option temporal.workflow.{name}: {value!r} is not one of {', '.join(table)}",
            INVALID,
            False,
        )
    return table[value]


def _duration(options: Mapping[str, Any], name: str) -> timedelta | None:
    value = _option(options, name)
    return option_duration(value, f"temporal.workflow.{name}") if value is not None else None


def _retry(options: Mapping[str, Any]) -> RetryPolicy | None:
    value = _option(options, "retry_policy")
    if value is None:
        return None
    return temporal_retry_policy(parse_retry_policy(value, "temporal.workflow.retry_policy"))


def _workflow_id(options: Mapping[str, Any], name: str | None) -> str | None:
    """`temporal.workflow.id` (or the spawn name); None: a fresh id. An empty one is refused."""
    value = _option(options, "id")
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise LuaflowError(
            f"option temporal.workflow.id: expected a non-empty string, got {value!r}",
            INVALID,
            False,
        )
    return value or name


@dataclass(eq=False)
class _Process:
    """A running host process: where its messages go, and (spawned ones) how it ended."""

    mailbox: Mailbox
    done: concurrent.futures.Future[Any] = field(default_factory=concurrent.futures.Future)


_RUNTIMES = itertools.count(1)
#: Host calls (HTTP handlers, `luaflow call`, functions called with `funcs`) running at once;
#: more wait for their turn. Calls that wait do not count (see HostThreads).
HOST_THREADS = 16

#: How many delivered workflow messages a node remembers to drop activity retries (B5).
_DELIVERED_MEMORY = 100_000

#: The watch kinds `spawn_monitored` and friends attach (process/process.lua).
_WATCH_KINDS = ("monitor", "link")


class HostRuntime:
    """Host Lua's way to Temporal and to other host processes: the app's registry and clients,
    on the app's event loop, this node's running processes by PID and their registered names."""

    def __init__(
        self,
        registry: Registry,
        loop: asyncio.AbstractEventLoop,
        client: Callable[[str], Awaitable[tuple[ClientSettings, Client]]],
        limits: LuaLimits,
        clock: HostClock = SYSTEM_CLOCK,
    ) -> None:
        self.registry = registry
        #: The time of every host process of this node (a test may hand one that skips).
        self.clock = clock
        self.loop = loop
        self._client = client
        self._counter = itertools.count(1)
        number = next(_RUNTIMES)  # apps sharing one OS process are separate nodes
        suffix = f".{number}" if number > 1 else ""
        self.node = f"{socket.gethostname()}.{os.getpid()}{suffix}"
        self.programs = Programs(registry, limits, self.attach)
        #: Running host processes and calls by PID (spawned ones from before their code runs).
        self._processes: dict[str, _Process] = {}
        self._delivered: OrderedDict[tuple[str, str, str], None] = OrderedDict()
        self._threads = HostThreads(HOST_THREADS, "luaflow-host")
        self.names = _Names()

    def new_env(self, context: Mapping[str, Any] | None = None) -> HostEnv:
        """The env of a new host process or call: a fresh PID, a mailbox whose waits free
        their host thread."""
        return HostEnv(
            context_values=dict(context or {}),
            pid_value=self.new_pid(),
            mailbox=Mailbox(self._threads.parked),
            clock=self.clock,
        )

    async def run(
        self, entry: Entry, args: list[Any], modules: Mapping[str, ModuleLoader] | None = None
    ) -> Any:
        """Run a host call (HTTP handler, `luaflow call`) on the host threads: they block on
        Temporal, so they get threads of their own rather than the loop's few default ones."""
        call = functools.partial(self.programs.call, entry, args, None, modules, self.new_env())
        return await asyncio.wrap_future(self._threads.submit(call))

    def new_pid(self) -> str:
        return host_pid(self.node, next(self._counter))

    def _wait(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run a Temporal call on the app loop and wait (host Lua runs on other threads)."""
        return self._block(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def _block(self, future: concurrent.futures.Future[_T]) -> _T:
        with self._threads.parked(), waiting():
            return future.result()

    # -- host processes --------------------------------------------------------------------------

    def _spawn(
        self,
        entry: Entry,
        args: list[Any],
        context: Mapping[str, Any] | None = None,
        messages: Sequence[Message] = (),
    ) -> tuple[str, _Process]:
        env = self.new_env(context)
        process = _Process(env.mailbox)
        self._processes[env.pid_value] = process
        for message in messages:
            env.mailbox.message(message)

        def run() -> None:
            try:
                value = self.programs.call(entry, args, env=env)
            except BaseException as exc:
                self._processes.pop(env.pid_value, None)  # gone before anyone hears it exited
                process.done.set_exception(exc)
            else:
                self._processes.pop(env.pid_value, None)
                process.done.set_result(value)

        process.done.set_running_or_notify_cancel()  # watchers that stop cannot cancel it
        threading.Thread(target=run, name=env.pid_value, daemon=True).start()
        return env.pid_value, process

    def spawn_process(
        self,
        entry: Entry,
        args: list[Any],
        context: Mapping[str, Any] | None = None,
        messages: Sequence[Message] = (),
    ) -> tuple[str, concurrent.futures.Future[Any]]:
        """Start a `process.lua` (or function) entry on its own thread; its PID is addressable
        at once and its startup messages are already in its mailbox."""
        pid, process = self._spawn(entry, args, context, messages)
        return pid, process.done

    def kill(self, pid: str, error: LuaflowError) -> None:
        """End a running host process with `error` at its next wait (a test out of time)."""
        process = self._processes.get(pid)
        if process is not None:
            process.mailbox.kill(error)

    def call_function(
        self, target: str, args: list[Any], context: Mapping[str, Any]
    ) -> tuple[Mailbox, concurrent.futures.Future[Any]]:
        """`funcs.call` of host code: a function entry as a host call of its own, or a
        process.lua entry with `meta.default_host` as a process on that host; the callee's
        mailbox (to cancel it) and its outcome."""
        entry = self.registry.find(target)
        if entry is not None and entry.kind == "function.lua":
            env = self.new_env(context)
            call = functools.partial(self.programs.call, entry, args, env=env)
            return env.mailbox, self._threads.submit(call)
        if entry is not None and entry.kind == "process.lua":
            host = entry.meta.get("default_host")
            host_entry = self.registry.find(str(host)) if host else None
            if host_entry is None or host_entry.kind != "process.host":
                raise LuaflowError(
                    f"{target} is a process.lua entry without a process.host in "
                    "meta.default_host: spawn it with process.spawn",
                    NOT_FOUND,
                    False,
                )
            _, process = self._spawn(entry, args, context)
            return process.mailbox, process.done
        what = f"a {entry.kind} entry" if entry is not None else "not an entry of the app"
        raise LuaflowError(f"function {target} not found: it is {what}", NOT_FOUND, False)

    async def stop(self, timeout: float) -> None:
        """Ask every running host process and call to stop (a `pid.cancel` event), wait up to
        `timeout`, then kill what is left: nothing outlives the app."""
        running = list(self._processes.values())
        for process in running:
            process.mailbox.event({"kind": "pid.cancel", "from": "", "reason": "shutdown"})
        deadline = self.loop.time() + timeout
        while any(p in self._processes.values() for p in running):
            if self.loop.time() > deadline:
                for process in running:
                    process.mailbox.kill(LuaflowError("stopped: shutdown timeout", CANCELED))
                break
            await asyncio.sleep(0.05)
        self._threads.shutdown()

    @activity.defn(name=DELIVER_ACTIVITY)
    async def deliver(self, dest: str, topic: str, args: list[Any], sender: str) -> bool:
        """A workflow's message to a host process of this node. Temporal runs it at least once;
        the (run, activity) key drops a retry of an already delivered message."""
        info = activity.info()
        key = (info.workflow_id or "", info.workflow_run_id or "", info.activity_id)
        if key in self._delivered:
            return True
        try:
            process = self._local(dest)
        except LuaflowError as err:
            raise ApplicationError(err.message, type=err.kind, non_retryable=True) from None
        process.mailbox.message(Message(topic, list(args), sender))
        self._delivered[key] = None
        if len(self._delivered) > _DELIVERED_MEMORY:
            self._delivered.popitem(last=False)
        return True

    async def deliver_here(self, dest: str, topic: str, args: list[Any], sender: str) -> bool:
        """The local activity of a workflow worker of this app (DELIVER_HERE_ACTIVITY): deliver
        when `dest` is a PID of this node, else False (the run then uses the node's queue)."""
        if node_of(dest) != self.node:
            return False
        return await self.deliver(dest, topic, args, sender)

    def node_worker(self, client: Client, tq_prefix: str) -> Worker:
        """The worker of this node's queue: workflows reach its host processes through it."""
        return Worker(
            client,
            task_queue=tq_prefix + node_queue(self.node),
            activities=[self.deliver],
            build_id=code_build_id(self.registry),
        )

    # -- the process global ----------------------------------------------------------------------

    def attach(self, modules: HostModules, env: HostEnv) -> CommandRunner:
        """Make a fresh host state a process of this node: its `process` global, built over the
        process basics of its scheduler, and the runner of its function calls."""
        state = modules.state
        env.pid_value = pid = env.pid_value or self.new_pid()
        self._processes.setdefault(pid, _Process(env.mailbox))
        base_context = dict(env.context_values)
        watch = _Watches(self, env.mailbox)
        calls = _Calls(self)

        def start(wait: bool, kinds: bytes, target: Any, host: Any, options: Any, ctx: Any,
                  name: Any, messages: Any, *args: Any) -> tuple[Any, Any]:  # fmt: skip
            def run() -> Any:
                values = [state.from_lua(a, f"argument {i}") for i, a in enumerate(args, 1)]
                opts = state.from_lua(options, "options") or {}
                extra = state.from_lua(ctx, "context") or {}
                queued = state.from_lua(messages, "messages") or []
                context = {**base_context, **(extra if isinstance(extra, dict) else {})}
                host_entry = self.registry.find(_text(host or b""))
                watches = [k for k in _WATCH_KINDS if k in _text(kinds).split()]
                if host_entry is not None and host_entry.kind == "process.host":
                    started, process = self._start_process(
                        _text(target or b""), values, context, queued, pid
                    )
                    if wait:
                        return self._block(process.done)
                    for how in watches:
                        watch.start(started, how, process)
                    return started
                result = self._wait(
                    self._start(
                        bool(wait), _text(target or b""), _text(host or b""),
                        opts if isinstance(opts, dict) else {}, context,
                        _text(name) if name is not None else None, queued, values, pid,
                    )
                )  # fmt: skip
                for how in () if wait else watches:
                    watch.start(result, how)
                return result

            return lua_result(state, run)

        def send(dest: Any, topic: Any, *args: Any) -> tuple[Any, Any]:
            values = [state.from_lua(a, f"argument {i}") for i, a in enumerate(args, 1)]
            return lua_result(
                state, lambda: self._send(self._dest(dest), _text(topic), values, pid)
            )

        def terminate(dest: Any) -> tuple[Any, Any]:
            return lua_result(state, lambda: self._stop(self._dest(dest), None, pid))

        def cancel(dest: Any, reason: Any = None) -> tuple[Any, Any]:
            why = _text(reason) if reason is not None else "canceled"
            return lua_result(state, lambda: self._stop(self._dest(dest), why, pid))

        def watch_pid(dest: Any, how: Any) -> tuple[Any, Any]:
            return lua_result(state, lambda: watch.start(self._dest(dest), _text(how)))

        def unwatch_pid(dest: Any, how: Any) -> tuple[Any, Any]:
            return lua_result(state, lambda: watch.stop(self._dest(dest), _text(how)))

        def set_trap(value: Any) -> None:
            watch.trap_links = bool(value)

        def register(name: Any, target: Any = None) -> tuple[Any, Any]:
            def run() -> bool:
                if target is not None and not isinstance(target, bytes):
                    raise LuaflowError("pid must be a string", INVALID, False)
                return self.names.register(_name(name), _text(target) if target else pid, pid)

            return lua_result(state, run)

        def closed() -> None:
            watch.close()
            calls.close()
            self.names.release(pid)
            self._processes.pop(pid, None)

        def build() -> None:
            bridge = lua_table(
                state,
                {
                    "start": start,
                    "send": send,
                    "terminate": terminate,
                    "cancel": cancel,
                    "watch": watch_pid,
                    "unwatch": unwatch_pid,
                    "set_trap_links": set_trap,
                    "register": register,
                    "lookup": lambda name: lua_result(
                        state, lambda: self.names.lookup(_name(name))
                    ),
                    "unregister": lambda name: self.names.unregister(_name(name)),
                },
            )
            state.run_own(_PROCESS_LUA, "luaflow/host_process.lua", modules.process_core, bridge)

        state.on_close(closed)
        modules.extend_process(build)
        return calls.execute

    def _dest(self, dest: Any) -> str:
        """A destination as given (PID or workflow id), or the PID registered under that name."""
        text = _text(dest) if dest is not None else ""
        if not text:
            raise LuaflowError("destination must be a PID or a registered name", INVALID, False)
        return self.names.find(text) or text

    def _start_process(
        self,
        target: str,
        args: list[Any],
        context: dict[str, Any],
        messages: list[Any],
        sender: str,
    ) -> tuple[str, _Process]:
        """`process.spawn(entry, <process.host>, ...)`: a host process on this node."""
        entry = self.registry.find(target)
        if entry is None or entry.kind not in ("process.lua", "function.lua"):
            raise LuaflowError(f"{target!r} is not a process.lua entry", NOT_FOUND, False)
        startup = [Message(str(m["topic"]), list(m["args"] or []), sender) for m in messages]
        return self._spawn(entry, args, context, startup)

    def _local(self, dest: str) -> _Process:
        process = self._processes.get(dest)
        if process is None:
            where = "" if node_of(dest) == self.node else " (it lives in another luaflow process)"
            raise LuaflowError(f"process {dest} not found{where}", NOT_FOUND, False)
        return process

    def _send(self, dest: str, topic: str, args: list[Any], sender: str) -> bool:
        if node_of(dest) is None:
            return self._wait(self._signal(dest, topic, args, sender))
        self._local(dest).mailbox.message(Message(topic, args, sender))
        return True

    def _stop(self, dest: str, reason: str | None, sender: str) -> bool:
        if node_of(dest) is None:
            return self._wait(self._stop_workflow(dest, reason))
        mailbox = self._local(dest).mailbox
        if reason is None:
            mailbox.kill(LuaflowError(f"terminated by {sender}", CANCELED, False))
        else:
            mailbox.event({"kind": "pid.cancel", "from": sender, "reason": reason})
        return True

    # -- Temporal side (on the loop) -------------------------------------------------------------

    async def _worker_client(self, host: str) -> tuple[str, str, Client]:
        """A worker entry (or the one serving a raw task queue): the PID prefix naming it, its
        queue and its client."""
        worker = self.registry.find(host)
        if worker is None or worker.kind != "temporal.worker":
            worker = worker_for_queue(self.registry, host)
        if worker is None:
            raise LuaflowError(
                f"{host!r} is neither a temporal.worker entry nor the task queue of one",
                NOT_FOUND,
                False,
            )
        client_id = str(worker.data["client"])
        _, client = await self._client(client_id)
        prefix = f"{{{client_id}@{worker.id}|"
        return prefix, task_queue_of(self.registry, worker), client

    async def _start(
        self,
        wait: bool,
        target: str,
        host: str,
        options: dict[str, Any],
        context: dict[str, Any],
        name: str | None,
        messages: list[Any],
        args: list[Any],
        sender: str,
    ) -> Any:
        entry = self.registry.find(target)
        if entry is None or entry.kind != "workflow.lua":
            raise LuaflowError(f"{target!r} is not a workflow.lua entry", NOT_FOUND, False)
        prefix, queue, client = await self._worker_client(host)
        explicit = _workflow_id(options, name)
        workflow_id = str(explicit or uuid.uuid4())
        conflict = _enum(options, "id_conflict_policy", _CONFLICT) or (
            WorkflowIDConflictPolicy.USE_EXISTING if explicit else WorkflowIDConflictPolicy.FAIL
        )
        if _option(options, "execution_error_when_already_started") is True:
            conflict = WorkflowIDConflictPolicy.FAIL
        search = _option(options, "search_attributes")
        cron = _option(options, "cron_schedule")
        kwargs: dict[str, Any] = {
            "id": workflow_id,
            "task_queue": _option(options, "task_queue") or queue,
            "id_conflict_policy": conflict,
            "execution_timeout": _duration(options, "execution_timeout"),
            "run_timeout": _duration(options, "run_timeout"),
            "task_timeout": _duration(options, "task_timeout"),
            "retry_policy": _retry(options),
            "cron_schedule": parse_cron_schedule(cron, "temporal.workflow.cron_schedule")
            if cron is not None
            else "",
            "memo": _option(options, "memo"),
            "start_delay": _duration(options, "start_delay"),
            "request_eager_start": bool(_option(options, "enable_eager_start")),
        }
        reuse = _enum(options, "id_reuse_policy", _REUSE)
        if reuse is not None:
            kwargs["id_reuse_policy"] = reuse
        if search is not None:
            kwargs["search_attributes"] = typed_search_attributes(
                search, "temporal.workflow.search_attributes"
            )
        first, rest = (messages[0], messages[1:]) if messages else (None, [])
        if first is not None:
            kwargs["start_signal"] = first["topic"]
            kwargs["start_signal_args"] = list(first["args"] or [])
        context_token = _outgoing_context.set(context or None)
        sender_token = _outgoing_sender.set(sender)
        try:
            handle = await client.start_workflow(workflow_type(entry), args=args, **kwargs)
            for message in rest:
                await handle.signal(message["topic"], args=list(message["args"] or []))
        except WorkflowAlreadyStartedError as exc:
            raise LuaflowError(
                f"workflow {exc.workflow_id} is already running", ALREADY_EXISTS, False
            ) from None
        except RPCError as exc:
            raise _rpc_error(exc) from None
        finally:
            _outgoing_context.reset(context_token)
            _outgoing_sender.reset(sender_token)
        pid = f"{prefix}{handle.id}}}"
        if not wait:
            return pid
        try:
            return await handle.result()
        except WorkflowFailureError as exc:
            raise from_failure(exc.cause) from None

    async def any_client(self, dest: str) -> Client:
        client_id = dest[1:].split("@", 1)[0] if dest.startswith("{") and "@" in dest else None
        if client_id is None or self.registry.find(client_id) is None:
            clients = self.registry.by_kind("temporal.client")
            if not clients:
                raise LuaflowError("the app has no temporal.client", NOT_FOUND, False)
            client_id = str(clients[0].id)
        return (await self._client(client_id))[1]

    async def _signal(self, dest: str, topic: str, args: list[Any], sender: str) -> bool:
        client = await self.any_client(dest)
        token = _outgoing_sender.set(sender)
        try:
            await client.get_workflow_handle(workflow_id_of(dest)).signal(topic, args=args)
        except RPCError as exc:
            raise _rpc_error(exc, dest) from None
        finally:
            _outgoing_sender.reset(token)
        return True

    async def _stop_workflow(self, dest: str, reason: str | None) -> bool:
        handle = (await self.any_client(dest)).get_workflow_handle(workflow_id_of(dest))
        try:
            if reason is None:
                await handle.terminate("terminated by process.terminate")
            else:
                await handle.cancel(reason=reason)
        except RPCError as exc:
            raise _rpc_error(exc, dest) from None
        return True


class _Watches:
    """`process.monitor`/`link` of one host process (B6): a watcher per PID on the app loop
    puts `pid.exit` / `pid.link.down` events into the process's mailbox; an untrapped link
    failure kills the process. A workflow that completes reports EXIT to its links too; a host
    process reports nothing to its links on a normal exit (Wippy)."""

    def __init__(self, runtime: HostRuntime, mailbox: Mailbox) -> None:
        self.runtime = runtime
        self.mailbox = mailbox
        self.watchers: dict[tuple[str, str], concurrent.futures.Future[None]] = {}
        self.trap_links = False

    def start(self, dest: str, how: str, process: _Process | None = None) -> bool:
        """Watch `dest`; a host process is looked up now (by the time the loop runs the
        watcher it may have exited), or given by the spawn that started it."""
        if (dest, how) not in self.watchers:
            if process is None and node_of(dest) is not None:
                process = self.runtime._processes.get(dest)
            self.watchers[dest, how] = asyncio.run_coroutine_threadsafe(
                self._watch(dest, how == "link", process), self.runtime.loop
            )
        return True

    def stop(self, dest: str, how: str) -> bool:
        watcher = self.watchers.pop((dest, how), None)
        if watcher is not None:
            watcher.cancel()
        return True

    def close(self) -> None:
        for dest, how in list(self.watchers):
            self.stop(dest, how)

    async def _outcome(self, dest: str, process: _Process | None) -> Any:
        if node_of(dest) is not None:
            if process is None:
                raise LuaflowError(f"process {dest} not found", NOT_FOUND, False)
            return await asyncio.wrap_future(process.done)
        handle = (await self.runtime.any_client(dest)).get_workflow_handle(workflow_id_of(dest))
        try:
            return await handle.result()
        except WorkflowFailureError as exc:
            error = from_failure(exc.cause) if exc.cause is not None else None
            raise error or LuaflowError("failed", INTERNAL) from None
        except RPCError as exc:
            raise _rpc_error(exc, dest) from None

    async def _watch(self, dest: str, linked: bool, process: _Process | None) -> None:
        try:
            result: dict[str, Any] = {"value": await self._outcome(dest, process), "error": None}
        except LuaflowError as err:
            result = {"value": None, "error": err}
        self.watchers.pop((dest, "link" if linked else "monitor"), None)
        error = result["error"]
        if error is None:
            if not linked or node_of(dest) is None:
                self.mailbox.event({"kind": "pid.exit", "from": dest, "result": result})
        elif not linked:
            self.mailbox.event({"kind": "pid.exit", "from": dest, "result": result})
        elif self.trap_links:
            self.mailbox.event({"kind": "pid.link.down", "from": dest, "result": result})
        else:
            self.mailbox.kill(
                LuaflowError(f"linked process {dest} failed: {error.text()}", error.kind)
            )


class _Calls:
    """The function calls (`funcs`) one host process has running: each runs as a host call of
    its own and answers in the caller's mailbox; a cancel, or the caller's end, stops it."""

    def __init__(self, runtime: HostRuntime) -> None:
        self.runtime = runtime
        self._running: dict[int, Mailbox] = {}
        self._lock = threading.Lock()

    def execute(self, command: Command, done: Callable[[Event], None]) -> None:
        if isinstance(command, CallFunction):
            self._start(command, done)
        elif isinstance(command, CancelCall):
            with self._lock:
                callee = self._running.get(command.call_id)
            if callee is not None:
                callee.kill(LuaflowError("canceled", CANCELED, False))
        else:
            name = type(command).__name__
            error = LuaflowError(f"{name} is not available in host code", INTERNAL, False)
            done(Event(command.id, error=error))

    def _start(self, command: CallFunction, done: Callable[[Event], None]) -> None:
        try:
            mailbox, outcome = self.runtime.call_function(
                command.target, command.args, command.context
            )
        except LuaflowError as err:
            done(Event(command.id, error=err))
            return
        with self._lock:
            self._running[command.id] = mailbox

        def finished(future: concurrent.futures.Future[Any]) -> None:
            with self._lock:
                self._running.pop(command.id, None)
            done(_call_event(command.id, future))

        outcome.add_done_callback(finished)

    def close(self) -> None:
        """The caller ended: its calls still running are canceled."""
        with self._lock:
            running, self._running = list(self._running.values()), {}
        for callee in running:
            callee.kill(LuaflowError("canceled: the caller has ended", CANCELED, False))


def _call_event(command_id: int, future: concurrent.futures.Future[Any]) -> Event:
    """A call's outcome for the caller; an error keeps its kind, none becomes Internal (Wippy)."""
    try:
        return Event(command_id, future.result())
    except LuaflowError as err:
        kind = err.kind or INTERNAL
        return Event(
            command_id, error=LuaflowError(err.message, kind, err.retryable, err.details, err.cause)
        )
    except Exception as exc:
        return Event(command_id, error=LuaflowError(str(exc) or type(exc).__name__, INTERNAL))


class _Names:
    """`process.registry` of one node: a name per PID, released when the process that
    registered it ends."""

    def __init__(self) -> None:
        self._pids: dict[str, tuple[str, str]] = {}  # name -> (pid, owner)
        self._lock = threading.Lock()

    def register(self, name: str, pid: str, owner: str) -> bool:
        with self._lock:
            if name in self._pids:
                raise LuaflowError(f"name {name} is already registered", ALREADY_EXISTS, False)
            self._pids[name] = (pid, owner)
        return True

    def find(self, name: str) -> str | None:
        with self._lock:
            found = self._pids.get(name)
        return found[0] if found is not None else None

    def lookup(self, name: str) -> str:
        pid = self.find(name)
        if pid is None:
            raise LuaflowError("name not registered", NOT_FOUND, False)
        return pid

    def unregister(self, name: str) -> bool:
        with self._lock:
            return self._pids.pop(name, None) is not None

    def release(self, owner: str) -> None:
        with self._lock:
            for name in [n for n, (_, o) in self._pids.items() if o == owner]:
                del self._pids[name]


def _name(value: Any) -> str:
    if not isinstance(value, bytes) or not value:
        raise LuaflowError("name must be a non-empty string", INVALID, False)
    return _text(value)


def _rpc_error(exc: RPCError, dest: str = "") -> LuaflowError:
    if exc.status == RPCStatusCode.NOT_FOUND:
        return LuaflowError(f"workflow {dest} not found: {exc.message}", NOT_FOUND, False)
    if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        return LuaflowError(f"Temporal unavailable: {exc.message}", UNAVAILABLE, True)
    if exc.status == RPCStatusCode.INVALID_ARGUMENT:  # e.g. an unknown search attribute
        return LuaflowError(f"Temporal: {exc.message}", INVALID, False)
    return LuaflowError(f"Temporal: {exc.message}", INTERNAL, False)
