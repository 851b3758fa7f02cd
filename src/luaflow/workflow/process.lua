-- The `payload` global and the process basics every Lua process has, workflow or host code
-- (SPEC 2.4, 2.7, 3.1, B5): its PID and entry id, inbox, listen and events. Messages are routed
-- by the scheduler: to a `listen` channel of their topic, else to the inbox, else kept until
-- someone subscribes. Each kind of process builds its `process` global over the table returned.
local bridge = ...
local wrap = bridge.wrap

-- A payload holds a Lua value and the name of its format: `lua/any` for payload.new, the
-- format of the data for messages; transcode converts the value (see lua/_payload.py).
payload = { format = bridge.formats }

local ERROR_MT = "error"  -- what getmetatable gives for error values
local Payload = { __name = "payload" }
Payload.__index = Payload
Payload.__tostring = function(p) return "payload{format=" .. p._format .. "}" end
local function new_payload(value, format)
    return setmetatable({ _value = value, _format = format }, Payload)
end
function Payload:data() return self._value end
function Payload:unmarshal() return self._value end
function Payload:get_format() return self._format end
function Payload:transcode(format)
    if type(format) ~= "string" then
        error("bad argument #2 to transcode (string expected, got " .. type(format) .. ")", 2)
    end
    local value, err = bridge.transcode(self._value, format)
    if err ~= nil then return nil, err end
    return new_payload(value, format), nil
end
function payload.new(value)
    if getmetatable(value) == ERROR_MT then return new_payload(value, payload.format.ERROR) end
    return new_payload(value, payload.format.LUA)
end

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

local core = {
    event = { CANCEL = "pid.cancel", EXIT = "pid.exit", LINK_DOWN = "pid.link.down",
              OUTDATED = "pid.outdated" },
    registry = { LOCAL = "local", EVENTUAL = "eventual", CONSISTENT = "consistent",
                 STRONG = "strong" },
}

local function invalid(message)
    return nil, errors.new({ kind = errors.INVALID, message = message })
end

function core.pid() return bridge.pid() end

-- The registry id of the running entry (Wippy), not the PID.
function core.id()
    local id = bridge.entry_id()
    if id == "" then
        return nil, errors.new({ kind = errors.INTERNAL, message = "call ID not found in context" })
    end
    return id
end

function core.inbox() return wrap(bridge.inbox()) end
function core.events() return wrap(bridge.events()) end

-- A second listen of a topic returns the same channel.
function core.listen(topic, options)
    if type(topic) ~= "string" then
        error("bad argument #1 to listen (string expected, got " .. type(topic) .. ")", 2)
    end
    if topic == "" then return invalid("topic cannot be empty") end
    if topic:sub(1, 1) == "@" then return invalid("cannot listen to @ topics") end
    local as_message = type(options) == "table" and options.message == true
    return wrap(bridge.listen(topic, as_message))
end

function core.unlisten(ch)
    if type(ch) == "table" and ch._handle ~= nil then bridge.unlisten(ch._handle) end
end

return core
