"""Host code starting and messaging workflows (B6), through `App.call` and `luaflow call/test`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from luaflow.devserver import DevServer
from luaflow.lua import LuaflowError
from tests.conftest import load_app as _load

pytestmark = pytest.mark.server


async def test_same_name_spawn_and_startup_messages(
    signals_app: Path,
    dev_server: DevServer,
) -> None:
    async with _load(signals_app, dev_server, f"q-{uuid.uuid4().hex}") as app:
        await app.start()
        name = f"collector-{uuid.uuid4().hex}"
        result = await app.call("app:host_spawn", [name])
        assert result["first"] == result["second"] == f"{{app:client@app:worker|{name}}}"
        client = await app.any_client()
        done = await asyncio.wait_for(client.get_workflow_handle(name).result(), 30)
        assert done["input"] == "first input"  # the second spawn's input is ignored
        assert [m["topic"] for m in done["messages"]] == ["a", "b", "c", "done"]
        assert [m["data"] for m in done["messages"][:3]] == [1, 2, 3]
        assert done["messages"][-1]["from"] == result["me"]  # the host PID, via a header
        assert done["request_id"] == "r-1"  # with_context reaches the workflow


async def test_explicit_id_with_fail_policy(signals_app: Path, dev_server: DevServer) -> None:
    async with _load(signals_app, dev_server, f"q-{uuid.uuid4().hex}") as app:
        await app.start()
        workflow_id = f"order-{uuid.uuid4().hex}"
        result = await app.call("app:host_fail", [workflow_id])
        assert result["pid"].endswith(f"|{workflow_id}}}") and result["first_err"] is False
        assert result.get("again") is None and result["kind"] == "AlreadyExists"


async def test_exec_and_errors(signals_app: Path, dev_server: DevServer) -> None:
    async with _load(signals_app, dev_server, f"q-{uuid.uuid4().hex}") as app:
        await app.start()
        assert await app.call("app:host_exec", [4]) == {"doubled": 8}
        with pytest.raises(LuaflowError) as info:
            await app.call("app:host_exec", ["not a number"])
        assert info.value.kind == "Internal" and "attempt to mul" in info.value.text()


def test_luaflow_call_and_test(signals_app: Path, dev_server: DevServer) -> None:
    env = {**os.environ, "TEMPORAL_ADDRESS": dev_server.address, "TASK_QUEUE": uuid.uuid4().hex}
    base = [sys.executable, "-m", "luaflow"]
    called = subprocess.run(
        [*base, "call", "app:host_exec", "--app", str(signals_app), "--input", "5"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert called.returncode == 0, called.stderr
    assert called.stdout.strip() == '{"doubled": 10}'
    tested = subprocess.run(
        [*base, "test", "--app", str(signals_app)],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert tested.returncode == 1
    lines = tested.stdout.splitlines()
    assert any(line.startswith("PASS app:passing_test (") for line in lines)
    assert any(
        line.startswith("FAIL app:failing_test (") and line.endswith("): returned false")
        for line in lines
    )
    assert lines[-1].startswith("1 passed, 1 failed in ")


async def test_monitor_and_link_from_host_code(signals_app: Path, dev_server: DevServer) -> None:
    async with _load(signals_app, dev_server, f"q-{uuid.uuid4().hex}") as app:
        await app.start()
        watched = await asyncio.wait_for(app.call("app:host_watch"), 60)
        assert watched["ok"] == {"kind": "pid.exit", "same": True, "value": {"doubled": 42}}
        assert watched["bad"] == {"kind": "pid.exit", "same": True, "error": "Conflict"}
        trapped = await asyncio.wait_for(app.call("app:host_link", [True]), 60)
        assert trapped == {"trapped": "pid.link.down", "from": True, "caught": False}
        with pytest.raises(LuaflowError, match="failed: already shipped") as killed:
            await asyncio.wait_for(app.call("app:host_link", [False]), 60)
        assert killed.value.kind == "Conflict"
