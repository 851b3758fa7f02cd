"""Durations in SPEC 2's two conventions: Go strings, numbers in ns (time) or ms (options)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from luaflow.lua._errors import INVALID, LuaflowError

_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_go_duration(text: str) -> int:
    """Parse `"1h30m"`, `"250ms"`, `"-1.5s"`, `"0"` into nanoseconds (Go's time.ParseDuration)."""
    s = text.strip()
    sign = 1
    if s[:1] in "+-" and s:
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise LuaflowError(f'invalid duration "{text}"', INVALID, False)
    total = 0.0
    pos = 0
    for match in _PART.finditer(s):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS_NS[match.group(2)]
        pos = match.end()
    if pos != len(s):
        raise LuaflowError(f'invalid duration "{text}"', INVALID, False)
    return sign * round(total)


def time_duration_ns(value: Any) -> int:
    """A `time` module duration: number = nanoseconds, string = Go duration (SPEC 2.3)."""
    if isinstance(value, bool):
        raise LuaflowError("invalid duration: boolean", INVALID, False)
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str):
        return parse_go_duration(value)
    raise LuaflowError(f"invalid duration of type {type(value).__name__}", INVALID, False)


def option_duration(value: Any, key: str) -> timedelta:
    """A Temporal option duration: number = milliseconds, string = Go duration (SPEC 2, B3)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise LuaflowError(
            f"option {key}: expected a duration string or milliseconds, got {value!r}",
            INVALID,
            False,
        )
    if isinstance(value, str):
        try:
            ns = parse_go_duration(value)
        except LuaflowError as exc:
            raise LuaflowError(f"option {key}: {exc.message}", INVALID, False) from None
        delta = timedelta(microseconds=ns / 1000)
    else:
        delta = timedelta(milliseconds=value)
    if delta < timedelta(0):
        raise LuaflowError(f"option {key}: duration must not be negative", INVALID, False)
    return delta
