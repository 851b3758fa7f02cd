"""The scheduler driven in real time: how host code (functions, processes, HTTP handlers) runs.

Host code gets the same channels, `coroutine.spawn`, timers, inbox, `listen` and events as a
workflow, because it runs on the same scheduler; only the engine differs: timers are wall-clock
timers, and messages and events arrive from other threads through the process's Mailbox.
"""

from __future__ import annotations

import heapq
import itertools
import os
import queue
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from luaflow.lua import LuaflowError
from luaflow.lua._errors import INTERNAL, INVALID
from luaflow.workflow._commands import Event, Message, StartTimer
from luaflow.workflow._scheduler import Outcome, Scheduler


@dataclass(frozen=True)
class _Kill:
    error: LuaflowError


class Mailbox:
    """What reaches a running host process from other threads: messages (routed like a
    workflow's signals), process events (`pid.exit`, `pid.cancel`...) and kills."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Message | dict[str, Any] | _Kill] = queue.SimpleQueue()

    def message(self, message: Message) -> None:
        self._queue.put(message)

    def event(self, event: dict[str, Any]) -> None:
        self._queue.put(event)

    def kill(self, error: LuaflowError) -> None:
        """End the process now with `error` (terminate, untrapped link failure, shutdown)."""
        self._queue.put(_Kill(error))

    def get(self, timeout: float | None) -> Message | dict[str, Any] | _Kill | None:
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def drain(self) -> list[Message | dict[str, Any] | _Kill]:
        items: list[Message | dict[str, Any] | _Kill] = []
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                return items


@dataclass
class HostEnv:
    """The WorkflowEnv of host code: wall clock, OS randomness, its own PID and context."""

    context_values: dict[str, Any] = field(default_factory=dict)
    pid_value: str = ""
    mailbox: Mailbox = field(default_factory=Mailbox)
    printer: Callable[[str], None] = print

    def now_ns(self) -> int:
        return time.time_ns()

    def info(self) -> dict[str, Any]:
        return {}

    def history_length(self) -> int:
        return 0

    def history_size(self) -> int:
        return 0

    def random_bytes(self, n: int) -> bytes:
        return os.urandom(n)

    def pid(self) -> str:
        return self.pid_value

    def print(self, text: str) -> None:
        self.printer(text)

    def upsert_attrs(self, search: dict[str, Any], memo: dict[str, Any]) -> None:
        raise LuaflowError("workflow.attrs is only available in workflows", INVALID, False)

    def context(self) -> dict[str, Any]:
        return self.context_values

    def patched(self, patch_id: str) -> bool:
        raise LuaflowError("workflow.version is only available in workflows", INVALID, False)

    def resolve_child(self, target: str, host: str | None) -> tuple[str, str, str]:
        raise LuaflowError("child workflows are only started from workflows", INVALID, False)


def run_host(
    scheduler: Scheduler,
    deliver_event: Callable[[Any], None],
    main: Any,
    args: Sequence[Any],
    mailbox: Mailbox,
) -> Outcome:
    """Run `main(*args)` to completion on the calling thread: timers fire on the wall clock,
    mailbox items are delivered between steps, a kill ends the process at once."""
    timers: list[tuple[float, int, int]] = []  # (deadline, order, command id)
    order = itertools.count()
    commands = scheduler.start(main, args)
    while True:
        events: list[Event | Message] = []
        for command in commands:
            if isinstance(command, StartTimer):
                deadline = time.monotonic() + command.duration.total_seconds()
                heapq.heappush(timers, (deadline, next(order), command.id))
            else:
                name = type(command).__name__
                error = LuaflowError(f"{name} is not available in host code", INTERNAL, False)
                events.append(Event(command.id, error=error))
        if scheduler.outcome is not None:
            return scheduler.outcome
        if not events:
            timeout = max(0.0, timers[0][0] - time.monotonic()) if timers else None
            first = mailbox.get(timeout)
            items = ([first] if first is not None else []) + mailbox.drain()
            for item in items:
                if isinstance(item, _Kill):
                    return Outcome(error=item.error)
                if isinstance(item, Message):
                    events.append(item)
                else:
                    deliver_event(scheduler.state.to_lua(item))
        now = time.monotonic()
        while timers and timers[0][0] <= now:
            events.append(Event(heapq.heappop(timers)[2]))
        commands = scheduler.step(events)
