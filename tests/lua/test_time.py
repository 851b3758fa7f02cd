"""The `time` module: Go's time package as Wippy exposes it (CORE-MODULES 5, vectors of 16)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from luaflow.lua import Clock, LuaflowError, LuaState, _modules, parse_go_duration, time_module
from luaflow.lua._time import (
    UTC_ZONE,
    LocationError,
    TimeParseError,
    civil,
    date_unix,
    fixed_zone,
    format_duration,
    format_time,
    load_location,
    parse_time,
    system_local,
    truncate,
)
from luaflow.workflow import Event, StartTimer
from tests.workflow.test_channels import start, value

NOW = 1_735_484_645  # 2024-12-29 15:04:05 UTC, a Sunday

#: A host whose local zone is UTC, which the vectors assume ("Local" by name, UTC by rules).
UTC_HOST = Clock(now_ns=lambda: NOW * 10**9, sleep=lambda ns: None, fixed_local=True)

PRELUDE = """local time = require("time")
local function K(v, e) if e ~= nil then return "ERR " .. e:kind() end return v end
local t = time.date(2024, 12, 29, 15, 4, 5, 0, time.utc)
"""


def lua(code: str, clock: Clock = UTC_HOST) -> list[Any]:
    state = LuaState()
    try:
        state.install_require({"time": lambda s: time_module(s, clock)}, "app:t")
        return [state.from_lua(v) for v in state.call(state.load(PRELUDE + code, "t.lua"))]
    finally:
        state.close()


VECTORS = [
    (
        "T1",
        "return time.MINUTE, time.HOUR, time.RFC3339, time.DATE_ONLY",
        [60000000000, 3600000000000, "2006-01-02T15:04:05Z07:00", "2006-01-02"],
    ),
    ("T2", "return time.JANUARY, time.DECEMBER, time.SUNDAY, time.SATURDAY", [1, 12, 0, 6]),
    (
        "T3",
        "return time.RFC1123, time.KITCHEN, time.STAMP_MILLI",
        ["Mon, 02 Jan 2006 15:04:05 MST", "3:04PM", "Jan _2 15:04:05.000"],
    ),
    (
        "T5",
        "return t:year(), t:month(), t:day(), t:hour(), t:minute(), t:second(), t:nanosecond()",
        [2024, 12, 29, 15, 4, 5, 0],
    ),
    (
        "T6",
        "local u = time.unix(1735484645, 0):utc(); return u:year(), u:month(), u:day(), u:hour()",
        [2024, 12, 29, 15],
    ),
    (
        "T7",
        "return pcall(time.unix, 1735484645)",
        [False, "bad argument #2 to unix (number expected, got nil)"],
    ),
    ("T8", 'return t:format("Mon Jan 2 15:04:05 MST 2006")', ["Sun Dec 29 15:04:05 UTC 2024"]),
    (
        "T9",
        "return t:format(time.RFC1123), t:format(time.KITCHEN), t:format(time.RFC822)",
        ["Sun, 29 Dec 2024 15:04:05 UTC", "3:04PM", "29 Dec 24 15:04 UTC"],
    ),
    (
        "T10",
        'return t:format("2006-01-02T15:04:05.000Z07:00"), '
        't:format("January 2, 2006 (Monday) 002")',
        ["2024-12-29T15:04:05.000Z", "December 29, 2024 (Sunday) 364"],
    ),
    ("T11", "return time.unix(0, 500000000):utc():format_rfc3339()", ["1970-01-01T00:00:00Z"]),
    (
        "T12",
        "return time.unix(0, 500000000):utc():format(time.RFC3339NANO)",
        ["1970-01-01T00:00:00.5Z"],
    ),
    ("T13", "return tostring(t)", ["2024-12-29 15:04:05 +0000 UTC"]),
    (
        "T14",
        'return t:add(time.parse_duration("1h")):hour(), t:add("30m"):minute(), '
        "t:add(time.HOUR):hour()",
        [16, 34, 16],
    ),
    (
        "T15",
        "local h = t:sub(time.date(2024, 12, 29, 14, 4, 5, 0, time.utc)):hours() "
        "return h, math.type(h)",
        [1, "integer"],
    ),
    (
        "T16",
        "local a = t:add_date(1, 2, 3); return a:year(), a:month(), a:day()",
        [2026, 3, 4],
    ),
    (
        "T17",
        "return time.date(2024, 1, 31, 0, 0, 0, 0, time.utc):add_date(0, 1, 0)"
        ":format(time.DATE_ONLY)",
        ["2024-03-02"],
    ),
    (
        "T18",
        "return time.date(2024, 13, 1, 0, 0, 0, 0, time.utc):format(time.DATE_ONLY)",
        ["2025-01-01"],
    ),
    (
        "T19",
        "local a, b = time.date(2024,1,1,0,0,0,0,time.utc), time.date(2024,1,2,0,0,0,0,time.utc) "
        "return a:before(b), b:after(a), a:equal(a), a:equal(b)",
        [True, True, True, False],
    ),
    (
        "T20",
        "return time.date(1970,1,1,0,0,1,0,time.utc):unix(), "
        "time.date(1970,1,1,0,0,0,1,time.utc):unix_nano()",
        [1, 1],
    ),
    (
        "T21",
        "local y, m, d = t:date(); local h, mi, s = t:clock(); return y, m, d, h, mi, s",
        [2024, 12, 29, 15, 4, 5],
    ),
    ("T22", "return tostring(t:location()), tostring(t:utc():location())", ["UTC", "UTC"]),
    (
        "T23",
        "return t:is_zero(), time.unix(0, 0):is_zero(), "
        "time.date(1,1,1,0,0,0,0,time.utc):is_zero()",
        [False, False, True],
    ),
    (
        "T24",
        'local r = time.parse("2006-01-02T15:04:05.999999999Z", "2024-01-01T12:34:56.789Z") '
        'return r:round(time.parse_duration("1s")):format("2006-01-02T15:04:05Z"), '
        'r:truncate(time.parse_duration("1m")):format("2006-01-02T15:04:05Z")',
        ["2024-01-01T12:34:57Z", "2024-01-01T12:34:00Z"],
    ),
    (
        "T25",
        "return pcall(t.round, t, time.SECOND)",
        [False, "bad argument #2 to round (duration expected)"],
    ),
    (
        "T26",
        'return time.unix(1735484645, 0):utc():truncate(time.parse_duration("168h"))'
        ":format(time.DATE_ONLY)",
        ["2024-12-23"],
    ),
    ("T27", 'return t:round(time.parse_duration("0s")):unix() == t:unix()', [True]),
    ("T28", "return t:weekday(), t:year_day()", [0, 364]),
    (
        "T29",
        'local p = time.parse("2006-01-02 15:04:05", "2024-12-29 15:04:05") '
        "return p:year(), p:month(), p:day()",
        [2024, 12, 29],
    ),
    (
        "T30",
        'local v, e = time.parse("2006-01-02", "invalid-date") '
        "return v, e:kind(), e:retryable(), e:message()",
        [
            None,
            "Invalid",
            False,
            'parsing time "invalid-date" as "2006-01-02": cannot parse "invalid-date" as "2006"',
        ],
    ),
    (
        "T31",
        'local v, e = time.parse("2006-01-02", "2024-02-30") return K(v, e), e:message()',
        ["ERR Invalid", 'parsing time "2024-02-30": day out of range'],
    ),
    (
        "T32",
        'return time.parse(time.RFC3339, "2024-12-29T15:04:05Z"):location():string(), '
        'time.parse("2006-01-02", "2024-12-29"):location():string()',
        ["UTC", "Local"],
    ),
    (
        "T33",
        'local p = time.parse(time.RFC3339, "2024-12-29T15:04:05+05:30") '
        "return p:unix(), p:format_rfc3339()",
        [1735464845, "2024-12-29T15:04:05+05:30"],
    ),
    (
        "T34",
        'return time.parse("2006-01-02 15:04:05 MST", "2024-12-29 14:30:00 EST"):utc():hour()',
        [14],
    ),
    ("T35", 'return time.parse("15:04:05", "14:30:00"):year()', [0]),
    (
        "T36",
        'local d, e = time.parse_duration("invalid") return d, e:kind(), e:retryable(), '
        "e:message()",
        [None, "Invalid", False, 'time: invalid duration "invalid"'],
    ),
    (
        "T37",
        "return tostring(time.parse_duration(time.SECOND):seconds()), "
        'time.parse_duration("1h30m"):hours()',
        ["1", 1.5],
    ),
    (
        "T38",
        'local d = time.parse_duration("1h30m45s500ms") '
        "return d:milliseconds(), d:seconds(), d:microseconds()",
        [5445500, 5445.5, 5445500000],
    ),
    ("T39", 'return time.parse_duration("-1500us"):milliseconds()', [-1]),
    (
        "T40",
        'return tostring(time.parse_duration("1h30m")), tostring(time.parse_duration("1500ms")), '
        'tostring(time.parse_duration(0)), tostring(time.parse_duration("2us"))',
        ["1h30m0s", "1.5s", "0s", "2µs"],
    ),
    (
        "T41",
        'return K(time.parse_duration(" 5s")), K(time.parse_duration("5")), '
        'K(time.parse_duration("1d")), K(time.parse_duration(true))',
        ["ERR Invalid"] * 4,
    ),
    ("T42", "return time.parse_duration(1.5):nanoseconds()", [1]),
    ("T43", "return time.utc:string(), time.localtz:string()", ["UTC", "Local"]),
    (
        "T44",
        'return time.load_location("America/New_York"):string(), '
        'time.fixed_zone("EST", -5*3600):string()',
        ["America/New_York", "EST"],
    ),
    (
        "T45",
        'local l, e = time.load_location("Invalid/Location") '
        "return l, e:kind(), e:retryable(), e:message()",
        [None, "NotFound", False, "unknown time zone Invalid/Location"],
    ),
    (
        "T46",
        'local l, e = time.load_location("") return l, e:kind(), e:message()',
        [None, "Invalid", "empty location name"],
    ),
    (
        "T47",
        'local x = time.date(2024,1,15,12,0,0,0,time.fixed_zone("IST", 19800)) '
        "return x:format_rfc3339(), x:utc():hour(), x:utc():minute()",
        ["2024-01-15T12:00:00+05:30", 6, 30],
    ),
    (
        "T48",
        'local ny = time.load_location("America/New_York") '
        'return time.date(2024,1,15,19,0,0,0,time.utc):in_location(ny):format("15:04 MST"), '
        'time.date(2024,7,15,18,0,0,0,time.utc):in_location(ny):format("15:04 MST")',
        ["14:00 EST", "14:00 EDT"],
    ),
    ("T49", "return time.date(2024, 1, 15, 12, 0, 0, 0):location():string()", ["Local"]),
    (
        "T51",
        'local v, e = time.sleep("bogus") return v, e:kind(), e:message()',
        [None, "Invalid", 'time: invalid duration "bogus"'],
    ),
    ("T57", "return time.unix(5, 0) == time.unix(5, 0)", [False]),
    ("T58", "return (pcall(function() return time.unix(5, 0) < time.unix(6, 0) end))", [False]),
    (
        "T59",
        'return pcall(t.add, t, "xx")',
        [False, 'bad argument #2 to add (time: invalid duration "xx")'],
    ),
]


@pytest.mark.parametrize(
    ("code", "expected"), [v[1:] for v in VECTORS], ids=[v[0] for v in VECTORS]
)
def test_vectors(code: str, expected: list[Any]) -> None:
    assert lua(code) == expected


def test_now_is_the_clocks_and_values_are_userdata_with_no_json_form() -> None:
    # T4: Time, Duration and Location are userdata, as in Wippy; none has a JSON form.
    code = (
        "return time.now():unix(), type(time.now()), type(time.parse_duration(1)), "
        "type(time.utc), time.now(), time.parse_duration(1), time.utc"
    )
    assert lua(code) == [NOW, "userdata", "userdata", "userdata", None, None, None]


def test_time_values_keep_their_methods_and_are_not_tables() -> None:
    # Internal fields are not reachable, metatables cannot be swapped, and a raised Time comes
    # back from pcall as itself (not taken for a Python exception).
    code = (
        "local now = time.now() "
        "local ok, e = pcall(error, now) "
        "local swapped = pcall(setmetatable, now, {}) "
        "return now._s, swapped, ok, rawequal(e, now), e:unix(), "
        "tostring(time.parse_duration('90s')), tostring(time.fixed_zone('X', 60)), "
        "getmetatable(now).__name, t:round(time.parse_duration('0s')) == t"
    )
    assert lua(code) == [None, False, False, True, NOW, "1m30s", "X", "time.Time", True]


def test_many_time_values_are_released_with_their_state() -> None:
    # Each value is a host object (a Python token); a state with many of them closes cleanly.
    code = (
        "local last for i = 1, 20000 do last = time.unix(i, 0):add(time.parse_duration(1)) end "
        "return last:unix_nano()"
    )
    assert lua(code) == [20000 * 10**9 + 1]


def test_sleep_waits_on_the_clock_and_ignores_non_positive_durations() -> None:
    now = [NOW * 10**9]
    slept: list[int] = []

    def sleep(ns: int) -> None:
        slept.append(ns)
        now[0] += ns

    clock = Clock(now_ns=lambda: now[0], sleep=sleep, fixed_local=True)
    code = """local s = time.now()
        time.sleep(10 * time.MILLISECOND) time.sleep("1.5s") time.sleep(0) time.sleep("-1s")
        return time.now():sub(s):milliseconds() >= 8, (time.sleep(time.parse_duration("2ns")))"""
    assert lua(code, clock) == [True, None]
    assert slept == [10_000_000, 1_500_000_000, 2]


@pytest.fixture
def calendar_loads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the loads of the calendar half of `time` (luaflow/time_calendar.lua)."""
    loads: list[int] = []
    load = _modules._time_calendar

    def counted(*args: Any) -> Any:
        loads.append(1)
        return load(*args)

    monkeypatch.setattr(_modules, "_time_calendar", counted)
    return loads


