-- The `process` global inside workflows (SPEC 2.4, 3.1, B5, R12): the process basics, plus
-- messages, child workflows, cancel requests and continue-as-new as durable commands.
local core, bridge = ...

process = {}
for k, v in pairs(core) do process[k] = v end

local send = bridge.send  -- awaits the signal command (a message to a host PID does not wait)
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

-- A cancel request; the workflow's `pid.cancel` event carries `reason`.
function process.cancel(dest, reason)
    return bridge.cancel(dest, reason)
end
function process.terminate(dest)
    return bridge.cancel(dest)
end

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
