"""What the bounds on Lua (instruction and time budgets, memory checks, bounded pattern
functions, payload checks) cost a normal order: CPU per order with them and without them.

Both variants run in this process, without a server, in alternating rounds: the example order
workflow from start to result (charge, timer, ship) plus the two activity calls it makes, each
activity in a fresh host state as the worker runs it. "without" is the same code with the
bounds taken out: the prelude's instruction hook, its gate on calls into Python, its
garbage-collection tick and its pattern-function wrappers are cut out of the prelude source,
and the payload checks of the scheduler and of incoming values are replaced by no-ops. Each cut
is asserted to apply, so a change of the prelude fails this script instead of skewing it.

Usage: ``python bench/bench_budgets.py [--n 300] [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from collections.abc import Iterator
from typing import Any

from bench_memory import ORDER, ORDERS_APP, ParkedEnv
from rich.console import Console
from rich.table import Table

import luaflow.lua._runtime as runtime_module
import luaflow.workflow._scheduler as scheduler_module
from luaflow.engine import Programs
from luaflow.registry import load_registry
from luaflow.workflow import Event, ScheduleActivity, StartTimer

#: Prelude text -> what it becomes without the bounds.
CUTS = {
    # The instruction hook of coroutines and of the main thread.
    'sethook(co, hook, "", HOOK_EVERY)': "",
    'sethook(hook, "", HOOK_EVERY)  -- the main thread runs': "--",
    # The garbage-collection tick that checks the deadline after C work.
    "raw_setmetatable({}, GC_TICK)\n\n": "\n\n",
    # The gate on every call into Python.
    'rawset(py_object, "__call", function(': 'rawset(py_object, "__unused", function(',
    # The bounded pattern functions (C's own take their place).
    'bounded_stubs(string, { "find", "match", "gmatch", "gsub", "rep", "byte" })': (
        'bounded_stubs(string, { "rep", "byte" })'
    ),
}


@contextlib.contextmanager
def unbounded() -> Iterator[None]:
    """States built in this block have no bounds (see the module docstring)."""
    prelude = runtime_module._PRELUDE.decode()
    for old, new in CUTS.items():
        assert prelude.count(old) == 1, f"prelude changed: {old!r} is not there once"
        prelude = prelude.replace(old, new)
    saved = runtime_module._PRELUDE, scheduler_module.check_payload
    runtime_module._PRELUDE = prelude.encode()
    scheduler_module.check_payload = lambda *_args, **_kw: None
    try:
        yield
    finally:
        runtime_module._PRELUDE, scheduler_module.check_payload = saved


def one_order(programs: Programs) -> Any:
    """The order workflow to its result, with its two activities run as host calls."""
    registry = programs.registry
    scheduler, main = programs.workflow(registry.get("app:order_workflow"), ParkedEnv())
    try:
        [charge] = scheduler.start(main, [{**ORDER, "delay": "1h"}])
        assert isinstance(charge, ScheduleActivity), charge
        payment = programs.call(registry.get(charge.activity_type), list(charge.args))
        [timer] = scheduler.step([Event(charge.id, payment)])
        assert isinstance(timer, StartTimer), timer
        [ship] = scheduler.step([Event(timer.id, None)])
        assert isinstance(ship, ScheduleActivity), ship
        shipment = programs.call(registry.get(ship.activity_type), list(ship.args))
        scheduler.step([Event(ship.id, shipment)])
        assert scheduler.outcome is not None and scheduler.outcome.error is None
        return scheduler.outcome.value
    finally:
        scheduler.close()


def cpu_per_order(programs: Programs, n: int) -> float:
    """Process CPU seconds per order over `n` orders."""
    started = time.process_time()
    for _ in range(n):
        one_order(programs)
    return (time.process_time() - started) / n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=300, help="orders per round and variant")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per variant")
    opts = parser.parse_args()

    registry = load_registry(ORDERS_APP)
    bounded = Programs(registry)
    with unbounded():
        free = Programs(registry)
        assert free.limits == bounded.limits
    for programs in (bounded, free):  # warm caches (bytecode, dialect) and check both work
        with contextlib.redirect_stdout(None):
            result = one_order(programs)
        assert result["status"] == "completed", result

    with_bounds: list[float] = []
    without: list[float] = []
    with contextlib.redirect_stdout(None):
        for i in range(opts.rounds):
            order = [(bounded, with_bounds), (free, without)]
            for programs, out in order if i % 2 == 0 else reversed(order):
                if programs is free:
                    with unbounded():
                        out.append(cpu_per_order(programs, opts.n))
                else:
                    out.append(cpu_per_order(programs, opts.n))

    table = Table(title=f"CPU per order, in process ({opts.rounds} rounds x {opts.n} orders)")
    for column in ("variant", "median ms", "min ms", "max ms"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    for name, values in (("with bounds", with_bounds), ("without bounds", without)):
        ms = [v * 1000 for v in values]
        table.add_row(name, f"{statistics.median(ms):.3f}", f"{min(ms):.3f}", f"{max(ms):.3f}")
    console = Console()
    console.print(table)
    median = statistics.median(with_bounds) / statistics.median(without)
    best = min(with_bounds) / min(without)
    console.print(f"bounds cost: {median:.3f}x (medians), {best:.3f}x (minima) of an order without")
    return 0


if __name__ == "__main__":
    sys.exit(main())
