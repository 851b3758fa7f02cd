-- The `time` module (SPEC 2.3), Wippy's: Go's time package for Lua. Built per state over a
-- bridge: the clock (wall clock for host code; workflow time and durable timers in workflows)
-- and the calendar, layout and zone functions of luaflow/lua/_time.py. Time, Duration and
-- Location are userdata, as in Wippy (host objects of the prelude: their fields live in the user
-- value), with no JSON form; zones are integer ids, never Python objects.
-- Numbers given as durations are nanoseconds; strings are Go durations ("1h30m").
--
-- This chunk holds what `now`, sleeps and timers need. The calendar half (luaflow/
-- time_calendar.lua: the methods of Time and Duration, dates, layouts, parsing, zones by name)
-- loads on the first lookup of a name missing here, so a state that only sleeps never holds it.
local bridge = ...
local floor, mininteger = math.floor, math.mininteger
local format, select, type, setmetatable, getmetatable, tostring, pairs =
    string.format, select, type, setmetatable, getmetatable, tostring, pairs

local new_object, object_fields, release = bridge.objects.new, bridge.objects.fields,
    bridge.objects.release

local S = 1000000000
local STRING_LAYOUT = "2006-01-02 15:04:05.999999999 -0700 MST"

local time = {
    NANOSECOND = 1, MICROSECOND = 1000, MILLISECOND = 1000000, SECOND = S,
    MINUTE = 60 * S, HOUR = 3600 * S,
}

---------------------------------------------------------------------------------------------------
-- Arguments. A wrong type raises `bad argument #N to NAME (...)` at the user's line: `level`
-- counts from the caller of `bad`, and the check_* helpers are always called straight from the
-- module function or method (never as a tail call). Bad values are `nil, err` instead.

local function bad(level, n, name, message)
    error(format("bad argument #%d to %s (%s)", n, name, message), level + 1)
end

-- Go converts a float to an integer by truncation; NaN and out-of-range give the minimum.
local function trunc(v)
    if math.type(v) == "integer" then return v end
    if v ~= v or v >= 2 ^ 63 or v < -2 ^ 63 then return mininteger end
    return math.tointeger(v >= 0 and floor(v) or -floor(-v))
end

local function invalid(message)
    return nil, errors.new({ message = message, kind = errors.INVALID, retryable = false })
end

---------------------------------------------------------------------------------------------------
-- Location

-- Fields: zone id `_id`, `_name`, and for fixed zones the offset `_off` and abbreviation `_abbr`.
local Location = { __opaque = true, __name = "time.Location", __gc = release }
Location.__index = Location
local locations = {} -- zone id -> Location

local function location(id)
    local loc = locations[id]
    if loc == nil then
        local name, offset, abbr = bridge.zone_info(id)
        loc = new_object(Location, { _id = id, _name = name, _off = offset, _abbr = abbr })
        locations[id] = loc
    end
    return loc
end

local function check_location(v, n, name)
    if getmetatable(v) ~= Location then bad(3, n, name, "location expected") end
    return v
end

function Location:string()
    return object_fields(check_location(self, 1, "string"))._name
end
Location.__tostring = Location.string

local LOCAL = location(1)
time.localtz = LOCAL

---------------------------------------------------------------------------------------------------
-- Duration: nanoseconds `_ns`. Only the calendar half makes Duration values, so their methods
-- live there.

local Duration = { __opaque = true, __name = "time.Duration", __gc = release }
Duration.__index = Duration
local function duration_ns(d) return object_fields(d)._ns end

-- A duration where `sleep`, `after`, `timer` and `ticker` take one: ns or nil, message.
local function to_ns(d)
    local kind = type(d)
    if kind == "number" then return trunc(d) end
    if kind == "string" then return bridge.parse_duration(d) end
    if getmetatable(d) == Duration then return duration_ns(d) end
    return nil, "duration must be number or string"
end

---------------------------------------------------------------------------------------------------
-- Time: Unix seconds `_s`, nanoseconds `_n` (0 <= n < 1e9), its Location, and the offset and
-- zone abbreviation in effect at that instant. Methods work on these fields (check_time).

local Time = { __opaque = true, __name = "time.Time", __gc = release }
Time.__index = Time

