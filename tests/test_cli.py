"""The `luaflow` command as a user runs it: clear errors on bad apps, durability across kill -9."""

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
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from luaflow.engine.temporal import DevServer
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
