"""Update round trips and activity fan-out: luaflow (Lua) vs native temporalio (Python).

Two workflow shapes that stress what ``bench_orders.py`` does not, in one run against one
embedded dev server, each measured for three variants:

* ``luaflow``: Lua workflows written to a temp app folder, booted with ``luaflow.app.App``;
* ``native-sandboxed``: the same workflows as ``@workflow.defn`` classes, default sandbox;
* ``native-unsandboxed``: the same classes with UnsandboxedWorkflowRunner (what luaflow uses).

1. **Update round trip**: a long-running ``echo`` workflow answers each Temporal update "ping"
   (Lua: a message from the inbox answered with ``process.send(msg:from(), "ok", ...)``; native:
   an update handler). The client sends K updates one after the other and times each.
2. **Fan-out**: a ``fanout`` workflow starts 50 trivial activities at once and collects their
   results (Lua: ``funcs.async``; native: ``asyncio.gather`` of ``workflow.execute_activity``).
   M workflows run with a small number in flight.

Each variant has its own worker and task queue and never runs at the same time as another, so
the process's CPU delta belongs to one variant; rounds run in palindromic order (ABC, CBA).
Usage: ``python bench/bench_messages.py [--k 200] [--m 40] [--width 50] [--rounds 4]``.

The native workflows live in this file, so the sandbox re-executes this module for every
workflow it instantiates: the top level is kept to cheap definitions and passed-through imports.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from temporalio import activity, workflow
from temporalio.client import WorkflowHandle, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.worker import UnsandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

with workflow.unsafe.imports_passed_through():
    import yaml
    from bench_orders import (
        ACTIVITY_TIMEOUT,
        bounded,
        process_cpu,
        round_sizes,
        server_cpu,
        server_quiet,
    )
    from bench_orders import (
        NativeVariant as OrdersNativeVariant,
    )
    from rich.console import Console
    from rich.table import Table

    from luaflow.app import App
    from luaflow.devserver import DevServer

#: Untimed update round trips on each fresh worker before the timed ones.
WARMUP_UPDATES = 20
#: Untimed fan-out workflows on each fresh worker before the timed ones.
WARMUP_FANOUTS = 3
#: Seconds an update or a workflow result may take before the run fails (instead of hanging).
STEP_TIMEOUT = 60


class WrongResult(Exception):
    """A workflow or an update answered something else than the same code in Python would."""


# -- the Lua app -----------------------------------------------------------------------------------

ECHO_LUA = """\
-- Answers each "ping" update with n + 1 and how many pings it has seen; "stop" ends the run.
return function()
    local inbox = process.inbox()
    local seen = 0
    while true do
        local msg = inbox:receive()
        local topic = msg:topic()
        if topic == "stop" then
            return {count = seen}
        elseif topic == "ping" then
            seen = seen + 1
            local data = msg:payload():data()
            process.send(msg:from(), "ok", {n = data.n + 1, seen = seen})
        else
            process.send(msg:from(), "nak", "unknown topic " .. topic)
        end
    end
end
"""

FANOUT_LUA = """\
-- Starts n activities at once, then collects their results in order.
local funcs = require("funcs")

