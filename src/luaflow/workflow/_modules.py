"""The modules of Lua processes: what every process has (channels, timers, payload, inbox, listen,
events), and the workflow variants, where every call that touches the outside world is a command."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from luaflow.lua import (
    CANCELED,
    INTERNAL,
    INVALID,
    IO_MODULES,
    NOT_FOUND,
    PAYLOAD_FORMATS,
    TIMEOUT,
    Clock,
    LogSink,
    LuaflowError,
    LuaLimits,
    LuaState,
    ModuleLoader,
    base64_module,
    crypto_module,
    ctx_module,
    decode_str,
    env_module,
    hash_module,
    json_module,
    logger_module,
    lua_result,
    lua_source,
    lua_table,
    printed,
    time_module,
    to_logging,
    transcode_payload,
    uuid_module,
)
from luaflow.workflow._channels import UNBOUNDED, Channel
from luaflow.workflow._commands import (
    CANCEL_TOPIC,
    DELIVER_ACTIVITY,
    UPDATE_ADDRESS,
    ActivityOptions,
    CancelActivity,
    CancelExternal,
    Command,
    ContinueAsNew,
    DeliverHere,
    Event,
    Message,
    ReplyUpdate,
    RetryPolicy,
    ScheduleActivity,
    SignalExternal,
    StartChild,
    StartTimer,
    node_of,
    node_queue,
    parse_activity_options,
)
from luaflow.workflow._scheduler import Scheduler, WorkflowEnv, WorkflowTaskError

_FUNCS_LUA = lua_source("funcs.lua", "luaflow.workflow")
_CHANNEL_LUA = lua_source("channel.lua", "luaflow.workflow")
_PROCESS_LUA = lua_source("process.lua", "luaflow.workflow")
_WORKFLOW_PROCESS_LUA = lua_source("workflow_process.lua", "luaflow.workflow")


def _text(value: Any) -> str:
    return str(decode_str(value)) if isinstance(value, bytes) else str(value)


def check_target(target: Any) -> str:
    """A function id must be `namespace:name` (SPEC 2.1); the messages are Wippy's."""
    text = _text(target) if target is not None else ""
    ns, sep, name = text.partition(":")
    if not text:
        raise LuaflowError("function ID required", INVALID, False)
    if not sep or not ns:
        raise LuaflowError("namespace required in function ID", INVALID, False)
    if not name:
        raise LuaflowError("name required in function ID", INVALID, False)
    return text


#: What `workflow.version` returns for runs recorded before the change existed (R10).
DEFAULT_VERSION = -1


def resolve_version(
    change_id: str, min_supported: int, max_supported: int, patched: Callable[[str], bool]
) -> int:
    """R10 over Temporal patch markers, one marker per (change, version): new runs record and get
    `max_supported`; a replayed run gets the version it recorded; a run recorded before the
    change gets -1. Unsupported versions fail the workflow task."""
    if min_supported > max_supported:
        raise LuaflowError(
            f"workflow.version({change_id}): min {min_supported} > max {max_supported}",
            INVALID,
            False,
        )
    for version in range(max_supported, min_supported - 1, -1):
        if version != DEFAULT_VERSION and patched(f"{change_id}@v{version}"):
            return version
    if min_supported > DEFAULT_VERSION:
        raise WorkflowTaskError(
            f'workflow.version("{change_id}"): this run recorded no version (-1), below the '
            f"minimum supported {min_supported}; deploy code that still supports it"
        )
    return DEFAULT_VERSION


def workflow_id_of(dest: str) -> str:
    """The workflow id inside a PID `{client@worker|id}` (R1), or a bare id as given."""
    if dest.startswith("{") and dest.endswith("}") and "|" in dest:
        return dest[1:-1].split("|", 1)[1]
    return dest


def _ns(duration_ns: int) -> timedelta:
    return timedelta(microseconds=duration_ns / 1000)


