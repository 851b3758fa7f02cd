-- An order workflow whose activity charges (or refuses to).
local function order(o)
    local paid, err = require("funcs").call("app:charge", o.amount)
    if err then return nil, err end
    return {id = o.id, paid = paid}
end

local function charge(amount)
    if amount > 100 then
        return nil, errors.new({kind = errors.CONFLICT, message = "over the limit"})
    end
    return amount
end

return { order = order, charge = charge }
