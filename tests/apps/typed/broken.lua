type Config = {
    name: string,
    retries: integer @min(0),
}

local function main(input: {name: string}): string
    local cfg = Config({ name = input.name, retries = 1 })
    local missing: {value: number}? = nil
    return cfg.name .. missing.value
end

return { main = main }
