"""Hostile workflow code and inputs on a real server: every case ends within its bound as a
failure or a result (never an endless workflow-task retry), and the worker then still serves a
healthy workflow with no Lua thread left spinning."""

from __future__ import annotations

import asyncio
import json
import re
import resource
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError

from luaflow.app import App
from luaflow.devserver import DevServer, find_temporal_binary
from tests.conftest import ROOT, load_app

pytestmark = pytest.mark.server

APP = ROOT / "tests" / "apps" / "hostile"


@pytest.fixture
async def app(tmp_path: Path, dev_server: DevServer) -> AsyncIterator[App]:
    folder = tmp_path / "hostile"
    shutil.copytree(APP, folder)
    async with load_app(folder, dev_server, f"q-{uuid.uuid4().hex}") as running:
        await running.start()
        yield running


async def _failure(handle: WorkflowHandle[Any, Any]) -> ApplicationError:
    """The workflow's failure (a failure, not a task retry: result() returns once it is one)."""
    with pytest.raises(WorkflowFailureError) as info:
        await asyncio.wait_for(handle.result(), 60)
    assert (await handle.describe()).status == WorkflowExecutionStatus.FAILED
    cause = info.value.cause
    assert isinstance(cause, ApplicationError)
    return cause


async def _healthy(app: App) -> None:
    """The worker still runs workflows, and no thread keeps a CPU busy afterwards."""
    handle = await app.start_workflow("app:case", ["healthy"])
    assert await asyncio.wait_for(handle.result(), 30) == "ok"
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    await asyncio.sleep(1.0)
    after = resource.getrusage(resource.RUSAGE_SELF)
    busy = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert busy < 0.5 * (time.monotonic() - started), f"{busy:.2f} s of CPU while idle"


def _task_failures(history: Any) -> int:
    return sum(
        1 for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
    )


@pytest.mark.parametrize(
    ("case", "limit"),
    [
        ("pattern", r"instruction budget exceeded|time limit exceeded"),
        ("eq_loop", r"instruction budget exceeded|time limit exceeded"),
    ],
)
async def test_runaway_lua_fails_the_workflow(app: App, case: str, limit: str) -> None:
    started = time.monotonic()
    handle = await app.start_workflow("app:case", [case])
    failure = await _failure(handle)
    assert re.search(limit, failure.message), failure.message
    assert time.monotonic() - started < 20
    assert _task_failures(await handle.fetch_history()) == 0
    await _healthy(app)


async def test_finalizers_and_floods_end(app: App) -> None:
    gc = await app.start_workflow("app:case", ["gc_loop"])
    assert await asyncio.wait_for(gc.result(), 30) == "finalizers ignored"
    printed = await app.start_workflow("app:case", ["print_flood"])
    assert await asyncio.wait_for(printed.result(), 30) == "printed"
    await _healthy(app)


async def test_json_past_the_memory_cap_is_an_error_of_that_call(app: App) -> None:
    handle = await app.start_workflow("app:case", ["json_bomb"])
    try:
        result = await asyncio.wait_for(handle.result(), 60)
    except WorkflowFailureError as exc:  # on a slow machine decoding outlasts the 1 s step
        assert isinstance(exc.cause, ApplicationError)
        assert "time limit exceeded" in exc.cause.message
    else:
        assert result.get("value") is None and "memory limit" in result["message"]
    await _healthy(app)


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("result_cycle", "cannot encode recursive table at result.self"),
        ("result_bytes", "string is not valid UTF-8 at the result.s"),
        ("result_big", "over the payload limit of 2.0 MiB"),
    ],
)
async def test_results_that_cannot_cross_fail_the_workflow(app: App, case: str, words: str) -> None:
    handle = await app.start_workflow("app:case", [case])
    failure = await _failure(handle)
    assert failure.type == "Invalid" and words in failure.message, failure.message
    assert _task_failures(await handle.fetch_history()) == 0


async def test_huge_error_is_recorded_cut(app: App) -> None:
    handle = await app.start_workflow("app:case", ["huge_error"])
    failure = await _failure(handle)
    assert "[cut: 3145728 characters]" in failure.message
    assert len(failure.message) < 64 * 1024


