"""The process basics and `funcs` without a server: workflow process semantics with a fake
engine, and host code run by run_host with a fake command runner and a handed clock."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from luaflow.lua import LuaflowError
from luaflow.workflow import (
    CANCEL_TOPIC,
    CallFunction,
    CancelCall,
    Command,
    DeliverHere,
    Event,
    HostEnv,
    Message,
    ScheduleActivity,
    Scheduler,
    StartTimer,
    new_host_state,
    new_workflow_run,
    run_host,
)
from tests.workflow.test_scheduler import FakeEnv

HOST_PID = "{luaflow@node.1|7}"


def start(code: str, *args: Any) -> tuple[Scheduler, list[Any]]:
    run = new_workflow_run(FakeEnv(), entry_id="app:wf")
    run.state.install_require(run.loaders(), "app:wf")
    main = run.settled(run.state.call(run.state.load(code, "wf.lua"))[0])
    return run.scheduler, run.scheduler.start(main, args)


def value(scheduler: Scheduler) -> Any:
    assert scheduler.outcome is not None, "workflow still running"
    assert scheduler.outcome.error is None, scheduler.outcome.error
    return scheduler.outcome.value


def test_listen_twice_is_one_channel_and_id_is_the_entry() -> None:
    scheduler, _ = start(
        """return function()
            local a, b = process.listen("t"), process.listen("t", {message = true})
            local _, empty = process.listen("")
            local _, at = process.listen("@t")
            return {same = a == b, id = process.id(), empty = empty:message(), at = at:message(),
                    raised = not pcall(process.listen, 5)}
        end"""
    )
    assert value(scheduler) == {
        "same": True, "id": "app:wf", "empty": "topic cannot be empty",
        "at": "cannot listen to @ topics", "raised": True,
    }  # fmt: skip


def test_cancel_request_carries_its_reason() -> None:
    code = """return function()
        local ev = process.events():receive()
        return {ev.kind, ev.reason}
    end"""
    scheduler, _ = start(code)
    scheduler.step([Message(CANCEL_TOPIC, ["enough"], "")])
    assert value(scheduler) == ["pid.cancel", "enough"]
    scheduler, _ = start(code)
    scheduler.step([Message(CANCEL_TOPIC, [""], "")])
    assert value(scheduler) == ["pid.cancel", "cancel requested"]


def test_send_to_a_host_pid_returns_at_once_and_keeps_order() -> None:
    scheduler, commands = start(
        f"""local time = require("time")
        return function()
            local a = process.send("{HOST_PID}", "step", 1)
            local b = process.send("{HOST_PID}", "step", 2)
            time.sleep("1s")
            return {{a, b}}
        end"""
    )
    first, timer = commands  # the sends did not wait: the timer is in the same batch
    assert isinstance(first, DeliverHere) and isinstance(timer, StartTimer)
    assert first.args[:3] == [HOST_PID, "step", [1]]
    [second] = scheduler.step([Event(first.id, True)])  # one at a time, in order
    assert isinstance(second, DeliverHere) and second.args[:3] == [HOST_PID, "step", [2]]
    assert scheduler.step([Event(timer.id)]) == []
    assert scheduler.outcome is None  # the body ended, its last message is still on its way
    scheduler.step([Event(second.id, True)])
    assert value(scheduler) == [True, True]


def test_a_pid_of_another_node_goes_through_its_queue_in_order() -> None:
    scheduler, [first] = start(
        f"""return function()
            process.send("{HOST_PID}", "step", 1)
            process.send("{HOST_PID}", "step", 2)
        end"""
    )
    assert isinstance(first, DeliverHere)
    # not this worker's node: the same message goes to the node's queue, and the second
    # message waits for that delivery
    [remote] = scheduler.step([Event(first.id, False)])
    assert isinstance(remote, ScheduleActivity) and remote.args == first.args
    assert remote.options.task_queue == "luaflow.node.node.1"
    [second] = scheduler.step([Event(remote.id, True)])
    assert isinstance(second, DeliverHere) and second.args[:3] == [HOST_PID, "step", [2]]
    assert scheduler.outcome is None
    scheduler.step([Event(second.id, True)])
    assert value(scheduler) is None


def test_a_failing_body_still_delivers_what_it_sent() -> None:
    scheduler, [delivery] = start(
        f"""return function()
            process.send("{HOST_PID}", "bye")
            error("boom")
        end"""
    )
    assert isinstance(delivery, DeliverHere) and scheduler.outcome is None
    scheduler.step([Event(delivery.id, error=LuaflowError("gone", "NotFound"))])
    assert scheduler.outcome is not None and scheduler.outcome.error is not None
    assert "wf.lua:3: boom" in scheduler.outcome.error.message


class _SkippingClock:
    """A clock that skips to the next timer instead of waiting for it."""

    def __init__(self) -> None:
        self.now = 0.0

    def now_ns(self) -> int:
        return int(self.now * 1e9)

    def monotonic(self) -> float:
        return self.now

    def wait_for(self, deadline: float) -> float:
        self.now = max(self.now, deadline)
        return 0.0


Runner = Callable[[Command, Callable[[Event], None]], None]


def _host(code: str, execute: Runner, env: HostEnv, *args: Any) -> Any:
    modules, loaders = new_host_state(env, entry_id="app:host")
    try:
        modules.state.install_require(loaders, "app:host")
        main = modules.state.call(modules.state.load(code, "host.lua"))[0]
        outcome = run_host(modules, main, args, env, execute)
    finally:
        modules.scheduler.close()
    if outcome.error is not None:
        raise outcome.error
    return outcome.value


def test_host_funcs_are_commands_answered_from_other_threads() -> None:
    seen: list[Command] = []

    def execute(command: Command, done: Callable[[Event], None]) -> None:
        seen.append(command)
        if isinstance(command, CallFunction):
            answer = Event(command.id, {"args": command.args, "ctx": command.context})
            if command.target == "app:fails":
                answer = Event(command.id, error=LuaflowError("nope", "Conflict", False))
            if command.target != "app:never":
                threading.Timer(0.01, done, [answer]).start()
        elif isinstance(command, CancelCall):  # the stopped callee answers Canceled
            done(Event(command.call_id, error=LuaflowError("canceled", "Canceled", False)))

    result = _host(
        """local funcs = require("funcs")
        return function()
            local ex = funcs.new():with_options({x = 1}):with_options({y = 2})
            local r = ex:with_context({b = 2}):call("app:one", "x")
            local f = funcs.async("app:fails")
            local got, ok = f:channel():receive()
            local never = funcs.async("app:never")
            never:cancel()
            local _, cerr = never:result()
            local stopped, sok = never:channel():receive()
            return {r = r, failed = {ok, got:kind()}, canceled = cerr:kind(),
                    stopped = {sok, stopped:kind()}}
        end""",
        execute,
        HostEnv(context_values={"a": 1}, pid_value="{p}"),
    )
    assert result == {
        "r": {"args": ["x"], "ctx": {"a": 1, "b": 2}}, "failed": [True, "Conflict"],
        "canceled": "Canceled", "stopped": [True, "Canceled"],
    }  # fmt: skip
    calls = [c for c in seen if isinstance(c, CallFunction)]
    assert [c.target for c in calls] == ["app:one", "app:fails", "app:never"]
    assert calls[0].options == {"y": 2}  # options replace, context merges
    [cancel] = [c for c in seen if isinstance(c, CancelCall)]
    assert cancel.call_id == calls[2].id


def test_host_timers_run_on_the_handed_clock() -> None:
    result = _host(
        """local time = require("time")
        return function()
            time.sleep("24h")
            return {"woke", os.time()}
        end""",
        lambda command, done: None,
        HostEnv(clock=_SkippingClock()),
    )
    assert result == ["woke", 24 * 3600]


def test_workflow_module_outside_workflows() -> None:
    result = _host(
        """local workflow = require("workflow")
        return function()
            local info, err = workflow.info()
            local r, xerr = workflow.exec("app:child")
            return {info == nil, err:kind(), workflow.history_length(), workflow.history_size(),
                    r == nil, xerr:kind()}
        end""",
        lambda command, done: None,
        HostEnv(),
    )
    assert result == [True, "Invalid", 0, 0, True, "Invalid"]


def test_process_and_payload_are_built_on_first_use() -> None:
    scheduler, _ = start(
        """return function()
            local before = {rawget(_G, "process") == nil, rawget(_G, "payload") == nil}
            local pid = process.pid()              -- the first read builds both
            local after = {rawget(_G, "process") ~= nil, rawget(_G, "payload") ~= nil}
            return {before = before, after = after, pid = pid,
                    same = require("process") == process and require("payload") == payload}
        end"""
    )
    assert value(scheduler) == {
        "before": [True, True], "after": [True, True], "pid": "{app:client@app:worker|wf-1}",
        "same": True,
    }  # fmt: skip


def test_a_globals_metatable_set_by_user_code_keeps_the_lazy_globals() -> None:
    # the strict-mode idiom: reading an undeclared global raises from then on
    scheduler, _ = start(
        """setmetatable(_G, {__index = function(_, k) error("undeclared " .. k, 2) end})
        return function()
            return {payload.new(1):data(), type(process.send), pcall(function() return nope end)}
        end"""
    )
    outcome = scheduler.outcome
    assert outcome is not None and outcome.error is None
    got = outcome.value
    assert got[:3] == [1, "function", False] and "undeclared nope" in str(got[3])


def test_a_message_before_any_use_of_process_is_kept_for_the_inbox() -> None:
    scheduler, [timer] = start(
        """local time = require("time")
        return function()
            time.sleep("1s")
            local msg = process.inbox():receive()
            return {msg:topic(), msg:payload():data()}
        end"""
    )
    assert isinstance(timer, StartTimer)
    # the message arrives while the run has not touched `process` yet
    assert scheduler.step([Message("hello", [42], "")]) == []
    scheduler.step([Event(timer.id)])
    assert value(scheduler) == ["hello", 42]


def test_process_first_used_in_a_coroutine_that_ended_closes_cleanly() -> None:
    # what Python keeps of a lazily built global must outlive the coroutine that built it
    scheduler, _ = start(
        """local pid = coroutine.wrap(function() return process.pid() end)()
        local junk = {}
        for i = 1, 20000 do junk[i] = {i} end  -- a collection cycle or two: the coroutine goes
        return function() return pid end"""
    )
    assert value(scheduler) == "{app:client@app:worker|wf-1}"
    scheduler.close()
