"""Messages into workflows on a real server: temporal CLI signals, workflow to workflow, cancel,
timers in select, and a worker kill -9 while a workflow waits in select."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateFailedError

from luaflow.devserver import DevServer, find_temporal_binary
from luaflow.engine.temporal._replay import fetch_history, replay_histories
from tests._process import Output, luaflow_run, spawn
from tests.conftest import load_app as _load

pytestmark = pytest.mark.server


def _temporal(server: DevServer, *args: str) -> None:
    cmd = [str(find_temporal_binary()), *args, "--address", server.address]
    subprocess.run(cmd, check=True, capture_output=True, timeout=30)


async def test_signal_from_temporal_cli(signals_app: Path, dev_server: DevServer) -> None:
    async with _load(signals_app, dev_server, f"q-{uuid.uuid4().hex}") as app:
        await app.start()
        handle = await app.start_workflow("app:approval", [{"id": "o1"}])
        _temporal(
            dev_server, "workflow", "signal", "--workflow-id", handle.id, "--name", "approve",
            "--input", json.dumps({"approved_by": "admin"}),
        )  # fmt: skip
        result = await handle.result()
        assert result == {"status": "approved", "by": "admin", "from": "", "reservation": "res-o1"}


async def test_cancel_message_and_timeout(signals_app: Path, dev_server: DevServer) -> None:
    async with _load(signals_app, dev_server, f"q-{uuid.uuid4().hex}") as app:
        await app.start()
        cancelled = await app.start_workflow("app:approval", [{"id": "o2"}])
        await cancelled.signal("cancel", {"reason": "customer asked"})
        assert await cancelled.result() == {"status": "cancelled", "reason": "customer asked"}
        timed = await app.start_workflow("app:approval", [{"id": "o3", "timeout": "1s"}])
        assert (await timed.result())["status"] == "timed_out"


async def test_workflow_to_workflow_round_trip(signals_app: Path, dev_server: DevServer) -> None:
    async with _load(signals_app, dev_server, f"q-{uuid.uuid4().hex}") as app:
        await app.start()
        ponger = await app.start_workflow("app:ponger")
        pinger = await app.start_workflow("app:pinger", [ponger.id])
        ping_result = await pinger.result()
        assert ping_result["reply"] == {"n": 2}
        pong_result = await ponger.result()
        # The reply went to the sender's PID, `{client@worker|id}` (R1), carried in a header.
        assert pong_result["from"] == ping_result["me"] == f"{{app:client@app:worker|{pinger.id}}}"
        missing = await app.start_workflow("app:pinger", ["no-such-workflow"])
        result = await missing.result()
        assert result["kind"] == "NotFound" and "workflow" in result["error"].lower()


async def test_cancel_request_is_an_event(signals_app: Path, dev_server: DevServer) -> None:
    async with _load(signals_app, dev_server, f"q-{uuid.uuid4().hex}") as app:
        await app.start()
        handle = await app.start_workflow("app:cancellable")
        await asyncio.sleep(0.5)
        await handle.cancel()
        assert await handle.result() == {"cancelled": True}
        assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED


async def test_kill9_while_waiting_in_select(signals_app: Path, dev_server: DevServer) -> None:
    """The worker dies while the workflow waits on a signal and a timer; after a restart the
    signal arrives and the workflow completes; the activity that had completed never reruns."""
    queue = f"q-{uuid.uuid4().hex}"
    cmd, env = luaflow_run(signals_app, dev_server.address, queue)
    first = spawn(cmd, env)
    first_out = Output(first)
    app = _load(signals_app, dev_server, queue)
    try:
        handle = await app.start_workflow("app:approval", [{"id": "k9", "timeout": "10m"}])
        first_out.wait_for("reserved k9", 30)
        await asyncio.sleep(1)  # the workflow task that starts the select completes
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    second = spawn(cmd, env)
    second_out = Output(second)
    try:
        _temporal(
            dev_server, "workflow", "signal", "--workflow-id", handle.id, "--name", "approve",
            "--input", json.dumps({"approved_by": "ops"}),
        )  # fmt: skip
        result = await asyncio.wait_for(handle.result(), 60)
    finally:
        second.send_signal(signal.SIGINT)
        second.wait(30)
        await app.stop()
    assert result["status"] == "approved" and result["by"] == "ops"
    assert (first_out.text + second_out.text).count("reserved k9") == 1


async def test_fan_out_with_futures_and_cancel(signals_app: Path, dev_server: DevServer) -> None:
    async with _load(signals_app, dev_server, f"q-{uuid.uuid4().hex}") as app:
        await app.start()
        handle = await app.start_workflow("app:fanout", [50])
        result = await asyncio.wait_for(handle.result(), 60)
        assert result == {
            "count": 50, "first": "res-f1", "last": "res-f50", "cancelled": True,
            "kind": "Canceled",
        }  # fmt: skip


async def test_luaflow_send_to_a_pid(signals_app: Path, dev_server: DevServer) -> None:
    queue = f"q-{uuid.uuid4().hex}"
    async with _load(signals_app, dev_server, queue) as app:
        await app.start()
        handle = await app.start_workflow("app:approval", [{"id": "s1"}])
        pid = f"{{app:client@app:worker|{handle.id}}}"
        env = {**os.environ, "TEMPORAL_ADDRESS": dev_server.address, "TASK_QUEUE": queue}
        sent = subprocess.run(
            [sys.executable, "-m", "luaflow", "send", pid, "approve", '{"approved_by": "cli"}',
             "--app", str(signals_app)],
            capture_output=True, text=True, timeout=60, env=env,
        )  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        result = await asyncio.wait_for(handle.result(), 30)
        assert result["by"] == "cli" and result["from"] == ""


async def test_child_workflows(signals_app: Path, dev_server: DevServer) -> None:
    async with _load(signals_app, dev_server, f"q-{uuid.uuid4().hex}") as app:
        await app.start()
        handle = await app.start_workflow("app:parent", [{"x": 2}])
        result = await asyncio.wait_for(handle.result(), 60)
        assert result["direct"] == {"doubled": 4}
        assert result["pid"].startswith("{app:client@app:worker|")
        assert result["exit_kind"] == "pid.exit" and result["exit_from"] == result["pid"]
        assert result["exit_value"] == {"doubled": 10}
        assert result["failed_from"] is True
        assert result["failed_kind"] == "Conflict" and result["exec_kind"] == "Conflict"
        assert "already shipped" in result["exec_message"]


async def test_upgrade_is_continue_as_new(signals_app: Path, dev_server: DevServer) -> None:
    async with _load(signals_app, dev_server, f"q-{uuid.uuid4().hex}") as app:
        await app.start()
        handle = await app.start_workflow("app:counter", [0, 3])
        result = await asyncio.wait_for(handle.result(), 60)
        assert result["n"] == 3 and result["runs_history"] < 10
        client = await app.any_client()
        for _ in range(50):  # visibility may lag a moment behind the runs
            runs = [w async for w in client.list_workflows(f'WorkflowId="{handle.id}"')]
            if len(runs) == 4:
                break
            await asyncio.sleep(0.1)
        assert len(runs) == 4  # the first run and three continuations


async def test_saga_compensates_in_reverse(signals_app: Path, dev_server: DevServer) -> None:
    async with _load(signals_app, dev_server, f"q-{uuid.uuid4().hex}") as app:
        await app.start()
        order = {"items": ["a", "b"], "payment": {"card": "visa"}, "shipping": {}}
        handle = await app.start_workflow("app:saga", [order])
        result = await asyncio.wait_for(handle.result(), 60)
        assert result["status"] == "failed" and result["step"] == "shipping"
        assert "no address" in result["error"]
        history = await handle.fetch_history()
        called = [
            e.activity_task_scheduled_event_attributes.activity_type.name
            for e in history.events
            if e.HasField("activity_task_scheduled_event_attributes")
        ]
        assert called == [
            "app:reserve_inventory", "app:charge_payment", "app:ship_order",
            "app:refund_payment", "app:release_inventory",
        ]  # fmt: skip
        ok = {**order, "shipping": {"address": "x"}}
        done = await app.start_workflow("app:saga", [ok])
        assert await done.result() == {"status": "completed", "tracking": "TRK-x"}


async def test_updates_are_messages_with_a_reply_address(
    signals_app: Path, dev_server: DevServer
) -> None:
    async with _load(signals_app, dev_server, f"q-{uuid.uuid4().hex}") as app:
        await app.start()
        handle = await app.start_workflow("app:approver")
        with pytest.raises(WorkflowUpdateFailedError) as info:
            await handle.execute_update("approve", {"amount": 500})
        assert "amount too large" in str(info.value.cause)
        # In a thread: the worker answering the update runs on this event loop.
        cli = await asyncio.to_thread(
            subprocess.run,
            [str(find_temporal_binary()), "workflow", "update", "execute", "--address",
             dev_server.address, "--workflow-id", handle.id, "--name", "approve",
             "--input", json.dumps({"amount": 42})],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert cli.returncode == 0, cli.stderr
        assert "approved:42" in cli.stdout
        assert await handle.result() == {"approved": 42}


async def test_with_context_reaches_the_activity(signals_app: Path, dev_server: DevServer) -> None:
    async with _load(signals_app, dev_server, f"q-{uuid.uuid4().hex}") as app:
        await app.start()
        handle = await app.start_workflow("app:ctxflow")
        assert await asyncio.wait_for(handle.result(), 60) == {
            "plain": {"missing": "NotFound"},
            "tagged": {"tenant": "t1", "all": {"tenant": "t1"}},
        }


async def test_every_history_of_this_app_replays(signals_app: Path, dev_server: DevServer) -> None:
    """Every finished run of the signals app on the session's server (the tests above, plus
    a few here) replays on the current code in this process: nothing in them is
    non-deterministic."""
    async with _load(signals_app, dev_server, f"q-{uuid.uuid4().hex}") as app:
        await app.start()
        for entry, args in [("app:parent", [{"x": 1}]), ("app:fanout", [5]), ("app:saga", [
            {"items": [], "payment": {"card": "declined"}, "shipping": {}}
        ])]:  # fmt: skip
            await asyncio.wait_for((await app.start_workflow(entry, args)).result(), 60)
        client = await app.any_client()
        types = set(app.worker_host(app.registry.get("app:worker")).workflows)
        ids = [
            wf.id
            async for wf in client.list_workflows('ExecutionStatus != "Running"')
            if wf.workflow_type in types
        ]
        histories = [await fetch_history(client, workflow_id) for workflow_id in set(ids)]
        results = await replay_histories(app, histories)
    assert len(results) >= 3
    failed = [r for r in results if not r.ok]
    assert not failed, "\n".join(r.explanation for r in failed)
    # The same gate a team runs before deploying: `luaflow replay` in a fresh process.
    args = [arg for workflow_id in sorted(set(ids)) for arg in ("--id", workflow_id)]
    env = {**os.environ, "TEMPORAL_ADDRESS": dev_server.address}
    fresh = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "luaflow", "replay", "--app", str(signals_app), *args],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert fresh.stdout.count("ok ") == len(set(ids))
