-- The `process` global of host code (functions, processes, activities, HTTP handlers, CLI
-- calls): the process basics every Lua process has (pid, id, inbox, listen, events), plus
-- starting and talking to workflows through Temporal (SPEC 2.4, B6) and to host processes of
-- this node, watching them, and naming them. The host argument of the spawn family is a
-- temporal.worker entry id (or its raw task queue), or a process.host entry id for a host process.
local core, bridge = ...

process = {}
for k, v in pairs(core) do process[k] = v end

local Spawner = { __name = "spawner" }
Spawner.__index = Spawner

local function copy(t)
    local out = {}
    for k, v in pairs(t or {}) do out[k] = v end
    return out
end

local function spawner(options, context, name, messages)
    return setmetatable({ _options = options, _context = context, _name = name,
                          _messages = messages }, Spawner)
end

function Spawner:with_options(options)
    if type(options) ~= "table" then error("with_options expects a table", 2) end
    local merged = copy(self._options)
    for k, v in pairs(options) do merged[k] = v end
    return spawner(merged, self._context, self._name, self._messages)
end

function Spawner:with_context(values)
    if type(values) ~= "table" then error("with_context expects a table", 2) end
    local merged = copy(self._context)
    for k, v in pairs(values) do merged[k] = v end
    return spawner(self._options, merged, self._name, self._messages)
end

function Spawner:with_name(name)
    if type(name) ~= "string" or name == "" then error("with_name expects a string", 2) end
    return spawner(self._options, self._context, name, self._messages)
end

function Spawner:with_message(topic, ...)
    if type(topic) ~= "string" or topic == "" or topic:sub(1, 1) == "@" then
        error("with_message: topic must be a non-empty string not starting with @", 2)
    end
    local messages = copy(self._messages)
    messages[#messages + 1] = { topic = topic, args = { ... } }
    return spawner(self._options, self._context, self._name, messages)
end

-- `watch`: "", "monitor", "link" or "link monitor", attached as the process starts (so even a
-- child that ends at once reports its real exit).
local function start(self, wait, watch, id, host, ...)
    return bridge.start(wait, watch, id, host, self._options, self._context, self._name,
                        self._messages, ...)
end

function Spawner:spawn(id, host, ...) return start(self, false, "", id, host, ...) end
function Spawner:spawn_monitored(id, host, ...) return start(self, false, "monitor", id, host, ...) end
function Spawner:spawn_linked(id, host, ...) return start(self, false, "link", id, host, ...) end
function Spawner:spawn_linked_monitored(id, host, ...)
    return start(self, false, "link monitor", id, host, ...)
end
function Spawner:exec(id, host, ...) return start(self, true, "", id, host, ...) end

local base = spawner({}, {}, nil, {})
function process.with_options(options) return base:with_options(options) end
function process.with_context(values) return base:with_context(values) end
function process.spawn(id, host, ...) return base:spawn(id, host, ...) end
function process.spawn_monitored(id, host, ...) return base:spawn_monitored(id, host, ...) end
function process.spawn_linked(id, host, ...) return base:spawn_linked(id, host, ...) end
function process.spawn_linked_monitored(id, host, ...)
    return base:spawn_linked_monitored(id, host, ...)
end
function process.exec(id, host, ...) return base:exec(id, host, ...) end

-- `dest` is a PID, a name registered with process.registry, or a workflow id.
function process.send(dest, topic, ...)
    if type(topic) ~= "string" or topic == "" or topic:sub(1, 1) == "@" then
        return nil, errors.new({ kind = errors.INVALID,
            message = "process.send: topic must be a non-empty string not starting with @" })
    end
    return bridge.send(dest, topic, ...)
end

-- Watching workflows and processes (B6): events arrive on process.events().
function process.monitor(dest) return bridge.watch(dest, "monitor") end
function process.unmonitor(dest) return bridge.unwatch(dest, "monitor") end
function process.link(dest) return bridge.watch(dest, "link") end
function process.unlink(dest) return bridge.unwatch(dest, "link") end

local options = { trap_links = false }
function process.get_options() return { trap_links = options.trap_links } end
function process.set_options(o)
    if type(o) ~= "table" then
        return nil, errors.new({ kind = errors.INVALID, message = "options must be a table" })
    end
    if o.trap_links ~= nil then
        options.trap_links = o.trap_links == true
        bridge.set_trap_links(options.trap_links)
    end
    return true
end

function process.terminate(dest) return bridge.terminate(dest) end
function process.cancel(dest, reason) return bridge.cancel(dest, reason) end

-- Continue-as-new exists only for workflows.
function process.upgrade()
    error(errors.new({ kind = errors.INVALID,
        message = "process.upgrade is only available in workflows" }), 2)
end

-- Names of this node's processes: released when the process that registered them exits.
process.registry = copy(core.registry)
function process.registry.register(name, scope, pid) return bridge.register(name, pid) end
function process.registry.lookup(name) return bridge.lookup(name) end
function process.registry.unregister(name) return bridge.unregister(name) end

return process