def bare_lua(code: str, loads: list[int]) -> list[Any]:
    """`code` in a fresh state where `loads()` reads how often the calendar half was loaded."""
    state = LuaState()
    try:
        state.install_require({"time": lambda s: time_module(s, UTC_HOST)}, "app:t")
        state.globals[b"loads"] = lambda: len(loads)
        return [state.from_lua(v) for v in state.call(state.load(code, "t.lua"))]
    finally:
        state.close()


def test_sleep_now_and_tostring_do_not_load_the_calendar(calendar_loads: list[int]) -> None:
    code = """local time = require("time")
        local t = time.now()
        time.sleep("1s") time.sleep(time.SECOND)
        local before = loads()
        local text, zone = tostring(t), tostring(time.localtz) .. time.localtz:string()
        local idle = loads()
        local year = t:year()
        return before, idle, text, zone, year, loads(), t:format(time.DATE_ONLY),
            time.date(2024, 1, 2, 3, 4, 5, 0, time.utc):unix(), loads()"""
    assert bare_lua(code, calendar_loads) == [
        0,
        0,
        "2024-12-29 15:04:05 +0000 UTC",
        "LocalLocal",
        2024,
        1,
        "2024-12-29",
        1704164645,
        1,
    ]


def test_any_missing_name_or_pairs_loads_the_calendar_once(calendar_loads: list[int]) -> None:
    # A name missing after the load is nil; pairs() sees the whole module (53 names), sorted.
    code = """local time = require("time")
        local nope, loaded = time.nope, loads()
        return nope, loaded, getmetatable(time), time.nope, type(time.parse), loads()"""
    assert bare_lua(code, calendar_loads) == [None, 1, None, None, "function", 1]
    calendar_loads.clear()
    code = """local time = require("time")
        local names = {}
        for name in pairs(time) do names[#names + 1] = name end
        return loads(), #names, table.concat(names, " ", 1, 3), names[#names], loads()"""
    assert bare_lua(code, calendar_loads) == [1, 53, "APRIL AUGUST DATE_ONLY", "utc", 1]


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("time.date(2024, 1)", "bad argument #3 to date (number expected, got nil)"),
        ("time.now():add({})", "bad argument #2 to add (invalid value type: *lua.LTable)"),
        ("time.now().year({})", "bad argument #1 to year (time expected)"),
    ],
)
def test_errors_of_the_first_calendar_call_point_at_the_callers_line(
    calendar_loads: list[int], code: str, message: str
) -> None:
    code = f"""local time = require("time")
        return pcall(function() local x = {code} return x end)"""
    assert bare_lua(code, calendar_loads) == [False, f"t.lua:2: {message}"]
    assert calendar_loads == [1]


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("time.date(2024, 1)", "bad argument #3 to date (number expected, got nil)"),
        ('time.date(2024, 1, 1, 0, 0, 0, 0, "utc")', "bad argument #8 to date (location expected)"),
        ("time.date(2024, 1, 1, 0, 0, 0, 0, nil)", "bad argument #8 to date (location expected)"),
        ("time.parse(nil, 'x')", "bad argument #1 to parse (string expected, got nil)"),
        ("time.parse('2006', '2024', 5)", "bad argument #3 to parse (location expected)"),
        ("time.load_location(nil)", "bad argument #1 to load_location (string expected, got nil)"),
        (
            "time.fixed_zone('X', 'y')",
            "bad argument #2 to fixed_zone (number expected, got string)",
        ),
        ("t:sub(5)", "bad argument #2 to sub (time expected)"),
        ("t:in_location('UTC')", "bad argument #2 to in_location (location expected)"),
        ("t:add_date(1)", "bad argument #3 to add_date (number expected, got nil)"),
        ("t:truncate('1h')", "bad argument #2 to truncate (duration expected)"),
        ("t.year({})", "bad argument #1 to year (time expected)"),
        ("time.parse_duration('1s').seconds(t)", "bad argument #1 to seconds (duration expected)"),
        ("time.utc.string(t)", "bad argument #1 to string (location expected)"),
        ("t:add(t)", "bad argument #2 to add (invalid duration type: *time.Time)"),
        ("t:add({})", "bad argument #2 to add (invalid value type: *lua.LTable)"),
    ],
)
def test_argument_type_errors_raise_at_the_callers_line(code: str, message: str) -> None:
    [ok, err] = lua(f"return pcall(function() local x = {code} return x end)")
    assert ok is False
    assert err == f"t.lua:4: {message}"


