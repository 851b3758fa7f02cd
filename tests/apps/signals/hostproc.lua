-- Host processes: long-lived process.lua code with a mailbox, and the host functions that
-- talk to them and to workflows.
local time = require("time")

-- process.lua: answers every inbox message with "said" to its sender until cancelled.
local function echo(prefix)
    local inbox, events = process.inbox(), process.events()
    while true do
        local r = channel.select{ inbox:case_receive(), events:case_receive() }
        if r.channel == events then
            if r.value.kind == process.event.CANCEL then
                return {canceled = r.value.reason, by = r.value.from}
            end
        else
            local msg = r.value
            process.send(msg:from(), "said", prefix .. ":" .. msg:payload():data())
        end
    end
end

-- Messages between host processes, cancel with a reason (EXIT with the value), terminate
-- (EXIT with an error), and a message to a PID that no longer exists.
local function local_processes()
    local events = process.events()
    local echo_pid = process.spawn_monitored("app:echo", "app:processes", "p")
    process.send(echo_pid, "say", "hello")
    local reply = process.listen("said", {message = true}):receive()
    process.cancel(echo_pid, "enough")
    local exited = events:receive()
    local stuck = process.spawn_monitored("app:echo", "app:processes", "x")
    process.terminate(stuck)
    local killed = events:receive()
    local ok, err = process.send(stuck, "say", "late")
    return {
        reply = reply:payload():data(), reply_from = reply:from() == echo_pid,
        exit = {same = exited.from == echo_pid, value = exited.result.value,
                error = exited.result.error and tostring(exited.result.error),
                by_me = (exited.result.value or {}).by == process.pid()},
        terminated = {same = killed.from == stuck, kind = killed.result.error:kind()},
        late = {ok = ok, kind = err and err:kind()},
    }
end

-- A workflow pings a host process: the process answers the workflow and exits.
local function workflow_to_process()
    local events = process.events()
    local pong = process.spawn_monitored("app:pong_process", "app:processes")
    local result, err = process.exec("app:pinger", "app:worker", pong)
    if err then return nil, err end
    local ev = events:receive()
    return {workflow = result, process_saw = ev.result.value.from == result.me,
            process_pid = ev.from == pong}
end

-- Collects what a workflow sends to this process until `want` messages arrived and the
-- mailbox stayed quiet for `quiet` (duplicates would show up here).
local function collect(workflow_id, want, quiet)
    local pid, err = process.with_options({["temporal.workflow.id"] = workflow_id})
        :spawn("app:notifier", "app:worker", process.pid())
    if err then return nil, err end
    local inbox, got = process.inbox(), {}
    while true do
        local r = channel.select{ inbox:case_receive(), time.after(quiet):case_receive() }
        if r.channel == inbox then
            local msg = r.value
            got[#got + 1] = {topic = msg:topic(), data = msg:payload():data(),
                             from_workflow = msg:from() == pid}
        elseif #got >= want then
            return got
        end
    end
end

-- workflow.lua: tells its host caller two things, the second after a "go" signal.
local function notifier(host)
    process.send(host, "step", 1)
    process.listen("go"):receive()
    local ok, err = process.send(host, "step", 2)
    if not ok then return nil, err end
    return "ok"
end

-- workflow.lua: a message to a host PID whose node does not exist.
local function unreachable()
    local ok, err = process.send("{luaflow@nowhere.0|1}", "hello")
    return {ok = ok, kind = err and err:kind(), message = err and err:message()}
end

return { echo = echo, local_processes = local_processes,
         workflow_to_process = workflow_to_process, collect = collect, notifier = notifier,
         unreachable = unreachable }
