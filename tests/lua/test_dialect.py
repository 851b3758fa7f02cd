"""Wippy's typed dialect front end: erasure vectors (WIPPY-LUA.md §4.6), errors, lexical traps,
`type` statement encoding, loading in Lua 5.4, plain Lua passing through, and the analysis."""

from __future__ import annotations

from pathlib import Path

import lupa.lua54 as lupa_lua
import pytest

from luaflow.lua import (
    Analysis,
    LuaflowError,
    LuaRuntimeError,
    LuaState,
    LuaSyntaxError,
    analyze,
    translate,
)

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "local __wt = __wippy_types(); "


def lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.split("\n")]


def check(source: str, expected: str) -> None:
    """Translated `source` equals `expected` line by line (trailing spaces aside)."""
    out = translate(source, "t.lua")
    assert out.count("\n") == source.count("\n")
    assert lines(out) == lines(expected)


def run(source: str, chunk: str = "app/t.lua") -> list[object]:
    state = LuaState()
    try:
        return [state.from_lua(v) for v in state.call(state.load(source, chunk))]
    finally:
        state.close()


# -- A vectors: (source line, expected line, rest of the chunk) ----------------------------------

A_VECTORS = [
    ("local x: number = 42", "local x         = 42", ""),
    (
        "local q: number, r: number = div_mod(17, 5)",
        "local q        , r         = div_mod(17, 5)",
        "",
    ),
    (
        "local decoded: string, err = base64.decode(encoded)",
        "local decoded        , err = base64.decode(encoded)",
        "",
    ),
    (
        'local k: string?, v: string? = s:match("(%w+)=(%w+)")',
        'local k         , v          = s:match("(%w+)=(%w+)")',
        "",
    ),
    ("local suites: {[string]: any[]} = {}", "local suites                    = {}", ""),
    (
        "local double: (number) -> number = function(x: number): number",
        "local double                     = function(x        )",
        "\nend",
    ),
    (
        "local function add(a: number, b: number): number",
        "local function add(a        , b        )",
        "\nend",
    ),
    (
        "local function progress_bar(current: number, total: number, width: number?)",
        "local function progress_bar(current        , total        , width         )",
        "\nend",
    ),
    ("local function sum(...: number): number", "local function sum(...        )", "\nend"),
    (
        "local function format(fmt: string, ...: any): string",
        "local function format(fmt        , ...     )",
        "\nend",
    ),
    (
        "local function find(arr: {string}, target: string): (integer?, string?)",
        "local function find(arr          , target        )",
        "\nend",
    ),
    (
        "function Runner:find_items(options: any?): ({any}?, string?)",
        "function Runner:find_items(options      )",
        "\nend",
    ),
    (
        "local function pair<K, V>(key: K, value: V): {key: K, value: V}",
        "local function pair      (key   , value   )",
        "\nend",
    ),
    ("local function identity<T>(x: T): T", "local function identity   (x   )", "\nend"),
    (
        "local function get_value(map: readonly {[string]: number}, key: string): number?",
        "local function get_value(map                             , key        )",
        "\nend",
    ),
    (
        "local function main(input: {message: string?})",
        "local function main(input                    )",
        "\nend",
    ),
    (
        "local result: string = apply(function(s: string): string return s:upper()",
        "local result         = apply(function(s        )         return s:upper()",
        "\nend)",
    ),
    ("local event = result.value as Event", "local event = result.value", ""),
    ("local inbox = process.inbox() as MessageChannel", "local inbox = (process.inbox())", ""),
    (
        "local obj: {value: number} = mixed as {value: number}",
        "local obj                  = mixed",
        "",
    ),
    (
        "return ({id = id, flags = flags} as Inner)",
        "return ({id = id, flags = flags}         )",
        "",
    ),
    (
        "local caller_pid = msg:payload():data() :: string",
        "local caller_pid = (msg:payload():data())",
        "",
    ),
    (
        "local result5, err5 = uuid.version((123 :: any) :: string)",
        "local result5, err5 = uuid.version((123       )          )",
        "",
    ),
    ("local decoded = json.decode(msg.data!)", "local decoded = json.decode(msg.data )", ""),
    ("local a: number | string = 42", "local a                  = 42", ""),
    ("local x: number @min(0) @max(100) = 50", "local x                           = 50", ""),
    (
        "local id: number @min(1) | string @min_len(1) = 1",
        "local id                                      = 1",
        "",
    ),
    ("local fn: (number, string) -> boolean", "local fn", ""),
    ("local y = x as integer | 1", "local y = x            | 1", ""),
    ("::continue::", "::continue::", ""),
    ('if type(x) == "number" then', 'if type(x) == "number" then', "\nend"),
    (
        "local point, perr = Point:is({x = 1, y = 2})",
        "local point, perr = Point:is({x = 1, y = 2})",
        "",
    ),
    (
        "type ID = string @min_len(3)",
        PREFIX + 'local ID; ID = __wt.named("ID", __wt.ann(__wt.string, {{"min_len", 3}}))',
        "",
    ),
]


