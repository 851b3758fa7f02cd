"""Orders workflow throughput, CPU and memory: luaflow (Lua) vs native temporalio (Python).

luaflow interprets workflow code in a Lua state hosted by a Temporal Python worker. This script
measures what that costs against the same workflow written natively with temporalio, in one run
against one embedded dev server, so every variant sees the same server and machine:

* ``luaflow``: the example app's Lua files, booted with ``luaflow.app.App``;
* ``native-sandboxed``: a ``@workflow.defn`` class with the default SandboxedWorkflowRunner;
* ``native-unsandboxed``: the same class with UnsandboxedWorkflowRunner (what luaflow uses).

Variants never run at the same time, each has its own worker and task queue, so the process's
CPU and RSS deltas belong to one variant. First each variant's memory per cached workflow is
measured, then its N orders are timed in rounds run in palindromic order (ABC, CBA), each
started once the server is idle, so that the server's drift over a run (its database grows,
background work comes and goes) favours no variant.
With ``--breakdown`` it also prints the CPU the threads running luaflow's own steps spent per
order (state, workflow build, scheduler steps, activity host calls).
Usage: ``python bench/bench_orders.py [--n 200] [--concurrency 50] [--breakdown]``.

The native workflow lives in this file, so the sandbox re-executes this module for every
workflow it instantiates: the top level is kept to cheap definitions and passed-through imports.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import ctypes.util
import functools
import gc
import json
import os
import re
import resource
import shutil
import sys
import tempfile
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

with workflow.unsafe.imports_passed_through():
    import yaml
    from rich.console import Console
    from rich.table import Table

    from luaflow.app import App
    from luaflow.devserver import DevServer
    from luaflow.engine import Programs
    from luaflow.lua import LuaState
    from luaflow.workflow import Scheduler

#: Completed workflows run before measuring, so imports and first-use caches are paid untimed.
WARMUP = 20
#: Same default as luaflow's funcs.call (SPEC 2.1), so both sides schedule identical activities.
ACTIVITY_TIMEOUT = timedelta(minutes=10)
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


# -- the native workflow: the Lua example, line for line ------------------------------------------


@activity.defn(name="charge_payment")
def charge_payment(request: dict[str, Any]) -> dict[str, Any]:
    """Same work as payment.lua's charge: validate, JSON-encode, print, build an id."""
    amount = request.get("amount")
    if not isinstance(amount, int | float) or amount <= 0:
        raise ApplicationError(f"invalid amount: {amount}", non_retryable=True)
    print("charged " + json.dumps(request))
    return {"id": f"pay-{request.get('customer')}-{amount}"}


@activity.defn(name="ship_order")
def ship_order(request: dict[str, Any]) -> dict[str, Any]:
    """Same work as shipping.lua's ship: validate, print, build a tracking number."""
    if not request.get("address"):
        raise ApplicationError(
            f"order {request.get('order_id')} has no shipping address", non_retryable=True
        )
    print(f"shipped {request.get('order_id')}")
    return {"tracking_number": f"TRK-{request.get('order_id')}"}


@activity.defn(name="refund_payment")
def refund_payment(payment_id: str) -> dict[str, Any]:
    """Same work as payment.lua's refund (never reached by valid orders)."""
    print(f"refunded {payment_id}")
    return {"refunded": payment_id}


def duration_seconds(text: str) -> float:
    """The Go-style durations the benchmark uses ("10ms", "1h"), as Lua's time.sleep reads them."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"unsupported duration {text!r}")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


@workflow.defn(name="order_workflow")
class NativeOrderWorkflow:
    """order_workflow.lua in Python: charge, durable sleep, ship (refund on a shipping error)."""

    @workflow.run
    async def run(self, order: dict[str, Any]) -> dict[str, Any]:
        try:
            payment = await workflow.execute_activity(
                charge_payment,
                {"amount": order.get("total"), "customer": order.get("customer_id")},
                start_to_close_timeout=ACTIVITY_TIMEOUT,
            )
        except Exception as err:
            return {"status": "failed", "error": str(err)}
        delay = duration_seconds(order.get("delay") or "1h")
        if delay > 0:  # as Lua's time.sleep, which starts no timer for a zero duration
            await workflow.sleep(delay)
        try:
            shipment = await workflow.execute_activity(
                ship_order,
                {"order_id": order.get("id"), "address": order.get("shipping_address")},
                start_to_close_timeout=ACTIVITY_TIMEOUT,
            )
        except Exception as err:
            await workflow.execute_activity(
                refund_payment, payment["id"], start_to_close_timeout=ACTIVITY_TIMEOUT
            )
            return {"status": "failed", "error": str(err)}
        return {
            "status": "completed",
            "payment_id": payment["id"],
            "tracking": shipment["tracking_number"],
        }


# -- variants: one worker each, started and stopped around its measurements -----------------------


class Variant(ABC):
    """A way to run the order workflow: owns its worker and its task queue."""

    name: str

    @abstractmethod
    async def start(self) -> None:
        """Connect and start the worker."""

    @abstractmethod
    async def start_workflow(
        self, order: dict[str, Any], workflow_id: str
    ) -> WorkflowHandle[Any, Any]:
        """Start one order workflow on this variant's task queue."""

    @abstractmethod
    async def stop(self) -> None:
        """Shut the worker down; nothing of this variant may keep running afterwards."""


