-- The `logger` module: one shared Logger; debug/info/warn/error(msg [, fields]) with colon calls,
-- with(fields) and named(name) for child loggers. Lines go to the host's sink with the call site.
local bridge, args = ...
local emit, pid = bridge.emit, bridge.pid
local fail, check, typename = args.fail, args.check, args.typename
local type, pairs, select, tostring, getmetatable, setmetatable =
    type, pairs, select, tostring, getmetatable, setmetatable

local Logger = { __name = "logger", __opaque = true }
Logger.__index = Logger

local function new_logger(name, fields)
    return setmetatable({ _name = name, _fields = fields }, Logger)
end

local function self_check(self, method)
    if getmetatable(self) ~= Logger then
        fail(1, method, "logger expected, got " .. typename(self), 3)
    end
end

-- Fields keep string keys only; strings, numbers, booleans and plain tables stay data, anything
-- else (errors, functions, objects) is logged as its string form.
local function add_fields(into, fields)
    for k, v in pairs(fields) do
        if type(k) == "string" then
            local t = type(v)
            if t == "string" or t == "number" or t == "boolean"
                or (t == "table" and getmetatable(v) == nil) then
                into[k] = v
            else
                into[k] = tostring(v)
            end
        end
    end
    return into
end

local function level(name)
    return function(self, msg, ...)
        self_check(self, name)
        msg = check.s(msg, 2, name)
        local fields = add_fields({}, self._fields)
        if select("#", ...) > 0 then
            local extra = check.t((...), 3, name)
            if name == "error" and extra.error ~= nil then
                fields.error = tostring(extra.error)
                extra.error = nil  -- as upstream: the error field is taken out of the table
            end
            add_fields(fields, extra)
        end
        local id = pid()
        if id ~= "" then fields.pid = id end
        emit(name, self._name, msg, fields)
    end
end

Logger.debug = level("debug")
Logger.info = level("info")
Logger.warn = level("warn")
Logger.error = level("error")

function Logger:with(fields)
    self_check(self, "with")
    fields = check.t(fields, 2, "with")
    return new_logger(self._name, add_fields(add_fields({}, self._fields), fields))
end

function Logger:named(name)
    self_check(self, "named")
    name = check.s(name, 2, "named")
    if name == "" then fail(2, "named", "name cannot be empty") end
    local full = self._name == "" and name or (self._name .. "." .. name)
    return new_logger(full, self._fields)
end

return new_logger("", {})
