"""One Lua state per run: what a run does to its globals, the string library or its modules is
invisible to every other run, also while it sits parked in the worker's cache."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle

from luaflow.app import App
from luaflow.engine import Programs
from luaflow.registry import load_registry
from luaflow.workflow import Event, ScheduleActivity, StartTimer
from tests.workflow.test_scheduler import FakeEnv

INDEX = """version: "1.0"
namespace: app
entries:
  - name: client
    kind: temporal.client
    address: "${env:TEMPORAL_ADDRESS|embedded}"
    lifecycle: { auto_start: true }
  - name: worker
    kind: temporal.worker
    client: client
    task_queue: "${env:TASK_QUEUE|isolation}"
    lifecycle: { auto_start: true }
  - name: tamper
    kind: workflow.lua
    source: file://tamper.lua
    method: main
    modules: [funcs, time, json]
    meta: { temporal: { workflow: { worker: worker } } }
  - name: tamper_fn
    kind: function.lua
    source: file://tamper.lua
    method: host
    modules: [funcs, time, json]
    meta: { temporal: { activity: { worker: worker } } }
"""

#: Changes everything a run can reach (globals, the shared string metatable's library, the
#: standard tables, the module tables, the global table's metatable) and reports what it sees.
TAMPER = """
local funcs = require("funcs")
local time = require("time")
local json = require("json")

local function seen()
    return {
        global = type(LEAKED),
        upper = string.upper("a"),
        method_upper = ("a"):upper(),
        floor = math.floor(1.5),
        insert = type(table.insert),
        undefined = type(UNDEFINED_NAME),
        sleep = type(time.sleep),
        call = type(funcs.call),
        encode = json.encode({1}),
    }
end

local function tamper()
    LEAKED = "from another run"
    string.upper = function() return "tampered" end
    math.floor = function() return -1 end
    table.insert = nil
    time.sleep = nil
    funcs.call = nil
    json.encode = function() return "tampered" end
    setmetatable(_G, { __index = function() return "leaked" end })
end

-- The activity tampers with (or observes) a state of its own, then so does the workflow.
local function main(mode)
    local activity = funcs.call("app:tamper_fn", mode)
    if mode == "tamper" then
        local sleep = time.sleep
        tamper()
        sleep("1s")  -- parked in the worker's cache while the next run starts
    end
    return { workflow = seen(), activity = activity }
end

local function host(mode)
    if mode == "tamper" then tamper() end
    return seen()
end

return { main = main, host = host }
"""

PRISTINE = {
    "global": "nil",
    "upper": "A",
    "method_upper": "A",
    "floor": 1,
    "insert": "function",
    "undefined": "nil",
    "sleep": "function",
    "call": "function",
    "encode": "[1]",
}
TAMPERED = {
    "global": "string",
    "upper": "tampered",
    "method_upper": "tampered",
    "floor": -1,
    "insert": "nil",
    "undefined": "string",
    "sleep": "nil",
    "call": "nil",
    "encode": "tampered",
}


@pytest.fixture
def tamper_app(tmp_path: Path) -> Path:
    app = tmp_path / "isolation"
    app.mkdir()
    (app / "_index.yaml").write_text(INDEX)
    (app / "tamper.lua").write_text(TAMPER)
    return app


def test_parked_run_is_invisible_to_the_next(tamper_app: Path) -> None:
    """Run A tampers and parks in its timer; run B, started meanwhile, sees a pristine state;
    A, resumed afterwards, still sees its own changes (so the tampering did happen)."""
    registry = load_registry(tamper_app, {})
    programs = Programs(registry)
    entry = registry.get("app:tamper")

    tampering, main = programs.workflow(entry, FakeEnv())
    [call] = tampering.start(main, ["tamper"])
    assert isinstance(call, ScheduleActivity)
    [timer] = tampering.step([Event(call.id, "done")])
    assert isinstance(timer, StartTimer)

    observer, main = programs.workflow(entry, FakeEnv())
    [call] = observer.start(main, ["observe"])
    assert observer.step([Event(call.id, "done")]) == []
    assert observer.outcome is not None
    assert observer.outcome.value == {"workflow": PRISTINE, "activity": "done"}
    observer.close()

    assert tampering.step([Event(timer.id, None)]) == []
    assert tampering.outcome is not None
    assert tampering.outcome.value == {"workflow": TAMPERED, "activity": "done"}
    tampering.close()


def test_host_call_is_invisible_to_the_next(tamper_app: Path) -> None:
    """Function calls (activities, handlers) get a fresh state each, too."""
    registry = load_registry(tamper_app, {})
    programs = Programs(registry)
    entry = registry.get("app:tamper_fn")
    assert programs.call(entry, ["tamper"]) == TAMPERED
    assert programs.call(entry, ["observe"]) == PRISTINE


async def _parked(handle: WorkflowHandle[Any, Any]) -> None:
    """Until the run has started its timer: the worker then holds it in its cache."""
    while True:
        async for event in handle.fetch_history_events():
            if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
                return
        await asyncio.sleep(0.05)


@pytest.mark.server
async def test_cached_run_is_invisible_on_the_worker(
    tamper_app: Path, boot: Callable[[Path], App]
) -> None:
    """The same on a real worker: the tampering run stays cached (parked in its timer) while
    the next run of the same workflow type executes on that worker."""
    index = tamper_app / "_index.yaml"
    index.write_text(index.read_text().replace("isolation}", f"isolation-{uuid.uuid4().hex}}}"))
    async with boot(tamper_app) as app:
        await app.start()
        tampering = await app.start_workflow("app:tamper", ["tamper"])
        await asyncio.wait_for(_parked(tampering), 30)
        observer = await app.start_workflow("app:tamper", ["observe"])
        assert await observer.result() == {"workflow": PRISTINE, "activity": PRISTINE}
        assert await tampering.result() == {"workflow": TAMPERED, "activity": TAMPERED}
