"""Wippy's run-time types (WIPPY-LUA 3, vectors B01-B41) and the base-language shims (1.3).

Types are built with the library's constructors, as translated `type` statements build them;
the last tests write the `type` statements themselves and go through the dialect front end.
"""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from luaflow.lua import LuaflowError, LuaState
from luaflow.lua._regex import regex_search

PREFIX = "local __wt = __wippy_types()\n"


def run(code: str, *, printer: list[str] | None = None) -> list[Any]:
    """Run `code` (after a line binding `__wt`) in a fresh state; its results as Python values."""
    state = LuaState(printer=printer.append if printer is not None else None)
    try:
        return [state.from_lua(v) for v in state.call(state.load(PREFIX + code, "t.lua"))]
    finally:
        state.close()


def raises(code: str) -> str:
    """The message of the error `code` raises."""
    with pytest.raises(LuaflowError) as info:
        run(code)
    return info.value.message


# Type definitions of the upstream test files, written as the front end translates them.
RUNTIME_IS = """
local Point = __wt.named("Point", __wt.record({{"x", __wt.number}, {"y", __wt.number}}))
local OptionalAge = __wt.named("OptionalAge", __wt.record({{"age", __wt.number, true}}))
"""

ALIASES = """
local ID, UserID, Role, Roles, Account
ID = __wt.named("ID", __wt.ann(__wt.string, {{"min_len", 3}}))
UserID = __wt.named("UserID", __wt.ref("ID", function() return ID end))
Role = __wt.named("Role", __wt.union({__wt.lit("admin"), __wt.lit("user"), __wt.lit("guest")}))
Roles = __wt.named("Roles", __wt.ann(__wt.array(__wt.ref("Role", function() return Role end)),
    {{"min_len", 1}}))
Account = __wt.named("Account", __wt.record({
    {"id", __wt.ref("UserID", function() return UserID end)},
    {"roles", __wt.ref("Roles", function() return Roles end)},
    {"note", __wt.ann(__wt.string, {{"min_len", 2}}), true}}))
"""

ANNOTATIONS = """
local Profile = __wt.named("Profile", __wt.record({
    {"age", __wt.ann(__wt.number, {{"min", 0}, {"max", 120}})},
    {"name", __wt.ann(__wt.string, {{"min_len", 1}, {"max_len", 10}})},
    {"email", __wt.ann(__wt.string, {{"pattern", "^.+@.+\\\\..+$"}})},
    {"note", __wt.ann(__wt.string, {{"min_len", 2}}), true}}))
"""

MAPS = """
local Score, Scores
Score = __wt.named("Score", __wt.ann(__wt.number, {{"min", 0}, {"max", 100}}))
Scores = __wt.named("Scores", __wt.map(__wt.string, __wt.ref("Score", function() return Score end)))
"""

COLLECTIONS = """
local NumList = __wt.named("NumList", __wt.array(__wt.number))
local ListHolder = __wt.named("ListHolder", __wt.record({
    {"items", __wt.ann(__wt.array(__wt.number), {{"min_len", 1}, {"max_len", 3}})}}))
local StrMap = __wt.named("StrMap", __wt.map(__wt.string, __wt.string))
local Id = __wt.named("Id", __wt.union({__wt.number, __wt.string}))
"""

FUNCTIONS = """
local Predicate = __wt.named("Predicate", __wt.func({__wt.number}, {__wt.boolean}, nil))
local Callback = __wt.named("Callback",
    __wt.func({__wt.number, __wt.string}, {__wt.boolean, __wt.string}, nil))
local function is_even(n) return n % 2 == 0 end
"""

LITERALS = """
local Mode = __wt.named("Mode", __wt.union({__wt.lit("fast"), __wt.lit("safe")}))
local Flag = __wt.named("Flag", __wt.lit(true))
local Count = __wt.named("Count", __wt.lit(3))
local One = __wt.named("One", __wt.lit(1.0))
"""

GENERICS = """
local Box, StringBox, User, UserBox
Box = __wt.named("Box", __wt.generic({"T"}, function(T) return __wt.record({{"value", T}}) end))
StringBox = __wt.named("StringBox", __wt.inst(__wt.ref("Box", function() return Box end),
    {__wt.string}))
User = __wt.named("User", __wt.record({{"id", __wt.ann(__wt.string, {{"min_len", 2}})}}))
UserBox = __wt.named("UserBox", __wt.inst(__wt.ref("Box", function() return Box end),
    {__wt.ref("User", function() return User end)}))
"""

READONLY_OPTIONAL = """
local Config = __wt.named("Config", __wt.record({
    {"id", __wt.string},
    {"tags", __wt.array(__wt.string, true), true},
    {"meta", __wt.map(__wt.string, __wt.string, true), true}}))
"""

