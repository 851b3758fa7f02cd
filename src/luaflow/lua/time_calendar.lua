-- The calendar half of the `time` module, loaded by luaflow/time.lua on first use: Time's
-- methods, dates, layouts, parsing and zones by name. It fills the module's tables; `bridge` is
-- its own (the calendar functions of luaflow/lua/_time.py), the other arguments are locals of
-- time.lua, its globals included (as captured when `time` was required).
local bridge, time, Time, Location, Duration, S, bad, trunc, invalid, location,
    check_location, duration_ns, to_ns, new_time, check_time, new_object, object_fields, LOCAL,
    select, type, getmetatable, tostring = ...

-- Constants that only the calendar functions take or return: months, weekdays, layouts.
time.JANUARY, time.FEBRUARY, time.MARCH, time.APRIL, time.MAY, time.JUNE = 1, 2, 3, 4, 5, 6
time.JULY, time.AUGUST, time.SEPTEMBER, time.OCTOBER, time.NOVEMBER, time.DECEMBER =
    7, 8, 9, 10, 11, 12
time.SUNDAY, time.MONDAY, time.TUESDAY, time.WEDNESDAY = 0, 1, 2, 3
time.THURSDAY, time.FRIDAY, time.SATURDAY = 4, 5, 6
time.RFC3339 = "2006-01-02T15:04:05Z07:00"
time.RFC3339NANO = "2006-01-02T15:04:05.999999999Z07:00"
time.RFC822 = "02 Jan 06 15:04 MST"
time.RFC822Z = "02 Jan 06 15:04 -0700"
time.RFC850 = "Monday, 02-Jan-06 15:04:05 MST"
time.RFC1123 = "Mon, 02 Jan 2006 15:04:05 MST"
time.RFC1123Z = "Mon, 02 Jan 2006 15:04:05 -0700"
time.KITCHEN = "3:04PM"
time.STAMP = "Jan _2 15:04:05"
time.STAMP_MILLI = "Jan _2 15:04:05.000"
time.STAMP_MICRO = "Jan _2 15:04:05.000000"
time.STAMP_NANO = "Jan _2 15:04:05.000000000"
time.DATE_TIME = "2006-01-02 15:04:05"
time.DATE_ONLY = "2006-01-02"
time.TIME_ONLY = "15:04:05"

local UTC = location(0)
time.utc = UTC

local ZERO_UNIX = -62135596800 -- Go's zero time: 0001-01-01 00:00:00 UTC

local function check_int(v, n, name)
    if type(v) ~= "number" then bad(3, n, name, "number expected, got " .. type(v)) end
    return trunc(v)
end

local function check_string(v, n, name)
    if type(v) == "number" then return tostring(v) end
    if type(v) ~= "string" then bad(3, n, name, "string expected, got " .. type(v)) end
    return v
end

local function zone_id(loc) return object_fields(loc)._id end

---------------------------------------------------------------------------------------------------
-- Duration

local function duration(ns) return new_object(Duration, { _ns = ns }) end

local function check_duration(v, n, name)
    if getmetatable(v) ~= Duration then bad(3, n, name, "duration expected") end
    return duration_ns(v)
end

-- Integer division toward zero, as Go divides.
local function quot(a, b)
    local q = a // b
    if q < 0 and q * b ~= a then q = q + 1 end
    return q
end

-- Go's float conversions (whole units + fraction); a whole number stays an integer so that it
-- prints the way Wippy prints it ("1", not "1.0").
local function units(ns, unit)
    local whole = quot(ns, unit)
    local rest = ns - whole * unit
    if rest == 0 then return whole end
    return whole + rest / unit
end

function Duration:nanoseconds()
    local ns = check_duration(self, 1, "nanoseconds")
    return ns
end
function Duration:microseconds() return quot(check_duration(self, 1, "microseconds"), 1000) end
function Duration:milliseconds() return quot(check_duration(self, 1, "milliseconds"), 1000000) end
function Duration:seconds() return units(check_duration(self, 1, "seconds"), S) end
function Duration:minutes() return units(check_duration(self, 1, "minutes"), 60 * S) end
function Duration:hours() return units(check_duration(self, 1, "hours"), 3600 * S) end
Duration.__tostring = function(d)
    return bridge.format_duration(check_duration(d, 1, "tostring"))
end

-- Go type names, for messages that name the type of a value given as a duration.
local GO_TYPES = {
    ["nil"] = "*lua.LNilType", boolean = "lua.LBool", table = "*lua.LTable",
    ["function"] = "*lua.LFunction", thread = "*lua.LState", userdata = "*lua.LUserData",
}

-- A duration where `parse_duration` and `Time:add` take one, with Wippy's messages.
local function duration_value(d)
    local kind = type(d)
    if kind == "number" or kind == "string" then return to_ns(d) end
    local mt = getmetatable(d)
    if mt == Duration then return duration_ns(d) end
    if mt ~= nil and mt.__opaque then return nil, "invalid duration type: *" .. mt.__name end
    return nil, "invalid value type: " .. (GO_TYPES[kind] or kind)
end

---------------------------------------------------------------------------------------------------
-- Time methods

-- year, month, day, hour, minute, second, weekday, year_day in the Time's own zone.
local function fields(t) return bridge.civil(t._s + t._off) end

function Time:unix() return check_time(self, 1, "unix")._s end
function Time:unix_nano()
    local t = check_time(self, 1, "unix_nano")
    return t._s * S + t._n
end
function Time:add(d)
    local t = check_time(self, 1, "add")
    local ns, err = duration_value(d)
    if ns == nil then bad(2, 2, "add", err) end
    local s, n = t._s + ns // S, t._n + ns % S
    if n >= S then s, n = s + 1, n - S end
    return new_time(s, n, t._loc)
