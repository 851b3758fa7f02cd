"""Bad Temporal option values from Lua are `nil, err` of kind Invalid naming the option, at the
call that passed them: workflow start options in host code (`process.with_options`) and activity
options in workflows (`funcs.new():with_options`). None may hang or leak a Python error."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from luaflow.devserver import DevServer
from luaflow.engine.temporal import register_search_attributes
from luaflow.lua import LuaflowError
from luaflow.workflow import parse_activity_options, parse_cron_schedule, parse_retry_policy
from tests.conftest import load_app

INDEX = """\
version: "1.0"
namespace: app
entries:
  - {name: client, kind: temporal.client, address: "${env:TEMPORAL_ADDRESS}",
     lifecycle: {auto_start: true}}
  - {name: worker, kind: temporal.worker, client: client, task_queue: "${env:TASK_QUEUE}",
     lifecycle: {auto_start: true}}
  - {name: echo, kind: workflow.lua, source: file://options.lua, method: echo,
     meta: {temporal: {workflow: {worker: worker}}}}
  - {name: activity_options, kind: workflow.lua, source: file://options.lua,
     method: activity_options, modules: [funcs], meta: {temporal: {workflow: {worker: worker}}}}
  - {name: start, kind: function.lua, source: file://options.lua, method: start}
"""

OPTIONS_LUA = """\
local function echo(value) return value end

-- Host code: start `echo` with these workflow options; the outcome or the error.
local function start(options)
    local pid, err = process.with_options(options):spawn("app:echo", "app:worker", "hi")
    if err then return {kind = err:kind(), message = err:message()} end
    return {pid = pid}
end

-- A workflow: executors with these activity options, each error.
local function activity_options(cases)
    local funcs = require("funcs")
    local out = {}
    for i, options in ipairs(cases) do
        local executor, err = funcs.new():with_options(options)
        out[i] = err and {kind = err:kind(), message = err:message()} or {ok = executor ~= nil}
    end
    return out
end

return { echo = echo, start = start, activity_options = activity_options }
"""

WF = "temporal.workflow"

START_CASES: list[tuple[dict[str, Any], str]] = [
    ({f"{WF}.retry_policy": {"backoff_coefficient": "fast"}},
     f"option {WF}.retry_policy.backoff_coefficient: expected a number >= 1, got 'fast'"),
    ({f"{WF}.retry_policy": {"maximum_attempts": -1}},
     f"option {WF}.retry_policy.maximum_attempts: expected an integer >= 0, got -1"),
    ({f"{WF}.retry_policy": {"initial_interval": "10s", "maximum_interval": "1s"}},
     f"option {WF}.retry_policy.maximum_interval: must not be less than initial_interval (10s), "
     "got '1s'"),
    ({f"{WF}.search_attributes": {"NoSuchAttribute": "x"}},
     "Temporal: Namespace default has no mapping defined for search attribute NoSuchAttribute"),
    ({f"{WF}.search_attributes": ["not", "named"]},
     f"option {WF}.search_attributes: expected a table of name = value"),
    ({f"{WF}.cron_schedule": "every tuesday"},
     f"option {WF}.cron_schedule: invalid cron schedule 'every tuesday' (expected 5 fields like "
     "'0 12 * * MON-FRI', a descriptor like '@daily', or '@every 1h')"),
    ({f"{WF}.id": ""}, f"option {WF}.id: expected a non-empty string, got ''"),
]  # fmt: skip

ACTIVITY_CASES: list[tuple[dict[str, Any], str]] = [
    ({"activity.start_to_close_timeout": 0},
     "option activity.start_to_close_timeout: must be a positive duration, got 0"),
    ({"activity.schedule_to_close_timeout": "0s"},
     "option activity.schedule_to_close_timeout: must be a positive duration, got '0s'"),
    ({"activity.retry_policy": {"initial_interval": "2s", "maximum_interval": "500ms"}},
     "option activity.retry_policy.maximum_interval: must not be less than initial_interval "
     "(2s), got '500ms'"),
    ({"activity.retry_policy": {"maximum_interval": "100ms"}},
     "option activity.retry_policy.maximum_interval: must not be less than initial_interval "
     "(1s), got '100ms'"),
    ({"activity.retry_policy": {"backoff_coefficient": "2x"}},
     "option activity.retry_policy.backoff_coefficient: expected a number >= 1, got '2x'"),
]  # fmt: skip


@pytest.fixture
def options_app(tmp_path: Path) -> Path:
    (tmp_path / "_index.yaml").write_text(INDEX)
    (tmp_path / "options.lua").write_text(OPTIONS_LUA)
    return tmp_path


@pytest.mark.server
async def test_bad_workflow_start_options_are_invalid(
    options_app: Path, dev_server: DevServer
) -> None:
    async with load_app(options_app, dev_server, f"q-{uuid.uuid4().hex}") as app:
        await app.start()
        for options, message in START_CASES:
            result = await asyncio.wait_for(app.call("app:start", [options]), 30)
            assert result == {"kind": "Invalid", "message": message}, options


@pytest.mark.server
async def test_good_start_options_still_start(options_app: Path, dev_server: DevServer) -> None:
    async with load_app(options_app, dev_server, f"q-{uuid.uuid4().hex}") as app:
        await app.start()
        client = await app.any_client()
        await register_search_attributes(client, "default", {"LuaflowOptionsTest": "Keyword"})
        workflow_id = f"options-{uuid.uuid4().hex}"
        options = {
            f"{WF}.id": workflow_id,
            f"{WF}.search_attributes": {"LuaflowOptionsTest": "o-1"},
            f"{WF}.retry_policy": {"initial_interval": "1s", "maximum_interval": "1s",
                                   "maximum_attempts": 2},
        }  # fmt: skip
        started = await asyncio.wait_for(app.call("app:start", [options]), 30)
        assert started["pid"].endswith(f"|{workflow_id}}}")
        handle = client.get_workflow_handle(workflow_id)
        assert await asyncio.wait_for(handle.result(), 30) == "hi"
        described = await handle.describe()
        assert described.search_attributes["LuaflowOptionsTest"] == ["o-1"]


@pytest.mark.server
async def test_bad_activity_options_are_invalid_in_the_workflow(
    options_app: Path, dev_server: DevServer
) -> None:
    async with load_app(options_app, dev_server, f"q-{uuid.uuid4().hex}") as app:
        await app.start()
        client, type_name, queue = await app.workflow_target("app:activity_options")
        cases = [options for options, _ in ACTIVITY_CASES]
        cases.append({"activity.start_to_close_timeout": "5s"})
        result = await asyncio.wait_for(
            client.execute_workflow(
                type_name, cases, id=f"activity-options-{uuid.uuid4().hex}", task_queue=queue
            ),
            30,
        )
    expected = [{"kind": "Invalid", "message": message} for _, message in ACTIVITY_CASES]
    assert result == [*expected, {"ok": True}]


def test_parsers_name_the_option() -> None:
    with pytest.raises(LuaflowError) as info:
        parse_activity_options({"temporal.activity.heartbeat_timeout": 0})
    assert info.value.kind == "Invalid"
    assert info.value.message == (
        "option temporal.activity.heartbeat_timeout: must be a positive duration, got 0"
    )
    assert parse_retry_policy({"maximum_interval": 0}, "p").maximum_interval is not None
    for good in (
        "*/5 * * * *",
        "0 12 * * MON-FRI",
        "@daily",
        "@every 90m",
        "CRON_TZ=UTC 0 1 * * *",
    ):
        assert parse_cron_schedule(good, "c") == good
    for bad in ("* * * * * *", "61 * * * *", "@every soon", "", 5):
        with pytest.raises(LuaflowError, match="option c: "):
            parse_cron_schedule(bad, "c")
