"""Host `funcs`: a call round trip and a 100-way fan-out, luaflow vs the same in Python.

Both variants run in this process, with no Temporal server (host calls need none):

* ``luaflow``: a Lua host function (``function.lua`` run with ``App.call``) calling a leaf
  function entry (``return {echo = n}``) with ``funcs.call`` K times one after the other
  (each call a fresh Lua state on the host threads), and a host function starting 100 calls
  with ``funcs.async`` and collecting them with ``channel.select``;
* ``native``: a Python function doing the same calls of a Python leaf through a
  ``ThreadPoolExecutor`` of the same size (``submit(...).result()``, then 100 ``submit`` and
  ``as_completed``), from a thread like the Lua caller's.

Rounds run in palindromic order (native, luaflow, luaflow, native) after a warm-up; every
result is checked. Usage: ``python bench/bench_funcs.py [--k 300] [--fanouts 20] [--rounds 2]``.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from luaflow.app import App
from luaflow.process import HOST_THREADS

FAN_OUT = 100
WARMUP = 20

APP_YAML = """\
version: "1.0"
namespace: app
entries:
  - {name: leaf, kind: function.lua, source: "file://calls.lua", method: leaf}
  - {name: sequential, kind: function.lua, source: "file://calls.lua", method: sequential,
     modules: [funcs, time]}
  - {name: fan_out, kind: function.lua, source: "file://calls.lua", method: fan_out,
     modules: [funcs]}
"""

CALLS_LUA = """\
local function leaf(n)
    return {echo = n}
end

-- K calls one after the other; each round trip in milliseconds.
local function sequential(k)
    local funcs, time = require("funcs"), require("time")
    local took = {}
    for n = 1, k do
        local t0 = time.now()
        local r = funcs.call("app:leaf", n)
        if r.echo ~= n then error("wrong answer") end
        took[n] = time.now():sub(t0):microseconds() / 1000
    end
    return took
end

-- n calls at once, collected with channel.select; returns the sum of the answers.
local function fan_out(n)
    local funcs = require("funcs")
    local cases = {}
    for i = 1, n do cases[i] = funcs.async("app:leaf", i):channel():case_receive() end
    local sum = 0
    for _ = 1, n do sum = sum + channel.select(cases).value:data().echo end
    return sum
end

return { leaf = leaf, sequential = sequential, fan_out = fan_out }
"""


def leaf(n: int) -> dict[str, Any]:
    return {"echo": n}


def native_sequential(pool: concurrent.futures.ThreadPoolExecutor, k: int) -> list[float]:
    took = []
    for n in range(1, k + 1):
        t0 = time.perf_counter()
        if pool.submit(leaf, n).result()["echo"] != n:
            raise SystemExit("native: wrong answer")
        took.append((time.perf_counter() - t0) * 1000)
    return took


def native_fan_out(pool: concurrent.futures.ThreadPoolExecutor, n: int) -> int:
    futures = [pool.submit(leaf, i) for i in range(1, n + 1)]
    return sum(f.result()["echo"] for f in concurrent.futures.as_completed(futures))


async def luaflow_round(app: App, k: int, fanouts: int) -> tuple[list[float], list[float]]:
    took = [float(ms) for ms in await app.call("app:sequential", [k])]
    spans = []
    for _ in range(fanouts):
        t0 = time.perf_counter()
        if await app.call("app:fan_out", [FAN_OUT]) != FAN_OUT * (FAN_OUT + 1) // 2:
            raise SystemExit("luaflow: wrong fan-out sum")
        spans.append((time.perf_counter() - t0) * 1000)
    return took, spans


def native_round(
    pool: concurrent.futures.ThreadPoolExecutor, k: int, fanouts: int
) -> tuple[list[float], list[float]]:
    took = native_sequential(pool, k)
    spans = []
    for _ in range(fanouts):
        t0 = time.perf_counter()
        if native_fan_out(pool, FAN_OUT) != FAN_OUT * (FAN_OUT + 1) // 2:
            raise SystemExit("native: wrong fan-out sum")
        spans.append((time.perf_counter() - t0) * 1000)
    return took, spans


async def bench(k: int, fanouts: int, rounds: int) -> dict[str, tuple[list[float], list[float]]]:
    results: dict[str, tuple[list[float], list[float]]] = {"native": ([], []), "luaflow": ([], [])}
    with tempfile.TemporaryDirectory() as tmp, concurrent.futures.ThreadPoolExecutor(
        HOST_THREADS
    ) as pool, concurrent.futures.ThreadPoolExecutor(1) as caller:  # fmt: skip
        app_dir = Path(tmp)
        (app_dir / "_index.yaml").write_text(APP_YAML)
        (app_dir / "calls.lua").write_text(CALLS_LUA)
        loop = asyncio.get_running_loop()

        async def native(k: int, fanouts: int) -> tuple[list[float], list[float]]:
            return await loop.run_in_executor(caller, native_round, pool, k, fanouts)

        async with App.load(app_dir, report=lambda _: None) as app:
            await app.start()
            await luaflow_round(app, WARMUP, 2)
            await native(WARMUP, 2)
            order = ["native", "luaflow"] * rounds
            for i in range(rounds):
                pair = order[2 * i : 2 * i + 2]
                for name in pair if i % 2 == 0 else reversed(pair):
                    took, spans = (
                        await luaflow_round(app, k, fanouts)
                        if name == "luaflow"
                        else await native(k, fanouts)
                    )
                    results[name][0].extend(took)
                    results[name][1].extend(spans)
    return results


def _row(table: Table, name: str, values: list[float], base: float) -> None:
    mean = statistics.mean(values)
    table.add_row(
        name, str(len(values)), f"{statistics.median(values):.3f}",
        f"{statistics.quantiles(values, n=20)[-1]:.3f}", f"{mean:.3f}", f"{mean / base:.0f}x",
    )  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--k", type=int, default=300, help="sequential calls per round")
    parser.add_argument("--fanouts", type=int, default=20, help="100-way fan-outs per round")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    results = asyncio.run(bench(args.k, args.fanouts, args.rounds))
    console = Console()
    for index, title in enumerate(
        ("funcs.call round trip", f"{FAN_OUT} x funcs.async + channel.select")
    ):
        table = Table(title=f"{title} ({args.rounds} rounds each), ms")
        for column in ("variant", "samples", "p50", "p95", "mean", "vs native"):
            table.add_column(column, justify="right")
        base = statistics.mean(results["native"][index])
        for name, values in results.items():
            _row(table, name, values[index], base)
        console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
