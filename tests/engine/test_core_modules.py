"""The pure modules on a real server: a workflow step and an activity compute the same values,
and the run replays cleanly."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import shutil
import uuid
from pathlib import Path

import pytest

from luaflow.devserver import DevServer
from luaflow.engine.temporal._replay import fetch_history, replay_histories
from luaflow.lua._hash import fnv1
from tests.conftest import ROOT
from tests.conftest import load_app as _load

pytestmark = pytest.mark.server

TEXT = "hello <world>"


async def test_pure_modules_agree_in_workflow_and_host_code(
    tmp_path: Path, dev_server: DevServer
) -> None:
    app_dir = tmp_path / "coremods"
    shutil.copytree(ROOT / "tests" / "apps" / "coremods", app_dir)
    async with _load(app_dir, dev_server, f"q-{uuid.uuid4().hex}") as app:
        await app.start()
        handle = await app.start_workflow("app:digest", [{"text": TEXT}])
        result = await asyncio.wait_for(handle.result(), 60)
        client = await app.any_client()
        [replayed] = await replay_histories(app, [await fetch_history(client, handle.id)])
    assert result["here"] == result["there"]
    assert result["here"] == {
        "sha256": hashlib.sha256(TEXT.encode()).hexdigest(),
        "fnv32": fnv1(TEXT.encode(), 0x811C9DC5, 0x01000193, 2**32),
        "b64": base64.b64encode(TEXT.encode()).decode(),
        "hmac": hmac.new(b"secret", TEXT.encode(), "sha256").hexdigest(),
        "json": '{"list":[1,2,3],"text":"hello \\u003cworld\\u003e"}',
        "valid": True,
        "opened": TEXT,
        "token": result["there"]["token"],
    }
    assert result["here"]["token"].startswith("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.")
    assert replayed.ok, replayed.explanation