TYPEOF = """
local Sample = __wt.named("Sample", __wt.record({{"name", __wt.string}, {"age", __wt.number}}))
"""

NESTED_LIB = """
local inner = (function()
    local InnerID, Flag, Flags, Inner
    InnerID = __wt.named("InnerID", __wt.ann(__wt.string, {{"min_len", 2}}))
    Flag = __wt.named("Flag", __wt.union({__wt.lit("hot"), __wt.lit("cold"), __wt.lit("warm")}))
    Flags = __wt.named("Flags", __wt.ann(__wt.array(__wt.ref("Flag", function() return Flag end)),
        {{"min_len", 1}, {"max_len", 3}}))
    Inner = __wt.named("Inner", __wt.record({
        {"id", __wt.ref("InnerID", function() return InnerID end)},
        {"flags", __wt.ref("Flags", function() return Flags end)}}))
    return {Inner = Inner}
end)()
local Outer = __wt.named("Outer", __wt.record({
    {"inner", __wt.ref("inner.Inner", function() return inner.Inner end)},
    {"label", __wt.ann(__wt.string, {{"min_len", 1}})}}))
local outer = {Inner = inner.Inner, Outer = Outer}
"""

INTERSECTION = """
local Named, Aged, Person
Named = __wt.named("Named", __wt.record({{"name", __wt.string}}))
Aged = __wt.named("Aged", __wt.record({{"age", __wt.number}}))
Person = __wt.named("Person", __wt.inter({__wt.ref("Named", function() return Named end),
    __wt.ref("Aged", function() return Aged end)}))
"""

# `local v, err = <call>; return` these, for a failing `:is`.
FAILED = "return v, tostring(err), err:kind() == errors.INVALID"


@pytest.mark.parametrize(
    ("types", "call", "message"),
    [
        pytest.param(RUNTIME_IS, "Point:is({x = 1})", "y: required field missing", id="B02"),
        pytest.param(ALIASES, 'UserID:is("a")', "length below minimum", id="B04"),
        pytest.param(
            ALIASES,
            'Account:is({id = "abcd", roles = {}})',
            "roles: length below minimum",
            id="B05",
        ),
        pytest.param(
            ALIASES,
            'Account:is({id = "abcd", roles = {"root"}})',
            'roles[1]: expected "admin" | "user" | "guest", got string',
            id="B06",
        ),
        pytest.param(
            ANNOTATIONS,
            'Profile:is({age = -1, name = "Ada", email = "ada@example.com"})',
            "age: value below minimum",
            id="B07",
        ),
        pytest.param(
            ANNOTATIONS,
            'Profile:is({age = 30, name = "Ada", email = "invalid"})',
            "email: pattern mismatch",
            id="B08",
        ),
        pytest.param(
            ANNOTATIONS,
            'Profile:is({age = 30, name = "Ada", email = "ada@example.com", note = "x"})',
            "note: length below minimum",
            id="B09",
        ),
        pytest.param(MAPS, "Scores:is({math = -1})", ".math: value below minimum", id="B10"),
        pytest.param(
            COLLECTIONS,
            "ListHolder:is({items = {1, 2, 3, 4}})",
            "items: length above maximum",
            id="B11",
        ),
        pytest.param(
            COLLECTIONS, 'NumList:is({1, "x"})', "[2]: expected number, got string", id="B12"
        ),
        pytest.param(COLLECTIONS, "Id:is(true)", "expected number | string, got boolean", id="B13"),
        pytest.param(FUNCTIONS, "Predicate:is({})", "expected function, got table", id="B14"),
        pytest.param(LITERALS, "Flag:is(false)", "expected true, got boolean", id="B15"),
        pytest.param(
            GENERICS,
            'UserBox:is({value = {id = "a"}})',
            "value.id: length below minimum",
            id="B16",
        ),
        pytest.param(
            READONLY_OPTIONAL,
            'Config:is({id = "cfg1", tags = {1}})',
            "tags[1]: expected string, got number",
            id="B17",
        ),
        pytest.param(TYPEOF, 'Sample:is({name = "Bob"})', "age: required field missing", id="B18"),
        pytest.param(
            NESTED_LIB,
            'outer.Inner:is({id = "x", flags = {}})',
            "id: length below minimum",
            id="B19",
        ),
        pytest.param(
            INTERSECTION, 'Person:is({name = "A"})', "age: required field missing", id="B20"
        ),
        pytest.param(
            RUNTIME_IS,
            "Point:is(setmetatable({}, {__index = {x = 1, y = 2}}))",
            "x: required field missing",
            id="B35",
        ),
        pytest.param(LITERALS, "One:is(1)", "expected 1, got number", id="B36"),
        pytest.param(
            GENERICS,
            "StringBox:is({value = 1})",
            "value: expected string, got number",
            id="generics",
        ),
        pytest.param(
            LITERALS, 'Mode:is("slow")', 'expected "fast" | "safe", got string', id="literals"
        ),
        pytest.param(
            COLLECTIONS, "StrMap:is({a = 1})", ".a: expected string, got number", id="string map"
        ),
        pytest.param(
            NESTED_LIB,
            'outer.Outer:is({inner = {id = "ok", flags = {"hot"}}, label = ""})',
            "label: length below minimum",
            id="imported type inside a record",
        ),
    ],
)
def test_is_failures_name_the_path(types: str, call: str, message: str) -> None:
    assert run(f"{types}\nlocal v, err = {call}\n{FAILED}") == [None, message, True]


