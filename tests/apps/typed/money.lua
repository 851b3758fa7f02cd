-- Plain Lua mixed with annotations: cents from a price in currency units.
local function cents(amount: number): integer
    return math.floor(amount * 100 + 0.5)
end

local function format(c: integer, currency: string?): string
    return string.format("%d.%02d %s", c // 100, c % 100, currency or "USD")
end

return { cents = cents, format = format }