@dataclass(eq=False)
class _Future:
    """A call started by `funcs.async`: its outcome, and a channel that gets it (a payload or
    the error value)."""

    command: Command
    channel: Channel
    done: bool = False
    payload: Any = None
    error: LuaflowError | None = None
    canceled: bool = False


#: A ticker's channel holds this many ticks; a tick that finds it full is dropped (Wippy).
_TICKER_BUFFER = 16


@dataclass(eq=False)
class _Timer:
    """`time.timer` / `time.ticker`: a durable timer feeding a channel; stop only stops delivery."""

    channel: Channel
    interval: int
    repeat: bool
    generation: int = 0
    active: bool = True


class ProcessEnv(Protocol):
    """What every Lua process reads from where it runs (in a workflow: replay-safe values)."""

    def now_ns(self) -> int: ...

    def random_bytes(self, n: int) -> bytes: ...

    def pid(self) -> str: ...

    def print(self, text: str) -> None: ...

    def context(self) -> dict[str, Any]: ...


#: Builds the command of a `funcs` call: (site, target, options, context values, arguments).
CallBuilder = Callable[[str, str, dict[str, Any], dict[str, Any], list[Any]], Command]


class ProcessModules:
    """The globals and modules every Lua process has, workflow or host code, bound to its
    scheduler: channels, `coroutine.spawn`, timers, `payload`, and the process basics (PID,
    entry id, inbox, listen, events) that each kind of process builds its `process` on."""

    #: `time.localtz` is UTC (named "Local") rather than the machine's zone: workflows, so that
    #: formatting cannot differ between the workers that run and replay them.
    fixed_local = False

    def __init__(
        self, state: LuaState, scheduler: Scheduler, env: ProcessEnv, entry_id: str = ""
    ) -> None:
        self.state = state
        self.scheduler = scheduler
        self.env = env
        self.entry_id = entry_id
        #: The process basics as a Lua table (`process_core` of workflow/process.lua).
        self.process_core: Any = None
        self._wrap: Any = None
        self._make_time: Any = None
        self._make_message: Any = None
        self._make_data: Any = None
        self._make_payload: Any = None
        self._inbox: Channel | None = None
        self._events: Channel | None = None
        self._listeners: dict[str, tuple[Channel, bool]] = {}
        self._pending: list[Message] = []
        self._futures: dict[int, _Future] = {}
        self._timers: dict[int, _Timer] = {}
        #: Builders of the `process` global over the core (each kind of process adds its own),
        #: and whether the core was built (or the state closed: nothing is built after that).
        self._process_globals: list[Callable[[], None]] = []
        self._core_built = False
        self._settle_run: Any = None
        scheduler.on_close(self.close)

    def close(self) -> None:
        """Drop every Lua object this process's modules hold."""
        self._core_built = True
        self._process_globals.clear()
        self._settle_run = None
        self._wrap = self._make_time = self._make_message = None
        self._make_data = self._make_payload = self.process_core = None
        self._inbox = self._events = None
        self._listeners.clear()
        self._pending.clear()
        self._futures.clear()
        self._timers.clear()

    def install_globals(self) -> None:
        """`channel`, `coroutine.spawn`; `math.random` seeded per process; `payload` and
        `process` once the run first uses them (see `core`)."""
        state, sched = self.state, self.scheduler
        bridge = lua_table(
            state,
            {
                "select": sched.select,
                "new": lambda size: sched.channels.new(int(size)).id,
                "close": lambda handle: sched.channels.close(sched.channels.get(handle)),
                "spawn": sched.spawn,
            },
        )
        bridge[b"await"] = state.await_
        _, self._wrap, self._settle_run = state.run_own(_CHANNEL_LUA, "luaflow/channel.lua", bridge)
        seed = int.from_bytes(self.env.random_bytes(8), "big") & 0x7FFFFFFFFFFFFFFF
        state.run_own(b"math.randomseed(...)", "luaflow/seed.lua", seed)
        state.lazy_globals(("payload", "process"), self.core)
        sched.set_mailbox(self._route)

    def core(self) -> Any:
        """The process basics (workflow/process.lua, with the `payload` global) and the
        `process` global, built the first time the run reads or requires either, a message
        arrives for it or a call's payload is made: most runs never use them."""
        if not self._core_built:
            self._core_built = True
            self._install_core()
            for build in self._process_globals:
                build()
        return self.process_core

    def extend_process(self, build: Callable[[], None]) -> None:
        """Add what builds this kind of process's `process` global over `process_core`."""
        self._process_globals.append(build)
        if self.process_core is not None:
            build()

    def loaders(self) -> dict[str, ModuleLoader]:
        return {
            "time": lambda _: self.time(),
            "json": json_module,
            "ctx": lambda s: ctx_module(s, self.env.context()),
            "uuid": lambda s: uuid_module(s, self.env, self.env.now_ns),
            "crypto": lambda s: crypto_module(s, self.env, self.env.now_ns),
            "hash": hash_module,
            "base64": base64_module,
            "logger": lambda s: logger_module(s, self.log_sink(), self.entry_id, self.env.pid),
            "env": env_module,  # host code only: workflows may not list it (IO_MODULES)
        }

    def log_sink(self) -> LogSink:
        """Where `logger` lines go: Python logging in host code."""
        return to_logging

    def _fail(self, err: LuaflowError) -> tuple[None, Any]:
        return None, self.state.error_to_lua(err)

    # -- funcs -----------------------------------------------------------------------------------

    def _table(self, value: Any, what: str) -> dict[str, Any]:
        data = self.state.from_lua(value, what) if value is not None else {}
        if data == []:  # an empty Lua table
            return {}
        if not isinstance(data, dict):
            raise LuaflowError(f"{what} must be a table of key = value", INVALID, False)
        return data

    def _settle(self, fut: _Future, event: Event) -> None:
        """A call ended: its payload or its error value goes on the future's channel."""
        fut.done = True
        if event.error is not None:
            fut.error = event.error
            fut.canceled = fut.canceled or event.error.kind == CANCELED
            value = self.state.error_to_lua(event.error)
        else:
            self.core()
            fut.payload = value = self._make_payload(self.state.to_lua(event.value))
        self.scheduler.channels.deliver(fut.channel, value)

    def funcs_table(
        self,
        build: CallBuilder,
        cancel_of: Callable[[Command], Command],
        check_options: Callable[[dict[str, Any]], object],
    ) -> Any:
        """The `funcs` module over `build`, which makes the command of a call (an activity in a
        workflow, a function call in host code); futures follow Wippy's (CORE-MODULES 3)."""
        state, scheduler = self.state, self.scheduler

        def command(site: bytes, target: Any, options: Any, context: Any, args: Any) -> Command:
            values = [state.from_lua(a, f"argument {i}") for i, a in enumerate(args, 1)]
            return build(
                _text(site), check_target(target), self._table(options, "options"),
                self._table(context, "context"), values,
            )  # fmt: skip

        def schedule(site: bytes, target: Any, options: Any, context: Any, *args: Any) -> Any:
            try:
                return scheduler.issue(command(site, target, options, context, args))
            except LuaflowError as err:
                return self._fail(err)

        def start_async(target: Any, options: Any, context: Any, *args: Any) -> Any:
            try:
                call = command(b"", target, options, context, args)
            except LuaflowError as err:
                return self._fail(err)
            fut = _Future(call, scheduler.channels.new(1, internal=True))
            scheduler.issue_background(call, lambda event: self._settle(fut, event))
            self._futures[call.id] = fut
            return call.id

        def cancel(handle: int) -> bool:
            fut = self._futures[handle]
            if not fut.done and not fut.canceled:
                scheduler.issue_background(cancel_of(fut.command), lambda event: None)
            fut.canceled = True
            return True

        def result(handle: int) -> tuple[Any, Any]:
            fut = self._futures[handle]
            if fut.canceled:
                return None, state.error_to_lua(LuaflowError("canceled", CANCELED, False))
            if fut.error is not None:
                return None, state.error_to_lua(fut.error)
            return fut.payload, None

        def error(handle: int) -> tuple[Any, bool]:
            fut = self._futures[handle]
            if fut.error is None:
                return None, False
            wrapped = LuaflowError("async call failed", INTERNAL, False, cause=fut.error)
            return state.error_to_lua(wrapped), True

        def options_ok(options: Any) -> Any:
            try:
                check_options(self._table(options, "options"))
            except LuaflowError as err:
                return self._fail(err)
            return True

        bridge = lua_table(
            state,
            {
                "check_options": options_ok,
                "async": start_async,
                "future_channel": lambda handle: self._futures[handle].channel.id,
                "future_done": lambda handle: self._futures[handle].done,
                "future_canceled": lambda handle: self._futures[handle].canceled,
                "future_result": result,
                "future_error": error,
                "future_cancel": cancel,
            },
        )
        bridge[b"wrap"] = self._wrap
        bridge[b"schedule"] = state.awaiting(schedule)
        return state.run_own(_FUNCS_LUA, "luaflow/funcs.lua", bridge)[0]

    # -- time ------------------------------------------------------------------------------------

    def _now(self) -> Any:
        return self._make_time(self.env.now_ns())

    def _after(self, ns: int) -> int:
        ch = self.scheduler.channels.new(1, internal=True)
        self.scheduler.issue_background(
            StartTimer(site="", duration=_ns(int(ns))),
            lambda event: self.scheduler.channels.deliver(ch, self._now()),
        )
        return ch.id

    def _arm(self, timer: _Timer) -> None:
        generation = timer.generation

        def fired(event: Event) -> None:
            if not timer.active or timer.generation != generation:
                return
            if not timer.repeat or len(timer.channel.buffer) < _TICKER_BUFFER:
                self.scheduler.channels.deliver(timer.channel, self._now())  # else: tick missed
            if timer.repeat:
                self._arm(timer)
            else:
                timer.active = False

        self.scheduler.issue_background(StartTimer(site="", duration=_ns(timer.interval)), fired)

    def _new_timer(self, ns: int, repeat: bool) -> int:
        timer = _Timer(
            self.scheduler.channels.new(_TICKER_BUFFER if repeat else 1, internal=True),
            int(ns),
            repeat,
        )
        self._arm(timer)
        self._timers[timer.channel.id] = timer  # a timer is addressed by its channel's id
        return timer.channel.id

    def _stop(self, handle: int) -> bool:
        timer = self._timers[handle]
        was_active, timer.active = timer.active, False
        timer.generation += 1
        return was_active

    def _reset(self, handle: int, ns: int) -> bool:
        timer = self._timers[handle]
        was_active = self._stop(handle)
        timer.active, timer.interval = True, int(ns)
        self._arm(timer)
        return was_active

    def time(self) -> Any:
        def timer(site: bytes, ns: int) -> Any:
            return self.scheduler.issue(StartTimer(site=_text(site), duration=_ns(int(ns))))

        def set_factory(fn: Any) -> None:
            self._make_time = self.state.keep(fn)

        timers = {
            "after": self._after,
            "timer": self._new_timer,
            "timer_channel": lambda handle: handle,
            "timer_stop": self._stop,
            "timer_reset": self._reset,
            "wrap": self._wrap,
            "set_time_factory": set_factory,
        }
        clock = Clock(
            now_ns=self.env.now_ns,
            sleep=self.state.awaiting(timer),
            timers=timers,
            fixed_local=self.fixed_local,
        )
        return time_module(self.state, clock)

    def deliver_event(self, event: Any) -> None:
        """Put a process event (a Lua table) on `process.events()`."""
        channels = self.scheduler.channels
        self._events = self._events or channels.new(UNBOUNDED, internal=True)
        channels.deliver(self._events, event)

    # -- the process basics ----------------------------------------------------------------------

    def _install_core(self) -> None:
        """`payload`, message objects, and the process basics (workflow/process.lua)."""
        state, channels = self.state, self.scheduler.channels

        def set_factories(make_message: Any, make_data: Any, make_payload: Any) -> None:
            self._make_message = state.keep(make_message)
            self._make_data = state.keep(make_data)
            self._make_payload = state.keep(make_payload)

        def inbox() -> int:
            if self._inbox is None:
                self._inbox = channels.new(UNBOUNDED, internal=True)
                self._route_pending()
            return self._inbox.id

        def events() -> int:
            if self._events is None:
                self._events = channels.new(UNBOUNDED, internal=True)
            return self._events.id

        def listen(topic: bytes, as_message: bool) -> int:
            """A second listen of a topic gets the same channel; `{message = true}` then
            switches it to message objects (Wippy)."""
            name = _text(topic)
            current = self._listeners.get(name)
            if current is not None:
                self._listeners[name] = (current[0], current[1] or bool(as_message))
                return current[0].id
            ch = channels.new(UNBOUNDED, internal=True)
            self._listeners[name] = (ch, bool(as_message))
            self._route_pending()
            return ch.id

        def unlisten(handle: Any) -> None:
            for name, (listening, _) in list(self._listeners.items()):
                if listening.id == handle:
                    del self._listeners[name]

        bridge = lua_table(
            state,
            {
                "set_factories": set_factories,
                "pid": lambda: self.env.pid().encode(),
                "entry_id": lambda: self.entry_id.encode(),
                "inbox": inbox,
                "events": events,
                "listen": listen,
                "unlisten": unlisten,
                "is_text": lambda v: isinstance(decode_str(v), str),
                "transcode": lambda value, target: transcode_payload(state, value, target),
            },
        )
        bridge[b"formats"] = state.to_lua(PAYLOAD_FORMATS)
        bridge[b"wrap"] = self._wrap
        self.process_core = state.run_own(_PROCESS_LUA, "luaflow/process.lua", bridge)[0]

    def _route_pending(self) -> None:
        pending, self._pending = self._pending, []
        for msg in pending:
            self._route(msg)

    def _route(self, msg: Message) -> None:
        """Deliver a message: its topic's listener, else the inbox, else keep it (B5)."""
        channels, state = self.scheduler.channels, self.state
        self.core()
        if msg.topic == CANCEL_TOPIC:
            reason = str(msg.payloads[0]) if msg.payloads and msg.payloads[0] else ""
            cancel = {"kind": "pid.cancel", "from": "", "reason": reason or "cancel requested"}
            self.deliver_event(state.to_lua(cancel))
            return
        values = [state.to_lua(p) for p in msg.payloads]
        listener = self._listeners.get(msg.topic)
        if listener is not None:
            ch, as_message = listener
            if not as_message:
                channels.deliver(ch, self._make_data(len(values), *values))
                return
            target: Channel | None = ch
        else:
            target = self._inbox
        if target is None:
            self._pending.append(msg)
            return
        message = self._make_message(msg.topic.encode(), msg.sender.encode(), len(values), *values)
        channels.deliver(target, message)


