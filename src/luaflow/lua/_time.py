"""Go's `time` package for the Lua `time` module: calendar, locations, layouts, durations.

Instants are Unix seconds plus nanoseconds (Python integers), so every year Go can represent
works, including Go's zero time (January 1 of year 1). Layout texts hold one character per byte
(the module bridge decodes Lua strings as Latin-1), as Go's layouts are byte strings.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

NS = 10**9
DAY = 86400
#: Unix seconds of Go's zero time, 0001-01-01 00:00:00 UTC.
ZERO_UNIX = -62135596800
MAX_DURATION = 2**63 - 1
MIN_DURATION = -(2**63)

# -- calendar ------------------------------------------------------------------------------------


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (any year)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def civil_from_days(days: int) -> tuple[int, int, int]:
    """The (year, month, day) `days` after 1970-01-01."""
    days += 719468
    era = days // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    month = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (month <= 2), month, doy - (153 * mp + 2) // 5 + 1


class Fields(NamedTuple):
    """A wall-clock reading; `weekday` 0 is Sunday, `year_day` starts at 1."""

    year: int
    month: int
    day: int
    hour: int
    minute: int
    second: int
    weekday: int
    year_day: int


def civil(wall: int) -> Fields:
    """The calendar fields of a wall-clock second (Unix seconds plus the zone offset)."""
    days, secs = divmod(wall, DAY)
    year, month, day = civil_from_days(days)
    yday = days - days_from_civil(year, 1, 1) + 1
    return Fields(
        year, month, day, secs // 3600, secs % 3600 // 60, secs % 60, (days + 4) % 7, yday
    )


def is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def days_in(month: int, year: int) -> int:
    if month == 2:
        return 29 if is_leap(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


# -- locations -----------------------------------------------------------------------------------


class Zone:
    """A Go `*time.Location`: a name, and the abbreviation and offset in effect at each instant."""

    name: str

    def lookup(self, unix: int) -> tuple[str, int]:
        """(abbreviation, offset east of UTC in seconds) at Unix second `unix`."""
        raise NotImplementedError

    def abbreviations(self, unix: int) -> list[tuple[str, int]]:
        """The (abbreviation, offset) pairs this zone uses around `unix`, for parsing names."""
        raise NotImplementedError


@dataclass(frozen=True)
class FixedZone(Zone):
    """Go's `FixedZone` (and UTC): one offset at all times."""

    name: str
    offset: int
    abbr: str

    def lookup(self, unix: int) -> tuple[str, int]:
        return self.abbr, self.offset

    def abbreviations(self, unix: int) -> list[tuple[str, int]]:
        return [(self.abbr, self.offset)]


def fixed_zone(name: str, offset: int) -> FixedZone:
    return FixedZone(name, offset, name)


UTC_ZONE = fixed_zone("UTC", 0)
#: `time.localtz` inside workflows: UTC rules under Go's name for the local zone, so formatting
#: cannot differ between the workers that run and replay a workflow.
WORKFLOW_LOCAL = FixedZone("Local", 0, "UTC")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# datetime covers years 1-9999; outside, the zone rules at the nearest end apply.
_FIRST, _LAST = ZERO_UNIX + 2 * DAY, 253402300799 - 2 * DAY
# Parsing an abbreviation looks at the zone's rules this far around the instant.
_ABBREVIATION_SAMPLES = range(-12, 13)
_SAMPLE_STEP = 30 * DAY


class TzZone(Zone):
    """A zone of the IANA database (`zoneinfo`, with the `tzdata` package as fallback)."""

    def __init__(self, name: str, info: ZoneInfo) -> None:
        self.name = name
        self._info = info

    def lookup(self, unix: int) -> tuple[str, int]:
        moment = _EPOCH + timedelta(seconds=min(max(unix, _FIRST), _LAST))
        local = moment.astimezone(self._info)
        offset = local.utcoffset() or timedelta(0)
        return local.tzname() or "", int(offset.total_seconds())

    def abbreviations(self, unix: int) -> list[tuple[str, int]]:
        seen: list[tuple[str, int]] = []
        for k in _ABBREVIATION_SAMPLES:
            pair = self.lookup(unix + k * _SAMPLE_STEP)
            if pair not in seen:
                seen.append(pair)
        return seen


