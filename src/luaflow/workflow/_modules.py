"""Workflow variants of the Lua modules: every call that touches the outside world is a command."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from luaflow.lua import (
    Clock,
    LuaflowError,
    LuaLimits,
    LuaState,
    ctx_module,
    json_module,
    lua_result,
    lua_table,
    time_module,
)
from luaflow.lua._crypto import crypto_module
from luaflow.lua._errors import INVALID, NOT_FOUND, TIMEOUT
from luaflow.lua._modules import lua_source
from luaflow.lua._runtime import ModuleLoader
from luaflow.lua._uuid import uuid_module
from luaflow.lua._values import decode_str
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


def _text(value: Any) -> str:
    return str(decode_str(value)) if isinstance(value, bytes) else str(value)


def check_target(target: Any) -> str:
    """An activity/function id must be `namespace:name` (SPEC 2.1)."""
    text = _text(target) if target is not None else ""
    ns, sep, name = text.partition(":")
    if not text or not sep or not ns or not name:
        raise LuaflowError(f'invalid target "{text}": expected "namespace:name"', INVALID, False)
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
    """An activity started by `funcs.async`: its outcome, and a channel that gets a payload."""

    command_id: int
    channel: Channel
    done: bool = False
    value: Any = None
    error: LuaflowError | None = None
    canceled: bool = False


@dataclass(eq=False)
class _Timer:
    """`time.timer` / `time.ticker`: a durable timer feeding a channel; stop only stops delivery."""

    channel: Channel
    interval: int
    repeat: bool
    generation: int = 0
    active: bool = True


class WorkflowModules:
    """Builds the globals and modules of one workflow run, bound to its scheduler and engine."""

    def __init__(self, state: LuaState, scheduler: Scheduler, env: WorkflowEnv) -> None:
        self.state = state
        self.scheduler = scheduler
        self.env = env
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

    def close(self) -> None:
        """Drop every Lua object this run's modules hold."""
        self._wrap = self._make_time = self._make_message = None
        self._make_data = self._make_payload = None
        self._inbox = self._events = None
        self._listeners.clear()
        self._pending.clear()
        self._futures.clear()
        self._timers.clear()

    def install_globals(self) -> None:
        """`channel`, `coroutine.spawn`, `process`, `payload`; `math.random` seeded per run."""
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
        _, self._wrap = state.call(state.load(_CHANNEL_LUA.decode(), "luaflow/channel.lua"), bridge)
        seed = int.from_bytes(self.env.random_bytes(8), "big") & 0x7FFFFFFFFFFFFFFF
        state.call(state.load("math.randomseed(...)", "luaflow/seed.lua"), seed)
        self._install_process()
        sched.set_mailbox(self._route)

    def loaders(self) -> dict[str, ModuleLoader]:
        return {
            "funcs": lambda _: self.funcs(),
            "time": lambda _: self.time(),
            "workflow": lambda _: self.workflow(),
            "json": json_module,
            "ctx": lambda s: ctx_module(s, self.env.context()),
            "uuid": lambda s: uuid_module(s, self.env, self.env.now_ns),
            "crypto": lambda s: crypto_module(s, self.env),
        }

    def _fail(self, err: LuaflowError) -> tuple[None, Any]:
        return None, self.state.error_to_lua(err)

    # -- funcs -----------------------------------------------------------------------------------

    def _options(self, options: Any) -> ActivityOptions:
        data = self.state.from_lua(options, "options") if options is not None else {}
        if data == []:  # an empty Lua table
            data = {}
        if not isinstance(data, dict):
            raise LuaflowError("options must be a table of key = value", INVALID, False)
        return parse_activity_options(data)

    def _activity(
        self, site: bytes, target: Any, options: Any, context: Any, args: tuple[Any, ...]
    ) -> ScheduleActivity:
        state = self.state
        extra = state.from_lua(context, "context") if context is not None else None
        if extra == []:  # an empty Lua table
            extra = None
        if extra is not None and not isinstance(extra, dict):
            raise LuaflowError("context must be a table of key = value", INVALID, False)
        return ScheduleActivity(
            site=_text(site),
            activity_type=check_target(target),
            args=[state.from_lua(a, f"argument {i}") for i, a in enumerate(args, 1)],
            options=self._options(options),
            context={**self.env.context(), **extra} if extra else None,
        )

    def _settle(self, fut: _Future, event: Event) -> None:
        fut.done = True
        if event.error is not None:
            fut.error = event.error
            fut.canceled = fut.canceled or event.error.kind == "Canceled"
            self.scheduler.channels.close(fut.channel)
            return
        fut.value = self.state.to_lua(event.value)
        self.scheduler.channels.deliver(fut.channel, self._make_payload(fut.value))

    def funcs(self) -> Any:
        state = self.state

        def schedule(site: bytes, target: Any, options: Any, context: Any, *args: Any) -> Any:
            try:
                command = self._activity(site, target, options, context, args)
            except LuaflowError as err:
                return self._fail(err)
            return self.scheduler.issue(command)

        def start_async(target: Any, options: Any, context: Any, *args: Any) -> Any:
            try:
                command = self._activity(b"", target, options, context, args)
            except LuaflowError as err:
                return self._fail(err)
            fut = _Future(0, self.scheduler.channels.new(1, internal=True))
            self.scheduler.issue_background(command, lambda event: self._settle(fut, event))
            fut.command_id = command.id
            self._futures[command.id] = fut
            return command.id

        def cancel(handle: int) -> bool:
            fut = self._futures[handle]
            if fut.done or fut.canceled:
                return False
            fut.canceled = True
            cancel_cmd = CancelActivity(site="", activity_command_id=fut.command_id)
            self.scheduler.issue_background(cancel_cmd, lambda event: None)
            return True

        def result(handle: int) -> tuple[bool, Any, Any]:
            fut = self._futures[handle]
            err = state.error_to_lua(fut.error) if fut.error is not None else None
            return fut.done, fut.value, err

        def check_options(options: Any) -> Any:
            try:
                self._options(options)
            except LuaflowError as err:
                return self._fail(err)
            return True

        bridge = lua_table(
            state,
            {
                "check_options": check_options,
                "async": start_async,
                "future_channel": lambda handle: self._futures[handle].channel.id,
                "future_done": lambda handle: self._futures[handle].done,
                "future_canceled": lambda handle: self._futures[handle].canceled,
                "future_result": result,
                "future_cancel": cancel,
            },
        )
        bridge[b"wrap"] = self._wrap
        bridge[b"schedule"] = state.awaiting(schedule)
        return state.call(state.load(_FUNCS_LUA.decode(), "luaflow/funcs.lua"), bridge)[0]

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
            self.scheduler.channels.deliver(timer.channel, self._now())
            if timer.repeat:
                self._arm(timer)
            else:
                timer.active = False

        self.scheduler.issue_background(StartTimer(site="", duration=_ns(timer.interval)), fired)

    def _new_timer(self, ns: int, repeat: bool) -> int:
        timer = _Timer(
            self.scheduler.channels.new(UNBOUNDED if repeat else 1, internal=True), int(ns), repeat
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
        clock = Clock(now_ns=self.env.now_ns, sleep=self.state.awaiting(timer), timers=timers)
        return time_module(self.state, clock)

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

    def _cancel_external(self, site: bytes, dest: Any, *_: Any) -> Any:
        if not isinstance(dest, bytes) or not dest:
            return self._fail(LuaflowError("destination must be a PID", INVALID, False))
        command = CancelExternal(site=_text(site), workflow_id=workflow_id_of(_text(dest)))
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

    def _delivered(self, event: Event) -> tuple[Any, Any]:
        error = event.error
        if error is not None and error.kind == TIMEOUT:  # no node polls the queue: it is gone
            error = LuaflowError(f"process not reachable: {error.message}", NOT_FOUND, False)
        return self._ok(Event(event.command_id, event.value, error))

    def _ok(self, event: Event) -> tuple[Any, Any]:
        if event.error is not None:
            return None, self.state.error_to_lua(event.error)
        return True, None

    def deliver_event(self, event: Any) -> None:
        """Put a process event (a Lua table) on `process.events()`."""
        channels = self.scheduler.channels
        self._events = self._events or channels.new(UNBOUNDED, internal=True)
        channels.deliver(self._events, event)

    # -- process and messages --------------------------------------------------------------------

    def _install_process(self) -> None:
        state, channels = self.state, self.scheduler.channels

        def set_factories(make_message: Any, make_data: Any, make_payload: Any) -> None:
            self._make_message = state.keep(make_message)
            self._make_data = state.keep(make_data)
            self._make_payload = state.keep(make_payload)

        def inbox() -> int:
            if self._inbox is None:
                self._inbox = channels.new(UNBOUNDED, internal=True)
                pending, self._pending = self._pending, []
                for msg in pending:
                    self._route(msg)
            return self._inbox.id

        def events() -> int:
            if self._events is None:
                self._events = channels.new(UNBOUNDED, internal=True)
            return self._events.id

        def listen(topic: bytes, as_message: bool) -> int:
            name = _text(topic)
            if name in self._listeners:
                raise LuaflowError(f'already listening to "{name}"', INVALID, False)
            ch = channels.new(UNBOUNDED, internal=True)
            self._listeners[name] = (ch, bool(as_message))
            pending, self._pending = self._pending, []
            for msg in pending:
                self._route(msg)
            return ch.id

        def unlisten(handle: Any) -> None:
            for name, (listening, _) in list(self._listeners.items()):
                if listening.id == handle:
                    del self._listeners[name]

        def send(site: bytes, dest: Any, topic: bytes, *args: Any) -> Any:
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
                    return self.scheduler.issue(
                        _delivery(_text(site), node, target, _text(topic), values, self.env.pid()),
                        self._delivered,
                    )
                else:
                    command = SignalExternal(
                        _text(site), workflow_id_of(target), _text(topic), values
                    )
            except LuaflowError as err:
                return self._fail(err)
            return self.scheduler.issue(command)

        bridge = lua_table(
            state,
            {
                "set_factories": set_factories,
                "pid": lambda: self.env.pid().encode(),
                "inbox": inbox,
                "events": events,
                "listen": listen,
                "unlisten": unlisten,
                "is_text": lambda v: isinstance(decode_str(v), str),
            },
        )
        bridge[b"wrap"] = self._wrap
        bridge[b"send"] = state.awaiting(send)
        bridge[b"spawn"] = state.awaiting(self._spawn)
        bridge[b"exec"] = state.awaiting(
            lambda site, target, host, *args: self._exec(site, target, host, args)
        )
        bridge[b"cancel"] = state.awaiting(self._cancel_external)
        bridge[b"upgrade"] = state.awaiting(self._upgrade)
        state.call(state.load(_PROCESS_LUA.decode(), "luaflow/process.lua"), bridge)

    def _route(self, msg: Message) -> None:
        """Deliver a message: its topic's listener, else the inbox, else keep it (B5)."""
        channels, state = self.scheduler.channels, self.state
        if msg.topic == CANCEL_TOPIC:
            self.deliver_event(
                state.to_lua({"kind": "pid.cancel", "from": "", "reason": "cancel requested"})
            )
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


def _new_state(env: WorkflowEnv, limits: LuaLimits | None) -> WorkflowModules:
    state = LuaState(limits=limits, clock=lambda: env.now_ns() / 1e9, printer=env.print)
    scheduler = Scheduler(state)
    modules = WorkflowModules(state, scheduler, env)
    scheduler.on_close(modules.close)
    modules.install_globals()
    return modules


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


def new_workflow_state(
    env: WorkflowEnv, limits: LuaLimits | None = None
) -> tuple[LuaState, Scheduler, dict[str, ModuleLoader]]:
    """A fresh state for one workflow run: workflow time for os/time, quiet print on replay,
    deterministic math.random, and the workflow globals and modules bound to its scheduler."""
    modules = _new_state(env, limits)
    return modules.state, modules.scheduler, modules.loaders()


#: Modules that only make sense inside a workflow (they issue durable commands).
_WORKFLOW_ONLY = ("funcs", "workflow")


def new_host_state(
    env: WorkflowEnv, limits: LuaLimits | None = None
) -> tuple[WorkflowModules, dict[str, ModuleLoader]]:
    """A fresh state for host code (see run_host): the workflow globals, and the modules that
    need no durable commands, answered by `env` in real time."""
    modules = _new_state(env, limits)
    loaders = {k: v for k, v in modules.loaders().items() if k not in _WORKFLOW_ONLY}
    return modules, loaders
