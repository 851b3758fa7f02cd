-- The `funcs` module (SPEC 2.1, B3; Wippy's funcs and future): in workflows calls are durable
-- activities, in host code calls of other functions. The bridge makes the difference.
local bridge = ...
local schedule = bridge.schedule   -- schedule(target, options, context, ...) -> result, err (awaits)
local check_options = bridge.check_options
local start_async = bridge.async    -- async(target, options, context, ...) -> handle | nil, err

local function check_target(name, target)
    local t = type(target)
    if t == "number" then return tostring(target) end
    if t ~= "string" then
        error("bad argument #1 to " .. name .. " (string expected, got " .. t .. ")", 3)
    end
    return target
end

-- Future: the call runs while the caller goes on. Its channel gets the result payload or the
-- error value (ok = true either way).
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
-- canceled -> nil, Canceled; failed -> nil, err; done -> payload, nil; pending -> nil, nil
function Future:result() return bridge.future_result(self._handle) end
-- err (kind Internal, the original message), true once failed; else nil, false
function Future:error() return bridge.future_error(self._handle) end
function Future:cancel() return bridge.future_cancel(self._handle), nil end

local Executor = { __name = "funcs.Executor" }
Executor.__index = Executor

local function executor(options, context)
    return setmetatable({ _options = options, _context = context }, Executor)
end

local function check_self(self, name)
    if getmetatable(self) ~= Executor then
        error("bad argument #1 to " .. name .. " (Executor expected, got " .. type(self) .. ")", 3)
    end
end

local function check_table(name, value)
    if type(value) ~= "table" then
        error("bad argument #2 to " .. name .. " (table expected, got " .. type(value) .. ")", 3)
    end
end

-- A new executor whose options replace this one's.
function Executor:with_options(options)
    check_self(self, "with_options")
    check_table("with_options", options)
    local copy = {}
    for k, v in pairs(options) do
        if type(k) == "string" then copy[k] = v end
    end
    local ok, err = check_options(copy)
    if not ok then return nil, err end
    return executor(copy, self._context)
end

-- A new executor whose context values (read with `ctx` by the callee) merge over this one's.
function Executor:with_context(values)
    check_self(self, "with_context")
    check_table("with_context", values)
    local merged = {}
    for k, v in pairs(self._context or {}) do merged[k] = v end
    for k, v in pairs(values) do
        if type(k) == "string" then merged[k] = v end
    end
    return executor(self._options, merged)
end

function Executor:call(target, ...)
    check_self(self, "call")
    return schedule(check_target("call", target), self._options, self._context, ...)
end

function Executor:async(target, ...)
    check_self(self, "async")
    return future(check_target("async", target), self._options, self._context, ...)
end

local funcs = {}

function funcs.new()
    return executor({}, nil)
end

function funcs.call(target, ...)
    return schedule(check_target("call", target), nil, nil, ...)
end

function funcs.async(target, ...)
    return future(check_target("async", target), nil, nil, ...)
end

return funcs
