"""A run that waits only for messages, children or far timers drops its Lua state
(Journal.hibernate) and wakes with it rebuilt, on a real server: it goes on from where it was,
nothing in the history is done twice and no workflow task fails (unless the rebuild diverges:
then one task fails and the SDK's replay takes over)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError

from luaflow.devserver import DevServer
from luaflow.workflow import Command, Event, Journal, Message, RebuildError
from luaflow.workflow import _journal as journal_module
from tests.conftest import load_app

pytestmark = pytest.mark.server


@pytest.fixture(autouse=True)
def any_rebuild_cost(monkeypatch: pytest.MonkeyPatch) -> None:
    """These runs hibernate whatever their CPU on a busy machine (the budget has a unit test)."""
    monkeypatch.setattr(journal_module, "REBUILD_BUDGET", 10.0)


class Transitions:
    """What the worker's journals did, in order: ("hibernate", hibernating after the call) and
    ("step", hibernating before it, i.e. the step rebuilt the run)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.seen: list[tuple[str, bool]] = []
        hibernate, step = Journal.hibernate, Journal.step

        def spied_hibernate(journal: Journal) -> None:
            hibernate(journal)
            self.seen.append(("hibernate", journal.hibernating))

        def spied_step(journal: Journal, events: Sequence[Event | Message]) -> list[Command]:
            self.seen.append(("step", journal.hibernating))
            return step(journal, events)

        monkeypatch.setattr(Journal, "hibernate", spied_hibernate)
        monkeypatch.setattr(Journal, "step", spied_step)

    async def hibernated(self, times: int) -> None:
        """Until the worker (in this process) has hibernated a run `times` times."""
        while self.seen.count(("hibernate", True)) < times:
            await asyncio.sleep(0.02)


async def _events(handle: WorkflowHandle[Any, Any]) -> list[EventType.ValueType]:
    return [event.event_type async for event in handle.fetch_history_events()]


async def _until(handle: WorkflowHandle[Any, Any], kind: EventType.ValueType) -> None:
    while kind not in await _events(handle):
        await asyncio.sleep(0.05)


async def test_a_run_waiting_for_a_message_hibernates_and_wakes_where_it_was(
    signals_app: Path, dev_server: DevServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    transitions = Transitions(monkeypatch)
    async with load_app(signals_app, dev_server, f"q-{uuid.uuid4().hex}") as app:
        await app.start()
        # approval.lua: reserve (an activity), then select on the inbox and a 1 h timer.
        handle = await app.start_workflow("app:approval", [{"id": "h1", "timeout": "1h"}])
        # The task that started the timer completed after the run hibernated.
        await asyncio.wait_for(_until(handle, EventType.EVENT_TYPE_TIMER_STARTED), 30)
        assert ("hibernate", True) in transitions.seen
        await handle.signal("approve", {"approved_by": "ops"})
        result = await asyncio.wait_for(handle.result(), 30)
    # The reservation lived only in a Lua local of the state that was dropped.
    assert result == {"status": "approved", "by": "ops", "from": "", "reservation": "res-h1"}
    assert ("step", True) in transitions.seen  # the signal woke a hibernating run
    events = await _events(handle)
    assert events.count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) == 1
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in events


async def test_a_run_busy_with_an_activity_keeps_its_state(
    signals_app: Path, dev_server: DevServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run waiting for an activity (an answer any moment) or a near timer never hibernates."""
    transitions = Transitions(monkeypatch)
    async with load_app(signals_app, dev_server, f"q-{uuid.uuid4().hex}") as app:
        await app.start()
        handle = await app.start_workflow("app:approval", [{"id": "h2", "timeout": "1s"}])
        result = await asyncio.wait_for(handle.result(), 30)
    assert result == {"status": "timed_out", "reservation": "res-h2"}
    assert transitions.seen and ("hibernate", True) not in transitions.seen


async def test_updates_wake_a_run_that_hibernates_after_each(
    signals_app: Path, dev_server: DevServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """approver.lua naks large amounts and waits again: with every wait a chance to hibernate,
    each update rebuilds the run, whose replies to the earlier updates are not sent again."""
    monkeypatch.setattr(journal_module, "REBUILT_RECENTLY", 0.0)
    transitions = Transitions(monkeypatch)
    async with load_app(signals_app, dev_server, f"q-{uuid.uuid4().hex}") as app:
        await app.start()
        handle = await app.start_workflow("app:approver")
        for times, amount in enumerate((500, 300), 1):
            await asyncio.wait_for(transitions.hibernated(times), 30)
            with pytest.raises(WorkflowUpdateFailedError) as info:
                await handle.execute_update("approve", {"amount": amount})
            assert "amount too large" in str(info.value.cause)
        await asyncio.wait_for(transitions.hibernated(3), 30)
        reply = await handle.execute_update("approve", {"amount": 42})
        assert reply == {"approved": 42, "topic": "approve"}
        assert await handle.result() == {"approved": 42}
    woken = [hibernating for what, hibernating in transitions.seen if what == "step"]
    assert woken.count(True) == 3  # each update found the run hibernating
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in await _events(handle)


async def test_a_parent_hibernates_while_its_children_run(
    signals_app: Path, dev_server: DevServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """parent.lua waits on its children in turn (workflow.call, process.spawn with EXIT events,
    workflow.exec); each wait is a chance to hibernate (unless the next event is already
    there), and a child's start or end then rebuilds the run."""
    monkeypatch.setattr(journal_module, "REBUILT_RECENTLY", 0.0)
    transitions = Transitions(monkeypatch)
    async with load_app(signals_app, dev_server, f"q-{uuid.uuid4().hex}") as app:
        await app.start()
        handle = await app.start_workflow("app:parent", [{"x": 2}])
        result = await asyncio.wait_for(handle.result(), 60)
    assert result["direct"] == {"doubled": 4}
    assert result["exit_kind"] == "pid.exit" and result["exit_from"] == result["pid"]
    assert result["exit_value"] == {"doubled": 10} and result["failed_from"] is True
    assert result["failed_kind"] == "Conflict" and result["exec_kind"] == "Conflict"
    woken = [hibernating for what, hibernating in transitions.seen if what == "step"]
    assert woken.count(True) >= 1  # at least the first wait, on the first child's start
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in await _events(handle)


async def test_a_rebuild_that_diverges_fails_the_task_and_the_sdk_replays_the_run(
    signals_app: Path, dev_server: DevServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rebuilt run that does not reach where the old one was (here: made to fail once) fails
    its workflow task; the SDK evicts the run and replays it from its history, and it ends as it
    would have."""
    rebuild = Journal._rebuild
    failures: list[str] = []

    def diverging(journal: Journal) -> None:
        if not failures:
            failures.append("once")
            raise RebuildError("the rebuilt run does not wait for what the run waited for")
        rebuild(journal)

    monkeypatch.setattr(Journal, "_rebuild", diverging)
    async with load_app(signals_app, dev_server, f"q-{uuid.uuid4().hex}") as app:
        await app.start()
        handle = await app.start_workflow("app:approval", [{"id": "h3", "timeout": "1h"}])
        await asyncio.wait_for(_until(handle, EventType.EVENT_TYPE_TIMER_STARTED), 30)
        await handle.signal("approve", {"approved_by": "ops"})
        result = await asyncio.wait_for(handle.result(), 60)
    assert failures == ["once"]
    assert result == {"status": "approved", "by": "ops", "from": "", "reservation": "res-h3"}
    events = await _events(handle)
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED in events
    assert events.count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) == 1
