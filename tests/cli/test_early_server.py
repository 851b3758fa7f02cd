"""A command launches the app's embedded server before it loads the SDK and the Lua runtime, so
the server boots while they load; the app then finishes that server's start, or replaces it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from luaflow.app import App
from luaflow.cli._main import _launch_embedded
from luaflow.devserver import STATE_DIR, DevServer
from luaflow.registry import load_registry

#: Launches the server of the app in argv[1] the way `luaflow run` does, then boots the app.
SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys
    from luaflow.cli._main import _launch_embedded
    from luaflow.registry import load_registry

    async def main():
        registry = load_registry(sys.argv[1])
        server = await _launch_embedded(registry)
        report = {
            "sdk_at_launch": "temporalio" in sys.modules,
            "lua_at_launch": "lupa" in sys.modules,
            "spawned": server.pid is not None,
        }
        from luaflow.app import App
        from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest

        app = App.of(registry, report=lambda _: None, server=server)
        try:
            await app.start(workers=False)
            client = await app.any_client()
            request = DescribeNamespaceRequest(namespace="default")
            await client.workflow_service.describe_namespace(request)
            report["same_server"] = app.server is server
            report["address"] = server.address
        finally:
            await app.stop()
        report["stopped"] = server.pid is None
        print(json.dumps(report))

    asyncio.run(main())
    """
)


def test_launch_comes_before_the_sdk_and_the_app_finishes_it(order_app: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TEMPORAL_ADDRESS"}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(order_app)],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
        check=True,
    )
    report = json.loads(proc.stdout)
    assert report.pop("address")
    assert report == {
        "sdk_at_launch": False,
        "lua_at_launch": False,
        "spawned": True,
        "same_server": True,
        "stopped": True,
    }


async def test_a_launched_server_of_another_namespace_is_replaced(order_app: Path) -> None:
    registry = load_registry(order_app, environ={})
    launched = DevServer(registry.root / STATE_DIR, namespace="elsewhere")
    await launched.launch()
    app = App.of(registry, report=lambda _: None, server=launched)
    try:
        await app.start(workers=False)
        assert launched.pid is None  # stopped: the client's namespace is "default"
        assert app.server is not None and app.server is not launched
        assert app.server.namespace == "default" and app.server.pid is not None
    finally:
        await app.stop()
        await launched.stop()


async def test_no_launch_for_a_client_with_an_address(order_app: Path) -> None:
    registry = load_registry(order_app, environ={"TEMPORAL_ADDRESS": "127.0.0.1:7233"})
    assert await _launch_embedded(registry) is None
    assert not (registry.root / STATE_DIR).exists()
