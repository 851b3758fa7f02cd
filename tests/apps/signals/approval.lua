-- The seed's approve/cancel loop, with a timeout taken from the input.
local funcs = require("funcs")
local time = require("time")

local function main(order)
    local reservation = funcs.call("app:reserve", order.id)
    local inbox = process.inbox()
    local timeout = time.after(order.timeout or "30s")
    while true do
        local r = channel.select{ inbox:case_receive(), timeout:case_receive() }
        if r.channel == timeout then
            return {status = "timed_out", reservation = reservation}
        end
        local msg = r.value
        local topic = msg:topic()
        if topic == "approve" then
            local data = msg:payload():data()
            return {status = "approved", by = data.approved_by, from = msg:from(),
                    reservation = reservation}
        elseif topic == "cancel" then
            local data = msg:payload():data()
            return {status = "cancelled", reason = data.reason}
        end
    end
end

return { main = main }
