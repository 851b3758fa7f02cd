"""DevServer against the real `temporal` binary: ports, locking, persistence, crash safety."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType, IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle

import luaflow.devserver._devserver as devserver_module
from luaflow.devserver import DevServer, DevServerError, find_temporal_binary, running_server
from tests._process import spawn

pytestmark = pytest.mark.server

# No worker ever polls this queue: workflows stay RUNNING, which is all persistence needs.
TASK_QUEUE = "nobody-listens"


def _alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (exited, not yet reaped) counts as dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


async def _start_orphan_workflow(client: Client, workflow_id: str) -> None:
    await client.start_workflow("NoSuchWorkflow", id=workflow_id, task_queue=TASK_QUEUE)


def test_find_temporal_binary() -> None:
    binary = find_temporal_binary()
    assert binary.name.startswith("temporal")
    assert os.access(binary, os.X_OK)


async def test_start_describe_stop(tmp_path: Path) -> None:
    server = DevServer(tmp_path / "state")
    t0 = time.monotonic()
    await server.start()
    print(f"\nstarted in {time.monotonic() - t0:.2f}s at {server.address}, UI {server.ui_url}")
    try:
        assert server.address.startswith("127.0.0.1:")
        assert server.ui_url.startswith("http://127.0.0.1:")
        assert server.pid is not None and _alive(server.pid)
        client = await Client.connect(server.address, namespace=server.namespace)
        resp = await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace="default")
        )
        assert resp.namespace_info.name == "default"
        assert (tmp_path / "state" / "temporal.db").exists()
        assert (tmp_path / "state" / "temporal.log").exists()
    finally:
        pid = server.pid
        await server.stop()
    assert server.pid is None
    assert pid is not None and not _alive(pid)
    await server.stop()  # idempotent


async def test_two_servers_do_not_collide(tmp_path: Path) -> None:
    a = DevServer(tmp_path / "a")
    b = DevServer(tmp_path / "b", namespace="other")
    await asyncio.gather(a.start(), b.start())
    try:
        ports_a = {server_port(a.address), server_port(a.ui_url)}
        ports_b = {server_port(b.address), server_port(b.ui_url)}
        assert not ports_a & ports_b
        for server in (a, b):
            client = await Client.connect(server.address, namespace=server.namespace)
            resp = await client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace=server.namespace)
            )
            assert resp.namespace_info.name == server.namespace
    finally:
        await asyncio.gather(a.stop(), b.stop())


def server_port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


async def test_second_server_on_same_state_dir_is_refused(tmp_path: Path) -> None:
    async with DevServer(tmp_path) as first:
        second = DevServer(tmp_path)
        with pytest.raises(DevServerError, match="another luaflow process"):
            await second.start()
        assert second.pid is None
        assert first.pid is not None and _alive(first.pid)
    # Released on stop: the same directory can be used again.
    async with DevServer(tmp_path) as again:
        assert again.pid is not None


async def test_restart_keeps_workflows(tmp_path: Path) -> None:
    running_id, done_id = f"running-{uuid.uuid4()}", f"done-{uuid.uuid4()}"
    async with DevServer(tmp_path) as server:
        client = await Client.connect(server.address)
        await _start_orphan_workflow(client, running_id)
        await _start_orphan_workflow(client, done_id)
        await client.get_workflow_handle(done_id).terminate("finished for the test")

    server = DevServer(tmp_path)
    await server.start()
    try:
        client = await Client.connect(server.address)
        running = await client.get_workflow_handle(running_id).describe()
        done = await client.get_workflow_handle(done_id).describe()
        assert running.workflow_type == "NoSuchWorkflow"
        assert running.status == WorkflowExecutionStatus.RUNNING
        assert done.status == WorkflowExecutionStatus.TERMINATED
    finally:
        await server.stop()


async def test_kill_then_restart_same_dir(tmp_path: Path) -> None:
    workflow_id = f"survivor-{uuid.uuid4()}"
    server = DevServer(tmp_path)
    await server.start()
    client = await Client.connect(server.address)
    await _start_orphan_workflow(client, workflow_id)
    pid = server.pid
    server.kill()
    assert pid is not None and not _alive(pid)
    assert server.pid is None
    assert (tmp_path / "temporal.db-wal").exists()

    # Both a fresh instance and the killed one itself can take the directory over again.
    async with DevServer(tmp_path) as fresh:
        client = await Client.connect(fresh.address)
        desc = await client.get_workflow_handle(workflow_id).describe()
        assert desc.status == WorkflowExecutionStatus.RUNNING
    await server.start()
    try:
        client = await Client.connect(server.address)
        await client.get_workflow_handle(workflow_id).describe()
    finally:
        await server.stop()


async def test_custom_search_attributes(tmp_path: Path) -> None:
    attrs = {"LuaflowApp": "Keyword", "LuaflowAttempt": "int"}
    async with DevServer(tmp_path, search_attributes=attrs) as server:
        client = await Client.connect(server.address)
        resp = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace="default")
        )
    assert resp.custom_attributes["LuaflowApp"] == IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
    assert resp.custom_attributes["LuaflowAttempt"] == IndexedValueType.INDEXED_VALUE_TYPE_INT


async def test_bad_search_attribute_type_is_rejected_early(tmp_path: Path) -> None:
    server = DevServer(tmp_path, search_attributes={"X": "Blob"})
    with pytest.raises(DevServerError, match="unknown type 'Blob'"):
        await server.start()
    assert not (tmp_path / "server.lock").exists()


async def test_startup_failure_reports_log_tail(tmp_path: Path) -> None:
    # An unknown log level makes the CLI exit immediately with an explanation.
    server = DevServer(tmp_path, log_level="chatty")
    with pytest.raises(DevServerError, match="exited with code") as excinfo:
        await server.start(ready_timeout=15)
    assert "chatty" in str(excinfo.value)
    # The lock is released, so a correct configuration can start right away.
    async with DevServer(tmp_path) as ok:
        assert ok.pid is not None


async def test_port_collision_is_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Simulate losing the race between picking a port and the server binding it.
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    taken = squatter.getsockname()[1]
    real_free_ports = devserver_module._free_ports
    picks: list[list[int]] = []

    def free_ports_first_taken(ip: str, count: int) -> list[int]:
        ports = real_free_ports(ip, count)
        if not picks:
            ports[0] = taken
        picks.append(ports)
        return ports

    monkeypatch.setattr(devserver_module, "_free_ports", free_ports_first_taken)
    try:
        async with DevServer(tmp_path) as server:
            assert len(picks) == 2
            assert server.address == f"127.0.0.1:{picks[1][0]}"
        assert "address already in use" in (tmp_path / "temporal.log").read_text()
    finally:
        squatter.close()


async def test_port_collision_inside_a_panic_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server's internal services bind ports of their own during start-up: losing that race
    # is a Go panic whose message comes before a long stack trace (exit code 2).
    real = devserver_module.find_temporal_binary()
    launches = tmp_path / "launches"
    fake = tmp_path / "temporal"
    fake.write_text(
        "#!/bin/sh\n"
        f"echo x >> {launches}\n"
        f'if [ "$(wc -l < {launches})" -eq 1 ]; then\n'
        '  echo "panic: listen tcp 127.0.0.1:7235: bind: address already in use"\n'
        '  for i in $(seq 100); do echo "  go.uber.org/fx.(*module).invoke frame $i"; done\n'
        "  exit 2\n"
        "fi\n"
        f'exec {real} "$@"\n'
    )
    fake.chmod(0o755)
    monkeypatch.setattr(devserver_module, "find_temporal_binary", lambda: fake)
    async with DevServer(tmp_path / "state") as server:
        assert server.pid is not None
    assert launches.read_text().count("x") == 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
async def test_server_dies_with_killed_parent(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio
        from pathlib import Path
        from luaflow.devserver import DevServer

        async def main() -> None:
            server = DevServer(Path({str(tmp_path)!r}))
            await server.start()
            print(server.pid, flush=True)
            await asyncio.sleep(3600)

        asyncio.run(main())
        """
    )
    src_dir = Path(devserver_module.__file__).resolve().parents[3]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(src_dir), os.environ.get("PYTHONPATH", "")]),
    }
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, env=env, text=True
    ) as parent:
        try:
            assert parent.stdout is not None
            line = await asyncio.wait_for(asyncio.to_thread(parent.stdout.readline), 30)
            server_pid = int(line)
            assert _alive(server_pid)
            os.kill(parent.pid, signal.SIGKILL)
            parent.wait()
            deadline = time.monotonic() + 15
            while _alive(server_pid) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            assert not _alive(server_pid), "orphaned dev server outlived its killed parent"
        finally:
            parent.kill()
    # The orphan's inherited lock died with it, so the state directory is free again (the kernel
    # may take a moment to release the last descriptor after the process is gone).
    server = DevServer(tmp_path)
    deadline = time.monotonic() + 15
    while True:
        try:
            await server.start()
            break
        except DevServerError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
    try:
        assert server.pid is not None
    finally:
        await server.stop()