@pytest.mark.parametrize(
    ("source", "expected", "rest"), A_VECTORS, ids=[f"A{n:02}" for n in range(1, 34)]
)
def test_erasure_vectors(source: str, expected: str, rest: str) -> None:
    check(source + rest, expected + rest)


SIGN_REQUEST = """type SignRequest = {
\tmethod: string,
\turi?: string,
\tquery?: string,
\theaders: {[string]: string},
\tbody?: string,
\tcontent_sha256?: string,
\taccess_key: string,
\tsecret_key: string,
\tregion: string,
\tservice: string,
\tamz_date: string
}
"""


def test_a34_multi_line_type_statement_keeps_its_lines() -> None:
    source = "-- header\n" * 14 + SIGN_REQUEST + "return SignRequest\n"
    out = translate(source, "lib/sigv4.lua")
    assert out.count("\n") == source.count("\n")
    got = lines(out)
    assert got[0] == PREFIX + "local SignRequest; -- header"
    fields = (
        '{"method", __wt.string}, {"uri", __wt.string, true}, {"query", __wt.string, true}, '
        '{"headers", __wt.map(__wt.string, __wt.string)}, {"body", __wt.string, true}, '
        '{"content_sha256", __wt.string, true}, {"access_key", __wt.string}, '
        '{"secret_key", __wt.string}, {"region", __wt.string}, {"service", __wt.string}, '
        '{"amz_date", __wt.string}'
    )
    assert got[14] == f'SignRequest = __wt.named("SignRequest", __wt.record({{{fields}}}))'
    assert got[15:27] == [""] * 12
    assert got[27] == "return SignRequest"


def test_a35_references_resolve_lazily() -> None:
    source = (
        "type Message = process.Message\n"
        "type MessageChannel = Channel<Message>\n"
        "return MessageChannel ~= nil\n"
    )
    check(
        source,
        PREFIX + "local Message, MessageChannel; "
        'Message = __wt.named("Message", __wt.ref("process.Message", '
        "function() return process.Message end))\n"
        'MessageChannel = __wt.named("MessageChannel", __wt.inst(__wt.ref("Channel", '
        'function() return Channel end), {__wt.ref("Message", function() return Message end)}))\n'
        "return MessageChannel ~= nil\n",
    )
    assert run(source) == [True]  # luaflow's process has no Message, Channel is unknown


# -- `type` statement encoding ---------------------------------------------------------------------