local function new_time(s, n, loc)
    local zone = object_fields(loc)
    local offset, abbr = zone._off, zone._abbr
    if offset == nil then offset, abbr = bridge.zone_at(zone._id, s) end
    return new_object(Time, { _s = s, _n = n, _loc = loc, _off = offset, _abbr = abbr })
end

local function from_ns(ns, loc) return new_time(ns // S, ns % S, loc or LOCAL) end

-- The fields of a Time argument.
local function check_time(v, n, name)
    if getmetatable(v) ~= Time then bad(3, n, name, "time expected") end
    return object_fields(v)
end

-- Metamethods are looked up raw, so they stay here.
Time.__tostring = function(self)
    local t = check_time(self, 1, "tostring")
    return bridge.format(STRING_LAYOUT, t._s, t._n, t._off, t._abbr)
end

---------------------------------------------------------------------------------------------------
-- Module functions

function time.now() return from_ns(bridge.now_ns()) end

function time.sleep(d)
    local ns, err = to_ns(d)
    if ns == nil then return invalid(err) end
    if ns > 0 then bridge.sleep(ns) end
end

-- Durable timers delivered through channels (the workflow scheduler provides them).
-- The nanoseconds of a timer duration, or nil and a message: Go's parse error, or the range
-- error that Wippy prefixes with the function's name (third result true).
local function timer_ns(d)
    local ns, err = to_ns(d)
    if ns == nil then return nil, err, false end
    if ns <= 0 then return nil, "duration must be > 0", true end
    if bridge.after == nil then error("timers are only available inside workflows", 3) end
    return ns
end

function time.after(d)
    local ns, err, range = timer_ns(d)
    if ns == nil then return invalid(range and "time.after: " .. err or err) end
    return bridge.wrap(bridge.after(ns))
end

local Timer = { __opaque = true, __name = "time.Timer" }
Timer.__index = Timer
function Timer:response() return self._ch end
Timer.channel = Timer.response
function Timer:stop() return bridge.timer_stop(self._t) end
function Timer:reset(d)
    local ns, err = timer_ns(d)
    if ns == nil then error("timer:reset: " .. err, 2) end
    return bridge.timer_reset(self._t, ns)
end

local Ticker = { __opaque = true, __name = "time.Ticker" }
Ticker.__index = Ticker
Ticker.response = Timer.response
Ticker.channel = Timer.response
function Ticker:stop()
    bridge.timer_stop(self._t)
    return true
end

local function start(d, name, repeating, mt)
    local ns, err, range = timer_ns(d)
    if ns == nil then return invalid(range and name .. ": " .. err or err) end
    local t = bridge.timer(ns, repeating)
    return setmetatable({ _t = t, _ch = bridge.wrap(bridge.timer_channel(t)) }, mt)
end

function time.timer(d) return start(d, "time.timer", false, Timer) end
function time.ticker(d) return start(d, "time.ticker", true, Ticker) end

if bridge.set_time_factory ~= nil then bridge.set_time_factory(from_ns) end

---------------------------------------------------------------------------------------------------
-- The calendar half, loaded once by the first lookup that misses in `time`, `Time` (methods of
-- Time values) or `Location`, or by pairs() over one of them. The tables lose their metatable
-- first: lookups inside the calendar chunk cannot recurse, and a name still missing is nil.
-- Its locals come as arguments, in the order time_calendar.lua lists them (cheaper than a table).

local LAZY = {}

local function load_calendar()
    setmetatable(time, nil)
    setmetatable(Time, nil)
    setmetatable(Location, nil)
    local chunk, calendar_bridge = bridge.calendar()
    bridge.calendar = nil
    chunk(calendar_bridge, time, Time, Location, Duration, S, bad, trunc, invalid, location,
        check_location, duration_ns, to_ns, new_time, check_time, new_object, object_fields, LOCAL,
        select, type, getmetatable, tostring)
end

function LAZY.__index(t, k)
    load_calendar()
    return t[k]
end

function LAZY.__pairs(t)
    load_calendar()
    return pairs(t)
end

setmetatable(time, LAZY)
setmetatable(Time, LAZY)
setmetatable(Location, LAZY)

return time
