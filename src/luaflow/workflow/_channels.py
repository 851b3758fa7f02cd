"""Channels and `select` for workflow tasks: resolved inside the scheduler, never by the engine.

Semantics follow Go (and Wippy's `channel` global): unbuffered channels hand values over between a
sender and a receiver, buffered ones queue up to their size, `select` takes the first ready case
in the order written (deterministic: no random choice), a closed channel yields `nil, false`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from luaflow.lua import INTERNAL, LuaflowError

#: Index a select resolves to when its default case is taken.
DEFAULT = 0
#: Index that makes the Lua side raise the value as an error (send on a closed channel).
RAISE = -1

UNBOUNDED = -1


@dataclass(eq=False)
class Channel:
    """A channel. Capacity -1 means unbounded (runtime-fed channels never block the engine)."""

    id: int
    capacity: int
    buffer: deque[Any] = field(default_factory=deque)
    closed: bool = False
    receivers: list[Select] = field(default_factory=list)
    senders: list[Select] = field(default_factory=list)


@dataclass(eq=False)
class Select:
    """A task parked on one or more channel cases until one can proceed."""

    cases: list[tuple[str, Channel, Any]]
    wake: Callable[[tuple[int, Any, bool]], None]

    def index_of(self, ch: Channel, op: str) -> int:
        for i, (case_op, case_ch, _) in enumerate(self.cases, 1):
            if case_ch is ch and case_op == op:
                return i
        raise LuaflowError("select case vanished", INTERNAL, False)

    def value_for(self, ch: Channel) -> Any:
        return self.cases[self.index_of(ch, "send") - 1][2]

    def finish(self, result: tuple[int, Any, bool]) -> None:
        for op, ch, _ in self.cases:
            waiting = ch.receivers if op == "recv" else ch.senders
            if self in waiting:
                waiting.remove(self)
        self.wake(result)


class Channels:
    """All channels of one workflow run."""

    def __init__(self) -> None:
        self._last_id = 0
        #: Lua code holds channels by id: Python objects handed to Lua are not safe to re-push
        #: (lupa may release a re-pushed object while an old wrapper awaits finalization).
        self.by_id: dict[int, Channel] = {}

    def new(self, capacity: int, *, internal: bool = False) -> Channel:
        """A channel; only the runtime's own channels (`internal`) may be unbounded."""
        if capacity < (UNBOUNDED if internal else 0):
            raise LuaflowError("channel size must not be negative", "Invalid", False)
        self._last_id += 1
        channel = Channel(self._last_id, capacity)
        self.by_id[channel.id] = channel
        return channel

    def get(self, channel_id: Any) -> Channel:
        channel = self.by_id.get(channel_id) if isinstance(channel_id, int) else None
        if channel is None:
            raise LuaflowError("not a channel", "Invalid", False)
        return channel

    def try_select(self, cases: list[tuple[str, Channel, Any]]) -> tuple[int, Any, bool] | None:
        """Complete the first ready case, in order; None when none is ready."""
        for i, (op, ch, value) in enumerate(cases, 1):
            if op == "recv":
                got = self._try_receive(ch)
                if got is not None:
                    return (i, got[0], got[1])
            elif self._try_send(ch, value):
                return (i, None, True)
        return None

    def park(self, select: Select) -> None:
        for op, ch, _ in select.cases:
            (ch.receivers if op == "recv" else ch.senders).append(select)

    def deliver(self, ch: Channel, value: Any) -> None:
        """A value from the runtime (timer, signal, future): never blocks."""
        if not self._try_send(ch, value, force=True):
            raise LuaflowError("delivery to a closed channel", INTERNAL, False)

    def close(self, ch: Channel) -> None:
        if ch.closed:
            return
        ch.closed = True
        for sel in list(ch.receivers):
            if not ch.buffer:
                sel.finish((sel.index_of(ch, "recv"), None, False))
        for sel in list(ch.senders):
            sel.finish((RAISE, b"send on closed channel", False))

    def _try_receive(self, ch: Channel) -> tuple[Any, bool] | None:
        if ch.buffer:
            value = ch.buffer.popleft()
            if ch.senders:  # room again: the first blocked sender's value moves in
                sender = ch.senders[0]
                ch.buffer.append(sender.value_for(ch))
                sender.finish((sender.index_of(ch, "send"), None, True))
            return value, True
        if ch.senders:
            sender = ch.senders[0]
            value = sender.value_for(ch)
            sender.finish((sender.index_of(ch, "send"), None, True))
            return value, True
        if ch.closed:
            return None, False
        return None

    def _try_send(self, ch: Channel, value: Any, force: bool = False) -> bool:
        if ch.closed:
            if force:
                return False
            raise LuaflowError("send on closed channel", INTERNAL, False)
        if ch.receivers:
            receiver = ch.receivers[0]
            receiver.finish((receiver.index_of(ch, "recv"), value, True))
            return True
        if force or ch.capacity == UNBOUNDED or len(ch.buffer) < ch.capacity:
            ch.buffer.append(value)
            return True
        return False
