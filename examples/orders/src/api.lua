local http = require("http")
local json = require("json")

-- POST /orders: start the order workflow once per order id (202, or 409 when it exists).
local function create_order()
    local req = http.request()
    local res = http.response()
    local order, err = req:body_json()
    if err then
        res:set_status(http.STATUS.BAD_REQUEST)
        return res:write_json({error = err:message()})
    end
    if type(order.id) ~= "string" and type(order.id) ~= "number" then
        res:set_status(http.STATUS.BAD_REQUEST)
        return res:write_json({error = "order.id is required"})
    end

    local spawner = process
        .with_context({request_id = req:header("X-Request-ID")})
        :with_options({
            ["temporal.workflow.id"] = "order-" .. order.id,
            ["temporal.workflow.id_conflict_policy"] = "fail",
        })
    local pid, err = spawner:spawn("app:approved_order", "app:worker", order)
    if err then
        res:set_status(http.STATUS.CONFLICT)
        return res:write_json({error = tostring(err)})
    end
    res:set_status(http.STATUS.ACCEPTED)
    return res:write_json({workflow_id = tostring(pid), status = "started"})
end

-- POST /orders/{id}/approve: signal the waiting workflow.
local function approve_order()
    local req = http.request()
    local res = http.response()
    local body = req:has_body() and req:body_json() or {}
    local ok, err = process.send("order-" .. req:param("id"), "approve", body)
    if not ok then
        res:set_status(http.STATUS.NOT_FOUND)
        return res:write_json({error = tostring(err)})
    end
    res:set_status(http.STATUS.ACCEPTED)
    return res:write_json({status = "approved"})
end

return { create_order = create_order, approve_order = approve_order }