def test_dates_normalize_like_go() -> None:
    code = """local function d(...) return time.date(...):format("2006-01-02 15:04:05.000") end
        local u = time.utc
        return d(2024, 2, 30, 0, 0, 0, 0, u), d(2024, 1, 1, 25, 61, 61, 1500000000, u),
            d(2024, 0, 0, 0, 0, 0, -1, u), d(2023, 14, 1, 0, 0, 0, 0, time.utc),
            time.unix(1, -1):utc():format(time.RFC3339NANO), time.unix(0, 2500000000):unix()"""
    assert lua(code) == [
        "2024-03-01 00:00:00.000",
        "2024-01-02 02:02:02.500",
        "2023-11-29 23:59:59.999",  # December 0 is November 30, minus 1 ns
        "2024-02-01 00:00:00.000",
        "1970-01-01T00:00:00.999999999Z",
        2,
    ]


def test_sub_saturates_and_durations_truncate_toward_zero() -> None:
    code = """local far = time.date(1, 1, 1, 0, 0, 0, 0, time.utc)
        local later = time.date(2500, 1, 1, 0, 0, 0, 0, time.utc)
        local d = time.parse_duration("-90m")
        return tostring(far:sub(later)), tostring(later:sub(far)), d:hours(), d:minutes(),
            time.parse_duration("-1999ns"):microseconds(), math.type(d:minutes())"""
    assert lua(code) == [
        "-2562047h47m16.854775808s",
        "2562047h47m16.854775807s",
        -1.5,
        -90,
        -1,
        "integer",
    ]