TYPE_CASES = [
    (
        "type P = {x: number, y?: string}",
        '__wt.record({{"x", __wt.number}, {"y", __wt.string, true}})',
    ),
    ("type P = {}", "__wt.record({})"),
    ("type P = readonly {x: boolean}", '__wt.record({{"x", __wt.boolean}}, true)'),
    (
        'type P = "fast" | "safe" | 3',
        '__wt.union({__wt.lit("fast"), __wt.lit("safe"), __wt.lit(3)})',
    ),
    ("type P = true | 2.5", "__wt.union({__wt.lit(true), __wt.lit(2.5)})"),
    (
        "type P = A & B",
        '__wt.inter({__wt.ref("A", function() return A end), '
        '__wt.ref("B", function() return B end)})',
    ),
    ("type P = number?", "__wt.opt(__wt.number)"),
    ("type P = {string}", "__wt.array(__wt.string)"),
    ("type P = integer[]", "__wt.array(__wt.integer)"),
    ("type P = readonly {any}", "__wt.array(__wt.any, true)"),
    ("type P = {[string]: unknown}", "__wt.map(__wt.string, __wt.unknown)"),
    ("type P = readonly {[number]: never}", "__wt.map(__wt.number, __wt.never, true)"),
    ("type P = nil | table", "__wt.union({__wt.nil_, __wt.table})"),
    (
        "type P = (number, string) -> (boolean, string)",
        "__wt.func({__wt.number, __wt.string}, {__wt.boolean, __wt.string}, nil)",
    ),
    ("type P = (a: number, ...string) -> ()", "__wt.func({__wt.number}, {}, __wt.string)"),
    ("type P = fun(x: number): string", "__wt.func({__wt.number}, {__wt.string}, nil)"),
    ("type P = fun()", "__wt.func({}, {}, nil)"),
    (
        'type P = string @min_len(1) @pattern("^a")',
        '__wt.ann(__wt.string, {{"min_len", 1}, {"pattern", "^a"}})',
    ),
    ("type P = {number} @min_len(1)", '__wt.ann(__wt.array(__wt.number), {{"min_len", 1}})'),
    ("type P = (number)", "__wt.number"),
    ("type P = mod.Inner", '__wt.ref("mod.Inner", function() return mod.Inner end)'),
    ("type P = keyof(Q)", "__wt.any"),
    ("type P = Q[string]", "__wt.any"),
    ("type P = T extends string ? A : B", "__wt.any"),
    ("type P = interface {a: number}", '__wt.record({{"a", __wt.number}})'),
]


@pytest.mark.parametrize(("source", "ctor"), TYPE_CASES)
def test_type_constructors(source: str, ctor: str) -> None:
    check(source, f'{PREFIX}local P; P = __wt.named("P", {ctor})')


def test_generic_alias_and_instantiation() -> None:
    check(
        "type Box<T, U: Base> = {value: T, other: U}\ntype B = Box<Box<string>, number>",
        PREFIX + "local Box, B; "
        'Box = __wt.named("Box", __wt.generic({"T", "U"}, function(T, U) return '
        '__wt.record({{"value", T}, {"other", U}}) end, '
        '{U = __wt.ref("Base", function() return Base end)}))\n'
        'B = __wt.named("B", __wt.inst(__wt.ref("Box", function() return Box end), '
        '{__wt.inst(__wt.ref("Box", function() return Box end), {__wt.string}), __wt.number}))',
    )


def test_typeof_uses_the_annotation_of_a_local() -> None:
    check(
        "local sample: {name: string} = {}\ntype S = typeof(sample)\ntype U = typeof(other)",
        PREFIX + "local S, U; local sample                 = {}\n"
        'S = __wt.named("S", __wt.record({{"name", __wt.string}}))\n'
        'U = __wt.named("U", __wt.any)',
    )


def test_interface_statement() -> None:
    check(
        "interface Shape: Named\n  area: number\n  label?: string,\n"
        "  function scale(self, k: number): Shape\nend",
        PREFIX + 'local Shape; Shape = __wt.named("Shape", __wt.inter({__wt.ref("Named", '
        'function() return Named end), __wt.record({{"area", __wt.number}, '
        '{"label", __wt.string, true}, {"scale", __wt.func({__wt.any, __wt.number}, '
        '{__wt.ref("Shape", function() return Shape end)}, nil)}})}))\n\n\n\n',
    )


def test_types_inside_functions_are_locals() -> None:
    check(
        "local function f()\n  type N = number\n  type L = {next: L?}\n  return N, L\nend",
        PREFIX + 'local function f()\n  local N = __wt.named("N", __wt.number)\n'
        '  local L; L = __wt.named("L", __wt.record({{"next", '
        '__wt.opt(__wt.ref("L", function() return L end))}}))\n  return N, L\nend',
    )


