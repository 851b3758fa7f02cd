"""Channels, select, coroutine.spawn, timers and messages in the scheduler, with a fake engine."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from luaflow.lua import LuaflowError
from luaflow.workflow import (
    CANCEL_TOPIC,
    CancelActivity,
    Event,
    Message,
    ScheduleActivity,
    Scheduler,
    SignalExternal,
    StartTimer,
    new_workflow_state,
)
from tests.workflow.test_scheduler import FakeEnv


def start(code: str, *args: Any) -> tuple[Scheduler, list[Any]]:
    state, scheduler, modules = new_workflow_state(FakeEnv())
    state.install_require(modules, "app:wf")
    main = state.call(state.load(code, "wf.lua"))[0]
    return scheduler, scheduler.start(main, args)


def value(scheduler: Scheduler) -> Any:
    assert scheduler.outcome is not None, "workflow still running"
    assert scheduler.outcome.error is None, scheduler.outcome.error
    return scheduler.outcome.value


def test_unbuffered_channel_between_coroutines_is_fifo() -> None:
    scheduler, commands = start(
        """return function()
            local ch, out = channel.new(), {}
            coroutine.spawn(function() for i = 1, 3 do ch:send(i) end ch:close() end)
            while true do
                local v, ok = ch:receive()
                if not ok then break end
                out[#out + 1] = v
            end
            return out
        end"""
    )
    assert commands == []
    assert value(scheduler) == [1, 2, 3]


def test_buffered_channel_and_select_default() -> None:
    scheduler, _ = start(
        """return function()
            local ch = channel.new(2)
            ch:send("a") ch:send("b")
            local full = channel.select{ch:case_send("c"), default = true}
            local r1 = channel.select{ch:case_receive()}
            local empty = channel.new()
            local none = channel.select{empty:case_receive(), default = true}
            return {full.default, r1.value, r1.channel == ch, none.default}
        end"""
    )
    assert value(scheduler) == [True, "a", True, True]


def test_send_on_closed_channel_raises() -> None:
    scheduler, _ = start(
        """return function()
            local ch = channel.new(1)
            ch:close()
            local v, ok = ch:receive()
            local sent, err = pcall(function() ch:send(1) end)
            return {ok, sent, tostring(err):find("closed") ~= nil}
        end"""
    )
    assert value(scheduler) == [False, False, True]


def test_select_over_timer_and_signal() -> None:
    code = """local time = require("time")
        return function()
            local approvals = process.listen("approve")
            local timeout = time.after("30s")
            local r = channel.select{approvals:case_receive(), timeout:case_receive()}
            if r.channel == timeout then return "timed out" end
            return "approved by " .. r.value.by
        end"""
    scheduler, [timer] = start(code)
    assert isinstance(timer, StartTimer) and timer.duration == timedelta(seconds=30)
    scheduler.step([Message("approve", [{"by": "ann"}], "")])
    assert value(scheduler) == "approved by ann"

    scheduler, [timer] = start(code)
    scheduler.step([Event(timer.id, None)])
    assert value(scheduler) == "timed out"


def test_inbox_loop_of_the_seed() -> None:
    scheduler, _ = start(
        """return function(order)
            local inbox = process.inbox()
            local seen = {}
            while true do
                local msg = inbox:receive()
                local topic = msg:topic()
                seen[#seen + 1] = topic .. ":" .. msg:from()
                if topic == "approve" then
                    break
                elseif topic == "cancel" then
                    return {status = "cancelled", reason = msg:payload():data().reason}
                end
            end
            return {status = "approved", seen = seen}
        end""",
        {"id": 1},
    )
    assert scheduler.outcome is None
    scheduler.step([Message("note", ["x"], "{c@w|other}"), Message("approve", [{}], "")])
    assert value(scheduler) == {"status": "approved", "seen": ["note:{c@w|other}", "approve:"]}


def test_messages_wait_for_a_subscriber_and_several_payloads() -> None:
    scheduler, [timer] = start(
        """local time = require("time")
        return function()
            time.sleep("1s")
            local data = process.listen("pair"):receive()
            local msg = process.listen("one", {message = true}):receive()
            return {data, msg:payload():data(), msg:payload():get_format()}
        end"""
    )
    scheduler.step([Message("one", [7], ""), Message("pair", [1, "b"], "")])
    assert scheduler.outcome is None
    scheduler.step([Event(timer.id, None)])
    assert value(scheduler) == [[1, "b"], 7, "json/plain"]


def test_ticker_delivers_until_stopped() -> None:
    scheduler, [first] = start(
        """local time = require("time")
        return function()
            local ticker = time.ticker("1s")
            local n = 0
            for i = 1, 3 do ticker:channel():receive() n = n + 1 end
            return {n = n, stopped = ticker:stop()}
        end"""
    )
    [second] = scheduler.step([Event(first.id, None)])
    [third] = scheduler.step([Event(second.id, None)])
    assert isinstance(third, StartTimer)
    scheduler.step([Event(third.id, None)])
    assert value(scheduler) == {"n": 3, "stopped": True}


def test_parallel_activities_with_coroutines_and_send() -> None:
    scheduler, commands = start(
        """local funcs = require("funcs")
        return function()
            local results = channel.new(2)
            for _, name in ipairs({"app:a", "app:b"}) do
                coroutine.spawn(function() results:send(funcs.call(name)) end)
            end
            local first = results:receive()
            local second = results:receive()
            local got = {first, second}
            local ok, err = process.send("{c@w|peer}", "done", got)
            return {got = got, sent = ok}
        end"""
    )
    assert [c.activity_type for c in commands if isinstance(c, ScheduleActivity)] == [
        "app:a",
        "app:b",
    ]
    [signal] = scheduler.step([Event(commands[1].id, "B"), Event(commands[0].id, "A")])
    assert isinstance(signal, SignalExternal)
    assert (signal.workflow_id, signal.topic, signal.args) == ("peer", "done", [["B", "A"]])
    scheduler.step([Event(signal.id, None)])
    assert value(scheduler) == {"got": ["B", "A"], "sent": True}


def test_cancel_request_arrives_as_event_and_monitor_is_rejected() -> None:
    scheduler, _ = start(
        """return function()
            local ok, err = process.monitor("{c@w|x}")
            local ev = process.events():receive()
            return {ev.kind, ev.kind == process.event.CANCEL, ok == nil, err:message()}
        end"""
    )
    scheduler.step([Message(CANCEL_TOPIC, [], "")])
    assert value(scheduler) == [
        "pid.cancel",
        True,
        True,
        "process.monitor is not supported in workflow context",
    ]


def test_math_random_is_seeded_by_the_engine() -> None:
    code = "return function() return {math.random(1, 1000000), math.random()} end"
    first, _ = start(code)
    second, _ = start(code)
    assert value(first) == value(second)


@pytest.mark.parametrize(
    "call",
    ["channel.select{1}", "channel.new(-1)", 'time.timer("1h"):reset(0)', "coroutine.spawn(5)"],
)
def test_programming_errors_raise(call: str) -> None:
    scheduler, _ = start(f'local time = require("time") return function() {call} end')
    assert scheduler.outcome is not None and scheduler.outcome.error is not None


def test_uuid_and_crypto_are_replay_safe() -> None:
    code = """local uuid, crypto = require("uuid"), require("crypto")
        return function()
            local named = uuid.v5(uuid.NAMESPACE_DNS, "x")
            return {uuid.v4(), uuid.v7(), crypto.random.string(12), named}
        end"""
    first, _ = start(code)
    second, _ = start(code)
    assert value(first) == value(second)
    assert len(value(first)[0]) == 36


def test_futures_fan_out_and_cancel() -> None:
    scheduler, commands = start(
        """local funcs = require("funcs")
        return function()
            local futures = {}
            for i = 1, 3 do futures[i] = funcs.async("app:work", i) end
            local slow = funcs.new():with_options({["activity.heartbeat_timeout"] = "5s"})
            local doomed = slow:async("app:slow")
            local pending = {futures[1]:result()}
            local total = 0
            for i, f in ipairs(futures) do
                local p = f:response():receive()
                total = total + p:data()
            end
            local res, err = futures[2]:result()
            local cancelled = doomed:cancel()
            local again = doomed:cancel()
            local _, early = doomed:result()  -- right after cancel: Canceled, not pending
            local got, ok = doomed:response():receive()
            local _, cerr = doomed:result()
            return {total = total, pending = #pending, second = res:data(),
                    same = futures[2]:result() == res, cancelled = cancelled, again = again,
                    early = early:kind(), delivered = ok and got:kind(), kind = cerr:kind(),
                    is_canceled = doomed:is_canceled(), complete = futures[3]:is_complete()}
        end"""
    )
    work = [c for c in commands if isinstance(c, ScheduleActivity)]
    assert [c.activity_type for c in work] == ["app:work"] * 3 + ["app:slow"]
    assert work[3].options.heartbeat_timeout == timedelta(seconds=5)
    [cancel] = scheduler.step([Event(c.id, 10 * (i + 1)) for i, c in enumerate(work[:3])])
    assert isinstance(cancel, CancelActivity) and cancel.activity_command_id == work[3].id
    scheduler.step([Event(work[3].id, error=LuaflowError("canceled", "Canceled"))])
    assert value(scheduler) == {
        "total": 60, "pending": 0, "second": 20, "same": True, "cancelled": True,
        "again": True, "early": "Canceled", "delivered": "Canceled", "kind": "Canceled",
        "is_canceled": True, "complete": True,
    }  # fmt: skip


def test_failed_future_delivers_its_error_on_the_channel() -> None:
    scheduler, [call] = start(
        """local funcs = require("funcs")
        return function()
            local f = funcs.async("app:work")
            local before = {f:error()}
            local got, ok = f:response():receive()
            local _, err = f:result()
            local wrapped, failed = f:error()
            return {before = before[2], ok = ok, kind = got:kind(), result = err:kind(),
                    error = wrapped:kind(), message = wrapped:message(), failed = failed,
                    complete = f:is_complete(), canceled = f:is_canceled()}
        end"""
    )
    assert isinstance(call, ScheduleActivity)
    scheduler.step([Event(call.id, error=LuaflowError("no stock", "NotFound", False))])
    assert value(scheduler) == {
        "before": False, "ok": True, "kind": "NotFound", "result": "NotFound",
        "error": "Internal", "message": "no stock", "failed": True, "complete": True,
        "canceled": False,
    }  # fmt: skip


def test_ctx_and_with_context() -> None:
    scheduler, [cmd] = start(
        """local funcs, ctx = require("funcs"), require("ctx")
        return function()
            local ex = funcs.new():with_context({tenant = "t1"})
            ex:call("app:a")
            local _, missing = ctx.get("nope")
            return {ctx.get("request_id"), ctx.all().request_id, missing:kind()}
        end"""
    )
    assert isinstance(cmd, ScheduleActivity)
    assert cmd.context == {"request_id": "r-1", "tenant": "t1"}
    scheduler.step([Event(cmd.id, None)])
    assert value(scheduler) == ["r-1", "r-1", "NotFound"]


def test_long_running_run_survives_many_messages_and_collections() -> None:
    """Lua objects kept across steps (message factories, channel values) must not depend on
    the coroutine that produced them (regression: heap corruption after ~50 messages)."""
    import gc

    scheduler, _ = start(
        """return function()
            local inbox, ch, total = process.inbox(), channel.new(1), 0
            coroutine.spawn(function()
                while true do ch:send({n = inbox:receive():payload():data()}) end
            end)
            for i = 1, 600 do total = total + ch:receive().n end
            return total
        end"""
    )
    for i in range(600):
        scheduler.step([Message("m", [i], "")])
        if i % 50 == 0:
            gc.collect()
    assert value(scheduler) == sum(range(600))