# -- zones ---------------------------------------------------------------------------------------


def test_new_york_dst_transitions() -> None:
    code = """local ny = time.load_location("America/New_York")
        local f = "2006-01-02 15:04:05 MST -07:00"
        local before = time.date(2024, 3, 10, 1, 59, 59, 0, ny)
        local fall = time.date(2024, 11, 3, 1, 30, 0, 0, ny)
        return before:format(f), before:add("1s"):format(f), fall:format(f),
            fall:add("1h"):format(f),
            time.date(2024, 11, 3, 0, 0, 0, 0, ny):add_date(0, 0, 1):format(f),
            time.date(2024, 3, 10, 12, 0, 0, 0, ny)
                :sub(time.date(2024, 3, 9, 12, 0, 0, 0, ny)):hours()"""
    assert lua(code) == [
        "2024-03-10 01:59:59 EST -05:00",
        "2024-03-10 03:00:00 EDT -04:00",
        "2024-11-03 01:30:00 EDT -04:00",  # the first of the two 1:30s, as Go picks
        "2024-11-03 01:30:00 EST -05:00",
        "2024-11-04 00:00:00 EST -05:00",
        23,
    ]


def test_wall_times_skipped_or_repeated_resolve_like_go() -> None:
    # Go's own dateTests (time_test.go), for America/Los_Angeles.
    code = """local la = time.load_location("America/Los_Angeles")
        local function u(...) return time.date(...):unix() end
        return u(2011, 11, 6, 1, 0, 0, 0, la), u(2011, 11, 6, 1, 59, 59, 0, la),
            u(2011, 11, 6, 2, 0, 0, 0, la), u(2011, 3, 13, 1, 0, 0, 0, la),
            u(2011, 3, 13, 1, 59, 59, 0, la), u(2011, 3, 13, 3, 0, 0, 0, la),
            u(2011, 3, 13, 2, 30, 0, 0, la), u(2012, 12, 24, 0, 0, 0, 0, la)"""
    assert lua(code) == [
        1320566400,
        1320569999,
        1320573600,
        1300006800,
        1300010399,
        1300010400,
        1300008600,
        1356336000,
    ]


