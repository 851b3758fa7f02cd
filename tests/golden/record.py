"""Record the golden histories: `python tests/golden/record.py` (rewrites tests/golden/*/).

Runs every workflow of the example app (examples/orders) and of the messaging test app
(tests/apps/signals) through a few scenarios on a fresh in-memory dev server, in real time with
short durations (the histories look like production ones), and exports each run, and each child
it started, with `temporal workflow show -o json` to `tests/golden/<app>/<scenario>.json`.

The histories are the contract with workflows already running in production: re-record them only
for a change that is meant to break replay (and then ship it behind `workflow.version`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import subprocess
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError

from luaflow.app import App
from luaflow.devserver import DevServer, find_temporal_binary

ROOT = Path(__file__).resolve().parents[2]


GOLDEN = Path(__file__).resolve().parent
ORDER = {"id": "o-1", "total": 42, "customer_id": "c-1", "shipping_address": "1 Main St"}

Handles = list[WorkflowHandle[Any, Any]]
#: Starts a scenario's workflows (the first one gets the given id) and returns their handles.
Scenario = Callable[[App, str], Awaitable[Handles]]


def started(entry: str, *args: Any) -> Scenario:
    async def run(app: App, workflow_id: str) -> Handles:
        return [await app.start_workflow(entry, list(args), workflow_id)]

    return run


def signalled(entry: str, arg: Any, topic: str, payload: Any) -> Scenario:
    async def run(app: App, workflow_id: str) -> Handles:
        handle = await app.start_workflow(entry, [arg], workflow_id)
        await handle.signal(topic, args=[payload])
        return [handle]

    return run


async def cancelled(app: App, workflow_id: str) -> Handles:
    handle = await app.start_workflow("app:cancellable", [], workflow_id)
    await _idle(handle)
    await handle.cancel()
    return [handle]


async def ping_pong(app: App, workflow_id: str) -> Handles:
    ponger = await app.start_workflow("app:ponger", [], f"{workflow_id}-ponger")
    pinger = await app.start_workflow("app:pinger", [ponger.id], workflow_id)
    return [pinger, ponger]


async def updated(app: App, workflow_id: str) -> Handles:
    handle = await app.start_workflow("app:approver", [], workflow_id)
    with contextlib.suppress(WorkflowUpdateFailedError):  # refused: part of the scenario
        await handle.execute_update("approve", {"amount": 500})
    await handle.execute_update("approve", {"amount": 42})
    return [handle]


async def notified(app: App, workflow_id: str) -> Handles:
    """A workflow messaging a host process of this node (through the delivery activity)."""
    collecting = asyncio.ensure_future(app.call("app:host_collect", [workflow_id, 2, "2s"]))
    handle = (await app.any_client()).get_workflow_handle(workflow_id)
    await _idle(handle)
    await handle.signal("go")
    await collecting
    return [handle]


async def to_process(app: App, workflow_id: str) -> Handles:
    """app:pinger talking to a host process rather than to a workflow."""
    result = await app.call("app:host_workflow_to_process")
    pinger_id = result["workflow"]["me"].rsplit("|", 1)[1].rstrip("}")
    return [(await app.any_client()).get_workflow_handle(pinger_id)]


SCENARIOS: dict[str, dict[str, Scenario]] = {
    "orders": {
        "order_completed": started("app:order_workflow", {**ORDER, "delay": "10ms"}),
        "order_invalid_amount": started("app:order_workflow", {**ORDER, "total": 0}),
        "approved_order": signalled(
            "app:approved_order", {**ORDER, "delay": "10ms"}, "approve", {"approved_by": "ops"}
        ),
        "approved_order_expired": started(
            "app:approved_order", {**ORDER, "approval_timeout": "1s"}
        ),
    },
    "signals": {
        "approval_approved": signalled(
            "app:approval", {"id": "g1"}, "approve", {"approved_by": "admin"}
        ),
        "approval_cancelled": signalled(
            "app:approval", {"id": "g2"}, "cancel", {"reason": "customer asked"}
        ),
        "approval_timed_out": started("app:approval", {"id": "g3", "timeout": "1s"}),
        "pinger": ping_pong,
        "pinger_to_process": to_process,
        "cancellable": cancelled,
        "fanout": started("app:fanout", 5),
        "parent": started("app:parent", {"x": 2}),
        "counter": started("app:counter", 0, 3),
        "saga_failed": started(
            "app:saga", {"items": ["a", "b"], "payment": {"card": "visa"}, "shipping": {}}
        ),
        "saga_completed": started(
            "app:saga",
            {"items": ["a"], "payment": {"card": "visa"}, "shipping": {"address": "x"}},
        ),
        "approver": updated,
        "ctxflow": started("app:ctxflow"),
        "collector": signalled("app:collector", "in", "done", None),
        "notifier": notified,
        "unreachable": started("app:unreachable"),
    },
}
APPS = {"orders": ROOT / "examples" / "orders", "signals": ROOT / "tests" / "apps" / "signals"}


async def _idle(handle: WorkflowHandle[Any, Any]) -> None:
    """Wait until the workflow has completed its first workflow task (it is waiting)."""
    for _ in range(200):
        try:
            history = await handle.fetch_history()
        except Exception:  # not started yet
            history = None
        if history is not None and any(
            e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED for e in history.events
        ):
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"workflow {handle.id} never became idle")


async def _export(
    client: Client, address: str, handle: WorkflowHandle[Any, Any], path: Path
) -> None:
    """`temporal workflow show -o json` of the run, and of each child it started."""
    history = await handle.fetch_history()
    show = subprocess.run(
        [str(find_temporal_binary()), "workflow", "show", "--address", address,
         "--workflow-id", handle.id, "--run-id", history.run_id, "-o", "json"],
        check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    json.loads(show.stdout)  # fail here, not in the test, on anything but JSON
    path.write_text(show.stdout, encoding="utf-8")
    children = [
        e.child_workflow_execution_started_event_attributes.workflow_execution
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED
    ]
    for n, child in enumerate(children, 1):
        child_handle = client.get_workflow_handle(child.workflow_id, run_id=child.run_id)
        await _export(client, address, child_handle, path.with_name(f"{path.stem}.child-{n}.json"))


async def record() -> None:
    with tempfile.TemporaryDirectory(prefix="luaflow-golden-") as scratch:
        server = DevServer(Path(scratch), persistent=False)
        await server.start()
        try:
            for name, scenarios in SCENARIOS.items():
                folder = GOLDEN / name
                folder.mkdir(exist_ok=True)
                for old in folder.glob("*.json"):
                    old.unlink()
                environ = {"TEMPORAL_ADDRESS": server.address}
                async with App.load(APPS[name], report=lambda _: None, environ=environ) as app:
                    await app.start()
                    client = await app.any_client()
                    for scenario, run in scenarios.items():
                        handles = await run(app, f"golden-{scenario}")
                        for n, handle in enumerate(handles, 1):
                            await asyncio.wait_for(handle.result(), 60)
                            stem = scenario if n == 1 else f"{scenario}.{n}"
                            await _export(client, server.address, handle, folder / f"{stem}.json")
                        print(f"recorded {name}/{scenario}")
        finally:
            await server.stop()


if __name__ == "__main__":
    logging.getLogger("temporalio").setLevel(logging.ERROR)  # failing activities are scenarios
    asyncio.run(record())
