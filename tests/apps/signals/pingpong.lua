local time = require("time")

-- Sends "ping" to another workflow and waits for its reply, with a timeout.
local function ping(target)
    local replies = process.listen("pong")
    local ok, err = process.send(target, "ping", {n = 1})
    if not ok then return {error = tostring(err), kind = err:kind()} end
    local r = channel.select{ replies:case_receive(), time.after("20s"):case_receive() }
    if r.channel ~= replies then return {error = "timeout"} end
    return {reply = r.value, me = process.pid()}
end

-- Answers one "ping" message to whoever sent it.
local function pong()
    local msg = process.listen("ping", {message = true}):receive()
    process.send(msg:from(), "pong", {n = msg:payload():data().n + 1})
    return {from = msg:from()}
end

return { ping = ping, pong = pong }
