-- Host code relying on Wippy's process semantics (CORE-MODULES 17).

-- process.lua: returns its input at once.
local function quick(v)
    return v
end

-- process.lua: registers "svc", tells its owner, answers one message, then exits.
local function named_server(owner)
    local ok, err = process.registry.register("svc")
    if not ok then return nil, err end
    process.send(owner, "ready")
    local msg = process.inbox():receive()
    process.send(msg:from(), "pong", msg:payload():data())
    return "done"
end

local function exit_of(ev, pid)
    return {kind = ev.kind, from = ev.from == pid, value = ev.result.value,
            error = ev.result.error and ev.result.error:kind()}
end

-- Links: a workflow that completes sends EXIT to its links too; a host process that returns
-- sends nothing to its links (only its monitor hears of it).
local function link_exits()
    local events = process.events()
    local wf = process.spawn_linked_monitored("app:double", "app:worker", 21)
    local first, second = events:receive(), events:receive()
    local hp = process.spawn_linked_monitored("app:quick", "app:processes", "v")
    local host_exit = events:receive()
    local marker = process.spawn_monitored("app:quick", "app:processes", "marker")
    local after = events:receive()  -- the marker's exit: no link event from hp came between
    return {workflow = {exit_of(first, wf), exit_of(second, wf)},
            host = exit_of(host_exit, hp), after = exit_of(after, marker)}
end

-- The reason given to process.cancel reaches the workflow's pid.cancel event.
local function cancel_reason()
    local events = process.events()
    local wf = process.spawn_monitored("app:waits_cancel", "app:worker")
    process.cancel(wf, "enough")
    return exit_of(events:receive(), wf)
end

-- A workflow sends two messages and goes on; they arrive in order.
local function quick_sender()
    local wf = process.spawn("app:notify_twice", "app:worker", process.pid())
    local inbox = process.inbox()
    local a, b = inbox:receive(), inbox:receive()
    return {pid = wf, got = {a:payload():data(), b:payload():data()}, from = a:from() == wf}
end

local function ids()
    local a, b = process.listen("x"), process.listen("x")
    local _, empty = process.listen("")
    local _, at = process.listen("@x")
    local upgraded, err = pcall(process.upgrade)
    return {id = process.id(), same = a == b, empty = empty:message(), at = at:message(),
            upgrade = {upgraded, err:kind(), err:message()}}
end

-- Monitored children that end at once still report their real exit.
local function fast_children(n)
    local events, values = process.events(), {}
    local by_pid = {}
    for i = 1, n do by_pid[process.spawn_monitored("app:quick", "app:processes", i)] = i end
    local good = 0
    for _ = 1, n do
        local ev = events:receive()
        if ev.result.error == nil and by_pid[ev.from] == ev.result.value then good = good + 1 end
    end
    return good
end

-- A raw task queue as the host: the PID names the worker entry serving it.
local function raw_queue(queue)
    return process.spawn("app:double", queue, 2)
end

local function names()
    local registry, inbox, events = process.registry, process.inbox(), process.events()
    local server = process.spawn_monitored("app:named_server", "app:processes", process.pid())
    inbox:receive()  -- "ready": the name is registered
    local found = registry.lookup("svc")
    local taken, terr = registry.register("svc")
    local sent = process.send("svc", "ping", "hi")
    local reply = inbox:receive()
    local exit = events:receive()
    local gone, gerr = registry.lookup("svc")  -- released when the server exited
    local mine = registry.register("mine")
    return {
        found = found == server, sent = sent, reply = {reply:topic(), reply:payload():data(),
        reply:from() == server}, taken = {taken == nil, terr:kind()}, exit = exit.result.value,
        gone = {gone == nil, gerr:kind(), gerr:message()},
        mine = {mine, registry.lookup("mine") == process.pid(), registry.unregister("mine"),
                registry.unregister("mine")},
    }
end

return { quick = quick, named_server = named_server, link_exits = link_exits,
         cancel_reason = cancel_reason, quick_sender = quick_sender, ids = ids,
         fast_children = fast_children, raw_queue = raw_queue, names = names }
