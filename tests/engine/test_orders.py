"""The seed's order workflow on a real Temporal server: success, refund, replay, failures."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from luaflow.app import App
from luaflow.devserver import DevServer, find_temporal_binary

pytestmark = pytest.mark.server

ORDER = {
    "id": "o-1",
    "total": 42,
    "customer_id": "c-1",
    "shipping_address": "1 Main St",
    "delay": "1s",
}


def _activity_types(history: object) -> list[str]:
    events = history.events  # type: ignore[attr-defined]
    return [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]


async def test_order_completes(order_app: Path, boot: Callable[[Path], App]) -> None:
    async with boot(order_app) as app:
        await app.start()
        handle = await app.start_workflow("app:order_workflow", [ORDER])
        result = await handle.result()
        assert result == {"status": "completed", "payment_id": "pay-c-1-42", "tracking": "TRK-o-1"}
        history = await handle.fetch_history()
        assert _activity_types(history) == ["app:charge_payment", "app:ship_order"]
        timers = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED]
        assert len(timers) == 1
        assert timers[0].timer_started_event_attributes.start_to_fire_timeout.seconds == 1


async def test_ship_failure_refunds(order_app: Path, boot: Callable[[Path], App]) -> None:
    async with boot(order_app) as app:
        await app.start()
        order = {**ORDER, "shipping_address": "", "delay": "10ms"}
        handle = await app.start_workflow("app:order_workflow", [order])
        result = await handle.result()
        assert result["status"] == "failed"
        assert "has no shipping address" in result["error"]
        history = await handle.fetch_history()
        assert _activity_types(history) == [
            "app:charge_payment",
            "app:ship_order",
            "app:refund_payment",
        ]


async def test_charge_error_keeps_kind(order_app: Path, boot: Callable[[Path], App]) -> None:
    (order_app / "src" / "strict.lua").write_text(
        """
        local funcs = require("funcs")
        return function(order)
            local payment, err = funcs.call("app:charge_payment", {amount = order.total})
            if err then return nil, err end
            return payment
        end
        """
    )
    index = order_app / "src" / "_index.yaml"
    index.write_text(
        index.read_text()
        + """
  - name: strict_workflow
    kind: workflow.lua
    source: file://strict.lua
    modules: [funcs]
    meta:
      temporal:
        workflow:
          worker: worker
"""
    )
    async with boot(order_app) as app:
        await app.start()
        handle = await app.start_workflow("app:strict_workflow", [{"total": -1}])
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result()
        cause = info.value.cause
        assert isinstance(cause, ApplicationError)
        assert cause.type == "Invalid"
        assert cause.non_retryable
        assert "invalid amount: -1" in cause.message


async def test_started_from_temporal_cli(
    order_app: Path, boot: Callable[[Path], App], dev_server: DevServer
) -> None:
    async with boot(order_app) as app:
        await app.start()
        _, type_name, task_queue = await app.workflow_target("app:order_workflow")
        workflow_id = f"cli-{uuid.uuid4().hex}"
        temporal = str(find_temporal_binary())
        address = ["--address", dev_server.address]
        start = [temporal, "workflow", "start", *address, "--type", type_name]
        start += ["--task-queue", task_queue, "--workflow-id", workflow_id]
        start += ["--input", json.dumps({**ORDER, "delay": "10ms"})]
        subprocess.run(start, check=True, capture_output=True, timeout=30)
        client = await app.any_client()
        result = await client.get_workflow_handle(workflow_id).result()
        assert result["status"] == "completed"
        show = subprocess.run(
            [temporal, "workflow", "show", *address, "--workflow-id", workflow_id, "-o", "json"],
            check=True,
            capture_output=True,
            timeout=30,
            text=True,
        )
        events = json.loads(show.stdout)["events"]
        kinds = [e["eventType"] for e in events]
        assert "EVENT_TYPE_TIMER_FIRED" in kinds
        assert kinds[-1] == "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"


REPLAY_SCRIPT = """
import asyncio, sys
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner
from luaflow.app import App
from luaflow.engine.temporal import LuaWorkflow, register_host, workflow_interceptors

async def main():
    app = App.load(sys.argv[1], report=lambda _: None,
                   environ={"TEMPORAL_ADDRESS": "127.0.0.1:1"})
    for worker in app.registry.by_kind("temporal.worker"):
        register_host(app.worker_host(worker))
    history = WorkflowHistory.from_json("wf", open(sys.argv[2]).read())
    replayer = Replayer(workflows=[LuaWorkflow], workflow_runner=UnsandboxedWorkflowRunner(),
                        interceptors=workflow_interceptors())
    try:
        await replayer.replay_workflow(history)
    except Exception as exc:
        print(f"REPLAY FAILED: {type(exc).__name__}: {exc}")
        sys.exit(3)
    print("REPLAY OK")

asyncio.run(main())
"""


def _replay(app_dir: Path, history_file: Path) -> subprocess.CompletedProcess[str]:
    """Replay a history in a fresh process, as a deploy check would."""
    return subprocess.run(
        [sys.executable, "-c", REPLAY_SCRIPT, str(app_dir), str(history_file)],
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_replay_and_nondeterminism(
    order_app: Path, boot: Callable[[Path], App], tmp_path: Path
) -> None:
    async with boot(order_app) as app:
        await app.start()
        handle = await app.start_workflow("app:order_workflow", [{**ORDER, "delay": "10ms"}])
        assert (await handle.result())["status"] == "completed"
        history = await handle.fetch_history()
    history_file = tmp_path / "history.json"
    history_file.write_text(history.to_json())

    ok = _replay(order_app, history_file)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "REPLAY OK" in ok.stdout

    # Swap the two activities: the recorded history no longer matches the code.
    source = order_app / "src" / "order_workflow.lua"
    text = source.read_text()
    swapped = (
        text.replace('"app:charge_payment"', '"app:TMP"')
        .replace('"app:ship_order"', '"app:charge_payment"')
        .replace('"app:TMP"', '"app:ship_order"')
    )
    source.write_text(swapped)
    bad = _replay(order_app, history_file)
    assert bad.returncode == 3, bad.stdout + bad.stderr
    assert "Nondeterminism" in bad.stdout or "nondeterminism" in bad.stdout.lower()
    assert "app:ship_order" in bad.stdout and "app:charge_payment" in bad.stdout


async def test_runaway_lua_fails_only_that_workflow(
    order_app: Path, boot: Callable[[Path], App]
) -> None:
    (order_app / "src" / "spin.lua").write_text(
        "return { main = function() while true do end end }\n"
    )
    index = order_app / "src" / "_index.yaml"
    index.write_text(
        index.read_text()
        + """
  - name: spin
    kind: workflow.lua
    source: file://spin.lua
    method: main
    meta:
      temporal:
        workflow:
          worker: worker
"""
    )
    async with boot(order_app) as app:
        await app.start()
        spin = await app.start_workflow("app:spin")
        good = await app.start_workflow("app:order_workflow", [{**ORDER, "delay": "10ms"}])
        with pytest.raises(WorkflowFailureError) as info:
            await spin.result()
        assert isinstance(info.value.cause, ApplicationError)
        # Which limit ends the loop first depends on the machine's load.
        limits = r"instruction budget exceeded|time limit exceeded"
        assert re.search(limits, info.value.cause.message)
        assert (await good.result())["status"] == "completed"
        described = await spin.describe()
        assert described.status == WorkflowExecutionStatus.FAILED