return function(n)
    local futures = {}
    for i = 1, n do futures[i] = funcs.async("app:reserve", "f" .. i) end
    local results = {}
    for i, f in ipairs(futures) do
        f:response():receive()
        local value, err = f:result()
        if err ~= nil then return nil, err end
        results[i] = value:data()
    end
    return {count = #results, results = results}
end
"""

RESERVE_LUA = """\
return function(id)
    return "res-" .. tostring(id)
end
"""


def app_index(address: str, task_queue: str) -> dict[str, Any]:
    """The app's _index.yaml: one client on the bench server, one worker, two workflows."""

    def on_worker(role: str) -> dict[str, Any]:
        return {"temporal": {role: {"worker": "app:worker"}}}

    return {
        "version": "1.0",
        "namespace": "app",
        "entries": [
            {
                "name": "client",
                "kind": "temporal.client",
                "address": address,
                "lifecycle": {"auto_start": True},
            },
            {
                "name": "worker",
                "kind": "temporal.worker",
                "client": "client",
                "task_queue": task_queue,
                "lifecycle": {"auto_start": True, "depends_on": ["app:client"]},
            },
            {
                "name": "echo",
                "kind": "workflow.lua",
                "source": "file://echo.lua",
                "meta": on_worker("workflow"),
            },
            {
                "name": "fanout",
                "kind": "workflow.lua",
                "source": "file://fanout.lua",
                "modules": ["funcs"],
                "meta": on_worker("workflow"),
            },
            {
                "name": "reserve",
                "kind": "function.lua",
                "source": "file://reserve.lua",
                "meta": on_worker("activity"),
            },
        ],
    }


# -- the native workflows: the Lua ones, line for line ---------------------------------------------


@activity.defn(name="reserve")
def reserve(item_id: str) -> str:
    """reserve.lua: the trivial activity of the fan-out."""
    return f"res-{item_id}"


@workflow.defn(name="echo")
class NativeEcho:
    """echo.lua in Python: an update handler answers each ping; a "stop" signal ends the run."""

    def __init__(self) -> None:
        self.seen = 0
        self.stopped = False

    @workflow.update
    async def ping(self, data: dict[str, Any]) -> dict[str, Any]:
        self.seen += 1
        return {"n": data["n"] + 1, "seen": self.seen}

    @workflow.signal
    def stop(self) -> None:
        self.stopped = True

    @workflow.run
    async def run(self) -> dict[str, Any]:
        await workflow.wait_condition(lambda: self.stopped)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return {"count": self.seen}


@workflow.defn(name="fanout")
class NativeFanout:
    """fanout.lua in Python: n activities at once, results collected in order."""

    @workflow.run
    async def run(self, n: int) -> dict[str, Any]:
        results = await asyncio.gather(
            *(
                workflow.execute_activity(reserve, f"f{i}", start_to_close_timeout=ACTIVITY_TIMEOUT)
                for i in range(1, n + 1)
            )
        )
        return {"count": len(results), "results": list(results)}


# -- variants: one worker each, started and stopped around each round ------------------------------


class Variant(ABC):
    """A way to run the two workflows: owns its worker and its task queue."""

    name: str

    @abstractmethod
    async def start(self) -> None:
        """Connect and start the worker."""

    @abstractmethod
    async def start_workflow(
        self, kind: str, args: list[Any], workflow_id: str
    ) -> WorkflowHandle[Any, Any]:
        """Start workflow `kind` ("echo" or "fanout") on this variant's task queue."""

    @abstractmethod
    async def stop(self) -> None:
        """Shut the worker down; nothing of this variant may keep running afterwards."""


class LuaVariant(Variant):
    """The Lua app, written once to a temp folder whose client points at the bench server."""

    def __init__(self, address: str, workdir: Path) -> None:
        self.name = "luaflow"
        self.app_dir = workdir / "messages-app"
        src = self.app_dir / "src"
        src.mkdir(parents=True)
        for name, text in (
            ("echo.lua", ECHO_LUA),
            ("fanout.lua", FANOUT_LUA),
            ("reserve.lua", RESERVE_LUA),
        ):
            (src / name).write_text(text)
        index = app_index(address, f"bench-lua-{uuid.uuid4().hex[:8]}")
        (src / "_index.yaml").write_text(yaml.safe_dump(index, sort_keys=False))
        self.app: App | None = None

    async def start(self) -> None:
        self.app = App.load(self.app_dir, report=lambda _: None)
        await self.app.start()

    async def start_workflow(
        self, kind: str, args: list[Any], workflow_id: str
    ) -> WorkflowHandle[Any, Any]:
        assert self.app is not None, "start() first"
        return await self.app.start_workflow(f"app:{kind}", args, workflow_id)

    async def stop(self) -> None:
        if self.app is not None:
            await self.app.stop()
            self.app = None


class NativeVariant(OrdersNativeVariant):
    """NativeEcho and NativeFanout on a worker configured like luaflow's (64-thread executor)."""

    workflows: ClassVar[list[type]] = [NativeEcho, NativeFanout]
    activities: ClassVar[list[Callable[..., Any]]] = [reserve]

    async def start_workflow(
        self, kind: str, args: list[Any], workflow_id: str
    ) -> WorkflowHandle[Any, Any]:
        assert self.client is not None, "start() first"
        return await self.client.start_workflow(
            kind, args=args, id=workflow_id, task_queue=self.task_queue
        )


# -- measurements ----------------------------------------------------------------------------------


@dataclass
class Figures:
    """What one variant measured, added up over the rounds."""

    name: str
    latencies: list[float] = field(default_factory=list)  # seconds per update round trip
    update_cpu: float = 0.0
    update_server_cpu: float = 0.0
    fanouts: list[float] = field(default_factory=list)  # seconds per fan-out workflow
    fanout_seconds: float = 0.0
    fanout_cpu: float = 0.0
    fanout_server_cpu: float = 0.0
    fanout_rates: list[float] = field(default_factory=list)

    def latency_ms(self, q: float) -> float:
        """The q-quantile (0.5, 0.95) of the update round trips, in ms."""
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000

    @property
    def mean_ms(self) -> float:
        return statistics.fmean(self.latencies) * 1000

    @property
    def per_second(self) -> float:
        return len(self.fanouts) / self.fanout_seconds


async def echo_round(variant: Variant, figures: Figures, k: int, server_pid: int | None) -> None:
    """Warm up, then time `k` sequential "ping" updates on one echo workflow; check every reply."""
    handle = await variant.start_workflow("echo", [], f"{variant.name}-echo-{uuid.uuid4().hex}")
    seen = 0

    async def ping(n: int) -> float:
        nonlocal seen
        t0 = time.perf_counter()
        async with asyncio.timeout(STEP_TIMEOUT):
            reply = await handle.execute_update("ping", {"n": n})
        elapsed = time.perf_counter() - t0
        seen += 1
        if reply != {"n": n + 1, "seen": seen}:
            raise WrongResult(f"{variant.name}: ping {n} (#{seen}) answered {reply!r}")
        return elapsed

    for n in range(WARMUP_UPDATES):
        await ping(n)
    await server_quiet(server_pid)
    cpu0, server0 = process_cpu(), server_cpu(server_pid)
    for n in range(k):
        figures.latencies.append(await ping(1000 + n))
    figures.update_cpu += process_cpu() - cpu0
    figures.update_server_cpu += server_cpu(server_pid) - server0
    await handle.signal("stop")
    async with asyncio.timeout(STEP_TIMEOUT):
        result = await handle.result()
    if result != {"count": seen}:
        raise WrongResult(f"{variant.name}: echo ended with {result!r}, expected count {seen}")


async def run_fanouts(
    variant: Variant, prefix: str, count: int, width: int, concurrency: int
) -> list[float]:
    """Run `count` fan-out workflows, `concurrency` in flight; each one's latency, checked."""
    expected = {"count": width, "results": [f"res-f{i}" for i in range(1, width + 1)]}

    async def one(i: int) -> float:
        t0 = time.perf_counter()
        handle = await variant.start_workflow("fanout", [width], f"{prefix}-{i}")
        async with asyncio.timeout(STEP_TIMEOUT):
            result = await handle.result()
        if result != expected:
            raise WrongResult(f"{variant.name}: fan-out {handle.id} returned {result!r}")
        return time.perf_counter() - t0

    return await bounded(range(count), concurrency, one)


async def fanout_round(
    variant: Variant, figures: Figures, m: int, args: argparse.Namespace, pid: int | None
) -> None:
    """Warm up, then time `m` fan-out workflows; add wall, latencies and CPU to figures."""
    run = uuid.uuid4().hex[:6]
    await run_fanouts(
        variant, f"{variant.name}-fwarm-{run}", WARMUP_FANOUTS, args.width, args.concurrency
    )
    await server_quiet(pid)
    cpu0, server0, t0 = process_cpu(), server_cpu(pid), time.perf_counter()
    latencies = await run_fanouts(
        variant, f"{variant.name}-fan-{run}", m, args.width, args.concurrency
    )
    seconds = time.perf_counter() - t0
    figures.fanout_cpu += process_cpu() - cpu0
    figures.fanout_server_cpu += server_cpu(pid) - server0
    figures.fanout_seconds += seconds
    figures.fanouts.extend(latencies)
    figures.fanout_rates.append(m / seconds)


async def measure_round(
    variant: Variant, figures: Figures, k: int, m: int, args: argparse.Namespace, pid: int | None
) -> None:
    """One round on a fresh worker: `k` update round trips, then `m` fan-out workflows."""
    await variant.start()
    try:
        await echo_round(variant, figures, k, pid)
        await fanout_round(variant, figures, m, args, pid)
    finally:
        await variant.stop()


def _ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x"


def update_table(figures: list[Figures], args: argparse.Namespace) -> Table:
    sbx = next(f for f in figures if f.name == "native-sandboxed")
    unsbx = next(f for f in figures if f.name == "native-unsandboxed")
    out = Table(
        title=f"Update round trip: {args.k} sequential updates per variant in {args.rounds} "
        "round(s) (latency ratios above 1 = slower)"
    )
    headers = (
        "variant",
        "p50 ms",
        "p95 ms",
        "mean ms",
        "p50 vs sandboxed",
        "p50 vs unsandboxed",
        "mean vs sandboxed",
        "mean vs unsandboxed",
        "CPU ms/update",
        "server CPU ms/update",
    )
    for header in headers:
        out.add_column(header, justify="left" if header == "variant" else "right")
    for f in figures:
        n = len(f.latencies)
        p50 = f.latency_ms(0.5)
        out.add_row(
            f.name,
            f"{p50:.2f}",
            f"{f.latency_ms(0.95):.2f}",
            f"{f.mean_ms:.2f}",
            _ratio(p50, sbx.latency_ms(0.5)),
            _ratio(p50, unsbx.latency_ms(0.5)),
            _ratio(f.mean_ms, sbx.mean_ms),
            _ratio(f.mean_ms, unsbx.mean_ms),
            f"{f.update_cpu / n * 1000:.2f}",
            f"{f.update_server_cpu / n * 1000:.2f}",
        )
    return out


def fanout_table(figures: list[Figures], args: argparse.Namespace) -> Table:
    sbx = next(f for f in figures if f.name == "native-sandboxed")
    unsbx = next(f for f in figures if f.name == "native-unsandboxed")
    out = Table(
        title=f"Fan-out: {args.m} workflows x {args.width} parallel activities per variant in "
        f"{args.rounds} round(s), {args.concurrency} in flight (wf/s ratios above 1 = faster)"
    )
    headers = (
        "variant",
        "wf/s",
        "wf/s vs sandboxed",
        "wf/s vs unsandboxed",
        "mean ms/wf",
        "p95 ms/wf",
        "CPU ms/wf",
        "CPU vs sandboxed",
        "CPU vs unsandboxed",
        "server CPU ms/wf",
        "wf/s per round",
    )
    for header in headers:
        out.add_column(header, justify="left" if header == "variant" else "right")

    def cpu_per_wf(f: Figures) -> float:
        return f.fanout_cpu / len(f.fanouts) * 1000

    for f in figures:
        n = len(f.fanouts)
        ordered = sorted(f.fanouts)
        out.add_row(
            f.name,
            f"{f.per_second:.2f}",
            _ratio(f.per_second, sbx.per_second),
            _ratio(f.per_second, unsbx.per_second),
            f"{statistics.fmean(f.fanouts) * 1000:.0f}",
            f"{ordered[min(n - 1, round(0.95 * (n - 1)))] * 1000:.0f}",
            f"{cpu_per_wf(f):.1f}",
            _ratio(cpu_per_wf(f), cpu_per_wf(sbx)),
            _ratio(cpu_per_wf(f), cpu_per_wf(unsbx)),
            f"{f.fanout_server_cpu / n * 1000:.1f}",
            " / ".join(f"{rate:.2f}" for rate in f.fanout_rates),
        )
    return out


async def bench(args: argparse.Namespace) -> list[Figures]:
    console = Console(stderr=True)
    with tempfile.TemporaryDirectory(prefix="luaflow-bench-") as tmp:
        server = DevServer(Path(tmp) / "temporal")
        await server.start()
        try:
            variants: list[Variant] = [
                NativeVariant("native-sandboxed", server.address, SandboxedWorkflowRunner()),
                NativeVariant("native-unsandboxed", server.address, UnsandboxedWorkflowRunner()),
                LuaVariant(server.address, Path(tmp)),
            ]
            figures = {v.name: Figures(v.name) for v in variants}
            sizes = zip(
                round_sizes(args.k, args.rounds), round_sizes(args.m, args.rounds), strict=True
            )
            # Palindromic order (ABC, CBA, ...) so the server's drift over a run favours no one.
            for r, (k, m) in enumerate(sizes):
                for variant in variants if r % 2 == 0 else variants[::-1]:
                    console.log(f"{variant.name}: round {r + 1}, {k} updates, {m} fan-outs")
                    await measure_round(variant, figures[variant.name], k, m, args, server.pid)
        finally:
            await server.stop()
    return list(figures.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--k", type=int, default=200, help="update round trips per variant")
    parser.add_argument("--m", type=int, default=40, help="fan-out workflows per variant")
    parser.add_argument("--width", type=int, default=50, help="activities per fan-out workflow")
    parser.add_argument("--concurrency", type=int, default=2, help="fan-out workflows in flight")
    parser.add_argument("--rounds", type=int, default=4, help="rounds per variant")
    args = parser.parse_args()
    if not 1 <= args.rounds <= min(args.k, args.m):
        parser.error("--rounds must be between 1 and min(--k, --m)")
    t0 = time.perf_counter()
    try:
        figures = asyncio.run(bench(args))
    except (WrongResult, TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError) as err:
        print(f"FAILED: {err or f'no answer within {STEP_TIMEOUT} s'}", file=sys.stderr)
        return 1
    console = Console(file=sys.stdout, width=200)
    console.print(update_table(figures, args))
    console.print(fanout_table(figures, args))
    console.print(f"total {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