class WorkflowModules(ProcessModules):
    """The modules of one workflow run, bound to its scheduler and engine: every call that
    touches the outside world is a durable command."""

    env: WorkflowEnv
    fixed_local = True

    def __init__(
        self, state: LuaState, scheduler: Scheduler, env: WorkflowEnv, entry_id: str = ""
    ) -> None:
        super().__init__(state, scheduler, env, entry_id)
        #: Messages to host PIDs not yet delivered, in order, by PID.
        self._deliveries: dict[str, deque[ScheduleActivity]] = {}
        #: Closed once every message is delivered, when the body waits for that at its end.
        self._drained: Channel | None = None

    def close(self) -> None:
        super().close()
        self._deliveries.clear()
        self._drained = None

    def settled(self, main: Any) -> Any:
        """The run's body `main`, which at its end waits until every message it sent to a host
        process is delivered (the run must not end before they are)."""

        def drained() -> int | None:
            if not self._deliveries:
                return None
            self._drained = self._drained or self.scheduler.channels.new(1, internal=True)
            return self._drained.id

        return self.state.call(self._settle_run, main, drained)[0]

    def install_globals(self) -> None:
        """The globals of every process, and the workflow `process` global (on first use)."""
        super().install_globals()
        self.extend_process(self._install_process)

    def loaders(self) -> dict[str, ModuleLoader]:
        shared = {k: v for k, v in super().loaders().items() if k not in IO_MODULES}
        return {
            **shared,
            "funcs": lambda _: self.funcs(),
            "workflow": lambda _: self.workflow(),
        }

    def log_sink(self) -> LogSink:
        """Workflow log lines go through the run's print: silent while replaying."""
        return printed(self.env.print)

    # -- funcs -----------------------------------------------------------------------------------

    def _activity(
        self, site: str, target: str, options: dict[str, Any], extra: dict[str, Any],
        args: list[Any],
    ) -> ScheduleActivity:  # fmt: skip
        return ScheduleActivity(
            site=site,
            activity_type=target,
            args=args,
            options=parse_activity_options(options),
            context={**self.env.context(), **extra} if extra else None,
        )

    def funcs(self) -> Any:
        return self.funcs_table(
            self._activity,
            lambda call: CancelActivity(site="", activity_command_id=call.id),
            parse_activity_options,
        )

    # -- workflow --------------------------------------------------------------------------------

    def _child(
        self, site: bytes, target: Any, host: Any, args: tuple[Any, ...], wait: bool
    ) -> tuple[StartChild, str]:
        if not isinstance(target, bytes) or not target:
            raise LuaflowError("workflow id (entry) must be a non-empty string", INVALID, False)
        host_name = _text(host) if isinstance(host, bytes) and host else None
        wtype, queue, prefix = self.env.resolve_child(_text(target), host_name)
        values = [self.state.from_lua(a, f"argument {i}") for i, a in enumerate(args, 1)]
        return StartChild(_text(site), wtype, queue, values, wait), prefix

    def workflow(self) -> Any:
        env, state = self.env, self.state

        def exec_child(site: bytes, target: Any, *args: Any) -> Any:
            try:
                command, _ = self._child(site, target, None, args, wait=True)
            except LuaflowError as err:
                return self._fail(err)
            return self.scheduler.issue(command)

        table = lua_table(
            state,
            {
                "info": lambda: state.to_lua(env.info()),
                "history_length": env.history_length,
                "history_size": env.history_size,
            },
        )
        versions: dict[str, int] = {}

        def version(change_id: Any, min_supported: Any, max_supported: Any) -> int:
            if not isinstance(change_id, bytes) or not change_id:
                raise LuaflowError("workflow.version: change_id must be a string", INVALID)
            if not all(isinstance(v, int) for v in (min_supported, max_supported)):
                raise LuaflowError("workflow.version: versions must be integers", INVALID)
            name = _text(change_id)
            if name not in versions:
                versions[name] = resolve_version(
                    name, int(min_supported), int(max_supported), env.patched
                )
            return versions[name]

        def attrs(spec: Any) -> tuple[Any, Any]:
            def run() -> bool:
                data = state.from_lua(spec, "attrs") if spec is not None else None
                if not isinstance(data, dict) or not (data.get("search") or data.get("memo")):
                    raise LuaflowError(
                        "workflow.attrs needs a table with search and/or memo", INVALID, False
                    )
                search, memo = data.get("search") or {}, data.get("memo") or {}
                if not isinstance(search, dict) or not isinstance(memo, dict):
                    raise LuaflowError("search and memo must be tables of name = value", INVALID)
                env.upsert_attrs(search, memo)
                return True

            return lua_result(state, run)

        table[b"version"] = version
        table[b"attrs"] = attrs
        exec_fn = state.awaiting(exec_child)
        table[b"exec"] = exec_fn
        table[b"call"] = exec_fn  # seed-era name (R21); never read Lua tables from Python here
        return table

    def _spawn(self, site: bytes, target: Any, host: Any, *args: Any) -> Any:
        """`process.spawn*` in a workflow: a child workflow whose exit is a `pid.exit` event."""
        try:
            command, prefix = self._child(site, target, host, args, wait=False)
        except LuaflowError as err:
            return self._fail(err)
        child: dict[str, str] = {}

        def exited(event: Event) -> None:
            error = event.error
            result = {"value": event.value if error is None else None, "error": error}
            exit_event = {"kind": "pid.exit", "from": child.get("pid", ""), "result": result}
            self.deliver_event(self.state.to_lua(exit_event))

        def started(event: Event) -> tuple[Any, Any]:
            if event.error is not None:
                return None, self.state.error_to_lua(event.error)
            child["pid"] = f"{prefix}{event.value}}}"
            return child["pid"].encode(), None

        command.exit_event_id = self.scheduler.expect(exited)
        return self.scheduler.issue(command, started)

    def _cancel_external(self, site: bytes, dest: Any, reason: Any = None, *_: Any) -> Any:
        if not isinstance(dest, bytes) or not dest:
            return self._fail(LuaflowError("destination must be a PID", INVALID, False))
        command = CancelExternal(
            site=_text(site),
            workflow_id=workflow_id_of(_text(dest)),
            reason=_text(reason) if isinstance(reason, bytes) else "",
        )
        return self.scheduler.issue(command, lambda event: self._ok(event))

    def _exec(self, site: bytes, target: Any, host: Any, args: tuple[Any, ...]) -> Any:
        try:
            command, _ = self._child(site, target, host, args, wait=True)
        except LuaflowError as err:
            return self._fail(err)
        return self.scheduler.issue(command)

    def _upgrade(self, site: bytes, target: Any, *args: Any) -> Any:
        """Continue-as-new: this task never resumes; the run ends and a new one starts."""
        try:
            wtype = None
            if isinstance(target, bytes) and target:
                wtype, _, _ = self.env.resolve_child(_text(target), None)
            values = [self.state.from_lua(a, f"argument {i}") for i, a in enumerate(args, 1)]
        except LuaflowError as err:
            return self._fail(err)
        return self.scheduler.token(
            ContinueAsNew(site=_text(site), workflow_type=wtype, args=values)
        )

    def _ok(self, event: Event) -> tuple[Any, Any]:
        if event.error is not None:
            return None, self.state.error_to_lua(event.error)
        return True, None

    # -- process ---------------------------------------------------------------------------------

    def _send_to_host(self, dest: str, delivery: ScheduleActivity) -> None:
        """A message to a host process: the sender goes on at once; messages to one PID are
        delivered one after another, in order, each exactly once."""
        queued = self._deliveries.setdefault(dest, deque())
        queued.append(delivery)
        if len(queued) == 1:
            self._deliver_next(dest)

    def _delivered(self, event: Event) -> tuple[Any, Any]:
        """How runs recorded before HOST_SEND_ASYNC answered the sender once delivered."""
        error = event.error
        if error is not None and error.kind == TIMEOUT:  # no node polls the queue: it is gone
            error = LuaflowError(f"process not reachable: {error.message}", NOT_FOUND, False)
        if error is not None:
            return None, self.state.error_to_lua(error)
        return True, None

    def _deliver_next(self, dest: str) -> None:
        queued = self._deliveries[dest]
        delivery = queued[0]

        def delivered(event: Event) -> None:
            queued.popleft()
            if queued:
                self._deliver_next(dest)
                return
            del self._deliveries[dest]
            if not self._deliveries and self._drained is not None:
                self.scheduler.channels.close(self._drained)

        def tried_here(event: Event) -> None:
            if event.error is None and event.value is False:  # the PID is on another node
                self.scheduler.issue_background(delivery, delivered)
            else:
                delivered(event)

        if self.env.patched(HOST_SEND_HERE):
            here = DeliverHere(delivery.site, list(delivery.args))
            self.scheduler.issue_background(here, tried_here)
        else:
            self.scheduler.issue_background(delivery, delivered)

    def _install_process(self) -> None:
        """The `process` global of workflows (workflow/workflow_process.lua)."""
        state = self.state

        def send(site: bytes, dest: Any, topic: bytes, *args: Any) -> Any:
            """Awaits the signal to a workflow; a message to a host PID returns nil, nil at
            once (see _send_to_host)."""
            try:
                if not isinstance(dest, bytes) or not dest:
                    raise LuaflowError("process.send: destination must be a PID", INVALID, False)
                values = [state.from_lua(a, f"argument {i}") for i, a in enumerate(args, 1)]
                target = _text(dest)
                command: Command
                node = node_of(target)
                if target.startswith(UPDATE_ADDRESS):
                    command = ReplyUpdate(_text(site), target, _text(topic), values)
                elif node is not None:
                    delivery = _delivery(
                        _text(site), node, target, _text(topic), values, self.env.pid()
                    )
                    if not self.env.patched(HOST_SEND_ASYNC):
                        return self.scheduler.issue(delivery, self._delivered)
                    self._send_to_host(target, delivery)
                    return None, None
                else:
                    command = SignalExternal(
                        _text(site), workflow_id_of(target), _text(topic), values
                    )
            except LuaflowError as err:
                return self._fail(err)
            return self.scheduler.issue(command)

        bridge = state.runtime.table()
        bridge[b"send"] = state.awaiting(send)
        bridge[b"spawn"] = state.awaiting(self._spawn)
        bridge[b"exec"] = state.awaiting(
            lambda site, target, host, *args: self._exec(site, target, host, args)
        )
        bridge[b"cancel"] = state.awaiting(self._cancel_external)
        bridge[b"upgrade"] = state.awaiting(self._upgrade)
        state.run_own(
            _WORKFLOW_PROCESS_LUA, "luaflow/workflow_process.lua", self.process_core, bridge
        )


