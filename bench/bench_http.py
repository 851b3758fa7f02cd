"""HTTP order starts: luaflow's Lua handler vs the same endpoint in native Python (Starlette).

``POST /orders`` starts the ``app:approved_order`` workflow with id ``order-<id>`` and the
"fail" id conflict policy and answers 202 once Temporal has accepted the start. Two servers of
that endpoint run in this process, on one event loop, against one embedded dev server:

* ``luaflow``: the example app (``examples/orders``) booted with ``luaflow.app.App`` and its
  ``http.service`` (uvicorn); the handler is ``api.lua``'s ``create_order``, run on a thread in
  a fresh Lua state, whose ``process.with_options(...):spawn(...)`` waits for the start made on
  the app's event loop;
* ``native``: a minimal Starlette app whose handler awaits ``client.start_workflow`` itself,
  served by uvicorn with luaflow's uvicorn settings, same workflow type and task queue.

No worker runs: what is timed is "request sent -> 202 received" (httpx.AsyncClient over
loopback, keep-alive, at most C requests in flight, in a load-generator process of its own so
that its CPU and its hold on the GIL are not the servers'), so the started workflows just wait
in the task queue; CPU ms/req is this process's (the servers and their Temporal client). Each
(concurrency, variant) pair is timed in rounds run in palindromic order (native, luaflow, then
luaflow, native), each after untimed warm-up requests and once the server is idle. Every
response must be a 202 naming the workflow; a few workflows per prefix are described (running,
right type and task queue), every prefix is listed and must hold exactly the ids posted, then
all of them are terminated. Any failure exits 1.
Usage: ``python bench/bench_http.py [--n 300] [--concurrency 1 20] [--rounds 2]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from bench_orders import bounded, make_order, process_cpu, round_sizes, server_cpu, server_quiet
from rich.console import Console
from rich.table import Table
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from luaflow.app import App
from luaflow.devserver import DevServer

#: Untimed requests before each timed round (opens the connections, warms both handlers).
WARMUP = 20
#: Seconds one request, or the listing of one prefix, may take before the run fails.
STEP_TIMEOUT = 60.0
#: The workflow the endpoint starts (the example's entry id is its Temporal type).
WORKFLOW = "app:approved_order"


class WrongResult(Exception):
    """A response that is not the 202 of a started workflow, or workflows not as posted."""


# -- the two servers of POST /orders ---------------------------------------------------------------


def native_app(client: Client, workflow_type: str, task_queue: str) -> Starlette:
    """api.lua's create_order in Python: same checks, same workflow id and policy, same JSON."""

    async def create_order(request: Request) -> Response:
        try:
            order = await request.json()
        except ValueError as err:
            return JSONResponse({"error": f"invalid JSON: {err}"}, status_code=400)
        order_id = order.get("id") if isinstance(order, dict) else None
        if isinstance(order_id, bool) or not isinstance(order_id, str | int):
            return JSONResponse({"error": "order.id is required"}, status_code=400)
        try:
            handle = await client.start_workflow(
                workflow_type,
                order,
                id=f"order-{order_id}",
                task_queue=task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            )
        except WorkflowAlreadyStartedError as err:
            return JSONResponse(
                {"error": f"workflow {err.workflow_id} is already running"}, status_code=409
            )
        return JSONResponse({"workflow_id": handle.id, "status": "started"}, status_code=202)

    return Starlette(routes=[Route("/orders", create_order, methods=["POST"])])


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling (as luaflow's http.service runs it)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class NativeServer:
    """The native app on uvicorn, configured as luaflow configures its http.service."""

    app: Starlette
    server: uvicorn.Server | None = None
    task: asyncio.Task[None] | None = None

    async def start(self) -> str:
        """Serve on a free loopback port; the base URL."""
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=0,
            log_level="warning",
            lifespan="off",
            timeout_keep_alive=24 * 3600,  # luaflow: no idle timeout unless timeouts.idle
            timeout_graceful_shutdown=10,
        )
        self.server = _QuietServer(config)
        self.task = asyncio.create_task(self.server.serve(), name="native http")
        while not self.server.started:
            if self.task.done():
                self.task.result()
                raise RuntimeError("the native server did not start")
            await asyncio.sleep(0.02)
        host, port = self.server.servers[0].sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    async def stop(self) -> None:
        if self.server is not None and self.task is not None:
            self.server.should_exit = True
            await asyncio.gather(self.task, return_exceptions=True)
        self.server = self.task = None


