-- The `time` module (SPEC 2.3). Built per state from a clock: wall clock for host code, workflow
-- time (replay-safe) inside workflows. Numbers are nanoseconds; strings are Go durations.
local clock = ...
local os_date = os.date
local floor = math.floor

local NS, US, MS, S = 1, 1000, 1000000, 1000000000
local time = {
    NANOSECOND = NS, MICROSECOND = US, MILLISECOND = MS, SECOND = S,
    MINUTE = 60 * S, HOUR = 3600 * S,
    RFC3339 = "2006-01-02T15:04:05Z07:00",
    RFC3339NANO = "2006-01-02T15:04:05.999999999Z07:00",
    DATE_TIME = "2006-01-02 15:04:05",
    DATE_ONLY = "2006-01-02",
    TIME_ONLY = "15:04:05",
}

local Duration = { __opaque = true, __name = "time.Duration" }
Duration.__index = Duration
local function duration(ns) return setmetatable({ _ns = ns }, Duration) end
function Duration:nanoseconds() return self._ns end
function Duration:microseconds() return self._ns // US end
function Duration:milliseconds() return self._ns // MS end
function Duration:seconds() return self._ns / S end
function Duration:minutes() return self._ns / (60 * S) end
function Duration:hours() return self._ns / (3600 * S) end
Duration.__tostring = function(d) return clock.format_duration(d._ns) end
Duration.__eq = function(a, b) return a._ns == b._ns end
Duration.__lt = function(a, b) return a._ns < b._ns end
Duration.__le = function(a, b) return a._ns <= b._ns end

-- Nanoseconds from any accepted duration form; nil, err for invalid input.
local function to_ns(d)
    if getmetatable(d) == Duration then return d._ns end
    return clock.parse_duration(d)
end
time.to_ns = to_ns

local Time = { __opaque = true, __name = "time.Time" }
Time.__index = Time
local function new_time(ns) return setmetatable({ _ns = ns }, Time) end

function Time:unix() return self._ns // S end
function Time:unix_nano() return self._ns end
function Time:add(d)
    local ns, err = to_ns(d)
    if ns == nil then error(err, 2) end
    return new_time(self._ns + ns)
end
function Time:sub(other) return duration(self._ns - other._ns) end
function Time:before(other) return self._ns < other._ns end
function Time:after(other) return self._ns > other._ns end
function Time:equal(other) return self._ns == other._ns end
function Time:is_zero() return self._ns == 0 end
function Time:utc() return self end
function Time:in_local() return self end
local function fields(t) return os_date("!*t", t._ns // S) end
function Time:year() return fields(self).year end
function Time:month() return fields(self).month end
function Time:day() return fields(self).day end
function Time:hour() return fields(self).hour end
function Time:minute() return fields(self).min end
function Time:second() return fields(self).sec end
function Time:nanosecond() return self._ns % S end
function Time:weekday() return fields(self).wday - 1 end
function Time:year_day() return fields(self).yday end
function Time:date()
    local f = fields(self)
    return f.year, f.month, f.day
end
function Time:clock()
    local f = fields(self)
    return f.hour, f.min, f.sec
end
function Time:format_rfc3339()
    local base = os_date("!%Y-%m-%dT%H:%M:%S", self._ns // S)
    local frac = self._ns % S
    if frac == 0 then return base .. "Z" end
    return (base .. string.format(".%09d", frac)):gsub("0+$", "") .. "Z"
end
function Time:format(layout)
    if layout == time.RFC3339 or layout == time.RFC3339NANO then return self:format_rfc3339() end
    if layout == time.DATE_TIME then return os_date("!%Y-%m-%d %H:%M:%S", self._ns // S) end
    if layout == time.DATE_ONLY then return os_date("!%Y-%m-%d", self._ns // S) end
    if layout == time.TIME_ONLY then return os_date("!%H:%M:%S", self._ns // S) end
    return os_date("!" .. layout, self._ns // S)
end
function Time:round(d) local n = to_ns(d); return new_time(floor((self._ns + n // 2) / n) * n) end
function Time:truncate(d) local n = to_ns(d); return new_time(self._ns // n * n) end
Time.__tostring = function(t) return t:format_rfc3339() end
Time.__eq = function(a, b) return a._ns == b._ns end
Time.__lt = function(a, b) return a._ns < b._ns end
Time.__le = function(a, b) return a._ns <= b._ns end

function time.now() return new_time(clock.now_ns()) end
function time.unix(sec, nsec) return new_time(sec * S + (nsec or 0)) end

function time.parse_duration(v)
    local ns, err = to_ns(v)
    if ns == nil then return nil, err end
    return duration(ns)
end

function time.sleep(d)
    local ns, err = to_ns(d)
    if ns == nil then error(err, 2) end
    if ns <= 0 then return end
    clock.sleep(ns)
end

-- Durable timers delivered through channels (workflows only: the clock provides them).
local function positive(d)
    local ns, err = to_ns(d)
    if ns == nil then error(err, 3) end
    if ns <= 0 then
        error(errors.new({ kind = errors.INVALID, message = "duration must be positive" }), 3)
    end
    if clock.after == nil then error("timers are only available inside workflows", 3) end
    return ns
end

function time.after(d)
    return clock.wrap(clock.after(positive(d)))
end

local Timer = { __name = "time.Timer" }
Timer.__index = Timer
function Timer:response() return self._ch end
Timer.channel = Timer.response
function Timer:stop() return clock.timer_stop(self._t) end
function Timer:reset(d) return clock.timer_reset(self._t, positive(d)) end

function time.timer(d)
    local t = clock.timer(positive(d), false)
    return setmetatable({ _t = t, _ch = clock.wrap(clock.timer_channel(t)) }, Timer)
end

function time.ticker(d)
    local t = clock.timer(positive(d), true)
    return setmetatable({ _t = t, _ch = clock.wrap(clock.timer_channel(t)) }, Timer)
end

if clock.set_time_factory ~= nil then clock.set_time_factory(new_time) end

return time