def lookup_name(zone: Zone, abbr: str, unix: int) -> int | None:
    """Go's `Location.lookupName`: the offset of abbreviation `abbr` near `unix`, preferring one
    actually in effect then (Sydney used "EST" for both of its offsets)."""
    offsets = [offset for name, offset in zone.abbreviations(unix) if name == abbr]
    for offset in offsets:
        name, actual = zone.lookup(unix - offset)
        if name == abbr:
            return actual
    return offsets[0] if offsets else None


class LocationError(Exception):
    """`load_location` failed: Go's message (`unknown time zone X`)."""


def load_location(name: str, local: Zone) -> Zone:
    """Go's `time.LoadLocation`: "UTC", "Local" or an IANA zone name."""
    if name in ("", "UTC"):
        return UTC_ZONE
    if name == "Local":
        return local
    if ".." in name or name.startswith(("/", "\\")):
        raise LocationError("time: invalid location name")
    try:
        return TzZone(name, ZoneInfo(name))
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise LocationError(f"unknown time zone {name}") from None


@cache
def system_local() -> Zone:
    """Go's `time.Local` for host code: `$TZ` if set ("" = UTC), else /etc/localtime, else UTC."""
    tz = os.environ.get("TZ")
    if tz is None:
        return _zone_file("/etc/localtime", "Local") or UTC_ZONE
    tz = tz.removeprefix(":")
    if tz.startswith("/"):
        return _zone_file(tz, "Local" if tz == "/etc/localtime" else tz) or UTC_ZONE
    if tz and tz != "UTC":
        try:
            return load_location(tz, UTC_ZONE)
        except LocationError:
            pass
    return UTC_ZONE


def _zone_file(path: str, name: str) -> Zone | None:
    try:
        with open(path, "rb") as file:
            return TzZone(name, ZoneInfo.from_file(file, key=name))
    except (OSError, ValueError):
        return None


class ZoneTable:
    """The zones one Lua state uses, by integer id: Lua code holds ids, never Python objects.
    Ids 0 and 1 are UTC and Local; equal zones share an id, so the table stays small."""

    UTC_ID = 0
    LOCAL_ID = 1

    def __init__(self, local: Zone) -> None:
        self.local = local
        self._zones: list[Zone] = [UTC_ZONE, local]
        self._ids: dict[object, int] = {self._key(UTC_ZONE): self.UTC_ID}

    @staticmethod
    def _key(zone: Zone) -> object:
        return zone if isinstance(zone, FixedZone) else ("tz", zone.name)

    def id_of(self, zone: Zone) -> int:
        if zone is self.local:
            return self.LOCAL_ID
        key = self._key(zone)
        found = self._ids.get(key)
        if found is None:
            found = self._ids[key] = len(self._zones)
            self._zones.append(zone)
        return found

    def get(self, zone_id: int) -> Zone:
        return self._zones[zone_id]


# -- instants ------------------------------------------------------------------------------------


def date_unix(
    year: int, month: int, day: int, hour: int, minute: int, second: int, nsec: int, zone: Zone
) -> tuple[int, int]:
    """Go's `time.Date`: out-of-range fields carry over (month 13 is January of the next year);
    a wall time skipped or repeated by a zone change resolves as Go resolves it."""
    year, month0 = year + (month - 1) // 12, (month - 1) % 12
    second, nsec = second + nsec // NS, nsec % NS
    days = days_from_civil(year, month0 + 1, 1) + day - 1
    unix = days * DAY + hour * 3600 + minute * 60 + second
    offset = zone.lookup(unix)[1]
    if offset != 0:
        offset = zone.lookup(unix - offset)[1]
        unix -= offset
    return unix, nsec


def add_date(
    sec: int, nsec: int, zone: Zone, years: int, months: int, days: int
) -> tuple[int, int]:
    """Go's `Time.AddDate`: calendar arithmetic in the time's zone, normalized like `Date`."""
    f = civil(sec + zone.lookup(sec)[1])
    return date_unix(
        f.year + years, f.month + months, f.day + days, f.hour, f.minute, f.second, nsec, zone
    )


