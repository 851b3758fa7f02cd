"""Wippy's typed Lua on a real server: a workflow, its activities and a shared types library
written with annotations, `type` statements with validators, `T:is`, `string(x)` and `as` casts."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError

from luaflow.devserver import DevServer
from luaflow.engine.temporal import from_failure
from tests.conftest import ROOT
from tests.conftest import load_app as _load

pytestmark = pytest.mark.server

ORDER = {
    "id": "o-1",
    "customer": "c-1",
    "lines": [{"sku": "ABC-1", "qty": 2}, {"sku": "XYZ-22", "qty": 2, "note": "gift"}],
}


@pytest.fixture
def typed_app(tmp_path: Path) -> Path:
    app = tmp_path / "typed"
    shutil.copytree(ROOT / "tests" / "apps" / "typed", app)
    return app


async def test_typed_workflow_runs_and_replays(typed_app: Path, dev_server: DevServer) -> None:
    async with _load(typed_app, dev_server, f"q-{uuid.uuid4().hex}") as app:
        await app.start()
        handle = await app.start_workflow("app:typed_order", [ORDER])
        assert await asyncio.wait_for(handle.result(), 60) == {
            "status": "ok",
            "receipt": "o-1: 2500 USD",
        }
        history = await handle.fetch_history()
        done = [
            e
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
        ]
        assert len(done) == 2
        bad = {**ORDER, "lines": [{"sku": "ABC-1", "qty": 0}]}
        invalid = await app.start_workflow("app:typed_order", [bad])
        assert await asyncio.wait_for(invalid.result(), 60) == {
            "status": "invalid",
            "error": "lines[1].qty: value below minimum",
        }
    env = {**os.environ, "TEMPORAL_ADDRESS": dev_server.address}
    fresh = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "luaflow", "replay", "--app", str(typed_app), "--id", handle.id],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert f"ok {handle.id}" in fresh.stdout


async def test_runtime_error_names_the_original_line(
    typed_app: Path, dev_server: DevServer
) -> None:
    async with _load(typed_app, dev_server, f"q-{uuid.uuid4().hex}") as app:
        await app.start()
        handle = await app.start_workflow("app:broken", [{"name": "x"}])
        with pytest.raises(WorkflowFailureError) as info:
            await asyncio.wait_for(handle.result(), 60)
    assert info.value.cause is not None
    err = from_failure(info.value.cause)
    assert "broken.lua:9:" in err.text()
    assert "attempt to index a nil value" in err.text()
