-- A trip: sleep (a day by default), book it (an activity), then wait for an approval message
-- or give up after a week. Times are read from the workflow clock (virtual when time skips).
local funcs = require("funcs")
local time = require("time")

local function main(trip)
    local started = time.now()
    time.sleep(trip.sleep or "24h")
    local slept = time.now():sub(started):seconds()
    local booking, err = funcs.call("app:book", trip.id)
    if err then return nil, err end
    local inbox = process.inbox()
    local expiry = time.after(trip.wait or "168h")
    local r = channel.select{ inbox:case_receive(), expiry:case_receive() }
    local outcome, by = "expired", nil
    if r.channel == inbox then
        outcome, by = r.value:topic(), r.value:payload():data().by
    end
    return {
        booking = booking, outcome = outcome, by = by,
        slept = slept, elapsed = time.now():sub(started):seconds(),
    }
end

return { main = main }
