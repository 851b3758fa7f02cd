local function fail(message)
    return nil, errors.new({kind = errors.INVALID, message = message, retryable = false})
end

return {
    reserve_inventory = function(items) return {id = "res-" .. #items} end,
    release_inventory = function(id) return {released = id} end,
    charge_payment = function(p)
        if p.card == "declined" then return fail("card declined") end
        return {id = "pay-" .. p.card}
    end,
    refund_payment = function(id) return {refunded = id} end,
    ship_order = function(s)
        if s.address == nil then return fail("no address") end
        return {tracking = "TRK-" .. s.address}
    end,
}