end
function Time:sub(other)
    local t = check_time(self, 1, "sub")
    local u = check_time(other, 2, "sub")
    return duration(bridge.sub(t._s, t._n, u._s, u._n))
end
function Time:add_date(years, months, days)
    local t = check_time(self, 1, "add_date")
    local y, m = check_int(years, 2, "add_date"), check_int(months, 3, "add_date")
    local d = check_int(days, 4, "add_date")
    local s, n = bridge.add_date(t._s, t._n, zone_id(t._loc), y, m, d)
    return new_time(s, n, t._loc)
end
function Time:before(other)
    local t, u = check_time(self, 1, "before"), check_time(other, 2, "before")
    return t._s < u._s or (t._s == u._s and t._n < u._n)
end
function Time:after(other)
    local t, u = check_time(self, 1, "after"), check_time(other, 2, "after")
    return t._s > u._s or (t._s == u._s and t._n > u._n)
end
function Time:equal(other)
    local t, u = check_time(self, 1, "equal"), check_time(other, 2, "equal")
    return t._s == u._s and t._n == u._n
end
function Time:format(layout)
    local t = check_time(self, 1, "format")
    local text = check_string(layout, 2, "format")
    return bridge.format(text, t._s, t._n, t._off, t._abbr)
end
function Time:format_rfc3339()
    local t = check_time(self, 1, "format_rfc3339")
    return bridge.format(time.RFC3339, t._s, t._n, t._off, t._abbr)
end
function Time:date()
    local y, m, d = fields(check_time(self, 1, "date"))
    return y, m, d
end
function Time:clock()
    local _, _, _, h, mi, s = fields(check_time(self, 1, "clock"))
    return h, mi, s
end
function Time:year() return (fields(check_time(self, 1, "year"))) end
function Time:month() return (select(2, fields(check_time(self, 1, "month")))) end
function Time:day() return (select(3, fields(check_time(self, 1, "day")))) end
function Time:hour() return (select(4, fields(check_time(self, 1, "hour")))) end
function Time:minute() return (select(5, fields(check_time(self, 1, "minute")))) end
function Time:second() return (select(6, fields(check_time(self, 1, "second")))) end
function Time:weekday() return (select(7, fields(check_time(self, 1, "weekday")))) end
function Time:year_day() return (select(8, fields(check_time(self, 1, "year_day")))) end
function Time:nanosecond() return check_time(self, 1, "nanosecond")._n end
function Time:is_zero()
    local t = check_time(self, 1, "is_zero")
    return t._s == ZERO_UNIX and t._n == 0
end
function Time:in_location(loc)
    local t = check_time(self, 1, "in_location")
    return new_time(t._s, t._n, check_location(loc, 2, "in_location"))
end
function Time:location() return check_time(self, 1, "location")._loc end
function Time:utc()
    local t = check_time(self, 1, "utc")
    return new_time(t._s, t._n, UTC)
end
function Time:in_local()
    local t = check_time(self, 1, "in_local")
    return new_time(t._s, t._n, LOCAL)
end

-- Go's Round and Truncate: multiples of a Duration since the zero time; d <= 0 changes nothing.
local function step(self, t, d, round)
    if d <= 0 then return self end
    local s, n = bridge.truncate(t._s, t._n, d, round)
    return new_time(s, n, t._loc)
end
function Time:round(d)
    local t = check_time(self, 1, "round")
    return step(self, t, check_duration(d, 2, "round"), true)
end
function Time:truncate(d)
    local t = check_time(self, 1, "truncate")
    return step(self, t, check_duration(d, 2, "truncate"), false)
end

---------------------------------------------------------------------------------------------------
-- Module functions

function time.unix(sec, nsec)
    local s, n = check_int(sec, 1, "unix"), check_int(nsec, 2, "unix")
    return new_time(s + n // S, n % S, LOCAL)
end

function time.date(year, month, day, hour, minute, sec, nsec, ...)
    local y, mo = check_int(year, 1, "date"), check_int(month, 2, "date")
    local d, h = check_int(day, 3, "date"), check_int(hour, 4, "date")
    local mi, s = check_int(minute, 5, "date"), check_int(sec, 6, "date")
    local ns = check_int(nsec, 7, "date")
    local loc = LOCAL
    if select("#", ...) > 0 then loc = check_location((...), 8, "date") end
    local unix, n = bridge.date(y, mo, d, h, mi, s, ns, zone_id(loc))
    return new_time(unix, n, loc)
end

function time.parse(layout, value, ...)
    local l, v = check_string(layout, 1, "parse"), check_string(value, 2, "parse")
    local loc = LOCAL
    if select("#", ...) > 0 then loc = check_location((...), 3, "parse") end
    local s, n, zone = bridge.parse(l, v, zone_id(loc))
    if s == nil then return invalid(n) end
    return new_time(s, n, location(zone))
end

function time.parse_duration(v)
    local ns, err = duration_value(v)
    if ns == nil then return invalid(err) end
    return duration(ns)
end

function time.load_location(name)
    local text = check_string(name, 1, "load_location")
    if text == "" then return invalid("empty location name") end
    local zone, err = bridge.load_location(text)
    if zone == nil then
        return nil, errors.new({ message = err, kind = errors.NOT_FOUND, retryable = false })
    end
    return location(zone)
end

function time.fixed_zone(name, offset)
    local text, seconds = check_string(name, 1, "fixed_zone"), check_int(offset, 2, "fixed_zone")
    return location(bridge.fixed_zone(text, seconds))
end
