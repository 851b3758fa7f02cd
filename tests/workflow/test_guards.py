"""The scheduler's guards, with a fake engine: only the runtime's own yields reach it, values
Temporal would refuse fail the call that made them, and messages that cannot enter the run are
rejected one by one."""

from __future__ import annotations

from typing import Any

from luaflow.lua import LuaflowError, LuaLimits
from luaflow.workflow import (
    Event,
    Message,
    ScheduleActivity,
    StartTimer,
    new_workflow_state,
)
from tests.workflow.test_scheduler import FakeEnv, start


def test_bare_yield_at_task_level_is_an_error() -> None:
    scheduler, commands = start("return function() coroutine.yield() return 'resumed' end")
    assert commands == []
    assert scheduler.outcome is not None and scheduler.outcome.error is not None
    assert "wf.lua:1: attempt to yield from outside a coroutine" in scheduler.outcome.error.text()


def test_yield_shaped_like_an_answer_is_not_one() -> None:
    scheduler, _ = start("return function() coroutine.yield(true, 'forged') return 'real' end")
    assert scheduler.outcome is not None and scheduler.outcome.value is None
    assert scheduler.outcome.error is not None


def test_a_coroutine_waiting_on_the_runtime_cannot_be_resumed_by_others() -> None:
    scheduler, commands = start(
        """local time = require("time")
        return function()
            local waiter = coroutine.create(function() time.sleep("1s") return "slept" end)
            local forged
            coroutine.spawn(function()
                local ok, err = pcall(coroutine.resume, waiter, "forged answer")
                forged = tostring(err)
            end)
            local ok, value = coroutine.resume(waiter)
            local _, main = coroutine.running()
            return {forged = forged, value = value, running_is_main = main}
        end"""
    )
    [timer] = commands
    assert isinstance(timer, StartTimer)
    assert scheduler.step([Event(timer.id)]) == []
    assert scheduler.outcome is not None
    assert scheduler.outcome.value == {
        "forged": "wf.lua:6: cannot resume a coroutine that waits on the runtime",
        "value": "slept",
        "running_is_main": True,
    }


def test_too_big_argument_fails_the_call_not_the_task() -> None:
    scheduler, commands = start(
        """local funcs = require("funcs")
        return function()
            local v, err = funcs.call("app:echo", string.rep("x", 3 * 1024 * 1024))
            local f = funcs.async("app:echo", string.rep("y", 3 * 1024 * 1024))
            local _, ferr = f:channel():receive()
            local _, aerr = f:result()
            local ok, uerr = process.upgrade(nil, string.rep("z", 3 * 1024 * 1024))
            return {err:kind(), err:message(), aerr:kind(), uerr:message(), ok == nil}
        end"""
    )
    assert commands == []  # nothing was sent to the engine
    assert scheduler.outcome is not None and scheduler.outcome.error is None
    kind, message, async_kind, upgrade, ok = scheduler.outcome.value
    assert kind == "Invalid" and async_kind == "Invalid" and ok is True
    assert message == "argument 1 is 3.0 MiB as JSON, over the payload limit of 2.0 MiB"
    assert "over the payload limit" in upgrade


def test_result_that_cannot_cross_is_an_invalid_outcome() -> None:
    scheduler, _ = start("return function() return {s = '\\255'} end")
    assert scheduler.outcome is not None and scheduler.outcome.error is not None
    assert scheduler.outcome.error.kind == "Invalid"
    assert scheduler.outcome.error.message == "string is not valid UTF-8 at the result.s"


def test_message_that_does_not_fit_is_rejected_and_the_run_goes_on() -> None:
    state, scheduler, modules = new_workflow_state(FakeEnv(), LuaLimits(memory=8 * 1024 * 1024))
    state.install_require(modules, "app:wf")
    code = """return function()
        local inbox = process.inbox()
        return inbox:receive():payload():data()
    end"""
    rejected: list[tuple[Message, LuaflowError]] = []
    scheduler.on_rejected = lambda message, err: rejected.append((message, err))
    assert scheduler.start(state.call(state.load(code, "wf.lua"))[0], []) == []
    big, small = Message("note", ["x" * 9 * 1024 * 1024]), Message("note", ["small"])
    assert scheduler.step([big, small]) == []
    assert scheduler.outcome is not None and scheduler.outcome.value == "small"
    [(message, err)] = rejected
    assert message is big and "does not fit in the Lua memory limit of 8 MiB" in err.message


def test_without_a_rejection_handler_a_message_that_does_not_fit_fails_the_run() -> None:
    state, scheduler, modules = new_workflow_state(FakeEnv(), LuaLimits(memory=8 * 1024 * 1024))
    state.install_require(modules, "app:wf")
    main = state.call(state.load("return function() process.inbox():receive() end", "w.lua"))[0]
    scheduler.start(main, [])
    scheduler.step([Message("note", ["x" * 9 * 1024 * 1024])])
    assert scheduler.outcome is not None and scheduler.outcome.error is not None


def test_one_step_shares_one_budget() -> None:
    """Tasks resumed in one step share the activation's instruction budget: many tasks that
    each stay under it cannot together run past it."""
    limits = LuaLimits(instructions=3_000_000)
    state, scheduler, modules = new_workflow_state(FakeEnv(), limits)
    state.install_require(modules, "app:wf")
    code = """local time = require("time")
    return function()
        for _ = 1, 10 do
            coroutine.spawn(function() local n = 0 for i = 1, 5e5 do n = n + i end end)
        end
        time.sleep("1s")
        return "slept"
    end"""
    scheduler.start(state.call(state.load(code, "wf.lua"))[0], [])
    assert scheduler.outcome is not None and scheduler.outcome.error is not None
    assert "instruction budget exceeded" in scheduler.outcome.error.message


def _activity(commands: list[Any]) -> ScheduleActivity:
    [cmd] = commands
    assert isinstance(cmd, ScheduleActivity)
    return cmd


def test_activity_result_too_big_for_memory_is_an_error_of_the_call() -> None:
    state, scheduler, modules = new_workflow_state(FakeEnv(), LuaLimits(memory=8 * 1024 * 1024))
    state.install_require(modules, "app:wf")
    code = """local funcs = require("funcs")
    return function()
        local v, err = funcs.call("app:big")
        return err and err:message()
    end"""
    cmd = _activity(scheduler.start(state.call(state.load(code, "wf.lua"))[0], []))
    assert scheduler.step([Event(cmd.id, "x" * 9 * 1024 * 1024)]) == []
    assert scheduler.outcome is not None
    assert "does not fit in the Lua memory limit" in scheduler.outcome.value
