"""`luaflow replay`: histories from files, from the server by id and by type, replayed offline
against the app's current Lua code; a reordered workflow fails with an explanation."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from temporalio.client import Client

from luaflow.app import App
from luaflow.devserver import DevServer, find_temporal_binary
from luaflow.engine.temporal import load_history_file, replay_histories

pytestmark = pytest.mark.server

ORDER = {
    "id": "o-1",
    "total": 42,
    "customer_id": "c-1",
    "shipping_address": "1 Main St",
    "delay": "10ms",
}


def _luaflow(dev_server: DevServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "luaflow", "replay", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TEMPORAL_ADDRESS": dev_server.address},
    )


async def _run_order(app: App) -> str:
    handle = await app.start_workflow("app:order_workflow", [ORDER])
    assert (await handle.result())["status"] == "completed"
    return handle.id


def _swap_activities(app_dir: Path) -> None:
    source = app_dir / "src" / "order_workflow.lua"
    text = source.read_text()
    source.write_text(
        text.replace('"app:charge_payment"', '"app:TMP"')
        .replace('"app:ship_order"', '"app:charge_payment"')
        .replace('"app:TMP"', '"app:ship_order"')
    )


def _line_of(app_dir: Path, needle: str) -> int:
    lines = (app_dir / "src" / "order_workflow.lua").read_text().splitlines()
    return next(n for n, line in enumerate(lines, 1) if needle in line)


async def test_replay_file_passes_then_swapped_activities_fail(
    order_app: Path, boot: Callable[[Path], App], dev_server: DevServer, tmp_path: Path
) -> None:
    async with boot(order_app) as app:
        await app.start()
        workflow_id = await _run_order(app)
    # Exported the way a user would: with the temporal CLI.
    temporal = str(find_temporal_binary())
    address = ["--address", dev_server.address]
    show = subprocess.run(
        [temporal, "workflow", "show", *address, "--workflow-id", workflow_id, "-o", "json"],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    )
    history_file = tmp_path / "exported.json"
    history_file.write_text(show.stdout)

    ok = _luaflow(dev_server, "--app", str(order_app), "--file", str(history_file))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.splitlines() == [f"ok {workflow_id}"]

    charge_line = _line_of(order_app, '"app:charge_payment"')
    _swap_activities(order_app)
    bad = _luaflow(dev_server, "--app", str(order_app), "--file", str(history_file))
    assert bad.returncode == 1, bad.stdout + bad.stderr
    out = bad.stdout
    assert out.splitlines()[0] == f"FAIL {workflow_id}"
    assert f"workflow {workflow_id} (type app:order_workflow" in out
    assert "step 1 (event 5, ActivityTaskScheduled)" in out
    assert (
        f"expected (history):  activity app:charge_payment, recorded at "
        f"src/order_workflow.lua:{charge_line}" in out
    )
    assert "got (current code):  activity app:ship_order, called at src/order_workflow.lua:" in out
    assert "Nondeterminism error" in out
    assert "Traceback" not in bad.stderr


async def test_replay_by_id_and_by_type(
    order_app: Path, boot: Callable[[Path], App], dev_server: DevServer
) -> None:
    # A type name of its own, so --type only sees this test's runs on the shared server; the
    # command is given the entry id and maps it to the type.
    type_name = f"order-{uuid.uuid4().hex}"
    index = order_app / "src" / "_index.yaml"
    text = index.read_text()
    marker = "        workflow:\n          worker: app:worker\n"
    assert marker in text  # the first one is app:order_workflow's
    index.write_text(text.replace(marker, marker + f"          name: {type_name}\n", 1))
    async with boot(order_app) as app:
        await app.start()
        first = await _run_order(app)
        second = await _run_order(app)
    client = await Client.connect(dev_server.address)
    for _ in range(100):  # visibility is eventually consistent
        listed = [w.id async for w in client.list_workflows(f'WorkflowType="{type_name}"')]
        if len(listed) == 2:
            break
        await asyncio.sleep(0.1)
    assert sorted(listed) == sorted([first, second])

    by_id = _luaflow(dev_server, "--app", str(order_app), "--id", first)
    assert by_id.returncode == 0, by_id.stdout + by_id.stderr
    assert by_id.stdout.splitlines() == [f"ok {first}"]

    by_type = _luaflow(dev_server, "--app", str(order_app), "--type", "app:order_workflow")
    assert by_type.returncode == 0, by_type.stdout + by_type.stderr
    assert sorted(by_type.stdout.splitlines()) == sorted([f"ok {first}", f"ok {second}"])

    latest = _luaflow(dev_server, "--app", str(order_app), "--type", type_name, "--limit", "1")
    assert latest.returncode == 0, latest.stdout + latest.stderr
    assert latest.stdout.splitlines() == [f"ok {second}"]

    _swap_activities(order_app)
    both = _luaflow(dev_server, "--app", str(order_app), "--id", first, "--type", type_name)
    assert both.returncode == 1
    assert both.stdout.count("FAIL ") == 2  # --id and --type name the same run once


async def test_replay_api_while_workers_run_and_timer_removed(
    order_app: Path, boot: Callable[[Path], App], tmp_path: Path
) -> None:
    async with boot(order_app) as app:
        await app.start()  # the app's own worker serves its task queue in this process
        handle = await app.start_workflow("app:order_workflow", [ORDER])
        await handle.result()
        history = await handle.fetch_history()
        [result] = await replay_histories(app, [history])
        assert result.ok, result.explanation
        assert result.workflow_id == handle.id
    history_file = tmp_path / "saved.json"
    history_file.write_text(history.to_json())
    assert load_history_file(history_file).workflow_id == handle.id  # from the start event

    sleep_line = _line_of(order_app, "time.sleep(")
    ship_line = _line_of(order_app, '"app:ship_order"')
    source = order_app / "src" / "order_workflow.lua"
    source.write_text(source.read_text().replace('time.sleep(order.delay or "1h")', ""))
    [result] = await replay_histories(boot(order_app), [load_history_file(history_file)])
    assert not result.ok
    assert "step 2 (event 11, TimerStarted)" in result.explanation
    assert f"timer 10ms (time.sleep), recorded at src/order_workflow.lua:{sleep_line}" in (
        result.explanation
    )
    assert f"activity app:ship_order, called at src/order_workflow.lua:{ship_line}" in (
        result.explanation
    )


def test_replay_needs_a_source(order_app: Path, dev_server: DevServer, tmp_path: Path) -> None:
    none = _luaflow(dev_server, "--app", str(order_app))
    assert none.returncode == 2
    assert "nothing to replay" in none.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    broken = _luaflow(dev_server, "--app", str(order_app), "--file", str(bad))
    assert broken.returncode == 1
    assert "bad.json: not a workflow history in JSON" in broken.stderr
    assert "Traceback" not in broken.stderr


GUARDED = """local funcs = require("funcs")
local time = require("time")
local workflow = require("workflow")

