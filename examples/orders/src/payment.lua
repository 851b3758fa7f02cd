local json = require("json")

local function charge(request)
    if type(request.amount) ~= "number" or request.amount <= 0 then
        return nil, errors.new({
            kind = errors.INVALID,
            message = "invalid amount: " .. tostring(request.amount),
            retryable = false,
        })
    end
    print("charged " .. json.encode(request))
    return { id = "pay-" .. tostring(request.customer) .. "-" .. tostring(request.amount) }
end

local function refund(payment_id)
    print("refunded " .. tostring(payment_id))
    return { refunded = payment_id }
end

return { charge = charge, refund = refund }
