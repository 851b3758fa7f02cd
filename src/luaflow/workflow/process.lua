-- The `process` and `payload` globals inside workflows (SPEC 2.4, 2.7, 3.1, B5, R12).
-- Messages (Temporal signals) are routed by the scheduler: to a `listen` channel of their topic,
-- else to the inbox, else kept until someone subscribes.
local bridge = ...
local wrap = bridge.wrap

payload = { format = {
    JSON = "json/plain", YAML = "yaml/plain", STRING = "text/plain",
    BYTES = "application/octet-stream", MSGPACK = "application/msgpack", LUA = "lua/any",
    GOLANG = "golang/any", ERROR = "golang/error",
} }

local Payload = { __name = "payload" }
Payload.__index = Payload
local function new_payload(value, format)
    return setmetatable({ _value = value, _format = format or payload.format.JSON }, Payload)
end
function Payload:data() return self._value, nil end
function Payload:unmarshal() return self._value, nil end
function Payload:get_format() return self._format end
function Payload:transcode(format) return new_payload(self._value, format), nil end
function payload.new(value) return new_payload(value) end

local Message = { __name = "message" }
Message.__index = Message
function Message:topic() return self._topic end
function Message:from() return self._from end
function Message:payload() return self._payload end

local function format_of(v)
    if type(v) == "string" and not bridge.is_text(v) then return payload.format.BYTES end
    return payload.format.JSON
end

-- Called by the scheduler for each delivered message: a Message object, or the raw data
-- (one payload -> its value, several -> a table of values, none -> nil) for listen().
local function make_message(topic, from, n, ...)
    local p
    if n == 1 then
        local v = ...
        p = new_payload(v, format_of(v))
    elseif n > 1 then
        p = {}
        for i = 1, n do
            local v = select(i, ...)
            p[i] = new_payload(v, format_of(v))
        end
    end
    return setmetatable({ _topic = topic, _from = from, _payload = p }, Message)
end

local function make_data(n, ...)
    if n == 1 then return (...) end
    if n == 0 then return nil end
    return { ... }
end

bridge.set_factories(make_message, make_data, payload.new)

process = {
    event = { CANCEL = "pid.cancel", EXIT = "pid.exit", LINK_DOWN = "pid.link.down",
              OUTDATED = "pid.outdated" },
    registry = { LOCAL = "local", EVENTUAL = "eventual", CONSISTENT = "consistent",
                 STRONG = "strong" },
}

function process.pid() return bridge.pid() end
function process.id() return bridge.pid() end
function process.inbox() return wrap(bridge.inbox()) end
function process.events() return wrap(bridge.events()) end

function process.listen(topic, options)
    if type(topic) ~= "string" or topic == "" then error("process.listen: topic must be a string", 2) end
    local as_message = type(options) == "table" and options.message == true
    return wrap(bridge.listen(topic, as_message))
end

function process.unlisten(ch)
    if type(ch) == "table" and ch._handle ~= nil then bridge.unlisten(ch._handle) end
end

local send = bridge.send  -- awaits the signal command
function process.send(dest, topic, ...)
    if type(topic) ~= "string" or topic == "" or topic:sub(1, 1) == "@" then
        return nil, errors.new({ kind = errors.INVALID,
            message = "process.send: topic must be a non-empty string not starting with @" })
    end
    local _, err = send(dest, topic, ...)
    if err ~= nil then return nil, err end
    return true
end

-- Child workflows (R12): spawned children report `pid.exit` on process.events().
process.spawn = bridge.spawn
process.spawn_monitored = process.spawn
process.spawn_linked = process.spawn
process.spawn_linked_monitored = process.spawn
process.exec = bridge.exec

function process.cancel(dest)
    return bridge.cancel(dest)
end
process.terminate = process.cancel

-- Continue-as-new (B5): the run ends here and a fresh run of `id` (nil = this workflow) starts.
process.upgrade = bridge.upgrade

local function unsupported(name)
    return function()
        return nil, errors.new({ kind = errors.INVALID,
            message = "process." .. name .. " is not supported in workflow context" })
    end
end
process.monitor = unsupported("monitor")
process.unmonitor = unsupported("unmonitor")
process.link = unsupported("link")
process.unlink = unsupported("unlink")

local options = { trap_links = false, upgradable = false }
function process.get_options() return { trap_links = options.trap_links, upgradable = options.upgradable } end
function process.set_options(o)
    if type(o) ~= "table" then return nil, errors.new({ kind = errors.INVALID, message = "options must be a table" }) end
    for k, v in pairs(o) do options[k] = v end
    return true
end

return process
