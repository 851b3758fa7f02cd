"""`funcs` and futures in host code (CORE-MODULES 2-3) on a real server: calls in the caller's
context, chains down to an activity-backed workflow, futures in select, cancel, error kinds
across hops, executors, process entries called as functions, `workflow` outside workflows."""

from __future__ import annotations

import asyncio
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from luaflow.app import App
from luaflow.devserver import DevServer
from luaflow.lua import LuaflowError
from tests.conftest import ROOT
from tests.conftest import load_app as _load

HOSTFUNCS_APP = ROOT / "tests" / "apps" / "hostfuncs"

pytestmark = pytest.mark.server


@pytest.fixture
async def app(tmp_path: Path, dev_server: DevServer) -> AsyncIterator[App]:
    shutil.copytree(HOSTFUNCS_APP, tmp_path / "hostfuncs")
    async with _load(tmp_path / "hostfuncs", dev_server, f"q-{uuid.uuid4().hex}") as running:
        await running.start()
        yield running


async def _call(app: App, entry: str, *args: Any) -> Any:
    return await asyncio.wait_for(app.call(entry, list(args)), 60)


async def test_call_chain_down_to_an_activity_backed_workflow(app: App) -> None:
    """host -> host function -> host function -> workflow -> activity, and its error back."""
    assert await _call(app, "app:chain", 5) == {"id": "o-1", "paid": 5}
    assert await _call(app, "app:chain", 500) == {"kind": "Conflict", "message": "over the limit"}


async def test_calls_results_and_validation(app: App) -> None:
    assert await _call(app, "app:calls") == {"echo": "test input", "ok": True, "none": "no input"}
    assert await _call(app, "app:validation") == [
        ["Invalid", "function ID required"],
        ["Invalid", "namespace required in function ID"],
        ["Invalid", "name required in function ID"],
        [True, "Invalid"],
        [False, "bad argument #1 to call (string expected, got nil)"],
        ["NotFound"],  # no such entry
        ["NotFound"],  # a process.lua without meta.default_host
    ]


async def test_error_kinds_cross_the_call(app: App) -> None:
    kinds = await _call(app, "app:kinds")
    assert kinds["down"] == ["Unavailable", True, "down"]
    assert kinds["plain"] == ["Internal", "plain"]  # no kind: Internal across the boundary
    assert kinds["raised"][0] == "Internal" and "callees.lua:20: boom" in kinds["raised"][1]
    assert kinds["missing"][0] == "Internal" and 'require("json")' in kinds["missing"][1]
    assert kinds["nested"] == ["Conflict", "over the limit"]  # activity -> workflow -> 2 hosts


async def test_futures_results_errors_and_select(app: App) -> None:
    futures = await _call(app, "app:futures")
    assert futures == {
        "before": [False], "failed_before": False, "ok": True, "data": "test",
        "after": [True, True, False],
        # the error value arrives on the channel (ok = true); error() is Internal, same text
        "bad": [True, "NotFound", "NotFound", "Internal", "m", True],
    }  # fmt: skip
    raced = await _call(app, "app:select_futures")
    assert raced == {"order": ["first", "second", "third"], "same": True}


async def test_cancel_stops_the_callee(app: App) -> None:
    started = time.monotonic()
    result = await _call(app, "app:cancel")
    assert time.monotonic() - started < 10  # the callee sleeping 20 s was stopped
    assert result == {
        "cancelled": True, "canceled": True, "kind": "Canceled", "delivered": [True, "Canceled"],
    }  # fmt: skip


async def test_the_callers_other_coroutines_go_on(app: App) -> None:
    result = await _call(app, "app:waits_alone")
    assert result["r"] == "x" and result["ticks"] >= 5  # 20 ms ticks during a 400 ms call


async def test_executors_options_and_context(app: App) -> None:
    assert await _call(app, "app:executors") == {
        "distinct": True, "via_options": "x", "rejected": True,
        "ctx": {"request_id": "req-123", "user_id": 42, "is_admin": True},
        "merged": {"key1": "value1", "key2": "value2"},
        "nested": {"request_id": "nested-req-456"},  # inherited through a plain executor
    }  # fmt: skip


async def test_process_entries_with_a_default_host_are_functions(app: App) -> None:
    assert await _call(app, "app:processes_as_functions") == {
        "echo": "test input", "pid": True, "error": True, "kind": "Internal",
    }  # fmt: skip


async def test_fan_out_of_a_hundred_calls(app: App) -> None:
    assert await _call(app, "app:fan_out", 100) == 5050


async def test_modules_are_restricted_per_entry(app: App) -> None:
    with pytest.raises(LuaflowError, match=r'require\("funcs"\) is not declared'):
        await _call(app, "app:no_funcs")


async def test_workflow_module_outside_workflows(app: App) -> None:
    assert await _call(app, "app:outside_workflow") == {
        "info_kind": "Invalid", "length": 0, "size": 0, "exec_kind": "Invalid",
    }  # fmt: skip
