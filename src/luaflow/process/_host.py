"""Host-side processes: Lua code outside workflows that starts and talks to workflows (B6).

Host Lua runs on worker threads (activities, HTTP handlers, CLI calls); every Temporal call it
makes is run on the app's event loop and waited for, so Lua code stays plain and blocking.
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

from luaflow.engine import Programs, task_queue_of, workflow_type
from luaflow.engine.temporal import ClientSettings, from_failure
from luaflow.engine.temporal._headers import CONTEXT_HEADER, SENDER_HEADER
from luaflow.engine.temporal._search import search_attribute_update
from luaflow.lua import (
    LuaflowError,
    LuaLimits,
    LuaState,
    lua_result,
    lua_table,
    option_duration,
)
from luaflow.lua._errors import (
    ALREADY_EXISTS,
    CANCELED,
    INTERNAL,
    INVALID,
    NOT_FOUND,
    UNAVAILABLE,
)
from luaflow.lua._modules import lua_source
from luaflow.lua._runtime import ModuleLoader
from luaflow.lua._values import decode_str
from luaflow.registry import Entry, Registry
from luaflow.workflow import (
    DELIVER_ACTIVITY,
    HostEnv,
    Mailbox,
    Message,
    host_pid,
    node_of,
    node_queue,
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
    if not isinstance(value, Mapping):
        raise LuaflowError("option temporal.workflow.retry_policy: expected a table", INVALID)
    policy = RetryPolicy()
    if "initial_interval" in value:
        policy.initial_interval = option_duration(value["initial_interval"], "initial_interval")
    if "maximum_interval" in value:
        policy.maximum_interval = option_duration(value["maximum_interval"], "maximum_interval")
    if "backoff_coefficient" in value:
        policy.backoff_coefficient = float(value["backoff_coefficient"])
    if "maximum_attempts" in value:
        policy.maximum_attempts = int(value["maximum_attempts"])
    return policy


@dataclass(eq=False)
class _Process:
    """A running host process: where its messages go, and (spawned ones) how it ended."""

    mailbox: Mailbox
    done: concurrent.futures.Future[Any] = field(default_factory=concurrent.futures.Future)


_RUNTIMES = itertools.count(1)
#: Host calls (HTTP handlers, `luaflow call`) running at once; more wait for a thread.
HOST_THREADS = 16

#: How many delivered workflow messages a node remembers to drop activity retries (B5).
_DELIVERED_MEMORY = 100_000


class HostRuntime:
    """Host Lua's way to Temporal and to other host processes: the app's registry and clients,
    on the app's event loop, and this node's running processes by PID."""

    def __init__(
        self,
        registry: Registry,
        loop: asyncio.AbstractEventLoop,
        client: Callable[[str], Awaitable[tuple[ClientSettings, Client]]],
        limits: LuaLimits,
    ) -> None:
        self.registry = registry
        self.loop = loop
        self._client = client
        self._counter = itertools.count(1)
        number = next(_RUNTIMES)  # apps sharing one OS process are separate nodes
        suffix = f".{number}" if number > 1 else ""
        self.node = f"{socket.gethostname()}.{os.getpid()}{suffix}"
        self.programs = Programs(registry, limits, self.install)
        #: Running host processes and calls by PID (spawned ones from before their code runs).
        self._processes: dict[str, _Process] = {}
        self._delivered: OrderedDict[tuple[str, str, str], None] = OrderedDict()
        self._threads = concurrent.futures.ThreadPoolExecutor(
            HOST_THREADS, thread_name_prefix="luaflow-host"
        )

    async def run(
        self, entry: Entry, args: list[Any], modules: Mapping[str, ModuleLoader] | None = None
    ) -> Any:
        """Run a host call (HTTP handler, `luaflow call`) on the host threads: they block on
        Temporal, so they get a pool of their own rather than the loop's few default threads."""
        call = functools.partial(self.programs.call, entry, args, None, modules)
        return await self.loop.run_in_executor(self._threads, call)

    def new_pid(self) -> str:
        return host_pid(self.node, next(self._counter))

    def _wait(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run a Temporal call on the app loop and wait (host Lua runs on other threads)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    # -- host processes --------------------------------------------------------------------------

    def spawn_process(
        self,
        entry: Entry,
        args: list[Any],
        context: dict[str, Any] | None = None,
        messages: Sequence[Message] = (),
    ) -> tuple[str, concurrent.futures.Future[Any]]:
        """Start a `process.lua` (or function) entry on its own thread; its PID is addressable
        at once and its startup messages are already in its mailbox."""
        env = HostEnv(context_values=dict(context or {}), pid_value=self.new_pid())
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
        return env.pid_value, process.done

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
        self._threads.shutdown(wait=False)

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

    def node_worker(self, client: Client, tq_prefix: str) -> Worker:
        """The worker of this node's queue: workflows reach its host processes through it."""
        return Worker(
            client, task_queue=tq_prefix + node_queue(self.node), activities=[self.deliver]
        )

    # -- the process global ----------------------------------------------------------------------

    def install(self, state: LuaState, env: HostEnv) -> None:
        """The host `process` functions of a host Lua state, over the workflow ones (inbox,
        listen, events come from its scheduler)."""
        env.pid_value = pid = env.pid_value or self.new_pid()
        self._processes.setdefault(pid, _Process(env.mailbox))
        base_context = dict(env.context_values)

        def start(wait: bool, target: Any, host: Any, options: Any, ctx: Any, name: Any,
                  messages: Any, *args: Any) -> tuple[Any, Any]:  # fmt: skip
            def run() -> Any:
                values = [state.from_lua(a, f"argument {i}") for i, a in enumerate(args, 1)]
                opts = state.from_lua(options, "options") or {}
                extra = state.from_lua(ctx, "context") or {}
                queued = state.from_lua(messages, "messages") or []
                context = {**base_context, **(extra if isinstance(extra, dict) else {})}
                host_entry = self.registry.find(_text(host or b""))
                if host_entry is not None and host_entry.kind == "process.host":
                    return self._start_process(bool(wait), _text(target or b""), values,
                                               context, queued, pid)  # fmt: skip
                return self._wait(
                    self._start(
                        bool(wait), _text(target or b""), _text(host or b""),
                        opts if isinstance(opts, dict) else {}, context,
                        _text(name) if name is not None else None, queued, values, pid,
                    )
                )  # fmt: skip

            return lua_result(state, run)

        def send(dest: Any, topic: Any, *args: Any) -> tuple[Any, Any]:
            values = [state.from_lua(a, f"argument {i}") for i, a in enumerate(args, 1)]
            return lua_result(state, lambda: self._send(_text(dest), _text(topic), values, pid))

        def terminate(dest: Any) -> tuple[Any, Any]:
            return lua_result(state, lambda: self._stop(_text(dest), None, pid))

        def cancel(dest: Any, reason: Any = None) -> tuple[Any, Any]:
            why = _text(reason) if reason is not None else "canceled"
            return lua_result(state, lambda: self._stop(_text(dest), why, pid))

        watch = _Watches(self, env.mailbox)

        def watch_pid(dest: Any, how: Any) -> tuple[Any, Any]:
            return lua_result(state, lambda: watch.start(_text(dest), _text(how)))

        def unwatch_pid(dest: Any, how: Any) -> tuple[Any, Any]:
            return lua_result(state, lambda: watch.stop(_text(dest), _text(how)))

        def set_trap(value: Any) -> None:
            watch.trap_links = bool(value)

        def closed() -> None:
            watch.close()
            self._processes.pop(pid, None)

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
            },
        )
        try:
            state.call(state.load(_PROCESS_LUA.decode(), "luaflow/process.lua"), bridge)
        finally:
            state.on_close(closed)

    def _start_process(
        self,
        wait: bool,
        target: str,
        args: list[Any],
        context: dict[str, Any],
        messages: list[Any],
        sender: str,
    ) -> Any:
        """`process.spawn(entry, <process.host>, ...)`: a host process on this node."""
        entry = self.registry.find(target)
        if entry is None or entry.kind not in ("process.lua", "function.lua"):
            raise LuaflowError(f"{target!r} is not a process.lua entry", NOT_FOUND, False)
        startup = [Message(str(m["topic"]), list(m["args"] or []), sender) for m in messages]
        pid, done = self.spawn_process(entry, args, context, startup)
        return done.result() if wait else pid

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
        worker = self.registry.find(host)
        if worker is None or worker.kind != "temporal.worker":
            raise LuaflowError(f"{host!r} is not a temporal.worker entry", NOT_FOUND, False)
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
        explicit = _option(options, "id") or name
        workflow_id = str(explicit or uuid.uuid4())
        conflict = _enum(options, "id_conflict_policy", _CONFLICT) or (
            WorkflowIDConflictPolicy.USE_EXISTING if explicit else WorkflowIDConflictPolicy.FAIL
        )
        if _option(options, "execution_error_when_already_started") is True:
            conflict = WorkflowIDConflictPolicy.FAIL
        search = _option(options, "search_attributes") or {}
        kwargs: dict[str, Any] = {
            "id": workflow_id,
            "task_queue": _option(options, "task_queue") or queue,
            "id_conflict_policy": conflict,
            "execution_timeout": _duration(options, "execution_timeout"),
            "run_timeout": _duration(options, "run_timeout"),
            "task_timeout": _duration(options, "task_timeout"),
            "retry_policy": _retry(options),
            "cron_schedule": _option(options, "cron_schedule") or "",
            "memo": _option(options, "memo"),
            "start_delay": _duration(options, "start_delay"),
            "request_eager_start": bool(_option(options, "enable_eager_start")),
        }
        reuse = _enum(options, "id_reuse_policy", _REUSE)
        if reuse is not None:
            kwargs["id_reuse_policy"] = reuse
        if search:
            kwargs["search_attributes"] = [
                search_attribute_update(k, v, None) for k, v in dict(search).items()
            ]
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
                await handle.cancel()
        except RPCError as exc:
            raise _rpc_error(exc, dest) from None
        return True


