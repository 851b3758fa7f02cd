-- Host code watching workflows: monitors get pid.exit, links pid.link.down (with trap_links).
local function watch()
    local events = process.events()
    local ok_pid = process.spawn_monitored("app:child", "app:worker", {x = 21})
    local ev1 = events:receive()
    local bad_pid = process.spawn("app:failing_child", "app:worker")
    process.monitor(bad_pid)
    local ev2 = events:receive()
    return {
        ok = {kind = ev1.kind, same = ev1.from == ok_pid, value = ev1.result.value},
        bad = {kind = ev2.kind, same = ev2.from == bad_pid, error = ev2.result.error:kind()},
    }
end

local function link(trap)
    process.set_options({trap_links = trap})
    local pid = process.spawn_linked("app:failing_child", "app:worker")
    -- Untrapped, the link failure kills this process here (pcall cannot catch it).
    local ok, ev = pcall(function() return process.events():receive() end)
    return {trapped = ev.kind, from = ev.from == pid, caught = not ok}
end

return { watch = watch, link = link }
