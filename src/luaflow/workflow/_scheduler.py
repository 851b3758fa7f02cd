"""The deterministic scheduler: Lua tasks in, commands out, events back in.

It is written once for every engine. A step runs every runnable task, FIFO, until each one has
finished or waits (on a command or on a channel); the engine executes the commands durably and
answers with events in a deterministic order. Nothing here knows which engine that is.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from luaflow.lua import (
    INTERNAL,
    INVALID,
    HostFailure,
    LuaflowError,
    LuaState,
    bounded_error,
    check_payload,
)
from luaflow.workflow._channels import DEFAULT, Channel, Channels, Select
from luaflow.workflow._commands import (
    Command,
    ContinueAsNew,
    Event,
    Message,
    ReplyUpdate,
    ScheduleActivity,
    SignalExternal,
    StartChild,
)

#: Commands whose arguments become Temporal payloads, one per argument.
_CARRIES_PAYLOADS = (ScheduleActivity, StartChild, SignalExternal, ReplyUpdate, ContinueAsNew)


class WorkflowEnv(Protocol):
    """What a workflow may read synchronously from its engine (all replay-safe)."""

    def now_ns(self) -> int: ...

    def info(self) -> dict[str, Any]: ...

    def history_length(self) -> int: ...

    def history_size(self) -> int: ...

    def random_bytes(self, n: int) -> bytes:
        """Deterministic per execution (seeded from the run, identical on replay)."""

    def pid(self) -> str:
        """This run's PID, `{client@worker|workflow id}` (R1)."""

    def print(self, text: str) -> None:
        """Lua `print`: shown on the first execution, silent while replaying."""

    def upsert_attrs(self, search: dict[str, Any], memo: dict[str, Any]) -> None:
        """Upsert search attributes and memo of this run (`workflow.attrs`)."""

    def context(self) -> dict[str, Any]:
        """Values propagated to this run with `with_context` (read by `ctx`)."""

    def patched(self, patch_id: str) -> bool:
        """Temporal's patch marker: true for new code paths and histories that recorded it."""

    def resolve_child(self, target: str, host: str | None) -> tuple[str, str, str]:
        """(workflow type, task queue, PID prefix `{client@worker|`) of a child workflow: an entry
        id (or type name) and a worker entry id or raw task queue (R14); None = same worker."""


class WorkflowTaskError(HostFailure):
    """Fails the workflow *task*, not the run: fixed code deployed later lets it continue
    (unsupported versions, engine errors)."""


@dataclass(eq=False)
class _Task:
    name: str
    resume: Any  # the Lua resume closure of the task


@dataclass
class Outcome:
    """How the workflow body ended: `value`, or `error` (from `nil, err` or a raised error)."""

    value: Any = None
    error: LuaflowError | None = None
    continue_as_new: ContinueAsNew | None = None


EventHandler = Callable[[Event], None]


@dataclass(frozen=True)
class _Refused:
    """A command turned down before the engine saw it: the task that awaits it gets `err`."""

    error: LuaflowError


