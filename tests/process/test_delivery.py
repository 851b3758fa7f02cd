"""A workflow's message to a host PID as the node's activities run it (DELIVER_ACTIVITY on the
node queue, DELIVER_HERE_ACTIVITY as a local activity of a workflow worker): once per
(run, activity), False for a PID of another node, a clear error for a process that is gone."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from luaflow.lua import HOST_LIMITS
from luaflow.process import HostRuntime
from luaflow.registry import load_registry
from luaflow.workflow import host_pid

INDEX = """\
version: "1.0"
namespace: app
entries:
  - {name: collect, kind: process.lua, source: "file://collect.lua", method: collect}
"""

COLLECT = """\
local function collect(n)
    local got, inbox = {}, process.inbox()
    for i = 1, n do got[i] = inbox:receive():payload():data() end
    return got
end
return { collect = collect }
"""


async def _no_client(_: str) -> object:
    raise AssertionError("delivery needs no client")


async def test_local_delivery_is_once_per_activity_and_only_for_this_node(tmp_path: Path) -> None:
    (tmp_path / "_index.yaml").write_text(INDEX)
    (tmp_path / "collect.lua").write_text(COLLECT)
    registry = load_registry(tmp_path, {})
    runtime = HostRuntime(registry, asyncio.get_running_loop(), _no_client, HOST_LIMITS)  # type: ignore[arg-type]
    try:
        pid, done = runtime.spawn_process(registry.get("app:collect"), [2])
        env = ActivityEnvironment()
        first = dataclasses.replace(
            env.info, workflow_id="wf", workflow_run_id="r", activity_id="1"
        )
        env.info = first
        assert await env.run(runtime.deliver_here, pid, "t", ["a"], "{sender}") is True
        # the same activity again (a retried workflow task): dropped
        assert await env.run(runtime.deliver_here, pid, "t", ["a"], "{sender}") is True
        env.info = dataclasses.replace(first, activity_id="2")
        assert await env.run(runtime.deliver, pid, "t", ["b"], "{sender}") is True
        assert await asyncio.wait_for(asyncio.wrap_future(done), 10) == ["a", "b"]
        # a PID of another node is not delivered here
        elsewhere = host_pid("elsewhere.1", 1)
        env.info = dataclasses.replace(first, activity_id="3")
        assert await env.run(runtime.deliver_here, elsewhere, "t", [], "") is False
        # this node's PID whose process has ended: an error that is not retried
        env.info = dataclasses.replace(first, activity_id="4")
        with pytest.raises(ApplicationError) as info:
            await env.run(runtime.deliver_here, pid, "t", [], "")
        assert info.value.type == "NotFound" and info.value.non_retryable
        assert f"process {pid} not found" in info.value.message
    finally:
        await runtime.stop(1.0)
