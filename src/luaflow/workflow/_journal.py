"""Runs that wait without a Lua state: what a run took in is enough to rebuild it.

A workflow run is a deterministic function of its inputs: its arguments, the event batches the
engine gave it and the answers of its environment (time, randomness, patches...). A run that
waits for something far away (a long timer, a message) can therefore let its Lua state go, the
largest part of what a cached run costs, and get it back when its next event comes by running
the same inputs through a fresh state, in process: no history fetch and no replay by the engine,
which is what an eviction from the engine's cache would cost. The journal keeps those inputs
and checks that the rebuilt run waits for exactly what the old one waited for.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from luaflow.lua import LuaflowError
from luaflow.workflow._commands import Command, Event, Message
from luaflow.workflow._scheduler import Outcome, Scheduler, WorkflowEnv, WorkflowTaskError

_T = TypeVar("_T")

#: Makes a fresh scheduler and the entry function of the run over an environment.
Build = Callable[[WorkflowEnv], tuple[Scheduler, Any]]

#: A run whose rebuild would take more CPU than this (seconds, measured as it ran) keeps its
#: state for good and stops journaling: about what a workflow task of the engine costs, so that
#: waking a hibernated run costs at most about twice what waking it costs anyway.
REBUILD_BUDGET = 0.01
#: A run rebuilt less than this long ago (seconds) keeps its state: it is being woken often.
REBUILT_RECENTLY = 10.0


class RebuildError(WorkflowTaskError):
    """A rebuilt run did not reach the point the old one had: its Lua code is not deterministic
    in its inputs. The workflow task fails, and the engine replays the run from its history."""


class Journal:
    """One workflow run's Lua side, which can `hibernate` (drop its state) while it waits.

    It is also the run's environment: every read goes through it, is answered by the engine's
    environment and recorded, and is answered from the record while the run is rebuilt.
    """

    def __init__(
        self,
        build: Build,
        env: WorkflowEnv,
        on_rejected: Callable[[Message, LuaflowError], None] | None = None,
    ) -> None:
        self._build = build
        self._env = env
        #: Where a message the run cannot take in goes (see Scheduler.on_rejected); it is not
        #: told again while a rebuild delivers the same message.
        self._on_rejected = on_rejected
        self._args: list[Any] = []
        self._batches: list[Sequence[Event | Message]] = []
        self._reads: list[tuple[tuple[Any, ...], Any]] = []
        self._replaying: Iterator[tuple[tuple[Any, ...], Any]] | None = None
        self._waiting: frozenset[int] = frozenset()
        self._rebuilt_at = float("-inf")
        #: CPU seconds the run's Lua side has taken so far: about what a rebuild takes.
        self.cost = 0.0
        self.journaling = True
        self._scheduler: Scheduler | None = None
        self._main: Any = None
        self._timed(self._make)

    # -- driving ---------------------------------------------------------------------------------

    @property
    def outcome(self) -> Outcome | None:
        return self._scheduler.outcome if self._scheduler is not None else None

    @property
    def hibernating(self) -> bool:
        return self._scheduler is None

    def start(self, args: Sequence[Any]) -> list[Command]:
        """Scheduler.start of the run's entry function."""
        scheduler = self._live()
        if self.journaling:
            self._args = list(args)
        return self._timed(lambda: scheduler.start(self._main, args))

    def step(self, events: Sequence[Event | Message]) -> list[Command]:
        """Scheduler.step, on the run's state rebuilt first if it hibernates."""
        scheduler = self._live()
        if self.journaling:
            self._batches.append(events)
        return self._timed(lambda: scheduler.step(events))

    def may_hibernate(self) -> bool:
        """Whether dropping the state now is worth it: the run is journaled, cheap enough to
        rebuild, and was not rebuilt a moment ago."""
        return (
            self.journaling
            and self._scheduler is not None
            and self._scheduler.outcome is None
            and time.monotonic() - self._rebuilt_at >= REBUILT_RECENTLY
        )

    def hibernate(self) -> None:
        """Close the run's Lua state if that is worth it now (`may_hibernate`); the next `step`
        rebuilds it from the journal."""
        if self._scheduler is not None and self.may_hibernate():
            self._waiting = self._scheduler.waiting()
            self._drop_state()

    def close(self) -> None:
        """Release the state (if any) and the journal."""
        self._stop_journaling()
        self._drop_state()

    # -- internals -------------------------------------------------------------------------------

    def _drop_state(self) -> None:
        if self._scheduler is not None:
            self._scheduler.close()
        self._scheduler = self._main = None

    def _make(self) -> Scheduler:
        scheduler, self._main = self._build(self)
        scheduler.on_rejected = self._rejected if self._on_rejected is not None else None
        self._scheduler = scheduler
        return scheduler

    def _timed(self, run: Callable[[], _T]) -> _T:
        t0 = time.thread_time()
        try:
            return run()
        finally:
            self.cost += time.thread_time() - t0
            if self.cost > REBUILD_BUDGET:
                self._stop_journaling()

    def _stop_journaling(self) -> None:
        self.journaling = False
        self._args, self._batches, self._reads = [], [], []

    def _live(self) -> Scheduler:
        return self._scheduler or self._rebuild()

    def _rebuild(self) -> Scheduler:
        t0 = time.thread_time()
        self._replaying = iter(self._reads)
        try:
            scheduler = self._make()
            scheduler.start(self._main, self._args)
            for batch in self._batches:
                scheduler.step(batch)
            left = next(self._replaying, None)
            if left is not None:
                raise RebuildError(f"the rebuilt run did not read {left[0][0]}")
            if scheduler.outcome is not None or scheduler.waiting() != self._waiting:
                raise RebuildError("the rebuilt run does not wait for what the run waited for")
            return scheduler
        except BaseException as exc:
            self._drop_state()
            if isinstance(exc, Exception) and not isinstance(exc, RebuildError):
                raise RebuildError(f"the run could not be rebuilt: {exc}") from exc
            raise
        finally:
            self._replaying = None
            self._rebuilt_at = time.monotonic()
            self.cost = time.thread_time() - t0

    def _rejected(self, message: Message, err: LuaflowError) -> None:
        if self._replaying is None and self._on_rejected is not None:
            self._on_rejected(message, err)

    def _read(self, key: tuple[Any, ...], fetch: Callable[[], Any]) -> Any:
        """`fetch()`, recorded under `key`; while rebuilding, the recorded answer (a write to
        the environment, `print` say, is then checked and skipped)."""
        if self._replaying is not None:
            recorded = next(self._replaying, None)
            if recorded is None or recorded[0] != key:
                was = recorded[0][0] if recorded is not None else "nothing more"
                raise RebuildError(f"the rebuilt run read {key[0]} where the run read {was}")
            return recorded[1]
        value = fetch()
        if self.journaling:
            self._reads.append((key, value))
        return value

    # -- WorkflowEnv -----------------------------------------------------------------------------

    def now_ns(self) -> int:
        return int(self._read(("now_ns",), self._env.now_ns))

    def info(self) -> dict[str, Any]:
        info: dict[str, Any] = self._read(("info",), self._env.info)
        return dict(info)

    def history_length(self) -> int:
        return int(self._read(("history_length",), self._env.history_length))

    def history_size(self) -> int:
        return int(self._read(("history_size",), self._env.history_size))

    def random_bytes(self, n: int) -> bytes:
        return bytes(self._read(("random_bytes", n), lambda: self._env.random_bytes(n)))

    def pid(self) -> str:
        return str(self._read(("pid",), self._env.pid))

    def print(self, text: str) -> None:
        self._read(("print",), lambda: self._env.print(text))

    def upsert_attrs(self, search: dict[str, Any], memo: dict[str, Any]) -> None:
        self._read(("upsert_attrs",), lambda: self._env.upsert_attrs(search, memo))

    def context(self) -> dict[str, Any]:
        context: dict[str, Any] = self._read(("context",), self._env.context)
        return dict(context)

    def patched(self, patch_id: str) -> bool:
        return bool(self._read(("patched", patch_id), lambda: self._env.patched(patch_id)))

    def resolve_child(self, target: str, host: str | None) -> tuple[str, str, str]:
        resolved: tuple[str, str, str] = self._read(
            ("resolve_child", target, host), lambda: self._env.resolve_child(target, host)
        )
        return resolved