@pytest.mark.parametrize(
    ("types", "value"),
    [
        pytest.param(RUNTIME_IS, "{x = 1, y = 2}", id="B01"),
        pytest.param(RUNTIME_IS, "{}", id="B03 (OptionalAge)"),
        pytest.param(ALIASES, '{id = "abcd", roles = {"admin"}}', id="aliases"),
        pytest.param(
            ANNOTATIONS, '{age = 30, name = "Ada", email = "ada@example.com"}', id="annotated"
        ),
        pytest.param(MAPS, "{math = 98, sci = 75}", id="map"),
        pytest.param(GENERICS, '{value = {id = "ab"}}', id="generic"),
        pytest.param(
            READONLY_OPTIONAL, '{id = "cfg1", tags = {"a"}, meta = {env = "dev"}}', id="readonly"
        ),
        pytest.param(INTERSECTION, '{name = "A", age = 3}', id="intersection"),
    ],
)
def test_is_success_returns_the_value_itself(types: str, value: str) -> None:
    name = {
        RUNTIME_IS: "OptionalAge" if value == "{}" else "Point",
        ALIASES: "Account",
        ANNOTATIONS: "Profile",
        MAPS: "Scores",
        GENERICS: "UserBox",
        READONLY_OPTIONAL: "Config",
        INTERSECTION: "Person",
    }[types]
    code = f"{types}\nlocal input = {value}\nlocal v, err = {name}:is(input)\n"
    assert run(
        code + "return rawequal(v, input), err == nil, select('#', " + name + ":is(input))"
    ) == [
        True,
        True,
        2,
    ]


def test_b02_error_object_kind_and_details() -> None:
    code = (
        RUNTIME_IS
        + """
local _, err = Point:is({x = 1})
return type(err), err:kind(), err:details()
"""
    )
    assert run(code) == [
        "userdata",
        "Invalid",
        {"field": "y", "expected": "number", "got": "nil"},
    ]


@pytest.mark.parametrize(
    ("types", "call", "details"),
    [
        (
            ANNOTATIONS,
            'Profile:is({age = -1, name = "Ada", email = "a@b.c"})',
            {"field": "age", "expected": "0", "got": "-1", "constraint": "min"},
        ),
        (
            ANNOTATIONS,
            'Profile:is({age = 1, name = "Ada", email = "nope"})',
            {"field": "email", "expected": "^.+@.+\\..+$", "got": "nope", "constraint": "pattern"},
        ),
        (COLLECTIONS, "Id:is(true)", {"expected": "number | string", "got": "boolean"}),
    ],
)
def test_error_details_hold_the_non_empty_keys(
    types: str, call: str, details: dict[str, str]
) -> None:
    assert run(f"{types}\nlocal _, err = {call}\nreturn err:details()") == [details]


def test_b14_functions_and_b15_literals_pass() -> None:
    code = (
        FUNCTIONS
        + LITERALS
        + """
local f, ferr = Predicate:is(is_even)
local c, cerr = Count:is(3.0)
local g = Callback:is(function(a, b) return a > 0, b end)
return rawequal(f, is_even), ferr, c, math.type(c), cerr, g ~= nil, One:is(1.0)
"""
    )
    assert run(code) == [True, None, 3, "float", None, True, 1, None]


def test_b21_types_are_values() -> None:
    code = (
        RUNTIME_IS
        + """
local cases = {{t = Point, v = {x = 1, y = 2}}, {t = Point, v = {x = 1}}}
local out = {}
for i, c in ipairs(cases) do
    local v, err = c.t:is(c.v)
    out[i] = err and tostring(err) or (rawequal(v, c.v) and "ok")
end
return out
"""
    )
    assert run(code) == [["ok", "y: required field missing"]]


