"""HTTP entries over real sockets: the example's order API, errors, limits, load, duplicates."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from luaflow.app import App
from luaflow.devserver import DevServer
from tests._process import Output, spawn

pytestmark = pytest.mark.server


@pytest.fixture
async def order_api(order_app: Path, dev_server: DevServer) -> AsyncIterator[tuple[App, str]]:
    index = order_app / "src" / "_index.yaml"
    index.write_text(
        index.read_text().replace(
            "    lifecycle:\n      auto_start: true\n\n  - name: api",
            "    max_body: 4096\n    lifecycle:\n      auto_start: true\n\n  - name: api",
        )
    )
    (order_app / "src" / "boom.lua").write_text(
        "return function() local t = nil; return t.field end\n"
    )
    index.write_text(
        index.read_text()
        + """
  - name: boom
    kind: function.lua
    source: file://boom.lua
  - name: boom.endpoint
    kind: http.endpoint
    method: GET
    path: /boom
    func: boom
    meta: { router: api }
"""
    )
    environ = {"TEMPORAL_ADDRESS": dev_server.address, "HTTP_ADDR": "127.0.0.1:0"}
    app = App.load(order_app, report=lambda _: None, environ=environ)
    async with app:
        await app.start(http=True)
        host, port = app.http_addresses["app:gateway"]
        yield app, f"http://{host}:{port}"


async def test_order_lifecycle_over_http(order_api: tuple[App, str]) -> None:
    app, base = order_api
    order = {"id": uuid.uuid4().hex[:8], "total": 12, "customer_id": "c-h",
             "shipping_address": "x", "delay": "10ms", "approval_timeout": "1m"}  # fmt: skip
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        created = await http.post("/orders", json=order, headers={"X-Request-ID": "req-1"})
        assert created.status_code == 202, created.text
        body = created.json()
        assert body["status"] == "started" and body["workflow_id"].endswith(
            f"|order-{order['id']}}}"
        )
        duplicate = await http.post("/orders", json=order)
        assert duplicate.status_code == 409 and "already running" in duplicate.json()["error"]
        approved = await http.post(f"/orders/{order['id']}/approve", json={"approved_by": "boss"})
        assert approved.status_code == 202, approved.text
        missing = await http.post("/orders/nope/approve")
        assert missing.status_code == 404
    client = await app.any_client()
    result = await client.get_workflow_handle(f"order-{order['id']}").result()
    assert result["status"] == "completed" and result["approved_by"] == "boss"


async def test_bad_input_and_errors(order_api: tuple[App, str]) -> None:
    _, base = order_api
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        bad = await http.post(
            "/orders", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert bad.status_code == 400 and "invalid JSON" in bad.json()["error"]
        big = await http.post("/orders", content=b"x" * 5000)
        assert big.status_code == 413 and "exceeds 4096" in big.json()["error"]
        boom = await http.get("/boom")
        assert boom.status_code == 500
        assert boom.json()["kind"] == "Internal" and "boom.lua:1" in boom.json()["error"]
        assert (await http.get("/nowhere")).status_code == 404
        # The server is still healthy after the failures.
        again = await http.post("/orders", content=b"[]")
        assert again.status_code == 400


async def test_concurrent_orders_and_duplicates(order_api: tuple[App, str]) -> None:
    app, base = order_api
    run = uuid.uuid4().hex[:6]
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as http:

        async def post(order_id: str) -> int:
            order = {"id": order_id, "total": 1, "customer_id": "c", "shipping_address": "x",
                     "approval_timeout": "1s"}  # fmt: skip
            return (await http.post("/orders", json=order)).status_code

        distinct = await asyncio.gather(*(post(f"{run}-{i}") for i in range(200)))
        assert distinct.count(202) == 200
        dupes = await asyncio.gather(*(post(f"{run}-dup") for _ in range(50)))
        assert sorted(dupes) == [202] + [409] * 49
    client = await app.any_client()
    ids = [w.id async for w in client.list_workflows(f'WorkflowId STARTS_WITH "order-{run}-"')]
    assert len(ids) == len(set(ids)) == 201


async def _wait_listening(port: int, timeout: float) -> None:
    for _ in range(int(timeout * 10)):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        return
    raise AssertionError(f"nothing listens on port {port}")


def _readme_curls() -> list[tuple[str, str]]:
    """(command, expected output) pairs of the README's HTTP section."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### HTTP: starting and approving orders", 1)[1].split("```sh", 1)[1]
    lines = section.split("```", 1)[0].strip().splitlines()
    pairs: list[tuple[str, str]] = []
    command = ""
    for line in lines:
        if line.startswith("#"):
            pairs.append((command, line[1:].strip().split("   ")[0].strip()))
            command = ""
        else:
            command += line.rstrip("\\").strip() + " "
    return pairs


async def test_readme_curl_commands(order_app: Path, dev_server: DevServer) -> None:
    """The README's curl session, run as written against `luaflow run` of the example."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "TEMPORAL_ADDRESS": dev_server.address, "HTTP_ADDR": f"127.0.0.1:{port}"}
    server = spawn([sys.executable, "-m", "luaflow", "run", str(order_app)], env)
    Output(server)
    try:
        await _wait_listening(port, 60)
        for command, expected in _readme_curls():
            command = command.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
            command = command.replace(".venv/bin/luaflow", f"{sys.executable} -m luaflow")
            command = command.replace("examples/orders", str(order_app))
            if "luaflow result" in command:
                await asyncio.sleep(3)  # the order's 2 s sleep
            done = await asyncio.to_thread(
                subprocess.run, command, shell=True, capture_output=True, text=True, timeout=60,
                env=env,
            )  # fmt: skip
            assert json.loads(done.stdout) == json.loads(expected), (command, done.stderr)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(30)
