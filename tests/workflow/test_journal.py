"""A journaled run that hibernates (drops its Lua state) and is rebuilt from its inputs goes on
exactly as the run that kept its state, with a fake engine: no server."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from luaflow.lua import LuaflowError
from luaflow.workflow import (
    Command,
    Event,
    Journal,
    Message,
    RebuildError,
    Scheduler,
    WorkflowEnv,
    new_workflow_run,
)
from luaflow.workflow import _journal as journal_module
from tests.workflow.test_scheduler import FakeEnv

#: Reads time, randomness, uuids and patches, keeps globals across waits, spawns a coroutine
#: that talks over a channel, prints, and waits on activities, a timer and messages.
WORKFLOW = """
local funcs, time, uuid, workflow = require("funcs"), require("time"), require("uuid"),
    require("workflow")
seen = {}
return function(order)
    local started = time.now():unix_nano()
    local id = uuid.v4()
    local roll = math.random(1, 1000000)
    local ch = channel.new(1)
    coroutine.spawn(function() ch:send(funcs.call("app:charge", order.total).id) end)
    local paid = ch:receive()
    print("paid " .. paid)
    time.sleep("1h")
    local inbox = process.inbox()
    for _ = 1, 2 do
        local msg = inbox:receive()
        seen[#seen + 1] = msg:topic() .. "@" .. time.now():unix_nano()
    end
    local v = workflow.version("fast-path", 1, 2)
    return {started = started, id = id, roll = roll, paid = paid, seen = seen, version = v,
            printed = funcs.call("app:ship", paid) ~= nil}
end
"""


class MovingEnv(FakeEnv):
    """An engine whose clock, randomness and history move with every read, as a live one's do
    between activations: a rebuild that read it again would see other values."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def now_ns(self) -> int:
        self.reads += 1
        return super().now_ns() + self.reads * 1_000_000_000

    def random_bytes(self, n: int) -> bytes:
        self.reads += 1
        return bytes((self.reads + i) % 256 for i in range(n))

    def history_length(self) -> int:
        self.reads += 1
        return self.reads


def build_of(*codes: str) -> Callable[[WorkflowEnv], tuple[Scheduler, Any]]:
    """Builds of a run over `codes`: each build loads the next one, the last one again once they
    run out (two codes make a rebuild that runs other code than the run did)."""
    builds = itertools.count()

    def build(env: WorkflowEnv) -> tuple[Scheduler, Any]:
        run = new_workflow_run(env, entry_id="app:wf")
        run.state.install_require(run.loaders(), "app:wf")
        code = codes[min(next(builds), len(codes) - 1)]
        return run.scheduler, run.state.call(run.state.load(code, "wf.lua"))[0]

    return build


Answer = Callable[[list[Command], int], list[Event | Message]]


def answer(commands: list[Command], turn: int) -> list[Event | Message]:
    """The engine's reply to a turn's commands: each command's event, then turns 3-4 a message."""
    events: list[Event | Message] = [Event(c.id, {"id": f"p-{c.id}"}) for c in commands]
    if turn in (3, 4):
        events.append(Message(f"m{turn}", [turn]))
    return events


def drive(journal: Journal, hibernate: bool, replies: Answer = answer) -> tuple[Any, list[Any]]:
    """Run to the end; returns the result and each turn's commands (kind, id, args)."""
    commands = journal.start([{"total": 5}])
    turns = []
    turn = 0
    while journal.outcome is None:
        turns.append([(type(c).__name__, c.id, getattr(c, "args", None)) for c in commands])
        if hibernate:
            journal.hibernate()
            assert journal.hibernating
        turn += 1
        commands = journal.step(replies(commands, turn))
    assert journal.outcome.error is None, journal.outcome.error
    return journal.outcome.value, turns


@pytest.fixture
def rebuild_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every wait is a chance to hibernate: not only waits 10 s after the last rebuild, and
    whatever the run's CPU on a slow machine."""
    monkeypatch.setattr(journal_module, "REBUILT_RECENTLY", 0.0)
    monkeypatch.setattr(journal_module, "REBUILD_BUDGET", 10.0)


def test_a_rebuilt_run_goes_on_as_the_run_that_kept_its_state(rebuild_at_once: None) -> None:
    live_env, parked_env = MovingEnv(), MovingEnv()
    live = Journal(build_of(WORKFLOW), live_env)
    parked = Journal(build_of(WORKFLOW), parked_env)
    try:
        expected = drive(live, hibernate=False)
        assert drive(parked, hibernate=True) == expected
    finally:
        live.close()
        parked.close()
    result, turns = expected
    first, second = (int(seen.split("@")[1]) for seen in result["seen"])
    assert [seen.split("@")[0] for seen in result["seen"]] == ["m3", "m4"]
    assert result["started"] < first < second and result["version"] == 2
    # The rebuilds read nothing from the engine: it was asked what the live run asked.
    assert parked_env.reads == live_env.reads
    # print ran once per line, not again on each rebuild.
    assert parked_env.printed == live_env.printed == [f"paid {result['paid']}"]
    assert any(kind == "StartTimer" for turn in turns for kind, _, _ in turn)


def test_globals_set_before_hibernating_are_there_after(rebuild_at_once: None) -> None:
    code = """
    local time = require("time")
    return function()
        counter = 0
        for _ = 1, 3 do
            counter = counter + 1
            string.upper = function() return "patched " .. counter end
            time.sleep("1h")
        end
        return counter .. " " .. ("x"):upper()
    end"""
    journal = Journal(build_of(code), MovingEnv())
    try:
        value, turns = drive(journal, hibernate=True)
    finally:
        journal.close()
    assert value == "3 patched 3"
    assert [kind for turn in turns for kind, _, _ in turn] == ["StartTimer"] * 3


def test_a_run_that_reads_otherwise_on_rebuild_fails_its_task(rebuild_at_once: None) -> None:
    diverging = build_of(
        "return function() require('time').sleep('1h') return 1 end",
        "return function() local t = require('time'); t.now(); t.sleep('1h') end",
    )
    journal = Journal(diverging, MovingEnv())
    try:
        [timer] = journal.start([])
        journal.hibernate()
        with pytest.raises(RebuildError, match="read now_ns where the run read "):
            journal.step([Event(timer.id, None)])
        assert journal.hibernating
    finally:
        journal.close()


def test_a_run_waiting_for_other_commands_after_rebuild_fails_its_task(
    rebuild_at_once: None,
) -> None:
    diverging = build_of(
        "return function() require('time').sleep('1h') end",
        "return function() coroutine.spawn(function() require('time').sleep('5h') end) "
        "require('time').sleep('1h') end",
    )
    journal = Journal(diverging, MovingEnv())
    try:
        [timer] = journal.start([])
        journal.hibernate()
        with pytest.raises(RebuildError, match="does not wait for what the run waited for"):
            journal.step([Event(timer.id, None)])
    finally:
        journal.close()


def test_a_run_past_the_rebuild_budget_keeps_its_state(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journal_module, "REBUILT_RECENTLY", 0.0)
    monkeypatch.setattr(journal_module, "REBUILD_BUDGET", 0.0)
    journal = Journal(build_of("return function() require('time').sleep('1h') end"), MovingEnv())
    try:
        journal.start([])
        assert not journal.journaling and not journal.may_hibernate()
        journal.hibernate()
        assert not journal.hibernating
    finally:
        journal.close()


def test_a_run_rebuilt_a_moment_ago_keeps_its_state(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journal_module, "REBUILD_BUDGET", 10.0)
    code = "return function() local t = require('time'); t.sleep('1h'); t.sleep('1h') end"
    journal = Journal(build_of(code), MovingEnv())
    try:
        [timer] = journal.start([])
        assert journal.may_hibernate()  # never rebuilt
        journal.hibernate()
        [timer] = journal.step([Event(timer.id, None)])
        assert not journal.hibernating and not journal.may_hibernate()
        journal.hibernate()
        assert not journal.hibernating
    finally:
        journal.close()


def test_a_message_rejected_once_is_not_rejected_again_on_rebuild(rebuild_at_once: None) -> None:
    code = """
    local time = require("time")
    return function()
        local inbox = process.inbox()
        time.sleep("1h")
        return inbox:receive():payload():data()
    end"""
    rejected: list[str] = []
    journal = Journal(
        build_of(code), MovingEnv(), lambda message, err: rejected.append(message.topic)
    )
    try:
        [timer] = journal.start([])
        big = "x" * (64 * 1024 * 1024)  # past the run's memory: it cannot enter
        assert journal.step([Message("huge", [big])]) == []
        assert rejected == ["huge"]
        journal.hibernate()
        journal.step([Event(timer.id, None), Message("small", [7])])
        assert journal.outcome is not None and journal.outcome.value == 7
        assert rejected == ["huge"]
    finally:
        journal.close()


def test_errors_of_the_run_stay_errors_of_the_run(rebuild_at_once: None) -> None:
    code = """
    local time = require("time")
    return function()
        time.sleep("1h")
        error("boom")
    end"""
    journal = Journal(build_of(code), MovingEnv())
    try:
        [timer] = journal.start([])
        journal.hibernate()
        journal.step([Event(timer.id, None)])
        assert journal.outcome is not None
        assert isinstance(journal.outcome.error, LuaflowError)
        assert "boom" in journal.outcome.error.message
    finally:
        journal.close()


def test_without_a_place_for_rejected_messages_they_fail_the_run() -> None:
    """As a Scheduler without on_rejected: the journal adds no silent drop of its own."""
    code = "return function() return process.inbox():receive():payload():data() end"
    journal = Journal(build_of(code), MovingEnv())
    try:
        assert journal.start([]) == []
        journal.step([Message("huge", ["x" * (64 * 1024 * 1024)])])
        assert journal.outcome is not None and journal.outcome.error is not None
        assert "memory" in journal.outcome.error.message
    finally:
        journal.close()