def test_b22_b23_calling_a_type_validates_and_returns_the_value() -> None:
    code = (
        RUNTIME_IS
        + """
local input = {x = 1, y = 2}
return rawequal(Point(input), input)
"""
    )
    assert run(code) == [True]
    # the error names the caller's line, as go-lua's RaiseError does
    assert raises(RUNTIME_IS + 'Point({x = "bad", y = 2})') == "t.lua:5: expected Point, got table"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        pytest.param("string(nil)", "expected string, got nil", id="B24"),
        pytest.param("string(123)", "expected string, got number", id="B25"),
        pytest.param("integer(5.5)", "expected integer, got number", id="B26"),
        pytest.param(
            'string((function() return "a", nil end)())',
            "type string validation expects 1 value, got 2",
            id="B27",
        ),
        pytest.param("string()", "type string expects at least 1 argument", id="B28"),
        pytest.param('integer("7")', "expected integer, got string", id="integer string"),
        pytest.param('number("5")', "expected number, got string", id="number string"),
        pytest.param("boolean(nil)", "expected boolean, got nil", id="boolean nil"),
        pytest.param("boolean(0)", "expected boolean, got number", id="boolean 0"),
        pytest.param("never(1)", "expected never, got number", id="never"),
        pytest.param("string({})", "expected string, got table", id="table"),
        pytest.param("string(number)", "type string is not generic", id="type argument"),
        pytest.param("any(integer)", "type any is not generic", id="any generic"),
        pytest.param(
            "string(1, number)",
            "type string does not accept mixed type/value arguments",
            id="mixed",
        ),
    ],
)
def test_primitive_casts_raise_at_the_caller(call: str, message: str) -> None:
    # (a tail call, `return string(x)`, leaves no caller line to name: Lua drops its frame)
    assert raises(f"local x = {call}\nreturn x") == f"t.lua:2: {message}"


def test_primitive_casts_return_their_argument_unchanged() -> None:
    code = """
local data = {username = "ada"}
local f = integer(7.0)
return string(data.username), integer(5), f, math.type(f), number(2.5), boolean(false),
    any(nil), select("#", any(nil)), unknown("x"), string("a")
"""
    # B24, B26, 3.8; the last one is B40's `string("a")`
    assert run(code) == ["ada", 5, 7, "float", 2.5, False, None, 1, "x", "a"]


def test_b29_b30_b31_reflection() -> None:
    code = (
        RUNTIME_IS
        + """
local names, kinds = {}, {}
for n, t in Point:fields() do names[#names + 1] = n; kinds[#kinds + 1] = tostring(t) end
return Point:kind(), Point:name(), Point.x:kind(), Point.z, names, kinds,
    type(number), tostring(number), tostring(Point), Point.x:name()
"""
    )
    assert run(code) == [
        "record",
        "Point",
        "number",
        None,
        ["x", "y"],
        ["number", "number"],
        "type",
        "number",
        "Point",
        None,
    ]


def test_b32_comparisons_are_subtyping() -> None:
    code = (
        RUNTIME_IS
        + """
local P2 = __wt.record({{"x", __wt.number}, {"y", __wt.number}})
local Wide = __wt.record({{"x", __wt.number}})
return integer <= number, integer < number, number < number, number == number,
    Point == P2, Point <= Wide, Wide <= Point, __wt.lit("a") <= __wt.string, never <= Point,
    Point <= any, __wt.opt(number) <= number, number <= __wt.opt(number),
    __wt.union({integer, __wt.lit(2.5)}) <= number, integer <= __wt.union({string, number})
"""
    )
    assert run(code) == [
        True,
        True,
        False,
        True,
        True,
        True,
        False,
        True,
        True,
        True,
        False,
        True,
        True,
        True,
    ]


def test_b33_optional_accepts_nil_as_a_falsy_success() -> None:
    assert run("local T = __wt.opt(__wt.number)\nreturn select('#', T:is(nil)), T:is(nil)") == [
        2,
        None,
        None,
    ]


def test_b34_uninstantiated_generics_accept_nothing() -> None:
    code = GENERICS + "local v, err = Box:is({value = 1})\nreturn v, tostring(err)"
    assert run(code) == [None, "expected Box<T>, got table"]


def test_generic_instantiation_by_call() -> None:
    code = (
        GENERICS
        + """
local NB = Box(number)  -- as a value, `string` is the string library: __wt.string
local ok = NB:is({value = 1})
local _, err = NB:is({value = "x"})
return tostring(NB), NB:kind(), ok ~= nil, tostring(err), StringBox:kind(),
    tostring(StringBox:name())
"""
    )
    assert run(code) == [
        "Box",
        "record",
        True,
        "value: expected number, got string",
        "instantiated",
        "StringBox",
    ]
    assert raises(GENERICS + "local B = Box(__wt.string, number)") == (
        "t.lua:10: generic Box expects 1 type arguments, got 2"
    )


def test_b37_validators_are_not_checked_on_assignment() -> None:
    # `local x: number @min(0) = -1` erases to this: nothing checks the value.
    assert run("local x = -1\nreturn x") == [-1]


