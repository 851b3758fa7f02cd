"""Memory per cached blocked workflow: luaflow (Lua) vs native temporalio, and where luaflow's goes.

Two parts, in one run:

1. **Breakdown** (in this process, no server): where one luaflow workflow run's memory goes.
   Lua heap (lupa ``get_memory_used(total=True)`` after a full Lua collection) of a bare lupa
   runtime, of a fresh ``LuaState`` (the sandbox prelude), of a workflow run's globals
   (``channel``, ``process``, ``payload``...), of each module a workflow may ``require`` (each in a
   fresh run), and of the example order workflow parked in its timer; the code of each of
   luaflow's own Lua chunks compiled alone (and the part of it that is debug information);
   Python-side bytes per run (tracemalloc), lupa wrapper objects per run, CPU per run, and the
   RSS growth per parked run; the same for the order hibernated in its timer (a Journal without
   its Lua state), and the CPU of the step its timer makes, with and without the rebuild.
2. **Cached blocked workflows** (one embedded dev server): for each variant of
   ``bench_orders.py`` (``luaflow``, ``native-sandboxed``, ``native-unsandboxed``), N order
   workflows are parked in a 1 h timer on a fresh worker whose cache holds them all; the RSS
   growth of this process divided by N is the memory per cached workflow. luaflow's runs
   hibernate in that timer, as they do on any worker.

Usage: ``python bench/bench_memory.py [--n 1000] [--runs 200] [--breakdown-only]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import lupa.lua54 as lupa_lua
from bench_orders import (
    all_variants,
    measure_memory,
    rss_bytes,
    stdout_silenced,
)
from rich.console import Console
from rich.table import Table

from luaflow.devserver import DevServer
from luaflow.engine import Programs
from luaflow.lua import LuaLimits, LuaState
from luaflow.registry import load_registry
from luaflow.workflow import (
    Event,
    Journal,
    ScheduleActivity,
    Scheduler,
    StartTimer,
    new_workflow_run,
)

#: The Python SDK's default workflow cache (`max_cached_workflows`), used by every variant here.
SDK_CACHE = 1000
ORDERS_APP = Path(__file__).resolve().parent.parent / "examples" / "orders"
ORDER = {"id": "o-1", "customer_id": "c-1", "total": 42, "shipping_address": "1 Main St"}
#: The packages whose Lua files are luaflow's own chunks.
LUA_PACKAGES = ("luaflow.lua", "luaflow.workflow", "luaflow.process", "luaflow.http")


class ParkedEnv:
    """The engine side of a workflow run that never leaves this process (no server)."""

    def now_ns(self) -> int:
        return 1_700_000_000 * 10**9

    def info(self) -> dict[str, Any]:
        return {"workflow_id": "bench-1", "attempt": 1}

    def history_length(self) -> int:
        return 3

    def history_size(self) -> int:
        return 100

    def random_bytes(self, n: int) -> bytes:
        return bytes(range(n))

    def pid(self) -> str:
        return "{app:temporal_client@app:worker|bench-1}"

    def print(self, text: str) -> None:
        """Silent, as a replaying workflow."""

    def upsert_attrs(self, search: dict[str, Any], memo: dict[str, Any]) -> None:
        """Nothing to keep them."""

    def context(self) -> dict[str, Any]:
        return {}

    def patched(self, patch_id: str) -> bool:
        return True

    def resolve_child(self, target: str, host: str | None) -> tuple[str, str, str]:
        return target, "orders", "{app:temporal_client@app:worker|"


# -- Lua heap ------------------------------------------------------------------------------------


def bare_runtime() -> lupa_lua.LuaRuntime:
    """A lupa runtime with LuaState's options, before anything of luaflow runs in it."""
    return lupa_lua.LuaRuntime(
        encoding=None,
        register_eval=False,
        register_builtins=False,
        unpack_returned_tuples=True,
        max_memory=LuaLimits().memory,
    )


def lua_heap(runtime: lupa_lua.LuaRuntime) -> int:
    """Live Lua heap in bytes, lupa's base included, after a full collection."""
    runtime.gccollect()
    used = runtime.get_memory_used(total=True)
    assert isinstance(used, int), "max_memory must be set for lupa to count"
    return used


def require(state: LuaState, name: str) -> None:
    """`require(name)` from a user chunk; the module stays loaded (require caches it)."""
    state.call(state.load("return require(...)", "bench.lua"), name.encode())