@pytest.mark.parametrize(
    ("case", "args", "words"),
    [
        ("sparse_arg", [], "cannot encode sparse array at argument 1"),
        ("big_arg", [], "argument 1 is 3.0 MiB as JSON, over the payload limit of 2.0 MiB"),
        (
            "bytes_result",
            [],
            "string is not valid UTF-8 at the result of activity app:bytes_result.s",
        ),
        ("send_cycle", [], "cannot encode recursive table at argument 1.self"),
    ],
)
async def test_values_that_cannot_cross_fail_the_call(
    app: App, case: str, args: list[Any], words: str
) -> None:
    handle = await app.start_workflow("app:case", [case, *args])
    result = await asyncio.wait_for(handle.result(), 60)
    assert result["kind"] == "Invalid" and words in result["message"], result
    await _healthy(app)


async def test_host_code_has_a_wall_clock_limit(app: App) -> None:
    started = time.monotonic()
    quick = await app.start_workflow("app:case", ["spin_activity", "app:quick_spin"])
    result = await asyncio.wait_for(quick.result(), 60)
    assert "time limit exceeded: ran over 0.3 s" in result["message"]
    assert "options.limits.max_execution_ms of app:quick_spin" in result["message"]
    assert time.monotonic() - started < 4
    started = time.monotonic()
    default = await app.start_workflow("app:case", ["spin_activity", "app:spin"])
    result = await asyncio.wait_for(default.result(), 60)
    assert "time limit exceeded: ran over 5 s" in result["message"]
    assert time.monotonic() - started < 12
    await _healthy(app)


@pytest.mark.parametrize("case", ["yield_bare", "yield_forged"])
async def test_user_yields_never_reach_the_scheduler(app: App, case: str) -> None:
    handle = await app.start_workflow("app:case", [case])
    failure = await _failure(handle)
    assert "attempt to yield from outside a coroutine" in failure.message
    assert "cases.lua:" in failure.message


async def test_yields_stay_inside_user_coroutines(app: App) -> None:
    handle = await app.start_workflow("app:case", ["yields_in_coroutines"])
    result = await asyncio.wait_for(handle.result(), 30)
    assert result["ok"] is False and "attempt to yield from outside a coroutine" in result["err"]
    assert (result["first"], result["second"]) == (2, 10)


async def _temporal(server: DevServer, *args: str) -> subprocess.CompletedProcess[str]:
    """The real `temporal` CLI, off the event loop (the worker runs on it: an update waits for
    the workflow's answer)."""
    cmd = [str(find_temporal_binary()), *args, "--address", server.address]
    return await asyncio.to_thread(subprocess.run, cmd, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    "payload",
    [
        ["--input-meta", "encoding=unknown/thing", "--input", '"x"'],
        ["--input-meta", "encoding=null", "--input", '"x"'],
        ["--input", "123456789012345678901234567890"],
        ["--input", "[" * 5000 + "]" * 5000],
    ],
    ids=["unknown-encoding", "null-encoding", "huge-integer", "deep-nesting"],
)
async def test_bad_inbound_payloads_are_refused_one_by_one(
    app: App, dev_server: DevServer, payload: list[str]
) -> None:
    handle = await app.start_workflow("app:case", ["collect"])
    wid = ["--workflow-id", handle.id]
    bad = await _temporal(dev_server, "workflow", "signal", *wid, "--name", "note", *payload)
    assert bad.returncode == 0, bad.stderr  # the server takes it; the workflow drops it
    good = await _temporal(
        dev_server, "workflow", "signal", *wid, "--name", "note", "--input", '"good"'
    )
    assert good.returncode == 0, good.stderr
    rejected = await _temporal(
        dev_server, "workflow", "update", "execute", *wid, "--name", "ask", *payload
    )
    assert rejected.returncode != 0 and "payload 1" in rejected.stderr + rejected.stdout
    answered = await _temporal(
        dev_server, "workflow", "update", "execute", *wid, "--name", "ask", "--input", "7"
    )
    assert answered.returncode == 0 and "7" in answered.stdout, answered.stderr
    done = await _temporal(dev_server, "workflow", "signal", *wid, "--name", "done")
    assert done.returncode == 0, done.stderr
    assert await asyncio.wait_for(handle.result(), 30) == ["good", 7]
    assert _task_failures(await handle.fetch_history()) == 0


async def test_bad_start_input_fails_the_workflow(app: App, dev_server: DevServer) -> None:
    wid = f"bad-input-{uuid.uuid4().hex}"
    client, _, queue = await app.workflow_target("app:case")
    started = await _temporal(
        dev_server, "workflow", "start", "--type", "app:case", "--task-queue", queue,
        "--workflow-id", wid, "--input", "123456789012345678901234567890",
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    handle = client.get_workflow_handle(wid)
    failure = await _failure(handle)
    assert failure.type == "Invalid" and "the workflow input: payload 1" in failure.message
    assert json.dumps(failure.message)  # one clear line
