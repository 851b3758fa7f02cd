local function ship(request)
    if request.address == nil or request.address == "" then
        return nil, errors.new({
            kind = errors.INVALID,
            message = "order " .. tostring(request.order_id) .. " has no shipping address",
            retryable = false,
        })
    end
    print("shipped " .. tostring(request.order_id))
    return { tracking_number = "TRK-" .. tostring(request.order_id) }
end

return { ship = ship }