def test_kolkata_and_fixed_zones() -> None:
    code = """local kol = time.load_location("Asia/Kolkata")
        local x = time.date(2024, 1, 15, 12, 0, 0, 0, kol)
        local anon = time.fixed_zone("", -(3 * 3600 + 30 * 60))
        local y = x:in_location(anon)
        return tostring(x), x:utc():format("15:04"), tostring(y), y:location():string(),
            y:equal(x), x:in_location(time.utc):hour(), tostring(time.load_location("UTC")),
            time.load_location("Local") == time.localtz,
            time.fixed_zone("X", 0) == time.fixed_zone("X", 0)"""
    assert lua(code) == [
        "2024-01-15 12:00:00 +0530 IST",
        "06:30",
        "2024-01-15 03:00:00 -0330 -0330",
        "",
        True,
        6,
        "UTC",
        True,
        True,
    ]


def test_parse_uses_the_location_for_its_names_and_offsets() -> None:
    code = """local ny = time.load_location("America/New_York")
        local function p(layout, v, loc)
            local x = loc and time.parse(layout, v, loc) or time.parse(layout, v)
            return x:location():string() .. " " .. x:format(time.RFC3339)
        end
        return p(time.RFC1123, "Mon, 15 Jul 2024 10:00:00 EDT", ny),
            p(time.RFC1123, "Mon, 15 Jan 2024 10:00:00 EST", ny),
            p(time.RFC1123, "Mon, 15 Jul 2024 10:00:00 EST", ny),
            p(time.RFC3339, "2024-07-15T10:00:00-04:00", ny),
            p(time.RFC3339, "2024-07-15T10:00:00-05:00", ny),
            p(time.DATE_TIME, "2024-07-15 10:00:00", ny),
            p(time.RFC1123, "Mon, 15 Jul 2024 10:00:00 GMT+3"),
            p(time.RFC1123, "Mon, 15 Jul 2024 10:00:00 UTC", ny)"""
    assert lua(code) == [
        "America/New_York 2024-07-15T10:00:00-04:00",
        "America/New_York 2024-01-15T10:00:00-05:00",
        # EST is a name the zone uses: its offset applies, and the result shows in EDT (as Go)
        "America/New_York 2024-07-15T11:00:00-04:00",
        "America/New_York 2024-07-15T10:00:00-04:00",
        " 2024-07-15T10:00:00-05:00",  # another offset: a nameless fixed zone
        "America/New_York 2024-07-15T10:00:00-04:00",
        "GMT+3 2024-07-15T13:00:00+03:00",  # Go's quirk: the clock read as UTC, then shown
        "UTC 2024-07-15T10:00:00Z",
    ]