def test_cast_before_a_parenthesis_ends_the_statement() -> None:
    check("local x = y as T\n(f)()", "local x = y     ;\n(f)()")
    check("local x = y!\n(f)()", "local x = y ;\n(f)()")


def test_statement_before_a_parenthesis_is_closed() -> None:
    check(
        'type N = number\n(print)("x")',
        f'{PREFIX}local N; N = __wt.named("N", __wt.number);\n(print)("x")',
    )


@pytest.mark.parametrize(
    "source",
    ["print(integer(3))", "local s = string(x)", "return string:is(x)", "return never", "any(x)"],
)
def test_primitive_casts_get_the_library(source: str) -> None:
    assert translate(source, "t.lua") == PREFIX + source


@pytest.mark.parametrize(
    "source",
    [
        "local integer = 1\nreturn integer(2)",
        "return string.format('%d', 1)",
        "local t = {any = 1}",
    ],
)
def test_no_library_without_free_primitive_names(source: str) -> None:
    assert translate(source, "t.lua") == source


# -- X vectors ------------------------------------------------------------------------------------

X_ERRORS = [
    ("local x: number< = 42", 1, 18, "expected a type"),
    ("local x = 1 @@ 2", 1, 13, "unexpected symbol near '@'"),
    ("type X<T>= {value: T}", 1, 9, "expected '>' near '>='"),
    ("local function f(x?: number) end", 1, 19, "near '?:'"),
    ("for i: integer = 1, 3 do end", 1, 6, "expected '=' or 'in' near ':'"),
    ("local t = typeof(x)", 1, 11, "'typeof' is only valid in a type"),
    ("export type X = number", 1, 8, "near 'type'"),
    ("if a != b then end", 1, 7, "expected 'then' near '='"),
    ("x: number = 1", 1, 11, "expected function arguments near '='"),
]


@pytest.mark.parametrize(
    ("source", "line", "col", "message"),
    X_ERRORS,
    ids=["X01", "X02", "X03", "X06", "X07", "X08", "X10", "X11", "assignment"],
)
def test_rejected_sources(source: str, line: int, col: int, message: str) -> None:
    with pytest.raises(LuaSyntaxError) as caught:
        translate(source, "app/x.lua")
    text = str(caught.value)
    assert text.startswith(f"app/x.lua:{line}:{col}: ")
    assert message in text
    assert "\n" not in text


@pytest.mark.parametrize(
    "source",
    ["local is = 1", "local x <const> = 1", "local v = x ::number::"],
    ids=["X04", "X05", "X09"],
)
def test_accepted_beyond_wippy(source: str) -> None:
    assert translate(source, "t.lua") == source


def test_x09_is_a_local_then_a_label() -> None:
    assert run("local x = 5\nlocal v = x ::number::\nreturn v") == [5]


def test_error_message_names_file_line_and_column() -> None:
    with pytest.raises(
        LuaSyntaxError, match=r"^app/x\.lua:3:10: expected a type after ':' near '='$"
    ):
        translate("local a = 1\nlocal b = 2\nlocal x: = 1", "app/x.lua")
    with pytest.raises(
        LuaSyntaxError, match=r"^f\.lua:3:1: expected 'end' \(to close 'function' at line 1\)"
    ):
        translate("local function f()\n  return 1\n", "f.lua")