def sub(sec: int, nsec: int, other_sec: int, other_nsec: int) -> int:
    """Go's `Time.Sub` in nanoseconds, saturated to the Duration range."""
    span = (sec - other_sec) * NS + nsec - other_nsec
    return max(MIN_DURATION, min(MAX_DURATION, span))


def truncate(sec: int, nsec: int, period: int, round_half_up: bool = False) -> tuple[int, int]:
    """Go's `Time.Truncate` (or `Round`): multiples of `period` > 0 counted from the zero time
    (year 1, a Monday), not from the Unix epoch."""
    since_zero = (sec - ZERO_UNIX) * NS + nsec
    rest = since_zero % period
    since_zero -= rest
    if round_half_up and rest + rest >= period:
        since_zero += period
    whole, frac = divmod(since_zero, NS)
    return whole + ZERO_UNIX, frac


# -- Go layouts ----------------------------------------------------------------------------------

LONG_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
SHORT_MONTHS = tuple(m[:3] for m in LONG_MONTHS)
LONG_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
SHORT_DAYS = tuple(d[:3] for d in LONG_DAYS)

_NUM_TZ = ("-070000", "-07:00:00", "-0700", "-07:00", "-07")
_ISO_TZ = ("Z070000", "Z07:00:00", "Z0700", "Z07:00", "Z07")
_FRAC0, _FRAC9 = "frac0", "frac9"


class _Std(NamedTuple):
    """One layout element: its reference text ("2006", "Jan", "Z07:00"...) or a fraction."""

    code: str
    digits: int = 0
    sep: str = ""


def _digit(s: str, i: int) -> bool:
    return i < len(s) and "0" <= s[i] <= "9"


def _starts_lower(s: str) -> bool:
    return bool(s) and "a" <= s[0] <= "z"


def _next_chunk(layout: str) -> tuple[str, _Std | None, str]:
    """Go's `nextStdChunk`: (literal prefix, element, rest) of a layout."""
    for i, c in enumerate(layout):
        rest = layout[i:]
        element: str | None = None
        if c == "J" and rest.startswith("Jan"):
            if rest.startswith("January"):
                element = "January"
            elif not _starts_lower(rest[3:]):
                element = "Jan"
        elif c == "M" and rest.startswith("Mon"):
            if rest.startswith("Monday"):
                element = "Monday"
            elif not _starts_lower(rest[3:]):
                element = "Mon"
        elif c == "M" and rest.startswith("MST"):
            element = "MST"
        elif c == "0":
            if len(rest) >= 2 and "1" <= rest[1] <= "6":
                element = rest[:2]
            elif rest.startswith("002"):
                element = "002"
        elif c == "1":
            element = "15" if rest.startswith("15") else "1"
        elif c == "2":
            element = "2006" if rest.startswith("2006") else "2"
        elif c == "_":
            if rest.startswith("_2006"):  # a literal "_" then the year
                return layout[: i + 1], _Std("2006"), layout[i + 5 :]
            if rest.startswith("_2"):
                element = "_2"
            elif rest.startswith("__2"):
                element = "__2"
        elif c in "345":
            element = c
        elif c == "P" and rest.startswith("PM"):
            element = "PM"
        elif c == "p" and rest.startswith("pm"):
            element = "pm"
        elif c in "-Z":
            element = next(
                (z for z in (_NUM_TZ if c == "-" else _ISO_TZ) if rest.startswith(z)), None
            )
        elif c in ".," and len(rest) > 1 and rest[1] in "09":
            j = 1
            while j < len(rest) and rest[j] == rest[1]:
                j += 1
            if not _digit(rest, j):
                frac = _Std(_FRAC0 if rest[1] == "0" else _FRAC9, j - 1, c)
                return layout[:i], frac, rest[j:]
        if element is not None:
            return layout[:i], _Std(element), rest[len(element) :]
    return layout, None, ""


def _int(x: int, width: int) -> str:
    """Go's `appendInt`: zero-padded to `width`, sign first."""
    return ("-" if x < 0 else "") + str(abs(x)).zfill(width)


