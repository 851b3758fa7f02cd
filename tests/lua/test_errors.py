"""Error values with Wippy's semantics (userdata, wrap, details copies, concatenation)."""

from __future__ import annotations

from typing import Any

import pytest

from luaflow.lua import LuaflowError, LuaState


def run(code: str) -> list[Any]:
    state = LuaState()
    return [state.from_lua(v) for v in state.call(state.load(code, "e.lua"))]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        # E1-E2: constants, a plain error
        (
            "return errors.NOT_FOUND, errors.RATE_LIMITED, errors.UNKNOWN",
            ["NotFound", "RateLimited", ""],
        ),
        (
            'local e = errors.new("simple error") '
            "return e:message(), e:kind(), e:retryable(), e:details()",
            ["simple error", "", None, None],
        ),
        # E3-E8: details are copied, empty is nothing; bad kind/retryable ignored
        ('return errors.new({message="empty", details={}}):details()', [None]),
        (
            'return errors.new({message="n", details={user={name="t", id=1}, count=5}})'
            ":details().user.id",
            [1],
        ),
        (
            'local d = {a=1}; local e = errors.new({message="m", details=d}); d.a = 2; '
            "return e:details().a",
            [1],
        ),
        (
            'local e = errors.new({message="m", details={a=1}}); e:details().a = 9; '
            "return e:details().a",
            [1],
        ),
        ('return errors.new({message="m", retryable="yes"}):retryable()', [None]),
        ('return errors.new({message="m", retryable=false}):retryable()', [False]),
        ('return errors.new({message="m", kind=5}):kind()', [""]),
        # E11: a second argument is ignored
        ('return errors.new("PERMISSION_DENIED", "x"):message()', ["PERMISSION_DENIED"]),
        # E12-E13: is
        (
            'local e = errors.new({message="t", kind=errors.TIMEOUT}) '
            "return errors.is(e, errors.TIMEOUT), errors.is(e, errors.NOT_FOUND)",
            [True, False],
        ),
        (
            'return errors.is("not an error", errors.TIMEOUT), errors.is(nil, errors.TIMEOUT)',
            [False, False],
        ),
        # E15-E18: strings and concatenation
        ('return tostring(errors.new("test error"))', ["test error"]),
        ('return "prefix: " .. errors.new("test error")', ["prefix: test error"]),
        (
            'return errors.new("test error") .. " :suffix", errors.new("a") .. errors.new("b")',
            ["test error :suffix", "ab"],
        ),
        ('return errors.new("a") .. 5', ["a5"]),
        # E19-E24: wrap keeps the parent's message, kind, retryable and details
        (
            'local o = errors.wrap(errors.new({message="inner error", kind=errors.INVALID, '
            'retryable=true, details={code=42}}), "outer context") '
            "return o:message(), o:kind(), o:retryable(), o:details().code",
            ["inner error", "Invalid", True, 42],
        ),
        ('return errors.wrap("string error", "context"):message()', ["string error"]),
        ('return tostring(errors.wrap(errors.new("inner"), "outer"))', ["inner"]),
        (
            'local e = errors.wrap(errors.wrap(errors.new("a"), "b"), "c") '
            "return e:message(), tostring(e)",
            ["b: a", "b: a"],
        ),
        (
            'return errors.wrap(errors.new({message="nf", kind=errors.NOT_FOUND}), "ctx"):kind()',
            ["NotFound"],
        ),
        # E25-E26, E30: userdata, usable where strings are
        ('return type(errors.new("x"))', ["userdata"]),
        ('return string.find(errors.new("process not found"), "not found")', [9, 17]),
        ('return string.len(errors.new("abc")), string.lower(errors.new("AB"))', [3, "ab"]),
        ('local e = errors.new("m") return e.message ~= nil and type(e) == "table"', [False]),
        # E27: raised and caught keeps its kind
        (
            'local ok, e = pcall(error, errors.new({message="s", kind=errors.INVALID})) '
            "return ok, e:kind()",
            [False, "Invalid"],
        ),
        # E28-E29: stacks
        (
            'return #errors.new("stack test"):stack() > 0, '
            'errors.call_stack(errors.new("x")).frames[1].source ~= nil',
            [True, True],
        ),
        ('return errors.call_stack("x")', [None]),
        ('return errors.call_stack(errors.new("x")).frames[1].line', [1]),
        # json writes Go's Error() text
        ('return errors.wrap(errors.new("a"), "b")', ["b: a"]),
    ],
)
def test_error_vectors(code: str, expected: list[Any]) -> None:
    assert run(code) == expected


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("return errors.new({})", "bad argument #1 to new (message field is required)"),
        ("return errors.new({message = 1})", "bad argument #1 to new (message must be a string)"),
        ("return errors.new(123)", "bad argument #1 to new (expected string or table)"),
        ('return errors.is(errors.new("x"))', "bad argument #2 to is (string expected, got nil)"),
        (
            'return errors.wrap(nil, "x")',
            "bad argument #1 to wrap (expected string or error object)",
        ),
        ('return errors.wrap(5, "c")', "bad argument #1 to wrap (expected string or error object)"),
        ('return errors.wrap("a", 5)', "bad argument #2 to wrap (expected string or error object)"),
        ("errors.NOT_FOUND = 'x'", "errors module is read-only"),
    ],
)
def test_bad_arguments_raise(code: str, message: str) -> None:
    with pytest.raises(LuaflowError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run(code)


def test_wrapped_error_crosses_as_a_chain_and_back() -> None:
    state = LuaState()
    code = 'return errors.wrap(errors.new({message="a", kind="NotFound"}), "b")'
    err = state.error_from_lua(state.call(state.load(code, "e.lua"))[0])
    assert (err.text(), err.kind, err.message) == ("b: a", "NotFound", "b")
    back = state.error_to_lua(err)
    check = state.load("local e = ... return e:message(), tostring(e), e:kind(), type(e)", "c.lua")
    assert state.call(check, back) == [b"a", b"a", b"NotFound", b"userdata"]


def test_many_errors_are_collected() -> None:
    """Errors are host-backed userdata: once unreachable they and their host objects go."""
    state = LuaState()
    code = "for i = 1, 4000 do local e = errors.new({message = string.rep('x', 2000) .. i}) end"
    for _ in range(10):
        state.call(state.load(code, "many.lua"))
    state.runtime.gccollect()
    state.runtime.gccollect()
    assert state.runtime.get_memory_used() < 16 * 1024 * 1024  # 40k errors of 2 KB: 80 MB
