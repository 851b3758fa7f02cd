-- The `funcs` module inside workflows (SPEC 2.1, B3): calls become durable activities.
local bridge = ...
local schedule = bridge.schedule   -- schedule(target, options, ...) -> result, err (awaits)
local check_options = bridge.check_options

local Executor = {}
Executor.__index = Executor

local function executor(options)
    return setmetatable({ _options = options }, Executor)
end

function Executor:with_options(options)
    if type(options) ~= "table" then
        return nil, errors.new({ kind = errors.INVALID, message = "with_options expects a table" })
    end
    local merged = {}
    for k, v in pairs(self._options) do merged[k] = v end
    for k, v in pairs(options) do merged[k] = v end
    local ok, err = check_options(merged)
    if not ok then return nil, err end
    return executor(merged)
end

function Executor:call(target, ...)
    return schedule(target, self._options, ...)
end

local funcs = {}

function funcs.new()
    return executor({})
end

function funcs.call(target, ...)
    return schedule(target, nil, ...)
end

return funcs