def test_b38_b39_erased_casts() -> None:
    printed: list[str] = []
    # `print(f() :: number)` and `x as integer | 1`, as the front end erases them
    code = """
local function f() return 1, 2 end
print((f()))
local x = 6
local y = x | 1
return y
"""
    assert run(code, printer=printed) == [7]
    assert printed == ["1"]


def test_b41_error_contains_on_an_is_error() -> None:
    # upstream lib/assert.lua:140, then string.find
    code = (
        RUNTIME_IS
        + """
local _, err = Point:is({x = 1})
local msg = type(err) == "table" and err.message or tostring(err)
return string.find(msg, "y", 1, true) ~= nil, msg
"""
    )
    assert run(code) == [True, "y: required field missing"]


# -- validation rules (3.5) and validators (3.6) ------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "value", "ok"),
    [
        ("__wt.nil_", "nil", True),
        ("__wt.nil_", "false", False),
        ("__wt.integer", "7.0", True),
        ("__wt.integer", "7.5", False),
        ("__wt.integer", "2^63", False),
        ("__wt.number", "'1'", False),
        ("__wt.string", "1", False),
        ("__wt.any", "nil", True),
        ("__wt.unknown", "print", True),
        ("__wt.never", "nil", False),
        ("__wt.table", "{}", True),
        ("__wt.table", "number", False),
        ("__wt.lit(3)", "3.0", True),
        ("__wt.lit(1.0)", "1", False),
        ("__wt.lit('a')", "'a'", True),
        ("__wt.array(__wt.number)", "{1, a = 'x'}", True),
        ("__wt.array(__wt.number)", "{}", True),
        ("__wt.map(__wt.string, __wt.number)", "{1, 2}", True),
        ("__wt.map(__wt.string, __wt.number)", "{[2.5] = 1}", False),
        ("__wt.map(__wt.number, __wt.string)", "{a = 1}", True),
        ("__wt.map(__wt.number, __wt.string)", "{1, 2}", False),
        ("__wt.map(__wt.any, __wt.string)", "{'a', 'b', [true] = 'c'}", True),
        ("__wt.record({{'a', __wt.opt(__wt.number)}})", "{}", True),
        ("__wt.record({{'a', __wt.number}})", "{a = 1, extra = true}", True),
        ("__wt.func({}, {}, nil)", "print", True),
        ("__wt.inter({__wt.number, __wt.ann(__wt.number, {{'min', 2}})})", "1", False),
        ("__wt.ann(__wt.number, {{'unknown_validator', 1}})", "5", True),
    ],
)
def test_validation_rules(type_: str, value: str, ok: bool) -> None:
    assert run(f"local v, err = ({type_}):is({value})\nreturn err == nil") == [ok]


@pytest.mark.parametrize(
    ("validators", "value", "message"),
    [
        ('{{"min", 0}}', "-0.5", "value below minimum"),
        ('{{"max", 10}}', "10.5", "value above maximum"),
        ('{{"min_len", 2}}', '"a"', "length below minimum"),
        ('{{"max_len", 2}}', "{1, 2, 3}", "length above maximum"),
        ('{{"min_len", -1}}', '""', None),
        ('{{"min", 0}}', '"text"', None),
        ('{{"pattern", "b"}}', '"abc"', None),
        ('{{"pattern", "^b"}}', '"abc"', "pattern mismatch"),
        ('{{"pattern", "^\\\\d{3}$"}}', '"123"', None),
        ('{{"pattern", "(?i)^ABC$"}}', '"abc"', None),
        ('{{"pattern", "("}}', '"abc"', "invalid regex"),
        ('{{"pattern", 5}}', '"abc"', "invalid pattern argument"),
        ('{{"pattern", "x"}}', "5", None),
    ],
)
def test_validators(validators: str, value: str, message: str | None) -> None:
    code = f"local _, err = __wt.ann(__wt.any, {validators}):is({value})\nreturn tostring(err)"
    assert run(code) == [message if message is not None else "nil"]


def test_map_paths_name_keys() -> None:
    code = """
local M = __wt.map(__wt.string, __wt.number)
local N = __wt.map(__wt.number, __wt.string)
local _, e1 = M:is({[true] = 1})
local _, e2 = N:is({[10] = 5})
local _, e3 = N:is({"a", 2})
return tostring(e1), tostring(e2), tostring(e3)
"""
    assert run(code) == [
        "[key]: expected string, got boolean",
        "[10]: expected string, got number",
        "[2]: expected string, got number",
    ]