@dataclass
class Scheduler:
    """Runs one workflow body and its coroutines in one Lua state."""

    state: LuaState
    outcome: Outcome | None = None
    channels: Channels = field(default_factory=Channels)
    _ready: deque[tuple[_Task, tuple[Any, ...]]] = field(default_factory=deque)
    _handlers: dict[int, EventHandler] = field(default_factory=dict)
    _issued: list[Command] = field(default_factory=list)
    _next_id: int = 0
    _tasks: int = 0
    _current: _Task | None = None
    _mailbox: Callable[[Message], None] | None = None
    _closers: list[Callable[[], None]] = field(default_factory=list)
    #: What tasks await, by the integer token Lua holds (never the Python object itself).
    _tokens: dict[int, Any] = field(default_factory=dict)
    #: Background commands turned down, answered at the next turn of the run loop.
    _refused: list[tuple[EventHandler, Event]] = field(default_factory=list)
    #: Where an incoming message that cannot enter this run goes (dropped, with a warning);
    #: without one, such a message fails the run.
    on_rejected: Callable[[Message, LuaflowError], None] | None = None

    # -- driving -----------------------------------------------------------------------------------

    def start(self, main: Any, args: Sequence[Any]) -> list[Command]:
        """Run `main(*args)` until it finishes or every task waits; returns the commands issued.
        The step is one activation: its Lua shares one budget (LuaLimits)."""
        with self.state.activation():
            try:
                lua_args = [self.state.to_lua(a) for a in args]
            except LuaflowError as err:
                self.outcome = Outcome(error=bounded_error(err))
                return []
            self._ready.append((_Task("main", self.state.new_task(main, *lua_args)), ()))
            return self._run()

    def step(self, events: Sequence[Event | Message]) -> list[Command]:
        """Deliver events (in the engine's order) and run until blocked again (one activation)."""
        with self.state.activation():
            for event in events:
                if self.outcome is not None:
                    break
                try:
                    if isinstance(event, Message):
                        self._deliver(event)
                    else:
                        self._handlers.pop(event.command_id)(event)
                except LuaflowError as err:
                    self.outcome = Outcome(error=bounded_error(err))
            return self._run()

    def _deliver(self, message: Message) -> None:
        if self._mailbox is None:
            raise LuaflowError("no mailbox for incoming messages", INTERNAL, False)
        try:
            self._mailbox(message)
        except LuaflowError as err:
            if self.on_rejected is None or self.state.exceeded is not None:
                raise
            self.on_rejected(message, err)

    def on_close(self, closer: Callable[[], None]) -> None:
        """Something that holds Lua objects of this run and must drop them in `close`."""
        self._closers.append(closer)

    def close(self) -> None:
        """Release the run's Lua state deterministically (see LuaState.close)."""
        self._ready.clear()
        self._tokens.clear()
        self.channels.by_id.clear()
        self._handlers.clear()
        self._issued.clear()
        self._mailbox = None
        for closer in self._closers:
            closer()
        self._closers.clear()
        self.state.close()

    def waiting(self) -> frozenset[int]:
        """The ids of the events the run waits for (its commands and expected exits)."""
        return frozenset(self._handlers)

    def set_mailbox(self, deliver: Callable[[Message], None]) -> None:
        """Where incoming messages (signals, updates) go: the process module's router."""
        self._mailbox = deliver

    # -- what modules use ------------------------------------------------------------------------

    def issue(
        self, command: Command, reply: Callable[[Event], tuple[Any, Any]] | None = None
    ) -> int:
        """A command the current task awaits: returns the token Lua awaits; the task resumes
        with `value, nil` or `nil, err` (or what `reply` makes of the event)."""
        task = self._require_task()
        answer = reply or self._reply
        refused = self._refuse(command)
        if refused is not None:
            return self.token(refused)

        def resume(event: Event) -> None:
            try:
                result = answer(event)
            except LuaflowError as err:  # the value cannot enter the run (memory, range)
                result = (None, self.state.error_to_lua(err))
            self._ready.append((task, result))

        self._register(command, resume)
        return self.token(command)

    def token(self, awaited: Any) -> int:
        """An integer Lua can await in place of `awaited` (a Command, Select or ContinueAsNew)."""
        if isinstance(awaited, ContinueAsNew):
            awaited = self._refuse(awaited) or awaited
        if isinstance(awaited, Command) and awaited.id:
            key = awaited.id
        else:
            self._next_id += 1
            key = self._next_id
        self._tokens[key] = awaited
        return key

    def expect(self, handler: EventHandler) -> int:
        """An event id the engine will answer later without a command of its own (a child's
        exit); the handler runs when it does."""
        self._next_id += 1
        self._handlers[self._next_id] = handler
        return self._next_id

    def issue_background(self, command: Command, on_event: EventHandler) -> Command:
        """A command no task awaits (timers behind channels, futures): `on_event` handles it."""
        refused = self._refuse(command)
        if refused is None:
            self._register(command, on_event)
        else:
            self._next_id += 1
            command.id = self._next_id
            self._refused.append((on_event, Event(command.id, error=refused.error)))
        return command

    def spawn(self, fn: Any) -> None:
        """`coroutine.spawn`: a new task, run after the ones already runnable."""
        self._tasks += 1
        task = self.state.new_task(self.state.keep(fn))
        self._ready.append((_Task(f"coroutine {self._tasks}", task), ()))

    def select(self, has_default: bool, n: int, *flat: Any) -> Any:
        """`channel.select`: (index, value, ok) when a case is ready now, (0, nil, true) for the
        default, else (nil, token) for the task to await."""
        cases: list[tuple[str, Channel, Any]] = []
        for i in range(int(n)):
            op, handle, value = flat[3 * i], flat[3 * i + 1], flat[3 * i + 2]
            ch = self.channels.by_id.get(handle) if isinstance(handle, int) else None
            if ch is None or op not in (b"send", b"recv"):
                raise LuaflowError(f"select: case {i + 1} is not a channel case", INVALID, False)
            kept = self.state.keep(value) if op == b"send" else None
            cases.append(("send" if op == b"send" else "recv", ch, kept))
        ready = self.channels.try_select(cases)
        if ready is not None:
            return ready
        if has_default:
            return (DEFAULT, None, True)
        if not cases:
            raise LuaflowError("select with no cases blocks forever", INVALID, False)
        task = self._require_task()
        sel = Select(cases, lambda result: self._ready.append((task, result)))
        self.channels.park(sel)
        return (None, self.token(sel))

    # -- internals -------------------------------------------------------------------------------

    def _require_task(self) -> _Task:
        if self._current is None:
            raise LuaflowError("no running workflow task", INTERNAL, False)
        return self._current

    def _refuse(self, command: Command) -> _Refused | None:
        """A command whose arguments Temporal would not take (see check_payload), refused here
        so the Lua code that made it gets `nil, err` instead of the workflow task failing."""
        limit = self.state.limits.payload
        if limit is None or not isinstance(command, _CARRIES_PAYLOADS):
            return None
        for i, arg in enumerate(command.args, 1):
            try:
                check_payload(arg, f"argument {i}", limit)
            except LuaflowError as err:
                return _Refused(err)
        return None

    def _register(self, command: Command, handler: EventHandler) -> None:
        self._next_id += 1
        command.id = self._next_id
        self._handlers[command.id] = handler
        self._issued.append(command)

    def _reply(self, event: Event) -> tuple[Any, Any]:
        if event.error is not None:
            return None, self.state.error_to_lua(event.error)
        return self.state.to_lua(event.value), None

    def _run(self) -> list[Command]:
        while self.outcome is None:
            while self._refused:
                handler, event = self._refused.pop(0)
                handler(event)
            if not self._ready:
                break
            task, reply = self._ready.popleft()
            self._current = task
            try:
                status, value = self.state.resume(task.resume, *reply)
            finally:
                self._current = None
            if status == "await":
                awaited = self._tokens.pop(value, None) if isinstance(value, int) else None
                if isinstance(awaited, _Refused):
                    self._ready.append((task, (None, self.state.error_to_lua(awaited.error))))
                elif isinstance(awaited, ContinueAsNew):
                    self.outcome = Outcome(continue_as_new=awaited)
                elif not isinstance(awaited, Command | Select):
                    error = LuaflowError(f"{task.name} awaited {value!r}", INTERNAL, False)
                    self.outcome = Outcome(error=error)
            elif status == "error":
                if isinstance(value, WorkflowTaskError):
                    raise value
                self.outcome = Outcome(error=bounded_error(self.state.error_from_lua(value)))
            elif task.name == "main":
                self.outcome = self._result(value)
        issued, self._issued = self._issued, []
        return [] if self.outcome is not None else issued

    def _result(self, values: list[Any]) -> Outcome:
        """The run's outcome from what main returned: a value Temporal can store, or an error
        (kind Invalid when the value cannot cross, B2)."""
        value = values[0] if values else None
        err = values[1] if len(values) > 1 else None
        if value is None and err is not None:
            return Outcome(error=bounded_error(self.state.error_from_lua(err)))
        try:
            result = self.state.from_lua(value, "result")
            if self.state.limits.payload is not None:
                check_payload(result, "the result", self.state.limits.payload)
        except LuaflowError as exc:
            return Outcome(error=exc)
        return Outcome(value=result)
