-- Host code (function.lua, no worker): starts and messages workflows with the process global.
local function spawn_twice(name)
    local first, err = process.with_context({request_id = "r-1"})
        :with_name(name)
        :with_message("a", 1)
        :with_message("b", 2)
        :spawn("app:collector", "app:worker", "first input")
    if err then return nil, err end
    local second, err2 = process.with_options({})
        :with_name(name)
        :with_message("c", 3)
        :spawn("app:collector", "app:worker", "ignored input")
    if err2 then return nil, err2 end
    local ok, serr = process.send(first, "done")
    if not ok then return nil, serr end
    return {first = first, second = second, me = process.pid()}
end

local function start_fail(id)
    local spawner = process.with_options({
        ["temporal.workflow.id"] = id,
        ["temporal.workflow.id_conflict_policy"] = "fail",
    })
    local pid, err = spawner:spawn("app:collector", "app:worker")
    local again, err2 = spawner:spawn("app:collector", "app:worker")
    process.send(pid, "done")
    return {pid = pid, again = again, kind = err2 and err2:kind(), first_err = err ~= nil}
end

local function exec_child(x)
    return process.exec("app:child", "app:worker", {x = x})
end

local function passing_test()
    local r, err = process.exec("app:child", "app:worker", {x = 1})
    return err == nil and r.doubled == 2
end

local function failing_test()
    return false
end

return { spawn_twice = spawn_twice, start_fail = start_fail, exec_child = exec_child,
         passing_test = passing_test, failing_test = failing_test }