def test_unresolved_references_fail_only_when_used() -> None:
    # A35: `type Message = process.Message`, `type MessageChannel = Channel<Message>`
    code = """
local process = {}
local Message = __wt.named("Message",
    __wt.ref("process.Message", function() return process.Message end))
local Chan = __wt.named("MessageChannel",
    __wt.inst(__wt.ref("Channel", function() return Channel end),
        {__wt.ref("Message", function() return Message end)}))
local Outer = __wt.record({{"m", __wt.ref("missing.Inner", function() return missing.Inner end)}})
local _, e1 = Message:is({})
local _, e2 = Chan:is({})
local _, e3 = Outer:is({m = 1})
return tostring(e1), tostring(e2), tostring(e3), e1:details(), tostring(Chan)
"""
    assert run(code) == [
        "unresolved type process.Message",
        "expected Channel<Message>, got table",
        "m: unresolved type missing.Inner",
        {"expected": "process.Message"},
        "MessageChannel",
    ]


def test_recursive_types_and_the_depth_limit() -> None:
    code = """
local List
List = __wt.named("List", __wt.record({{"v", __wt.number},
    {"next", __wt.ref("List", function() return List end), true}}))
local function chain(n)
    local head
    for i = 1, n do head = {v = i, next = head} end
    return head
end
local cycle = {v = 1}
cycle.next = cycle
local ok = List:is(chain(10))
local _, deep = List:is(chain(100))
local _, loop = List:is(cycle)
local message = tostring(deep)
return ok ~= nil, message:sub(1, 15),
    message:find(": expected type, got recursion limit exceeded", 1, true) ~= nil,
    tostring(loop) == message
"""
    assert run(code) == [True, "next.next.next.", True, True]


def test_type_text() -> None:
    code = """
local Box = __wt.named("Box",
    __wt.generic({"T"}, function(T) return __wt.record({{"value", T}}) end))
local texts = {}
for i, t in ipairs({
    __wt.record({{"x", __wt.number}, {"y", __wt.string, true}}),
    __wt.record({{"x", __wt.number}}, true),
    __wt.array(__wt.opt(__wt.integer)),
    __wt.map(__wt.string,
        __wt.union({__wt.lit("a\\n\\"b"), __wt.lit(2), __wt.lit(2.5), __wt.lit(false)})),
    __wt.inter({__wt.ref("A", function() end), __wt.ref("B", function() end)}),
    __wt.func({__wt.number, __wt.string}, {__wt.boolean, __wt.string}, nil),
    __wt.func({}, {__wt.number}, __wt.any),
    __wt.ann(__wt.string, {{"min_len", 3}, {"pattern", "^x"}, {"min", 0.5}, {"flag"}}),
    __wt.inst(__wt.ref("Box", function() return Box end), {__wt.string}),
    Box,
    __wt.lit(1.0),
    __wt.nil_,
    __wt.table,
}) do texts[i] = tostring(t) end
return texts
"""
    assert run(code) == [
        [
            "{x: number, y?: string}",
            "{readonly x: number}",
            "integer?[]",
            '{[string]: "a\\n\\"b" | 2 | 2.5 | false}',
            "A & B",
            "fun(number, string) -> (boolean, string)",
            "fun(...any) -> number",
            'string @min_len(3) @pattern("^x") @min(0.5) @flag',
            "Box<string>",
            "Box",
            "1",
            "nil",
            "table",
        ]
    ]


def test_reflection_methods() -> None:
    code = """
local Arr = __wt.array(__wt.number)
local Map = __wt.map(__wt.string, __wt.integer)
local Opt = __wt.opt(__wt.string)
local Fn = __wt.func({__wt.number, __wt.string}, {__wt.boolean, __wt.string}, nil)
local One = __wt.func({}, {__wt.number}, nil)
local U = __wt.union({__wt.number, __wt.string})
local G = __wt.generic({"T", "U"}, function(T, U) return T end, {U = __wt.number})
local Alias = __wt.named("Alias", __wt.ref("Arr", function() return Arr end))
local function collect(iter)
    local out = {}
    for a, b in iter do out[#out + 1] = b and (a .. "=" .. tostring(b)) or tostring(a) end
    return out
end
return tostring(Arr:elem()), tostring(Map:key()), tostring(Map:val()), tostring(Opt:inner()),
    tostring(Fn:ret()), Fn:ret():kind(), tostring(One:ret()), collect(U:variants()),
    collect(Fn:params()), collect(G:tparams()), Alias:kind(), Alias:name(), tostring(Alias:elem()),
    Arr:key(), Map:elem(), Arr:fields(), Arr:variants(), Arr:params(), Arr:tparams(), Arr:ret(),
    __wt.ann(Arr, {{"min_len", 1}}):elem(), __wt.ann(Arr, {}):kind(), __wt.lit(1):kind(),
    __wt.table:kind(), Arr:name(), number:name()
"""
    assert run(code) == [
        "number",
        "string",
        "integer",
        "string",
        "(boolean, string)",
        "tuple",
        "number",
        ["number", "string"],
        ["number", "string"],
        ["T", "U=number"],
        "array",
        "Alias",
        "number",
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        "array",
        "unknown",
        "unknown",
        None,
        "number",
    ]


