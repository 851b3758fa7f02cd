-- The `funcs` module inside workflows (SPEC 2.1, B3): calls become durable activities.
local bridge = ...
local schedule = bridge.schedule   -- schedule(target, options, ...) -> result, err (awaits)
local check_options = bridge.check_options
local start_async = bridge.async    -- async(target, options, ...) -> future handle | nil, err

-- Future (SPEC 2.1, B3): the activity runs while the workflow goes on.
local Future = { __name = "future" }
Future.__index = Future

local function future(target, options, context, ...)
    local handle, err = start_async(target, options, context, ...)
    if handle == nil then return nil, err end
    return setmetatable({ _handle = handle }, Future)
end

function Future:response() return bridge.wrap(bridge.future_channel(self._handle)) end
Future.channel = Future.response
function Future:is_complete() return bridge.future_done(self._handle) end
function Future:is_canceled() return bridge.future_canceled(self._handle) end
function Future:result()
    local done, value, err = bridge.future_result(self._handle)
    if not done then return nil, nil end
    if err ~= nil then return nil, err end
    return payload.new(value), nil
end
function Future:error()
    local done, _, err = bridge.future_result(self._handle)
    if done and err ~= nil then return err, true end
    return nil, false
end
function Future:cancel() return bridge.future_cancel(self._handle) end

local Executor = {}
Executor.__index = Executor

local function executor(options, context)
    return setmetatable({ _options = options, _context = context }, Executor)
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
    return executor(merged, self._context)
end

-- Values readable with `ctx` in the activities this executor calls (SPEC 3.4).
function Executor:with_context(values)
    if type(values) ~= "table" then
        return nil, errors.new({ kind = errors.INVALID, message = "with_context expects a table" })
    end
    local merged = {}
    for k, v in pairs(self._context or {}) do merged[k] = v end
    for k, v in pairs(values) do merged[k] = v end
    return executor(self._options, merged)
end

function Executor:call(target, ...)
    return schedule(target, self._options, self._context, ...)
end

function Executor:async(target, ...)
    return future(target, self._options, self._context, ...)
end

local funcs = {}

function funcs.new()
    return executor({}, nil)
end

function funcs.call(target, ...)
    return schedule(target, nil, nil, ...)
end

function funcs.async(target, ...)
    return future(target, nil, nil, ...)
end

return funcs