@pytest.fixture
def local_zone() -> Iterator[None]:
    system_local.cache_clear()
    yield
    system_local.cache_clear()


@pytest.mark.usefixtures("local_zone")
def test_host_local_zone_follows_tz_like_go(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    zone = system_local()
    assert zone.name == "Asia/Kolkata" and zone.lookup(NOW) == ("IST", 19800)
    host = Clock(now_ns=lambda: NOW * 10**9, sleep=lambda ns: None)
    assert lua("return time.localtz:string(), tostring(time.unix(0, 0))", host) == [
        "Asia/Kolkata",
        "1970-01-01 05:30:00 +0530 IST",
    ]
    system_local.cache_clear()
    monkeypatch.setenv("TZ", "")
    assert system_local() is UTC_ZONE
    system_local.cache_clear()
    monkeypatch.setenv("TZ", "No/Such_Zone")
    assert system_local() is UTC_ZONE


# -- Go layouts, both ways -----------------------------------------------------------------------

# 2009-02-03 04:05:06.007008009 at -03:30 (a Tuesday, day 34).
SEC = date_unix(2009, 2, 3, 4, 5, 6, 0, fixed_zone("", -12600))[0]
NSEC = 7_008_009

LAYOUTS = [
    ("Jan January 01 1", "Feb February 02 2"),
    ("Mon Monday", "Tue Tuesday"),
    ("02 _2 2", "03  3 3"),
    ("15 03 3 PM pm", "04 04 4 AM am"),
    ("04 4 05 5", "05 5 06 6"),
    ("2006 06 002 __2", "2009 09 034  34"),
    ("MST", "XST"),
    ("Z07:00 -07:00 -0700 Z0700 -07", "-03:30 -03:30 -0330 -0330 -03"),
    ("Z070000 -07:00:00", "-033000 -03:30:00"),
    (".000 .999 ,000 .000000000 .9 .999999999", ".007 .007 ,007 .007008009  .007008009"),
    ("_2006", "_2009"),
    ("Janet Month", "Janet Month"),  # "Jan"/"Mon" followed by a lower-case letter stay text
    ("2006.01", "2009.02"),
    ("Jan _2 15:04:05.000000", "Feb  3 04:05:06.007008"),
]


@pytest.mark.parametrize(("layout", "expected"), LAYOUTS)
def test_format_elements(layout: str, expected: str) -> None:
    assert format_time(layout, SEC, NSEC, -12600, "XST") == expected


def test_format_zone_cases() -> None:
    assert format_time("Z07:00 Z0700 Z07 -07:00 MST", 0, 0, 0, "UTC") == "Z Z Z +00:00 UTC"
    assert format_time("MST", 0, 0, 19800, "") == "+0530"
    assert format_time(".999 .000", 0, 0, 0, "") == " .000"
    assert format_time("03 PM 3", 43200, 0, 0, "") == "12 PM 12"
    assert format_time("2006 06", date_unix(-5, 1, 1, 0, 0, 0, 0, UTC_ZONE)[0], 0, 0, "") == (
        "-0005 05"
    )


@pytest.mark.parametrize(
    ("layout", "value", "ns"),
    [
        ("2006-01-02T15:04:05.999999999Z07:00", "2009-02-03T04:05:06.007008009-03:30", NSEC),
        (
            "Monday, January 2 2006 3:04:05.000 PM -0700",
            "Tuesday, February 3 2009 4:05:06.007 AM -0330",
            7_000_000,
        ),
        ("Mon Jan _2 15:04:05 2006 Z07:00:00", "Tue Feb  3 04:05:06 2009 -03:30:00", 0),
        ("06 002 15:04:05,000000000 -07:00", "09 034 04:05:06,007008009 -03:30", NSEC),
        ("2006-01-02 15:04:05 Z070000", "2009-02-03 04:05:06 -033000", 0),
        ("2006 __2 15 04 05 -07:00", "2009  34 04 05 06 -03:30", 0),
    ],
)
def test_parse_round_trips(layout: str, value: str, ns: int) -> None:
    sec, nsec, zone = parse_time(layout, value, UTC_ZONE)
    assert (sec, nsec) == (SEC, ns)
    assert zone.lookup(sec) == ("", -12600)
    assert format_time(layout, sec, nsec, -12600, zone.lookup(sec)[0]) == value


def test_parse_details() -> None:
    # A fraction the layout does not ask for is still read; case-insensitive names; pm.
    sec, nsec, _ = parse_time("2006-01-02 15:04:05", "2024-12-29 15:04:05.25", UTC_ZONE)
    assert (sec, nsec) == (NOW, 250_000_000)
    assert parse_time("Jan 2 2006 3pm", "DEC 29 2024 3pm", UTC_ZONE)[0] == NOW - 4 * 60 - 5
    assert (
        parse_time("3:04PM", "12:00AM", UTC_ZONE)[0] == date_unix(0, 1, 1, 0, 0, 0, 0, UTC_ZONE)[0]
    )
    # Spaces in the layout match any run of spaces; "_2" takes a padded day.
    assert parse_time("Jan _2  2006", "Dec 29 2024", UTC_ZONE)[0] == NOW - (15 * 3600 + 245)
    # Day of year, leap years included.
    assert civil(parse_time("2006 002", "2024 060", UTC_ZONE)[0])[:3] == (2024, 2, 29)
    assert civil(parse_time("2006 002", "2023 060", UTC_ZONE)[0])[:3] == (2023, 3, 1)


@pytest.mark.parametrize(
    ("layout", "value", "message"),
    [
        (
            "2006-01-02",
            "2024/12/29",
            'parsing time "2024/12/29" as "2006-01-02": cannot parse "/12/29" as "-"',
        ),
        ("2006-01-02", "2024-12-29x", 'parsing time "2024-12-29x": extra text: "x"'),
        ("2006-01-02", "2024-13-01", 'parsing time "2024-13-01": month out of range'),
        ("15:04", "25:00", 'parsing time "25:00": hour out of range'),
        ("15:04:05", "12:60:00", 'parsing time "12:60:00": minute out of range'),
        ("Jan 2", "Foo 2", 'parsing time "Foo 2" as "Jan 2": cannot parse "Foo 2" as "Jan"'),
        ("2006 002", "2023 366", 'parsing time "2023 366": day-of-year out of range'),
        (
            "2006-01 002",
            "2024-02 001",
            'parsing time "2024-02 001": day-of-year does not match month',
        ),
        ("Z07:00", "+25:00", 'parsing time "+25:00": time zone offset hour out of range'),
        ("MST", "abc", 'parsing time "abc" as "MST": cannot parse "abc" as "MST"'),
        (".000", ".12", 'parsing time ".12" as ".000": cannot parse ".12" as ".000"'),
        (  # texts hold one character per byte: "é" is two
            "2006",
            "\x01\xc3\xa9",
            'parsing time "\\x01\\xc3\\xa9" as "2006": cannot parse "\\x01\\xc3\\xa9" as "2006"',
        ),
    ],
)
def test_parse_errors_are_gos(layout: str, value: str, message: str) -> None:
    with pytest.raises(TimeParseError) as info:
        parse_time(layout, value, UTC_ZONE)
    assert str(info.value) == message


def test_load_location_errors() -> None:
    for name, message in [
        ("../etc/passwd", "time: invalid location name"),
        ("/etc/localtime", "time: invalid location name"),
        ("America", "unknown time zone America"),
        ("Mars/Olympus", "unknown time zone Mars/Olympus"),
    ]:
        with pytest.raises(LocationError) as info:
            load_location(name, UTC_ZONE)
        assert str(info.value) == message


def test_truncate_and_round_count_from_year_one() -> None:
    week = 7 * 86400 * 10**9
    assert truncate(NOW, 0, week) == (NOW - 6 * 86400 - 15 * 3600 - 245, 0)  # Monday 00:00
    assert truncate(0, 500_000_000, 10**9, round_half_up=True) == (1, 0)
    assert truncate(0, 499_999_999, 10**9, round_half_up=True) == (0, 0)
    assert truncate(-1, 0, 3600 * 10**9) == (-3600, 0)


# -- durations -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("0", 0),
        ("-0", 0),
        ("+5s", 5 * 10**9),
        (".5s", 500_000_000),
        ("1.5h", 5400 * 10**9),
        ("1h30m45s500ms", 5445_500_000_000),
        ("1µs2μs3us", 6000),
        ("1.0000000000000000000001s", 10**9),
        ("9223372036854775807ns", 2**63 - 1),
        ("-9223372036854775808ns", -(2**63)),
    ],
)
def test_go_durations(text: str, ns: int) -> None:
    assert parse_go_duration(text) == ns


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", 'time: invalid duration ""'),
        (" 5s", 'time: invalid duration " 5s"'),
        ("5", 'time: missing unit in duration "5"'),
        ("1d", 'time: unknown unit "d" in duration "1d"'),
        ("1h 30m", 'time: unknown unit "h " in duration "1h 30m"'),
        (".s", 'time: invalid duration ".s"'),
        ("9223372036854775808ns", 'time: invalid duration "9223372036854775808ns"'),
        ("3000000h", 'time: invalid duration "3000000h"'),
    ],
)
def test_go_duration_errors(text: str, message: str) -> None:
    with pytest.raises(LuaflowError) as info:
        parse_go_duration(text)
    assert info.value.message == message and info.value.kind == "Invalid"


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0s"),
        (1, "1ns"),
        (1500, "1.5µs"),
        (1_234_567, "1.234567ms"),
        (-1_500_000_000, "-1.5s"),
        (90 * 10**9, "1m30s"),
        (3600 * 10**9, "1h0m0s"),
        (-(2**63), "-2562047h47m16.854775808s"),
    ],
)
def test_duration_strings(ns: int, text: str) -> None:
    assert format_duration(ns) == text


