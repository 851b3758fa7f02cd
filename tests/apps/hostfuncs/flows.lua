-- An order workflow whose activity charges (or refuses to).
local function order(o)
    local paid, err = require("funcs").call("app:charge", o.amount)
    if err then return nil, err end
    return {id = o.id, paid = paid}
end

local function charge(amount)
    if amount > 100 then
        return nil, errors.new({kind = errors.CONFLICT, message = "over the limit", retryable = false})
    end
    return amount
end

local function double(x)
    return x * 2
end

-- Waits for its cancel request and reports it.
local function waits_cancel()
    local ev = process.events():receive()
    return {kind = ev.kind, reason = ev.reason}
end

-- Cancels a child with a reason; returns what the child saw.
local function canceler()
    local events = process.events()
    local child = process.spawn("app:waits_cancel", "app:worker")
    process.cancel(child, "from the parent")
    local exit = events:receive()
    return exit.result.value
end

-- Two messages to a host process, then a timer: the sends return at once, so the first
-- delivery and the timer are commands of the same workflow task.
local function notify_twice(host)
    process.send(host, "step", 1)
    process.send(host, "step", 2)
    require("time").sleep("10ms")
    return "ok"
end

local function raw_child(queue)
    return process.spawn("app:double", queue, 1)
end

local function ids()
    local a = process.listen("x")
    return {id = process.id(), same = a == process.listen("x")}
end

return { order = order, charge = charge, double = double, waits_cancel = waits_cancel,
         canceler = canceler, notify_twice = notify_twice, raw_child = raw_child, ids = ids }
