local function receipt(id: string, priced: {total: integer, currency: string}): string
    local total = integer(priced.total)
    return string.format("%s: %d %s", string(id), total, priced.currency!)
end

return { receipt = receipt }
