-- Child workflows: workflow.call (seed name of workflow.exec) and process.spawn with EXIT events.
local workflow = require("workflow")

return function(input)
    local direct, err = workflow.call("app:child", input)
    local events = process.events()
    local pid = process.spawn("app:child", "app:worker", {x = 5})
    local ev = events:receive()
    local failed_pid = process.spawn("app:failing_child", "app:worker")
    local ev2 = events:receive()
    local _, exec_err = workflow.exec("app:failing_child")
    return {
        direct = direct, pid = pid, exit_kind = ev.kind, exit_from = ev.from,
        exit_value = ev.result.value, failed_from = ev2.from == failed_pid,
        failed_kind = ev2.result.error:kind(), exec_kind = exec_err:kind(),
        exec_message = exec_err:message(),
    }
end
