-- Functions called with `funcs` from host code (upstream's app.test.funcs suite, in luaflow).
local function echo(input)
    return {echo = input or "no input", ok = true}
end

local function slow(duration, value)
    require("time").sleep(duration)
    return value
end

local function error_with_kind(kind, message)
    return nil, errors.new({kind = kind, message = message, retryable = kind == errors.UNAVAILABLE})
end

local function plain_error()
    return nil, errors.new("plain")
end

local function raises()
    error("boom")
end

local function undeclared_module()
    local json = require("json")  -- luaflow: ignore undeclared-module (on purpose)
    return json.encode({})
end

local function ctx_reader(keys)
    local ctx = require("ctx")
    local out = {}
    for _, key in ipairs(keys) do out[key] = (ctx.get(key)) end
    return out
end

-- Calls ctx_reader with a plain executor: the caller's context values still reach it.
local function nested_caller(keys)
    return require("funcs").new():call("app:ctx_reader", keys)
end

-- The middle of a chain: a host function starting a workflow whose activity does the work.
local function chain_mid(order)
    return require("funcs").call("app:start_order", order)
end

local function start_order(order)
    return process.exec("app:order", "app:worker", order)
end

-- process.lua entries with meta.default_host: callable like functions.
local function echo_process(input)
    return {echo = input, pid = process.pid()}
end

local function error_process()
    error("intentional process error")
end

return { echo = echo, slow = slow, error_with_kind = error_with_kind, plain_error = plain_error,
         raises = raises, undeclared_module = undeclared_module, ctx_reader = ctx_reader,
         nested_caller = nested_caller, chain_mid = chain_mid, start_order = start_order,
         echo_process = echo_process, error_process = error_process }
