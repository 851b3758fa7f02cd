"""Wippy dialect front end: translation speed against Lua 5.4's own compiler.

The corpus is every ``.lua`` file of the repository (``src/``, ``tests/``, ``examples/``), the
Wippy sources in ``/tmp/wippy-corpus`` when present, and a synthetic typed corpus generated here
(type statements with records, unions, generics and validators, annotated functions and locals,
casts, ``!``). It is repeated until it holds ``--mb`` megabytes; each copy gets a distinct
trailing comment so ``translate``'s per-source cache never answers. Each round times
``luaflow.lua.translate`` over the whole corpus, then Lua 5.4's own compiler (a ``LuaState``'s
runtime, in text mode) over the translated texts. Every translated chunk must keep its line
count and compile, else the run exits 1.
Usage: ``python bench/bench_dialect.py [--mb 4] [--rounds 2]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import lupa.lua54 as lupa_lua
from rich.console import Console
from rich.table import Table

from luaflow.lua import LuaState, translate

ROOT = Path(__file__).resolve().parents[1]
WIPPY_CORPUS = Path("/tmp/wippy-corpus")
SYNTHETIC_FILES = 40


def synthetic(n: int) -> str:
    """One typed module: every construct of the dialect the corpus uses, names made unique."""
    return f"""-- synthetic typed module {n}
local json = require("json")

type Id{n} = string @min_len(3) @max_len(64)
type Role{n} = "admin" | "user" | "guest"
type Point{n} = {{x: number, y: number, label?: string}}
type Box{n}<T> = {{value: T, tags: {{string}}?, meta?: {{[string]: any}}}}
type User{n} = {{
    id: Id{n},
    roles: {{Role{n}}} @min_len(1),
    home: Point{n}?,
    boxes: {{Box{n}<number>}},
    on_change?: (old: User{n}, new: User{n}) -> boolean,
}}

local function distance(a: Point{n}, b: Point{n}): number
    local dx: number, dy: number = b.x - a.x, b.y - a.y
    return math.sqrt(dx * dx + dy * dy)
end

local function first<T>(items: {{T}}, default: T?): T?
    for _, item in ipairs(items) do
        if item ~= nil then
            return item
        end
    end
    return default
end

local function parse(text: string): (User{n}?, string?)
    local data = json.decode(text) :: {{[string]: any}}
    if type(data) ~= "table" then
        return nil, "not an object"
    end
    local user = data as User{n}
    local ok, err = User{n}:is(user)
    if not ok then
        return nil, tostring(err)
    end
    return user, nil
end

local Repo{n} = {{}}
Repo{n}.__index = Repo{n}

function Repo{n}:find(id: string, opts: {{limit: integer?}}?): ({{User{n}}}, string?)
    local limit: integer = opts and opts.limit or 10
    local found: {{User{n}}} = {{}}
    for _, user in ipairs(self.users!) do
        if user.id == id and #found < limit then
            found[#found + 1] = user
        end
    end
    return found, nil
end

local function total(...: number): number
    local sum: number = 0
    for i = 1, select("#", ...) do
        sum = sum + (select(i, ...) :: number)
    end
    return sum
end

return {{
    Id = Id{n}, Point = Point{n}, User = User{n}, Box = Box{n},
    distance = distance, first = first, parse = parse, total = total, Repo = Repo{n},
}}
"""


def corpus(megabytes: float) -> list[tuple[str, str]]:
    """(chunk name, source) pairs, repeated up to the requested size, each copy distinct."""
    base: list[tuple[str, str]] = []
    for folder in ("src", "tests", "examples"):
        for path in sorted((ROOT / folder).rglob("*.lua")):
            base.append((str(path.relative_to(ROOT)), path.read_text()))
    if WIPPY_CORPUS.is_dir():
        for path in sorted(WIPPY_CORPUS.rglob("*.lua")):
            base.append((f"wippy/{path.relative_to(WIPPY_CORPUS)}", path.read_text()))
    base.extend((f"synthetic/m{n}.lua", synthetic(n)) for n in range(SYNTHETIC_FILES))
    target = int(megabytes * 1024 * 1024)
    out: list[tuple[str, str]] = []
    size = copy = 0
    while size < target:
        for name, source in base:
            text = f"{source}\n-- copy {copy}\n"
            out.append((f"app/{copy}/{name}", text))
            size += len(text.encode())
        copy += 1
    return out


def time_translate(chunks: list[tuple[str, str]]) -> tuple[float, list[str]]:
    start = time.perf_counter()
    texts = [translate(source, name) for name, source in chunks]
    return time.perf_counter() - start, texts


def time_compile(texts: list[str]) -> float:
    state = LuaState()
    try:
        compile_text = state.runtime.compile
        start = time.perf_counter()
        for text in texts:
            compile_text(text.encode(), b"=bench", b"t")
        return time.perf_counter() - start
    finally:
        state.close()


def verify(chunks: list[tuple[str, str]], texts: list[str]) -> int:
    """Failures: a translation that moved lines or does not compile."""
    failures = 0
    state = LuaState()
    try:
        for (name, source), text in zip(chunks, texts, strict=True):
            try:
                state.runtime.compile(text.encode(), ("=" + name).encode(), b"t")
            except lupa_lua.LuaError as err:
                print(f"FAIL {name}: {err}", file=sys.stderr)
                failures += 1
                continue
            if text.count("\n") != source.count("\n"):
                print(f"FAIL {name}: line count changed", file=sys.stderr)
                failures += 1
    finally:
        state.close()
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=4.0, help="corpus size in megabytes")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    translate_s: list[float] = []
    compile_s: list[float] = []
    texts: list[str] = []
    chunks: list[tuple[str, str]] = []
    for _ in range(args.rounds):
        chunks = corpus(args.mb)  # fresh texts: the cache of the previous round never answers
        took, texts = time_translate(chunks)
        translate_s.append(took)
        compile_s.append(time_compile(texts))
    failures = verify(chunks, texts)
    files = len(chunks)
    megabytes = sum(len(source.encode()) for _, source in chunks) / (1024 * 1024)
    typed = sum(1 for (_, source), text in zip(chunks, texts, strict=True) if text != source)
    table = Table(
        title=f"Wippy dialect translation, {files} files ({typed} typed), {megabytes:.1f} MB, "
        f"{args.rounds} rounds (median)"
    )
    for column in ("step", "seconds", "files/s", "MB/s", "vs Lua compile"):
        table.add_column(column, justify="right")
    t_med, c_med = statistics.median(translate_s), statistics.median(compile_s)
    for step, took in (("translate (parse + erase)", t_med), ("Lua 5.4 compile", c_med)):
        table.add_row(
            step, f"{took:.3f}", f"{files / took:,.0f}", f"{megabytes / took:.2f}",
            f"{took / c_med:.1f}x",
        )  # fmt: skip
    Console().print(table)
    if failures:
        print(f"{failures} translated chunks failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
