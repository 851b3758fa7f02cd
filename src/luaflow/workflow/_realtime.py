"""The scheduler driven in real time: how host code (functions, processes, HTTP handlers) runs.

Host code gets the same channels, `coroutine.spawn`, timers, inbox, `listen` and events as a
workflow, because it runs on the same scheduler; only the engine differs: timers run on the clock
the process is handed, and messages, events and command results arrive from other threads
through the process's Mailbox. What a command does (a function call...) is up to the process
layer, which runs it and answers in the mailbox.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import queue
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from luaflow.lua import (
    INTERNAL,
    INVALID,
    LuaflowError,
    LuaLimits,
    LuaState,
    ModuleLoader,
    lua_table,
)
from luaflow.workflow._commands import Command, Event, Message, StartTimer
from luaflow.workflow._modules import ProcessModules
from luaflow.workflow._scheduler import Outcome, Scheduler


class HostClock(Protocol):
    """The time of host code: wall time for `time.now`/`os.time`, a monotonic one for timers.
    A process is handed its clock, so a test can move time on instead of waiting."""

    def now_ns(self) -> int: ...

    def monotonic(self) -> float: ...

    def wait_for(self, deadline: float) -> float:
        """How long to really wait (for messages meanwhile) until `monotonic()` reaches
        `deadline`; a clock that skips time moves there and answers 0."""


class SystemClock:
    def now_ns(self) -> int:
        return time.time_ns()

    def monotonic(self) -> float:
        return time.monotonic()

    def wait_for(self, deadline: float) -> float:
        return max(0.0, deadline - time.monotonic())


SYSTEM_CLOCK: HostClock = SystemClock()


@dataclass(frozen=True)
class _Kill:
    error: LuaflowError


MailboxItem = Message | Event | dict[str, Any] | _Kill
#: How a process's thread waits for its mailbox: a pooled thread lets another call run meanwhile.
Idle = Callable[[], AbstractContextManager[object]]


class Mailbox:
    """What reaches a running host process from other threads: messages (routed like a
    workflow's signals), process events (`pid.exit`, `pid.cancel`...), the results of its
    commands, and kills."""

    def __init__(self, idle: Idle = contextlib.nullcontext) -> None:
        self._queue: queue.SimpleQueue[MailboxItem] = queue.SimpleQueue()
        self._idle = idle

    def message(self, message: Message) -> None:
        self._queue.put(message)

    def event(self, event: dict[str, Any]) -> None:
        self._queue.put(event)

    def completed(self, event: Event) -> None:
        """The outcome of a command this process issued (a function call...)."""
        self._queue.put(event)

    def kill(self, error: LuaflowError) -> None:
        """End the process now with `error` (terminate, untrapped link failure, shutdown)."""
        self._queue.put(_Kill(error))

    def get(self, timeout: float | None) -> MailboxItem | None:
        with self._idle():
            try:
                return self._queue.get(timeout=timeout)
            except queue.Empty:
                return None

    def drain(self) -> list[MailboxItem]:
        items: list[MailboxItem] = []
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                return items


@dataclass
class HostEnv:
    """What host code reads from its process: its PID, context values, mailbox and clock."""

    context_values: dict[str, Any] = field(default_factory=dict)
    pid_value: str = ""
    mailbox: Mailbox = field(default_factory=Mailbox)
    printer: Callable[[str], None] = print
    clock: HostClock = SYSTEM_CLOCK

    def now_ns(self) -> int:
        return self.clock.now_ns()

    def random_bytes(self, n: int) -> bytes:
        return os.urandom(n)

    def pid(self) -> str:
        return self.pid_value

    def print(self, text: str) -> None:
        self.printer(text)

    def context(self) -> dict[str, Any]:
        return self.context_values


@dataclass
class CallFunction(Command):
    """`funcs.call`/`funcs.async` in host code: run a function entry as host code of its own,
    with `context` (the caller's values merged with the executor's) and executor `options`."""

    target: str = ""
    args: list[Any] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class CancelCall(Command):
    """`future:cancel()` in host code: stop the call started by command `call_id`."""

    call_id: int = 0


#: Runs a command of a host process; its outcome goes to `done` (from any thread).
CommandRunner = Callable[[Command, Callable[[Event], None]], None]


def _workflow_only(name: str) -> LuaflowError:
    return LuaflowError(f"workflow.{name} is only available inside workflows", INVALID, False)


class HostModules(ProcessModules):
    """The modules of host code: the process basics of every Lua process, `funcs` as calls of
    other functions (run by the process layer), and `workflow` answering as outside a workflow
    (R11)."""

    def loaders(self) -> dict[str, ModuleLoader]:
        return {**super().loaders(), "funcs": lambda _: self.funcs(), "workflow": self.workflow}

    def _call(
        self, site: str, target: str, options: dict[str, Any], extra: dict[str, Any],
        args: list[Any],
    ) -> CallFunction:  # fmt: skip
        return CallFunction(site, target, args, {**self.env.context(), **extra}, options)

    def funcs(self) -> Any:
        return self.funcs_table(self._call, lambda call: CancelCall("", call.id), lambda _: None)

    def workflow(self, state: LuaState) -> Any:
        def fail(name: str) -> Callable[..., tuple[Any, Any]]:
            return lambda *_: (None, state.error_to_lua(_workflow_only(name)))

        return lua_table(
            state,
            {
                "info": fail("info"),
                "history_length": lambda: 0,
                "history_size": lambda: 0,
                "exec": fail("exec"),
                "call": fail("call"),
                "version": fail("version"),
                "attrs": fail("attrs"),
            },
        )


def new_host_state(
    env: HostEnv, limits: LuaLimits | None = None, entry_id: str = ""
) -> tuple[HostModules, dict[str, ModuleLoader]]:
    """A fresh state for host code (see run_host): channels, timers, inbox, listen and events
    over `env`; the process layer adds the `process` global and runs its commands."""
    state = LuaState(limits=limits, clock=lambda: env.now_ns() / 1e9, printer=env.print)
    modules = HostModules(state, Scheduler(state), env, entry_id)
    modules.install_globals()
    return modules, modules.loaders()


def run_host(
    modules: ProcessModules,
    main: Any,
    args: Sequence[Any],
    env: HostEnv,
    execute: CommandRunner | None = None,
) -> Outcome:
    """Run `main(*args)` to completion on the calling thread: timers fire on the env's clock,
    mailbox items are delivered between steps, commands go to `execute`, a kill ends the
    process at once."""
    scheduler, clock, mailbox = modules.scheduler, env.clock, env.mailbox
    timers: list[tuple[float, int, int]] = []  # (deadline, order, command id)
    order = itertools.count()
    commands = scheduler.start(main, args)
    while True:
        events: list[Event | Message] = []
        for command in commands:
            if isinstance(command, StartTimer):
                deadline = clock.monotonic() + command.duration.total_seconds()
                heapq.heappush(timers, (deadline, next(order), command.id))
            elif execute is not None:
                execute(command, mailbox.completed)
            else:
                name = type(command).__name__
                error = LuaflowError(f"{name} is not available in host code", INTERNAL, False)
                events.append(Event(command.id, error=error))
        if scheduler.outcome is not None:
            return scheduler.outcome
        if not events:
            timeout = clock.wait_for(timers[0][0]) if timers else None
            first = mailbox.get(timeout)
            items = ([first] if first is not None else []) + mailbox.drain()
            for item in items:
                if isinstance(item, _Kill):
                    return Outcome(error=item.error)
                if isinstance(item, Message | Event):
                    events.append(item)
                else:
                    modules.deliver_event(scheduler.state.to_lua(item))
        now = clock.monotonic()
        while timers and timers[0][0] <= now:
            events.append(Event(heapq.heappop(timers)[2]))
        commands = scheduler.step(events)
