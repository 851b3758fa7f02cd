local workflow = require("workflow")
local time = require("time")

-- Waits for "approve" or "cancel" (the seed's inbox loop), at most order.approval_timeout.
local function main(order)
    local inbox = process.inbox()
    local timeout = time.after(order.approval_timeout or "24h")
    while true do
        local r = channel.select{ inbox:case_receive(), timeout:case_receive() }
        if r.channel == timeout then
            return {status = "expired"}
        end
        local msg = r.value
        local topic = msg:topic()
        if topic == "approve" then
            local data = msg:payload():data()
            local result, err = workflow.exec("app:order_workflow", order)
            if err then return {status = "failed", error = tostring(err)} end
            result.approved_by = data and data.approved_by
            return result
        elseif topic == "cancel" then
            local data = msg:payload():data()
            return {status = "cancelled", reason = data and data.reason}
        end
    end
end

return { main = main }
