-- A typed Wippy workflow: validate the order, price it, sleep durably, write a receipt.
local funcs = require("funcs")
local time = require("time")
local types = require("types")

type Result = {
    status: "ok" | "invalid",
    receipt?: string,
    error?: string,
}

local function invalid(err: any): Result
    return { status = "invalid", error = tostring(err) }
end

local function main(order: any): Result
    local checked, err = types.Order:is(order)
    if err ~= nil then
        return invalid(err)
    end
    local priced: {total: integer, currency: string}?, perr = funcs.call("app:price", checked)
    if perr then
        return invalid(perr)
    end
    time.sleep("10ms")
    local text = funcs.call("app:receipt", string(order.id), priced!) as string
    local result: Result = { status = "ok", receipt = text }
    return Result(result)
end

return { main = main }