async def _wait_for_running_server(state_dir: Path, timeout: float) -> str:
    """The address a luaflow process publishes once its embedded server serves."""
    deadline = time.monotonic() + timeout
    while (found := running_server(state_dir)) is None:
        assert time.monotonic() < deadline, f"no running server recorded in {state_dir}"
        await asyncio.sleep(0.2)
    return found[0]


async def _wait_for_event(handle: WorkflowHandle[Any, Any], event: EventType.ValueType) -> None:
    deadline = time.monotonic() + 60
    while not any(e.event_type == event for e in (await handle.fetch_history()).events):
        assert time.monotonic() < deadline, f"workflow {handle.id} never reached {event}"
        await asyncio.sleep(0.2)


async def test_luaflow_run_restarts_after_kill9(order_app: Path) -> None:
    """A `luaflow run` restarted right after a kill -9 starts a fresh embedded server on the same
    database (the dead one's record is stale) and the interrupted workflow completes."""
    env = {**os.environ, "TEMPORAL_ADDRESS": "embedded", "HTTP_ADDR": "127.0.0.1:0"}
    env["PYTHONUNBUFFERED"] = "1"
    cmd = [sys.executable, "-m", "luaflow", "run", str(order_app)]
    state_dir = order_app / ".luaflow"
    order = {"id": "s-1", "total": 3, "customer_id": "c-s", "shipping_address": "z", "delay": "2s"}
    first = spawn(cmd, env)
    try:
        first_address = await _wait_for_running_server(state_dir, 60)
        started = await asyncio.to_thread(
            subprocess.run,
            [*cmd[:3], "start", "app:order_workflow", "--app", str(order_app), "--input",
             json.dumps(order), "--id", "stale-record"],
            capture_output=True, text=True, env=env, timeout=60,
        )  # fmt: skip
        assert started.returncode == 0, started.stderr
        client = await Client.connect(first_address)
        handle = client.get_workflow_handle("stale-record")
        await _wait_for_event(handle, EventType.EVENT_TYPE_TIMER_STARTED)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    assert json.loads((state_dir / "server.json").read_text())["address"] == first_address

    second = spawn(cmd, env)
    try:
        second_address = await _wait_for_running_server(state_dir, 60)
        assert second_address != first_address
        client = await Client.connect(second_address)
        result = await asyncio.wait_for(client.get_workflow_handle("stale-record").result(), 60)
    finally:
        second.send_signal(signal.SIGINT)
        second.wait(30)
    assert result == {"status": "completed", "payment_id": "pay-c-s-3", "tracking": "TRK-s-1"}
    assert second.returncode == 0


async def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    """A lock naming a dead luaflow process (still held by what it left running, like its
    dying server) and a torn record do not block a new server: it waits for the lock."""
    (tmp_path / "server.json").write_text('{"address": "127.0.0.1:')  # torn by a crash
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(
            f"""
            import fcntl, os, sys, time
            fd = os.open({str(tmp_path / "server.lock")!r}, os.O_RDWR | os.O_CREAT)
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, b"999999999")  # the PID of a process that no longer exists
            print("locked", flush=True)
            time.sleep(1.5)
            """
        )],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        assert running_server(tmp_path) is None  # dead owner: nothing to attach to
        started = time.monotonic()
        async with DevServer(tmp_path) as server:
            assert time.monotonic() - started < 30
            assert running_server(tmp_path) == (server.address, server.ui_url)
            record = json.loads((tmp_path / "server.json").read_text())
            assert record == {"address": server.address, "ui_url": server.ui_url,
                              "pid": server.pid}  # fmt: skip
    finally:
        holder.kill()
        holder.wait()