def test_methods_shadow_fields_and_dot_calls_work() -> None:
    code = """
local T = __wt.named("T", __wt.record({{"kind", __wt.string}, {"size", __wt.integer}}))
local v, err = T.is({kind = "a", size = 1})
return type(T.kind), T:kind(), tostring(T.size), v ~= nil, err, T.is == T.is,
    __wt.string.upper("abc"), __wt.string:kind()
"""
    assert run(code) == ["function", "record", "integer", True, None, True, "ABC", "string"]


def test_types_as_table_keys() -> None:
    code = """
local handlers = {[number] = "n", [string] = "s"}
return handlers[number], handlers[string], handlers[integer]
"""
    assert run(code) == ["n", "s", None]


# -- the library and the string library --------------------------------------------------------


def test_string_library_is_callable_without_new_keys() -> None:
    code = """
local keys = 0
for _ in next, string do keys = keys + 1 end
local before = keys
__wippy_types()
keys = 0
for _ in next, string do keys = keys + 1 end
return keys == before, rawget(string, "is"), string.upper("abc"), ("ab"):rep(2), string.len("abc"),
    string.format("%s-%d", "a", 1), string.find("hello", "ll"), string:kind(), string.kind(),
    string:name(), select(2, string:is(1)) ~= nil, string.is("s")
"""
    assert run(code) == [
        True,
        None,
        "ABC",
        "abab",
        3,
        "a-1",
        3,
        "string",
        "string",
        "string",
        True,
        "s",
        None,
    ]


def test_the_library_is_loaded_once_per_state_and_only_there() -> None:
    first = LuaState()
    second = LuaState()
    try:
        load = "return __wippy_types() == __wippy_types(), type(rawget(_G, 'integer'))"
        assert first.call(first.load(load, "a.lua")) == [True, b"type"]
        # (source naming `integer` would be translated to load the library: read it by string)
        probe = """
local ok = pcall(string, "x")
return rawget(_G, "integer"), rawget(_G, "number"), getmetatable(string), ok
"""
        assert second.call(second.load(probe, "b.lua")) == [None, None, None, False]
    finally:
        first.close()
        second.close()


def test_type_of_values_is_unchanged() -> None:
    code = """
return type({}), type(setmetatable({}, {})), type(1), type(nil), type(print), type(__wt.number),
    select(2, pcall(type))
"""
    assert run(code) == [
        "table",
        "table",
        "number",
        "nil",
        "function",
        "type",
        "bad argument #1 to 'type' (value expected)",
    ]


def test_type_values_have_no_json_form() -> None:
    assert run("return {t = __wt.number, n = 1}") == [{"t": None, "n": 1}]


def test_regex_search_is_go_re2() -> None:
    assert regex_search(b"^.+@.+\\..+$", b"ada@example.com") is True
    assert regex_search(b"^a", b"ba") is False
    assert regex_search(b"a++", b"aa") is None  # a Perl possessive quantifier is not RE2
    assert regex_search(b"(", b"x") is None


def test_bad_regex_prints_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    assert regex_search(b"[unclosed", b"x") is None
    assert capfd.readouterr().err == ""


# -- base-language shims (1.3) ------------------------------------------------------------------


def test_unpack_global() -> None:
    assert run("return unpack({1, 2, 3})") == [1, 2, 3]


def test_math_shims() -> None:
    code = """
return math.pow(2, 10), math.log10(1000), math.atan2(1, -1), math.sinh(0), math.cosh(0),
    math.tanh(1/0), math.tanh(-1/0), math.tanh(0), math.sinh(-1/0)
"""
    assert run(code) == [1024, 3, math.atan2(1, -1), 0, 1, 1, -1, 0, None]


@pytest.mark.parametrize("x", [1e-10, -1e-5, 0.3, -0.5, 0.6, 1.0, -2.5, 20.0, 30.0, -700.0])
def test_hyperbolic_functions_match_the_reference(x: float) -> None:
    sinh, cosh, tanh = run(f"return math.sinh({x!r}), math.cosh({x!r}), math.tanh({x!r})")
    assert sinh == pytest.approx(math.sinh(x), rel=1e-15)
    assert cosh == pytest.approx(math.cosh(x), rel=1e-15)
    assert tanh == pytest.approx(math.tanh(x), rel=1e-15)


def test_table_create_returns_a_new_table() -> None:
    code = """
local a, b = table.create(10, 5), table.create(3)
a[1] = "x"
return type(a), rawequal(a, b), next(b), #a
"""
    assert run(code) == ["table", False, None, 1]


