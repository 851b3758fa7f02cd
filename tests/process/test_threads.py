"""The host threads (no server): bounded while calls run, never starved by calls that wait for
the calls they made."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from luaflow.app import App
from luaflow.process import HOST_THREADS, HostThreads


def test_at_most_size_calls_run_at_once() -> None:
    threads = HostThreads(2, "t")
    lock, running, peak = threading.Lock(), [0], [0]

    def work() -> None:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1

    futures = [threads.submit(work) for _ in range(6)]
    for future in futures:
        future.result(10)
    threads.shutdown()
    assert peak[0] == 2


def test_a_waiting_call_frees_its_place() -> None:
    """One place only: a call waiting (parked) for a call it made still gets it done."""
    threads = HostThreads(1, "t")

    def outer() -> str:
        inner = threads.submit(lambda: "inner")
        with threads.parked():
            return f"outer({inner.result(10)})"

    assert threads.submit(outer).result(10) == "outer(inner)"
    threads.shutdown()


APP = """\
version: "1.0"
namespace: app
entries:
  - {name: leaf, kind: function.lua, source: "file://calls.lua", method: leaf}
  - {name: caller, kind: function.lua, source: "file://calls.lua", method: caller,
     modules: [funcs]}
"""

CALLS = """\
local function leaf(n) return n * 2 end
local function caller(n) return require("funcs").call("app:leaf", n) end
return { leaf = leaf, caller = caller }
"""


async def test_more_callers_than_threads_all_finish(tmp_path: Path) -> None:
    """Every host thread busy with a caller waiting for its callee: no deadlock."""
    (tmp_path / "_index.yaml").write_text(APP)
    (tmp_path / "calls.lua").write_text(CALLS)
    async with App.load(tmp_path, report=lambda _: None) as app:
        await app.start()
        n = 3 * HOST_THREADS
        calls = [app.call("app:caller", [i]) for i in range(n)]
        assert await asyncio.wait_for(asyncio.gather(*calls), 60) == [2 * i for i in range(n)]
