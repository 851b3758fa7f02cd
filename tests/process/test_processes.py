"""Host processes with mailboxes on a real server: host <-> host, host <-> workflow round trips
with the right `from()`, and a workflow's message to a host PID delivered exactly once across a
worker kill -9 and replay."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from luaflow.devserver import DevServer
from tests._process import Output, luaflow_run, spawn
from tests.conftest import ROOT
from tests.conftest import load_app as _load

SERVICES_APP = ROOT / "tests" / "apps" / "services"

pytestmark = pytest.mark.server


async def test_host_processes_talk_to_each_other(signals_app: Path, dev_server: DevServer) -> None:
    async with _load(signals_app, dev_server, f"q-{uuid.uuid4().hex}") as app:
        await app.start()
        result = await asyncio.wait_for(app.call("app:host_local"), 60)
    assert "error" not in result["exit"], result["exit"]["error"]
    by = result["exit"]["value"].pop("by")
    assert by.startswith("{luaflow@")
    assert result == {
        "reply": "p:hello", "reply_from": True,
        "exit": {"same": True, "value": {"canceled": "enough"}, "by_me": True},
        "terminated": {"same": True, "kind": "Canceled"},
        "late": {"kind": "NotFound"},  # ok is nil
    }  # fmt: skip


async def test_host_function_and_workflow_round_trips(
    signals_app: Path, dev_server: DevServer
) -> None:
    async with _load(signals_app, dev_server, f"q-{uuid.uuid4().hex}") as app:
        await app.start()
        # host function -> workflow -> reply into the function's mailbox
        pong = await app.start_workflow("app:ponger")
        pid = f"{{app:client@app:worker|{pong.id}}}"
        pinged = await asyncio.wait_for(app.call("app:host_ping", [pid]), 60)
        assert pinged["reply"] == {"n": 2}
        assert pinged["me"].startswith("{luaflow@")
        assert await pong.result() == {"from": pinged["me"]}
        # workflow -> host process -> reply to the workflow
        both = await asyncio.wait_for(app.call("app:host_workflow_to_process"), 60)
        assert both["workflow"]["reply"] == {"n": 2}
        assert both["process_saw"] is True and both["process_pid"] is True
        # a host PID nobody serves: the send returns at once (Wippy); the run ends once the
        # delivery has given up (its activity timed out in the history)
        handle = await app.start_workflow("app:unreachable")
        gone = await asyncio.wait_for(handle.result(), 60)
        assert gone == {"ok": True}
        kinds = [e.event_type async for e in handle.fetch_history_events()]
        assert EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT in kinds


async def _delivered(client: Client, workflow_id: str) -> int:
    count = 0
    try:
        async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                count += 1
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:  # not started yet
            raise
    return count


async def test_workflow_to_host_message_once_across_worker_kill(
    signals_app: Path, dev_server: DevServer
) -> None:
    """The worker running the workflow dies after the first message reached the host process;
    the restarted worker replays the run and sends only the second one."""
    queue = f"q-{uuid.uuid4().hex}"
    cmd, env = luaflow_run(signals_app, dev_server.address, queue)
    first = spawn(cmd, env)
    workflow_id = f"notify-{uuid.uuid4().hex}"
    app = _load(signals_app, dev_server, queue)
    try:
        await app.start(workers=False)  # this process only hosts the collecting function
        collecting = asyncio.create_task(app.call("app:host_collect", [workflow_id, 2, "3s"]))
        client = await app.any_client()
        for _ in range(600):
            if await _delivered(client, workflow_id) >= 1:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the first message was never delivered")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        second = spawn(cmd, env)
        try:
            await client.get_workflow_handle(workflow_id).signal("go")
            got = await asyncio.wait_for(collecting, 90)
            assert await client.get_workflow_handle(workflow_id).result() == "ok"
        finally:
            second.send_signal(signal.SIGINT)
            second.wait(30)
    finally:
        if first.poll() is None:
            first.kill()
        await app.stop()
    assert got == [
        {"topic": "step", "data": 1, "from_workflow": True},
        {"topic": "step", "data": 2, "from_workflow": True},
    ]
    assert await _delivered(client, workflow_id) == 2


def test_process_services_under_luaflow_run(tmp_path: Path, dev_server: DevServer) -> None:
    """`luaflow run` starts auto-start process.service entries: one talks to a workflow and is
    cancelled at shutdown, one fails and is restarted until `max_attempts`."""
    app_dir = tmp_path / "services"
    shutil.copytree(SERVICES_APP, app_dir)
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": dev_server.address,
        "TASK_QUEUE": f"q-{uuid.uuid4().hex}",
        "PYTHONUNBUFFERED": "1",
        "COLUMNS": "200",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "luaflow", "run", str(app_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    out = Output(proc)
    try:
        out.wait_for("greeter got hello back", 60)
        out.wait_for("service app:flaky_service: giving up after 2 failure(s)", 30)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    assert proc.returncode == 0, out.text
    assert "service app:greeter_service is running: app:greeter as {luaflow@" in out.text
    assert out.text.count("service app:flaky_service failed: ") == 2
    assert "boom" in out.text
    assert "greeter stopping: pid.cancel shutdown" in out.text
