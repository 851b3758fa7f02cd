local function double(input)
    return {doubled = input.x * 2}
end

local function fail()
    return nil, errors.new({kind = errors.CONFLICT, message = "already shipped", retryable = false})
end

return { double = double, fail = fail }
