"""The `luaflow` command as a user runs it: clear errors on bad apps, durability across kill -9."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from luaflow.devserver import DevServer
from tests._process import Output, spawn

LUAFLOW = [sys.executable, "-m", "luaflow"]


def _luaflow(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LUAFLOW, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def _break(app: Path, old: str, new: str, file: str = "src/_index.yaml") -> None:
    path = app / file
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize(
    ("old", "new", "file", "expected"),
    [
        ("kind: workflow.lua", "kind: workflow.lua\n  bad: [", "src/_index.yaml", "invalid YAML"),
        ("worker: app:worker", "worker: app:wrker", "src/_index.yaml", "unknown entry app:wrker"),
        ("return { main = main }", "return { main = main", "src/order_workflow.lua", "syntax"),
        (
            "modules: [funcs, time, workflow]",
            "modules: [funcs, time, http]",
            "src/_index.yaml",
            'module "http" does I/O',
        ),
    ],
    ids=["bad-yaml", "unknown-reference", "lua-syntax", "forbidden-module"],
)
def test_bad_app_gives_one_clear_error(
    order_app: Path, old: str, new: str, file: str, expected: str
) -> None:
    _break(order_app, old, new, file)
    result = _luaflow("start", "app:order_workflow", "--app", str(order_app))
    assert result.returncode == 1
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    message = " ".join(lines)
    assert "Traceback" not in result.stderr
    assert expected in message
    assert "_index.yaml" in message  # the file is named
    if file.endswith(".lua"):
        assert "app:order_workflow" in message and "order_workflow.lua:" in message
    if expected != "invalid YAML":
        assert "app:order_workflow" in message or "app:worker" in message


def test_bad_input_json_is_rejected(order_app: Path) -> None:
    result = _luaflow("start", "app:order_workflow", "--app", str(order_app), "--input", "{x")
    assert result.returncode == 2
    assert "not valid JSON" in result.stderr


def test_start_wait_on_embedded_server(order_app: Path) -> None:
    """The README's first command: embedded server, workers in-process, result printed."""
    order = {"id": "o-9", "total": 5, "customer_id": "c-9", "shipping_address": "x", "delay": "1s"}
    result = _luaflow(
        "start",
        "app:order_workflow",
        "--app",
        str(order_app),
        "--input",
        json.dumps(order),
        "--wait",
        env={"TEMPORAL_ADDRESS": "embedded"},
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert json.loads(lines[-1]) == {
        "status": "completed",
        "payment_id": "pay-c-9-5",
        "tracking": "TRK-o-9",
    }
    assert "UI http://" in result.stderr
    assert (order_app / ".luaflow" / "temporal.db").exists()


async def test_worker_kill9_during_sleep(order_app: Path, dev_server: DevServer) -> None:
    """kill -9 the worker while the workflow sleeps; a new worker finishes it, and the
    charge activity ran exactly once."""
    env = {**os.environ, "TEMPORAL_ADDRESS": dev_server.address, "PYTHONUNBUFFERED": "1"}
    cmd = [*LUAFLOW, "run", str(order_app)]
    first = spawn(cmd, env)
    first_out = Output(first)
    workflow_id = f"kill9-{uuid.uuid4().hex}"
    order = {"id": "k-1", "total": 7, "customer_id": "c-k", "shipping_address": "y", "delay": "4s"}
    try:
        started = _luaflow(
            "start",
            "app:order_workflow",
            "--app",
            str(order_app),
            "--id",
            workflow_id,
            "--input",
            json.dumps(order),
            env={"TEMPORAL_ADDRESS": dev_server.address},
        )
        assert started.returncode == 0, started.stderr
        first_out.wait_for("charged", 30)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    assert first.returncode == -signal.SIGKILL

    second = spawn(cmd, env)
    second_out = Output(second)
    client = await Client.connect(dev_server.address)
    handle = client.get_workflow_handle(workflow_id)
    try:
        # The result needs the restarted worker: wait for it before stopping that worker.
        result = await asyncio.wait_for(handle.result(), 60)
    finally:
        second.send_signal(signal.SIGINT)
        second.wait(30)
    assert result["status"] == "completed"
    assert second.returncode == 0
    assert "shipped k-1" in second_out.text
    assert (first_out.text + second_out.text).count("charged") == 1
    history = await handle.fetch_history()
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert scheduled == ["app:charge_payment", "app:ship_order"]
    started_attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    assert started_attempts == [1, 1]


def test_host_logger_lines_are_printed(tmp_path: Path) -> None:
    """`logger` in host code goes to Python logging; the command prints info and up on stderr."""
    (tmp_path / "_index.yaml").write_text(
        'version: "1.0"\nnamespace: app\nentries:\n'
        "  - {name: hello, kind: function.lua, source: file://hello.lua, modules: [logger]}\n"
    )
    (tmp_path / "hello.lua").write_text(
        'local logger = require("logger")\n'
        "return function(name)\n"
        '    logger:debug("hidden")\n'
        '    logger:info("hello", {who = name})\n'
        "    return 1\n"
        "end\n"
    )
    out = _luaflow("call", "app:hello", "--app", str(tmp_path), "--input", '"ada"')
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1"
    assert 'INFO luaflow.app:hello: hello {"location":"hello.lua:4","pid":"{luaflow@' in out.stderr
    assert '"who":"ada"}' in out.stderr
    assert "hidden" not in out.stderr
    debug = _luaflow(
        "call", "app:hello", "--app", str(tmp_path), env={"LUAFLOW_LOG_LEVEL": "debug"}
    )
    assert "DEBUG luaflow.app:hello: hidden" in debug.stderr


async def test_ctrl_c_as_soon_as_the_worker_polls_stops_cleanly(order_app: Path) -> None:
    """The workers poll before `luaflow run` has started its HTTP service; Ctrl-C at that moment
    (or any later one) is a clean stop: exit 0, the embedded server stopped with it."""
    index = (order_app / "src/_index.yaml").read_text()
    queue = next(line.split(":")[1].strip() for line in index.splitlines() if "task_queue:" in line)
    env = {k: v for k, v in os.environ.items() if k != "TEMPORAL_ADDRESS"}
    env |= {"PYTHONUNBUFFERED": "1", "HTTP_ADDR": f"127.0.0.1:{_free_port()}"}
    record = order_app / ".luaflow" / "server.json"
    proc = subprocess.Popen(
        [*LUAFLOW, "run", str(order_app)], stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        async with asyncio.timeout(60):
            while not record.exists():  # written once the embedded server serves
                await asyncio.sleep(0.005)
            client = await Client.connect(json.loads(record.read_text())["address"])
            polls = TaskQueue(name=queue)
            request = DescribeTaskQueueRequest(namespace="default", task_queue=polls)
            while not (await client.workflow_service.describe_task_queue(request)).pollers:
                await asyncio.sleep(0.005)
    finally:
        proc.send_signal(signal.SIGINT)
        _, status = proc.communicate(timeout=30)
    assert proc.returncode == 0, status
    assert "Traceback" not in status
    assert "luaflow: stopping" in status
    # The server went with it: the state folder is free for the next run.
    server = DevServer(order_app / ".luaflow")
    await server.start()
    await server.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