#: Marks runs whose messages to host PIDs do not wait for their delivery (as in Wippy). Runs
#: recorded before it replay the way they ran: the sender waited for the delivery activity.
HOST_SEND_ASYNC = "luaflow.host-send-async"

#: Marks runs whose messages to host PIDs go first to the worker running the task, as a local
#: activity (DeliverHere), and through the PID's node queue only when it is not there. Runs
#: recorded before it replay with the node-queue activity alone.
HOST_SEND_HERE = "luaflow.host-send-here"

#: How long a message to a host process waits for its node to pick it up before it counts as
#: undeliverable (the node is gone, and with it the process).
_DELIVERY_TIMEOUT = timedelta(seconds=10)


def _delivery(
    site: str, node: str, dest: str, topic: str, values: list[Any], sender: str
) -> ScheduleActivity:
    """`process.send` to a host PID: an activity on the node's queue. Its completion is in the
    history, so a replay does not deliver the message again (B5)."""
    return ScheduleActivity(
        site=site,
        activity_type=DELIVER_ACTIVITY,
        args=[dest, topic, values, sender],
        options=ActivityOptions(
            start_to_close_timeout=_DELIVERY_TIMEOUT,
            schedule_to_start_timeout=_DELIVERY_TIMEOUT,
            task_queue=node_queue(node),
            retry_policy=RetryPolicy(maximum_attempts=3),
        ),
    )


def new_workflow_run(
    env: WorkflowEnv, limits: LuaLimits | None = None, entry_id: str = ""
) -> WorkflowModules:
    """A fresh state for one workflow run: workflow time for os/time, quiet print on replay,
    deterministic math.random, and the workflow globals and modules bound to its scheduler."""
    state = LuaState(limits=limits, clock=lambda: env.now_ns() / 1e9, printer=env.print)
    modules = WorkflowModules(state, Scheduler(state), env, entry_id)
    modules.install_globals()
    return modules


def new_workflow_state(
    env: WorkflowEnv, limits: LuaLimits | None = None, entry_id: str = ""
) -> tuple[LuaState, Scheduler, dict[str, ModuleLoader]]:
    """`new_workflow_run` as (state, scheduler, module loaders)."""
    modules = new_workflow_run(env, limits, entry_id)
    return modules.state, modules.scheduler, modules.loaders()
