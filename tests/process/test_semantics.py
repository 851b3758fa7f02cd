"""Wippy's process semantics (CORE-MODULES 17) on a real server, each with the events it gives:
links and normal exits, cancel reasons, a workflow's send to a host PID returning at once,
listen identity, process.id, atomic spawn_monitored, raw task queues, upgrade in host code,
and registered names."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType

from luaflow.app import App
from luaflow.devserver import DevServer
from tests.conftest import ROOT
from tests.conftest import load_app as _load

HOSTFUNCS_APP = ROOT / "tests" / "apps" / "hostfuncs"

pytestmark = pytest.mark.server


@pytest.fixture
def queue() -> str:
    return f"q-{uuid.uuid4().hex}"


@pytest.fixture
async def app(tmp_path: Path, dev_server: DevServer, queue: str) -> AsyncIterator[App]:
    shutil.copytree(HOSTFUNCS_APP, tmp_path / "hostfuncs")
    async with _load(tmp_path / "hostfuncs", dev_server, queue) as running:
        await running.start()
        yield running


async def _call(app: App, entry: str, *args: Any) -> Any:
    return await asyncio.wait_for(app.call(entry, list(args)), 60)


async def test_links_hear_a_workflows_normal_end_not_a_host_processs(app: App) -> None:
    result = await _call(app, "app:link_exits")
    # monitor and link of a workflow that completed: EXIT, EXIT (no LINK_DOWN)
    exit_42 = {"kind": "pid.exit", "from": True, "value": 42}
    assert result["workflow"] == [exit_42, exit_42]
    # a host process that returned: its monitor's EXIT, then nothing from its link
    assert result["host"] == {"kind": "pid.exit", "from": True, "value": "v"}
    assert result["after"] == {"kind": "pid.exit", "from": True, "value": "marker"}


async def test_cancel_reason_reaches_the_workflow(app: App) -> None:
    result = await _call(app, "app:cancel_reason")
    assert result == {
        "kind": "pid.exit", "from": True, "value": {"kind": "pid.cancel", "reason": "enough"},
    }  # fmt: skip
    handle = await app.start_workflow("app:canceler")  # workflow -> workflow
    child = await asyncio.wait_for(handle.result(), 60)
    assert child == {"kind": "pid.cancel", "reason": "from the parent"}


async def test_a_workflows_send_to_a_host_pid_returns_at_once(app: App) -> None:
    result = await _call(app, "app:quick_sender")
    assert result["got"] == [1, 2] and result["from"] is True
    workflow_id = result["pid"].rsplit("|", 1)[1].rstrip("}")
    client = await app.any_client()
    handle = client.get_workflow_handle(workflow_id)
    assert await asyncio.wait_for(handle.result(), 60) == "ok"
    events = [e async for e in handle.fetch_history_events()]
    kinds = [e.event_type for e in events]
    timer = kinds.index(EventType.EVENT_TYPE_TIMER_STARTED)
    local = [
        i
        for i, e in enumerate(events)
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and e.marker_recorded_event_attributes.marker_name == "core_local_activity"
    ]
    # the worker running the run is on the host process's node: both messages are local
    # activities of its task, no activity goes through a task queue; the timer (after both
    # sends) was issued before either delivery finished, so the sends returned at once
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED not in kinds
    assert len(local) == 2 and timer < local[0]


async def test_listen_identity_process_id_and_upgrade_in_host_code(app: App) -> None:
    assert await _call(app, "app:ids") == {
        "id": "app:ids", "same": True, "empty": "topic cannot be empty",
        "at": "cannot listen to @ topics",
        "upgrade": [False, "Invalid", "process.upgrade is only available in workflows"],
    }  # fmt: skip
    handle = await app.start_workflow("app:workflow_ids")
    assert await asyncio.wait_for(handle.result(), 60) == {"id": "app:workflow_ids", "same": True}


async def test_spawn_monitored_attaches_before_the_child_runs(app: App) -> None:
    assert await _call(app, "app:fast_children", 30) == 30


async def test_a_raw_task_queue_host_gives_a_pid_naming_its_worker(app: App, queue: str) -> None:
    pid = await _call(app, "app:raw_queue", queue)
    assert pid.startswith("{app:client@app:worker|")
    handle = await app.start_workflow("app:raw_child", [queue])
    child = await asyncio.wait_for(handle.result(), 60)
    assert child.startswith("{app:client@app:worker|")


async def test_registered_names(app: App) -> None:
    assert await _call(app, "app:names") == {
        "found": True, "sent": True, "reply": ["pong", "hi", True],
        "taken": [True, "AlreadyExists"], "exit": "done",
        "gone": [True, "NotFound", "name not registered"],
        "mine": [True, True, True, False],
    }  # fmt: skip