def test_plain_lua_syntax_errors_are_still_one_line() -> None:
    with pytest.raises(LuaRuntimeError, match=r"^order\.lua:2:5: unexpected symbol near '='$"):
        LuaState().load("local x = 1\nx = = 2", "order.lua")
    with pytest.raises(LuaRuntimeError, match=r"order\.lua:1:"):  # left to Lua's compiler
        LuaState().load("goto nowhere", "order.lua")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("local s = 'abc", "unfinished string near ''abc'"),
        ("local s = [==[abc]=]", "unfinished long string"),
        ("--[[ never closed", "unfinished long comment"),
        ("local n = 3f", "malformed number near '3f'"),
        ("local n = 0x", "malformed number near '0x'"),
        ("local n = 1..2", "malformed number near '1..2'"),
        ("local s = 1 $ 2", "unexpected symbol near '$'"),
    ],
)
def test_lexical_errors(source: str, message: str) -> None:
    with pytest.raises(LuaSyntaxError, match=r"^t\.lua:1:") as caught:
        translate(source, "t.lua")
    assert message in str(caught.value)


# -- lexical traps (§2.2) --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "for i = 1, 3 do\n  if i == 2 then goto continue end\n  print(i)\n  ::continue::\nend",
        "do goto done end\n:: done ::",
        "local t = {as = 1, is = 2}\nprint(t.as, t.is)\nlocal x = t:as(1):is(2)",
        "local as = 1\nas = as + 1",
        "local ok = f < T > (x)",
        "if type(x) == 'number' then type = nil end",
        "local s = 'x as T :: U ! @ ?' -- y as T!",
        "--[==[ local x: number = f() :: T ]==] local y = 1",
        "local a = 1 << 2 >> 1 | 3 & 4 ~ 5 // 2",
        "local b = ~a",
    ],
)
def test_traps_left_alone(source: str) -> None:
    assert translate(source, "t.lua") == source


def test_label_after_an_expression_is_not_a_cast() -> None:
    source = "for i = 1, 2 do\n  print(i)\n  ::continue::\nend"
    assert translate(source, "t.lua") == source


def test_label_on_its_own_lines_is_still_a_label() -> None:
    assert translate("goto l\n::\nl\n::", "t.lua") == "goto l\n::\nl\n::"


def test_cast_stops_at_bitwise_operators_annotations_do_not() -> None:
    check("local y = x as integer | 1 & 2", "local y = x            | 1 & 2")
    check("local y: integer | string & Q = 1", "local y                       = 1")


def test_bang_binds_tightest_and_cannot_be_indexed() -> None:
    check("local n = #t! + f()!", "local n = #t  + (f())")
    with pytest.raises(LuaSyntaxError, match=r"1:13: unexpected symbol near '\.'"):
        translate("local y = x!.y", "t.lua")


def test_generic_lists_close_on_split_shift_only() -> None:
    check("local b: Box<Box<T>> = v", "local b" + " " * len(": Box<Box<T>>") + " = v")
    with pytest.raises(LuaSyntaxError, match="expected '>' near '>='"):
        translate("local b: Box<T>= v", "t.lua")


def test_explicit_type_arguments_on_a_call() -> None:
    check("local v = f::<string>(x)", "local v = f          (x)")


def test_casts_keep_one_value() -> None:
    check("return f() :: number, ... as T", "return (f())" + " " * 8 + ", (...)")  # same columns
    check("g(a:b() as T, f{1}!)", "g((a:b())   , (f{1}))")
    source = (
        "local function f() return 1, 2 end\nreturn select('#', f() :: number), select('#', f()!)"
    )
    assert run(source) == [1, 1]


def test_line_breaks_are_kept_exactly() -> None:
    source = "local a: {\r\n  x: number\r\n} = {}\rlocal b = a\n\rreturn b"
    out = translate(source, "t.lua")
    assert [c for c in out if c in "\r\n"] == [c for c in source if c in "\r\n"]
    assert out.replace(" ", "") == "locala\r\n\r\n={}\rlocalb=a\n\rreturnb"


# -- plain Lua 5.4 ---------------------------------------------------------------------------------

PLAIN = r"""
local x <const> = 0x1p4 + 0xA.8p1 + 3e-2 + .5 + 7 // 2 + 0xff
local f <close> = nil
local s = [==[
long ]] string]==] .. "\z
   esc\u{48}\x41\65\n" .. 'q\'' --[[ comment
 spanning ]] --[=[ x ]=]
local t = {1, 2; [3] = 3, k = {}, f = function(...) return ... end}
goto skip
::skip::
local o = {m = function(self, a) return a end}
print(o:m "s", o:m {1}, #t, -x, not x, 2 ^ -1, x ~= 1, t.k, t["k"])
repeat local r = 1 until r == 1
for i = 10, 1, -1 do break end
for k, v in pairs(t) do end
while false do end
if x then elseif f then else end
return x, s
"""


