local money = require("money")
local types = require("types")

local PRICES: {[string]: number} = { ["ABC-1"] = 2.5, ["XYZ-22"] = 10 }

local function line_total(line: {sku: string, qty: integer}): number
    local unit = PRICES[string(line.sku)] :: number
    if unit == nil then
        return 0
    end
    return unit * integer(line.qty)
end

local function price(order: any): (table?, string?)
    local valid, err = types.Order:is(order)
    if not valid then
        return nil, err
    end
    local total: number = 0
    for _, line in ipairs((valid as {lines: {any}}).lines) do
        total = total + line_total(line)
    end
    return { total = money.cents(total), currency = "USD" }
end

return { price = price }
