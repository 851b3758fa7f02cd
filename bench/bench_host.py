"""Host <-> workflow message round trips: luaflow host code vs native temporalio.

A long-running ``echo`` workflow answers each "ping" message with n + 1 to its sender, and a
caller outside the workflow sends K pings one after the other, timing each until its answer
arrives. Both variants run against one embedded dev server, in this process:

* ``luaflow``: a Lua host function (``function.lua`` run with ``App.call``) doing
  ``process.send(pid, "ping", n)`` and ``process.listen("pong"):receive()``; the Lua workflow
  answers with ``process.send(msg:from(), "pong", n + 1)``, delivered into the host function's
  mailbox exactly once (B5) by a local activity of the worker running the workflow (the host
  function lives in the worker's process);
* ``native``: a Python client signalling a ``@workflow.defn`` workflow (unsandboxed runner, as
  luaflow uses) that answers by running an activity putting n + 1 into an ``asyncio.Queue`` the
  client reads: the same signal + activity path, written by hand;
* ``native-local``: the same, answering with a local activity (what luaflow does when the host
  process lives in the process of the worker running the workflow, as here).

Rounds run in palindromic order after warm-up pings; every answer is checked.
Usage: ``python bench/bench_host.py [--k 200] [--rounds 2]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from luaflow.app import App
from luaflow.devserver import DevServer

WARMUP = 20
STEP_TIMEOUT = 60.0

APP_YAML = """\
version: "1.0"
namespace: app
entries:
  - {name: client, kind: temporal.client, address: "ADDRESS", lifecycle: {auto_start: true}}
  - {name: worker, kind: temporal.worker, client: client, task_queue: bench-host,
     lifecycle: {auto_start: true}}
  - {name: echo, kind: workflow.lua, source: "file://echo.lua", method: echo,
     meta: {temporal: {workflow: {worker: worker}}}}
  - {name: pinger, kind: function.lua, source: "file://echo.lua", method: pinger,
     modules: [time]}
"""

ECHO_LUA = """\
local function echo()
    local inbox = process.inbox()
    while true do
        local msg = inbox:receive()
        if msg:topic() == "stop" then return "stopped" end
        process.send(msg:from(), "pong", msg:payload():data() + 1)
    end
end

-- K pings one after the other; returns each round trip in milliseconds.
local function pinger(pid, k)
    local time = require("time")
    local replies, took = process.listen("pong"), {}
    for n = 1, k do
        local t0 = time.now()
        process.send(pid, "ping", n)
        local answer = replies:receive()
        if answer ~= n + 1 then error("wrong answer " .. tostring(answer)) end
        took[n] = time.now():sub(t0):microseconds() / 1000
    end
    return took
end

return { echo = echo, pinger = pinger }
"""

_answers: asyncio.Queue[int] = asyncio.Queue()


@activity.defn
async def answer(n: int) -> None:
    await _answers.put(n)


@workflow.defn(sandboxed=False)
class NativeEcho:
    def __init__(self) -> None:
        self.pings: list[int] = []
        self.stopped = False

    @workflow.signal
    def ping(self, n: int) -> None:
        self.pings.append(n)

    @workflow.signal
    def stop(self) -> None:
        self.stopped = True

    @workflow.run
    async def run(self, local: bool) -> str:
        while True:
            await workflow.wait_condition(lambda: bool(self.pings) or self.stopped)
            if self.stopped:
                return "stopped"
            n = self.pings.pop(0)
            timeout = timedelta(seconds=10)
            if local:
                await workflow.execute_local_activity(answer, n + 1, start_to_close_timeout=timeout)
            else:
                await workflow.execute_activity(answer, n + 1, start_to_close_timeout=timeout)


async def luaflow_round(app: App, pid: str, k: int) -> list[float]:
    took = await asyncio.wait_for(app.call("app:pinger", [pid, k]), STEP_TIMEOUT * k)
    return [float(ms) for ms in took]


async def native_round(client: Client, workflow_id: str, k: int) -> list[float]:
    handle = client.get_workflow_handle(workflow_id)
    took = []
    for n in range(1, k + 1):
        t0 = time.perf_counter()
        await handle.signal(NativeEcho.ping, n)
        got = await asyncio.wait_for(_answers.get(), STEP_TIMEOUT)
        if got != n + 1:
            raise SystemExit(f"native: wrong answer {got} for {n}")
        took.append((time.perf_counter() - t0) * 1000)
    return took


async def bench(k: int, rounds: int) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {"native": [], "native-local": [], "luaflow": []}
    with tempfile.TemporaryDirectory() as tmp:
        server = DevServer(Path(tmp) / "server")
        await server.start()
        app_dir = Path(tmp) / "app"
        app_dir.mkdir()
        (app_dir / "_index.yaml").write_text(APP_YAML.replace("ADDRESS", server.address))
        (app_dir / "echo.lua").write_text(ECHO_LUA)
        app = App.load(app_dir, report=lambda _: None)
        try:
            await app.start()
            lua = await app.start_workflow("app:echo", workflow_id=f"echo-{uuid.uuid4().hex}")
            pid = f"{{app:client@app:worker|{lua.id}}}"
            client = await app.any_client()
            native_queue = f"bench-native-{uuid.uuid4().hex}"
            async with Worker(
                client,
                task_queue=native_queue,
                workflows=[NativeEcho],
                activities=[answer],
                workflow_runner=UnsandboxedWorkflowRunner(),
            ):
                natives = {
                    name: await client.start_workflow(
                        NativeEcho.run, name == "native-local",
                        id=f"{name}-{uuid.uuid4().hex}", task_queue=native_queue,
                    )
                    for name in ("native", "native-local")
                }  # fmt: skip
                await luaflow_round(app, pid, WARMUP)
                for handle in natives.values():
                    await native_round(client, handle.id, WARMUP)
                for i in range(rounds):
                    for name in results if i % 2 == 0 else reversed(list(results)):
                        if name == "luaflow":
                            results[name] += await luaflow_round(app, pid, k)
                        else:
                            results[name] += await native_round(client, natives[name].id, k)
                for handle in natives.values():
                    await handle.signal(NativeEcho.stop)
                await lua.signal("stop")
                done = [await h.result() for h in natives.values()] + [await lua.result()]
                if done != ["stopped"] * 3:
                    raise SystemExit("an echo workflow did not stop cleanly")
        finally:
            await app.stop()
            await server.stop()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--k", type=int, default=200, help="pings per round and variant")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    results = asyncio.run(bench(args.k, args.rounds))
    table = Table(title=f"host -> workflow -> host round trip ({args.k} x {args.rounds} each)")
    columns = ("variant", "round trips", "p50 ms", "p95 ms", "mean ms", "p50 vs native",
               "p50 vs native-local")  # fmt: skip
    for column in columns:
        table.add_column(column, justify="right")
    bases = [statistics.median(results[name]) for name in ("native", "native-local")]
    for name, took in results.items():
        p50, p95 = statistics.median(took), statistics.quantiles(took, n=20)[-1]
        table.add_row(
            name, str(len(took)), f"{p50:.1f}", f"{p95:.1f}", f"{statistics.mean(took):.1f}",
            *(f"{p50 / base:.2f}x" for base in bases),
        )  # fmt: skip
    Console().print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