def test_plain_lua_54_passes_through() -> None:
    assert translate(PLAIN, "plain.lua") is PLAIN
    assert run(PLAIN)[0] == 16 + 21 + 0.03 + 0.5 + 3 + 255


def lua_files() -> list[Path]:
    return sorted(p for d in ("src", "tests", "examples") for p in (ROOT / d).rglob("*.lua"))


def test_every_plain_lua_file_of_the_repository_is_unchanged() -> None:
    state = LuaState()
    checked = 0
    try:
        for path in lua_files():
            source = path.read_text()
            try:
                state.runtime.compile(source.encode(), b"=plain", b"t")  # Lua 5.4's own compiler
            except lupa_lua.LuaSyntaxError:
                continue  # written in the typed dialect
            assert translate(source, str(path)) == source, path
            checked += 1
    finally:
        state.close()
    assert checked >= 20


def test_luaflow_modules_skip_translation() -> None:
    with pytest.raises(LuaRuntimeError, match=r"luaflow/x\.lua:1:"):  # Lua's own message
        LuaState().load("local x: number = 1", "luaflow/x.lua")


def test_translation_is_cached() -> None:
    source = "local cached: number = 1"
    assert translate(source, "c.lua") is translate(source, "c.lua")


# -- typed sources in Lua 5.4 --------------------------------------------------------------------

TYPED = """-- a typed module
type Point = {x: number, y: number}
type Id = number | string
type Box<T> = {value: T}
type Scores = {[string]: number @min(0)}

local function dist(a: Point, b: Point): number
    local dx: number, dy: number = b.x - a.x, b.y - a.y
    return math.sqrt(dx * dx + dy * dy)
end

local function first<T>(xs: {T}): T?
    return xs[1]
end

local M = {}
function M:scale(p: Point, k: number): Point
    return ({x = p.x * k, y = p.y * k} as Point)
end

local d = dist({x = 0, y = 0}, M:scale({x = 3, y = 4}, 1))
local ok = Point:is({x = 1, y = 2}) ~= nil
return d, first({7})!, ok, integer(3)
"""


def test_typed_source_runs_in_lua_54() -> None:
    assert run(TYPED) == [5, 7, True, 3]


def test_runtime_error_names_the_original_line() -> None:
    source = (
        "type A = {\n  a: number,\n  b: string\n}\n"
        "type B = {\n  c: A?\n}\n"
        "local function boom(x: number): never\n  error('boom ' .. x)\nend\n"
        "return boom(1)\n"
    )
    with pytest.raises(LuaflowError, match=r"app/t\.lua:9: boom 1"):
        run(source)


# -- analysis -------------------------------------------------------------------------------------


def test_analysis_of_globals_and_requires() -> None:
    source = """local json = require("json")
local time = require 'time'
type Point = {x: number}
counter = 0
local function bump(n: number)
    counter = counter + n
    local t = {}
    t.x = undefined_thing
    for i, v in ipairs(t) do print(i, v, Point) end
end
function handler(req) return helper(req), json end
function lib.f() end
local up = 1
local function g() up = up + 1; return function() return up end end
"""
    result = analyze(source, "app/a.lua")
    assert isinstance(result, Analysis)
    assert result.requires == [("json", 1, 14), ("time", 2, 14)]
    assert result.global_writes == [("counter", 4, 1), ("counter", 6, 5), ("handler", 11, 10)]
    assert result.global_reads == [
        ("require", 1, 14),
        ("require", 2, 14),
        ("counter", 6, 15),
        ("undefined_thing", 8, 11),
        ("ipairs", 9, 17),
        ("print", 9, 30),
        ("helper", 11, 30),
        ("lib", 12, 10),
    ]