# -- in workflows: durable timers, workflow time, a fixed Local ----------------------------------


def test_workflow_time_is_replay_safe() -> None:
    scheduler, _ = start(
        """local time = require("time")
        return function()
            local now = time.now()
            return {now:unix(), tostring(now), time.localtz:string(), now:location():string(),
                    time.date(2024, 7, 1, 12, 0, 0, 0):format(time.RFC3339)}
        end"""
    )
    assert value(scheduler) == [
        1_700_000_000,
        "2023-11-14 22:13:20 +0000 UTC",
        "Local",
        "Local",
        "2024-07-01T12:00:00Z",
    ]


def test_workflow_timers_return_errors_for_bad_durations() -> None:
    scheduler, commands = start(
        """local time = require("time")
        local function K(v, e)
            if e ~= nil then return e:kind() .. " " .. e:message() end
            return v
        end
        return function()
            return {K(time.timer(0)), K(time.after(-1)), K(time.ticker("0s")), K(time.after("x")),
                    K(time.sleep("bogus")), K(time.timer({}))}
        end"""
    )
    assert commands == []
    assert value(scheduler) == [
        "Invalid time.timer: duration must be > 0",
        "Invalid time.after: duration must be > 0",
        "Invalid time.ticker: duration must be > 0",
        'Invalid time: invalid duration "x"',
        'Invalid time: invalid duration "bogus"',
        "Invalid duration must be number or string",
    ]