@pytest.mark.parametrize(
    ("fmt", "args", "expected"),
    [
        ('"%d"', "2.5", "2"),
        ('"%d"', "-2.5", "-2"),
        ('"%05d"', "-3.7", "-0003"),
        ('"%i|%x|%X|%o|%c"', "7.9, 255.5, 255.9, 8.2, 65.7", "7|ff|FF|10|A"),
        ('"%s %d %%d %.1f"', '"a", 2.9, 2.25', "a 2 %d 2.2"),
        ('"%dms"', "1500.0", "1500ms"),
        ('"%d"', "3", "3"),
        ('"%5.1f|%g"', "2.5, 0.1", "  2.5|0.1"),
    ],
)
def test_string_format_truncates_floats_for_integer_conversions(
    fmt: str, args: str, expected: str
) -> None:
    code = f"return string.format({fmt}, {args}), ({fmt}):format({args})"
    assert run(code) == [expected, expected]


def test_string_format_still_rejects_unrepresentable_numbers() -> None:
    assert "number has no integer representation" in raises('return string.format("%d", 1e300)')


@pytest.mark.parametrize(
    ("expr", "text"),
    [
        ("3.0", "3"),
        ("10/2", "5"),
        ("0.1+0.2", "0.30000000000000004"),
        ("2.5", "2.5"),
        ("-0.0", "0"),
        ("1e20", "1e+20"),
        ("1234567.5", "1.2345675e+06"),
        ("123456.5", "123456.5"),
        ("0.0001", "0.0001"),
        ("0.00001", "1e-05"),
        ("1e-300", "1e-300"),
        ("2^63", "9.223372036854776e+18"),
        ("-2^63", "-9223372036854775808"),
        ("1/0", "+Inf"),
        ("-1/0", "-Inf"),
        ("0/0", "NaN"),
        ("42", "42"),
        ("math.mininteger", "-9223372036854775808"),
        ("'s'", "s"),
        ("nil", "nil"),
        ("true", "true"),
    ],
)
def test_tostring_prints_numbers_as_go_does(expr: str, text: str) -> None:
    assert run(f"return tostring({expr})") == [text]


def test_tostring_is_the_shortest_round_trip() -> None:
    rng = random.Random(7)
    values = [rng.uniform(-1e6, 1e6) for _ in range(100)] + [
        rng.random() * 10 ** rng.randint(-20, 20) for _ in range(100)
    ]
    listed = ", ".join(repr(v) for v in values)
    code = f"local out = {{}}\nfor i, v in ipairs({{{listed}}}) do out[i] = tostring(v) end"
    texts = run(code + "\nreturn out")[0]
    for value, text in zip(values, texts, strict=True):
        assert float(text) == value
        if value == int(value) and abs(value) < 2**63:  # integral: printed as an integer
            assert text == str(int(value))
            continue
        digits = repr(value).lstrip("-").split("e")[0].replace(".", "").strip("0")
        assert len(text.lstrip("-").split("e")[0].replace(".", "").strip("0")) == len(digits)


def test_tostring_needs_an_argument() -> None:
    assert "bad argument #1 to 'tostring' (value expected)" in raises("return tostring()")


def test_print_uses_go_number_formatting() -> None:
    printed: list[str] = []
    run('print(10/2, 0.5, "a", nil, 3, 1e100)', printer=printed)
    assert printed == ["5\t0.5\ta\tnil\t3\t1e+100"]


# -- `type` statements through the dialect front end ------------------------------------------


def run_typed(source: str) -> list[Any]:
    """Run Wippy source: LuaState.load translates the dialect."""
    state = LuaState()
    try:
        return [state.from_lua(v) for v in state.call(state.load(source, "typed.lua"))]
    finally:
        state.close()


def test_type_statements_build_the_same_values() -> None:
    source = """
type ID = string @min_len(3)
type UserID = ID
type Role = "admin" | "user" | "guest"
type Roles = {Role} @min_len(1)
type Account = {id: UserID, roles: Roles, note?: string @min_len(2)}
type Box<T> = {value: T}
type StringBox = Box<string>

local function check(T, v)
    local ok, err = T:is(v)
    return err and tostring(err) or "ok"
end

return check(UserID, "a"), check(Account, {id = "abcd", roles = {"root"}}),
    check(StringBox, {value = 1}), UserID:name(), UserID:kind(), tostring(StringBox),
    check(Account, {id = "abcd", roles = {"admin"}})
"""
    assert run_typed(source) == [
        "length below minimum",
        'roles[1]: expected "admin" | "user" | "guest", got string',
        "value: expected string, got number",
        "UserID",
        "string",
        "StringBox",
        "ok",
    ]


def test_typed_locals_casts_and_primitive_casts() -> None:
    source = """
local x: number @min(0) = -1
local function f(): (integer, integer) return 1, 2 end
local a, b = f() :: integer
local y = x as integer | 1
local ok, err = pcall(function() local v = integer(5.5) end)
return x, a, b, y, string("s"), err
"""
    assert run_typed(source) == [-1, 1, None, -1, "s", "typed.lua:6: expected integer, got number"]