class LuaVariant(Variant):
    """The example app, copied to a temp folder whose _index.yaml points at the bench server."""

    def __init__(self, address: str, workdir: Path) -> None:
        self.name = "luaflow"
        self.address = address
        self.workdir = workdir
        self.app: App | None = None
        self.app_dir: Path | None = None

    def _write_app(self) -> Path:
        # Resolved here, not at import: the sandbox re-imports this module and forbids resolve().
        example = Path(__file__).resolve().parent.parent / "examples" / "orders" / "src"
        app_dir = self.workdir / "orders-app"
        src = app_dir / "src"
        src.mkdir(parents=True)
        for lua in example.glob("*.lua"):
            shutil.copy(lua, src / lua.name)
        index = yaml.safe_load((example / "_index.yaml").read_text())
        for entry in index["entries"]:
            if entry["kind"] == "temporal.client":
                entry["address"] = self.address
            elif entry["kind"] == "temporal.worker":
                entry["task_queue"] = f"bench-lua-{uuid.uuid4().hex[:8]}"
        (src / "_index.yaml").write_text(yaml.safe_dump(index, sort_keys=False))
        return app_dir

    async def start(self) -> None:
        if self.app_dir is None:
            self.app_dir = self._write_app()
        self.app = App.load(self.app_dir, report=lambda _: None)
        await self.app.start()

    async def start_workflow(
        self, order: dict[str, Any], workflow_id: str
    ) -> WorkflowHandle[Any, Any]:
        assert self.app is not None, "start() first"
        return await self.app.start_workflow("app:order_workflow", [order], workflow_id)

    async def stop(self) -> None:
        if self.app is not None:
            await self.app.stop()
            self.app = None


class NativeVariant(Variant):
    """NativeOrderWorkflow on a worker configured like luaflow's (same activity executor).
    Other benchmarks subclass it with their own workflows and activities."""

    workflows: ClassVar[list[type]] = []
    activities: ClassVar[list[Callable[..., Any]]] = []

    def __init__(self, name: str, address: str, runner: WorkflowRunner) -> None:
        self.name = name
        self.address = address
        self.runner = runner
        self.task_queue = f"bench-{name}-{uuid.uuid4().hex[:8]}"
        self.client: Client | None = None
        self.worker: Worker | None = None
        self.task: asyncio.Task[None] | None = None
        self.executor: ThreadPoolExecutor | None = None

    async def start(self) -> None:
        self.client = await Client.connect(self.address)
        self.executor = ThreadPoolExecutor(max_workers=64)  # luaflow's build_worker uses 64 too
        self.worker = Worker(
            self.client,
            task_queue=self.task_queue,
            workflows=self.workflows or [NativeOrderWorkflow],
            activities=self.activities or [charge_payment, ship_order, refund_payment],
            activity_executor=self.executor,
            workflow_runner=self.runner,
        )
        self.task = asyncio.create_task(self.worker.run())

    async def start_workflow(
        self, order: dict[str, Any], workflow_id: str
    ) -> WorkflowHandle[Any, Any]:
        assert self.client is not None, "start() first"
        return await self.client.start_workflow(
            NativeOrderWorkflow.run, order, id=workflow_id, task_queue=self.task_queue
        )

    async def stop(self) -> None:
        if self.worker is not None and self.task is not None:
            await self.worker.shutdown()
            await asyncio.gather(self.task, return_exceptions=True)
        if self.executor is not None:
            self.executor.shutdown()
        self.worker = self.task = self.executor = self.client = None