def test_workflow_timer_stop_reset_and_after_values() -> None:
    scheduler, commands = start(
        """local time = require("time")
        return function()
            local tm = time.timer("1h")
            local r = tm:reset("2h")
            local stopped, again = tm:stop(), tm:stop()
            local ok, err = pcall(tm.reset, tm, "bad")
            local fired = time.after("5ms"):receive()
            return {r, stopped, again, ok, err, fired:unix(), tostring(fired:location())}
        end"""
    )
    assert [c.duration.total_seconds() for c in commands] == [3600, 7200, 0.005]
    scheduler.step([Event(commands[-1].id, None)])
    assert value(scheduler) == [
        True,
        True,
        False,
        False,
        'timer:reset: time: invalid duration "bad"',
        1_700_000_000,
        "Local",
    ]


def test_workflow_select_over_two_afters() -> None:
    scheduler, [fast, slow] = start(
        """local time = require("time")
        return function()
            local f, s = time.after("5ms"), time.after("50ms")
            local r = channel.select{f:case_receive(), s:case_receive()}
            return {r.channel == f, r.ok, r.value:unix(), time.timer("100ms"):stop()}
        end"""
    )
    assert [fast.duration.total_seconds(), slow.duration.total_seconds()] == [0.005, 0.05]
    scheduler.step([Event(fast.id, None)])
    assert value(scheduler) == [True, True, 1_700_000_000, True]


def test_workflow_ticker_keeps_sixteen_ticks_and_stop_is_true() -> None:
    scheduler, [tick, sleep] = start(
        """local time = require("time")
        return function()
            local tk = time.ticker("1s")
            time.sleep("1h")
            local n = 0
            while not channel.select{tk:channel():case_receive(), default = true}.default do
                n = n + 1
            end
            return {n, tk:stop(), tk:stop()}
        end"""
    )
    assert isinstance(sleep, StartTimer) and sleep.duration.total_seconds() == 3600
    for _ in range(20):
        [tick] = scheduler.step([Event(tick.id, None)])
    scheduler.step([Event(sleep.id, None)])
    assert value(scheduler) == [16, True, True]