@dataclass
class Variant:
    """One server of the endpoint: where it listens and the order-id tag of its requests."""

    name: str
    tag: str
    base_url: str
    #: Order ids posted, by (concurrency, "run" or "warm"); each key is one workflow-id prefix.
    posted: dict[tuple[int, str], list[str]] = field(default_factory=dict)

    def expected_workflow_id(self, body: dict[str, Any], order_id: str) -> bool:
        """luaflow answers the spawned PID ``{client@worker|order-<id>}``, native the id."""
        if self.name == "luaflow":
            return str(body.get("workflow_id", "")).endswith(f"|order-{order_id}}}")
        return body.get("workflow_id") == f"order-{order_id}"


# -- measurements ----------------------------------------------------------------------------------


@dataclass
class Figures:
    """What one variant measured at one concurrency, added up over the rounds."""

    name: str
    concurrency: int
    latencies: list[float] = field(default_factory=list)  # seconds, request -> 202
    seconds: float = 0.0
    cpu: float = 0.0
    server_cpu: float = 0.0
    round_rates: list[float] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return len(self.latencies) / self.seconds

    def latency_ms(self, q: float) -> float:
        """The q-quantile (0.5, 0.95) of the request latencies, in ms."""
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


def prefix(variant: Variant, run: str, concurrency: int, kind: str) -> str:
    """The order-id prefix of one (variant, concurrency, kind); never a prefix of another."""
    return f"{variant.tag}-{run}-c{concurrency}-{kind}-"


async def post_orders(
    http: httpx.AsyncClient, order_ids: list[str], concurrency: int
) -> list[tuple[str, int, str, float]]:
    """POST one order per id, `concurrency` in flight: (id, status, body, seconds) each."""

    async def one(i_id: tuple[int, str]) -> tuple[str, int, str, float]:
        i, order_id = i_id
        order = {**make_order(i, "10ms"), "id": order_id, "approval_timeout": "1m"}
        t0 = time.perf_counter()
        response = await http.post("/orders", json=order)
        return order_id, response.status_code, response.text, time.perf_counter() - t0

    return await bounded(enumerate(order_ids), concurrency, one)


async def generate_load() -> None:
    """The load generator (``--generate``), a process of its own so that its CPU and its GIL
    are not the servers': reads {"base_url", "concurrency", "warm", "ids"} from stdin, posts the
    warm-up orders, prints "warm", waits for a line, posts the timed orders on the same
    connections and prints {"seconds", "results"} as JSON."""
    job = json.loads(sys.stdin.readline())
    c = job["concurrency"]
    limits = httpx.Limits(max_connections=c, max_keepalive_connections=c)
    async with httpx.AsyncClient(
        base_url=job["base_url"], timeout=STEP_TIMEOUT, limits=limits
    ) as http:
        warm = await post_orders(http, job["warm"], c)
        print(json.dumps({"warm": warm}), flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        t0 = time.perf_counter()
        results = await post_orders(http, job["ids"], c)
        seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "results": results}), flush=True)


def check_responses(variant: Variant, results: list[list[Any]]) -> list[float]:
    """Every response is the 202 of the workflow started for its order; the latencies."""
    latencies = []
    for order_id, status, text, elapsed in results:
        if status != 202:
            raise WrongResult(f"{variant.name}: order {order_id} answered {status} {text[:200]}")
        body = json.loads(text)
        if body.get("status") != "started" or not variant.expected_workflow_id(body, order_id):
            raise WrongResult(f"{variant.name}: order {order_id} answered {body!r}")
        latencies.append(elapsed)
    return latencies


