"""The scheduler with a fake engine: commands out, events in, no server."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from luaflow.lua import LuaflowError
from luaflow.workflow import (
    Event,
    ScheduleActivity,
    Scheduler,
    StartTimer,
    new_workflow_state,
)


class FakeEnv:
    def __init__(self) -> None:
        self.printed: list[str] = []

    def now_ns(self) -> int:
        return 1_700_000_000 * 10**9

    def info(self) -> dict[str, Any]:
        return {"workflow_id": "wf-1", "attempt": 1}

    def history_length(self) -> int:
        return 3

    def history_size(self) -> int:
        return 100

    def print(self, text: str) -> None:
        self.printed.append(text)

    def pid(self) -> str:
        return "{app:client@app:worker|wf-1}"

    def random_bytes(self, n: int) -> bytes:
        return bytes(range(n))

    def patched(self, patch_id: str) -> bool:
        return True

    def context(self) -> dict[str, Any]:
        return {"request_id": "r-1"}

    def resolve_child(self, target: str, host: str | None) -> tuple[str, str, str]:
        return target, "queue", "{app:client@app:worker|"


def start(code: str, *args: Any) -> tuple[Scheduler, list[Any]]:
    state, scheduler, modules = new_workflow_state(FakeEnv())
    state.install_require(modules, "app:wf")
    main = state.call(state.load(code, "wf.lua"))[0]
    return scheduler, scheduler.start(main, args)


def test_activity_call_round_trip() -> None:
    scheduler, commands = start(
        """local funcs = require("funcs")
        return function(order)
            local r, err = funcs.call("app:charge", {amount = order.total}, "x")
            if err then return nil, err end
            return {paid = r.id}
        end""",
        {"total": 5},
    )
    [cmd] = commands
    assert isinstance(cmd, ScheduleActivity)
    assert cmd.activity_type == "app:charge"
    assert cmd.args == [{"amount": 5}, "x"]
    assert cmd.options.start_to_close_timeout == timedelta(minutes=10)
    assert cmd.site == "wf.lua:3"
    assert scheduler.step([Event(cmd.id, {"id": "p1"})]) == []
    assert scheduler.outcome is not None and scheduler.outcome.value == {"paid": "p1"}


def test_activity_error_comes_back_as_err() -> None:
    scheduler, [cmd] = start(
        """local funcs = require("funcs")
        return function()
            local _, err = funcs.call("app:charge")
            return {kind = err:kind(), text = tostring(err), retry = err:retryable()}
        end"""
    )
    scheduler.step([Event(cmd.id, error=LuaflowError("no card", "Invalid", False))])
    assert scheduler.outcome is not None
    assert scheduler.outcome.value == {"kind": "Invalid", "text": "no card", "retry": False}


def test_options_and_timer() -> None:
    scheduler, [cmd] = start(
        """local funcs, time = require("funcs"), require("time")
        return function()
            local ex = funcs.new():with_options({
                ["activity.start_to_close_timeout"] = "5s",
                ["temporal.activity.retry_policy"] = {maximum_attempts = 3, initial_interval = 200},
            })
            ex:call("app:a")
            time.sleep("1m30s")
            return "done"
        end"""
    )
    assert isinstance(cmd, ScheduleActivity)
    assert cmd.options.start_to_close_timeout == timedelta(seconds=5)
    assert cmd.options.retry_policy is not None
    assert cmd.options.retry_policy.maximum_attempts == 3
    assert cmd.options.retry_policy.initial_interval == timedelta(milliseconds=200)
    [timer] = scheduler.step([Event(cmd.id, None)])
    assert isinstance(timer, StartTimer) and timer.duration == timedelta(seconds=90)
    scheduler.step([Event(timer.id, None)])
    assert scheduler.outcome is not None and scheduler.outcome.value == "done"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ('funcs.call("")', "function ID required"),
        ('funcs.call("charge")', "namespace required in function ID"),
        ('funcs.async("app:")', "name required in function ID"),
        (
            'funcs.new():with_options({["activity.start_to_close_timeout"] = "soon"})',
            "activity.start_to_close_timeout",
        ),
        (
            'funcs.new():with_options({["activity.retry_policy"] = {maximum_attempts = -1}})',
            "activity.retry_policy.maximum_attempts",
        ),
    ],
)
def test_invalid_calls_schedule_nothing(call: str, message: str) -> None:
    scheduler, commands = start(
        f"""local funcs = require("funcs")
        return function()
            local r, err = {call}
            return {{kind = err:kind(), text = err:message()}}
        end"""
    )
    assert commands == []
    assert scheduler.outcome is not None
    assert scheduler.outcome.value["kind"] == "Invalid"
    assert message in scheduler.outcome.value["text"]


def test_failures_become_outcome_errors() -> None:
    scheduler, _ = start(
        'return function() return nil, errors.new({message = "x", kind = "Conflict"}) end'
    )
    assert scheduler.outcome is not None and scheduler.outcome.error is not None
    assert scheduler.outcome.error.kind == "Conflict"
    scheduler, _ = start("return function() local t = nil; return t.x end")
    assert scheduler.outcome is not None and scheduler.outcome.error is not None
    assert scheduler.outcome.error.kind == "Internal"
    assert "wf.lua:1: attempt to index" in scheduler.outcome.error.message


def test_workflow_module_and_time_read_the_engine() -> None:
    scheduler, _ = start(
        """local workflow, time = require("workflow"), require("time")
        return function()
            return {id = workflow.info().workflow_id, len = workflow.history_length(),
                    now = time.now():unix(), os = os.time()}
        end"""
    )
    assert scheduler.outcome is not None
    assert scheduler.outcome.value == {
        "id": "wf-1",
        "len": 3,
        "now": 1_700_000_000,
        "os": 1_700_000_000,
    }


def test_runtime_calls_work_inside_user_coroutines() -> None:
    scheduler, [cmd] = start(
        """local funcs = require("funcs")
        return function()
            local co = coroutine.wrap(function() return funcs.call("app:inner") end)
            return co()
        end"""
    )
    assert isinstance(cmd, ScheduleActivity) and cmd.activity_type == "app:inner"
    scheduler.step([Event(cmd.id, 41)])
    assert scheduler.outcome is not None and scheduler.outcome.value == 41