class _Watches:
    """`process.monitor`/`link` of one host process (B6): a watcher per PID on the app loop
    puts `pid.exit` / `pid.link.down` events into the process's mailbox; an untrapped link
    failure kills the process."""

    def __init__(self, runtime: HostRuntime, mailbox: Mailbox) -> None:
        self.runtime = runtime
        self.mailbox = mailbox
        self.watchers: dict[tuple[str, str], concurrent.futures.Future[None]] = {}
        self.trap_links = False

    def start(self, dest: str, how: str) -> bool:
        if (dest, how) not in self.watchers:
            # A host process is looked up now: by the time the loop runs the watcher it may
            # already have exited.
            process = self.runtime._processes.get(dest) if node_of(dest) is not None else None
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
        if not linked:
            self.mailbox.event({"kind": "pid.exit", "from": dest, "result": result})
        elif result["error"] is not None:  # a link only reports abnormal exits
            if self.trap_links:
                self.mailbox.event({"kind": "pid.link.down", "from": dest, "result": result})
            else:
                error = result["error"]
                self.mailbox.kill(
                    LuaflowError(f"linked process {dest} failed: {error.text()}", error.kind)
                )


def _rpc_error(exc: RPCError, dest: str = "") -> LuaflowError:
    if exc.status == RPCStatusCode.NOT_FOUND:
        return LuaflowError(f"workflow {dest} not found: {exc.message}", NOT_FOUND, False)
    if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        return LuaflowError(f"Temporal unavailable: {exc.message}", UNAVAILABLE, True)
    return LuaflowError(f"Temporal: {exc.message}", INTERNAL, False)
