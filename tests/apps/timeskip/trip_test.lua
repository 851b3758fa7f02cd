-- Tests of app:trip. The trip's own durations skip under `luaflow test`; the waits written here
-- (host code) are wall-clock. `luaflow test --no-time-skip --input '{"sleep": "1s", "wait": "2s"}'`
-- runs them in real time with short durations.
local time = require("time")

local function seconds(d)
    local parsed = time.parse_duration(d)
    return parsed:seconds()
end

local function expires(durations)
    local d = durations or {}
    local sleep, wait = d.sleep or "24h", d.wait or "168h"
    local result, err = process.exec("app:trip", "app:worker", {id = "t1", sleep = sleep, wait = wait})
    assert(err == nil, tostring(err))
    assert(result.booking == "booked-t1", "the activity ran")
    assert(result.outcome == "expired", "nobody approved: got " .. tostring(result.outcome))
    assert(result.slept >= seconds(sleep), "the sleep took its full virtual time")
    local expected = seconds(sleep) + seconds(wait)
    assert(result.elapsed >= expected and result.elapsed < expected + 60,
           "the workflow clock moved by sleep + wait: " .. tostring(result.elapsed))
    return true
end

local function approved(durations)
    local d = durations or {}
    local pid, err = process.spawn_monitored("app:trip", "app:worker",
                                             {id = "t2", sleep = d.sleep, wait = d.wait})
    assert(err == nil, tostring(err))
    process.send(pid, "approve", {by = "ops"})
    -- A host-side guard: 30 s of wall time, whatever the workflow's clock does.
    local events = process.events()
    local r = channel.select{ events:case_receive(), time.after("30s"):case_receive() }
    assert(r.channel == events, "the trip ended within 30 s of wall time")
    local ev = r.value
    assert(ev.kind == process.event.EXIT and ev.from == pid, "the trip's exit event")
    assert(ev.result.error == nil, tostring(ev.result.error))
    local trip = ev.result.value
    assert(trip.outcome == "approve" and trip.by == "ops", "approved by ops")
    assert(trip.elapsed < seconds(d.wait or "168h"), "the approval ended the wait early")
    return true
end

local function child(durations)
    local d = durations or {}
    local sleep, wait = d.sleep or "24h", d.wait or "168h"
    local trip, err = process.exec("app:trip_parent", "app:worker", {id = "t3", sleep = sleep, wait = wait})
    assert(err == nil, tostring(err))
    assert(trip.booking == "booked-t3" and trip.outcome == "expired", "the child's trip expired")
    assert(trip.elapsed >= seconds(sleep) + seconds(wait), "the child's clock moved by sleep + wait")
    return true
end

return { expires = expires, approved = approved, child = child }