# -- measurements ----------------------------------------------------------------------------------


class Figures:
    """What one variant measured; the timed orders add up over the rounds."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.n = 0
        self.seconds = 0.0
        self.cpu = 0.0
        self.server_cpu = 0.0
        self.rss_per_wf = float("nan")
        self.round_rates: list[float] = []

    @property
    def per_second(self) -> float:
        return self.n / self.seconds


def all_variants(address: str, scratch: Path) -> list[Variant]:
    """The three variants every comparison runs, on the server at `address`."""
    return [
        NativeVariant("native-sandboxed", address, SandboxedWorkflowRunner()),
        NativeVariant("native-unsandboxed", address, UnsandboxedWorkflowRunner()),
        LuaVariant(address, scratch),
    ]


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """glibc, for malloc_trim; None elsewhere (RSS figures then read lower)."""
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def process_cpu() -> float:
    """User + system CPU seconds of this process, all threads (the SDK core's Rust ones too)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def server_cpu(pid: int | None) -> float:
    """CPU seconds of the dev server process, to see whether the server is the bottleneck."""
    if pid is None:
        return float("nan")
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes() -> int:
    """Resident set size now, after a full collection so garbage does not count.

    malloc_trim hands free heap pages back to the kernel: otherwise memory freed by an earlier
    variant is silently reused and the next variant's growth reads too low (even negative).
    """
    gc.collect()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
    resident_pages = int(Path("/proc/self/statm").read_text().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


@contextlib.contextmanager
def stdout_silenced() -> Iterator[None]:
    """Send file descriptor 1 to /dev/null: the activities print, as the example's do.

    Redirecting ``sys.stdout`` is not enough: Lua's ``print`` is the C one, writing to fd 1.
    """
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


async def server_quiet(pid: int | None, timeout: float = 30.0) -> None:
    """Wait until the server idles (under 0.1 core for 0.5 s), or `timeout`.

    Terminating the parked workflows and shutting workers down leave the server background work
    which would otherwise be billed to the next timed round.
    """
    deadline = time.monotonic() + timeout
    while pid is not None and time.monotonic() < deadline:
        before = server_cpu(pid)
        await asyncio.sleep(0.5)
        if server_cpu(pid) - before < 0.05:
            return


def make_order(i: int, delay: str) -> dict[str, Any]:
    """A valid order, so every run takes the happy path: charge, sleep, ship."""
    return {
        "id": f"o-{i}",
        "customer_id": f"c-{i % 17}",
        "total": 10 + i % 90,
        "shipping_address": f"{i} Bench Street",
        "delay": delay,
    }


async def bounded(
    items: Iterable[Any], concurrency: int, fn: Callable[[Any], Awaitable[Any]]
) -> list[Any]:
    """Apply `fn` to every item with at most `concurrency` calls in flight, keeping order."""
    gate = asyncio.Semaphore(concurrency)

    async def one(item: Any) -> Any:
        async with gate:
            return await fn(item)

    return await asyncio.gather(*(one(item) for item in items))


async def start_orders(
    variant: Variant, prefix: str, count: int, delay: str, concurrency: int
) -> list[WorkflowHandle[Any, Any]]:
    """Start `count` orders with ids `prefix-i`, at most `concurrency` starts in flight."""
    return await bounded(
        range(count),
        concurrency,
        lambda i: variant.start_workflow(make_order(i, delay), f"{prefix}-{i}"),
    )


async def run_orders(
    variant: Variant, prefix: str, count: int, delay: str, concurrency: int
) -> None:
    """Start `count` orders (bounded starts), await every result, fail unless all completed."""
    handles = await start_orders(variant, prefix, count, delay, concurrency)
    results = await asyncio.gather(*(h.result() for h in handles))
    bad = [
        (h.id, r) for h, r in zip(handles, results, strict=True) if r.get("status") != "completed"
    ]
    if bad:
        raise SystemExit(f"{variant.name}: {len(bad)} order(s) did not complete, e.g. {bad[0]}")


async def timer_started(handle: WorkflowHandle[Any, Any]) -> bool:
    """Whether the workflow has reached its sleep (the worker finished the task before it)."""
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            return True
    return False


async def cached_memory(variant: Variant, prefix: str, count: int, concurrency: int) -> float:
    """Bytes of RSS per workflow parked in a 1 h sleep (held in the worker's cache).

    A workflow counts as parked once its TimerStarted event is in history: the worker has then
    completed the task that left it sleeping, with its state cached.
    """
    before = rss_bytes()
    handles = await start_orders(variant, prefix, count, "1h", concurrency)
    waiting = list(handles)
    deadline = time.monotonic() + 120
    while waiting:
        if time.monotonic() > deadline:
            raise SystemExit(f"{variant.name}: {len(waiting)} workflow(s) never reached the sleep")
        await asyncio.sleep(0.2)
        parked = await bounded(waiting, concurrency, timer_started)
        waiting = [h for h, done in zip(waiting, parked, strict=True) if not done]
    after = rss_bytes()
    await bounded(handles, concurrency, lambda h: h.terminate(reason="benchmark done"))
    return (after - before) / count


async def measure_memory(variant: Variant, m: int, delay: str, concurrency: int) -> float:
    """RSS per cached workflow, on a worker of its own: terminated workflows stay in a worker's
    cache (no task tells it they ended) and would weigh on a timed run sharing the worker."""
    run = uuid.uuid4().hex[:6]
    await variant.start()
    try:
        await run_orders(variant, f"{variant.name}-warm-{run}", WARMUP, delay, concurrency)
        return await cached_memory(variant, f"{variant.name}-park-{run}", m, concurrency)
    finally:
        await variant.stop()


#: luaflow's own steps of an order, timed by `--breakdown` (nested steps are inside the outer).
BREAKDOWN: tuple[tuple[str, Any, str], ...] = (
    ("activity: the whole host call (Programs.call)", Programs, "call"),
    ("workflow: build the run (Programs.workflow)", Programs, "workflow"),
    ("  LuaState(): runtime and sandbox prelude", LuaState, "__init__"),
    ("Scheduler.start: run to the first wait", Scheduler, "start"),
    ("Scheduler.step: resume with events", Scheduler, "step"),
    ("Scheduler.close: close the state", Scheduler, "close"),
)


class Breakdown:
    """CPU time of the threads running luaflow's own steps (time.thread_time around each call),
    summed over a round; what the SDK, the event loop and payload conversion cost is the rest."""

    def __init__(self) -> None:
        self.seconds = {label: 0.0 for label, _, _ in BREAKDOWN}
        self.calls = dict.fromkeys(self.seconds, 0)
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def timing(self) -> Iterator[None]:
        originals = [(cls, name, getattr(cls, name)) for _, cls, name in BREAKDOWN]
        for (label, cls, name), (_, _, fn) in zip(BREAKDOWN, originals, strict=True):
            setattr(cls, name, self._timed(label, fn))
        try:
            yield
        finally:
            for cls, name, fn in originals:
                setattr(cls, name, fn)

    def _timed(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent = time.thread_time() - t0
                with self._lock:
                    self.seconds[label] += spent
                    self.calls[label] += 1

        return timed

    def table(self, orders: int, worker_cpu: float) -> Table:
        out = Table(title=f"luaflow worker CPU per order by step ({orders} orders)")
        for header in ("step", "ms/order", "calls/order", "share of worker CPU"):
            out.add_column(header, justify="left" if header == "step" else "right")
        for label, seconds in self.seconds.items():
            out.add_row(
                label,
                f"{seconds / orders * 1000:.2f}",
                f"{self.calls[label] / orders:.1f}",
                f"{seconds / worker_cpu:.0%}",
            )
        return out


async def measure_round(
    variant: Variant,
    figures: Figures,
    n: int,
    args: argparse.Namespace,
    server_pid: int | None,
    breakdown: Breakdown | None = None,
) -> None:
    """Time `n` orders on a fresh, warmed-up worker and add wall, CPU and server CPU to figures."""
    run = uuid.uuid4().hex[:6]
    await variant.start()
    try:
        await run_orders(
            variant, f"{variant.name}-warm-{run}", WARMUP, args.delay, args.concurrency
        )
        await server_quiet(server_pid)
        cpu0, server0, t0 = process_cpu(), server_cpu(server_pid), time.perf_counter()
        timing = breakdown.timing() if breakdown is not None else contextlib.nullcontext()
        with timing:
            await run_orders(variant, f"{variant.name}-run-{run}", n, args.delay, args.concurrency)
        seconds = time.perf_counter() - t0
        figures.cpu += process_cpu() - cpu0
        figures.server_cpu += server_cpu(server_pid) - server0
    finally:
        await variant.stop()
    figures.n += n
    figures.seconds += seconds
    figures.round_rates.append(n / seconds)


def table(figures: list[Figures], args: argparse.Namespace) -> Table:
    sandboxed = next(f for f in figures if f.name == "native-sandboxed")
    unsandboxed = next(f for f in figures if f.name == "native-unsandboxed")
    out = Table(
        title=f"{args.n} orders per variant in {args.rounds} round(s) (delay {args.delay}), "
        f"{args.concurrency} concurrent starts; memory: {args.m} parked workflows"
    )
    for header in (
        "variant",
        "total s",
        "wf/s",
        "wf/s vs sandboxed",
        "wf/s vs unsandboxed",
        "worker CPU s",
        "CPU ms/wf",
        "server CPU s",
        "cores busy",
        "KiB/cached wf",
        "wf/s per round",
    ):
        out.add_column(header, justify="left" if header == "variant" else "right")
    for f in figures:
        out.add_row(
            f.name,
            f"{f.seconds:.2f}",
            f"{f.per_second:.1f}",
            f"{f.per_second / sandboxed.per_second:.2f}x",
            f"{f.per_second / unsandboxed.per_second:.2f}x",
            f"{f.cpu:.2f}",
            f"{f.cpu / f.n * 1000:.1f}",
            f"{f.server_cpu:.2f}",
            f"{(f.cpu + f.server_cpu) / f.seconds:.2f}",
            f"{f.rss_per_wf / 1024:.1f}",
            " / ".join(f"{rate:.1f}" for rate in f.round_rates),
        )
    return out


async def bench(args: argparse.Namespace, breakdown: Breakdown | None) -> list[Figures]:
    console = Console(stderr=True)
    with tempfile.TemporaryDirectory(prefix="luaflow-bench-") as tmp:
        server = DevServer(Path(tmp) / "temporal")
        await server.start()
        try:
            variants = all_variants(server.address, Path(tmp))
            figures = {v.name: Figures(v.name) for v in variants}
            with stdout_silenced():
                for variant in variants:
                    console.log(f"{variant.name}: memory of {args.m} parked workflows")
                    figures[variant.name].rss_per_wf = await measure_memory(
                        variant, args.m, args.delay, args.concurrency
                    )
                # Palindromic order (ABC, CBA, ...): the server's speed drifts over a run (its
                # database grows, background work comes and goes); this spreads the drift evenly.
                for r, size in enumerate(round_sizes(args.n, args.rounds)):
                    for variant in variants if r % 2 == 0 else variants[::-1]:
                        console.log(f"{variant.name}: round {r + 1}, {size} orders")
                        timed = breakdown if variant.name == "luaflow" else None
                        await measure_round(
                            variant, figures[variant.name], size, args, server.pid, timed
                        )
        finally:
            await server.stop()
    return list(figures.values())


def round_sizes(n: int, rounds: int) -> list[int]:
    """Split n orders over the rounds as evenly as possible."""
    return [n // rounds + (1 if i < n % rounds else 0) for i in range(rounds)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=200, help="orders timed per variant")
    parser.add_argument("--concurrency", type=int, default=50, help="workflow starts in flight")
    parser.add_argument("--m", type=int, default=200, help="parked workflows for memory")
    parser.add_argument("--rounds", type=int, default=2, help="timed rounds per variant")
    parser.add_argument("--delay", default="10ms", help='the orders\' sleep ("0s", "10ms", ...)')
    parser.add_argument(
        "--breakdown", action="store_true", help="also time luaflow's own steps of an order"
    )
    args = parser.parse_args()
    duration_seconds(args.delay)  # reject what the native workflow could not parse, up front
    if not 1 <= args.rounds <= args.n:
        parser.error("--rounds must be between 1 and --n")
    t0 = time.perf_counter()
    breakdown = Breakdown() if args.breakdown else None
    figures = asyncio.run(bench(args, breakdown))
    console = Console(file=sys.stdout, width=180)
    console.print(table(figures, args))
    if breakdown is not None:
        lua = next(f for f in figures if f.name == "luaflow")
        console.print(breakdown.table(lua.n, lua.cpu))
    console.print(f"{os.cpu_count()} CPU(s), total {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
