-- process.service entries started by `luaflow run`: a greeter that talks to a workflow and
-- stays until shutdown, and a service that always fails (restarted, then given up).
local function greeter(word)
    local wf, err = process.spawn("app:answer", "app:worker")
    if err then return nil, err end
    local answers = process.listen("answer")
    process.send(wf, "greet", word)
    print("greeter got " .. answers:receive())
    local ev = process.events():receive()
    print("greeter stopping: " .. ev.kind .. " " .. ev.reason)
    return "bye"
end

local function flaky()
    error("boom")
end

-- workflow.lua: answers the first message to its sender.
local function answer()
    local msg = process.inbox():receive()
    process.send(msg:from(), "answer", msg:payload():data() .. " back")
    return "ok"
end

return { greeter = greeter, flaky = flaky, answer = answer }