local function charge(order)
    return funcs.call("app:charge_payment", {amount = order.total, customer = order.customer_id})
end

local function ship(order)
    return funcs.call("app:ship_order", {order_id = order.id, address = order.shipping_address})
end

local function main(order)
    local v = workflow.version("ship-first", -1, 1)
    local payment, shipment, err
    if v == -1 then
        payment, err = charge(order)
        time.sleep(order.delay or "1h")
        shipment, err = ship(order)
    else
        shipment, err = ship(order)
        time.sleep(order.delay or "1h")
        payment, err = charge(order)
    end
    return {status = "completed", version = v, payment_id = payment.id,
            tracking = shipment.tracking_number}
end

return { main = main }
"""


async def test_version_guard_makes_changed_code_replay(
    order_app: Path, boot: Callable[[Path], App], dev_server: DevServer, tmp_path: Path
) -> None:
    """Swapping steps breaks old histories; the same swap behind workflow.version replays them
    (they get -1) while new runs take the new path (they get the max version)."""
    async with boot(order_app) as app:
        await app.start()
        old_id = await _run_order(app)
    (order_app / "src" / "order_workflow.lua").write_text(GUARDED)
    replayed = _luaflow(dev_server, "--app", str(order_app), "--id", old_id)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    async with boot(order_app) as app:
        await app.start()
        handle = await app.start_workflow("app:order_workflow", [ORDER])
        result = await handle.result()
        assert result["version"] == 1 and result["status"] == "completed"
        history = await handle.fetch_history()
        assert [
            e.activity_task_scheduled_event_attributes.activity_type.name
            for e in history.events
            if e.HasField("activity_task_scheduled_event_attributes")
        ] == ["app:ship_order", "app:charge_payment"]
    both = _luaflow(dev_server, "--app", str(order_app), "--id", old_id, "--id", handle.id)
    assert both.returncode == 0, both.stdout + both.stderr
    assert both.stdout.splitlines() == [f"ok {old_id}", f"ok {handle.id}"]