def _zone_text(code: str, offset: int) -> str:
    if offset == 0 and code.startswith("Z"):
        return "Z"
    zone, sign = abs(offset) // 60, "-" if offset < 0 else "+"
    text = sign + _int(zone // 60, 2)
    if code not in ("-07", "Z07"):
        text += (":" if ":" in code else "") + _int(zone % 60, 2)
    if code.endswith("0000") or code.endswith(":00:00"):
        text += (":" if ":" in code else "") + _int(abs(offset) % 60, 2)
    return text


def _nano_text(std: _Std, nsec: int) -> str:
    if std.code == _FRAC9 and (std.digits == 0 or nsec == 0):
        return ""
    digits = _int(nsec, 9)[: min(std.digits, 9)]
    text = std.sep + digits
    if std.code == _FRAC9:
        text = text.rstrip("0").removesuffix(std.sep)
    return text


def format_time(layout: str, sec: int, nsec: int, offset: int, abbr: str) -> str:
    """Go's `Time.Format` for an instant shown at `offset` with zone abbreviation `abbr`."""
    f = civil(sec + offset)
    hour12 = f.hour % 12 or 12
    simple: dict[str, str] = {
        "2006": _int(f.year, 4),
        "06": _int(abs(f.year) % 100, 2),
        "January": LONG_MONTHS[f.month - 1],
        "Jan": SHORT_MONTHS[f.month - 1],
        "1": str(f.month),
        "01": _int(f.month, 2),
        "Monday": LONG_DAYS[f.weekday],
        "Mon": SHORT_DAYS[f.weekday],
        "2": str(f.day),
        "_2": str(f.day).rjust(2),
        "02": _int(f.day, 2),
        "__2": str(f.year_day).rjust(3),
        "002": _int(f.year_day, 3),
        "15": _int(f.hour, 2),
        "3": str(hour12),
        "03": _int(hour12, 2),
        "4": str(f.minute),
        "04": _int(f.minute, 2),
        "5": str(f.second),
        "05": _int(f.second, 2),
        "PM": "PM" if f.hour >= 12 else "AM",
        "pm": "pm" if f.hour >= 12 else "am",
        "MST": abbr or _zone_text("-0700", offset),
    }
    out: list[str] = []
    while layout:
        prefix, std, layout = _next_chunk(layout)
        out.append(prefix)
        if std is None:
            break
        if std.code in simple:
            out.append(simple[std.code])
        elif std.code in (_FRAC0, _FRAC9):
            out.append(_nano_text(std, nsec))
        else:
            out.append(_zone_text(std.code, offset))
    return "".join(out)


def go_quote(s: str) -> str:
    """Go's `time.quote`: double quotes, with control and non-ASCII bytes as \\x escapes."""
    out = ['"']
    for ch in s:
        code = ord(ch)
        if code < 0x20 or code >= 0x80:
            raw = bytes([code]) if code <= 0xFF else ch.encode("utf-8")
            out.extend(f"\\x{b:02x}" for b in raw)
        else:
            out.append("\\" + ch if ch in '"\\' else ch)
    out.append('"')
    return "".join(out)


class TimeParseError(Exception):
    """Go's `time.ParseError` text:
    `parsing time "x" as "2006-01-02": cannot parse "x" as "2006"`."""

    def __init__(self, layout: str, value: str, layout_elem: str, value_elem: str, message: str):
        if message:
            text = f"parsing time {go_quote(value)}{message}"
        else:
            text = (
                f"parsing time {go_quote(value)} as {go_quote(layout)}: cannot parse "
                f"{go_quote(value_elem)} as {go_quote(layout_elem)}"
            )
        super().__init__(text)


class _Bad(Exception):
    """An element of the value does not match its layout element."""


def _getnum(s: str, fixed: bool) -> tuple[int, str]:
    if not _digit(s, 0):
        raise _Bad
    if not _digit(s, 1):
        if fixed:
            raise _Bad
        return int(s[0]), s[1:]
    return int(s[:2]), s[2:]


def _getnum3(s: str, fixed: bool) -> tuple[int, str]:
    i = 0
    while i < 3 and _digit(s, i):
        i += 1
    if i == 0 or (fixed and i != 3):
        raise _Bad
    return int(s[:i]), s[i:]


def _atoi(s: str) -> int:
    sign = -1 if s[:1] == "-" else 1
    digits = s[1:] if s[:1] in ("-", "+") else s
    if not digits or not all("0" <= c <= "9" for c in digits):
        raise _Bad
    return sign * int(digits)


def _match_name(names: tuple[str, ...], value: str) -> tuple[int, str]:
    """Go's `lookup`: a case-insensitive prefix match against month or day names."""
    for i, name in enumerate(names):
        head = value[: len(name)]
        if len(head) == len(name) and head.lower() == name.lower() and head.isascii():
            return i, value[len(name) :]
    raise _Bad


def _skip(value: str, prefix: str) -> tuple[str, bool]:
    """Go's `skip`: drop the literal `prefix` from `value`, any run of spaces matching any run;
    on a mismatch, what is left of the value and False."""
    while prefix:
        if prefix[0] == " ":
            if value and value[0] != " ":
                return value, False
            prefix, value = prefix.lstrip(" "), value.lstrip(" ")
            continue
        if not value or value[0] != prefix[0]:
            return value, False
        prefix, value = prefix[1:], value[1:]
    return value, True


def _nanoseconds(value: str, nbytes: int) -> tuple[int, str]:
    """Go's `parseNanoseconds`: the fraction ".123" of `value[:nbytes]`, and a range error."""
    if value[0] not in ".,":
        raise _Bad
    nbytes = min(nbytes, 10)
    ns = _atoi(value[1:nbytes])
    if ns < 0:
        return 0, "fractional second"
    return ns * 10 ** (10 - nbytes), ""


def _signed_offset_len(value: str) -> int:
    if value[:1] not in ("-", "+"):
        return 0
    i = 1
    while _digit(value, i):
        i += 1
    if i == 1 or int(value[1:i]) > 23:
        return 0
    return i


def _zone_name_len(value: str) -> int:
    """Go's `parseTimeZone`: how much of `value` looks like a zone abbreviation (0: none)."""
    if len(value) < 3:
        return 0
    if value[:4] in ("ChST", "MeST"):
        return 4
    if value.startswith("GMT"):
        return 3 + (_signed_offset_len(value[3:]) if len(value) > 3 else 0)
    if value[0] in "+-":
        return _signed_offset_len(value)
    upper = 0
    while upper < min(6, len(value)) and "A" <= value[upper] <= "Z":
        upper += 1
    if upper == 3:
        return 3
    if upper == 4 and (value[3] == "T" or value[:4] == "WITA"):
        return 4
    if upper == 5 and value[4] == "T":
        return 5
    return 0


def _zone_offset(code: str, value: str) -> tuple[int, str, str]:
    """(offset seconds, rest, range error) of a numeric zone like `+05:30`."""
    if code in ("Z07:00", "-07:00"):
        if len(value) < 6 or value[3] != ":":
            raise _Bad
        sign, hh, mm, ss, value = value[0], value[1:3], value[4:6], "00", value[6:]
    elif code in ("Z07", "-07"):
        if len(value) < 3:
            raise _Bad
        sign, hh, mm, ss, value = value[0], value[1:3], "00", "00", value[3:]
    elif code in ("Z07:00:00", "-07:00:00"):
        if len(value) < 9 or value[3] != ":" or value[6] != ":":
            raise _Bad
        sign, hh, mm, ss, value = value[0], value[1:3], value[4:6], value[7:9], value[9:]
    elif code in ("Z070000", "-070000"):
        if len(value) < 7:
            raise _Bad
        sign, hh, mm, ss, value = value[0], value[1:3], value[3:5], value[5:7], value[7:]
    else:
        if len(value) < 5:
            raise _Bad
        sign, hh, mm, ss, value = value[0], value[1:3], value[3:5], "00", value[5:]
    hour, minute, second = (_getnum(part, True)[0] for part in (hh, mm, ss))
    problem = ""
    if hour > 24:
        problem = "time zone offset hour"
    if minute > 60:
        problem = "time zone offset minute"
    if second > 60:
        problem = "time zone offset second"
    if not problem and sign not in "+-":
        raise _Bad
    offset = (hour * 60 + minute) * 60 + second
    return (-offset if sign == "-" else offset), value, problem


@dataclass
class _Parsed:
    year: int = 0
    month: int = -1
    day: int = -1
    yday: int = -1
    hour: int = 0
    minute: int = 0
    second: int = 0
    nsec: int = 0
    pm: bool | None = None
    utc: bool = False
    offset: int | None = None
    zone_name: str = ""


def _parse_element(std: _Std, value: str, rest_layout: str, p: _Parsed) -> tuple[str, str]:
    """Consume one layout element from `value`; returns (rest, range error)."""
    code = std.code
    problem = ""
    if code == "06":
        if len(value) < 2:
            raise _Bad
        year = _atoi(value[:2])
        p.year, value = year + (1900 if year >= 69 else 2000), value[2:]
    elif code == "2006":
        if len(value) < 4 or not _digit(value, 0):
            raise _Bad
        p.year, value = _atoi(value[:4]), value[4:]
    elif code in ("Jan", "January"):
        month, value = _match_name(SHORT_MONTHS if code == "Jan" else LONG_MONTHS, value)
        p.month = month + 1
    elif code in ("1", "01"):
        p.month, value = _getnum(value, code == "01")
        if not 1 <= p.month <= 12:
            problem = "month"
    elif code in ("Mon", "Monday"):
        _, value = _match_name(SHORT_DAYS if code == "Mon" else LONG_DAYS, value)
    elif code in ("2", "_2", "02"):
        if code == "_2" and value[:1] == " ":
            value = value[1:]
        p.day, value = _getnum(value, code == "02")
    elif code in ("__2", "002"):
        if code == "__2":
            value = value.removeprefix(" ").removeprefix(" ")
        p.yday, value = _getnum3(value, code == "002")
    elif code == "15":
        p.hour, value = _getnum(value, False)
        if p.hour >= 24:
            problem = "hour"
    elif code in ("3", "03"):
        p.hour, value = _getnum(value, code == "03")
        if p.hour > 12:
            problem = "hour"
    elif code in ("4", "04"):
        p.minute, value = _getnum(value, code == "04")
        if p.minute >= 60:
            problem = "minute"
    elif code in ("5", "05"):
        p.second, value = _getnum(value, code == "05")
        if p.second >= 60:
            return value, "second"
        # A fraction in the value that the layout does not ask for is still taken.
        if len(value) >= 2 and value[0] in ".," and _digit(value, 1):
            following = _next_chunk(rest_layout)[1]
            if following is None or following.code not in (_FRAC0, _FRAC9):
                n = 2
                while _digit(value, n):
                    n += 1
                p.nsec, problem = _nanoseconds(value, n)
                value = value[n:]
    elif code in ("PM", "pm"):
        word = value[:2]
        if len(word) < 2 or word not in (("PM", "AM") if code == "PM" else ("pm", "am")):
            raise _Bad
        p.pm, value = word in ("PM", "pm"), value[2:]
    elif code in _ISO_TZ and value[:1] == "Z":
        p.utc, value = True, value[1:]
    elif code in _ISO_TZ or code in _NUM_TZ:
        p.offset, value, problem = _zone_offset(code, value)
    elif code == "MST":
        if value.startswith("UTC"):
            p.utc, value = True, value[3:]
        else:
            n = _zone_name_len(value)
            if n == 0:
                raise _Bad
            p.zone_name, value = value[:n], value[n:]
    elif code == _FRAC0:
        ndigit = 1 + std.digits
        if len(value) < ndigit:
            raise _Bad
        p.nsec, problem = _nanoseconds(value, ndigit)
        value = value[ndigit:]
    elif code == _FRAC9 and len(value) >= 2 and value[0] in ".," and _digit(value, 1):
        n = 1
        while _digit(value, n):
            n += 1
        p.nsec, problem = _nanoseconds(value, n)
        value = value[n:]
    return value, problem


_DAYS_BEFORE = (0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365)


def _resolve_year_day(p: _Parsed, fail: TimeParseErrorFactory) -> None:
    if p.yday < 0:
        p.month = 1 if p.month < 0 else p.month
        p.day = 1 if p.day < 0 else p.day
        return
    yday, month, day = p.yday, 0, 0
    if is_leap(p.year):
        if yday == 31 + 29:
            month, day = 2, 29
        elif yday > 31 + 29:
            yday -= 1
    if not 1 <= yday <= 365:
        raise fail(": day-of-year out of range")
    if month == 0:
        month = (yday - 1) // 31 + 1
        if _DAYS_BEFORE[month] < yday:
            month += 1
        day = yday - _DAYS_BEFORE[month - 1]
    if p.month >= 0 and p.month != month:
        raise fail(": day-of-year does not match month")
    if p.day >= 0 and p.day != day:
        raise fail(": day-of-year does not match day")
    p.month, p.day = month, day


class TimeParseErrorFactory:
    """Builds the errors of one parse that report only a message (no element)."""

    def __init__(self, layout: str, value: str) -> None:
        self.layout, self.value = layout, value

    def __call__(self, message: str) -> TimeParseError:
        return TimeParseError(self.layout, self.value, "", "", message)


def parse_time(layout: str, value: str, loc: Zone) -> tuple[int, int, Zone]:
    """Go's `time.ParseInLocation`: (Unix seconds, nanoseconds, zone). `loc` applies when the
    value names no zone; an offset or abbreviation `loc` uses gives `loc` itself; any other
    offset gives a fixed zone; an unknown abbreviation gives a fixed zone with offset 0."""
    fail = TimeParseErrorFactory(layout, value)
    p = _Parsed()
    rest_layout, rest = layout, value
    while True:
        prefix, std, suffix = _next_chunk(rest_layout)
        elem = rest_layout[len(prefix) : len(rest_layout) - len(suffix)]
        rest, matched = _skip(rest, prefix)
        if not matched:
            raise TimeParseError(layout, value, prefix, rest, "")
        if std is None:
            if rest:
                raise fail(f": extra text: {go_quote(rest)}")
            break
        rest_layout = suffix
        hold = rest
        try:
            rest, problem = _parse_element(std, rest, rest_layout, p)
        except _Bad:
            raise TimeParseError(layout, value, elem, hold, "") from None
        if problem:
            raise TimeParseError(layout, value, elem, rest, f": {problem} out of range")
    if p.pm is True and p.hour < 12:
        p.hour += 12
    elif p.pm is False and p.hour == 12:
        p.hour = 0
    _resolve_year_day(p, fail)
    if not 1 <= p.day <= days_in(p.month, p.year):
        raise fail(": day out of range")
    fields = (p.year, p.month, p.day, p.hour, p.minute, p.second, p.nsec)
    if p.utc:
        return (*date_unix(*fields, UTC_ZONE), UTC_ZONE)
    if p.offset is not None:
        sec, nsec = date_unix(*fields, UTC_ZONE)
        sec -= p.offset
        name, offset = loc.lookup(sec)
        if offset == p.offset and (not p.zone_name or name == p.zone_name):
            return sec, nsec, loc
        return sec, nsec, fixed_zone(p.zone_name, p.offset)
    if p.zone_name:
        sec, nsec = date_unix(*fields, UTC_ZONE)
        known = lookup_name(loc, p.zone_name, sec)
        if known is not None:
            return sec - known, nsec, loc
        offset = 0
        if len(p.zone_name) > 3 and p.zone_name.startswith("GMT"):
            offset = int(p.zone_name[3:]) * 3600
        return sec, nsec, fixed_zone(p.zone_name, offset)
    return (*date_unix(*fields, loc), loc)


# -- durations -----------------------------------------------------------------------------------


def _frac(value: int, prec: int) -> tuple[str, int]:
    """Go's `fmtFrac`: ".ddd" of value/10**prec without trailing zeros, and the integer part."""
    whole, part = divmod(value, 10**prec)
    digits = str(part).zfill(prec).rstrip("0") if prec else ""
    return ("." + digits if digits else ""), whole


def format_duration(ns: int) -> str:
    """Go's `Duration.String()`: "1h30m0s", "1.5s", "250ms", "2µs", "0s"."""
    sign, u = ("-" if ns < 0 else ""), abs(ns)
    if u < NS:
        if u == 0:
            return "0s"
        unit, prec = ("ns", 0) if u < 1000 else ("µs", 3) if u < 1_000_000 else ("ms", 6)
        frac, whole = _frac(u, prec)
        return f"{sign}{whole}{frac}{unit}"
    frac, secs = _frac(u, 9)
    text = f"{secs % 60}{frac}s"
    minutes = secs // 60
    if minutes:
        text = f"{minutes % 60}m{text}"
        if minutes // 60:
            text = f"{minutes // 60}h{text}"
    return sign + text
