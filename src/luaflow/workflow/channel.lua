-- The `channel` global and `coroutine.spawn` inside workflows (SPEC 2.5). Channel state lives in
-- the scheduler (Python); this wraps it in Lua objects with Wippy's method names.
local bridge = ...
local await = bridge.await
local sched_select, new_channel, close_channel = bridge.select, bridge.new, bridge.close
local unpack = table.unpack

local Channel = { __name = "channel" }
Channel.__index = Channel
local wrappers = setmetatable({}, { __mode = "v" })

-- One Lua object per channel (handles are integer ids), so that `r.channel == ch` identifies the
-- winning case.
local function wrap(handle)
    local ch = wrappers[handle]
    if ch == nil then
        ch = setmetatable({ _handle = handle }, Channel)
        wrappers[handle] = ch
    end
    return ch
end

local function is_case(c)
    return type(c) == "table" and (c._op == "send" or c._op == "recv") and getmetatable(c._ch) == Channel
end

local function run_select(has_default, cases)
    local args, n = {}, 0
    for i = 1, #cases do
        local c = cases[i]
        args[n + 1], args[n + 2], args[n + 3] = c._op, c._ch._handle, c._value
        n = n + 3
    end
    local idx, value, ok = sched_select(has_default, #cases, unpack(args, 1, n))
    if idx == nil then idx, value, ok = await(value) end
    if idx == -1 then error(value, 3) end
    return idx, value, ok
end

function Channel:send(value)
    run_select(false, { { _op = "send", _ch = self, _value = value } })
    return true
end

function Channel:receive()
    local _, value, ok = run_select(false, { { _op = "recv", _ch = self } })
    return value, ok
end

function Channel:close()
    close_channel(self._handle)
end

function Channel:case_send(value)
    return { _op = "send", _ch = self, _value = value }
end

function Channel:case_receive()
    return { _op = "recv", _ch = self }
end

channel = {}

function channel.new(size)
    if size ~= nil and math.type(size) ~= "integer" then
        error("channel.new: size must be an integer", 2)
    end
    return wrap(new_channel(size or 0))
end

function channel.select(spec)
    if type(spec) ~= "table" then error("channel.select expects a table of cases", 2) end
    local cases = {}
    for i, c in ipairs(spec) do
        if not is_case(c) then error("channel.select: case " .. i .. " is not a channel case", 2) end
        cases[i] = c
    end
    local idx, value, ok = run_select(spec.default == true, cases)
    if idx == 0 then return { default = true, ok = true } end
    local c = cases[idx]
    if c._op == "send" then return { channel = c._ch, ok = true } end
    return { channel = c._ch, value = value, ok = ok }
end

coroutine.spawn = function(fn)
    if type(fn) ~= "function" then error("coroutine.spawn expects a function", 2) end
    bridge.spawn(fn)
end

-- A workflow run's body: when it ends, what `pending()` names (the channel closed once every
-- message to a host process is delivered, or nil) is waited for first.
local pack, unpack, protected = table.pack, table.unpack, pcall
local function settled(main, pending)
    return function(...)
        local res = pack(protected(main, ...))
        local drained = pending()
        if drained ~= nil then wrap(drained):receive() end
        if not res[1] then error(res[2], 0) end
        return unpack(res, 2, res.n)
    end
end

return channel, wrap, settled