def parked_order(programs: Programs) -> Scheduler:
    """The example order workflow, run until it waits in its `time.sleep`."""
    entry = programs.registry.get("app:order_workflow")
    scheduler, main = programs.workflow(entry, ParkedEnv())
    [charge] = scheduler.start(main, [{**ORDER, "delay": "1h"}])
    assert isinstance(charge, ScheduleActivity), charge
    [timer] = scheduler.step([Event(charge.id, {"id": "pay-c-1-42"})])
    assert isinstance(timer, StartTimer), timer
    return scheduler


def hibernated_order(programs: Programs) -> Journal:
    """`parked_order` as the worker runs it, through a Journal, then hibernated (no Lua state)."""
    entry = programs.registry.get("app:order_workflow")
    journal = Journal(lambda env: programs.workflow(entry, env), ParkedEnv())
    [charge] = journal.start([{**ORDER, "delay": "1h"}])
    assert isinstance(charge, ScheduleActivity), charge
    [timer] = journal.step([Event(charge.id, {"id": "pay-c-1-42"})])
    assert isinstance(timer, StartTimer), timer
    journal.hibernate()
    assert journal.hibernating
    return journal


def wake_cpu(programs: Programs, n: int) -> tuple[float, float]:
    """CPU µs of the step that the order's timer firing makes (to its next activity): for a run
    that kept its state, and for a hibernated one (rebuilt first)."""
    timer = Event(next(iter(parked_order(programs).waiting())), None)  # the same id in every run

    def timed(runs: list[Any], step: Callable[[Any], Any]) -> float:
        t0 = time.process_time()
        for run in runs:
            [ship] = step(run)
            assert isinstance(ship, ScheduleActivity), ship
        spent = time.process_time() - t0
        for run in runs:
            run.close()
        return spent / n * 1e6

    live = timed([parked_order(programs) for _ in range(n)], lambda s: s.step([timer]))
    rebuilt = timed([hibernated_order(programs) for _ in range(n)], lambda j: j.step([timer]))
    return live, rebuilt


@dataclass
class HeapRow:
    stage: str
    bytes: int
    delta: int


def heap_stages(programs: Programs) -> list[HeapRow]:
    """Lua heap of one run at each stage of its making, then each module alone on top."""
    rows: list[HeapRow] = []
    bare = bare_runtime()
    base = lua_heap(bare)
    rows.append(HeapRow("bare lupa runtime", base, base))
    del bare
    state = LuaState()
    prelude = lua_heap(state.runtime)
    rows.append(HeapRow("LuaState (sandbox prelude)", prelude, prelude - base))
    state.close()
    run = new_workflow_run(ParkedEnv())
    globals_ = lua_heap(run.state.runtime)
    rows.append(
        HeapRow("+ workflow globals (channel; process, payload lazy)", globals_, globals_ - prelude)
    )
    names = sorted([*run.loaders(), "process"])  # `process` (and `payload`): built on first use
    run.scheduler.close()
    for name in names:
        run = new_workflow_run(ParkedEnv())
        run.state.install_require(run.loaders(), "bench:memory")
        before = lua_heap(run.state.runtime)
        require(run.state, name)
        after = lua_heap(run.state.runtime)
        rows.append(HeapRow(f'  + require("{name}")', after, after - before))
        run.scheduler.close()
    scheduler = parked_order(programs)
    total = lua_heap(scheduler.state.runtime)
    rows.append(HeapRow("order workflow parked in its timer (total)", total, total - base))
    scheduler.close()
    return rows


@dataclass
class ChunkRow:
    name: str
    source: int
    code: int
    stripped: int


def lua_chunks() -> Iterator[tuple[str, bytes]]:
    for package in LUA_PACKAGES:
        for item in sorted(resources.files(package).iterdir(), key=lambda p: p.name):
            if item.name.endswith(".lua"):
                yield f"{package.rsplit('.', 1)[1]}/{item.name}", item.read_bytes()


def chunk_code(source: bytes, name: str, strip: bool) -> int:
    """Lua heap held by one compiled chunk (its function prototypes), alone in a bare runtime."""
    runtime = bare_runtime()
    compile_ = runtime.eval(
        "function(source, name, strip) "
        "local fn = assert(load(source, name, 't')) "
        "if strip then fn = assert(load(string.dump(fn, true), name, 'b')) end "
        "return fn end"
    )
    before = lua_heap(runtime)
    holder = compile_(source, b"@" + name.encode(), strip)
    after = lua_heap(runtime)
    del holder
    return after - before