async def measure_round(
    variant: Variant,
    figures: Figures,
    run: str,
    first: int,
    size: int,
    server_pid: int | None,
) -> None:
    """Warm up, then time `size` requests (order numbers from `first`) on fresh connections,
    sent by a load-generator process."""
    c = figures.concurrency
    warm_prefix = prefix(variant, run, c, "warm")
    warm = variant.posted.setdefault((c, "warm"), [])
    warm_ids = [f"{warm_prefix}{len(warm) + i}" for i in range(WARMUP)]
    warm.extend(warm_ids)
    ids = [f"{prefix(variant, run, c, 'run')}{first + i}" for i in range(size)]
    variant.posted.setdefault((c, "run"), []).extend(ids)
    generator = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--generate",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        limit=64 << 20,  # its report is one JSON line: a long round's latencies exceed 64 KiB
    )  # fmt: skip
    assert generator.stdin is not None and generator.stdout is not None
    job = {"base_url": variant.base_url, "concurrency": c, "warm": warm_ids, "ids": ids}
    generator.stdin.write(json.dumps(job).encode() + b"\n")
    await generator.stdin.drain()
    line = await asyncio.wait_for(generator.stdout.readline(), STEP_TIMEOUT * 10)
    if not line:
        raise WrongResult(f"{variant.name}: the load generator exited during the warm-up")
    check_responses(variant, json.loads(line)["warm"])
    await server_quiet(server_pid)
    cpu0, server0 = process_cpu(), server_cpu(server_pid)
    generator.stdin.write(b"go\n")
    await generator.stdin.drain()
    line = await asyncio.wait_for(generator.stdout.readline(), STEP_TIMEOUT * size)
    figures.cpu += process_cpu() - cpu0
    figures.server_cpu += server_cpu(server_pid) - server0
    if await generator.wait() != 0 or not line:
        raise WrongResult(f"{variant.name}: the load generator failed")
    timed = json.loads(line)
    figures.latencies.extend(check_responses(variant, timed["results"]))
    figures.seconds += timed["seconds"]
    figures.round_rates.append(size / timed["seconds"])


async def listed_ids(client: Client, workflow_id_prefix: str) -> set[str]:
    query = f'WorkflowId STARTS_WITH "{workflow_id_prefix}"'
    return {w.id async for w in client.list_workflows(query)}


