"""The deterministic scheduler: Lua tasks in, commands out, events back in.

It is written once for every engine. A step runs every runnable task, FIFO, until each one has
finished or waits on a command; the engine executes the commands durably and answers with events
in a deterministic order. Nothing here knows which engine that is.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from luaflow.lua import LuaflowError, LuaState
from luaflow.lua._errors import INTERNAL
from luaflow.workflow._commands import Command, Event


class WorkflowEnv(Protocol):
    """What a workflow may read synchronously from its engine (all replay-safe)."""

    def now_ns(self) -> int: ...

    def info(self) -> dict[str, Any]: ...

    def history_length(self) -> int: ...

    def history_size(self) -> int: ...

    def print(self, text: str) -> None:
        """Lua `print`: shown on the first execution, silent while replaying."""


@dataclass
class _Task:
    name: str
    resume: Any  # the Lua resume closure of the task


@dataclass
class Outcome:
    """How the workflow body ended: `value`, or `error` (from `nil, err` or a raised error)."""

    value: Any = None
    error: LuaflowError | None = None


@dataclass
class Scheduler:
    """Runs one workflow body in its own Lua state."""

    state: LuaState
    outcome: Outcome | None = None
    _ready: deque[tuple[_Task, tuple[Any, ...]]] = field(default_factory=deque)
    _waiting: dict[int, _Task] = field(default_factory=dict)
    _pending: list[Command] = field(default_factory=list)
    _next_id: int = 0

    def start(self, main: Any, args: Sequence[Any]) -> list[Command]:
        """Run `main(*args)` until it finishes or every task waits; returns the commands issued."""
        lua_args = [self.state.to_lua(a) for a in args]
        self._ready.append((_Task("main", self.state.new_task(main, *lua_args)), ()))
        return self._run()

    def step(self, events: Sequence[Event]) -> list[Command]:
        """Deliver events (in the engine's order) and run until blocked again."""
        for event in events:
            task = self._waiting.pop(event.command_id)
            if event.error is not None:
                reply: tuple[Any, ...] = (None, self.state.error_to_lua(event.error))
            else:
                reply = (self.state.to_lua(event.value), None)
            self._ready.append((task, reply))
        return self._run()

    @property
    def done(self) -> bool:
        return self.outcome is not None

    def issue(self, command: Command) -> Command:
        """Give a command built by a module its id; the awaiting task is parked on it."""
        self._next_id += 1
        command.id = self._next_id
        return command

    def _run(self) -> list[Command]:
        while self._ready and self.outcome is None:
            task, reply = self._ready.popleft()
            status, value = self.state.resume(task.resume, *reply)
            if status == "await":
                if not isinstance(value, Command):
                    raise LuaflowError(f"task {task.name} awaited {value!r}", INTERNAL, False)
                self._waiting[value.id] = task
                self._pending.append(value)
            elif status == "error":
                self.outcome = Outcome(error=self.state.error_from_lua(value))
            elif task.name == "main":
                self.outcome = self._result(value)
        issued, self._pending = self._pending, []
        return [] if self.outcome is not None else issued

    def _result(self, values: list[Any]) -> Outcome:
        value = values[0] if values else None
        err = values[1] if len(values) > 1 else None
        if value is None and err is not None:
            return Outcome(error=self.state.error_from_lua(err))
        return Outcome(value=self.state.from_lua(value, "workflow result"))