def chunk_rows() -> list[ChunkRow]:
    return [
        ChunkRow(name, len(src), chunk_code(src, name, False), chunk_code(src, name, True))
        for name, src in lua_chunks()
    ]


# -- Python side -----------------------------------------------------------------------------------


@dataclass
class PythonRow:
    stage: str
    traced: float  # Python bytes per run
    lua_objects: float  # lupa wrappers of Lua objects held by Python, per run
    python_objects: float  # Python objects held by Lua (lupa's references), per run
    functions: float  # Python function objects per run
    cpu_us: float  # to make and close one
    #: For parked runs: Lua heap as the run left it, live Lua heap, RSS growth (bytes per run).
    parked: tuple[float, float, float] | None = None


def _lupa_objects() -> Counter[str]:
    counts: Counter[str] = Counter()
    for o in gc.get_objects():
        kind = type(o)
        if kind.__module__ == "lupa.lua54":
            counts["python" if kind.__name__ == "_PyReference" else "lua"] += 1
        elif kind.__name__ == "function":
            counts["function"] += 1
    return counts


def python_side(
    stage: str, make: Callable[[], Any], close: Callable[[Any], None], n: int
) -> PythonRow:
    """Python bytes (tracemalloc) and objects per run over `n` live runs; CPU to make and close
    one, timed apart (tracing slows Python down)."""
    for _ in range(10):  # first-use caches (compiled chunks, imports) are not per-run cost
        close(make())
    cpu0 = time.process_time()
    for run in [make() for _ in range(n)]:
        close(run)
    cpu = time.process_time() - cpu0
    gc.collect()
    objects0 = _lupa_objects()
    tracemalloc.start()
    gc.collect()
    traced0 = tracemalloc.get_traced_memory()[0]
    runs = [make() for _ in range(n)]
    gc.collect()
    traced = tracemalloc.get_traced_memory()[0] - traced0
    tracemalloc.stop()
    objects = _lupa_objects()
    objects.subtract(objects0)
    for run in runs:
        close(run)
    return PythonRow(
        stage,
        traced / n,
        objects["lua"] / n,
        objects["python"] / n,
        objects["function"] / n,
        cpu / n * 1e6,
    )


def parked_memory(programs: Programs, n: int) -> tuple[float, float, float]:
    """Per order workflow parked in this process (no SDK around it): Lua heap as the run left it
    (garbage included), live Lua heap, RSS growth."""
    for _ in range(10):
        parked_order(programs).close()
    before = rss_bytes()
    runs = [parked_order(programs) for _ in range(n)]
    after = rss_bytes()
    left = sum(s.state.runtime.get_memory_used(total=True) for s in runs) / n
    live = sum(lua_heap(s.state.runtime) for s in runs) / n
    for run in runs:
        run.close()
    return left, live, (after - before) / n


def python_rows(programs: Programs, n: int) -> list[PythonRow]:
    def close_run(run: Any) -> None:
        run.scheduler.close()

    rows = [
        python_side("LuaState", LuaState, LuaState.close, n),
        python_side(
            "workflow run with its globals", lambda: new_workflow_run(ParkedEnv()), close_run, n
        ),
        python_side("order workflow parked", lambda: parked_order(programs), Scheduler.close, n),
        python_side(
            "order workflow hibernated (its journal)",
            lambda: hibernated_order(programs),
            Journal.close,
            n,
        ),
    ]
    rows[2].parked = parked_memory(programs, n)
    return rows


# -- cached blocked workflows on a dev server ------------------------------------------------------


async def cached(n: int, concurrency: int) -> dict[str, float]:
    """Bytes of RSS per cached blocked workflow, per variant (bench_orders' measurement)."""
    console = Console(stderr=True)
    with tempfile.TemporaryDirectory(prefix="luaflow-bench-") as tmp:
        server = DevServer(Path(tmp) / "temporal")
        await server.start()
        try:
            variants = all_variants(server.address, Path(tmp))
            figures: dict[str, float] = {}
            for variant in variants:
                console.log(f"{variant.name}: {n} workflows parked in a timer")
                with stdout_silenced():  # the activities print, as the example's do
                    figures[variant.name] = await measure_memory(variant, n, "10ms", concurrency)
        finally:
            await server.stop()
    return figures


