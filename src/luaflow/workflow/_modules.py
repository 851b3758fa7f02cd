"""Workflow variants of the Lua modules: every call that touches the outside world is a command."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from luaflow.lua import (
    Clock,
    LuaflowError,
    LuaLimits,
    LuaState,
    json_module,
    lua_table,
    time_module,
)
from luaflow.lua._errors import INVALID
from luaflow.lua._modules import lua_source
from luaflow.lua._runtime import ModuleLoader
from luaflow.lua._values import decode_str
from luaflow.workflow._commands import (
    ActivityOptions,
    ScheduleActivity,
    StartTimer,
    parse_activity_options,
)
from luaflow.workflow._scheduler import Scheduler, WorkflowEnv

_FUNCS_LUA = lua_source("funcs.lua", "luaflow.workflow")


def _text(value: Any) -> str:
    return str(decode_str(value)) if isinstance(value, bytes) else str(value)


def check_target(target: Any) -> str:
    """An activity/function id must be `namespace:name` (SPEC 2.1)."""
    text = _text(target) if target is not None else ""
    ns, sep, name = text.partition(":")
    if not text or not sep or not ns or not name:
        raise LuaflowError(f'invalid target "{text}": expected "namespace:name"', INVALID, False)
    return text


class WorkflowModules:
    """Builds the modules a workflow entry may `require`, bound to its scheduler and engine."""

    def __init__(self, state: LuaState, scheduler: Scheduler, env: WorkflowEnv) -> None:
        self.state = state
        self.scheduler = scheduler
        self.env = env

    def loaders(self) -> dict[str, ModuleLoader]:
        return {
            "funcs": lambda _: self.funcs(),
            "time": lambda _: self.time(),
            "workflow": lambda _: self.workflow(),
            "json": json_module,
        }

    def _fail(self, err: LuaflowError) -> tuple[None, Any]:
        return None, self.state.error_to_lua(err)

    # -- funcs -----------------------------------------------------------------------------------

    def _options(self, options: Any) -> ActivityOptions:
        if options is None:
            return ActivityOptions()
        return parse_activity_options(self.state.from_lua(options, "options"))

    def funcs(self) -> Any:
        state = self.state

        def schedule(site: bytes, target: Any, options: Any, *args: Any) -> Any:
            try:
                command = ScheduleActivity(
                    site=_text(site),
                    activity_type=check_target(target),
                    args=[state.from_lua(a, f"argument {i}") for i, a in enumerate(args, 1)],
                    options=self._options(options),
                )
            except LuaflowError as err:
                return self._fail(err)
            return self.scheduler.issue(command)

        def check_options(options: Any) -> Any:
            try:
                self._options(options)
            except LuaflowError as err:
                return self._fail(err)
            return True

        bridge = lua_table(state, {"check_options": check_options})
        bridge[b"schedule"] = state.awaiting(schedule)
        return state.call(state.load(_FUNCS_LUA.decode(), "luaflow/funcs.lua"), bridge)[0]

    # -- time ------------------------------------------------------------------------------------

    def time(self) -> Any:
        def timer(site: bytes, ns: int) -> Any:
            return self.scheduler.issue(
                StartTimer(site=_text(site), duration=timedelta(microseconds=int(ns) / 1000))
            )

        return time_module(
            self.state, Clock(now_ns=self.env.now_ns, sleep=self.state.awaiting(timer))
        )

    # -- workflow --------------------------------------------------------------------------------

    def workflow(self) -> Any:
        env, state = self.env, self.state
        return lua_table(
            state,
            {
                "info": lambda: state.to_lua(env.info()),
                "history_length": env.history_length,
                "history_size": env.history_size,
            },
        )


def new_workflow_state(
    env: WorkflowEnv, limits: LuaLimits | None = None
) -> tuple[LuaState, Scheduler, dict[str, ModuleLoader]]:
    """A fresh state for one workflow run: workflow time for os/time, quiet print on replay,
    and the workflow modules bound to its scheduler."""
    state = LuaState(limits=limits, clock=lambda: env.now_ns() / 1e9, printer=env.print)
    scheduler = Scheduler(state)
    return state, scheduler, WorkflowModules(state, scheduler, env).loaders()