async def check_and_terminate(
    client: Client, variants: list[Variant], run: str, workflow_type: str, task_queue: str
) -> int:
    """Describe a few workflows per prefix, list every prefix (exactly the posted ids, waiting
    out visibility lag), then terminate them all; how many were started."""
    all_ids: list[str] = []
    for variant in variants:
        for (c, kind), order_ids in variant.posted.items():
            expected = {f"order-{order_id}" for order_id in order_ids}
            for wid in sorted(expected)[:: max(1, len(expected) // 3)]:
                info = await client.get_workflow_handle(wid).describe()
                if (info.status, info.workflow_type, info.task_queue) != (
                    WorkflowExecutionStatus.RUNNING,
                    workflow_type,
                    task_queue,
                ):
                    raise WrongResult(
                        f"{variant.name}: {wid} is {info.status} {info.workflow_type} "
                        f"on {info.task_queue}"
                    )
            wf_prefix = f"order-{prefix(variant, run, c, kind)}"
            deadline = time.monotonic() + STEP_TIMEOUT
            while (listed := await listed_ids(client, wf_prefix)) != expected:
                if time.monotonic() > deadline:
                    raise WrongResult(
                        f"{variant.name}: {len(listed)} workflow(s) listed under {wf_prefix}, "
                        f"{len(expected)} posted ({len(listed - expected)} unexpected)"
                    )
                await asyncio.sleep(0.5)
            all_ids.extend(expected)
    await bounded(
        all_ids, 20, lambda wid: client.get_workflow_handle(wid).terminate(reason="benchmark done")
    )
    return len(all_ids)


async def bench(args: argparse.Namespace) -> tuple[list[Figures], int]:
    console = Console(stderr=True)
    run = uuid.uuid4().hex[:6]
    with tempfile.TemporaryDirectory(prefix="luaflow-bench-") as tmp:
        server = DevServer(Path(tmp) / "temporal")
        await server.start()
        native: NativeServer | None = None
        app: App | None = None
        try:
            example = Path(__file__).resolve().parent.parent / "examples" / "orders"
            app_dir = Path(tmp) / "orders"
            shutil.copytree(example, app_dir, ignore=shutil.ignore_patterns(".luaflow"))
            environ = {"TEMPORAL_ADDRESS": server.address, "HTTP_ADDR": "127.0.0.1:0"}
            app = App.load(app_dir, report=lambda _: None, environ=environ)
            await app.start(workers=False, http=True)
            _, workflow_type, task_queue = await app.workflow_target(WORKFLOW)
            host, port = app.http_addresses["app:gateway"]
            client = await Client.connect(server.address)
            native = NativeServer(native_app(client, workflow_type, task_queue))
            variants = [
                Variant("native", "py", await native.start()),
                Variant("luaflow", "lf", f"http://{host}:{port}"),
            ]
            figures: list[Figures] = []
            for c in args.concurrency:
                by_name = {v.name: Figures(v.name, c) for v in variants}
                first = 0
                # Palindromic order (AB, BA, ...) so the server's drift favours no variant.
                for r, size in enumerate(round_sizes(args.n, args.rounds)):
                    for variant in variants if r % 2 == 0 else variants[::-1]:
                        console.log(f"{variant.name}: concurrency {c}, round {r + 1}, {size} POSTs")
                        await measure_round(
                            variant, by_name[variant.name], run, first, size, server.pid
                        )
                    first += size
                figures.extend(by_name.values())
            console.log("checking, listing and terminating the started workflows")
            started = await check_and_terminate(client, variants, run, workflow_type, task_queue)
        finally:
            if native is not None:
                await native.stop()
            if app is not None:
                await app.stop()
            await server.stop()
    return figures, started


def _ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x"


def table(figures: list[Figures], args: argparse.Namespace) -> Table:
    out = Table(
        title=f"POST /orders -> 202 (workflow started): {args.n} requests per variant and "
        f"concurrency in {args.rounds} round(s) (req/s ratios above 1 = faster, latency "
        "ratios above 1 = slower)"
    )
    headers = (
        "variant",
        "concurrency",
        "req/s",
        "req/s vs native",
        "p50 ms",
        "p95 ms",
        "mean ms",
        "p50 vs native",
        "p95 vs native",
        "CPU ms/req",
        "server CPU ms/req",
        "req/s per round",
    )
    for header in headers:
        out.add_column(header, justify="left" if header == "variant" else "right")
    for f in figures:
        base = next(b for b in figures if b.name == "native" and b.concurrency == f.concurrency)
        n = len(f.latencies)
        out.add_row(
            f.name,
            str(f.concurrency),
            f"{f.per_second:.1f}",
            _ratio(f.per_second, base.per_second),
            f"{f.latency_ms(0.5):.2f}",
            f"{f.latency_ms(0.95):.2f}",
            f"{statistics.fmean(f.latencies) * 1000:.2f}",
            _ratio(f.latency_ms(0.5), base.latency_ms(0.5)),
            _ratio(f.latency_ms(0.95), base.latency_ms(0.95)),
            f"{f.cpu / n * 1000:.2f}",
            f"{f.server_cpu / n * 1000:.2f}",
            " / ".join(f"{rate:.1f}" for rate in f.round_rates),
        )
    return out


def main() -> int:
    if sys.argv[1:] == ["--generate"]:
        asyncio.run(generate_load())
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=300, help="timed requests per variant and C")
    parser.add_argument(
        "--concurrency", type=int, nargs="+", default=[1, 20], help="requests in flight (C)"
    )
    parser.add_argument("--rounds", type=int, default=2, help="timed rounds per variant and C")
    args = parser.parse_args()
    if not 1 <= args.rounds <= args.n:
        parser.error("--rounds must be between 1 and --n")
    if min(args.concurrency) < 1:
        parser.error("--concurrency must be at least 1")
    t0 = time.perf_counter()
    try:
        figures, started = asyncio.run(bench(args))
    except (WrongResult, httpx.HTTPError) as err:
        print(f"FAILED: {err!r}", file=sys.stderr)
        return 1
    console = Console(file=sys.stdout, width=200)
    console.print(table(figures, args))
    console.print(
        f"{started} workflows started, checked and terminated; total "
        f"{time.perf_counter() - t0:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