# -- report ----------------------------------------------------------------------------------------


def _kib(value: float) -> str:
    return f"{value / 1024:.1f}"


def heap_table(rows: list[HeapRow]) -> Table:
    out = Table(title="Lua heap of one workflow run (KiB, after a full Lua collection)")
    for header in ("stage", "Lua heap KiB", "added KiB"):
        out.add_column(header, justify="left" if header == "stage" else "right")
    for row in rows:
        out.add_row(row.stage, _kib(row.bytes), _kib(row.delta))
    return out


def chunk_table(rows: list[ChunkRow]) -> Table:
    out = Table(
        title="luaflow's own Lua chunks, compiled alone (code held per state that loads them)"
    )
    for header in ("chunk", "source KiB", "code KiB", "without debug info KiB", "debug info share"):
        out.add_column(header, justify="left" if header == "chunk" else "right")
    for row in rows:
        share = 1 - row.stripped / row.code if row.code else 0.0
        out.add_row(row.name, _kib(row.source), _kib(row.code), _kib(row.stripped), f"{share:.0%}")
    return out


def python_table(rows: list[PythonRow], n: int) -> Table:
    out = Table(title=f"Python side and totals per run ({n} live runs)")
    headers = (
        "stage",
        "Python KiB",
        "Lua objects held by Python",
        "Python objects held by Lua",
        "Python functions",
        "CPU us (make + close)",
        "Lua heap KiB as left / live",
        "RSS KiB",
    )
    for header in headers:
        out.add_column(header, justify="left" if header == "stage" else "right")
    for row in rows:
        left, live, rss = row.parked or (None, None, None)
        out.add_row(
            row.stage,
            _kib(row.traced),
            f"{row.lua_objects:.1f}",
            f"{row.python_objects:.1f}",
            f"{row.functions:.1f}",
            f"{row.cpu_us:.0f}",
            f"{_kib(left)} / {_kib(live)}" if left is not None and live is not None else "",
            _kib(rss) if rss is not None else "",
        )
    return out


def wake_table(live: float, rebuilt: float, n: int) -> Table:
    out = Table(title=f"CPU of the step the order's timer makes ({n} runs)")
    for header in ("run", "CPU us"):
        out.add_column(header, justify="left" if header == "run" else "right")
    out.add_row("kept its state", f"{live:.0f}")
    out.add_row("hibernated: rebuilt from its journal, then the step", f"{rebuilt:.0f}")
    return out


def cached_table(figures: dict[str, float], n: int) -> Table:
    sandboxed, unsandboxed = figures["native-sandboxed"], figures["native-unsandboxed"]
    out = Table(title=f"RSS per cached blocked workflow ({n} parked in a 1 h timer per variant)")
    for header in ("variant", "KiB/cached wf", "vs unsandboxed", "vs sandboxed"):
        out.add_column(header, justify="left" if header == "variant" else "right")
    for name, value in figures.items():
        out.add_row(name, _kib(value), f"{value / unsandboxed:.2f}x", f"{value / sandboxed:.2f}x")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=SDK_CACHE, help="parked workflows per variant")
    parser.add_argument("--runs", type=int, default=200, help="in-process runs for the breakdown")
    parser.add_argument("--concurrency", type=int, default=50, help="workflow starts in flight")
    parser.add_argument(
        "--breakdown-only", action="store_true", help="skip the dev server part (part 2)"
    )
    args = parser.parse_args()
    if not 1 <= args.n <= SDK_CACHE:
        parser.error(f"--n must be between 1 and {SDK_CACHE} (the worker cache holds them all)")
    t0 = time.perf_counter()
    programs = Programs(load_registry(ORDERS_APP))
    console = Console(file=sys.stdout, width=180)
    console.print(heap_table(heap_stages(programs)))
    console.print(chunk_table(chunk_rows()))
    console.print(python_table(python_rows(programs, args.runs), args.runs))
    console.print(wake_table(*wake_cpu(programs, args.runs), args.runs))
    if not args.breakdown_only:
        console.print(cached_table(asyncio.run(cached(args.n, args.concurrency)), args.n))
    version = ".".join(map(str, lupa_lua.LUA_VERSION))
    console.print(f"Lua {version} (lupa), total {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
