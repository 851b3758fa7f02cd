"""Durations in SPEC 2's two conventions: Go strings, numbers in ns (time) or ms (options)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from luaflow.lua._errors import INVALID, LuaflowError
from luaflow.lua._time import go_quote

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
_LIMIT = 1 << 63
# [0-9]*(\.[0-9]*)? : the number before each unit
_NUMBER = re.compile(r"([0-9]*)(\.[0-9]*)?")


def parse_go_duration(text: str) -> int:
    """Go's `time.ParseDuration`: `"1h30m"`, `"250ms"`, `"-1.5s"`, `"0"` in nanoseconds, with
    Go's error messages (`time: missing unit in duration "5"`). No spaces are allowed."""
    invalid = LuaflowError(f"time: invalid duration {go_quote(text)}", INVALID, False)
    s, neg = text, False
    if s[:1] in ("-", "+"):
        neg, s = s[0] == "-", s[1:]
    if s == "0":
        return 0
    if not s:
        raise invalid
    total = 0
    while s:
        match = _NUMBER.match(s)
        if match is None or match.group(0) in ("", "."):
            raise invalid
        whole, frac = match.group(1), match.group(2) or ""
        s = s[match.end() :]
        unit_end = next((i for i, c in enumerate(s) if c == "." or "0" <= c <= "9"), len(s))
        unit, s = s[:unit_end], s[unit_end:]
        if not unit:
            raise LuaflowError(f"time: missing unit in duration {go_quote(text)}", INVALID, False)
        scale = _UNITS_NS.get(unit)
        if scale is None:
            raise LuaflowError(
                f"time: unknown unit {go_quote(unit)} in duration {go_quote(text)}",
                INVALID,
                False,
            )
        value = int(whole or "0")
        if value > _LIMIT or value > _LIMIT // scale:
            raise invalid
        value *= scale
        fraction, fraction_scale = 0, 1
        for digit in frac[1:]:  # Go ignores the digits that would overflow
            if fraction > (_LIMIT - 1) // 10 or fraction * 10 + int(digit) > _LIMIT:
                break
            fraction, fraction_scale = fraction * 10 + int(digit), fraction_scale * 10
        if fraction:
            value += int(fraction * (scale / fraction_scale))
        total += value
        if value > _LIMIT or total > _LIMIT:
            raise invalid
    if not neg and total > _LIMIT - 1:
        raise invalid
    return -total if neg else total


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
